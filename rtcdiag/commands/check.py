"""``rtcdiag check``: every applicable check, concurrently, in one report with one diagnosis.

Thin: options / config file / ice-servers file / URIs -> :class:`~rtcdiag.config.CheckConfig` ->
:func:`rtcdiag.checks.run.run_config` (the library does the rest) -> emit().
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import (
    OutputOptions,
    TlsOptions,
    check_output_path,
    concurrency_option,
    follow_option,
    list_option,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async
from rtcdiag.commands.shared.secrets import refuse_half_credentials, turn_credential_options
from rtcdiag.config import CHECKS, CheckConfig, ServerConfig, ice_server_entries, load_config
from rtcdiag.errors import OutputError, UsageError
from rtcdiag.redact import register_secret
from rtcdiag.report.model import Report
from rtcdiag.secret_input import SecretArgs, load_turn_secrets, load_username
from rtcdiag.targets import TRANSPORTS, Target, load_ice_servers, parse_targets, parse_uri

if TYPE_CHECKING:
    from rtcdiag.checks.run import ConfigRun

# With no arguments: well-known public STUN servers (binding + ICE gathering) and the local network (NAT).
DEFAULT_STUN_SERVERS = ("stun:stun.l.google.com:19302", "stun:stun.cloudflare.com:3478")
PUBLIC_STUN = "public STUN"


def run_check(config: CheckConfig, *, live: bool | None = None, command: str = "check",
              browser: bool = False) -> Report:
    """Run every applicable check of ``config`` and return the one report.

    ``live``: show the progress view on stderr (None: only when stderr is a terminal). ``browser``: also
    the headless Chromium run (``rtcdiag browser``), when Chromium and Playwright are installed; otherwise
    a note says why it did not run.
    """
    return run_check_detailed(config, live=live, command=command, browser=browser).report


def run_check_detailed(config: CheckConfig, *, live: bool | None = None, command: str = "check",
                       browser: bool = False) -> ConfigRun:
    """:func:`run_check` with the typed material of the report (for ``--openmetrics``)."""
    from rtcdiag.checks.run import run_config_detailed
    from rtcdiag.report.progress import progress

    skipped = _browser_missing() if browser else None
    with progress(f"rtcdiag {command}", enabled=live) as view:
        run = run_async(run_config_detailed(config, on_start=view.add, on_done=view.done, command=command,
                                            browser=browser and skipped is None))
    if skipped is not None:
        run.report.notes.append(f"--browser: not run: {skipped}")
    return run


def _openmetrics_ready(path: Path) -> None:
    """Before any traffic: the file can be written and the exporter extra is installed."""
    check_output_path("--openmetrics", path)
    from importlib.util import find_spec

    if find_spec("prometheus_client") is None:
        raise UsageError("--openmetrics needs the Prometheus client: pip install 'rtcdiag[exporter]'")


def _write_openmetrics(run: ConfigRun, path: Path) -> None:
    from rtcdiag.exporter.metrics import ProbeOutcome, write_openmetrics

    try:
        write_openmetrics(ProbeOutcome(run, run.report.duration_s), path)
    except OSError as exc:
        raise OutputError(f"--openmetrics: cannot write {path}: {exc.strerror or exc}",
                          exit_code=run.report.exit_code or exitcodes.USAGE) from None


def _browser_missing() -> str | None:
    import importlib.util

    from rtcdiag.checks.browser import chromium_installed

    if not chromium_installed():
        return "Chromium is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install 'rtcdiag[browser]')"
    return None


# --- command line ----------------------------------------------------------------------------------------


def _public_default(config: CheckConfig) -> str | None:
    """What a bare ``rtcdiag check`` contacts, in words (None when servers were given)."""
    if config.source != "arguments" or [s for s in config.servers if s.name != PUBLIC_STUN]:
        return None
    hosts = ", ".join(parse_uri(u).hostport for u in DEFAULT_STUN_SERVERS)
    return (f"no server given: asking the public STUN servers {hosts} (Binding, ICE gathering, NAT); give "
            "URIs, --ice-servers FILE or --config FILE to check your own")


def _config_from_args(config_file: Path | None, ice_servers: Path | None, uris: tuple[str, ...],
                      username: str | None, password: str | None, secret: str | None, ttl: int,
                      checks: tuple[str, ...], nat_servers: tuple[str, ...], ca: Path | None, insecure: bool,
                      timeout: float | None, follow: bool = True) -> CheckConfig:
    config = load_config(config_file) if config_file is not None else CheckConfig(source="arguments")
    servers: list[Target] = []
    if uris:
        servers += parse_targets(uris, default_scheme="turn", username=username, credential=password)
    if ice_servers is not None:
        servers += load_ice_servers(ice_servers)
    # URIs given as arguments: one server per host and credentials (one suite per URL in JUnit); an
    # RTCIceServer entry is one server, as the browser takes it, however many entries share its host.
    grouped: dict[tuple[str, str | None, str | None], list[Target]] = {}
    for target in servers:
        if target.entry is None:
            grouped.setdefault((target.host, target.username, target.credential), []).append(target)
    for (_, user, credential), targets in grouped.items():
        config.servers.append(ServerConfig(targets=targets, username=user, password=credential, secret=secret,
                                           ttl=ttl))
    for server in ice_server_entries([t for t in servers if t.entry is not None]):
        server.secret, server.ttl = secret, ttl
        config.servers.append(server)
    config.nat_servers += [parse_uri(u) for u in nat_servers]
    if not config.servers and config_file is None and not config.signalling:
        # No arguments: public STUN servers and the local network; documented in docs/commands/check.md.
        config.servers = [ServerConfig(targets=[parse_uri(u) for u in DEFAULT_STUN_SERVERS],
                                       name=PUBLIC_STUN)]
    if checks:
        config.checks = checks
        for server in config.servers:
            server.checks = None
    if ca is not None:
        config.ca = ca
    if insecure:
        config.insecure = True
    if timeout is not None:
        config.timeout = timeout
    if not follow:
        config.follow_redirects = False
    if not config.servers and not config.nat_servers and not config.signalling:
        raise UsageError(f"{config.source}: no servers to check (add [[servers]] or give URIs)")
    return config


@click.command(name="check", epilog=exitcodes.epilog(
    "rtcdiag check",
    "rtcdiag check --ice-servers ice-servers.json --junit rtcdiag.xml",
    "rtcdiag check --config rtcdiag.toml -q"))
@click.argument("uris", nargs=-1, metavar="[URI|HOST[:PORT]|FILE.json]...")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="An rtcdiag.toml with servers, credentials (by env var name), checks and expectations.")
@click.option("--ice-servers", "ice_servers", type=click.Path(dir_okay=False, path_type=Path),
              help="A browser RTCIceServer JSON file (urls, username, credential).")
@turn_credential_options
@list_option("--checks", choices=CHECKS, examples=("stun", "turn"),
             help=f"Checks to run (default: all of {','.join(CHECKS)})")
@list_option("-t", "--transport", "transports", choices=TRANSPORTS, examples=("udp", "tcp"),
             help="Transports for a HOST[:PORT] target, udp, tcp or tls (default: udp,tcp; udp and tcp on "
                  "its port, tls on 5349). A URI carries its own transport")
@list_option("--nat-server", "nat_servers", metavar="URI",
             examples=("stun:127.0.0.1:3478", "stun:[::1]:3478"),
             help="RFC 5780 STUN servers (two addresses) for the NAT check")
@click.option("--browser", "browser", is_flag=True,
              help="Also run the Trickle ICE page in headless Chromium (`rtcdiag browser`) when Chromium "
                   "and the `browser` extra are installed.")
@tls_options
@follow_option
@timeout_option(default=None)
@concurrency_option(pass_to_command=True)
@click.option("--openmetrics", "openmetrics", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the verdict as OpenMetrics text to FILE (atomically), for node_exporter's "
                   "textfile collector; the metrics of `rtcdiag exporter` (needs the exporter extra).")
@output_options
def command(browser: bool,
            uris: tuple[str, ...], config_file: Path | None, ice_servers: Path | None, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, checks: tuple[str, ...],
            nat_servers: tuple[str, ...], transports: tuple[str, ...], tls: TlsOptions, follow: bool,
            timeout: float | None,
            concurrency: int | None, openmetrics: Path | None, output: OutputOptions) -> int:
    """Run every applicable check (DNS, ports, STUN, TURN, NAT, ICE) concurrently; print one report.

    Without a URI, --ice-servers or --config it contacts public STUN servers on the internet
    (stun.l.google.com:19302, stun.cloudflare.com:3478) and says so first, on stderr.
    """
    password, secret = load_turn_secrets(password_args, secret_args)
    register_secret(secret)
    user = load_username(username)
    refuse_half_credentials(username, user, password, secret, parse_targets(uris, default_scheme="turn"))
    config = _config_from_args(config_file, ice_servers, uris, user, password, secret, ttl,
                               checks, nat_servers, Path(tls.ca_file) if tls.ca_file else None, tls.insecure,
                               timeout, follow)
    if concurrency is not None:
        config.concurrency = concurrency
    if transports:
        if not any(t.shortcut for server in config.servers for t in server.targets):
            raise UsageError("-t/--transport only applies to HOST[:PORT] targets; a URI carries its own "
                             "transport (turn:h?transport=tcp, turns: for TLS)")
        config.shortcut_transports = transports
    if openmetrics is not None:
        _openmetrics_ready(openmetrics)
    public = _public_default(config)
    if public is not None:  # said before anything is sent (stderr: stdout's first line stays the verdict)
        click.echo(f"rtcdiag check: {public}", err=True)
    run = run_check_detailed(config, browser=browser, live=False if output.json else None)
    if public is not None:
        run.report.notes.insert(0, public)
    run.report.notes += tls_notes(config.insecure or any(s.insecure for s in config.servers))
    if openmetrics is not None:
        from rtcdiag import interrupt

        if interrupt.requested() is None:
            _write_openmetrics(run, openmetrics)
        else:  # a partial run is no verdict: the collector keeps the last complete one
            run.report.notes.append(f"--openmetrics: {openmetrics} not written: the run was interrupted "
                                    "(the previous file, if any, is kept)")
    return emit(run.report, output)
