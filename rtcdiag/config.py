"""``rtcdiag.toml``: the servers, credentials (by environment variable name), checks and expectations of
``rtcdiag check``.

Example (see examples/rtcdiag.toml for the commented version)::

    checks = ["dns", "ports", "stun", "turn", "nat", "ice"]
    timeout = 5.0

    [expect]
    expect_relay = true
    max_rtt_ms = 150
    min_nat = "port-restricted"

    [[servers]]
    urls = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"]
    username = "alice"
    password_env = "TURN_PASSWORD"

Secrets never live in the file: ``password``/``secret`` keys are refused; name the environment variable
(``password_env``, ``secret_env``) or a file (``password_file``, ``secret_file``) instead. Every error names
the file and the key, e.g.
``rtcdiag.toml: servers[0].password_env: environment variable TURN_PASSWORD is not set``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtcdiag.errors import UsageError, warn_if_readable
from rtcdiag.probes.turn_result import FAMILY_CHOICES
from rtcdiag.redact import register_secret
from rtcdiag.secret_input import SecretProblem, SecretSourceError, read_env_secret, read_file_secret
from rtcdiag.targets import (
    Target,
    TargetError,
    Transport,
    half_credentials,
    load_ice_servers,
    parse_uri,
    password_problem,
)
from rtcdiag.timeouts import DEFAULT_S as DEFAULT_TIMEOUT_S
from rtcdiag.timeouts import MIN_S as MIN_TIMEOUT_S
from rtcdiag.triage.expectations import NAT_ORDER, Expectations, normalise_nat

if TYPE_CHECKING:  # the signalling probe (and its TLS, WebSocket and proxy modules): loaded by [[signalling]]
    from rtcdiag.probes.signal import SignalOptions, SignalTarget

CHECKS = ("dns", "ports", "stun", "turn", "nat", "ice", "signal")
# A host[:port] given without a scheme is tried over these (``check -t`` chooses others).
SHORTCUT_TRANSPORTS: tuple[str, ...] = (Transport.UDP.value, Transport.TCP.value)
# RFC 3489 labels from the most to the least permissive (what `min_nat` compares against).
DEFAULT_TTL_S = 86400

_TOP_KEYS = {"checks", "timeout", "concurrency", "ca", "insecure", "ice_servers", "nat_servers", "expect",
             "servers", "follow_redirects", "signalling",
             "modules", "exporter",  # read by `rtcdiag exporter` (rtcdiag.exporter.modules), ignored here
             "budget"}  # read by `rtcdiag budget`, ignored here
_SERVER_KEYS = {"name", "urls", "url", "username", "username_env", "password_env", "password_file",
                "secret_env", "secret_file", "ttl", "realm", "checks", "ca", "insecure", "expect", "family",
                "tcp_relay"}
_EXPECT_KEYS = {"expect_relay", "max_rtt_ms", "min_nat"}
# [[signalling]]: the options of `rtcdiag signal` (rtcdiag.probes.signal), secrets by environment variable.
SIGNAL_KEYS = {"name", "urls", "url", "proxy", "no_proxy", "origin", "foreign_origin", "subprotocols",
               "headers", "token_env", "idle", "message_size", "try_port", "ca", "insecure"}
_SECRET_KEYS = {"password": "password_env", "credential": "password_env", "secret": "secret_env",
                "static_auth_secret": "secret_env"}


class ConfigError(UsageError):
    """A config file that cannot be used (exit 2); the message names the file and the key."""


@dataclass
class ServerConfig:
    """One ``[[servers]]`` entry: the URLs of one server and how to authenticate to it."""

    targets: list[Target]
    name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False, metadata={"secret": True})
    secret: str | None = field(default=None, repr=False, metadata={"secret": True})  # REST API secret
    ttl: int = DEFAULT_TTL_S
    realm: str | None = None
    checks: tuple[str, ...] | None = None  # None: the file's checks
    ca: Path | None = None
    insecure: bool | None = None
    expect: Expectations = field(default_factory=Expectations)
    family: str = "4"  # TURN relay family: "4" (what a browser asks for), "6" or "both" (FAMILY_CHOICES)
    tcp_relay: bool = False  # also check an RFC 6062 TCP relay over turn:...?transport=tcp / turns:


@dataclass
class SignallingConfig:
    """One ``[[signalling]]`` entry: WebSocket URLs and how ``rtcdiag signal`` reaches them."""

    targets: list[SignalTarget]
    options: SignalOptions
    name: str | None = None


@dataclass
class CheckConfig:
    """Everything ``rtcdiag check`` needs, from a file, an ice-servers file or URIs on the command line."""

    servers: list[ServerConfig] = field(default_factory=list)
    checks: tuple[str, ...] = CHECKS
    # Seconds one transaction may take (the RFC 8489 schedule is scaled to fit); derived: rtcdiag.timeouts.
    timeout: float = DEFAULT_TIMEOUT_S
    concurrency: int | None = None  # probes in flight at once (None: rtcdiag.probes.slots' default)
    ca: Path | None = None
    insecure: bool = False
    follow_redirects: bool = True  # 300 Try Alternate followed (within rtcdiag.addresses.redirect_refusal)
    nat_servers: list[Target] = field(default_factory=list)  # RFC 5780 servers for the NAT check
    signalling: list[SignallingConfig] = field(default_factory=list)  # [[signalling]]: the `signal` check
    expect: Expectations = field(default_factory=Expectations)
    source: str = "arguments"  # the config file path, for messages
    # The transports a HOST[:PORT] given on the command line is checked over (`check -t`); URLs carry theirs.
    shortcut_transports: tuple[str, ...] = SHORTCUT_TRANSPORTS

    def server_checks(self, server: ServerConfig) -> tuple[str, ...]:
        return server.checks if server.checks is not None else self.checks

    def server_expect(self, server: ServerConfig) -> Expectations:
        return self.expect.merged(server.expect)


# --- parsing ---------------------------------------------------------------------------------------------


class _Where:
    """Builds ``file: key.path`` prefixes for error lines."""

    def __init__(self, origin: str, path: str = "") -> None:
        self.origin, self.path = origin, path

    def key(self, name: str) -> _Where:
        return _Where(self.origin, f"{self.path}.{name}" if self.path else name)

    def index(self, i: int) -> _Where:
        return _Where(self.origin, f"{self.path}[{i}]")

    def error(self, message: str) -> ConfigError:
        prefix = f"{self.origin}: {self.path}" if self.path else self.origin
        return ConfigError(f"{prefix}: {message}")


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: _Where) -> None:
    for key in table:
        if key in _SECRET_KEYS:
            raise where.key(key).error(
                f"secrets are not read from the config file; put it in an environment variable and write "
                f"{_SECRET_KEYS[key]} = \"VARIABLE_NAME\" (or {_SECRET_KEYS[key].replace('_env', '_file')})")
        if key not in allowed:
            raise where.key(key).error(f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _get_str(table: Mapping[str, Any], key: str, where: _Where) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise where.key(key).error(f"must be a non-empty string, not {_type_name(value)}")
    return value


def _get_bool(table: Mapping[str, Any], key: str, where: _Where) -> bool | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise where.key(key).error(f"must be true or false, not {_type_name(value)}")
    return value


def _get_number(table: Mapping[str, Any], key: str, where: _Where, *, minimum: float) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.key(key).error(f"must be a number, not {_type_name(value)}")
    if value < minimum:
        raise where.key(key).error(f"must be at least {minimum:g}, not {value}")
    return float(value)


def _get_checks(table: Mapping[str, Any], where: _Where) -> tuple[str, ...] | None:
    value = table.get("checks")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.key("checks").error(f"must be a list of check names ({', '.join(CHECKS)})")
    if not value:
        raise where.key("checks").error(f"names no check: nothing would be checked (use some of "
                                        f"{', '.join(CHECKS)})")
    unknown = [v for v in value if v not in CHECKS]
    if unknown:
        raise where.key("checks").error(f"unknown check {unknown[0]!r} (known: {', '.join(CHECKS)})")
    return tuple(dict.fromkeys(value))




def _env_value(name: str, where: _Where, environ: Mapping[str, str]) -> str:
    try:
        return read_env_secret(name, environ)
    except SecretSourceError as exc:
        if exc.problem is SecretProblem.UNSET_NOT_A_NAME:
            raise where.error("names an environment variable that is not set (the name is not shown, in case "
                              "it is the secret itself: write the variable's NAME, e.g. TURN_PASSWORD)",
                              ) from None
        if exc.problem is SecretProblem.UNSET:
            raise where.error(f"environment variable {name} is not set") from None
        raise where.error(f"environment variable {name} is empty") from None


def _file_value(path: Path, where: _Where) -> str:
    try:
        return read_file_secret(path)
    except SecretSourceError as exc:
        if exc.problem is SecretProblem.UNREADABLE:
            raise where.error(f"cannot read {path}: {exc.detail}") from None
        if exc.problem is SecretProblem.NOT_UTF8:
            raise where.error(f"{path} is not UTF-8 text") from None
        raise where.error(f"{path} is empty") from None


def _secret(table: Mapping[str, Any], name: str, where: _Where, base: Path,
            environ: Mapping[str, str]) -> str | None:
    env_key, file_key = f"{name}_env", f"{name}_file"
    env_name = _get_str(table, env_key, where)
    file_name = _get_str(table, file_key, where)
    if env_name and file_name:
        raise where.error(f"{env_key} and {file_key} are mutually exclusive")
    value: str | None = None
    if env_name:
        value = _env_value(env_name, where.key(env_key), environ)
    elif file_name:
        path = _resolve(base, file_name)
        value = _file_value(path, where.key(file_key))
        warn_if_readable(path, f"{where.origin}: {where.key(file_key).path}:")
    register_secret(value)
    problem = password_problem(value) if value is not None and name == "password" else None
    if problem:
        raise where.key(env_key if env_name else file_key).error(f"the password {problem}")
    return value


def _resolve(base: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def _expectations(table: Any, where: _Where) -> Expectations:
    if table is None:
        return Expectations()
    if not isinstance(table, dict):
        raise where.error(f"must be a table ([expect]), not {_type_name(table)}")
    _check_keys(table, _EXPECT_KEYS, where)
    min_nat = _get_str(table, "min_nat", where)
    if min_nat is not None:
        normal = normalise_nat(min_nat)
        if normal is None:
            raise where.key("min_nat").error(
                f"unknown NAT kind {min_nat!r} (use one of: {', '.join(NAT_ORDER)})")
        min_nat = normal
    return Expectations(expect_relay=_get_bool(table, "expect_relay", where),
                        max_rtt_ms=_get_number(table, "max_rtt_ms", where, minimum=0.001),
                        min_nat=min_nat)


def _server(entry: Any, where: _Where, base: Path, environ: Mapping[str, str]) -> ServerConfig:
    if not isinstance(entry, dict):
        raise where.error("each [[servers]] entry must be a table with urls = [...]")
    _check_keys(entry, _SERVER_KEYS, where)
    urls = entry.get("urls", entry.get("url"))
    url_key = "urls" if "urls" in entry else "url"
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise where.key(url_key).error("must be a URI string or a non-empty list of URI strings "
                                       "(stun:, stuns:, turn:, turns:)")
    username = _get_str(entry, "username", where)
    username_env = _get_str(entry, "username_env", where)
    if username and username_env:
        raise where.error("username and username_env are mutually exclusive")
    if username_env:
        username = _env_value(username_env, where.key("username_env"), environ)
    password = _secret(entry, "password", where, base, environ)
    secret = _secret(entry, "secret", where, base, environ)
    if password and secret:
        raise where.error("give either password_* (long-term credentials) or secret_* (TURN REST API), "
                          "not both")
    targets: list[Target] = []
    for i, url in enumerate(urls):
        try:
            targets.append(parse_uri(url, source=f"{where.origin}: {where.path}.{url_key}[{i}]",
                                     username=username, credential=password))
        except TargetError as exc:
            raise where.key(url_key).index(i).error(str(exc)) from None
    half = half_credentials(username, password, secret)
    if half and any(t.is_turn for t in targets):
        fix = "add password_env or password_file (or secret_env/secret_file for REST credentials)" \
            if username else "add username (or username_env)"
        raise where.error(f"{half}: {fix}; a TURN server needs both")
    ttl = _get_number(entry, "ttl", where, minimum=1)
    ca = _get_str(entry, "ca", where)
    family = entry.get("family", "4")
    family = str(family) if isinstance(family, int) and not isinstance(family, bool) else family
    if family not in FAMILY_CHOICES:
        raise where.key("family").error("must be 4, 6 or \"both\" (the TURN relay address family)")
    return ServerConfig(
        targets=targets, name=_get_str(entry, "name", where), username=username, password=password,
        secret=secret, ttl=int(ttl) if ttl is not None else DEFAULT_TTL_S,
        realm=_get_str(entry, "realm", where),
        checks=_get_checks(entry, where), ca=_resolve(base, ca) if ca else None,
        insecure=_get_bool(entry, "insecure", where), expect=_expectations(entry.get("expect"),
                                                                             where.key("expect")),
        family=family, tcp_relay=bool(_get_bool(entry, "tcp_relay", where)),
    )


def ice_server_entries(targets: list[Target]) -> list[ServerConfig]:
    """One server per RTCIceServer entry (its URLs share one set of credentials), named by its place in
    the file (``iceServers[1]``), in the file's order; a target given on its own is a server of its own."""
    entries: dict[str, list[Target]] = {}
    servers: list[ServerConfig] = []
    for target in targets:
        if target.entry is None:
            servers.append(ServerConfig(targets=[target], username=target.username,
                                        password=target.credential))
        elif target.entry in entries:
            entries[target.entry].append(target)
        else:
            entries[target.entry] = [target]
            servers.append(ServerConfig(targets=entries[target.entry], name=target.entry.rpartition(": ")[2],
                                        username=target.username, password=target.credential))
    return servers


