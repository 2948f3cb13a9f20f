"""``rtcdiag analyze FILE...``: triage a failed call from the browser's own evidence."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import OutputOptions, emit, output_options, run_async
from rtcdiag.triage.finding import Subject

if TYPE_CHECKING:
    from rtcdiag.evidence.webrtc_internals import InternalsDump


@click.command(name="analyze", epilog=exitcodes.epilog(
    "rtcdiag analyze webrtc_internals_dump.txt",
    "rtcdiag analyze call.pcapng /var/log/turnserver/turn.log",
    "rtcdiag analyze webrtc_internals_dump.txt --redact dump-for-the-issue.json.gz"))
@click.argument("files", nargs=-1, required=False, metavar="FILE...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--redact", "redact_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="OUT",
              help="Also write an anonymised copy of the (one) dump to OUT (gzip when OUT ends in .gz), for "
                   "a public issue: addresses mapped consistently, mDNS names, ICE ufrag/pwd, fingerprints "
                   "and certificates replaced. Says on stderr what it replaced; the report is of the copy.")
@click.option("--summary", "summary_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, metavar="DIR",
              help="Judge every dump in DIR (in parallel over every core) and print the numbers instead: "
                   "relay ratio, relay protocol mix, ICE server errors per URL, time to connected, causes "
                   "ranked.")
@click.option("--ladder", "ladder_flow", default=None, metavar="FLOW",
              help="For a packet capture: print one flow (its number in the flows table, or an ip:port of "
                   "it) as a sequence diagram instead of the report.")
@output_options(junit_help="Also write a JUnit XML file (one testcase per peer connection, flow or log x "
                            "step).")
def command(files: tuple[Path, ...], redact_out: Path | None, summary_dir: Path | None,
            ladder_flow: str | None, output: OutputOptions) -> int:
    """Triage a call from the browser's own evidence: chrome://webrtc-internals dumps (the
    "webrtc-internals dump" or the "rtcstats dump", plain or gzip-compressed) or SDP files (an offer and
    its answer): TURN/STUN errors per URL, ICE and DTLS failures, signalling glare, SDP problems,
    getUserMedia errors — one root cause with the evidence (event, time, stats id) and the fix, then per
    peer connection a timeline, its candidates and the selected pair.

    Also packet captures (pcap, pcapng: STUN/TURN transactions, allocations, ICE checks, DTLS and media
    per flow, evidence by packet number) and coturn logs (sessions, refused users and peers, quotas, relay
    usage per user); the file type is sniffed from the content.

    A file that is not evidence (or is truncated or empty) is a usage error (exit 2).
    """
    from rtcdiag.checks.analyze import ANALYZE, AnalyzePlan, tables
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.errors import UsageError
    from rtcdiag.evidence.load import load_all
    from rtcdiag.report.build import build_report

    started = time.time()
    if summary_dir is not None:
        if files or redact_out is not None:
            raise UsageError("--summary DIR takes no FILE and no --redact")
        return _summary(summary_dir, output, started)
    if not files:
        raise UsageError("give a FILE (a webrtc-internals or rtcstats dump) or --summary DIR")
    from rtcdiag.checks.capture import wire_kind

    if ladder_flow is not None or any(wire_kind(p) for p in files):
        if redact_out is not None:
            raise UsageError("--redact reads webrtc-internals dumps only")
        return _wire(list(files), ladder_flow, output, started)
    if redact_out is not None and len(files) != 1:
        raise UsageError("--redact OUT takes exactly one FILE")
    dumps = load_all(list(files))  # every file read before any report: exit 2 on a bad one
    if redact_out is not None:
        dumps = _redact(files[0], redact_out)
    ran = run_async(execute(Job(ANALYZE, AnalyzePlan(dumps), Subject("analyze"))))
    from rtcdiag.checks.analyze_summary import short_table
    from rtcdiag.triage.analyze import summarize_all

    notes = [f"{d.source}: {note}" for d in dumps for note in d.notes[:20]]
    agents = [f"{d.source}: {d.user_agent}" for d in dumps if d.user_agent]
    summaries = summarize_all(dumps) if ran.result is not None else []  # made once, for both views
    report = build_report("analyze", ran.judgement,
                          tables=tables(dumps, summaries) if ran.result is not None else [],
                          results=None, notes=notes, detail_notes=agents, started_at=started,
                          summary=short_table(dumps, summaries) if ran.result is not None else None)
    return emit(report, output)


def _redact(source: Path, out: Path) -> list[InternalsDump]:
    """``--redact OUT``: the anonymised copy written (gzip when OUT ends in .gz, as ``browser --save-dump``),
    what was replaced said on stderr, and the copy read back: the report printed is the copy's, so it can be
    pasted next to it."""
    import gzip

    from rtcdiag.errors import UsageError
    from rtcdiag.evidence.load import load_all, redacted_copy_counted

    copy, counts = redacted_copy_counted(source)
    data = gzip.compress(copy) if out.suffix.lower() == ".gz" else copy
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--redact {out}: cannot write: {exc.strerror or exc}") from None
    size = f"{len(data) / 1024:.0f} KiB" + (", gzip" if out.suffix.lower() == ".gz" else "")
    click.echo(f"rtcdiag analyze: wrote {out} ({size}): {counts.text()}; the report below is of that copy",
               err=True)
    return load_all([out])


MAX_SUMMARY_FILES = 100_000


def _summary(directory: Path, output: OutputOptions, started: float) -> int:
    from rtcdiag.checks.analyze import summarize_files, summary_numbers, summary_tables
    from rtcdiag.errors import UsageError
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

    paths = sorted(str(p) for p in directory.rglob("*") if p.is_file())
    if len(paths) > MAX_SUMMARY_FILES:
        raise UsageError(f"--summary {directory}: more than {MAX_SUMMARY_FILES} files")
    from rtcdiag.report.progress import progress

    with progress("rtcdiag analyze --summary", enabled=False if output.json else None) as view:
        handles = [view.add(path) for path in paths]
        files = summarize_files(paths, on_done=lambda index: view.done(handles[index]))
    numbers = summary_numbers(files)
    read = numbers.files - numbers.refused
    subject = Subject(f"summary of {directory}")
    step = StepOutcome(subject, "analyze", "summary",
                       StepState.DONE if read else StepState.UNDECIDED,
                       detail=f"{read} dump(s) read, {numbers.refused} refused")
    judgement = Judgement(steps=[step], facts=Facts(inconclusive=read == 0))
    notes = [f.refused for f in files if f.refused][:20]
    report = build_report("analyze", judgement, tables=summary_tables(numbers), results=numbers, notes=notes,
                          started_at=started)
    return emit(report, output)


def _wire(files: list[Path], ladder_flow: str | None, output: OutputOptions, started: float) -> int:
    """Packet captures and coturn logs (issue 13): read (streamed), judged, or one flow as a ladder."""
    from rtcdiag.checks.capture import (
        WIRE,
        capture_tables,
        find_flow,
        ladder,
        log_tables,
        read_wire,
        wire_results,
    )
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.errors import UsageError
    from rtcdiag.report.build import build_report
    from rtcdiag.textsafe import printable

    plan = read_wire(files)  # every file read before any report: exit 2 on one that is neither
    if ladder_flow is not None:
        found = find_flow(plan.captures, ladder_flow.strip())
        if found is None:
            raise UsageError(f"--ladder {printable(ladder_flow[:60])}: no such flow (give its number from "
                             "the flows table or one of its ip:port)")
        click.echo(ladder(*found))
        return exitcodes.OK
    ran = run_async(execute(Job(WIRE, plan, Subject("analyze"))))
    notes = [f"{c.source}: {note}" for c in plan.captures for note in c.notes[:20]]
    notes += [f"{log.source}: {note}" for log in plan.logs for note in log.notes[:20]]
    tables = capture_tables(plan.captures) + log_tables(plan.logs)
    report = build_report("analyze", ran.judgement, tables=tables,
                          results=wire_results(plan), notes=notes, started_at=started)
    return emit(report, output)
