"""``rtcdiag lint turnserver.conf``: the rules over a parsed coturn configuration, version-aware.

Pure: a :class:`~rtcdiag.lint.turnserver_conf.TurnserverConf` and the coturn version in, a
:class:`Judgement` out. One step per area (``lint/auth``, ``lint/peer-acl``, ``lint/admin``, ``lint/tls``,
``lint/operations``, ``lint/version``), each finding on the step of its area.

Peer ACL coverage uses the IANA special-purpose registries (``rtcdiag.addresses.scope_of``) for the labels
and what coturn denies by itself per version (coturn ChangeLog): loopback unless ``allow-loopback-peers``
(4.5.1.0+), 0.0.0.0/8 and :: (4.5.2+, CVE-2020-26262), 169.254/16, fe80::/10, fc00::/7, fec0::/10
(4.13.1+, PR #1947). IPv4-mapped peers (``::ffff:a.b.c.d``) slip past IPv4 ranges before 4.9.0
(CVE-2026-27624) and past the default loopback guard before 4.13.0 (GHSA-w4hf-cr3w-6h79).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from rtcdiag.addresses import AddressScope, scope_of
from rtcdiag.lint import numbers as n
from rtcdiag.lint import versions as v
from rtcdiag.lint.advisories import ADVISORIES, COMPILED
from rtcdiag.lint.options import KNOWN_OPTIONS, nearest
from rtcdiag.lint.turnserver_conf import (
    BOOLEAN_OPTIONS,
    IpRange,
    TurnserverConf,
    bool_value,
    parse_address,
    parse_range,
)
from rtcdiag.lint.versions import KnownVersion, Version
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome

CHECK = "lint"
STEPS = ("auth", "peer-acl", "admin", "tls", "operations", "version")

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network

# The ranges a relay must not reach (issue 14; IANA special-purpose registries). Multicast has its own rule
# (no-multicast-peers) and IPv4-mapped its own (version-dependent).
SENSITIVE: tuple[str, ...] = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "198.18.0.0/15", "240.0.0.0/4",
    "::/128", "::1/128", "64:ff9b::/96", "fc00::/7", "fe80::/10",
)
MULTICAST: tuple[str, ...] = ("224.0.0.0/4", "ff00::/8")
IPV4_MAPPED = "::ffff:0:0/96"

MIN_SECRET_LENGTH = 16
MIN_CLI_PASSWORD_LENGTH = 12
EXAMPLE_SECRETS = frozenset({"north", "logen", "secret", "changeme", "change-me", "password", "mysecret",
                             "my-secret", "turnsecret", "your-secret", "yoursecret", "qwerty", "123456",
                             "static-auth-secret"})
# turnserver.conf's example CLI password "qwerty" and its published $5$ hash.
EXAMPLE_CLI_HASH = "$5$79a316b350311570$81df9cfb9af7f5e5a76eada31e7097b663a0670f99a3c07ded3f1c8e59c5658a"
MAX_LIFETIME_S = 3600
MIN_RELAY_PORTS = 1000
DEFAULT_LISTENING = (3478, 3479, 5349, 5350)


@dataclass(frozen=True)
class LintPlan:
    conf: TurnserverConf
    version: KnownVersion


def _net(cidr: str) -> _Net:
    return ipaddress.ip_network(cidr)


def label(cidr: str) -> str:
    """``10.0.0.0/8 (private)``: the range and its IANA scope."""
    net = _net(cidr)
    if cidr == "64:ff9b::/96":
        return f"{cidr} (NAT64, reaches IPv4 through a NAT64 gateway)"
    scope: AddressScope = scope_of(net.network_address)
    return f"{cidr} ({scope.value})"


def denied_line(cidr: str) -> str:
    net = _net(cidr)
    if net.num_addresses == 1:
        return f"denied-peer-ip={net.network_address}"
    return f"denied-peer-ip={net.network_address}-{net.broadcast_address}"


def builtin_denied(conf: TurnserverConf, version: Version | None) -> set[str]:
    """The sensitive ranges this coturn version denies with no ``denied-peer-ip`` line (ChangeLog)."""
    out: set[str] = set()
    if not conf.flag("allow-loopback-peers") and (version is None or version >= v.V4_5_1_0):
        out |= {"127.0.0.0/8", "::1/128"}
    if version is not None and version >= v.V4_5_2:
        out |= {"0.0.0.0/8", "::/128"}
    if version is not None and version >= v.V4_13_1:
        out |= {"169.254.0.0/16", "fe80::/10", "fc00::/7"}
    return out


def _ranges(conf: TurnserverConf, name: str) -> tuple[list[IpRange], list[tuple[int, str, str]]]:
    good: list[IpRange] = []
    bad: list[tuple[int, str, str]] = []
    for option in conf.lines(name):
        parsed = parse_range(option.value or "", option.line)
        if isinstance(parsed, str):
            bad.append((option.line, option.value or "", parsed))
        else:
            good.append(parsed)
    return good, bad


def _covered(cidr: str, ranges: Iterable[IpRange]) -> bool:
    net = _net(cidr)
    return any(r.covers(net) for r in ranges)


class _Out:
    def __init__(self, conf: TurnserverConf) -> None:
        self.subject = Subject(conf.path)
        self.file = conf.path
        self.findings: list[Finding] = []

    def add(self, finding_id: str, step: str, *, evidence: list[str] | None = None,
            severity: Severity | None = None, snippet: list[str] | None = None, **params: object) -> None:
        self.findings.append(make_finding(finding_id, self.subject, check=CHECK, step=step, evidence=evidence,
                                          severity=severity, snippet=snippet, **params))


def judge(plan: LintPlan) -> Judgement:
    conf, known = plan.conf, plan.version
    out = _Out(conf)
    version = known.version
    shown = f"{known.text} ({known.source.value})" if version else "version unknown"
    _auth(conf, out)
    _peer_acl(conf, out, version, shown)
    _admin(conf, out, version)
    _tls(conf, out, version, shown)
    _operations(conf, out, version, shown)
    _version(conf, out, known, shown)
    steps = [StepOutcome(out.subject, CHECK, step, detail=_detail(step, conf, shown)) for step in STEPS]
    return Judgement(findings=out.findings, steps=steps)


def _detail(step: str, conf: TurnserverConf, shown: str) -> str:
    if step == "version":
        return f"coturn {shown}"
    return f"{len(conf.options)} options read"


# --- auth --------------------------------------------------------------------------------------------------

def _auth(conf: TurnserverConf, out: _Out) -> None:
    mechanisms = [m for m in ("lt-cred-mech", "use-auth-secret", "oauth") if conf.flag(m)]
    if conf.flag("no-auth"):
        line = conf.lines("no-auth")[0].line
        out.add(ids.LINT_NO_AUTH, "auth", file=out.file, detail=f"`no-auth` is set (line {line})")
    elif not mechanisms and not conf.values("user"):
        out.add(ids.LINT_NO_AUTH, "auth", file=out.file,
                detail="none of `lt-cred-mech`, `use-auth-secret`, `oauth` and no `user=` entries")
    if conf.flag("use-auth-secret"):
        for option in conf.lines("static-auth-secret"):
            secret = option.value or ""
            weak = _weak_secret(secret)
            if weak:
                out.add(ids.LINT_WEAK_SECRET, "auth", file=out.file, line=option.line,
                        detail=f"static-auth-secret {weak}")


def _weak_secret(secret: str) -> str | None:
    if not secret:
        return "is empty"
    if secret.lower() in EXAMPLE_SECRETS:
        return "is an example value from documentation"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is only {len(secret)} characters long (use at least {MIN_SECRET_LENGTH} random characters)"
    if len(set(secret)) <= 3:
        return "repeats the same few characters"
    return None


# --- peer ACL ----------------------------------------------------------------------------------------------

def _peer_acl(conf: TurnserverConf, out: _Out, version: Version | None, shown: str) -> None:
    denied, bad_denied = _ranges(conf, "denied-peer-ip")
    allowed, bad_allowed = _ranges(conf, "allowed-peer-ip")
    for name, bad in (("denied-peer-ip", bad_denied), ("allowed-peer-ip", bad_allowed)):
        for line, value, why in bad:
            out.add(ids.LINT_PEER_IP_MALFORMED, "peer-acl", file=out.file, line=line, option=name,
                    detail=f"{name}={value}: {why}")
    if conf.flag("allow-loopback-peers"):
        out.add(ids.LINT_LOOPBACK_PEERS, "peer-acl", file=out.file,
                line=conf.lines("allow-loopback-peers")[0].line)
    if conf.flag("server-relay"):
        out.add(ids.LINT_SERVER_RELAY, "peer-acl", file=out.file, line=conf.lines("server-relay")[0].line)
    builtin = builtin_denied(conf, version)
    # From 4.13.1 every IPv4-in-IPv6 encoding (64:ff9b::/96 too) is judged by its IPv4 address (PR #1945).
    required = [c for c in SENSITIVE if not (c == "64:ff9b::/96" and version and version >= v.V4_13_1)]
    missing = [c for c in required if c not in builtin and not _covered(c, denied)]
    if missing:
        out.add(ids.LINT_PEER_ACL_MISSING, "peer-acl", file=out.file, version=shown,
                ranges=", ".join(label(c) for c in missing),
                snippet=[denied_line(c) for c in missing],
                evidence=[f"denied-peer-ip lines read: {len(denied)}",
                          "denied by coturn itself for this version: "
                          f"{', '.join(sorted(builtin)) or 'none'}"])
    # Before 4.9.0 IPv4 ranges miss the ::ffff: form (CVE-2026-27624); before 4.13.0 the default loopback
    # guard misses ::ffff:127.0.0.1 (GHSA-w4hf-cr3w-6h79) unless 127/8 is denied explicitly.
    needs_mapped = version is None or version < v.V4_9_0 or \
        (version < v.V4_13_0 and not _covered("127.0.0.0/8", denied))
    if needs_mapped and not _covered(IPV4_MAPPED, denied):
        severity = None if version is not None else Severity.WARNING
        out.add(ids.LINT_PEER_IPV4_MAPPED, "peer-acl", file=out.file, version=shown, severity=severity,
                snippet=[denied_line(IPV4_MAPPED).replace("::ffff:0:0-::ffff:ffff:ffff",
                                                          "::ffff:0.0.0.0-::ffff:255.255.255.255")])
    multicast_missing = [c for c in MULTICAST if not _covered(c, denied)]
    if not conf.flag("no-multicast-peers") and multicast_missing:
        out.add(ids.LINT_MULTICAST_PEERS, "peer-acl", file=out.file, snippet=["no-multicast-peers"],
                ranges=", ".join(multicast_missing))
    sensitive_all = [*SENSITIVE, *MULTICAST, IPV4_MAPPED]
    for r in allowed:
        hit = [c for c in sensitive_all if r.overlaps(_net(c))]
        if hit:
            out.add(ids.LINT_ALLOWED_PEER_OVERLAP, "peer-acl", file=out.file, line=r.line, detail=r.text,
                    ranges=", ".join(label(c) for c in hit))
    if not conf.flag("no-tcp-relay"):
        out.add(ids.LINT_TCP_RELAY, "peer-acl", file=out.file, snippet=["no-tcp-relay"])


# --- admin interfaces --------------------------------------------------------------------------------------

def _is_loopback(text: str) -> bool:
    address = parse_address(text)
    return address is not None and scope_of(address) is AddressScope.LOOPBACK


def cli_enabled(conf: TurnserverConf, version: Version | None) -> bool:
    """coturn's telnet CLI: on by default before 4.10.0 (PR #1830 turned it off), off with ``no-cli``."""
    if conf.flag("no-cli"):
        return False
    if version is None or version < v.V4_10_0:
        return True
    return any(conf.has(name) for name in ("cli-ip", "cli-port", "cli-password", "cli"))


