"""``rtcdiag nat-type``: RFC 5780 NAT discovery -> mapping, filtering, legacy label, what it means."""

from __future__ import annotations

import time

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import OutputOptions, list_option, output_options, timeout_option
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.errors import UsageError
from rtcdiag.report.model import Table
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Subject


def _summary(behaviour: Table) -> Table:
    """The verdict of the behaviour table in two lines: the type with mapping and filtering, then the
    addresses it was seen from."""
    seen = {row[0]: row[1] for row in behaviour.rows if len(row) == 2}
    label, confidence = seen.get("NAT type (RFC 3489 label)", "unknown"), seen.get("confidence", "-")
    rows = [["NAT", f"{label}: mapping {seen.get('mapping (RFC 4787)', 'unknown')}, filtering "
                    f"{seen.get('filtering (RFC 4787)', 'unknown')}; confidence {confidence}"]]
    if "mapped address" in seen:
        rows.append(["seen", f"mapped {seen['mapped address']} from local {seen.get('local address', '?')}, "
                             f"port preserved {seen.get('port preserved', 'unknown')}"])
    return Table(title="NAT", columns=["what", "result"], rows=rows)


@click.command(name="nat-type", epilog=exitcodes.epilog(
    "rtcdiag nat-type",
    "rtcdiag nat-type -s stun:stun.example.com:3478 --repeat 3 --hairpin",
    "rtcdiag nat-type -q"))
@list_option("-s", "--server", "servers", metavar="URI", examples=("stun:127.0.0.1:3478", "127.0.0.2:3478"),
             help="STUN servers: stun:host[:port], turn:... or host[:port]. One: RFC 5780 discovery (it "
                  "needs two IPs and OTHER-ADDRESS). Several: RFC 5780 on each that supports it, and the "
                  "mapping compared across all of them (at different IPs). Default: a list of public servers "
                  "(see docs/commands/nat-type.md)")
@list_option("--servers", "--nat-server", "server_list", metavar="URI", hidden=True,
             examples=("stun:127.0.0.1:3478", "stun:127.0.0.2:3478"),
             help="The same as --server (the older spelling; `check` calls it --nat-server)")
@click.option("-t", "--transport", type=click.Choice(["udp", "tcp"]), default="udp", show_default=True,
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
@timeout_option()
@output_options
def command(servers: tuple[str, ...], server_list: tuple[str, ...], transport: str, family: str | None,
            local_port: int, hairpin: bool, lifetime: bool, lifetime_max: float, repeat: int, timeout: float,
            output: OutputOptions) -> int:
    """Classify this network's NAT: mapping and filtering behaviour (RFC 5780 / RFC 4787), the legacy
    RFC 3489 label, hairpinning, ALG, CGNAT, port preservation and what it means for calls.

    The server is validated first (OTHER-ADDRESS with a second IP and port; CHANGE-REQUEST replies must come
    from the other address). A server that fails gets exit 3, never a guessed type. Runs (--repeat) and
    servers must agree, else the result is inconclusive (exit 3) and the report says who disagreed.

    With several servers (the default list, or -s A -s B): when no listed server supports RFC 5780, the
    mapping comes from comparing what ordinary servers at different IPs report for one local socket ("STUN
    works" / "symmetric NAT, you will need TURN"); filtering is then unknown. Nothing answers: one line,
    exit 3. Without -s the default list is public servers on the internet.
    """
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.nat import DEFAULT_SERVERS, NAT, NatOptions, NatPlan, nat_report_parts
    from rtcdiag.report.build import build_report
    from rtcdiag.targets import parse_target
    from rtcdiag.triage.nat_result import LOCAL_NETWORK
    from rtcdiag.triage.nat_server import offline

    started = time.time()
    servers = tuple(dict.fromkeys([*servers, *server_list])) or DEFAULT_SERVERS
    across = len(servers) > 1  # the mapping across the list needs >= 2 servers
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
    with watching("nat-type", output):
        ran = run_async(execute(Job(NAT, NatPlan(targets, options, repeat, across=across),
                                    Subject(LOCAL_NETWORK.server))))
    runs = ran.result.runs if ran.result is not None else []
    plain = ran.result.across if ran.result is not None else None
    tables, results = nat_report_parts(runs, plain)
    report = build_report("nat-type", ran.judgement, tables=tables, results=results, started_at=started,
                          summary=_summary(tables[0]) if tables else None)
    if across and offline(runs, plain) and report.exit_code == exitcodes.INCONCLUSIVE \
            and output.console_only and not output.verbose:
        from rtcdiag.textsafe import printable

        # Offline: one line (the NAT-OFFLINE finding says which names failed and which servers were silent).
        finding = next(f for f in report.findings if f.id == ids.NAT_OFFLINE)
        click.echo(printable(f"rtcdiag nat-type: INCONCLUSIVE: {finding.symptom} Check the network "
                             "connection and DNS; nothing was measured."))
        return exitcodes.INCONCLUSIVE
    return emit(report, output)
