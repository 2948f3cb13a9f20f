"""An anonymised copy of a webrtc-internals dump to post in a public issue (``rtcdiag analyze --redact``).

- IP addresses are mapped consistently (the same address is the same replacement everywhere, in SDP,
  candidates, stats and URLs) to addresses of the same kind, so the copy still triages the same: private
  (RFC 1918, ULA) to 10.200.0.0/16 and fd00:0:ffff::/48, shared (RFC 6598) to 100.127.0.0/16, link-local
  to 169.254.200.0/24 and fe80::ffff:0:0/96, everything else to the documentation ranges (RFC 5737:
  203.0.113.0/24, 198.51.100.0/24; RFC 3849: 2001:db8::/32). Loopback and unspecified addresses stay: they
  say nothing. No replacement is ever an address of the original dump.
- mDNS candidate names (``<uuid>.local``) become ``mdns-N.local``.
- ICE ufrags and passwords (``a=ice-ufrag``/``a=ice-pwd``, ``ufrag`` of candidates, stats
  ``usernameFragment``) become ``ufragN``/``redactedpwd000…N`` (the same one everywhere, still valid).
- DTLS fingerprints (SDP and stats, and the certificate stats ids built from them) become ``FP-N`` and the
  certificates themselves (``base64Certificate``) are removed.

The UserAgent strings are kept (they name the browser, not the user; ``156.0.0.0`` there is no address).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rtcdiag.addresses import CGNAT_NET

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
# An IPv6 literal: hex groups with 2-7 colons (validated by ipaddress); never the tail of a longer colon run
# such as a fingerprint (AB:CD:... has 31 colons, so no cut of it stands alone).
_IPV6 = re.compile(r"(?<![\w:.])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)(?![\w:])")
_MDNS = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\.local")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){15,63}")
_ICE_CHARS = "A-Za-z0-9+/"  # RFC 8839 §5.4 ice-char
_UFRAG = re.compile(rf"(?:a=ice-ufrag:|\bufrag |\"usernameFragment\":\s*\"|IceLocalUsernameFragment\W+)"
                    rf"([{_ICE_CHARS}]{{1,256}})")
_PWD = re.compile(rf"a=ice-pwd:([{_ICE_CHARS}]{{1,256}})")
_KEEP_KEYS = frozenset({"UserAgent", "UserAgentData"})
_DROPPED_FIELDS = ("base64Certificate", "issuerCertificateId")


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key in _KEEP_KEYS:
                continue
            yield str(key)
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


class _Mapper:
    """Consistent replacements, never colliding with anything in the original dump."""

    def __init__(self, originals: set[str]) -> None:
        self.originals = originals
        self.addresses: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.pools: dict[str, Iterator[str]] = {
            "private4": (f"10.200.{i >> 8}.{i & 255}" for i in itertools.count(1)),
            "cgnat4": (f"100.127.{i >> 8}.{i & 255}" for i in itertools.count(1)),
            "link4": (f"169.254.200.{i}" for i in range(1, 255)),
            "public4": itertools.chain((f"203.0.113.{i}" for i in range(1, 255)),
                                       (f"198.51.100.{i}" for i in range(1, 255)),
                                       (f"192.0.2.{i}" for i in range(1, 255))),
            "private6": (f"fd00:0:ffff::{i:x}" for i in itertools.count(1)),
            "link6": (f"fe80::ffff:0:{i:x}" for i in itertools.count(1)),
            "public6": (f"2001:db8::{i:x}" for i in itertools.count(1)),
        }

    def _fresh(self, pool: str) -> str:
        for candidate in self.pools[pool]:
            if candidate not in self.originals:
                return candidate
        raise RuntimeError("address pool exhausted")  # 762 public IPv4 addresses in one dump: not real

    def address(self, text: str) -> str:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return text
        if ip.is_loopback or ip.is_unspecified:
            return text
        key = ip.compressed
        if key not in self.addresses:
            if isinstance(ip, ipaddress.IPv4Address):
                pool = ("link4" if ip.is_link_local else "cgnat4" if ip in CGNAT_NET
                        else "private4" if ip.is_private and not _documentation(ip) else "public4")
            else:
                pool = "link6" if ip.is_link_local else "private6" if ip in _ULA else "public6"
            self.addresses[key] = self._fresh(pool)
        return self.addresses[key]

    def name(self, kind: str, text: str) -> str:
        key = f"{kind}:{text}"
        if key not in self.names:
            count = sum(k.startswith(f"{kind}:") for k in self.names) + 1
            self.names[key] = {"mdns": f"mdns-{count}.local", "ufrag": f"ufrag{count}",
                               "pwd": f"redactedpwd{count:013d}",  # 24 ice-chars: RFC 8839 wants >= 22
                               "fp": f"FP-{count}"}[kind]
        return self.names[key]


_ULA = ipaddress.IPv6Network("fc00::/7")
_DOC4 = (ipaddress.IPv4Network("192.0.2.0/24"), ipaddress.IPv4Network("198.51.100.0/24"),
         ipaddress.IPv4Network("203.0.113.0/24"))


def _documentation(ip: ipaddress.IPv4Address) -> bool:
    return any(ip in net for net in _DOC4)


@dataclass
class Redactions:
    """What :func:`anonymize_counted` replaced: distinct values of each kind, and every occurrence."""

    addresses: int = 0
    mdns_names: int = 0
    ice_credentials: int = 0  # ufrags and passwords
    fingerprints: int = 0
    removed: int = 0  # certificate fields dropped
    occurrences: int = 0

    def text(self) -> str:
        """``14 IP addresses, 4 ICE ufrags/passwords, 2 fingerprints replaced (812 places), 4 certificates
        removed``."""
        kinds = [(self.addresses, "IP address", "IP addresses"), (self.mdns_names, "mDNS name", "mDNS names"),
                 (self.ice_credentials, "ICE ufrag/password", "ICE ufrags/passwords"),
                 (self.fingerprints, "DTLS fingerprint", "DTLS fingerprints")]
        said = [f"{n} {one if n == 1 else many}" for n, one, many in kinds if n]
        text = (", ".join(said) + f" replaced ({self.occurrences} places)") if said else "nothing replaced"
        if self.removed:
            text += f", {self.removed} certificate field(s) removed"
        return text


def anonymize(document: Any) -> Any:
    """A copy of a parsed dump (``json.loads`` of the file) with everything listed above replaced."""
    return anonymize_counted(document)[0]


def anonymize_counted(document: Any) -> tuple[Any, Redactions]:
    """:func:`anonymize`, and what it replaced (said on stderr by ``analyze --redact``)."""
    counts = Redactions()
    texts = list(_strings(document))
    originals: set[str] = set()
    ufrags: set[str] = set()
    pwds: set[str] = set()
    for item in texts:
        originals.update(_IPV4.findall(item))
        originals.update(m.lower() for m in _IPV6.findall(item))
        ufrags.update(_UFRAG.findall(item))
        pwds.update(_PWD.findall(item))
    mapper = _Mapper(originals)
    secrets = sorted(ufrags | pwds, key=len, reverse=True)
    alternatives = "|".join(map(re.escape, secrets))
    token = re.compile(rf"(?<![{_ICE_CHARS}])({alternatives})(?![{_ICE_CHARS}])") if secrets else None

    def counted(new: str, old: str) -> str:
        counts.occurrences += new != old
        return new

    def text(value: str) -> str:
        value = _FINGERPRINT.sub(lambda m: counted(mapper.name("fp", m.group(0).upper()), m.group(0)), value)
        value = _MDNS.sub(lambda m: counted(mapper.name("mdns", m.group(0).lower()), m.group(0)), value)
        value = _IPV6.sub(lambda m: counted(mapper.address(m.group(1)), m.group(1)) if ":" in m.group(1)
                          else m.group(1), value)
        value = _IPV4.sub(lambda m: counted(mapper.address(m.group(1)), m.group(1)), value)
        if token is not None:
            value = token.sub(lambda m: counted(mapper.name("pwd" if m.group(1) in pwds else "ufrag",
                                                            m.group(1)), m.group(1)), value)
        return value

    def walk(obj: Any) -> Any:
        if isinstance(obj, str):
            return text(obj)
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        if isinstance(obj, dict):
            out: dict[str, Any] = {}
            for key, value in obj.items():
                if key in _KEEP_KEYS:
                    out[key] = value
                elif not any(str(key).endswith(f"-{name}") for name in _DROPPED_FIELDS):
                    out[text(str(key))] = walk(value)
                else:
                    counts.removed += 1
            return out
        return obj

    copy = walk(document)
    counts.addresses = sum(1 for old, new in mapper.addresses.items() if old != new)
    for kind in ("mdns", "ufrag", "pwd", "fp"):
        n = sum(k.startswith(f"{kind}:") for k in mapper.names)
        if kind == "mdns":
            counts.mdns_names = n
        elif kind == "fp":
            counts.fingerprints = n
        else:
            counts.ice_credentials += n
    return copy, counts
