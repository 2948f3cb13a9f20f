"""A coturn ``turnserver.conf`` reader: the options as coturn reads them, with line numbers.

coturn's config reader (``read_config_file`` and ``parse_arg_string`` in src/apps/relay/mainrelay.c) takes
one option per line: ``name=value``, ``name value`` or a bare ``name`` (a flag). The name ends at the first
space, tab or ``=``, and the value starts after the run of them; names are case-sensitive; a value in double
quotes loses them. Only a line whose first non-blank character is ``#`` is a comment: a ``#`` later in the
line is part of the value (``no-cli # off`` gives the boolean ``no-cli`` the value ``# off``, which coturn
refuses: "Unknown boolean value", exit). Boolean options take an optional value: empty, ``1``-``9``, ``y``,
``t``, ``on`` is true; ``0``, ``n``, ``f``, ``off`` is false (``get_bool_value``). Options may repeat
(``user=``, ``denied-peer-ip=``, ...); for a single-valued option the last one wins.

Peer address lists (``denied-peer-ip``/``allowed-peer-ip``) take a single address or a range ``first-last``
(``add_ip_list_range`` in src/apps/relay/userdb.c); there is no CIDR form: ``10.0.0.0/8`` is a malformed
value that coturn before 4.11.0 logs and *ignores* (the range is silently not denied), and 4.11.0+ refuses
to start with (coturn PR #1872).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.addresses import IPAddress
from rtcdiag.errors import UsageError

MAX_CONFIG_BYTES = 1_000_000  # a real turnserver.conf is ~30 kB; anything bigger is not one
MAX_LINES = 20_000

# The boolean options the rules read (coturn: optional_argument + get_bool_value).
BOOLEAN_OPTIONS = frozenset({
    "no-auth", "lt-cred-mech", "use-auth-secret", "oauth", "allow-loopback-peers", "server-relay", "no-cli",
    "no-tls", "no-dtls", "no-udp", "no-tcp", "no-multicast-peers", "no-tcp-relay", "prometheus", "tlsv1",
    "tlsv1_1", "no-tlsv1", "no-tlsv1_1", "no-tlsv1_2", "web-admin", "fingerprint", "verbose",
    "no-software-attribute", "software-attribute", "no-loopback-peers", "no-sslv2", "no-sslv3", "prod",
    "stun-only", "no-stun", "secure-stun", "mobility", "no-rfc5780", "rfc5780",
})


def bool_value(value: str | None) -> bool | None:
    """coturn's ``get_bool_value``: True, False, or None for a value coturn refuses (and exits)."""
    if not value:
        return True
    if value[0] in "0nNfF":
        return False
    if value[0] in "yYtT" or "1" <= value[0] <= "9":
        return True
    if value in ("off", "OFF", "Off"):
        return False
    if value in ("on", "ON", "On"):
        return True
    return None


class ConfigFileError(UsageError):
    """The file cannot be read as a turnserver.conf (exit 2, one line)."""


@dataclass(frozen=True)
class ConfOption:
    name: str  # lower case, without leading ``--``
    value: str | None  # None for a bare flag
    line: int