def _admin(conf: TurnserverConf, out: _Out, version: Version | None) -> None:
    if cli_enabled(conf, version):
        cli_ip = conf.last("cli-ip") or "127.0.0.1"
        port = conf.last("cli-port") or "5766"
        if not _is_loopback(cli_ip):
            out.add(ids.LINT_CLI_EXPOSED, "admin", file=out.file, detail=f"{cli_ip} port {port}")
        password = conf.last("cli-password")
        weak = _weak_cli_password(password)
        if weak:
            out.add(ids.LINT_CLI_WEAK_PASSWORD, "admin", file=out.file, detail=weak, snippet=["no-cli"])
    if conf.flag("prometheus"):
        address = conf.last("prometheus-address")
        if address is None or not _is_loopback(address):
            where = f"prometheus-address={address}" if address else \
                "it listens on every address (the default)"
            out.add(ids.LINT_PROMETHEUS_EXPOSED, "admin", file=out.file, detail=where)


def _weak_cli_password(password: str | None) -> str | None:
    if password is None or not password:
        return "`cli-password` is missing or empty"
    if password == EXAMPLE_CLI_HASH or password.lower() in EXAMPLE_SECRETS:
        return "`cli-password` is the example from turnserver.conf (qwerty)"
    if not password.startswith("$") and len(password) < MIN_CLI_PASSWORD_LENGTH:
        return f"`cli-password` is only {len(password)} characters long"
    return None


