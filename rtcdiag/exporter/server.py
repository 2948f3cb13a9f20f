"""The exporter's HTTP endpoint on asyncio streams: ``/probe``, ``/metrics``, ``/``.

One event loop serves every request and runs the probes (the check engine is asyncio). HTTP/1.1, GET only,
one request per connection (``Connection: close``), request head bounded (16 KiB, 10 s to arrive), open
connections bounded (``max_concurrent + max_queued + 64``; beyond: 503 at once).

- ``/probe?target=HOST[:PORT]&module=NAME``: runs the module's checks against the target
  (:func:`rtcdiag.checks.run.run_config_detailed`) and answers its metrics (:mod:`rtcdiag.exporter.metrics`).
  The time allowed is ``X-Prometheus-Scrape-Timeout-Seconds`` minus ``timeout_margin`` (else
  ``default_timeout``); at the deadline, or when the scraper hangs up, the probe is cancelled and waited
  for: every probe releases its TURN allocations in ``finally`` (RFC 8656 §7: Refresh with LIFETIME 0).
  At most ``max_concurrent`` probes run; up to ``max_queued`` more wait for a slot within their deadline;
  beyond that: 503 at once. A bad module or target: 400 and one line, before any traffic.
- ``/metrics``: the exporter's own counters and process metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder

from rtcdiag.checks.run import run_config_detailed
from rtcdiag.config import ConfigError
from rtcdiag.exporter.metrics import ProbeOutcome, exposition
from rtcdiag.exporter.modules import ExporterConfig, ProbeTarget, TargetRejected
from rtcdiag.redact import echo, ephemeral_secrets, secret_count, unmark
from rtcdiag.textsafe import printable

HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT_S = 10.0
TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds"
MIN_BUDGET_S = 0.1
EXTRA_CONNECTIONS = 64


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


def _line(status: int, text: str) -> Response:
    """An error answer: one printable line (a request value in it is marked, so masked; escaped, cut)."""
    return Response(status, (printable(unmark(text))[:300] + "\n").encode("utf-8"))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    pass


def parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
        lines = text.split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest("malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest("HTTP/1.x only")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    parts = urlsplit(target)
    return Request(method, parts.path, parse_qs(parts.query, keep_blank_values=True, max_num_fields=20),
                   headers)


class Exporter:
    """The probes and their bounds; ``handle`` serves one connection."""

    def __init__(self, config: ExporterConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.slots = asyncio.Semaphore(config.max_concurrent)
        self.admitted = 0  # probes running or waiting for a slot
        self.tasks: set[asyncio.Task[None]] = set()
        # Probes allowed in (running + queued) plus room for /metrics and requests still sending their head.
        self.max_connections = config.max_concurrent + config.max_queued + EXTRA_CONNECTIONS
        self.registry = reg = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=reg)
        self.probes = Counter("rtcdiag_exporter_probes", "Probes answered, by module and result "
                              "(success, failure, timeout, error)", ["module", "result"], registry=reg)
        self.rejected = Counter("rtcdiag_exporter_rejected_requests", "Requests refused, by reason "
                                "(bad_request, busy, not_found, disconnected)", ["reason"], registry=reg)
        self.in_flight = Gauge("rtcdiag_exporter_probes_in_flight", "Probes running now", registry=reg)
        self.duration = Histogram("rtcdiag_exporter_probe_duration_seconds", "Probe duration by module",
                                  ["module"], registry=reg,
                                  buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        masked = Gauge("rtcdiag_exporter_masked_secrets", "Secret forms registered for masking (bounded)",
                       registry=reg)
        masked.set_function(lambda: float(secret_count()))
        for name in config.modules:  # every module's series exist from the start (rate() over restarts)
            for result in ("success", "failure", "timeout", "error"):
                self.probes.labels(name, result)

    def registry_text(self) -> str:
        """The exporter's own metrics in the Prometheus text format (what ``/metrics`` answers)."""
        encoder, _ = choose_encoder("")
        return encoder(self.registry).decode()

    # --- connections ----------------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            if len(self.tasks) > self.max_connections:  # slow or idle clients cannot pile up without bound
                self.rejected.labels("busy").inc()
                await self._write(writer, _line(503, "too many connections; try again later"))
                return
            response = await self._respond(reader)
            if response is not None:
                await self._write(writer, response)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _write(self, writer: asyncio.StreamWriter, response: Response) -> None:
        head = (f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}\r\n"
                f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n")
        writer.write(head.encode("latin-1") + response.body)
        await writer.drain()

    async def _respond(self, reader: asyncio.StreamReader) -> Response | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except asyncio.LimitOverrunError:
            return _line(431, "request head too large")
        except (TimeoutError, asyncio.IncompleteReadError):
            return None
        try:
            request = parse_head(head)
        except BadRequest as exc:
            self.rejected.labels("bad_request").inc()
            return _line(400, str(exc))
        if request.method != "GET":
            return _line(405, "only GET")
        if request.path == "/probe":
            return await self.probe(request, reader)
        if request.path == "/metrics":
            encoder, content_type = choose_encoder(request.headers.get("accept", ""))
            return Response(200, encoder(self.registry), content_type)
        if request.path == "/":
            names = ", ".join(sorted(self.config.modules))
            index = f"rtcdiag exporter: /probe?target=HOST[:PORT]&module=NAME (modules: {names}); /metrics\n"
            return Response(200, index.encode())
        self.rejected.labels("not_found").inc()
        return _line(404, "not found: use /probe or /metrics")

    # --- probes ---------------------------------------------------------------------------------------

    def _budget(self, request: Request) -> float:
        header = request.headers.get(TIMEOUT_HEADER)
        timeout = self.config.default_timeout
        if header:
            try:
                timeout = float(header)
            except ValueError:
                raise BadRequest(f"{TIMEOUT_HEADER} is not a number") from None
            if not timeout > 0 or timeout != timeout or timeout == float("inf"):
                raise BadRequest(f"{TIMEOUT_HEADER} must be a positive number of seconds")
        return max(MIN_BUDGET_S, timeout - self.config.timeout_margin)

    async def probe(self, request: Request, reader: asyncio.StreamReader) -> Response | None:
        started = self.clock()
        try:
            name = self._one(request, "module")
            module = self.config.modules.get(name)
            if module is None:
                known = ", ".join(sorted(self.config.modules))
                raise BadRequest(f"unknown module {echo(repr(name))} (known: {known})")
            target = self.config.target(module, self._one(request, "target"))
            budget = self._budget(request)
        except (BadRequest, TargetRejected) as exc:
            self.rejected.labels("bad_request").inc()
            return _line(400, str(exc))
        if self.admitted >= self.config.max_concurrent + self.config.max_queued:
            self.rejected.labels("busy").inc()
            return _line(503, "too many probes in progress; try again later")
        deadline = started + budget
        self.admitted += 1
        try:
            try:
                await asyncio.wait_for(self.slots.acquire(), max(0.0, deadline - self.clock()))
            except TimeoutError:
                self.rejected.labels("busy").inc()
                return _line(503, "no probe slot free within the scrape timeout")
            try:
                return await self._run(module.name, target, budget, deadline, started, reader,
                                       request.headers.get("accept", ""))
            finally:
                self.slots.release()
        finally:
            self.admitted -= 1

    @staticmethod
    def _one(request: Request, key: str) -> str:
        values = request.query.get(key, [])
        if len(values) != 1 or not values[0]:
            raise BadRequest(f"give exactly one {key}= parameter")
        return values[0]

    async def _run(self, name: str, target: ProbeTarget, budget: float, deadline: float, started: float,
                   reader: asyncio.StreamReader, accept: str) -> Response | None:
        module = self.config.modules[name]

        async def one_probe() -> tuple[bytes, str, str]:
            with ephemeral_secrets():  # REST credentials minted for this probe are forgotten afterwards
                check = self.config.check_config(module, target, budget)
                # One module probes one target: whether the whole deployment offers a TCP/TLS fallback
                # (TURN-NO-TCP-FALLBACK) is not this probe's question.
                run = await run_config_detailed(check, command="exporter", fallback=False)
                outcome = ProbeOutcome(run, self.clock() - started, budget_s=budget)
                body, content_type = exposition(outcome, accept)
                return body, content_type, "success" if run.report.exit_code == 0 else "failure"

        self.in_flight.inc()
        probe = asyncio.create_task(one_probe())
        hangup = asyncio.create_task(_hung_up(reader))
        try:
            await asyncio.wait({probe, hangup}, timeout=max(0.0, deadline - self.clock()),
                               return_when=asyncio.FIRST_COMPLETED)
            if not probe.done():
                probe.cancel()
                # Wait for the cancelled probe: its finally blocks release the allocations (bounded by
                # rtcdiag.probes.turn.RELEASE_TIMEOUT_S).
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
                if hangup.done():
                    self.rejected.labels("disconnected").inc()
                    return None  # nobody to answer
                self.probes.labels(name, "timeout").inc()
                body, content_type = exposition(ProbeOutcome(None, self.clock() - started, timed_out=True,
                                                             budget_s=budget), accept)
                return Response(200, body, content_type)
            try:
                body, content_type, result = probe.result()
            except ConfigError as exc:  # e.g. the module's CA file was removed since start-up
                self.probes.labels(name, "error").inc()
                return _line(500, str(exc))
            except Exception as exc:  # a bug: one line, the exporter keeps serving
                self.probes.labels(name, "error").inc()
                return _line(500, f"internal error: {type(exc).__name__}: {exc}")
            self.probes.labels(name, result).inc()
            return Response(200, body, content_type)
        finally:
            hangup.cancel()
            if not probe.done():
                probe.cancel()
                with contextlib.suppress(BaseException):
                    await probe
            self.in_flight.dec()
            self.duration.labels(name).observe(self.clock() - started)


async def _hung_up(reader: asyncio.StreamReader) -> None:
    """Returns when the scraper closes its side (EOF) or resets; bytes after the request head are ignored."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(4096):
            pass


async def serve(config: ExporterConfig, host: str, port: int, *,
                ready: Callable[[str, int], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (SIGTERM/SIGINT in the command); in-flight probes are cancelled and waited
    for (their allocations released) before returning."""
    exporter = Exporter(config)
    server = await asyncio.start_server(exporter.handle, host, port, limit=HEAD_LIMIT, reuse_address=True)
    bound = server.sockets[0].getsockname()
    if ready is not None:
        ready(str(bound[0]), int(bound[1]))
    stop = stop or asyncio.Event()
    try:
        await stop.wait()
    finally:
        server.close()
        for task in list(exporter.tasks):
            task.cancel()
        if exporter.tasks:
            await asyncio.wait(set(exporter.tasks), timeout=10.0)
        await server.wait_closed()
