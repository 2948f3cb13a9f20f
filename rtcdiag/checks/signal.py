"""The signalling check: is the WebSocket signalling path open from here (probe ``signal``: DNS, TCP, the
proxy's CONNECT, TLS and interception, the RFC 6455 upgrade, a ping/pong and echo, a large message, an idle
period), judged by ``triage.signal``.

A bug in one URL's probe is recorded on that URL (INTERNAL-ERROR on its ``run`` step, exit 4) while every
other URL is still probed and reported; a crash anywhere else becomes the engine's INTERNAL-ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.registry import Cell, Entry, Labels, Planning
from rtcdiag.probes import signal as probe
from rtcdiag.probes.signal import DEFAULT_MESSAGE_SIZE as DEFAULT_MESSAGE_SIZE  # for the command's options
from rtcdiag.probes.signal import MAX_MESSAGE_SIZE as MAX_MESSAGE_SIZE
from rtcdiag.probes.signal import Failure, SignalOptions, SignalResult, SignalTarget, UrlResult
from rtcdiag.probes.signal_url import SignalUrlError as SignalUrlError  # what plan_from_options refuses
from rtcdiag.report.model import Table
from rtcdiag.triage import signal as rules
from rtcdiag.triage.finding import Subject


@dataclass(frozen=True)
class SignalPlan:
    targets: list[SignalTarget]
    options: SignalOptions = field(default_factory=SignalOptions)


async def _run(plan: SignalPlan) -> SignalResult:
    return await probe.check(plan.targets, plan.options)


SIGNAL: Check[SignalPlan, SignalResult] = Check("signal", _run, rules.judge)


def plan_from_options(urls: tuple[str, ...], *, token: str | None, proxy: str | None, no_proxy: bool,
                      origin: str | None, foreign_origin: str | None, subprotocols: tuple[str, ...],
                      headers: tuple[str, ...], idle: float | None, message_size: int, try_port: int | None,
                      timeout: float, ca_file: Path | None, insecure: bool) -> SignalPlan:
    """``rtcdiag signal``'s options -> the plan, before any traffic: :class:`SignalUrlError` (one line) for
    a URL, proxy, header, origin or subprotocol that cannot be used."""
    from rtcdiag.probes.signal_url import (
        SignalUrl,
        check_origin,
        check_subprotocol,
        choose_proxy,
        parse_header,
        parse_proxy,
        parse_signal_url,
    )

    given_proxy = parse_proxy(proxy) if proxy is not None else None
    parsed: list[SignalUrl] = []
    for text in urls:
        url = parse_signal_url(text, token=token)
        if url.display not in [p.display for p in parsed]:
            parsed.append(url)
    extra = [parse_header(h) for h in headers]
    if token is not None and not any("{token}" in u for u in urls):
        extra.append(("Authorization", f"Bearer {token}"))
    options = SignalOptions(origin=check_origin(origin) if origin is not None else None,
                            protocols=tuple(check_subprotocol(p) for p in subprotocols),
                            headers=tuple(extra), idle_s=idle, message_size=message_size,
                            timeout=timeout, try_port=try_port,
                            foreign_origin=check_origin(foreign_origin, where="--foreign-origin")
                            if foreign_origin is not None else None,
                            ca_file=ca_file, insecure=insecure)
    targets = [SignalTarget(url, choose_proxy(url, option=given_proxy, no_proxy=no_proxy)) for url in parsed]
    return SignalPlan(targets, options)


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


def _answer(status: int | None, reason: str) -> str:
    return f"{status} {reason}".strip() if status is not None else "no answer"


def url_outcome(url: UrlResult) -> str:
    """What one signalling URL came to, in a few words: where it stopped (``CONNECT 403 Forbidden``, ``TLS
    refused: untrusted``, ``upgrade 400 Bad Request``), or the open WebSocket with its ping RTT and what the
    echo, the large message and the idle period did."""
    if url.resolve is not None and url.resolve.error:
        return "name does not resolve"
    if url.connect is not None and url.connect.failure is not None:
        return f"TCP {url.connect.failure.value}"
    step = url.proxy_step
    if step is not None and (step.answer is None or not 200 <= step.answer.status < 300):
        return f"CONNECT {_answer(step.answer.status, step.answer.reason)}" if step.answer is not None else \
            f"CONNECT {step.failure.value if step.failure else 'failed'}"
    if url.tls is not None and url.tls.failure is not None:
        return f"TLS {url.tls.failure.value}"
    upgrade = url.upgrade
    if upgrade is None:
        return "not upgraded"
    if upgrade.answer is None or upgrade.answer.status != 101 or upgrade.failure is not None:
        if upgrade.answer is not None and upgrade.answer.status != 101:
            return f"upgrade {_answer(upgrade.answer.status, upgrade.answer.reason)}"
        return f"upgrade {upgrade.failure.value if upgrade.failure else 'failed'}"
    words = ["WebSocket open (101)"]
    if url.tls is not None and url.tls.info.trusted is False:
        words.append("TLS untrusted")
    if url.echo is not None:
        if url.echo.ping_rtt_ms is not None:
            words.append(f"ping rtt {_ms(url.echo.ping_rtt_ms)} ms")
        if url.echo.failure is not None and url.echo.failure is not Failure.STATUS:
            words.append(f"ping {url.echo.failure.value}")
        elif url.echo.echo.value != "not-tried":
            words.append(f"echo {url.echo.echo.value}")
    if url.message is not None and url.message.sent:
        words.append(f"{url.message.size} B message " + ("ok" if url.message.accepted else "refused"))
    if url.idle is not None:
        words.append(f"idle: cut at {url.idle.survived_s:.1f} s" if url.idle.closed else
                     f"idle: {'alive' if url.idle.alive_after else 'dead'} after {url.idle.survived_s:.1f} s")
    return ", ".join(words)


def _path(url: UrlResult) -> str:
    if url.proxy_host is not None:
        return f"via {url.proxy_host}:{url.proxy_port}" if url.proxy_port else f"via {url.proxy_host}"
    return "direct"


def signal_summary(result: SignalResult) -> Table:
    """The console's short view: one line per URL (its path, then :func:`url_outcome`)."""
    return Table(title="Signalling URLs", columns=["URL", "path", "result"],
                 rows=[[url.url, _path(url), url_outcome(url)] for url in result.urls])


def config_jobs(planning: Planning) -> list[Job[SignalPlan, SignalResult]]:
    """One job per ``[[signalling]]`` entry (its URLs probed concurrently), with the run's timeout and TLS
    settings (the command line may have changed them after the file was read)."""
    config = planning.config
    jobs: list[Job[SignalPlan, SignalResult]] = []
    for entry in config.signalling:
        options = replace(entry.options, timeout=planning.timeouts.transaction_s,
                          insecure=entry.options.insecure or config.insecure,
                          ca_file=entry.options.ca_file or config.ca)
        first = entry.targets[0].url
        label = entry.name or (first.display if len(entry.targets) == 1 else f"{first.display} +"
                               f"{len(entry.targets) - 1}")
        jobs.append(Job(SIGNAL, SignalPlan(entry.targets, options), Subject(label, host=first.host),
                        f"signal {label}"))
    return jobs


def short_cells(result: SignalResult, label: Labels) -> list[Cell]:
    """One line per signalling URL (its scheme as the transport): where it stopped, or the open WebSocket."""
    return [(url.url, url.scheme, "result", url_outcome(url)) for url in result.urls]


ENTRIES = (Entry(SIGNAL, SignalResult, config_jobs=config_jobs, short_cells=short_cells,
                 tables=signal_tables),)
