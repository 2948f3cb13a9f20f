"""coturn versions: parsing, the local binary's version, and what changed between versions.

Parsing and asking the binary are rtcdiag.coturn_version's (shared with rtcdiag.coturn); this module adds
where the version came from and the versions at which coturn's defaults changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rtcdiag.coturn_version import Version, ask_turnserver, parse_version, show

__all__ = ["KnownVersion", "Version", "VersionSource", "choose", "from_hint", "local_version",
           "parse_version", "show"]

# What changed, from coturn's ChangeLog (https://github.com/coturn/coturn/blob/master/ChangeLog):
V4_5_1_0 = (4, 5, 1, 0)  # "no-loopback-peers" replaced by "allow-loopback-peers"; web-admin off by default
V4_5_2 = (4, 5, 2)  # CVE-2020-26262: 0.0.0.0/8 and :: denied as peers by default
V4_7_0 = (4, 7, 0)  # TLSv1/1.1 off (PR #1693: no-tlsv1, no-tlsv1_1 removed); prod, no-sslv2/3 removed (#1599)
V4_9_0 = (4, 9, 0)  # CVE-2026-27624: IPv4-mapped peers matched against IPv4 denied-peer-ip ranges
V4_10_0 = (4, 10, 0)  # CLI disabled by default (PR #1830)
V4_11_0 = (4, 11, 0)  # malformed allowed/denied-peer-ip aborts the start (PR #1872); before: ignored
V4_13_0 = (4, 13, 0)  # GHSA-w4hf-cr3w-6h79: ::ffff:127.0.0.1 caught by the default loopback guard
V4_13_1 = (4, 13, 1)  # link-local, ULA and site-local peers denied by default (PR #1947); all IPv4-in-IPv6
#                       encodings (IPv4-compatible, 6to4, 64:ff9b::/96) canonicalised (PR #1945)


class VersionSource(StrEnum):
    OPTION = "--coturn-version"
    FILE = "the file's own `# coturn` comment"
    BINARY = "local turnserver --version"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class KnownVersion:
    version: Version | None
    source: VersionSource
    detail: str = ""

    @property
    def text(self) -> str:
        return show(self.version) if self.version else "unknown"


def from_hint(text: str, line: int) -> KnownVersion:
    """The version a ``# coturn X.Y.Z`` comment names; ``4.x`` names no exact version (rules that depend on
    it assume the oldest defaults, as for an unknown version), but still wins over the local binary's."""
    parsed = None if text.lower().endswith((".x", ".*")) else parse_version(text)
    return KnownVersion(parsed, VersionSource.FILE, f"line {line}: coturn {text}")


def choose(option: KnownVersion | None, hint: KnownVersion | None, local: Callable[[], KnownVersion],
           ) -> KnownVersion:
    """Which version a turnserver.conf is linted for: --coturn-version, else the file's own comment, else the
    local ``turnserver`` (asked only when needed)."""
    return option or hint or local()


def local_version(binary: str | None = None) -> KnownVersion:
    """The version of the ``turnserver`` on PATH (``turnserver --version``, coturn >= 4.6.0 prints it)."""
    path = binary or shutil.which("turnserver")
    if path is None:
        return KnownVersion(None, VersionSource.UNKNOWN,
                            "no turnserver binary on PATH, no --coturn-version and no `# coturn X.Y.Z` line")
    version, detail = ask_turnserver(path)
    if version is None:
        return KnownVersion(None, VersionSource.UNKNOWN, detail)
    return KnownVersion(version, VersionSource.BINARY, path)