# --- TLS ---------------------------------------------------------------------------------------------------

def _tls(conf: TurnserverConf, out: _Out, version: Version | None, shown: str) -> None:
    tls_on = not (conf.flag("no-tls") and conf.flag("no-dtls"))
    if not tls_on:
        return
    missing = [name for name in ("cert", "pkey") if not conf.values(name)]
    if missing:
        port = conf.last("tls-listening-port") or "5349"
        out.add(ids.LINT_TLS_NO_CERT, "tls", file=out.file,
                detail=f"TLS/DTLS listen on port {port} (no `no-tls`/`no-dtls`) but `{'`, `'.join(missing)}` "
                       "is not set")
    old: list[str] = []
    if version is None or version < v.V4_7_0:
        old = [f"TLS {n} not disabled (no `{opt}`)" for n, opt in (("1.0", "no-tlsv1"), ("1.1", "no-tlsv1_1"))
               if not conf.flag(opt)]
    else:
        old = [f"`{opt}` enables TLS {n}" for n, opt in (("1.0", "tlsv1"), ("1.1", "tlsv1_1"))
               if conf.flag(opt)]
    if old:
        severity = Severity.INFO if version is None else None
        lines = [opt for opt in ("no-tlsv1", "no-tlsv1_1") if not conf.flag(opt)] \
            if version is None or version < v.V4_7_0 else []
        out.add(ids.LINT_OLD_TLS, "tls", file=out.file, detail="; ".join(old), version=shown,
                severity=severity,
                snippet=lines)


