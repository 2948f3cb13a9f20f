"""What ``rtcdiag signal`` is pointed at: a ``ws://``/``wss://`` URL (RFC 6455 §3) and the HTTP proxy to reach
it through, chosen as browsers and curl choose it (``--proxy``, else ``HTTPS_PROXY``/``https_proxy`` for
wss:, ``http_proxy`` for ws: — curl ignores an upper-case ``HTTP_PROXY`` (httpoxy), ``ALL_PROXY`` either case
as the fallback — unless ``NO_PROXY``/``no_proxy`` names the host).

Everything is validated here, before any traffic: a bad URL or proxy is :class:`SignalUrlError` (the command
makes it exit 2). A token-like query value (``?access_token=...``) and a proxy password are registered as
secrets at once and shown as ``***`` in :attr:`SignalUrl.display`, the only form of the URL any output uses.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote, unquote, urlsplit

from rtcdiag.addresses import parse_ip
from rtcdiag.redact import register_secret

DEFAULT_PORTS = {"ws": 80, "wss": 443}
TOKEN_PLACEHOLDER = "{token}"  # where --token-env's value goes in a URL (else an Authorization header)
# Query parameter names whose values are credentials (access_token, jwt, apiKey, X-Amz-Signature, ...).
TOKEN_PARAM = re.compile(r"token|auth|jwt|key|secret|pass|pwd|sig|session|ticket|credential", re.IGNORECASE)
MAX_URL = 4096


class SignalUrlError(ValueError):
    """A URL, proxy or option that cannot be used (one line, exit 2, before any traffic)."""


@dataclass(frozen=True)
class SignalUrl:
    """One WebSocket URL, parsed. ``target`` is the request target sent (path and query, token included);
    ``display`` the URL as every output shows it (token values ``***``)."""

    text: str  # as given, with the token substituted (never shown)
    scheme: str  # "ws" | "wss"
    host: str  # a name, or an IP literal without brackets
    port: int
    target: str  # "/path?query"
    display: str
    token_params: tuple[str, ...] = ()  # the names of the credential-like query parameters

    @property
    def secure(self) -> bool:
        return self.scheme == "wss"

    @property
    def transport(self) -> str:
        return "tls" if self.secure else "tcp"

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self.scheme]


def parse_signal_url(text: str, *, token: str | None = None) -> SignalUrl:
    """``ws://host[:port]/path?query`` or ``wss://...`` -> :class:`SignalUrl`; :class:`SignalUrlError` for
    anything else (another scheme, user info, a fragment (RFC 6455 §3), a bad port, spaces). ``token``
    replaces :data:`TOKEN_PLACEHOLDER` in the URL."""
    given = text.strip()
    if not given or len(given) > MAX_URL or not given.isprintable() or " " in given:
        raise SignalUrlError(f"{_shown(given)}: not a ws:// or wss:// URL")
    if TOKEN_PLACEHOLDER in given:
        if token is None:
            raise SignalUrlError(f"{_shown(given)}: the URL has {TOKEN_PLACEHOLDER} but no --token-env was "
                                 "given")
        given = given.replace(TOKEN_PLACEHOLDER, quote(token, safe=""))
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError as exc:
        raise SignalUrlError(f"{_shown(given)}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        hint = " (for https:// use wss://, for http:// ws://)" if scheme in ("http", "https") else ""
        raise SignalUrlError(f"{_shown(given)}: scheme must be ws or wss, not {scheme or 'none'!r}{hint}")
    if parts.username is not None or parts.password is not None:
        register_secret(parts.password)
        raise SignalUrlError(f"{_shown(given)}: user info in a WebSocket URL is not sent by browsers; use "
                             "--header or --token-env")
    if parts.fragment or given.endswith("#"):
        raise SignalUrlError(f"{_shown(given)}: a WebSocket URL has no fragment (RFC 6455 §3)")
    host = parts.hostname or ""
    if not host:
        raise SignalUrlError(f"{_shown(given)}: no host")
    if port == 0:
        raise SignalUrlError(f"{_shown(given)}: port must be 1-65535")
    if ":" in host and parse_ip(host) is None:
        raise SignalUrlError(f"{_shown(given)}: {host!r} is not an IPv6 address")
    target = parts.path or "/"
    names: list[str] = []
    shown_query = ""
    if parts.query:
        target += "?" + parts.query
        pieces = []
        for piece in parts.query.split("&"):
            name, sep, value = piece.partition("=")
            if sep and value and TOKEN_PARAM.search(unquote(name)):
                register_secret(value)
                register_secret(unquote(value))
                names.append(unquote(name))
                piece = f"{name}=***"
            pieces.append(piece)
        shown_query = "?" + "&".join(pieces)
    default = DEFAULT_PORTS[scheme]
    real_port = port or default
    authority = f"[{host}]" if ":" in host else host
    if real_port != default:
        authority += f":{real_port}"
    display = f"{scheme}://{authority}{parts.path or '/'}{shown_query}"
    return SignalUrl(text=given, scheme=scheme, host=host.lower() if parse_ip(host) is None else host,
                     port=real_port, target=target, display=display, token_params=tuple(names))


def _shown(text: str) -> str:
    """A URL in an error line: a query is not echoed (it may hold a token)."""
    cut = text.split("?", 1)[0][:200]
    return cut + ("?..." if "?" in text else "")


# --- proxies --------------------------------------------------------------------------------------------


class ProxySource(StrEnum):
    OPTION = "--proxy"
    ENVIRONMENT = "environment"
    NONE = "none"  # no proxy configured
    NO_PROXY_OPTION = "--no-proxy"
    NO_PROXY_MATCH = "NO_PROXY"  # a proxy is configured but NO_PROXY names this host


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy (``http://[user:password@]host:port``); the password is a registered secret."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        authority = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.username}:***@" if self.username else ""
        return f"http://{user}{authority}:{self.port}"

    @property
    def authorization(self) -> str | None:
        """``Basic ...`` for Proxy-Authorization (RFC 7617), when the proxy URL has user info."""
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        value = "Basic " + base64.b64encode(raw).decode("ascii")
        register_secret(value.removeprefix("Basic "))
        return value


@dataclass(frozen=True)
class ProxyChoice:
    """Which proxy a URL goes through, and why (the variable that named it, or what ruled it out)."""

    proxy: Proxy | None
    source: ProxySource
    variable: str | None = None  # e.g. "HTTPS_PROXY", "no_proxy"


def parse_proxy(text: str, *, where: str = "--proxy") -> Proxy:
    """``http://host:port`` (user info allowed) -> :class:`Proxy`; :class:`SignalUrlError` otherwise. A bare
    ``host:port`` is taken as ``http://host:port`` (as curl does)."""
    given = text.strip()
    if "://" not in given:
        given = "http://" + given
    try:
        parts = urlsplit(given)
        port = parts.port
    except ValueError as exc:
        raise SignalUrlError(f"{where}: {exc}") from None
    register_secret(parts.password)
    if parts.scheme.lower() != "http":
        raise SignalUrlError(f"{where}: only http:// proxies are supported (HTTP CONNECT), not "
                             f"{parts.scheme or 'none'}://")
    host = parts.hostname or ""
    if not host or (parts.path not in ("", "/")) or parts.query:
        raise SignalUrlError(f"{where}: expected http://HOST:PORT")
    if port == 0:
        raise SignalUrlError(f"{where}: port must be 1-65535")
    return Proxy(host=host, port=port or 80, username=unquote(parts.username) if parts.username else None,
                 password=unquote(parts.password) if parts.password else None)