def parse_config(data: Mapping[str, Any], *, origin: str, base: Path,
                 environ: Mapping[str, str] | None = None, entry_at: tuple[str, str] | None = None,
                 ) -> CheckConfig:
    """Validate parsed TOML ``data``; relative paths are taken from ``base`` (the file's folder).

    ``entry_at`` = (file, key path): where the ``[[servers]]`` / ``[[signalling]]`` entries were written, for
    error lines, when that is not ``servers[i]`` of ``origin`` (an exporter module: ``modules.NAME``)."""
    env = os.environ if environ is None else environ
    where = _Where(origin)

    def entry_where(table: str, i: int) -> _Where:
        return _Where(*entry_at) if entry_at is not None else where.key(table).index(i)

    _check_keys(data, _TOP_KEYS, where)
    servers_data = data.get("servers", [])
    if not isinstance(servers_data, list):
        raise where.key("servers").error("must be an array of tables ([[servers]])")
    servers = [_server(entry, entry_where("servers", i), base, env) for i, entry in enumerate(servers_data)]
    ice_file = _get_str(data, "ice_servers", where)
    if ice_file:
        try:
            ice_targets = load_ice_servers(_resolve(base, ice_file))
        except TargetError as exc:
            raise where.key("ice_servers").error(str(exc)) from None
        servers += ice_server_entries(ice_targets)
    nat_servers: list[Target] = []
    nat_data = data.get("nat_servers", [])
    if not isinstance(nat_data, list) or not all(isinstance(u, str) for u in nat_data):
        raise where.key("nat_servers").error("must be a list of stun: URIs of RFC 5780 servers")
    for i, url in enumerate(nat_data):
        try:
            nat_servers.append(parse_uri(url, source=f"{origin}: nat_servers[{i}]"))
        except TargetError as exc:
            raise where.key("nat_servers").index(i).error(str(exc)) from None
    ca = _get_str(data, "ca", where)
    timeout = _get_number(data, "timeout", where, minimum=MIN_TIMEOUT_S)
    concurrency = _get_number(data, "concurrency", where, minimum=1)
    if concurrency is not None and (concurrency != int(concurrency) or concurrency > 4096):
        raise where.key("concurrency").error("must be a whole number from 1 to 4096")
    config = CheckConfig(
        servers=servers, checks=_get_checks(data, where) or CHECKS, timeout=timeout or DEFAULT_TIMEOUT_S,
        ca=_resolve(base, ca) if ca else None, insecure=bool(_get_bool(data, "insecure", where)),
        follow_redirects=_get_bool(data, "follow_redirects", where) is not False,
        nat_servers=nat_servers, expect=_expectations(data.get("expect"), where.key("expect")), source=origin,
        concurrency=int(concurrency) if concurrency is not None else None,
    )
    for path in [config.ca, *(s.ca for s in servers)]:
        _check_ca(path, where)
    signalling = data.get("signalling", [])
    if not isinstance(signalling, list):
        raise where.key("signalling").error("must be an array of tables ([[signalling]])")
    config.signalling = [_signalling(entry, entry_where("signalling", i), base, env, config)
                         for i, entry in enumerate(signalling)]
    return config


