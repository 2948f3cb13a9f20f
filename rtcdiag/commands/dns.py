"""``rtcdiag dns NAME``: A/AAAA and STUN/TURN SRV records, the resolver used, timing, and what is wrong."""

from __future__ import annotations

import time

import click

from rtcdiag import exitcodes
from rtcdiag.addresses import parse_ip
from rtcdiag.checks.dns import (
    DEFAULT_DNS_PORT,
    DEFAULT_TIMEOUT_S,
    canonical_name,
    dns_notes,
    dns_summary,
    dns_tables,
)
from rtcdiag.commands.shared.options import OutputOptions, output_options, timeout_option
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.errors import UsageError
from rtcdiag.jsonable import to_jsonable
from rtcdiag.triage.finding import Subject


def parse_nameserver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 -> (ip, port)."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    ip = parse_ip(host)
    if ip is None or (port_text and not port_text.isdigit()):
        raise UsageError(f"--nameserver {text!r}: expected IP or IP:PORT (IPv6 as [addr]:port)")
    port = int(port_text) if port_text else DEFAULT_DNS_PORT
    if not 0 < port < 65536:
        raise UsageError(f"--nameserver {text!r}: port must be 1-65535")
    return str(ip), port


def normalise_name(name: str) -> str:
    """NAME as DNS text; one usage error line for IP literals and bad names."""
    try:
        return canonical_name(name)
    except ValueError as exc:
        raise UsageError(f"dns: {exc}") from None


@click.command(name="dns", epilog=exitcodes.epilog(
    "rtcdiag dns turn.example.com",
    "rtcdiag dns turn.example.com --nameserver 1.1.1.1",
    "rtcdiag dns turn.example.com -q"))
@click.argument("name")
@click.option("--nameserver", metavar="IP[:PORT]",
              help="Ask this resolver instead of the system's (/etc/resolv.conf); IPv6 as [addr]:port.")
@timeout_option(default=DEFAULT_TIMEOUT_S)
@click.option("--no-ipv6-check", is_flag=True, help="Do not test whether published IPv6 addresses answer.")
@output_options
def command(name: str, nameserver: str | None, timeout: float, no_ipv6_check: bool,
            output: OutputOptions) -> int:
    """Resolve NAME: A, AAAA and SRV _stun._udp, _stun._tcp, _turn._udp, _turn._tcp, _turns._tcp.

    SRV records are shown in RFC 2782 order with their targets resolved; IPv6 addresses get a quick
    STUN Binding / TCP connect test. When NAME does not resolve at all through the system resolver,
    example.com is asked too, to tell a broken name from DNS that does not work here at all.
    """
    from rtcdiag.checks.dns import DNS, DnsPlan
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.report.build import build_report
    from rtcdiag.timeouts import Timeouts

    started = time.time()
    # The control question tests *this machine's* DNS: with --nameserver a failing server is that server's
    # problem (DNS-FAILURE names it), not "DNS does not work here": asked of the system resolver only.
    plan = DnsPlan(name=normalise_name(name), nameserver=parse_nameserver(nameserver) if nameserver else None,
                   timeout=timeout, check_ipv6=not no_ipv6_check, reach_timeout=Timeouts(timeout).reach_s,
                   control=nameserver is None)
    with watching("dns", output):
        ran = run_async(execute(Job(DNS, plan, Subject(f"dns:{plan.name}", host=plan.name))))
    result = ran.result
    report = build_report("dns", ran.judgement, tables=dns_tables(result) if result else [],
                          results=to_jsonable(result), notes=dns_notes(result) if result else [],
                          summary=dns_summary(result) if result else None, started_at=started)
    return emit(report, output)
