"""``rtcdiag stun TARGET...``: Binding requests to every target x transport, concurrently."""

from __future__ import annotations

import time

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import (
    OutputOptions,
    TlsOptions,
    concurrency_option,
    follow_option,
    list_option,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.errors import UsageError
from rtcdiag.targets import TRANSPORTS as TARGET_TRANSPORTS
from rtcdiag.triage.finding import Subject

TRANSPORTS = TARGET_TRANSPORTS  # udp, tcp, tls: defined once, in rtcdiag.targets.Transport


@click.command(name="stun", epilog=exitcodes.epilog(
    "rtcdiag stun stun.l.google.com:19302",
    "rtcdiag stun turn.example.com -t udp,tcp,tls",
    "rtcdiag stun 'stun:stun.example.com:3478?transport=tcp' -q"))
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@list_option("--transport", "-t", "transports", choices=TRANSPORTS, examples=("udp", "tcp"),
             help="Transports for HOST[:PORT] targets, udp, tcp or tls (default udp); tls uses port 5349 "
                  "unless the target says otherwise. A stun: URI is UDP unless it says "
                  "?transport=tcp (RFC 7064)")
@click.option("--family", type=click.Choice(["4", "6"]), default=None,
              help="Resolve host names to IPv4 or IPv6 only.")
@tls_options
@follow_option
@timeout_option()
@concurrency_option()
@output_options
def command(targets: tuple[str, ...], transports: tuple[str, ...], family: str | None, tls: TlsOptions,
            follow: bool, timeout: float, output: OutputOptions) -> int:
    """Send STUN Binding requests (RFC 8489) to every TARGET over every transport, concurrently.

    TARGET is a stun:/stuns:/turn:/turns: URI (RFC 7064/7065), host[:port], or an RTCIceServer JSON file.
    Shows the mapped (public) address, RTT of each try, retransmissions, SOFTWARE, RESPONSE-ORIGIN,
    OTHER-ADDRESS, FINGERPRINT and unknown attributes.
    """
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.stun import STUN, StunPlan, binding_options, short_table, stun_table
    from rtcdiag.report.build import build_report
    from rtcdiag.targets import expand_transports, parse_targets
    from rtcdiag.timeouts import Timeouts

    started = time.time()
    given = parse_targets(targets, default_scheme="stun")
    if transports and not any(t.shortcut for t in given):
        first = given[0]
        raise UsageError(f"--transport only applies to HOST[:PORT] targets; {first.uri} carries its own "
                         f"transport ({first.transport or 'udp'}, RFC 7064): write "
                         f"{first.scheme}:{first.hostport}?transport=tcp, or stuns: for TLS")
    parsed = expand_transports(given, transports or ("udp",))
    options = binding_options(Timeouts(timeout), ca_file=tls.ca_file, insecure=tls.insecure,
                              family=int(family) if family else None, follow_redirects=follow)
    with watching("stun", output):
        ran = run_async(execute(Job(STUN, StunPlan(parsed, options), Subject("stun"))))
    results = ran.result or []
    report = build_report("stun", ran.judgement, tables=[stun_table(results)], results=results,
                          notes=tls_notes(tls.insecure), summary=short_table(results), started_at=started)
    return emit(report, output)
