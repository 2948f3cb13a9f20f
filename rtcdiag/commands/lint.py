"""``rtcdiag lint FILE...``: audit a coturn turnserver.conf (version-aware) or an application's ICE server
list (RTCIceServer JSON, or an rtcdiag.toml). Offline: no network traffic."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import OutputOptions, emit, output_options, run_async
from rtcdiag.errors import UsageError
from rtcdiag.evidence.sniff import ConfigKind, config_kind
from rtcdiag.report.model import Table

_SECRET_OPTIONS = ("static-auth-secret", "cli-password", "user", "secret", "oauth-admin-password")


@click.command(name="lint", epilog=exitcodes.EPILOG)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--version", "version_text", metavar="X.Y.Z", default=None,
              help="The coturn version the turnserver.conf is for (default: `turnserver --version` of the "
                   "local binary, when there is one). Rules and advisories depend on it.")
@output_options
def command(files: tuple[str, ...], version_text: str | None, output: OutputOptions) -> int:
    """Audit TURN configuration files offline; every finding comes with its fix.

    A coturn turnserver.conf gets the security and operations rules for its coturn version (authentication,
    peer ACL against the IANA special-purpose ranges, admin interfaces, TLS, quotas, removed options,
    published coturn advisories). An RTCIceServer JSON file (or an rtcdiag.toml) gets the application-side
    rules (static credentials shipped to clients, far REST expiry, missing TCP/TLS fallback, turns: not on
    443, duplicate or too many URLs).
    """
    from rtcdiag.checks.engine import Job, execute_all
    from rtcdiag.checks.lint import APP_LINT, TURNSERVER_LINT, AppLintPlan
    from rtcdiag.lint.turnserver_conf import read_file
    from rtcdiag.lint.versions import KnownVersion, VersionSource, local_version, parse_version, show
    from rtcdiag.redact import register_secret
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject
    from rtcdiag.triage.judgement import Judgement
    from rtcdiag.triage.lint import LintPlan

    started = time.time()
    known: KnownVersion | None = None
    if version_text is not None:
        parsed = parse_version(version_text.strip())
        if parsed is None:
            raise UsageError(f"--version: {version_text!r} is not a coturn version (write e.g. 4.6.1)")
        known = KnownVersion(parsed, VersionSource.OPTION, version_text.strip())
    jobs: list[Job[Any, Any]] = []
    rows: list[list[str]] = []
    notes: list[str] = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"{name}: no such file" if not path.exists() else f"{name}: not a regular file")
        kind = config_kind(path)
        if kind is ConfigKind.TURNSERVER:
            conf = read_file(path)
            for option in conf.options:
                if option.name in _SECRET_OPTIONS and option.value:
                    register_secret(option.value.split(":", 1)[-1] if option.name == "user" else option.value)
            if known is None:
                known = local_version()
            jobs.append(Job(TURNSERVER_LINT, LintPlan(conf, known), Subject(str(path))))
            rows.append([str(path), "coturn turnserver.conf", f"{len(conf.options)} options",
                         f"{show(known.version)} ({known.source.value})" if known.version else "unknown"])
        elif kind is ConfigKind.ICE_SERVERS:
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
    if known is not None and any(row[1] == "coturn turnserver.conf" for row in rows):
        from rtcdiag.lint.advisories import COMPILED

        where = known.detail if known.source is not VersionSource.UNKNOWN else known.detail or "-"
        notes.insert(0, f"coturn version: {known.text} (from {known.source.value}: {where}); advisory table "
                        f"compiled {COMPILED}")
    ran = run_async(execute_all(jobs))
    judgement = Judgement.merge([each.judgement for each in ran])
    table = Table(title="Files", columns=["file", "kind", "read", "coturn version"], rows=rows)
    results = {"files": [{"file": r[0], "kind": r[1], "read": r[2], "coturn_version": r[3]} for r in rows]}
    report = build_report("lint", judgement, tables=[table], results=results, notes=notes, started_at=started)
    return emit(report, output)
