"""``rtcdiag dns NAME``: A/AAAA and STUN/TURN SRV records, the resolver used, timing, and what is wrong."""

from __future__ import annotations

import time

import click

from rtcdiag import exitcodes
from rtcdiag.addresses import parse_ip
from rtcdiag.commands.shared.options import OutputOptions, output_options, timeout_option
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.errors import UsageError
from rtcdiag.jsonable import to_jsonable
from rtcdiag.probes.dns import DEFAULT_DNS_PORT, DnsResult, QueryResult
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
from rtcdiag.triage.finding import Subject

DEFAULT_TIMEOUT_S = 2.0


def _answer(q: QueryResult) -> str:
    """The records of an answer (the DNS server's data: marked as outside text), else the error."""
    return ", ".join(echo(r) for r in q.records) or (q.error or "")


def tables(result: DnsResult) -> list[Table]:
    """The console/Markdown tables for a DnsResult: addresses, SRV records, every query, IPv6 tests."""
    out: list[Table] = []
    addr_rows = [[result.name, "A", a] for a in result.ipv4] + [[result.name, "AAAA", a] for a in result.ipv6]
    out.append(Table(title="Addresses", columns=["name", "type", "address"],
                     rows=addr_rows or [[result.name, "-", "none"]]))
    srv_rows = [[r.service, str(r.priority), str(r.weight), str(r.port), echo(r.target),
                 ", ".join(r.addresses) or ("(not available)" if r.target == "." else "NO ADDRESS"),
                 echo(r.target_alias_of) if r.target_alias_of else ""] for r in result.srv]
    if srv_rows:
        out.append(Table(title="SRV records (RFC 2782 order: priority, then weight)",
                         columns=["service", "priority", "weight", "port", "target", "addresses", "CNAME of"],
                         rows=srv_rows))
    target_queries = list({id(q): q for r in result.srv for q in r.target_queries}.values())
    query_rows = [[q.rdtype, q.qname, q.outcome, f"{q.rtt_ms:.1f}", _answer(q)]
                  for q in result.queries + target_queries]
    if result.control is not None:
        c = result.control
        query_rows.append([f"{c.rdtype} (control)", c.qname, c.outcome, f"{c.rtt_ms:.1f}",
                           _answer(c)])
    out.append(Table(title=f"Queries via {', '.join(result.nameservers) or '-'} ({result.resolver_source})",
                     columns=["type", "name", "outcome", "ms", "answer"], rows=query_rows))
    if result.ipv6_checks:
        out.append(Table(title="IPv6 reachability",
                         columns=["address", "transport", "port", "from", "result"],
                         rows=[[c.address, c.transport.upper(), str(c.port), c.source,
                                ("reachable" if c.reachable else "unreachable") + f" ({c.detail})"]
                               for c in result.ipv6_checks]))
    return out


def summary(result: DnsResult) -> Table:
    """The answer in a few lines: the addresses, each SRV record, which resolver and how fast."""
    rows = [["addresses", ", ".join([*result.ipv4, *result.ipv6]) or "none"]]
    rows += [[r.service, f"{echo(r.target)}:{r.port} (priority {r.priority}, weight {r.weight})"]
             for r in result.srv[:8]]
    slowest = max((q.rtt_ms for q in result.queries), default=0.0)
    rows.append(["resolver", f"{', '.join(result.nameservers) or '-'} ({result.resolver_source}), slowest "
                             f"answer {slowest:.0f} ms"])
    return Table(title=f"DNS {result.name}", columns=["what", "result"], rows=rows,
                 total=len(result.srv) + 2 if len(result.srv) > 8 else None, unit="records")


def notes(result: DnsResult) -> list[str]:
    control = result.control
    if control is None:
        return []
    answered = control.outcome == "answer" and bool(control.records)
    verdict = ("answered, so the resolver works and the problem is this name" if answered
               else f"failed too ({control.error or control.outcome})")
    return [f"{result.name} did not resolve, so the control name {control.qname} was asked of the same "
            f"resolver: it {verdict}."]


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
    from rtcdiag.probes.dns import canonical_name

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
    result: DnsResult | None = ran.result
    report = build_report("dns", ran.judgement, tables=tables(result) if result else [],
                          results=to_jsonable(result), notes=notes(result) if result else [],
                          summary=summary(result) if result else None, started_at=started)
    return emit(report, output)
