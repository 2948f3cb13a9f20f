"""The signalling check: is the WebSocket signalling path open from here (probe ``signal``: DNS, TCP, the
proxy's CONNECT, TLS and interception, the RFC 6455 upgrade, a ping/pong and echo, a large message, an idle
period), judged by ``triage.signal``.

A bug in one URL's probe is recorded on that URL (INTERNAL-ERROR on its ``run`` step, exit 4) while every
other URL is still probed and reported; a crash anywhere else becomes the engine's INTERNAL-ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcdiag.checks.engine import Check
from rtcdiag.probes import signal as probe
from rtcdiag.probes.signal import SignalOptions, SignalResult, SignalTarget
from rtcdiag.report.model import Table
from rtcdiag.triage import signal as rules


@dataclass(frozen=True)
class SignalPlan:
    targets: list[SignalTarget]
    options: SignalOptions = field(default_factory=SignalOptions)


async def _run(plan: SignalPlan) -> SignalResult:
    return await probe.check(plan.targets, plan.options)


SIGNAL: Check[SignalPlan, SignalResult] = Check("signal", _run, rules.judge)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def signal_tables(result: SignalResult) -> list[Table]:
    """One row per URL: the path (proxy), each step's outcome in a word, the RTT and what survived."""
    rows: list[list[str]] = []
    for url in result.urls:
        proxy = url.proxy or ("none" if url.proxy_source == "none" else f"none ({url.proxy_source})")
        connect = "-"
        if url.connect is not None:
            failed = url.connect.failure
            connect = failed.value if failed else f"{_ms(url.connect.duration_ms)} ms"
        tunnel = "-"
        if url.proxy_step is not None:
            answer = url.proxy_step.answer
            tunnel = str(answer.status) if answer else (url.proxy_step.failure or "?")
        tls = "-"
        if url.tls is not None:
            info = url.tls.info
            tls = info.version or (url.tls.failure.value if url.tls.failure else "?")
            if info.trusted is False:
                tls += " untrusted"
        upgrade = "-"
        if url.upgrade is not None:
            upgrade = str(url.upgrade.answer.status) if url.upgrade.answer else \
                (url.upgrade.failure.value if url.upgrade.failure else "?")
        rtt = _ms(url.echo.ping_rtt_ms) if url.echo is not None else "-"
        echo = url.echo.echo.value if url.echo is not None else "-"
        message = "-"
        if url.message is not None:
            message = f"{url.message.size} B " + ("ok" if url.message.accepted else "refused")
        idle = "-"
        if url.idle is not None:
            idle = f"cut at {url.idle.survived_s:.1f} s" if url.idle.closed else \
                ("alive" if url.idle.alive_after else "dead") + f" after {url.idle.survived_s:.1f} s"
        rows.append([url.url, proxy, connect, tunnel, tls, upgrade, rtt, echo, message, idle])
    return [Table(title="Signalling (WebSocket)",
                  columns=["URL", "proxy", "TCP", "CONNECT", "TLS", "upgrade", "ping RTT ms", "echo",
                           "message", "idle"], rows=rows)]