# --- operations --------------------------------------------------------------------------------------------

def _int(text: str | None) -> int | None:
    """A number as coturn reads it (C ``atoi``: ``3600s`` is 3600, ``x`` is 0); None without a value."""
    return n.atoi(text)


def _unknown_options(conf: TurnserverConf, out: _Out) -> None:
    """LINT-UNKNOWN-OPTION for a name coturn does not know (an error when it is close to one it does: the
    setting meant is not in effect; a warning otherwise), with the line as it was probably meant."""
    for option in conf.options:
        if option.name in KNOWN_OPTIONS:
            continue
        meant = nearest(option.name)
        fixed = [f"{meant}={option.value}" if option.value is not None else meant] if meant else []
        out.add(ids.LINT_UNKNOWN_OPTION, "operations", file=out.file, line=option.line, option=option.name,
                meant=f" (the nearest one is `{meant}`)" if meant else "",
                severity=None if meant else Severity.WARNING, snippet=fixed)


def _operations(conf: TurnserverConf, out: _Out, version: Version | None, shown: str) -> None:
    _unknown_options(conf, out)
    for option in conf.options:
        if option.name in BOOLEAN_OPTIONS and bool_value(option.value) is None:
            out.add(ids.LINT_BAD_VALUE, "operations", file=out.file, line=option.line,
                    detail=f"`{option.name}` has the value {option.value!r}, not a boolean: coturn stops "
                           "with \"Unknown boolean value\" (a `#` comment is only a comment at the start of "
                           "a line)")
        elif option.value and " #" in option.value:
            # The value is not echoed: it may be a secret (static-auth-secret, cli-password, user=).
            out.add(ids.LINT_BAD_VALUE, "operations", file=out.file, line=option.line,
                    severity=Severity.WARNING,
                    detail=f"the value of `{option.name}` includes ` #...`: coturn reads a `#` after the "
                           "start of a line as part of the value")
    if not conf.has("realm"):
        out.add(ids.LINT_NO_REALM, "operations", file=out.file)
    if not conf.has("proc-user"):
        out.add(ids.LINT_RUNS_AS_ROOT, "operations", file=out.file,
                snippet=["proc-user=turnserver", "proc-group=turnserver"])
    _quotas(conf, out)
    _zero_lifetimes(conf, out, version, shown)
    for option in conf.lines("max-allocate-lifetime"):
        seconds = _int(option.value)
        if seconds is not None and seconds > MAX_LIFETIME_S:
            out.add(ids.LINT_LONG_LIFETIME, "operations", file=out.file, line=option.line,
                    detail=f"{seconds} s")
    private = [f"{name}={value}" for name in ("listening-ip", "relay-ip") for value in conf.values(name)
               if (a := parse_address(value)) is not None
               and scope_of(a) in (AddressScope.PRIVATE, AddressScope.SHARED)]
    if private and not conf.has("external-ip"):
        out.add(ids.LINT_PRIVATE_NO_EXTERNAL_IP, "operations", file=out.file, detail=", ".join(private[:4]))
    _relay_ports(conf, out)


