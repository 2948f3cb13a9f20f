"""Exporter modules: ``[modules.NAME]`` tables of ``rtcdiag.toml``, and the check config of one probe.

A module is one ``[[servers]]`` entry whose URLs are templates, plus the checks to run::

    [modules.turn_udp]
    urls = ["turn:{target}?transport=udp"]   # {target} = host:port, {host}, {port}
    default_port = 3478                      # when the scraper's target has no port
    checks = ["stun", "turn"]
    username = "monitor"
    password_env = "TURN_PASSWORD"           # secrets by environment variable name, as in [[servers]]
    targets = ["turn.example.com", "*.turn.example.com", "10.0.0.0/8"]  # optional allow-list

The scraper gives the target (``/probe?target=host[:port]&module=NAME``); it is validated here (a host name
or IP literal and an optional port, nothing else) before any traffic. REST API modules (``secret_env``)
get credentials minted for each probe (draft-uberti-behave-turn-rest-00 §2.2), never the secret itself.
"""

from __future__ import annotations

import ipaddress
import re
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rtcdiag.addresses import format_hostport, parse_ip
from rtcdiag.checks.registry import Key
from rtcdiag.config import CHECKS, SIGNAL_KEYS, CheckConfig, ConfigError, parse_config
from rtcdiag.timeouts import Timeouts

_MODULE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
# RFC 1123 §2.1 host names: letters, digits and hyphens in labels of 1..63, 253 characters in all.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_SERVER_KEYS = {"urls", "username", "username_env", "password_env", "password_file", "secret_env",
                "secret_file", "ttl", "realm", "ca", "insecure", "expect", "family", "tcp_relay"}
_MODULE_KEYS = {*_SERVER_KEYS, "checks", "timeout", "default_port", "targets", "follow_redirects"}
# kind = "signal": a [[signalling]] entry (rtcdiag signal) whose urls are ws:// / wss:// templates.
SIGNAL_KIND = "signal"
_SIGNAL_MODULE_KEYS = {*(SIGNAL_KEYS - {"name", "url"}), "kind", "timeout", "default_port", "targets"}
_SECRET_KEYS = {"password", "secret", "credential", "static_auth_secret"}
_EXPORTER_KEYS = {"max_concurrent", "max_queued", "default_timeout", "timeout_margin"}
PLACEHOLDER_TARGET = "192.0.2.1"  # TEST-NET-1 (RFC 5737): validates the templates at start-up, never probed


class TargetRejected(ValueError):
    """The scraper's target is not a host[:port] this module may probe (HTTP 400, one line)."""


@dataclass(frozen=True)
class ProbeTarget:
    host: str  # a host name (lower case, no trailing dot) or an IP literal without brackets
    port: int


