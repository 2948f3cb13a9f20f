"""``rtcdiag lint FILE...``: audit a coturn turnserver.conf (version-aware) or an application's ICE server
list (RTCIceServer JSON, or an rtcdiag.toml). Offline: no network traffic."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

_SECRET_OPTIONS = ("static-auth-secret", "cli-password", "user", "secret", "oauth-admin-password")


def _kind(path: Path) -> str:
    """``turnserver`` | ``ice-servers`` | ``toml``: by extension, else by the first character."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "ice-servers"
    if suffix == ".toml":
        return "toml"
    try:
        with path.open("rb") as handle:
            head = handle.read(256).lstrip()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return "ice-servers" if head[:1] in (b"{", b"[") else "turnserver"


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
    from rtcdiag.checks.lint import APP_LINT, TURNSERVER_LINT, AppLintPlan
    from rtcdiag.lint.options import KNOWN_OPTIONS
    from rtcdiag.lint.turnserver_conf import read_file
    from rtcdiag.lint.versions import (
        KnownVersion,
        VersionSource,
        choose,
        from_hint,
        local_version,
        parse_version,
        show,
    )
    from rtcdiag.redact import register_secret
    from rtcdiag.report.build import build_report
    from rtcdiag.textsafe import printable
    from rtcdiag.triage.finding import Subject
    from rtcdiag.triage.judgement import Judgement
    from rtcdiag.triage.lint import LintPlan

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

    jobs: list[Job[Any, Any]] = []
    rows: list[list[str]] = []
    notes: list[str] = []
    assumed: list[str] = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"{name}: no such file" if not path.exists() else f"{name}: not a regular file")
        kind = _kind(path)
        if kind == "turnserver":
            conf = read_file(path)
            if conf.options and not any(o.name in KNOWN_OPTIONS for o in conf.options):
                first = conf.options[0]
                raise UsageError(f"{name}: not a turnserver.conf: none of its {len(conf.options)} option "
                                 f"line(s) is a coturn option (line {first.line}: "
                                 f"{printable(first.name[:60])!r}); lint reads turnserver.conf, RTCIceServer "
                                 ".json and rtcdiag .toml files")
            for conf_option in conf.options:
                if conf_option.name in _SECRET_OPTIONS and conf_option.value:
                    value = conf_option.value
                    register_secret(value.split(":", 1)[-1] if conf_option.name == "user" else value)
            hint = from_hint(conf.version_hint.text, conf.version_hint.line) if conf.version_hint else None
            known = choose(option, hint, local_once)
            jobs.append(Job(TURNSERVER_LINT, LintPlan(conf, known), Subject(str(path))))
            rows.append([str(path), "coturn turnserver.conf", f"{len(conf.options)} options",
                         f"{show(known.version)} ({known.source.value})" if known.version else "unknown"])
            assumed.append(_assumed(str(path), known))
        elif kind == "ice-servers":
            from rtcdiag.targets import load_ice_servers

            targets = load_ice_servers(path)
            jobs.append(Job(APP_LINT, AppLintPlan(targets, str(path), True), Subject(str(path))))
            rows.append([str(path), "RTCIceServer list", f"{len(targets)} URLs", "-"])
        else:
            from rtcdiag.config import load_config

            config = load_config(path)
            targets = [t for server in config.servers for t in server.targets]
            jobs.append(Job(APP_LINT, AppLintPlan(targets, str(path), False), Subject(str(path))))
            rows.append([str(path), "rtcdiag.toml", f"{len(targets)} URLs", "-"])
            notes.append(f"{path}: URL rules only (its credentials are rtcdiag's own, not shipped to "
                         "clients)")
    if assumed:
        from rtcdiag.lint.advisories import COMPILED

        notes.insert(0, f"{'; '.join(assumed)}; advisory table compiled {COMPILED}")
    ran = run_async(execute_all(jobs))
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