def _quotas(conf: TurnserverConf, out: _Out) -> None:
    """LINT-NO-QUOTA unless a quota or bandwidth option sets a limit: 0 is *no* limit to coturn
    (rtcdiag.lint.numbers), so `user-quota=0` counts as unset. A negative total-quota refuses everything,
    and a server cap without a per-session one stops coturn at start."""
    values = {name: _int(conf.last(name)) for name in n.QUOTA_OPTIONS}
    if not any(n.limits(value) for value in values.values()):
        zeros = [f"`{name}={conf.last(name)}`" for name, value in values.items()
                 if value is not None and value <= 0 and conf.has(name)]
        detail = f" ({', '.join(zeros)}: coturn reads 0 as no limit)" if zeros else ""
        out.add(ids.LINT_NO_QUOTA, "operations", file=out.file, detail=detail)
    total = conf.lines("total-quota")
    if total and (value := _int(total[-1].value)) is not None and value < 0:
        out.add(ids.LINT_BAD_VALUE, "operations", file=out.file, line=total[-1].line,
                detail=f"`total-quota={total[-1].value}` is below any allocation count: coturn answers every "
                       "Allocate 486 Allocation Quota Reached (userdb.c inc_quota)")
    capacity = conf.lines("bps-capacity")
    if capacity and n.limits(values["bps-capacity"]) and not n.limits(values["max-bps"]):
        out.add(ids.LINT_BAD_VALUE, "operations", file=out.file, line=capacity[-1].line,
                detail=f"`bps-capacity={capacity[-1].value}` without a `max-bps` above 0: coturn stops at "
                       "start (\"CONFIG ERROR: If you set the --bps-capacity option, then you must set "
                       "--max-bps options, too.\")")


# Each lifetime option with a 0: what coturn (by version) makes of it, the severity, the consequence, the fix.
_ZERO_NONCE = ("nonces that never go stale", Severity.INFO,
               "The server never makes a client re-authenticate with a fresh nonce (438 Stale Nonce), so a "
               "nonce seen once stays usable for the whole session.",
               "Leave `stale-nonce` unset (600 s) unless your clients cannot handle 438 Stale Nonce.",
               "examples/etc/turnserver.conf (\"Set it to 0 for unlimited lifetime\")")
_ZERO_MAX_LIFETIME = ("a maximum lifetime of 0 s", Severity.ERROR,
                      "Every lifetime a client asks for is above 0, so coturn cuts it to 0: an Allocate gets "
                      "the default 600 s, but every Refresh sets 1 s and the allocation ends a second later. "
                      "Calls drop at the client's first Refresh (a few minutes in).",
                      "Remove the line (default 3600 s) or set the longest lifetime you allow, e.g. 3600.",
                      "src/client/ns_turn_msg.c stun_adjust_allocate_lifetime, src/server/ns_turn_server.c "
                      "refresh_relay_connection")


