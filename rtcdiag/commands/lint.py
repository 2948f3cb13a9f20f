"""``rtcdiag lint FILE...``: audit a coturn turnserver.conf (version-aware) or an application's ICE server
list (RTCIceServer JSON, or an rtcdiag.toml). Offline: no network traffic."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import OutputOptions, output_options
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async
from rtcdiag.errors import UsageError
from rtcdiag.report.linter import LintFormat
from rtcdiag.report.model import Table

if TYPE_CHECKING:
    from rtcdiag.lint.versions import KnownVersion

@click.command(name="lint", epilog=exitcodes.epilog(
    "rtcdiag lint /etc/turnserver.conf",
    "rtcdiag lint /etc/turnserver.conf --coturn-version 4.6.1 --format github",
    "rtcdiag lint ice-servers.json --format gcc"))
@click.argument("files", nargs=-1, required=True, metavar="FILE...", type=click.Path())
@click.option("--coturn-version", "version_text", metavar="X.Y.Z", default=None,
              help="The coturn version the turnserver.conf is for. Default: the file's own `# coturn X.Y.Z` "
                   "comment, else `turnserver --version` of the local binary. Rules and advisories depend "
                   "on it.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in LintFormat]),
              default=LintFormat.TEXT.value, show_default=True,
              help="text: `file:line: SEVERITY ID message` lines, the fix under each, a summary at the end; "
                   "gcc: `file:line:1: error: message [ID]` (editors); github: GitHub Actions annotations; "
                   "json: the report as JSON (as --json).")
@output_options(junit_help="Also write a JUnit XML file (one testcase per file x rule area).")
def command(files: tuple[str, ...], version_text: str | None, fmt: str, output: OutputOptions) -> int:
    """Audit TURN configuration files offline; every finding comes with its fix.

    A coturn turnserver.conf gets the security and operations rules for its coturn version (authentication,
    peer ACL against the IANA special-purpose ranges, admin interfaces, TLS, quotas, unknown and removed
    options, published coturn advisories). An RTCIceServer JSON file (or an rtcdiag.toml) gets the
    application-side rules (static credentials shipped to clients, far REST expiry, missing TCP/TLS fallback,
    turns: not on 443, duplicate or too many URLs). A file that is none of these is exit 2.
    """
    from rtcdiag.checks.engine import Job, execute_all
    from rtcdiag.checks.lint import LINT, LintFilePlan, LintKind
    from rtcdiag.lint.versions import KnownVersion, VersionSource, local_version, parse_version, show
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject
    from rtcdiag.triage.judgement import Judgement

    started = time.time()
    option: KnownVersion | None = None
    if version_text is not None:
        parsed = parse_version(version_text.strip())
        if parsed is None:
            raise UsageError(f"--coturn-version: {version_text!r} is not a coturn version (write e.g. 4.6.1)")
        option = KnownVersion(parsed, VersionSource.OPTION, version_text.strip())
    local: list[KnownVersion] = []

    def local_once() -> KnownVersion:
        if not local:
            local.append(local_version())
        return local[0]

    # Each file is read in the check's run; one that cannot be linted is exit 2 before any report.
    jobs = [Job(LINT, LintFilePlan(Path(name), option, local_once), Subject(name)) for name in files]
    ran = run_async(execute_all(jobs), network=False)
    refused = next((each.result.refused for each in ran if each.result is not None and each.result.refused),
                   None)
    if refused:
        raise UsageError(refused)
    rows: list[list[str]] = []
    notes: list[str] = []
    assumed: list[str] = []
    for each in ran:
        read = each.result
        if read is None or read.kind is None:
            continue
        known = read.conf.version if read.conf is not None else None
        rows.append([str(read.path), read.kind.value, read.read,
                     "-" if known is None else
                     f"{show(known.version)} ({known.source.value})" if known.version else "unknown"])
        if known is not None:
            assumed.append(_assumed(str(read.path), known))
        if read.kind is LintKind.TOML:
            notes.append(f"{read.path}: URL rules only (its credentials are rtcdiag's own, not shipped to "
                         "clients)")
    if assumed:
        from rtcdiag.lint.advisories import COMPILED

        notes.insert(0, f"{'; '.join(assumed)}; advisory table compiled {COMPILED}")
    judgement = Judgement.merge([each.judgement for each in ran])
    table = Table(title="Files", columns=["file", "kind", "read", "coturn version"], rows=rows)
    results = {"files": [{"file": r[0], "kind": r[1], "read": r[2], "coturn_version": r[3]} for r in rows]}
    report = build_report("lint", judgement, tables=[table], results=results, notes=notes, started_at=started)
    chosen = LintFormat(fmt)
    if chosen is LintFormat.JSON or output.json or output.markdown:
        return emit(report, replace(output, json=output.json or chosen is LintFormat.JSON))
    headline = f"rtcdiag lint: {notes[0]}" if assumed else f"rtcdiag lint: {len(files)} file(s), no coturn " \
        "configuration among them"
    from rtcdiag.report import linter

    def stdout() -> str:
        if output.quiet:
            return linter.summary(report, list(files)) + "\n"
        if chosen is LintFormat.GCC:
            return linter.render_gcc(report, list(files))
        if chosen is LintFormat.GITHUB:
            return linter.render_github(report, list(files), headline)
        return linter.render_text(report, list(files), headline, verbose=output.verbose)

    return emit(report, output, stdout=stdout)


def _assumed(path: str, known: KnownVersion) -> str:
    """``coturn 4.6.1 assumed for /etc/turnserver.conf (local turnserver --version: /usr/bin/turnserver)``."""
    from rtcdiag.lint.versions import VersionSource

    if known.source is VersionSource.UNKNOWN:
        return f"coturn version unknown for {path} ({known.detail}): version rules limited"
    shown = known.text if known.version else known.detail
    return f"coturn {shown} assumed for {path} (from {known.source.value}: {known.detail})"