@dataclass(frozen=True)
class IpRange:
    """A ``denied-peer-ip``/``allowed-peer-ip`` value: one address or ``first-last`` (same family)."""

    first: IPAddress
    last: IPAddress
    text: str
    line: int = 0

    def covers(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        """Is every address of ``net`` inside this range (same family only: coturn compares families)?"""
        if self.first.version != net.version:
            return False
        return int(self.first) <= int(net.network_address) and int(net.broadcast_address) <= int(self.last)

    def overlaps(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        if self.first.version != net.version:
            return False
        return int(self.first) <= int(net.broadcast_address) and int(net.network_address) <= int(self.last)


@dataclass(frozen=True)
class VersionHint:
    """A comment that says which coturn the file is for (``# coturn 4.6.1``, ``# coturn 4.x``)."""

    text: str  # as written: "4.6.1", "4.x"
    line: int


# ``# coturn 4.6.1``, ``# for coturn 4.x``, ``# coturn version: 4.13.1``: a comment that is only that (the
# first one counts; "# A coturn 4.6 example" is prose, not a hint).
_VERSION_HINT = re.compile(
    r"^#\s*(?:for\s+)?coturn\s+(?:version\s*)?[:=]?\s*v?(\d+(?:\.\d+){0,3}(?:\.[xX*])?)\s*$", re.IGNORECASE)


@dataclass
class TurnserverConf:
    path: str
    options: list[ConfOption] = field(default_factory=list)
    version_hint: VersionHint | None = None

    def has(self, name: str) -> bool:
        """The option is written (whatever its value)."""
        return any(o.name == name for o in self.options)

    def flag(self, name: str) -> bool:
        """A boolean option in effect: written, and its last value true (a value coturn refuses counts as
        written: the rule that reports it is LINT-BAD-VALUE)."""
        found = self.lines(name)
        return bool(found) and bool_value(found[-1].value) is not False

    def values(self, name: str) -> list[str]:
        return [o.value for o in self.options if o.name == name and o.value is not None]

    def last(self, name: str) -> str | None:
        """The effective value of a single-valued option (coturn: the last one read wins)."""
        found = self.values(name)
        return found[-1] if found else None

    def lines(self, name: str) -> list[ConfOption]:
        return [o for o in self.options if o.name == name]


def parse_text(text: str, path: str = "turnserver.conf") -> TurnserverConf:
    conf = TurnserverConf(path=path)
    for number, raw in enumerate(text.splitlines()[:MAX_LINES], start=1):
        line = raw.strip()
        if line.startswith("#") and conf.version_hint is None:
            hint = _VERSION_HINT.match(line)
            if hint is not None:
                conf.version_hint = VersionHint(hint.group(1), number)
        if not line or line.startswith("#"):
            continue
        name, value = _split(line)
        if name:
            conf.options.append(ConfOption(name, value, number))
    return conf


_SEPARATORS = " =\t"


def _split(line: str) -> tuple[str, str | None]:
    """coturn's ``parse_arg_string``: the name ends at the first space, tab or ``=``; the value starts after
    the run of them; a leading double quote (and a trailing one) is removed."""
    for index, char in enumerate(line):
        if char in _SEPARATORS:
            value = line[index:].lstrip(_SEPARATORS)
            if value.startswith('"'):
                value = value[1:].rstrip()
                value = value[:-1] if value.endswith('"') else value
            return line[:index], value
    return line, None


def read_file(path: str | Path) -> TurnserverConf:
    """Read and parse ``path``; one-line :class:`ConfigFileError` if it is missing, unreadable or not text."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigFileError(f"cannot read {file}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigFileError(f"{file} is larger than {MAX_CONFIG_BYTES} bytes: not a turnserver.conf")
    if b"\x00" in data:
        raise ConfigFileError(f"{file} is a binary file, not a turnserver.conf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_text(text, str(file))


def parse_address(text: str) -> IPAddress | None:
    """An address as coturn's ``make_ioa_addr`` reads it (IPv6 with or without brackets); None if not."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "/" in text or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_range(text: str, line: int = 0) -> IpRange | str:
    """An :class:`IpRange`, or why coturn would not accept ``text`` (one line)."""
    value = text.strip()
    if not value:
        return "empty value"
    if "/" in value:
        return f"{value!r} is CIDR notation, which coturn does not read: write first-last"
    first_text, sep, last_text = value.partition("-")
    first = parse_address(first_text)
    if first is None:
        return f"{first_text.strip()!r} is not an IP address"
    if not sep:
        return IpRange(first, first, value, line)
    last = parse_address(last_text)
    if last is None:
        return f"{last_text.strip()!r} is not an IP address"
    if first.version != last.version:
        return f"{value!r} mixes IPv4 and IPv6"
    if int(last) < int(first):
        return f"{value!r} ends before it starts"
    return IpRange(first, last, value, line)