def _env(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def no_proxy_matches(host: str, rule: str) -> bool:
    """Does a ``NO_PROXY`` value exempt ``host``? As curl reads it: ``*`` is every host; each
    comma-separated entry is a domain (``example.com`` and ``.example.com`` both match the name and its
    subdomains), an IP literal, or an IP network in CIDR notation; a ``:port`` on an entry is ignored."""
    name = host.lower().rstrip(".")
    ip = parse_ip(name)
    for raw in rule.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if entry.startswith("[") and "]" in entry:
            entry = entry[1:entry.index("]")]
        elif entry.count(":") == 1:
            entry = entry.split(":", 1)[0]
        if "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if ip is not None and ip.version == network.version and ip in network:
                return True
            continue
        entry_ip = parse_ip(entry)
        if entry_ip is not None or ip is not None:
            if entry_ip is not None and ip is not None and entry_ip == ip:
                return True
            continue
        domain = entry.lstrip(".").rstrip(".")
        if domain and (name == domain or name.endswith("." + domain)):
            return True
    return False


def choose_proxy(url: SignalUrl, *, option: Proxy | None = None, no_proxy: bool = False,
                 environ: Mapping[str, str] | None = None) -> ProxyChoice:
    """The proxy for ``url``: ``--no-proxy`` none, ``--proxy`` that one, else the environment as curl reads
    it (``https_proxy``/``HTTPS_PROXY`` for wss:, ``http_proxy`` for ws:, then ``all_proxy``/``ALL_PROXY``;
    ``no_proxy``/``NO_PROXY`` exempts hosts). A proxy variable that is not an http:// proxy is
    :class:`SignalUrlError` (before any traffic)."""
    if no_proxy:
        return ProxyChoice(None, ProxySource.NO_PROXY_OPTION)
    if option is not None:
        return ProxyChoice(option, ProxySource.OPTION)
    import os

    env = os.environ if environ is None else environ
    names = ("https_proxy", "HTTPS_PROXY") if url.secure else ("http_proxy",)
    found = _env(env, *names, "all_proxy", "ALL_PROXY")
    if found is None:
        return ProxyChoice(None, ProxySource.NONE)
    variable, value = found
    exempt = _env(env, "no_proxy", "NO_PROXY")
    if exempt is not None and no_proxy_matches(url.host, exempt[1]):
        return ProxyChoice(None, ProxySource.NO_PROXY_MATCH, exempt[0])
    return ProxyChoice(parse_proxy(value, where=f"${variable}"), ProxySource.ENVIRONMENT, variable)


# --- the origin a test claims --------------------------------------------------------------------------


def origin_host(origin: str) -> str | None:
    """The host of an Origin value (``https://app.example.com:8443`` -> ``app.example.com``); None for
    ``null`` or something that is not a serialised origin (RFC 6454 §6.2)."""
    try:
        parts = urlsplit(origin.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not host:
        return None
    return host.lower()


def check_origin(origin: str, *, where: str = "--origin") -> str:
    """``--origin`` value: a serialised origin ``scheme://host[:port]`` (RFC 6454 §6.2) or ``null``."""
    value = origin.strip()
    if value == "null":
        return value
    parts = urlsplit(value)
    if origin_host(value) is None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SignalUrlError(f"{where} {value!r}: expected scheme://host[:port] (e.g. https://app.example.com)"
                             " or null")
    return value.rstrip("/")


def same_site(origin: str, host: str) -> bool:
    """Is ``origin`` the page a server at ``host`` would expect? The same host, or one sharing its parent
    domain (``app.example.com`` and ``signal.example.com``); for IP literals, the same address. Anything
    else is a *foreign* origin: a server that accepts it does not check Origin (cross-site WebSocket
    hijacking)."""
    other = origin_host(origin)
    if other is None:
        return False
    mine = host.lower().rstrip(".")
    if other == mine:
        return True
    if parse_ip(other) is not None or parse_ip(mine) is not None:
        return parse_ip(other) == parse_ip(mine)
    return _parent(other) == _parent(mine)


def _parent(name: str) -> str:
    labels = name.rstrip(".").split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else name


def default_origin(url: SignalUrl) -> str:
    """The Origin of a page served from the signalling host itself, on the default port (https: for
    wss:, http: for ws:). Browsers always send one (RFC 6455 §4.1 item 8); ``--origin`` names the app's
    real page."""
    scheme = "https" if url.secure else "http"
    authority = f"[{url.host}]" if ":" in url.host else url.host
    return f"{scheme}://{authority}"


# --- request headers and subprotocols --------------------------------------------------------------------

# RFC 9110 §5.6.2 token characters (header names, subprotocol names, RFC 6455 §4.1 item 10).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers the handshake itself sets (RFC 6455 §4.1): given another way, or not at all.
RESERVED_HEADERS = {"host": "the URL", "upgrade": None, "connection": None, "sec-websocket-key": None,
                    "sec-websocket-version": None, "sec-websocket-extensions": None,
                    "origin": "--origin", "sec-websocket-protocol": "--subprotocol",
                    "content-length": None, "transfer-encoding": None}
_SENSITIVE_HEADER = re.compile(r"authorization|cookie|token|key|secret|auth|session|signature|password",
                               re.IGNORECASE)


def parse_header(text: str, *, where: str = "--header") -> tuple[str, str]:
    """``'Name: value'`` -> (name, value); :class:`SignalUrlError` for a bad name, a control character or
    a header the handshake sets itself. Values of credential-like headers (Authorization, Cookie, ...) are
    registered as secrets."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not _TOKEN.match(name):
        raise SignalUrlError(f"{where} {name[:60]!r}: expected 'Name: value' (e.g. 'Cookie: session=...')")
    if not value.isprintable():
        raise SignalUrlError(f"{where} {name}: the value has a control character")
    if name.lower() in RESERVED_HEADERS:
        instead = RESERVED_HEADERS[name.lower()]
        hint = f" (use {instead})" if instead else ""
        raise SignalUrlError(f"{where} {name}: set by the WebSocket handshake itself{hint}")
    if _SENSITIVE_HEADER.search(name):
        register_secret(value)
        if " " in value:
            register_secret(value.split(" ", 1)[1])  # "Bearer TOKEN": the token alone too
    return name, value


def check_subprotocol(name: str) -> str:
    """A subprotocol is an RFC 9110 token (RFC 6455 §4.1 item 10)."""
    if not _TOKEN.match(name):
        raise SignalUrlError(f"--subprotocol {name[:60]!r}: not a token (letters, digits, !#$%&'*+.^_`|~-)")
    return name
