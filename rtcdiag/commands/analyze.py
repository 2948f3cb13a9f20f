"""``rtcdiag analyze FILE...``: triage a failed call from the browser's own evidence."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import OutputOptions, output_options
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_local
from rtcdiag.triage.finding import Subject

if TYPE_CHECKING:
    from rtcdiag.checks.analyze import Evidence
    from rtcdiag.checks.engine import Ran
    from rtcdiag.evidence.capture import CaptureSummary


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
    usage per user); the file type is sniffed from the content. Dumps, captures and logs mix in one run:
    the files of one call (matched by ICE ufrags, addresses, relayed addresses, times) give one diagnosis,
    and files of different calls are said to be so.

    A file that is not evidence (or is truncated or empty) is a usage error (exit 2).
    """
    from rtcdiag.checks.analyze import ANALYZE, AnalyzePlan, tables
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.errors import UsageError
    from rtcdiag.evidence.sniff import EvidenceError
    from rtcdiag.report.build import build_report

    started = time.time()
    if summary_dir is not None:
        if files or redact_out is not None:
            raise UsageError("--summary DIR takes no FILE and no --redact")
        return _summary(summary_dir, output, started)
    if not files:
        raise UsageError("give a FILE (a webrtc-internals or rtcstats dump, a capture, a coturn log) or "
                         "--summary DIR")
    if redact_out is not None and len(files) != 1:
        raise UsageError("--redact OUT takes exactly one FILE")
    if ladder_flow is not None and output.wants_html:
        raise UsageError("--ladder prints one flow; --html draws the flows' ladders in the page: give one")
    # Every file is read (by its reader, in the check's run) before any report: exit 2 on a bad one.
    ran = run_local(execute(Job(ANALYZE, AnalyzePlan(list(files)), Subject("analyze"))))
    evidence = ran.result
    if evidence is not None and evidence.refused:
        raise EvidenceError(evidence.refused)
    if redact_out is not None:
        ran = _redact(files[0], redact_out)  # the report printed is the copy's
        evidence = ran.result
    if ladder_flow is not None:
        return _ladder(evidence.captures if evidence is not None else [], ladder_flow)
    out_tables = []
    notes: list[str] = []
    detail_notes: list[str] = []
    results = None
    summary = None
    if evidence is not None:
        from rtcdiag.checks.analyze_summary import short_table

        out_tables = tables(evidence.dumps, evidence.summaries)
        notes = [f"{d.source}: {note}" for d in evidence.dumps for note in d.notes[:20]]
        detail_notes = [f"{d.source}: {d.user_agent}" for d in evidence.dumps if d.user_agent]
        if redact_out is not None:
            detail_notes.append(f"This report is of the anonymised copy written by --redact to {redact_out} "
                                "(addresses, mDNS names, ICE ufrag/pwd and DTLS fingerprints replaced).")
        if evidence.wire:
            from rtcdiag.checks.capture import WirePlan, capture_tables, log_tables, wire_results

            out_tables += capture_tables(evidence.captures) + log_tables(evidence.logs)
            notes += [f"{c.source}: {note}" for c in evidence.captures for note in c.notes[:20]]
            notes += [f"{log.source}: {note}" for log in evidence.logs for note in log.notes[:20]]
            results = wire_results(WirePlan(evidence.captures, evidence.logs))
        if evidence.dumps:  # one line per peer connection (and per capture and log beside them)
            summary = short_table(evidence.dumps, evidence.summaries, evidence.captures, evidence.logs)
    report = build_report("analyze", ran.judgement, tables=out_tables, results=results, notes=notes,
                          detail_notes=detail_notes, started_at=started, summary=summary)
    if output.wants_html and evidence is not None:  # --html: the call's charts (issue 24)
        from rtcdiag.checks.call_charts import call_sections
        from rtcdiag.checks.capture import WirePlan
        from rtcdiag.checks.wire_charts import wire_sections

        report.visuals = call_sections(evidence.dumps, report.roots)
        if evidence.wire:
            report.visuals += wire_sections(WirePlan(evidence.captures, evidence.logs))
    return emit(report, output)


def _ladder(captures: list[CaptureSummary], flow: str) -> int:
    """``--ladder FLOW``: one flow of a capture as a sequence diagram instead of the report."""
    from rtcdiag.checks.capture import find_flow, ladder
    from rtcdiag.errors import UsageError
    from rtcdiag.textsafe import printable

    if not captures:
        raise UsageError("--ladder reads packet captures only")
    found = find_flow(captures, flow.strip())
    if found is None:
        raise UsageError(f"--ladder {printable(flow[:60])}: no such flow (give its number from the flows "
                         "table or one of its ip:port)")
    click.echo(ladder(*found))
    return exitcodes.OK


def _redact(source: Path, out: Path) -> Ran[Evidence]:
    """``--redact OUT``: the anonymised copy written (gzip when OUT ends in .gz, as ``browser --save-dump``),
    what was replaced said on stderr, and the copy read back and judged (by the same rules: the anonymiser
    keeps what triage reads): the report printed, and the HTML page, are the copy's, so they can be pasted
    next to it."""
    import gzip

    from rtcdiag.checks.analyze import ANALYZE, AnalyzePlan
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.errors import UsageError
    from rtcdiag.evidence.load import redacted_copy_counted

    copy, counts = redacted_copy_counted(source)
    data = gzip.compress(copy) if out.suffix.lower() == ".gz" else copy
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--redact {out}: cannot write: {exc.strerror or exc}") from None
    size = f"{len(data) / 1024:.0f} KiB" + (", gzip" if out.suffix.lower() == ".gz" else "")
    click.echo(f"rtcdiag analyze: wrote {out} ({size}): {counts.text()}; the report below is of that copy",
               err=True)
    return run_local(execute(Job(ANALYZE, AnalyzePlan([out]), Subject("analyze"))))


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
    if output.wants_html:  # --html: the fleet's numbers as charts (issue 24)
        from rtcdiag.checks.fleet_charts import fleet_sections

        report.visuals = fleet_sections(files, numbers)
    return emit(report, output)
