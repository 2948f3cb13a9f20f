"""Published coturn security advisories, as data: id, affected versions, fixed version, what it allows.

Compiled 2026-11-29 from coturn's ChangeLog and commits (github.com/coturn/coturn, snapshot of 2026-08-07,
release 4.17.1) and the CVE/GHSA records they cite. Every entry was checked against at least two of: the
coturn ChangeLog entry, the fixing commit (``git tag --contains`` for the first release), the CVE record /
NVD / Debian security tracker. Entries whose affected range could not be confirmed are left out (e.g.
CVE-2026-73212 / GHSA-2x4g-wx24-48m4, the RFC 6062 CONNECT peer-ACL bypass: its fixed release was not
confirmed when this table was compiled).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.lint.versions import Version

COMPILED = "2026-11-29"


@dataclass(frozen=True)
class Advisory:
    id: str  # CVE id, else the GHSA id
    aliases: tuple[str, ...]
    introduced: Version  # first affected version (inclusive); (0,) when not known to be later
    fixed: Version  # first fixed release
    allows: str  # what an attacker can do
    applies_when: str  # the configuration it needs ("" = every configuration)
    options: tuple[str, ...]  # turnserver.conf options of which one is needed (empty: any configuration)
    sources: tuple[str, ...]
    # A denied-peer-ip range (CIDR) that closes the hole without upgrading (the advisory's workaround).
    mitigated_by_denied: str | None = None

    def affects(self, version: Version) -> bool:
        return self.introduced <= version < self.fixed


ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        "CVE-2020-26262", ("GHSA-6g6j-r9rf-cm7p",), (0,), (4, 5, 2),
        "relay to the loopback interface with the peer address 0.0.0.0, [::1] or [::] although "
        "loopback peers are denied by default", "", (),
        ("https://github.com/coturn/coturn/security/advisories/GHSA-6g6j-r9rf-cm7p",
         "https://github.com/coturn/coturn/blob/master/ChangeLog (Version 4.5.2)")),
    Advisory(
        "CVE-2026-27624", ("GHSA-j8mm-mpf8-gvjg",), (4, 4, 5, 3), (4, 9, 0),
        "reach loopback and denied-peer-ip ranges through their IPv4-mapped IPv6 form (::ffff:127.0.0.1) in "
        "CreatePermission/ChannelBind", "", (),
        ("https://github.com/coturn/coturn/security/advisories/GHSA-j8mm-mpf8-gvjg",
         "https://github.com/coturn/coturn/commit/b80eb898ba26552600770162c26a8ae7f3661b0b",
         "https://security-tracker.debian.org/tracker/CVE-2026-27624"), "::ffff:0:0/96"),
    Advisory(
        "GHSA-w4hf-cr3w-6h79", (), (0,), (4, 13, 0),
        "reach host-loopback services as ::ffff:127.0.0.1: the default loopback guard misclassified it",
        "", (),
        ("https://github.com/coturn/coturn/security/advisories/GHSA-w4hf-cr3w-6h79",
         "https://github.com/coturn/coturn/commit/b057acbebe721c8f2f202ddad5e16289e295c754"),
        "::ffff:0:0/96"),
    Advisory(
        "CVE-2026-40613", (), (0,), (4, 10, 0),
        "crash the server with one unauthenticated UDP packet (misaligned read, SIGBUS on ARM64)",
        "ARM64 (AArch64) servers", (),
        ("https://nvd.nist.gov/vuln/detail/CVE-2026-40613",
         "https://github.com/coturn/coturn/releases/tag/4.10.0")),
    Advisory(
        "CVE-2026-43994", ("GHSA-74pg-rfh2-5qw5",), (0,), (4, 10, 0),
        "stack buffer overflow in OAuth token decoding before authentication (possible code execution)",
        "oauth enabled", ("oauth",),
        ("https://github.com/coturn/coturn/security/advisories/GHSA-74pg-rfh2-5qw5",
         "https://github.com/coturn/coturn/blob/master/ChangeLog (Release 4.10.0: #1850)")),
    Advisory(
        "GHSA-4g7c-p5wg-j4hp", (), (0,), (4, 13, 0),
        "crash the server (format-string injection of USERNAME/REALM into Redis commands)",
        "redis-statsdb or redis-userdb configured", ("redis-statsdb", "redis-userdb"),
        ("https://github.com/coturn/coturn/security/advisories/GHSA-4g7c-p5wg-j4hp",
         "https://github.com/coturn/coturn/commit/8fa38032")),
    Advisory(
        "CVE-2020-4067", (), (0,), (4, 5, 1, 3),
        "read leftover memory: STUN/TURN response buffers were not initialised (information leak)", "", (),
        ("https://github.com/coturn/coturn/issues/593",
         "https://github.com/coturn/coturn/blob/master/ChangeLog (Version 4.5.1.3)")),
    Advisory(
        "CVE-2020-6061", ("TALOS-2020-0984",), (0,), (4, 5, 1, 2),
        "heap out-of-bounds read in the web-admin HTTP server (information leak, crash)",
        "web-admin enabled", ("web-admin",),
        ("https://nvd.nist.gov/vuln/detail/CVE-2020-6061",
         "https://github.com/coturn/coturn/blob/master/ChangeLog (Version 4.5.1.2)")),
)
