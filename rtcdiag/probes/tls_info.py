"""TLS facts about a TURN-over-TLS port: handshake, version, ALPN, certificate chain, host name, expiry.

Stdlib ``ssl`` only. The chain is always collected, even when it does not verify, so that the report can
show *why* a client would reject it. Trust (chain to a CA) and host name (RFC 6125) are checked separately
so each becomes its own finding. This module never decides what is good or bad.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rtcdiag.jsonable import IN_PROCESS
from rtcdiag.redact import ECHO
from rtcdiag.tls import shared_context

# RFC 7443 §4: the ALPN protocol id for STUN/TURN over (D)TLS.
ALPN_STUN_TURN = "stun.turn"


@dataclass
class CertInfo:
    """One certificate of the chain the server sent (leaf first)."""

    subject: str = field(metadata=ECHO)  # the server's certificate: outside text
    issuer: str = field(metadata=ECHO)
    san_dns: list[str] = field(default_factory=list, metadata=ECHO)
    san_ip: list[str] = field(default_factory=list)
    not_before: str = ""  # ISO 8601 UTC
    not_after: str = ""
    days_to_expiry: float | None = None  # negative once expired
    # not_after as a value (the exporter's expiry metric); JSON carries the ISO text above only.
    expires_at: datetime | None = field(default=None, metadata=IN_PROCESS)
    serial: str = ""
    self_signed: bool = False


@dataclass
class TlsInfo:
    """What one TLS handshake with ``address:port`` showed."""

    address: str
    port: int
    server_name: str | None  # SNI sent and the name the certificate is checked against
    handshake_ok: bool = False
    handshake_ms: float | None = None
    version: str | None = None  # e.g. "TLSv1.3"
    cipher: str | None = None
    alpn_offered: list[str] = field(default_factory=lambda: [ALPN_STUN_TURN])
    alpn_selected: str | None = None
    # Whether the chain verified against the CA set (None when no handshake got that far).
    trusted: bool | None = None
    verify_error: str | None = None
    verify_code: int | None = None
    hostname_match: bool | None = None  # None when not checked (no certificate)
    # --insecure: the connections did not verify; trust and name above were still checked (for warnings).
    verification_off: bool = False
    chain: list[CertInfo] = field(default_factory=list)
    error: str | None = None  # handshake/connection failure text
    stalled: bool = False  # the handshake got no (or too slow an) answer within the timeout


def _name_text(rdns: Any) -> str:
    """``(('commonName', 'x'),), ...`` -> ``CN=x, O=y``."""
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    parts: list[str] = []
    for rdn in rdns or ():
        for key, value in rdn:
            parts.append(f"{short.get(key, key)}={value}")
    return ", ".join(parts)


def _iso(cert_time: str | None) -> tuple[str, float | None]:
    if not cert_time:
        return "", None
    seconds = ssl.cert_time_to_seconds(cert_time)
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z"), float(seconds)


def cert_from_info(info: dict[str, Any], now: float | None = None) -> CertInfo:
    """Build a :class:`CertInfo` from the dict ``ssl`` decodes (``getpeercert()`` shape)."""
    now = time.time() if now is None else now
    not_before, _ = _iso(info.get("notBefore"))
    not_after, expiry = _iso(info.get("notAfter"))
    sans = info.get("subjectAltName", ())
    subject = _name_text(info.get("subject"))
    issuer = _name_text(info.get("issuer"))
    return CertInfo(
        subject=subject,
        issuer=issuer,
        san_dns=[v for k, v in sans if k == "DNS"],
        san_ip=[v.strip() for k, v in sans if k == "IP Address"],
        not_before=not_before,
        not_after=not_after,
        days_to_expiry=None if expiry is None else round((expiry - now) / 86400.0, 2),
        expires_at=None if expiry is None else datetime.fromtimestamp(expiry, UTC),
        serial=str(info.get("serialNumber", "")),
        self_signed=bool(subject) and subject == issuer,
    )


def _dns_name_matches(pattern: str, name: str) -> bool:
    # RFC 6125 §6.4.3: a wildcard only as the complete left-most label, matching exactly one label.
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and bool(name.split(".", 1)[0])
    return False


def hostname_matches(cert: CertInfo, name: str) -> bool:
    """RFC 6125 §6.4: an IP literal must equal a SAN iPAddress; a DNS name a SAN dNSName.

    The subject CN is only consulted when the certificate has no SAN at all (RFC 6125 §6.4.4).
    """
    try:
        wanted = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        wanted = None
    if wanted is not None:
        return any(_same_ip(wanted, ip) for ip in cert.san_ip)
    if cert.san_dns or cert.san_ip:
        return any(_dns_name_matches(p, name) for p in cert.san_dns)
    cns = [part[3:] for part in cert.subject.split(", ") if part.startswith("CN=")]
    return any(_dns_name_matches(cn, name) for cn in cns)


def _same_ip(wanted: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == wanted
    except ValueError:
        return False


def _context(*, verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    """Shared per (verify, CA file as it is on disk): loading the system store costs ~20 ms each time."""
    ca = str(ca_file) if ca_file is not None else None
    return shared_context(("inspect", verify, ca), ca if verify else None,
                          lambda: _new_context(verify=verify, ca_file=ca_file))


def _new_context(*, verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # checked separately (hostname_matches) so it is its own finding
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_default_certs()  # the system store, and --ca adds to it
        if ca_file is not None:
            ctx.load_verify_locations(cafile=str(ca_file))
    else:
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([ALPN_STUN_TURN])
    return ctx


def _chain(ssl_object: ssl.SSLObject) -> list[CertInfo]:
    """Every certificate the peer sent, leaf first, decoded even when it did not verify."""
    inner = getattr(ssl_object, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)  # CPython >= 3.10 (public in 3.13)
    if getter is not None:
        certs = getter() or []
        return [cert_from_info(c.get_info()) for c in certs]
    info = ssl_object.getpeercert()
    return [cert_from_info(dict(info))] if info else []


def leaf_certificate(ssl_object: ssl.SSLObject | None) -> CertInfo | None:
    """The certificate a TLS connection's server presented (decoded even when it was not verified)."""
    if ssl_object is None:
        return None
    chain = _chain(ssl_object)
    return chain[0] if chain else None