def _zero_lifetime_of_peers(option: str, version: Version | None) -> tuple[str, Severity, str, str, str]:
    """channel-lifetime / permission-lifetime 0: never expire before 4.13.0, expire at once from 4.13.0."""
    what = "channels" if option == "channel-lifetime" else "permissions"
    default = n.LIFETIME_DEFAULTS[option]
    fix = f"Remove the line: {what} last {default} s by default (RFC 8656 §9, §12), refreshed by the client."
    source = "src/apps/relay/ns_ioalib_engine_impl.c set_ioa_timer (secs > 0) before 4.13.0; " \
             "src/server/ns_turn_server.c turn_server_sweep_timed_events (PR #1926) from 4.13.0"
    never = f"{what} never expire: no timer is set for 0 s, so a peer a client once permitted stays " \
            "reachable through its relay for the whole allocation"
    at_once = f"{what} expire within a second: the per-thread sweep finds them already past their end, " \
              "and the relay drops the peer's packets"
    if version is None:
        return (f"{what} that expire at once (4.13.0 and later) or never (before)", Severity.WARNING,
                f"coturn 4.13.0 and later: {at_once}. Before 4.13.0: {never}.", fix, source)
    if version >= v.V4_13_0:
        return (f"{what} that expire at once", Severity.ERROR, f"From coturn 4.13.0: {at_once}.", fix, source)
    return (f"{what} that never expire", Severity.WARNING, f"Before coturn 4.13.0: {never}.", fix, source)


def _zero_lifetimes(conf: TurnserverConf, out: _Out, version: Version | None, shown: str) -> None:
    """A 0 in stale-nonce, max-allocate-lifetime, channel-lifetime or permission-lifetime: what this coturn
    makes of it (rtcdiag.lint.numbers). An empty value is the default, not 0 (get_int_value)."""
    for option in ("stale-nonce", "max-allocate-lifetime", "channel-lifetime", "permission-lifetime"):
        lines = conf.lines(option)
        if not lines or _int(lines[-1].value) != 0:
            continue
        if option == "stale-nonce":
            meaning, severity, consequence, fix, source = _ZERO_NONCE
        elif option == "max-allocate-lifetime":
            meaning, severity, consequence, fix, source = _ZERO_MAX_LIFETIME
        else:
            meaning, severity, consequence, fix, source = _zero_lifetime_of_peers(option, version)
        out.add(ids.LINT_ZERO_VALUE, "operations", severity=severity, file=out.file, line=lines[-1].line,
                option=option, value=lines[-1].value, meaning=meaning, version=shown, consequence=consequence,
                fix=fix, source=source)


def _relay_ports(conf: TurnserverConf, out: _Out) -> None:
    # A 0 is port 0 to coturn (turn_ports.c), not the default range: only a missing value is the default.
    low_text, high_text = _int(conf.last("min-port")), _int(conf.last("max-port"))
    low = 49152 if low_text is None else low_text
    high = 65535 if high_text is None else high_text
    problems: list[str] = []
    if high < low:
        problems.append(f"max-port {high} is below min-port {low}")
    elif high - low + 1 < MIN_RELAY_PORTS:
        problems.append(f"only {high - low + 1} relay ports ({low}-{high}): each allocation takes one")
    # A listening port of 0 is none (alt-*: the main port + 1), never a port inside the relay range.
    names = ("listening-port", "tls-listening-port", "alt-listening-port", "alt-tls-listening-port")
    listening = {_int(conf.last(name)) for name in names} - {None, 0}
    listening |= {p for p in DEFAULT_LISTENING if p not in listening} if not listening else set()
    inside = sorted(p for p in listening if p is not None and low <= p <= high)
    if inside:
        problems.append(f"listening port(s) {', '.join(map(str, inside))} inside the relay range "
                        f"{low}-{high}")
    if problems:
        out.add(ids.LINT_RELAY_PORTS, "operations", file=out.file, detail="; ".join(problems))


# --- version: rejected options, advisories -----------------------------------------------------------------

