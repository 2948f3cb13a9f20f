"""``rtcdiag signal URL...``: is the WebSocket signalling path open from here — through the proxy a browser
would use, past TLS inspection, reverse proxies and idle timeouts?

Thin: parse and check every option (exit 2 before any traffic) -> SignalPlan -> execute the signal check
(rtcdiag.checks.signal) -> build_report -> emit().
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import click

from rtcdiag import exitcodes
from rtcdiag.checks.signal import DEFAULT_MESSAGE_SIZE, MAX_MESSAGE_SIZE, SignalPlan
from rtcdiag.commands.shared.options import (
    ListOption,
    OutputOptions,
    TlsOptions,
    list_option,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.errors import UsageError
from rtcdiag.jsonable import to_jsonable

_HEADER_START = re.compile(r"^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*:")


class HeaderOption(ListOption):
    """``--header 'K: V'``, repeatable or comma-separated like every list option — but a comma splits only
    where a new ``Name:`` follows, so that ``Cookie: a=1, b=2`` stays one header."""

    def _split(self, ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
        joined: list[str] = []
        for value in values:
            pieces: list[str] = []
            for piece in value.split(","):
                if pieces and not _HEADER_START.match(piece):
                    pieces[-1] += "," + piece
                else:
                    pieces.append(piece)
            joined += pieces
        return super()._split(ctx, param, tuple(joined))


@click.command(name="signal", epilog=exitcodes.epilog(
    "rtcdiag signal wss://signal.example.com/ws",
    "rtcdiag signal wss://signal.example.com/ws --proxy http://proxy.example.com:3128 --try-port 443",
    "rtcdiag signal 'wss://signal.example.com/rtc?access_token={token}' --token-env SIGNAL_TOKEN --idle 90"))
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("--proxy", "proxy", metavar="http://HOST:PORT",
              help="HTTP proxy to reach the URLs through (CONNECT). Default: $HTTPS_PROXY/$https_proxy for "
                   "wss:, $http_proxy for ws:, then $ALL_PROXY, unless $NO_PROXY names the host (as curl).")
@click.option("--no-proxy", "no_proxy", is_flag=True, help="Connect directly, whatever the environment says.")
@click.option("--origin", metavar="ORIGIN",
              help="Origin header, as the app's page sends it (default: https://HOST of the URL, http:// for "
                   "ws:).")
@click.option("--foreign-origin", "foreign_origin", metavar="ORIGIN",
              help="Once the WebSocket opened, one more handshake with this Origin (one your server must "
                   "refuse, e.g. https://evil.example): accepted means cross-site WebSocket hijacking.")
@list_option("--subprotocol", "subprotocols", metavar="P", examples=("chat", "janus-protocol"),
             help="Subprotocols offered in Sec-WebSocket-Protocol, as your client offers them")
@click.option("--header", "headers", cls=HeaderOption, metavar="'K: V'", examples=("X-A: 1", "X-B: 2"),
              help="Extra request headers (e.g. 'Cookie: session=...'; credential-like values are masked) "
                   "(repeatable or comma-separated).")
@click.option("--token-env", "token_env", metavar="VAR",
              help="A token from environment variable VAR: put where the URL says {token} (e.g. "
                   "wss://h/rtc?access_token={token}), else sent as 'Authorization: Bearer'.")
@click.option("--idle", "idle", type=click.FloatRange(min=0.1, max=3600), metavar="S", default=None,
              help="Stay idle S seconds after the echo: does the connection survive (proxy and load balancer "
                   "idle timeouts)? Then a ping must still get its pong.")
@click.option("--message-size", "message_size", type=click.IntRange(0, MAX_MESSAGE_SIZE), metavar="N",
              default=DEFAULT_MESSAGE_SIZE, show_default=True,
              help="Send one text message of N bytes (SDP offers are tens of KB); 0: none.")
@click.option("--try-port", "try_port", type=click.IntRange(1, 65535), metavar="PORT", default=None,
              help="When the proxy refuses CONNECT to the URL's port, ask it for PORT on the same host (no "
                   "TLS, no data), e.g. 443: tells 'this port is not allowed' from 'this host is not'.")
@tls_options
@timeout_option()
@output_options
def command(urls: tuple[str, ...], proxy: str | None, no_proxy: bool, origin: str | None,
            foreign_origin: str | None, subprotocols: tuple[str, ...], headers: tuple[str, ...],
            token_env: str | None,
            idle: float | None, message_size: int, try_port: int | None, tls: TlsOptions, timeout: float,
            output: OutputOptions) -> int:
    """Is the WebSocket signalling path open? For each ws:// or wss:// URL: DNS, TCP, the proxy's CONNECT,
    TLS (an intercepting proxy named as such), the RFC 6455 upgrade, a ping/pong and echo, a large message
    and, with --idle, how long an idle connection survives. Every step with its time and exact answer.
    """
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.signal import SIGNAL, signal_summary, signal_tables
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject

    started = time.time()
    plan = plan_from_options(urls, proxy=proxy, no_proxy=no_proxy, origin=origin,
                             foreign_origin=foreign_origin, subprotocols=subprotocols, headers=headers,
                             token_env=token_env, idle=idle, message_size=message_size, try_port=try_port,
                             timeout=timeout, ca_file=Path(tls.ca_file) if tls.ca_file else None,
                             insecure=tls.insecure)
    targets = plan.targets
    label = targets[0].url.display if len(targets) == 1 else f"{len(targets)} URLs"
    job = Job(SIGNAL, plan, Subject(label, host=targets[0].url.host), f"signal {label}")
    with watching("signal", output):  # the URLs, probed concurrently
        ran = run_async(execute(job))
    result = ran.result
    report = build_report("signal", ran.judgement, tables=signal_tables(result) if result else [],
                          summary=signal_summary(result) if result else None,
                          results=to_jsonable(result), notes=tls_notes(tls.insecure), started_at=started)
    return emit(report, output)


def plan_from_options(urls: tuple[str, ...], *, proxy: str | None, no_proxy: bool, origin: str | None,
                      foreign_origin: str | None, subprotocols: tuple[str, ...], headers: tuple[str, ...],
                      token_env: str | None, idle: float | None, message_size: int, try_port: int | None,
                      timeout: float, ca_file: Path | None, insecure: bool) -> SignalPlan:
    """Every option checked, before any traffic: :class:`UsageError` (exit 2, one line) for anything wrong."""
    from rtcdiag.checks import signal as check
    from rtcdiag.secret_input import SecretArgs, load_secret

    if proxy is not None and no_proxy:
        raise UsageError("--proxy and --no-proxy are mutually exclusive")
    token = load_secret(SecretArgs(env=token_env), name="token", default_env=None) if token_env else None
    try:
        return check.plan_from_options(urls, token=token, proxy=proxy, no_proxy=no_proxy, origin=origin,
                                       foreign_origin=foreign_origin, subprotocols=subprotocols,
                                       headers=headers, idle=idle, message_size=message_size,
                                       try_port=try_port, timeout=timeout, ca_file=ca_file, insecure=insecure)
    except check.SignalUrlError as exc:
        raise UsageError(str(exc)) from None