def parse_target(text: str, default_port: int) -> ProbeTarget:
    """``host``, ``host:port``, ``IPv6``, ``[IPv6]`` or ``[IPv6]:port`` -> :class:`ProbeTarget`."""
    if not text or len(text) > 260 or not text.isascii() or not text.isprintable():
        raise TargetRejected("target must be host[:port] (a host name or IP address)")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise TargetRejected("target: unclosed '[' in an IPv6 address")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise TargetRejected("target must be [IPv6]:port")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = default_port
    if port_text or text.endswith(":"):
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise TargetRejected("target: the port must be a number from 1 to 65535")
        port = int(port_text)
    ip = parse_ip(host) if "%" not in host else None
    if ip is not None:
        return ProbeTarget(str(ip), port)
    name = host.lower().removesuffix(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise TargetRejected("target must be host[:port] (a host name or IP address)")
    return ProbeTarget(name, port)


def _allowed(patterns: tuple[str, ...], target: ProbeTarget) -> bool:
    ip = parse_ip(target.host)
    for pattern in patterns:
        if "/" in pattern:
            if ip is not None and ip in ipaddress.ip_network(pattern, strict=False):
                return True
        elif pattern.startswith("*."):
            if ip is None and target.host.endswith(pattern[1:]):
                return True
        elif (str(parse_ip(pattern)) if parse_ip(pattern) is not None else pattern) == target.host:
            return True
    return False


@dataclass
class Module:
    name: str
    table: dict[str, Any]  # the [modules.NAME] table as written (secrets only by env var / file name)
    checks: tuple[str, ...]
    timeout: float
    default_port: int
    targets: tuple[str, ...] = ()  # allow-list; empty: any target
    has_credentials: bool = False
    rest: bool = False  # TURN REST API: credentials minted per probe from the shared secret
    kind: str = "servers"  # "servers" ([[servers]] checks) or "signal" (a [[signalling]] entry)


@dataclass
class ExporterConfig:
    modules: dict[str, Module]
    source: str
    base: Path
    max_concurrent: int = 16  # probes running at once
    max_queued: int = 64  # probes waiting for a slot; beyond that: 503 at once
    default_timeout: float = 10.0  # seconds, without an X-Prometheus-Scrape-Timeout-Seconds header
    timeout_margin: float = 0.5  # seconds kept from the scrape timeout to release and answer
    warnings: list[str] = field(default_factory=list)

    def target(self, module: Module, text: str) -> ProbeTarget:
        """The scraper's ``target=`` for ``module``: parsed, and on the module's allow-list if it has one."""
        target = parse_target(text, module.default_port)
        if module.targets and not _allowed(module.targets, target):
            raise TargetRejected(f"target not allowed by module {module.name} (its targets list)")
        return target

    def check_config(self, module: Module, target: ProbeTarget, budget_s: float) -> CheckConfig:
        """The check config of one probe: the module's URLs for ``target``, within ``budget_s`` seconds."""
        return _probe_config(self, module, target, budget_s)


def _render(url: str, target: ProbeTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return (url.replace("{target}", format_hostport(target.host, target.port)).replace("{host}", host)
            .replace("{port}", str(target.port)))


def _transaction_timeout(module: Module, budget_s: float) -> float:
    return Timeouts.within_scrape(module.timeout, budget_s).transaction_s


def _probe_config(config: ExporterConfig, module: Module, target: ProbeTarget,
                  budget_s: float) -> CheckConfig:
    if module.kind == SIGNAL_KIND:
        return _signal_probe_config(config, module, target, budget_s)
    # A secret written in the module itself reaches parse_config, which refuses it with the usual advice.
    server = {k: v for k, v in module.table.items() if k in _SERVER_KEYS or k in _SECRET_KEYS}
    server["urls"] = [_render(u, target) for u in module.table["urls"]]
    data: dict[str, Any] = {"checks": list(module.checks), "timeout": _transaction_timeout(module, budget_s),
                            "servers": [server]}
    if "follow_redirects" in module.table:
        data["follow_redirects"] = module.table["follow_redirects"]
    if Key.NAT in module.checks:
        data["nat_servers"] = [u for u in server["urls"] if u.lower().startswith("stun:")]
    # The server entry's errors read "F: modules.m.password_env: ...", where the user wrote it.
    check = parse_config(data, origin=f"{config.source}: modules.{module.name}", base=config.base,
                         entry_at=(config.source, f"modules.{module.name}"))
    if module.rest:
        _mint(check)
    return check


def _signal_probe_config(config: ExporterConfig, module: Module, target: ProbeTarget,
                         budget_s: float) -> CheckConfig:
    """A signal module: one [[signalling]] entry for the target (the idle test, if any, within budget)."""
    entry = {k: v for k, v in module.table.items() if k in SIGNAL_KEYS}
    entry["urls"] = [_render(u, target) for u in module.table["urls"]]
    idle = entry.get("idle")
    if isinstance(idle, int | float) and not isinstance(idle, bool) and idle > budget_s / 2:
        raise ConfigError(f"{config.source}: modules.{module.name}.idle: {idle} s does not fit the probe's "
                          f"{budget_s:g} s (keep it under half the scrape timeout)")
    data: dict[str, Any] = {"checks": ["signal"], "timeout": _transaction_timeout(module, budget_s),
                            "signalling": [entry]}
    return parse_config(data, origin=f"{config.source}: modules.{module.name}", base=config.base,
                        entry_at=(config.source, f"modules.{module.name}"))


def _mint(check: CheckConfig) -> None:
    """REST credentials for this probe only (registered for masking by ``rest_login``)."""
    from rtcdiag.protocol.credentials import DEFAULT_REST_USER, rest_login

    for server in check.servers:
        if server.secret is None:
            continue
        username, password, _ = rest_login(server.secret, server.username or DEFAULT_REST_USER, server.ttl,
                                           now=time.time())
        server.username, server.password, server.secret = username, password, None
        server.targets = [replace(t, username=username, credential=password) for t in server.targets]


def _where(source: str, path: str) -> str:
    return f"{source}: {path}"


def _int(table: dict[str, Any], key: str, where: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: must be an integer from {low} to {high}")
    return value


def _number(table: dict[str, Any], key: str, where: str, default: float, low: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise ConfigError(f"{where}.{key}: must be a number of at least {low:g}")
    return float(value)


def _module(name: str, table: Any, config: ExporterConfig) -> Module:
    where = _where(config.source, f"modules.{name}")
    if not _MODULE_NAME.match(name):
        raise ConfigError(f"{where}: module names are letters, digits, '_', '.' and '-' (64 at most)")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table ([modules.{name}])")
    kind = table.get("kind", "servers")
    if kind not in ("servers", SIGNAL_KIND):
        raise ConfigError(f"{where}.kind: must be \"servers\" or \"signal\"")
    unknown = sorted(set(table) - (_SIGNAL_MODULE_KEYS if kind == SIGNAL_KIND else _MODULE_KEYS))
    if unknown and unknown[0] not in _SECRET_KEYS:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(_MODULE_KEYS))})")
    urls = table.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f"{where}.urls: must be a non-empty list of URI templates such as "
                          "\"turn:{target}?transport=udp\"")
    if not any(p in u for u in urls for p in ("{target}", "{host}")):
        raise ConfigError(f"{where}.urls: no URL names the target (write {{target}} or {{host}})")
    checks = [SIGNAL_KIND] if kind == SIGNAL_KIND else table.get("checks", list(CHECKS))
    targets = table.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise ConfigError(f"{where}.targets: must be a list of host names, *.domain, IPs or CIDR networks")
    for pattern in targets:
        if "/" in pattern:
            try:
                ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                raise ConfigError(f"{where}.targets: {pattern!r} is not a CIDR network") from None
    module = Module(name=name, table=table, checks=tuple(checks) if isinstance(checks, list) else (),
                    timeout=_number(table, "timeout", where, 5.0, 0.05),
                    default_port=_int(table, "default_port", where, 443 if kind == SIGNAL_KIND else 3478,
                                      1, 65535),
                    targets=tuple(t.lower().removesuffix(".") for t in targets), kind=kind)
    # Validate everything else (keys, secrets present in the environment, checks, CA files) now, with a
    # documentation address (never probed), so a broken module stops the exporter at start-up (exit 2).
    probe = _probe_config(config, module, ProbeTarget(PLACEHOLDER_TARGET, module.default_port), 10.0)
    module.checks = probe.checks
    if kind == SIGNAL_KIND:
        module.has_credentials = "token_env" in table
        if module.has_credentials and not module.targets:
            config.warnings.append(f"{where}: has a token but no targets allow-list: anyone who can reach "
                                   "the exporter can make it send the token anywhere (add targets = [...])")
        return module
    server = probe.servers[0]
    module.has_credentials = server.password is not None or any(
        k in table for k in ("secret_env", "secret_file"))
    module.rest = any(k in table for k in ("secret_env", "secret_file"))
    if module.has_credentials and not module.targets:
        config.warnings.append(f"{where}: has credentials but no targets allow-list: anyone who can reach "
                               "the exporter can make it authenticate to any host (add targets = [...])")
    return module