# option -> (first version that rejects it, what to do); coturn ChangeLog 4.5.1.0, 4.7.0 (PR #1599, #1693).
REMOVED: dict[str, tuple[Version, str]] = {
    "no-loopback-peers": (v.V4_5_1_0, "removed in 4.5.1.0: loopback peers are denied by default; delete the "
                                      "line"),
    "no-tlsv1": (v.V4_7_0, "removed in 4.7.0: TLS 1.0 is off by default; delete the line"),
    "no-tlsv1_1": (v.V4_7_0, "removed in 4.7.0: TLS 1.1 is off by default; delete the line"),
    "no-sslv2": (v.V4_7_0, "removed in 4.7.0; delete the line"),
    "no-sslv3": (v.V4_7_0, "removed in 4.7.0; delete the line"),
    "prod": (v.V4_7_0, "removed in 4.7.0: SOFTWARE is off by default (`software-attribute` turns it on)"),
    "secret-ts-exp-time": (v.V4_7_0, "removed in 4.7.0; delete the line"),
}
# option -> first version that knows it
ADDED: dict[str, tuple[Version, str]] = {
    "tlsv1": (v.V4_7_0, "only 4.7.0+ knows it (TLS 1.0 was on by default before)"),
    "tlsv1_1": (v.V4_7_0, "only 4.7.0+ knows it (TLS 1.1 was on by default before)"),
    "software-attribute": (v.V4_7_0, "only 4.7.0+ knows it (SOFTWARE was on by default before)"),
    "prometheus-address": ((4, 6, 3), "only 4.6.3+ knows it"),
}


def _version(conf: TurnserverConf, out: _Out, known: KnownVersion, shown: str) -> None:
    version = known.version
    if version is None:
        out.add(ids.LINT_VERSION_UNKNOWN, "version",
                detail=f"{known.detail or 'no version'}: advisories not checked, defaults of old versions "
                       "assumed")
        for option in conf.options:
            if option.name in REMOVED:
                what = REMOVED[option.name][1]
                out.add(ids.LINT_OPTION_REJECTED, "version", file=out.file, line=option.line,
                        option=option.name, version=shown, detail=f"`{option.name}` {what}",
                        severity=Severity.WARNING)
        return
    for option in conf.options:
        if option.name in REMOVED and version >= REMOVED[option.name][0]:
            what = REMOVED[option.name][1]
            refuses = version >= v.V4_7_0
            effect = " (coturn refuses to start)" if refuses else \
                " (coturn logs `Bad configuration format` and ignores it)"
            out.add(ids.LINT_OPTION_REJECTED, "version", file=out.file, line=option.line, option=option.name,
                    version=shown, severity=Severity.ERROR if refuses else Severity.WARNING,
                    detail=f"`{option.name}` {what}{effect}")
        elif option.name in ADDED and version < ADDED[option.name][0]:
            out.add(ids.LINT_OPTION_REJECTED, "version", file=out.file, line=option.line, option=option.name,
                    version=shown, severity=Severity.WARNING,
                    detail=f"`{option.name}`: {ADDED[option.name][1]}")
    denied = _ranges(conf, "denied-peer-ip")[0]
    for advisory in ADVISORIES:
        if not advisory.affects(version):
            continue
        if advisory.options and not any(conf.flag(o) if o in BOOLEAN_OPTIONS else conf.has(o)
                                        for o in advisory.options):
            continue
        if advisory.mitigated_by_denied and _covered(advisory.mitigated_by_denied, denied):
            continue  # the advisory's workaround is in place
        when = f" (applies when: {advisory.applies_when})" if advisory.applies_when else ""
        # A condition the config cannot show (e.g. the CPU architecture): a warning, not an error.
        unknowable = bool(advisory.applies_when) and not advisory.options
        aliases = f" [{', '.join(advisory.aliases)}]" if advisory.aliases else ""
        out.add(ids.LINT_ADVISORY, "version", version=shown, id=advisory.id + aliases, allows=advisory.allows,
                severity=Severity.WARNING if unknowable else None,
                detail=when, fixed=v.show(advisory.fixed), source=advisory.sources[0],
                evidence=[f"affected: {v.show(advisory.introduced)} <= version < {v.show(advisory.fixed)}",
                          *advisory.sources, f"advisory table compiled {COMPILED}"])
