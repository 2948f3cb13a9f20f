"""The lint check: one configuration file read in ``run`` (a coturn ``turnserver.conf``, an RTCIceServer
JSON list or an rtcdiag.toml; the kind by extension, else by content) and judged by ``triage.lint`` (coturn,
version-aware) or ``triage.app_lint`` (the application's ICE server list). A file that cannot be read or is
none of them is ``refused`` (the command makes it a usage error, exit 2, before any report)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from rtcdiag.checks.engine import Check
from rtcdiag.checks.registry import Entry
from rtcdiag.errors import UsageError
from rtcdiag.evidence.sniff import ConfigKind, config_kind
from rtcdiag.lint.versions import KnownVersion
from rtcdiag.targets import Target
from rtcdiag.textsafe import printable
from rtcdiag.triage import app_lint
from rtcdiag.triage import lint as rules
from rtcdiag.triage.judgement import Judgement
from rtcdiag.triage.lint import LintPlan

# turnserver.conf options whose value is a secret (masked in every output once the file is read).
_SECRET_OPTIONS = ("static-auth-secret", "cli-password", "user", "secret", "oauth-admin-password")


class LintKind(Enum):
    """What a file given to ``rtcdiag lint`` is (the value: the report's "kind" column)."""

    TURNSERVER = "coturn turnserver.conf"
    ICE_SERVERS = "RTCIceServer list"
    TOML = "rtcdiag.toml"


@dataclass(frozen=True)
class LintFilePlan:
    path: Path
    version: KnownVersion | None = None  # --coturn-version
    local_version: Callable[[], KnownVersion] | None = None  # `turnserver --version`, asked at most once


@dataclass
class LintFile:
    """One file as read: its coturn configuration (and the version it is judged for) or its URLs."""

    path: Path
    kind: LintKind | None = None
    conf: LintPlan | None = None
    targets: list[Target] | None = None
    refused: str = ""  # why it cannot be linted (exit 2)

    @property
    def read(self) -> str:
        if self.conf is not None:
            return f"{len(self.conf.conf.options)} options"
        return f"{len(self.targets or [])} URLs"


_LINT_KINDS = {ConfigKind.TURNSERVER: LintKind.TURNSERVER, ConfigKind.ICE_SERVERS: LintKind.ICE_SERVERS,
               ConfigKind.TOML: LintKind.TOML}


def file_kind(path: Path) -> LintKind:
    """By extension, else by the first character (``{``/``[``: JSON): ``evidence.sniff.config_kind``."""
    return _LINT_KINDS[config_kind(path)]


def _turnserver(plan: LintFilePlan) -> LintPlan:
    from rtcdiag.lint.options import KNOWN_OPTIONS
    from rtcdiag.lint.turnserver_conf import read_file
    from rtcdiag.lint.versions import choose, from_hint, local_version
    from rtcdiag.redact import register_secret

    name = str(plan.path)
    conf = read_file(plan.path)
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
    return LintPlan(conf, choose(plan.version, hint, plan.local_version or local_version))


def read_lint_file(plan: LintFilePlan) -> LintFile:
    """Read one file by its kind; a usage error (not a file, unreadable, none of the kinds) is ``refused``."""
    path = plan.path
    out = LintFile(path)
    try:
        if not path.is_file():
            raise UsageError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
        out.kind = file_kind(path)
        if out.kind is LintKind.TURNSERVER:
            out.conf = _turnserver(plan)
        elif out.kind is LintKind.ICE_SERVERS:
            from rtcdiag.targets import load_ice_servers

            out.targets = load_ice_servers(path)
        else:
            from rtcdiag.config import load_config

            config = load_config(path)
            out.targets = [t for server in config.servers for t in server.targets]
    except UsageError as exc:
        out.refused = str(exc)
    return out


async def _run(plan: LintFilePlan) -> LintFile:
    return read_lint_file(plan)


def judge_file(read: LintFile) -> Judgement:
    if read.refused:
        return Judgement()
    if read.conf is not None:
        return rules.judge(read.conf)
    # An RTCIceServer list is sent to browsers; an rtcdiag.toml's credentials are the tool's own.
    return app_lint.judge_ice_servers(read.targets or [], str(read.path),
                                      credentials_shipped=read.kind is LintKind.ICE_SERVERS)


LINT: Check[LintFilePlan, LintFile] = Check("lint", _run, judge_file)

ENTRIES = (Entry(LINT, LintFile),)