def parse_exporter_config(data: dict[str, Any], *, source: str, base: Path) -> ExporterConfig:
    config = ExporterConfig(modules={}, source=source, base=base)
    settings = data.get("exporter", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{source}: exporter: must be a table ([exporter])")
    unknown = sorted(set(settings) - _EXPORTER_KEYS)
    if unknown:
        raise ConfigError(f"{source}: exporter.{unknown[0]}: unknown key (allowed: "
                          f"{', '.join(sorted(_EXPORTER_KEYS))})")
    where = _where(source, "exporter")
    config.max_concurrent = _int(settings, "max_concurrent", where, config.max_concurrent, 1, 1024)
    config.max_queued = _int(settings, "max_queued", where, config.max_queued, 0, 10000)
    config.default_timeout = _number(settings, "default_timeout", where, config.default_timeout, 0.1)
    config.timeout_margin = _number(settings, "timeout_margin", where, config.timeout_margin, 0.0)
    modules = data.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise ConfigError(f"{source}: no [modules.NAME] tables: the exporter needs at least one module")
    for name, table in modules.items():
        config.modules[name] = _module(name, table, config)
    return config


def load_exporter_config(path: str | Path) -> ExporterConfig:
    """Read the ``[modules.*]`` (and optional ``[exporter]``) tables of an ``rtcdiag.toml``."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    return parse_exporter_config(data, source=str(file), base=file.resolve().parent)
