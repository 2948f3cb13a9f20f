"""``rtcdiag stun TARGET...``: Binding requests to every target x transport, concurrently."""

from __future__ import annotations

import time

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import (
    OutputOptions,
    TlsOptions,
    emit,
    output_options,
    run_async,
    timeout_option,
    tls_options,
)
from rtcdiag.jsonable import to_jsonable
from rtcdiag.probes.binding import BindingResult
from rtcdiag.report.model import CheckCase, Report, Table, status_from
from rtcdiag.triage.finding import Finding

TRANSPORTS = ("udp", "tcp", "tls")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def build_report(results: list[BindingResult], findings: list[Finding]) -> Report:
    """Report for ``stun``: one table row and one check per target x transport."""
    rows: list[list[str]] = []
    checks: list[CheckCase] = []
    for r in results:
        if r.outcome == "success":
            result = "ok"
        elif r.outcome == "error-response":
            result = f"error {r.error_code}"
        else:
            result = r.error_kind or r.outcome
        rows.append([
            r.target, r.transport, result, r.mapped_address or "-", _ms(r.rtt_ms), str(r.attempts),
            r.software or "-", r.response_origin or "-", r.other_address or "-",
            "-" if r.fingerprint is None else ("yes" if r.fingerprint else "no"),
        ])
        mine = [f for f in findings if f.subject == r.target]
        message = r.mapped_address and f"mapped {r.mapped_address} ({r.mapped_from}), RTT {_ms(r.rtt_ms)} ms"
        checks.append(CheckCase(
            suite=r.target.split("?")[0], name=f"{r.transport}/binding", status=status_from(mine),
            message=message or "; ".join(f"{f.id}: {f.title}" for f in mine) or r.outcome,
            duration_s=(r.rtt_ms or 0.0) / 1000, finding_ids=[f.id for f in mine]))
    table = Table(title="STUN Binding",
                  columns=["Server", "Transport", "Result", "Mapped address", "RTT ms", "Tries", "Software",
                           "Response origin", "Other address", "Fingerprint"],
                  rows=rows)
    return Report(command="stun", findings=findings, checks=checks, tables=[table],
                  results=to_jsonable(results))


@click.command(name="stun", epilog=exitcodes.EPILOG)
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.option("--transport", "-t", "transports", multiple=True, type=click.Choice(TRANSPORTS),
              help="Transport(s) for targets that do not name one (repeatable; default udp). "
                   "tls uses port 5349 unless the target says otherwise.")
@click.option("--family", type=click.Choice(["4", "6"]), default=None,
              help="Resolve host names to IPv4 or IPv6 only.")
@tls_options
@timeout_option()
@output_options
def command(targets: tuple[str, ...], transports: tuple[str, ...], family: str | None, tls: TlsOptions,
            timeout: float, output: OutputOptions) -> int:
    """Send STUN Binding requests (RFC 8489) to every TARGET over every transport, concurrently.

    TARGET is a stun:/stuns:/turn:/turns: URI (RFC 7064/7065), host[:port], or an RTCIceServer JSON file.
    Shows the mapped (public) address, RTT of each try, retransmissions, SOFTWARE, RESPONSE-ORIGIN,
    OTHER-ADDRESS, FINGERPRINT and unknown attributes.
    """
    from rtcdiag.probes import binding
    from rtcdiag.targets import expand_transports, parse_targets
    from rtcdiag.triage import stun as stun_triage

    started = time.time()
    parsed = expand_transports(parse_targets(targets, default_scheme="stun"), transports or ("udp",))
    options = binding.BindingOptions(timeout=timeout, ca_file=tls.ca_file, insecure=tls.insecure,
                                     family=int(family) if family else None)
    results = run_async(binding.check_all(parsed, options))
    report = build_report(results, stun_triage.triage(results))
    report.started_at = started
    return emit(report, output)
