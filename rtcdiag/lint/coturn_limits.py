"""The capacity limits a coturn ``turnserver.conf`` sets, as coturn reads them (src/apps/relay/mainrelay.c,
userdb.c, netengine.c, turn_ports.c):

- ``min-port``/``max-port``: the relay port range, both ends included (defaults 49152 and 65535), one pool
  per relay address: an allocation takes one port of its relay address's pool, or fails with 508;
- relay addresses: the ``relay-ip`` lines, else the ``listening-ip`` lines, else every address of the machine
  (found at start: unknown from the file);
- ``total-quota`` (all allocations at once) and ``user-quota`` (per user name; the REST timestamp is cut
  off first): 0 or absent is *unlimited*; over it the Allocate gets 486;
- ``max-bps``: bytes per second per session and direction (input and output apart); above it coturn drops;
- ``bps-capacity``: bytes per second for all sessions, *reserved* at allocation: each new allocation
  reserves ``max-bps`` (a browser asks no BANDWIDTH) or what is left; with nothing left the Allocate gets
  486 "Allocation Bandwidth Quota Reached". coturn refuses to start with ``bps-capacity`` and no ``max-bps``;
- ``max-allocate-lifetime`` (default 3600 s) caps the lifetime a client asks for; one that asks none gets
  600 s (``STUN_DEFAULT_ALLOCATE_LIFETIME``), capped by it.

Numbers are read as coturn reads them (``atoi``/``strtoul``: leading digits, anything else is 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rtcdiag.lint.turnserver_conf import TurnserverConf, parse_address

DEFAULT_MIN_PORT = 49152  # RFC 8656 §7.2 / coturn LOW_DEFAULT_PORTS_BOUNDARY
DEFAULT_MAX_PORT = 65535
DEFAULT_MAX_ALLOCATE_LIFETIME_S = 3600
DEFAULT_ALLOCATE_LIFETIME_S = 600  # coturn STUN_DEFAULT_ALLOCATE_LIFETIME (RFC 8656 §3.2)
_LEADING_NUMBER = re.compile(r"\s*[+]?(\d+)")


def coturn_number(text: str | None) -> int:
    """``atoi``: the leading decimal digits (after blanks and a ``+``), else 0."""
    if text is None:
        return 0
    match = _LEADING_NUMBER.match(text)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class Setting:
    """One option as written: its value (None when absent) and its line (0 when absent)."""

    value: int | None
    line: int = 0

    @property
    def written(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class CoturnLimits:
    path: str
    min_port: Setting
    max_port: Setting
    relay_addresses: int | None  # IPv4 relay addresses; None: discovered at start (unknown from the file)
    relay_addresses_from: str  # "relay-ip", "listening-ip" or ""
    total_quota: Setting
    user_quota: Setting
    max_bps: Setting
    bps_capacity: Setting
    max_allocate_lifetime: Setting
    tcp_relay: bool  # RFC 6062 TCP allocations allowed (no ``no-tcp-relay``)

    @property
    def low_port(self) -> int:
        return self.min_port.value if self.min_port.value is not None else DEFAULT_MIN_PORT

    @property
    def high_port(self) -> int:
        return self.max_port.value if self.max_port.value is not None else DEFAULT_MAX_PORT

    @property
    def ports_per_address(self) -> int:
        """Relay ports in the range, both ends included (0 when max-port is below min-port)."""
        return max(self.high_port - self.low_port + 1, 0)

    @property
    def relay_ports(self) -> int:
        """Every relay port of every (IPv4) relay address; one address when the file names none."""
        return self.ports_per_address * (self.relay_addresses or 1)

    @property
    def granted_lifetime_s(self) -> int:
        """What a client that asks no LIFETIME gets (coturn stun_adjust_allocate_lifetime)."""
        cap = self.max_allocate_lifetime.value
        if cap is None:
            cap = DEFAULT_MAX_ALLOCATE_LIFETIME_S
        return min(DEFAULT_ALLOCATE_LIFETIME_S, cap) if cap > 0 else DEFAULT_ALLOCATE_LIFETIME_S

    def bandwidth_allocations(self) -> int | None:
        """How many allocations ``bps-capacity`` admits (each reserves ``max-bps``, the last what is left);
        None when there is no capacity limit (or no max-bps: coturn does not start then)."""
        capacity, per = self.bps_capacity.value, self.max_bps.value
        if not capacity or not per:
            return None
        return -(-capacity // per)


def _setting(conf: TurnserverConf, name: str) -> Setting:
    found = conf.lines(name)
    if not found:
        return Setting(None)
    return Setting(coturn_number(found[-1].value), found[-1].line)


def _relay_addresses(conf: TurnserverConf) -> tuple[int | None, str]:
    for name in ("relay-ip", "listening-ip"):
        values = conf.values(name)
        if values:
            v4 = {str(a) for text in values if (a := parse_address(text)) is not None and a.version == 4}
            return len(v4), name
    return None, ""


def read_limits(conf: TurnserverConf) -> CoturnLimits:
    relays, relays_from = _relay_addresses(conf)
    return CoturnLimits(
        path=conf.path, min_port=_setting(conf, "min-port"), max_port=_setting(conf, "max-port"),
        relay_addresses=relays, relay_addresses_from=relays_from,
        total_quota=_setting(conf, "total-quota"), user_quota=_setting(conf, "user-quota"),
        max_bps=_setting(conf, "max-bps"), bps_capacity=_setting(conf, "bps-capacity"),
        max_allocate_lifetime=_setting(conf, "max-allocate-lifetime"),
        tcp_relay=not conf.flag("no-tcp-relay"))
