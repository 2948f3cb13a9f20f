"""Targets: what a user names on the command line or pastes from an app's config.

Accepted forms:

- RFC 7064 ``stun:host[:port]`` / ``stuns:host[:port]`` and RFC 7065 ``turn:`` / ``turns:`` with an optional
  ``?transport=udp|tcp``; default ports 3478 (stun/turn) and 5349 (stuns/turns); IPv6 literals in brackets.
- The ``host[:port]`` shortcut, with a scheme chosen by the caller (``stun`` for ``rtcdiag stun``, ...).
- A browser ``RTCIceServer`` JSON file: ``[{"urls": [...] | "url": ..., "username": ..., "credential": ...}]``
  or ``{"iceServers": [...]}`` as pasted from an application's configuration.

Every bad input raises :class:`TargetError` (exit 2) with one line that says what is wrong. A credential is
registered with :func:`rtcdiag.redact.register_secret` as soon as a :class:`Target` holds it, is left out of
``repr`` and JSON, and never appears in :attr:`Target.uri`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from rtcdiag.addresses import format_hostport, parse_ip
from rtcdiag.errors import UsageError
from rtcdiag.redact import register_secret

SCHEMES = ("stun", "stuns", "turn", "turns")


class Transport(StrEnum):
    """How a client reaches a STUN/TURN server: RFC 7065 §3 ``?transport=udp|tcp``; ``turns:`` is TLS
    over TCP."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


TRANSPORTS: tuple[str, ...] = tuple(t.value for t in Transport)  # the command-line choices, in this order
DEFAULT_PORT = 3478  # RFC 7064 §3.1 / RFC 7065 §3
DEFAULT_TLS_PORT = 5349  # RFC 7064 §3.1 / RFC 7065 §3 (stuns:, turns:)

# RFC 3986 §3.2.2 reg-name characters we accept in a host name (plus non-ASCII letters for IDNs).
_HOSTNAME_CHARS = re.compile(r"^[\w.-]+$")
_SCHEME_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)
_NO_USERINFO = ("user name or password in the URI is not allowed (RFC 7064 §3.1); pass credentials as "
                "options or in an ice-servers file")


class TargetError(UsageError):
    """A target URI, host:port or ice-servers file that cannot be used (exit 2)."""


def half_credentials(username: str | None, password: str | None, secret: str | None = None) -> str | None:
    """What is missing when a TURN server got only half of its long-term credentials, or None.

    A user name without a password (or a password without a user name) cannot authenticate anything: the
    run would stop at the 401 challenge and report that as a finding. It is the user's mistake, told before
    any traffic (exit 2). A browser refuses such an RTCIceServer as well (InvalidAccessError, W3C WebRTC
    §4.4.1.1). A REST API secret needs no password (the user name is optional).
    """
    if secret:
        return None
    if username and not password:
        return "a user name without a password"
    if password and not username:
        return "a password without a user name"
    return None


def password_problem(password: str) -> str | None:
    """Why no TURN server can check ``password``, or None when it is usable.

    The long-term key hashes the prepared password (RFC 8489 §9.2.2, SASLprep as RFC 5389/5769). Control
    characters are disallowed by RFC 8265 OpaqueString (FreeformClass, RFC 8264 §9.11) and prohibited by
    SASLprep (RFC 4013 §2.3): such a password is the user's mistake (a pasted escape, a stray tab), told
    as a usage error, never a crash. The answer names the code point, never the password.
    """
    from rtcdiag.protocol.credentials import saslprep
    from rtcdiag.protocol.errors import CredentialError

    try:
        saslprep(password)
    except CredentialError as exc:
        return f"{exc} (RFC 8265 OpaqueString / RFC 4013 SASLprep): no TURN server can check it"
    return None


def _is_secure(scheme: str) -> bool:
    return scheme in ("stuns", "turns")