async def _handshake(address: str, port: int, ctx: ssl.SSLContext, server_name: str | None,
                     timeout: float) -> tuple[asyncio.StreamWriter, float]:
    started = time.perf_counter()
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(address, port, ssl=ctx, server_hostname=server_name or "",
                                ssl_handshake_timeout=timeout),
        timeout,
    )
    return writer, (time.perf_counter() - started) * 1000.0


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 0.5)


def _fill_from(info: TlsInfo, writer: asyncio.StreamWriter, handshake_ms: float) -> None:
    ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
    info.handshake_ok = True
    info.handshake_ms = round(handshake_ms, 2)
    info.version = ssl_object.version()
    cipher = ssl_object.cipher()
    info.cipher = cipher[0] if cipher else None
    info.alpn_selected = ssl_object.selected_alpn_protocol()
    info.chain = _chain(ssl_object)


async def inspect(address: str, port: int, *, server_name: str | None = None, timeout: float = 3.0,
                  ca_file: Path | None = None, insecure: bool = False) -> TlsInfo:
    """Handshake with ``address:port`` (offering ALPN ``stun.turn``) and describe what came back.

    ``server_name`` is sent as SNI and is the name the certificate must match (defaults to ``address``).
    The chain is verified against the system CAs plus ``ca_file``; when verification fails the handshake is
    repeated without it so that the chain can still be shown. ``insecure`` changes nothing here but
    ``verification_off``: the problems found are then reported as warnings (the user's connections
    skipped the check, a browser will not).
    """
    check_name = server_name or address
    sni = None if _is_ip(check_name) else check_name
    info = TlsInfo(address=address, port=port, server_name=check_name, verification_off=insecure)
    try:
        writer, ms = await _handshake(address, port, _context(verify=True, ca_file=ca_file), sni, timeout)
        info.trusted = True
    except ssl.SSLCertVerificationError as exc:
        info.trusted = False
        info.verify_code = exc.verify_code
        info.verify_error = exc.verify_message or str(exc)
        try:
            writer, ms = await _handshake(address, port, _context(verify=False, ca_file=None), sni, timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc2:
            info.error = _describe(exc2)
            return info
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        info.error = _describe(exc)
        info.stalled = isinstance(exc, TimeoutError)
        return info
    try:
        _fill_from(info, writer, ms)
    finally:
        await _close(writer)
    if info.chain:
        info.hostname_match = hostname_matches(info.chain[0], check_name)
    return info


_INSPECTED: dict[tuple[object, ...], asyncio.Task[TlsInfo]] = {}


async def inspect_once(address: str, port: int, *, server_name: str, timeout: float = 3.0,
                       ca_file: Path | None = None) -> TlsInfo:
    """:func:`inspect` made once per server, name and CA file in this event loop, however many probes ask
    (every --insecure TLS connection to one server shares one look at its certificate)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), address, port, server_name, str(ca_file) if ca_file else None)
    task = _INSPECTED.get(key)
    if task is None or task.get_loop() is not loop:
        task = _INSPECTED[key] = loop.create_task(
            inspect(address, port, server_name=server_name, timeout=timeout, ca_file=ca_file, insecure=True))
    return await asyncio.shield(task)


def certificate_problems(info: TlsInfo) -> list[str]:
    """What a verifying client would reject the certificate for: expired, not trusted, wrong name."""
    leaf = info.chain[0] if info.chain else None
    problems: list[str] = []
    if (leaf is not None and leaf.days_to_expiry is not None and leaf.days_to_expiry < 0) or \
            info.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
        problems.append(f"expired on {leaf.not_after if leaf else '?'}")
    elif info.verify_code == X509_V_ERR_CERT_NOT_YET_VALID:
        problems.append(f"not yet valid (from {leaf.not_before if leaf else '?'})")
    if info.trusted is False and info.verify_code not in _DATE_OR_NAME_CODES:
        problems.append(f"not trusted: {info.verify_error} (OpenSSL code {info.verify_code})")
    if info.hostname_match is False and leaf is not None:
        names = ", ".join(leaf.san_dns + leaf.san_ip) or "none"
        problems.append(f"wrong name: the certificate names {names}, not {info.server_name}")
    return problems


X509_V_ERR_CERT_NOT_YET_VALID = 9  # OpenSSL include/openssl/x509_vfy.h
X509_V_ERR_CERT_HAS_EXPIRED = 10
_DATE_OR_NAME_CODES = (9, 10, 62, 64)  # not yet valid, expired, host name / IP address mismatch


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the TLS handshake did not complete in time (no answer to the ClientHello)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
