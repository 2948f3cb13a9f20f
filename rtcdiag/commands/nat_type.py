"""``rtcdiag nat-type``: RFC 5780 NAT discovery -> mapping, filtering, legacy label, what it means."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import OutputOptions, emit, output_options, run_async
from rtcdiag.errors import UsageError
from rtcdiag.report.model import CheckCase, Report, Status, Table, status_from


@click.command(name="nat-type", epilog=exitcodes.EPILOG)
@click.option("-s", "--server", "servers", multiple=True, metavar="URI",
              help="STUN server with RFC 5780 support (two IPs, OTHER-ADDRESS): stun:host[:port], turn:... "
                   "or host[:port]. Repeat to compare servers. Required: no public default is known to "
                   "support RFC 5780 reliably.")
@click.option("--transport", type=click.Choice(["udp", "tcp"]), default="udp", show_default=True,
              help="udp: full discovery. tcp: NAT presence and mapped address only (RFC 5780 §4.4 is UDP).")
@click.option("--family", type=click.Choice(["4", "6"]), default=None, help="Use IPv4 or IPv6 only.")
@click.option("--local-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Local UDP port of the mapping test socket (0: any); shows port preservation for it.")
@click.option("--hairpin", is_flag=True, help="Also test hairpinning (RFC 5780 §4.5).")
@click.option("--lifetime", is_flag=True,
              help="Also measure the mapping lifetime (RFC 5780 §4.6): takes up to --lifetime-max seconds.")
@click.option("--lifetime-max", type=click.FloatRange(1, 600), default=60.0, show_default=True,
              help="Longest idle time tried by --lifetime, in seconds.")
@click.option("--repeat", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Run the discovery N times per server; all runs must agree.")
@click.option("--timeout", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="Longest time one STUN transaction may take (the RFC 8489 retransmission schedule is "
                   "scaled to fit); also bounds the wait for replies that may never come.")
@output_options
def command(servers: tuple[str, ...], transport: str, family: str | None, local_port: int, hairpin: bool,
            lifetime: bool, lifetime_max: float, repeat: int, timeout: float, output: OutputOptions) -> int:
    """Classify this network's NAT: mapping and filtering behaviour (RFC 5780 / RFC 4787), the legacy
    RFC 3489 label, hairpinning, ALG, CGNAT, port preservation and what it means for calls.

    The server is validated first (OTHER-ADDRESS with a second IP and port; CHANGE-REQUEST replies must come
    from the other address). A server that fails gets exit 3, never a guessed type. Runs (--repeat) and
    servers must agree, else the result is inconclusive (exit 3) and the report says who disagreed.
    """
    from rtcdiag.probes.nat import NatOptions, discover
    from rtcdiag.targets import parse_target
    from rtcdiag.triage.nat import triage

    if not servers:
        raise UsageError("give a STUN server that supports RFC 5780 with --server stun:HOST[:PORT] "
                         "(e.g. your own coturn with two listening-ip lines)")
    targets = []
    for text in servers:
        target = parse_target(text, default_scheme="stun")
        if target.secure or (target.transport not in (None, transport)):
            raise UsageError(f"{text}: NAT discovery runs over plain {transport}; give a stun: or turn: URI "
                             "without another transport")
        targets.append(target)
    if local_port and (len(targets) > 1 or repeat > 1):
        raise UsageError("--local-port works with one --server and --repeat 1 (the port can be bound once)")
    options = NatOptions(transport=transport, family=int(family) if family else None, local_port=local_port,
                         hairpin=hairpin, lifetime=lifetime, lifetime_max_s=lifetime_max, timeout_s=timeout)

    async def run_all() -> list[object]:
        async def per_server(index: int) -> list[object]:
            target = targets[index]
            runs: list[object] = []
            for n in range(1, repeat + 1):  # repeats one after another: each on fresh sockets
                runs.append(await discover(target.uri, target.host, target.port, options, run=n))
            return runs

        grouped = await asyncio.gather(*(per_server(i) for i in range(len(targets))))
        return [run for runs in grouped for run in runs]

    started = time.time()
    runs = run_async(run_all())
    from rtcdiag.probes.nat import NatRun

    nat_runs = [r for r in runs if isinstance(r, NatRun)]
    result = triage(nat_runs)
    report = build_report(nat_runs, result)
    report.started_at = started
    return emit(report, output)


def build_report(runs: Sequence[object], result: object) -> Report:
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.probes.nat import NatRun
    from rtcdiag.triage.nat import NatTriage

    assert isinstance(result, NatTriage)
    nat_runs = [r for r in runs if isinstance(r, NatRun)]
    c = result.consensus
    report = Report(command="nat-type", findings=list(result.findings), inconclusive=result.inconclusive)
    first = next((r for r in nat_runs if r.server_check and r.server_check.supported), None)
    rows = [
        ["NAT type (RFC 3489 label)", c.legacy.value],
        ["what it means", c.meaning],
        ["mapping (RFC 4787)", c.mapping.value],
        ["filtering (RFC 4787)", c.filtering.value],
        ["NAT present", _yes_no(c.nat_present)],
        ["confidence", f"{c.confidence} ({c.runs_used} of {c.runs_total} runs used)"],
    ]
    if first is not None:
        rows += [
            ["local address", first.local or "?"],
            ["mapped address", first.mapped or "?"],
            ["port preserved", _yes_no(first.port_preserved)],
            ["hairpinning", _yes_no(c.hairpin) if any(t.socket == "hairpin" for t in first.tests)
             else "not tested (--hairpin)"],
            ["ALG rewriting", "yes" if first.alg else "no"],
            ["server", f"{first.address}, other address "
                       f"{first.server_check.other_address if first.server_check else '?'}"],
        ]
        if first.lifetime is not None:
            life = first.lifetime
            rows.append(["mapping lifetime",
                         life.detail if not life.supported else
                         f"alive after {life.alive_s} s, gone after {life.gone_s} s" if life.gone_s else
                         f"alive after {life.alive_s} s (longest tried)"])
    report.tables.append(Table(title="NAT behaviour", columns=["", ""], rows=rows))
    test_rows = []
    several = len(nat_runs) > 1
    for run in nat_runs:
        prefix = f"{run.server} #{run.run} " if several else ""
        for t in run.tests:
            name = f"{prefix}{t.name}" + (f" (change {t.change})" if t.change else "")
            test_rows.append([name, t.dest, t.outcome.value, t.mapped or "-", str(t.attempts)])
    report.tables.append(Table(title="RFC 5780 tests (every reply, source and attribute: --json)",
                               columns=["test", "to", "outcome", "mapped", "sent"], rows=test_rows))
    for run in nat_runs:
        suite = run.server
        related = [f for f in result.findings if f.subject.startswith(run.server)]
        if run.error or not (run.udp_answered or run.transport == "tcp"):
            report.checks.append(CheckCase(suite, f"{run.transport}/reachability #{run.run}",
                                           status_from(related) if related else Status.FAIL,
                                           run.error or "no answer", run.duration_ms / 1000,
                                           [f.id for f in related]))
            continue
        check = run.server_check
        ok = check is not None and check.supported
        report.checks.append(CheckCase(suite, f"{run.transport}/rfc5780-server #{run.run}",
                                       Status.PASS if ok else Status.INCONCLUSIVE,
                                       "; ".join(check.problems) if check else "", 0.0,
                                       [] if ok else ["NAT-SERVER-NO-RFC5780"]))
        if not ok:
            continue
        for name, value in (("mapping", run.mapping.value), ("filtering", run.filtering.value)):
            status = Status.INCONCLUSIVE if value == "unknown" else Status.PASS
            report.checks.append(CheckCase(suite, f"{run.transport}/{name} #{run.run}", status, value,
                                           run.duration_ms / 1000))
    report.results = {"consensus": to_jsonable(c), "runs": to_jsonable(nat_runs)}
    return report


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")
