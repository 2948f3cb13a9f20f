"""``rtcdiag analyze FILE...``: triage a failed call from the browser's own evidence."""

from __future__ import annotations

import time
from pathlib import Path

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import OutputOptions, emit, output_options, run_async
from rtcdiag.triage.finding import Subject


@click.command(name="analyze", epilog=exitcodes.EPILOG)
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--redact", "redact_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="OUT",
              help="Also write an anonymised copy of the (one) dump to OUT, for a public issue: addresses "
                   "mapped consistently, mDNS names, ICE ufrag/pwd, fingerprints and certificates replaced.")
@output_options
def command(files: tuple[Path, ...], redact_out: Path | None, output: OutputOptions) -> int:
    """Triage a call from chrome://webrtc-internals dumps ("Download the webrtc-internals dump", plain or
    gzip-compressed): TURN/STUN errors per URL, ICE and DTLS failures, signalling glare, getUserMedia
    errors — one root cause with the evidence (event, time, stats id) and the fix, then per peer connection
    a timeline, its candidates and the selected pair.

    A file that is not a dump (or is truncated or empty) is a usage error (exit 2).
    """
    from rtcdiag.checks.analyze import ANALYZE, AnalyzePlan, tables
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.errors import UsageError
    from rtcdiag.evidence.load import load_dump
    from rtcdiag.report.build import build_report

    started = time.time()
    if redact_out is not None and len(files) != 1:
        raise UsageError("--redact OUT takes exactly one FILE")
    dumps = [load_dump(path) for path in files]  # every file read before any report: exit 2 on a bad one
    if redact_out is not None:
        from rtcdiag.evidence.load import redacted_copy

        copy = redacted_copy(files[0])
        try:
            redact_out.write_bytes(copy)
        except OSError as exc:
            raise UsageError(f"--redact {redact_out}: cannot write: {exc.strerror or exc}") from None
    ran = run_async(execute(Job(ANALYZE, AnalyzePlan(dumps), Subject("analyze"))))
    notes = [f"{d.source}: {note}" for d in dumps for note in d.notes[:20]]
    notes += [f"{d.source}: {d.user_agent}" for d in dumps if d.user_agent]
    report = build_report("analyze", ran.judgement, tables=tables(dumps) if ran.result is not None else [],
                          results=None, notes=notes, started_at=started)
    return emit(report, output)
