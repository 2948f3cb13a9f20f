"""``rtcdiag exporter``: a Prometheus exporter (blackbox style) over the check engine.

Thin: ``--config`` (the ``[modules.NAME]`` tables of an rtcdiag.toml) and ``--listen`` -> the asyncio server
of :mod:`rtcdiag.exporter.server`, until SIGTERM/SIGINT (in-flight probes are cancelled and release their
allocations first).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from rtcdiag import exitcodes
from rtcdiag.addresses import parse_ip
from rtcdiag.commands.shared.running import run_async
from rtcdiag.errors import Interrupted, UsageError

DEFAULT_LISTEN = "127.0.0.1:9733"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` (``:PORT`` alone: every address)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if parse_ip(host) is None:
            raise UsageError("--listen: not an IPv6 address in [...]")
    elif ":" in host:
        raise UsageError("--listen: write an IPv6 address in brackets, e.g. [::1]:9733")
    return host or "0.0.0.0", int(port)


@click.command(name="exporter", epilog=exitcodes.epilog(
    "rtcdiag exporter --config rtcdiag.toml",
    "rtcdiag exporter --config rtcdiag.toml --listen 127.0.0.1:9733",
    "curl 'http://127.0.0.1:9733/probe?target=turn.example.com&module=turn_udp'"))
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="An rtcdiag.toml with [modules.NAME] tables (URL templates, checks, credentials by env "
                   "var name, targets allow-list) and an optional [exporter] table.")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
              help="Address to serve /probe and /metrics on.")
def command(config_file: Path, listen: str) -> int:
    """Serve Prometheus probes: /probe?target=HOST[:PORT]&module=NAME runs the module's checks.

    Stops on SIGTERM or Ctrl-C with exit 0 once the probes in flight are cancelled and their allocations
    released.
    """
    from rtcdiag.exporter.modules import load_exporter_config
    from rtcdiag.exporter.server import serve

    host, port = parse_listen(listen)
    config = load_exporter_config(config_file)  # every module validated: exit 2 before serving
    for warning in config.warnings:
        click.echo(f"rtcdiag: warning: {warning}", err=True)

    def ready(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        click.echo(f"rtcdiag exporter: listening on http://{shown}:{bound_port}/ "
                   f"(modules: {', '.join(sorted(config.modules))})", err=True)
        sys.stderr.flush()

    try:
        run_async(serve(config, host, port, ready=ready))
    except OSError as exc:
        raise UsageError(f"--listen {listen}: {exc.strerror or exc}") from None
    except Interrupted as exc:
        # SIGTERM (systemd, docker stop) or Ctrl-C is how a server is stopped: once the probes in flight
        # were cancelled and their allocations released (serve's finally), that is a clean exit, 0
        # (systemd marks 143 as failed). A hang-up keeps its 129.
        if exc.signum not in (signal.SIGTERM, signal.SIGINT):
            raise
        from rtcdiag import interrupt

        interrupt.reset()
        name = signal.Signals(exc.signum).name
        click.echo(f"rtcdiag exporter: stopped by {name} (probes in flight cancelled, allocations released)",
                   err=True)
    return exitcodes.OK