@dataclass(frozen=True)
class Target:
    """One STUN/TURN server endpoint.

    ``transport`` is the transport on the wire: ``udp``, ``tcp`` or ``tls`` (always ``tls`` for ``stuns:``
    and ``turns:``), or None while the user has not chosen one (see :func:`expand_transports`).
    """

    scheme: str
    host: str  # without brackets; an IPv6 literal may carry a zone id (fe80::1%eth0)
    port: int
    transport: Transport | None = None
    username: str | None = None
    credential: str | None = field(default=None, repr=False, metadata={"secret": True})
    source: str = "argument"  # where it came from, e.g. "ice-servers.json: iceServers[0].urls[1]"
    # True for the ``host[:port]`` shortcut: no scheme was written, so the command's transport set applies.
    # A written ``stun:``/``turn:`` URI without ``?transport=`` is UDP, as a browser uses it (RFC 7065 §3).
    shortcut: bool = False
    # The RTCIceServer entry it was listed in (``FILE: iceServers[1]``): the URLs of one entry are one
    # server with one set of credentials; None for a URI given on its own.
    entry: str | None = None

    def __post_init__(self) -> None:
        register_secret(self.credential)

    @property
    def secure(self) -> bool:
        return _is_secure(self.scheme)

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def hostport(self) -> str:
        return format_hostport(self.host, self.port)

    @property
    def uri(self) -> str:
        """The URI for display: never user name or credential; ``?transport=`` only when one was chosen."""
        base = f"{self.scheme}:{self.hostport}"
        if self.transport is None or self.secure:
            return base
        return f"{base}?transport={self.transport}"

    @property
    def written_transport(self) -> Transport:
        """The transport of a written URI as a browser resolves it: ``?transport=`` as given, ``stuns:`` and
        ``turns:`` TLS, none given UDP (RFC 7064 §3.1, RFC 7065 §3)."""
        return self.transport or (Transport.TLS if self.secure else Transport.UDP)

    def with_transport(self, transport: Transport | str, *, tls_port: int = DEFAULT_TLS_PORT) -> Target:
        """Same server over ``transport``; ``tls`` makes ``stun``/``turn`` into ``stuns``/``turns``.

        RFC 7065 §3: ``turns:`` is TLS over TCP; plain udp/tcp use the insecure scheme.
        """
        if transport not in TRANSPORTS:
            raise TargetError(f"{self.uri}: unknown transport {transport!r} (use udp, tcp or tls)")
        chosen = Transport(transport)
        if chosen is Transport.TLS:
            if self.secure:
                return replace(self, transport=chosen)
            return replace(self, scheme=self.scheme + "s", port=tls_port, transport=chosen)
        if self.secure:
            return replace(self, scheme=self.scheme[:-1], transport=chosen)
        return replace(self, transport=chosen)


# --- single URIs and host[:port] --------------------------------------------------------------------------


def _mask_userinfo(text: str) -> str:
    """``turn:user:pass@host`` -> ``turn:***@host`` so an error line never echoes a password."""
    authority, qmark, query = text.partition("?")
    if "@" not in authority:
        return text
    match = _SCHEME_PREFIX.match(authority)
    prefix = match.group(1) + ":" if match and match.group(1).lower() in SCHEMES else ""
    return f"{prefix}***@{authority.rsplit('@', 1)[1]}{qmark}{query}"