def _check_ca(path: Path | None, where: _Where) -> None:
    """A ``ca =`` file must exist and be PEM CA certificates, like ``--ca`` (one line, exit 2), before any
    traffic: found only when a TLS step builds its context, it ended the run with exit 4."""
    if path is None:
        return
    if not path.is_file():
        raise where.key("ca").error(f"CA file {path} does not exist")
    from rtcdiag.tls import ca_file_problem

    problem = ca_file_problem(str(path))
    if problem is not None:
        raise where.key("ca").error(f"CA file {path}: {problem}")


def _signalling(entry: Any, where: _Where, base: Path, environ: Mapping[str, str],
                config: CheckConfig) -> SignallingConfig:
    """One ``[[signalling]]`` table: validated as ``rtcdiag signal``'s options are (one line, exit 2)."""
    from rtcdiag.probes.signal import DEFAULT_MESSAGE_SIZE, MAX_MESSAGE_SIZE, SignalOptions, SignalTarget
    from rtcdiag.probes.signal_url import (
        SignalUrlError,
        check_origin,
        check_subprotocol,
        choose_proxy,
        parse_header,
        parse_proxy,
        parse_signal_url,
    )

    if not isinstance(entry, dict):
        raise where.error("each [[signalling]] entry must be a table with urls = [...]")
    _check_keys(entry, SIGNAL_KEYS, where)
    urls = entry.get("urls", entry.get("url"))
    url_key = "urls" if "urls" in entry else "url"
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise where.key(url_key).error("must be a ws:// or wss:// URL or a non-empty list of them")
    token_env = _get_str(entry, "token_env", where)
    token = _env_value(token_env, where.key("token_env"), environ) if token_env else None
    register_secret(token)
    lists: dict[str, list[str]] = {}
    for key in ("subprotocols", "headers"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise where.key(key).error("must be a list of strings")
        lists[key] = value
    ca = _get_str(entry, "ca", where)
    ca_path = _resolve(base, ca) if ca else config.ca
    _check_ca(ca_path, where)
    insecure = _get_bool(entry, "insecure", where)
    message_size = _get_number(entry, "message_size", where, minimum=0)
    if message_size is not None and (message_size != int(message_size) or message_size > MAX_MESSAGE_SIZE):
        raise where.key("message_size").error(f"must be a whole number of bytes up to {MAX_MESSAGE_SIZE}")
    try_port = _get_number(entry, "try_port", where, minimum=1)
    if try_port is not None and (try_port != int(try_port) or try_port > 65535):
        raise where.key("try_port").error("must be a port number 1-65535")
    try:
        headers = []
        for text in lists["headers"]:
            name, value = parse_header(text, where="headers")
            if value and name.lower() in ("authorization", "cookie", "proxy-authorization"):
                raise SignalUrlError(f"headers {name}: secrets are not read from the config file; use "
                                     "token_env = \"VARIABLE_NAME\" (sent as Authorization: Bearer, or where "
                                     "a URL says {token})")
            headers.append((name, value))
        parsed = [parse_signal_url(u, token=token) for u in urls]
        if token is not None and not any("{token}" in u for u in urls):
            headers.append(("Authorization", f"Bearer {token}"))
        proxy_text = _get_str(entry, "proxy", where)
        no_proxy = bool(_get_bool(entry, "no_proxy", where))
        if proxy_text is not None and no_proxy:
            raise SignalUrlError("proxy and no_proxy are mutually exclusive")
        proxy = parse_proxy(proxy_text, where="proxy") if proxy_text is not None else None
        origin = _get_str(entry, "origin", where)
        foreign = _get_str(entry, "foreign_origin", where)
        options = SignalOptions(
            origin=check_origin(origin) if origin else None,
            foreign_origin=check_origin(foreign, where="foreign_origin") if foreign else None,
            protocols=tuple(check_subprotocol(p) for p in lists["subprotocols"]), headers=tuple(headers),
            idle_s=_get_number(entry, "idle", where, minimum=0.1),
            message_size=int(message_size) if message_size is not None else DEFAULT_MESSAGE_SIZE,
            ca_file=ca_path, insecure=insecure if insecure is not None else config.insecure,
            timeout=config.timeout, try_port=int(try_port) if try_port is not None else None)
        targets = [SignalTarget(url, choose_proxy(url, option=proxy, no_proxy=no_proxy, environ=environ))
                   for url in parsed]
    except SignalUrlError as exc:
        raise where.error(str(exc)) from None
    return SignallingConfig(targets=targets, options=options, name=_get_str(entry, "name", where))


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> CheckConfig:
    """Read and validate an ``rtcdiag.toml`` file."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    return parse_config(data, origin=str(file), base=file.resolve().parent, environ=environ)