def _parse_port(text: str, original: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise TargetError(f"invalid target {original!r}: port {text!r} is not a number from 1 to 65535")
    port = int(text)
    if not 1 <= port <= 65535:
        raise TargetError(f"invalid target {original!r}: port {port} is out of range 1-65535")
    return port


def _parse_hostport(text: str, original: str, default_port: int) -> tuple[str, int]:
    """RFC 3986 ``host [":" port]``; IPv6 literals must be in brackets."""
    if not text:
        raise TargetError(f"invalid target {original!r}: the host is empty")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise TargetError(f"invalid target {original!r}: missing ']' after the IPv6 literal")
        host, rest = text[1:end], text[end + 1:]
        ip = parse_ip(host)
        if ip is None or ip.version != 6:
            raise TargetError(f"invalid target {original!r}: {host!r} in brackets is not an IPv6 address")
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise TargetError(f"invalid target {original!r}: unexpected {rest!r} after the IPv6 literal")
        return host, _parse_port(rest[1:], original)
    if text.count(":") > 1:
        raise TargetError(
            f"invalid target {original!r}: IPv6 literals go in brackets (RFC 3986), e.g. [2001:db8::1]:3478")
    host, sep, port_text = text.partition(":")
    if not host:
        raise TargetError(f"invalid target {original!r}: the host is empty")
    if not _HOSTNAME_CHARS.match(host) or host.startswith(("-", ".")) or ".." in host:
        raise TargetError(f"invalid target {original!r}: {host!r} is not a valid host name or IP address")
    if parse_ip(host) is None and host.replace(".", "").isdigit():
        raise TargetError(f"invalid target {original!r}: {host!r} is not a valid IPv4 address")
    return host, (_parse_port(port_text, original) if sep else default_port)


def _parse_transport(query: str, scheme: str, original: str) -> Transport:
    """RFC 7065 §3: ``?transport=udp|tcp``; accepted on stun: too, as browsers do."""
    if not query:
        raise TargetError(f"invalid target {original!r}: empty query after '?' (use ?transport=udp or tcp)")
    key, sep, value = query.partition("=")
    if key.lower() != "transport" or not sep or "&" in value:
        raise TargetError(f"invalid target {original!r}: only '?transport=udp' or '?transport=tcp' is "
                          f"allowed after the host (RFC 7065 §3), not {query!r}")
    value = value.lower()
    if value not in ("udp", "tcp"):
        raise TargetError(f"invalid target {original!r}: transport {value!r} is not udp or tcp (RFC 7065 §3)")
    if _is_secure(scheme):
        if value == "udp":
            raise TargetError(f"invalid target {original!r}: {scheme}: with transport=udp means DTLS, "
                              "which rtcdiag does not support (use turns: over TLS, or turn: over udp)")
        return Transport.TLS  # RFC 7065 §3: turns:...?transport=tcp is TLS over TCP
    return Transport(value)


def parse_uri(text: str, *, source: str = "argument", username: str | None = None,
              credential: str | None = None, shown_as: str | None = None, shortcut: bool = False) -> Target:
    """Parse one RFC 7064/7065 URI (``stun:``, ``stuns:``, ``turn:``, ``turns:``).

    ``shown_as`` is the text quoted in error lines (the user's own spelling of a ``host:port`` shortcut).
    """
    original = _mask_userinfo(shown_as if shown_as is not None else text.strip())
    text = text.strip()
    match = _SCHEME_PREFIX.match(text)
    if match is None or match.group(1).lower() not in SCHEMES:
        shown = match.group(1) if match else original
        raise TargetError(f"invalid target {original!r}: unsupported scheme {shown!r} "
                          "(use stun:, stuns:, turn: or turns:)")
    scheme, rest = match.group(1).lower(), match.group(2)
    if rest.startswith("//"):
        raise TargetError(f"invalid target {original!r}: {scheme}: URIs have no '//' "
                          f"(RFC 7064/7065; browsers reject it too): write {scheme}:host:port")
    hostport, qmark, query = rest.partition("?")
    if "@" in hostport:
        raise TargetError(f"invalid target {original!r}: {_NO_USERINFO}")
    if "/" in hostport or "#" in hostport:
        raise TargetError(f"invalid target {original!r}: a path or fragment is not allowed in {scheme}: URIs")
    default_port = DEFAULT_TLS_PORT if _is_secure(scheme) else DEFAULT_PORT
    host, port = _parse_hostport(hostport, original, default_port)
    transport: Transport | None = Transport.TLS if _is_secure(scheme) else None
    if qmark:
        transport = _parse_transport(query, scheme, original)
    return Target(scheme=scheme, host=host, port=port, transport=transport, username=username,
                  credential=credential, source=source, shortcut=shortcut)


def looks_like_uri(text: str) -> bool:
    match = _SCHEME_PREFIX.match(text.strip())
    return match is not None and match.group(1).lower() in SCHEMES


def parse_target(text: str, *, default_scheme: str = "stun", source: str = "argument",
                 username: str | None = None, credential: str | None = None) -> Target:
    """Parse a URI or the ``host[:port]`` shortcut (``default_scheme`` supplies scheme and default port)."""
    if default_scheme not in SCHEMES:
        raise ValueError(f"default_scheme must be one of {SCHEMES}")
    stripped = text.strip()
    if looks_like_uri(stripped):
        return parse_uri(stripped, source=source, username=username, credential=credential)
    if not stripped:
        raise TargetError("invalid target '': the host is empty")
    shown_as = _mask_userinfo(stripped)
    if "@" in stripped.partition("?")[0]:
        raise TargetError(f"invalid target {shown_as!r}: {_NO_USERINFO}")
    if not stripped.startswith("[") and stripped.count(":") > 1:
        _refuse_ipv6_with_port(stripped, shown_as)
        ip = parse_ip(stripped)
        if ip is None or ip.version != 6:
            raise TargetError(f"invalid target {shown_as!r}: IPv6 literals go in brackets (RFC 3986), "
                              "e.g. [2001:db8::1]:3478")
        stripped = f"[{stripped}]"  # a bare IPv6 literal (::1) is unambiguous without a port
    match = _SCHEME_PREFIX.match(stripped)
    if match is not None:
        prefix, rest = match.group(1), match.group(2)
        if rest.startswith("//") or ("." not in prefix and rest and not rest.isdigit()):
            raise TargetError(f"invalid target {shown_as!r}: unsupported scheme {prefix!r} "
                              "(use stun:, stuns:, turn: or turns:, or host[:port])")
    return parse_uri(f"{default_scheme}:{stripped}", source=source, username=username, credential=credential,
                     shown_as=shown_as, shortcut=True)


def _refuse_ipv6_with_port(text: str, shown_as: str) -> None:
    """An IPv6 literal followed by ``:PORT`` without brackets (RFC 3986 §3.2.2 wants ``[::1]:3478``).

    ``::1:3478`` is also a valid address itself: refuse to guess. Ambiguous when the last group is decimal
    digits that fit a port and what precedes it is an IPv6 address; ``::1:37105`` (not an address) is told
    the same way.
    """
    head, _, last = text.rpartition(":")
    if not (last.isascii() and last.isdigit() and 1 <= int(last) <= 65535):
        return
    before = parse_ip(head)
    if before is None or before.version != 6:
        return
    whole = parse_ip(text)
    if whole is None or whole.version != 6:
        raise TargetError(f"invalid target {shown_as!r}: an IPv6 address with a port goes in brackets: "
                          f"write [{head}]:{last} (RFC 3986)")
    raise TargetError(f"ambiguous target {shown_as!r}: write [{head}]:{last} for port {last}, "
                      f"or [{text}] for the address (IPv6 literals with a port go in brackets, RFC 3986)")


# --- ICE server URLs as a browser reads them ----------------------------------------------------------------

MAX_URL_CHARS = 500  # a URL read from a dump is hostile: longer text is cut (and then never parses)


def _uri_host(host: str) -> str:
    """A host for a URI: an IPv6 literal in brackets (RFC 3986 §3.2.2), lower case, IPv6 compressed."""
    ip = parse_ip(host)
    if ip is not None and ip.version == 6:
        return f"[{ip.compressed}]"
    return (str(ip) if ip is not None else host).lower()


@dataclass(frozen=True)
class IceServerUrl:
    """One ``stun:``/``turn:`` URL as a browser uses it: the one place that knows what a URL means.

    A browser resolves ``turn:host[:port]`` without ``?transport=`` to TURN over **UDP only**, ``turns:`` to
    TLS over TCP (RFC 7065 §3), and ``stun:``/``stuns:`` to a STUN server it asks over UDP (libwebrtc,
    pc/ice_server_parsing.cc, puts both in one set of UDP STUN servers). It then names the server in every
    candidate and icecandidateerror by a URL it rebuilds: ``turn:host:port?transport=udp``,
    ``turns:host:port?transport=tcp``, ``stun:host:port`` (p2p TurnPort::ReconstructedServerUrl; an IPv6
    literal written without brackets there). So URLs are compared by :attr:`key`, never as text:
    ``turn:h:3478``, ``turn:h?transport=udp`` and ``TURN:H:3478`` have one key.

    :meth:`parse` is strict (a user's input: :class:`TargetError`, exit 2); :meth:`lenient` reads a URL from
    a dump and never raises: a URL it cannot parse keeps its normalised text as its key.
    """

    text: str  # as written (bounded)
    scheme: str = ""  # stun / stuns / turn / turns; "" when the URL does not parse
    host: str = ""  # lower case, no brackets; "" when it does not parse
    port: int | None = None
    transport: Transport | None = None  # what the browser uses to reach the server

    @classmethod
    def parse(cls, text: str) -> IceServerUrl:
        """A URL the user wrote (RFC 7064/7065): :class:`TargetError` when it is not one."""
        if len(text) > MAX_URL_CHARS:
            raise TargetError(f"invalid target: an ICE server URL of {len(text)} characters (at most "
                              f"{MAX_URL_CHARS})")
        target = parse_uri(text, source="ice server url")
        return cls._of(text, target.scheme, target.host, target.port, target.written_transport)

    @classmethod
    def of_target(cls, target: Target) -> IceServerUrl:
        return cls._of(target.uri, target.scheme, target.host, target.port, target.written_transport)

    @classmethod
    def lenient(cls, text: str) -> IceServerUrl:
        """A URL read from evidence (a dump, a page): never raises; unparseable text keeps only its key."""
        text = str(text)
        if len(text) > MAX_URL_CHARS:  # cut, it could become a valid URL: it never parses
            return cls(text=text[:MAX_URL_CHARS])
        try:
            return cls.parse(text)
        except TargetError:
            pass
        # Chromium rebuilds an IPv6 server's URL without brackets: turn:::1:3478?transport=udp
        match = _SCHEME_PREFIX.match(text.strip())
        if match is not None and match.group(1).lower() in SCHEMES:
            hostport, qmark, query = match.group(2).partition("?")
            host, _, port = hostport.rpartition(":")
            ip = parse_ip(host)
            if ip is not None and ip.version == 6 and port.isascii() and port.isdigit():
                try:
                    bracketed = cls.parse(f"{match.group(1)}:[{host}]:{port}{qmark}{query}")
                except TargetError:
                    pass
                else:
                    return replace(bracketed, text=text.strip())
        return cls(text=text)

    @classmethod
    def _of(cls, text: str, scheme: str, host: str, port: int, written: Transport) -> IceServerUrl:
        if scheme in ("stun", "stuns"):
            written = Transport.UDP  # a browser asks every STUN server over UDP (see the class docstring)
        return cls(text=text.strip(), scheme=scheme, host=host.lower(), port=port, transport=written)

    @property
    def parsed(self) -> bool:
        return self.transport is not None

    @property
    def is_turn(self) -> bool:
        scheme = self.scheme or self.text.strip().partition(":")[0].lower()
        return scheme in ("turn", "turns")

    @property
    def family(self) -> str:
        """``turn`` or ``stun``: which kind of candidate the server gives (relay or srflx)."""
        return "turn" if self.is_turn else "stun"

    @property
    def browser_form(self) -> str:
        """The URL as a browser names the server in candidates and errors (brackets kept for IPv6)."""
        if not self.parsed:
            return self.text.strip()
        hostport = f"{_uri_host(self.host)}:{self.port}"
        if not self.is_turn:
            return f"stun:{hostport}"
        if self.transport is Transport.TLS:
            return f"turns:{hostport}?transport=tcp"
        return f"turn:{hostport}?transport={self.transport}"

    @functools.cached_property
    def key(self) -> str:
        """Equal for two URLs a browser treats as one server over one transport (worked out once: the
        rules compare every candidate's and error's URL with every configured server's)."""
        return self.browser_form if self.parsed else " ".join(self.text.split()).lower()

    def same_server(self, other: IceServerUrl) -> bool:
        return self.key == other.key


# --- browser RTCIceServer files -----------------------------------------------------------------------------


def _json_error_hint(text: str) -> str:
    javascript = re.search(r"^\s*(const|let|var|iceServers\s*[:=])", text)
    if javascript or re.search(r"[{,]\s*[A-Za-z_]\w*\s*:", text):
        return " (a JavaScript object literal is not JSON: quote every key with \" and drop trailing commas)"
    return ""


def _read_json(path: Path) -> Any:
    import json  # (only here: a target on the command line needs no JSON)

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetError(f"cannot read ice-servers file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TargetError(f"cannot read ice-servers file {path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TargetError(f"invalid JSON in {path} at line {exc.lineno} column {exc.colno}: {exc.msg}"
                          f"{_json_error_hint(text)}") from None


def _optional_str(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TargetError(f"{where}: {key!r} must be a string, not {type(value).__name__}")
    return value


def _server_list(data: Any, origin: str) -> tuple[list[Any], str]:
    """The list of RTCIceServer entries and the JSON path prefix used in error lines."""
    if isinstance(data, dict):
        if "iceServers" in data:
            servers = data["iceServers"]
            if not isinstance(servers, list):
                raise TargetError(f"{origin}: 'iceServers' must be a list, not {type(servers).__name__}")
            return servers, "iceServers"
        if "urls" in data or "url" in data:
            return [data], "iceServers"  # a single RTCIceServer
    if not isinstance(data, list):
        raise TargetError(f"{origin}: expected a list of ice servers or an object with 'iceServers'")
    return data, ""


def ice_servers_from_data(data: Any, *, origin: str = "ice-servers") -> list[Target]:
    """Targets from parsed RTCIceServer JSON (a list, or an object with ``iceServers``)."""
    servers, prefix = _server_list(data, origin)
    if not servers:
        raise TargetError(f"{origin}: the ice server list is empty")
    targets: list[Target] = []
    for index, entry in enumerate(servers):
        where = f"{origin}: {prefix}[{index}]"
        if not isinstance(entry, dict):
            raise TargetError(f"{where}: each ice server must be an object with 'urls'")
        urls = entry.get("urls", entry.get("url"))
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise TargetError(f"{where}: 'urls' must be a URI string or a non-empty list of URI strings")
        username = _optional_str(entry, "username", where)
        credential = _optional_str(entry, "credential", where)
        register_secret(credential)
        problem = password_problem(credential) if credential else None
        if problem:
            raise TargetError(f"{where}: 'credential' {problem}")
        credential_type = entry.get("credentialType", "password")
        if credential_type != "password":
            raise TargetError(f"{where}: credentialType {credential_type!r} is not supported "
                              "(only 'password')")
        half = half_credentials(username, credential)
        turn = any(isinstance(u, str) and u.strip().lower().startswith(("turn:", "turns:")) for u in urls)
        if half and turn:
            missing = "'credential'" if username else "'username'"
            raise TargetError(f"{where}: {half} ({missing} is missing): a TURN server needs both, and a "
                              "browser refuses this entry too")
        for url_index, url in enumerate(urls):
            url_source = f"{where}.urls[{url_index}]"
            try:
                target = parse_uri(url, source=url_source, username=username, credential=credential)
                targets.append(replace(target, entry=where))
            except TargetError as exc:
                raise TargetError(f"{url_source}: {exc}") from None
    return targets


def load_ice_servers(path: str | Path) -> list[Target]:
    """Read a browser RTCIceServer JSON file into targets (credentials registered as secrets)."""
    file = Path(path)
    return ice_servers_from_data(_read_json(file), origin=str(file))


def parse_targets(args: Iterable[str], *, default_scheme: str = "stun", username: str | None = None,
                  credential: str | None = None) -> list[Target]:
    """Parse command-line target arguments; an argument ending in ``.json`` is an ice-servers file.

    ``username``/``credential`` (e.g. from ``--user`` and a password environment variable) apply to URIs given
    on the command line, not to entries of an ice-servers file, which carry their own.
    """
    targets: list[Target] = []
    for arg in args:
        if arg.lower().endswith(".json") and not looks_like_uri(arg):
            targets.extend(load_ice_servers(arg))
            continue
        targets.append(parse_target(arg, default_scheme=default_scheme, username=username,
                                    credential=credential))
    return targets


# --- transports ---------------------------------------------------------------------------------------------


def expand_transports(targets: Iterable[Target], default_transports: Sequence[str] = TRANSPORTS,
                      *, tls_port: int = DEFAULT_TLS_PORT) -> list[Target]:
    """One target per transport to probe, in order and without duplicates, as a browser would use them.

    - a target with a transport (``?transport=``, ``stuns:``, ``turns:``) keeps it;
    - a ``stun:``/``turn:`` URI without ``?transport=`` is UDP (RFC 7064 §3.1, RFC 7065 §3; Chromium's
      webrtc-internals shows ``turn:...?transport=udp``) — never expanded to TCP or TLS;
    - only the ``host[:port]`` shortcut (no scheme written) is tried over each of ``default_transports``:
      ``udp`` and ``tcp`` on its own port, ``tls`` as ``stuns:``/``turns:`` on ``tls_port`` (5349).

    E.g. turn-check on a bare host with the defaults: udp and tcp on 3478 and tls on 5349.
    """
    for transport in default_transports:
        if transport not in TRANSPORTS:
            raise TargetError(f"unknown transport {transport!r} (use udp, tcp or tls)")
    expanded: list[Target] = []
    seen: set[tuple[str, str, int, Transport | None, str | None]] = set()
    for target in targets:
        if target.transport is not None:
            choices = [target]
        elif not target.shortcut:
            choices = [target.with_transport(target.written_transport)]
        else:
            choices = [target.with_transport(t, tls_port=tls_port) for t in default_transports]
        for choice in choices:
            key = (choice.scheme, choice.host, choice.port, choice.transport, choice.username)
            if key not in seen:
                seen.add(key)
                expanded.append(choice)
    return expanded
