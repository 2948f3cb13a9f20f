"""End-to-end ICE probe: two real aioice agents in one process connect to each other through your servers.

For every TURN URL, a *full* agent (host + server-reflexive + relay candidates, controlling) and a
*relay-only* agent (transport policy ``relay``, RFC 9429 §3.5.3, controlled) gather candidates, exchange them
as a signalling channel would, run the RFC 8445 connectivity checks, then echo packets over the selected pair.
Because one side may only use its relayed candidate, a connected pair proves that data really flows through
the TURN server. With ``relay_only=True`` both agents are relay-only (relay <-> relay through the server).
A STUN URL gets one full agent that only gathers (host + server-reflexive candidates).

aioice notes (0.13), found by reading its source:
- host candidates skip ``127.0.0.1`` (``aioice.ice.get_host_addresses``) so a machine whose only interface is
  loopback has no host or server-reflexive candidate; the relay candidate still works, and a loopback TURN
  server relays between two relay candidates when coturn has ``allow-loopback-peers``.
- gathering reports all candidates at once; to time the first candidate of each type, the module-level
  ``relayed_candidate``/``server_reflexive_candidate`` coroutines are wrapped once, recording into a
  context variable that only our own gathering tasks set (other users of aioice are unaffected).
- aioice swallows a failed TURN allocation; the wrapper keeps the error text as evidence.
- aioice gives up on a 437 Allocation Mismatch to its first Allocate. That 437 says the server still holds an
  allocation for the client's 5-tuple: a local port the kernel handed out again while the server kept an
  earlier client's allocation on it (coturn keeps a released one until its next timer tick). RFC 8656 §7.4
  (RFC 5766 §6.4): pick another client transport address and retry, three addresses before giving up; as
  libwebrtc and libnice do, the relay gathering is retried on a new socket (``_ALLOCATE_ADDRESSES``).
- the selected pair is read from ``Connection._nominated`` (aioice has no public accessor).

The probe records facts only; rtcdiag.triage.ice decides what they mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rtcdiag import interrupt
from rtcdiag.probes import slots
from rtcdiag.redact import echo, register_secret


class CandidateType(StrEnum):
    """ICE candidate types (RFC 8445 §5.1.1), as aioice names them."""

    HOST = "host"
    SRFLX = "srflx"
    PRFLX = "prflx"
    RELAY = "relay"


@dataclass
class IceServer:
    """One ``iceServers`` URL with its credentials, already resolved from a URI, JSON file or config."""

    url: str  # shown to users, never contains credentials: "turn:host:3478?transport=udp"
    scheme: str  # "stun" | "turn" | "turns"
    host: str
    port: int
    transport: str = "udp"  # "udp" | "tcp" (turns: always tcp)
    username: str | None = None
    password: str | None = field(default=None, metadata={"secret": True}, repr=False)

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def relay_protocol(self) -> str:
        """Protocol between the client and the TURN server, as in RTCIceCandidate.relayProtocol."""
        return "tls" if self.scheme == "turns" else self.transport


@dataclass
class IceOptions:
    relay_only: bool = False  # both agents relay-only (relay <-> relay)
    packets: int = 5  # echo packets sent over the selected pair
    payload_size: int = 200
    gather_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    use_ipv6: bool = False
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, metadata={"secret": True})


@dataclass
class CandidateInfo:
    """One gathered candidate, as the Trickle ICE page shows it."""

    agent: str  # "full" | "relay-only"
    type: CandidateType
    foundation: str
    component: int
    protocol: str
    address: str
    port: int
    priority: int
    related_address: str | None
    related_port: int | None
    relay_protocol: str | None  # udp | tcp | tls for relay candidates
    url: str | None  # which server URL produced it (None for host candidates)


@dataclass
class GatherEvent:
    agent: str
    type: str  # "srflx" | "relay"
    ms: float  # since the probe started
    error: str | None = None  # why no candidate came from the server, in words (never a Python repr)
    kind: str | None = None  # the error as a word: dns, refused, timeout, tls:<reason>, ... (_describe)


@dataclass
class SelectedPair:
    local_type: CandidateType
    local: str  # host:port
    remote_type: CandidateType
    remote: str


@dataclass
class IceRun:
    """One server URL: candidates, timings, connectivity and data through the selected pair."""

    url: str
    server_host: str
    scheme: str
    relay_protocol: str
    agents: list[str]
    port: int | None = None  # the server's port (the URL's or the scheme's default)
    candidates: list[CandidateInfo] = field(default_factory=list)
    first_candidate_ms: dict[str, float] = field(default_factory=dict)  # type -> ms since start
    gather_events: list[GatherEvent] = field(default_factory=list)
    gather_ms: float | None = None
    attempted_connect: bool = False
    connected: bool = False
    connect_ms: float | None = None  # since start (gathering included)
    ice_error: str | None = None
    selected_pair: SelectedPair | None = None  # as seen by the full (controlling) agent
    relay_only_pair: SelectedPair | None = None  # as seen by the relay-only agent
    packets_sent: int = 0
    packets_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    duration_ms: float = 0.0
    error: str | None = None  # an unexpected local error (bad URL, socket error), in words
    error_kind: str | None = None  # as GatherEvent.kind


@dataclass
class IceResult:
    relay_only: bool
    runs: list[IceRun] = field(default_factory=list)
    duration_ms: float = 0.0


# --- timing hooks into aioice's gathering ---------------------------------------------------------------

_GatherLog = list[tuple[str, float, tuple[str, str] | None]]  # (type, monotonic time, (kind, error))
_gather_log: contextvars.ContextVar[_GatherLog | None] = contextvars.ContextVar("rtcdiag_ice_gather",
                                                                                 default=None)
# The tasks aioice starts for one agent's servers (srflx, relay). aioice waits for them with asyncio.wait,
# which leaves them running when the gathering itself is cancelled (Ctrl-C): they are stopped here, or
# their STUN retransmissions would go on into a closed socket.
_gather_tasks: contextvars.ContextVar[set[asyncio.Task[Any]] | None] = contextvars.ContextVar(
    "rtcdiag_ice_gather_tasks", default=None)
_hooks_installed = False
_agent_class: Any = None
_ALLOCATE_ADDRESSES = 3  # RFC 8656 §7.4: local transport addresses tried on 437 before giving up
RETRIED_437 = "mismatch-retried"  # GatherEvent.kind of a 437 that was retried from a new local port


def _timed(kind: str, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        log = _gather_log.get()
        spawned = _gather_tasks.get()
        task = asyncio.current_task()
        if spawned is not None and task is not None:
            spawned.add(task)
        if log is not None:
            log.append(("start", time.monotonic(), None))  # host sockets are bound by now
        try:
            result = await inner(*args, **kwargs)
        except BaseException as exc:
            if log is not None:
                log.append((kind, time.monotonic(), _describe(exc)))
            raise
        if log is not None:
            log.append((kind, time.monotonic(), None))
        return result

    wrapper.__wrapped__ = inner  # type: ignore[attr-defined]
    return wrapper


def _is_mismatch(exc: BaseException) -> bool:
    """A 437 Allocation Mismatch answer (aioice raises it as TransactionFailed)."""
    from aioice.stun import TransactionFailed

    if not isinstance(exc, TransactionFailed):
        return False
    code: tuple[int, str] | None = exc.response.attributes.get("ERROR-CODE")
    return code is not None and code[0] == 437


def _retry_mismatch(inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``relayed_candidate`` retried on 437 from a new local port, ``_ALLOCATE_ADDRESSES`` in all (RFC 8656
    §7.4): each call opens a new TURN socket (aioice closed the last one). Every 437 that was retried is
    kept as a gather event of kind ``RETRIED_437``."""
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, _ALLOCATE_ADDRESSES + 1):
            try:
                return await inner(*args, **kwargs)
            except Exception as exc:
                if attempt == _ALLOCATE_ADDRESSES or not _is_mismatch(exc):
                    raise
                log = _gather_log.get()
                if log is not None:
                    _, said = _describe(exc)
                    log.append(("relay", time.monotonic(),
                                (RETRIED_437, f"{said} (an allocation the server still held for this local "
                                              f"port): retried from a new one, RFC 8656 §7.4")))
        raise AssertionError("unreachable")

    wrapper.__wrapped__ = inner  # type: ignore[attr-defined]
    return wrapper


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    import aioice.ice

    module: Any = aioice.ice
    module.relayed_candidate = _timed("relay", _retry_mismatch(module.relayed_candidate))
    module.server_reflexive_candidate = _timed("srflx", module.server_reflexive_candidate)
    _hooks_installed = True


def _agent_factory() -> Any:
    """aioice.Connection whose per-server gathering timeout (fixed at 5 s in aioice) is ours to choose."""
    global _agent_class
    if _agent_class is None:
        import aioice

        class Agent(aioice.Connection):
            gather_timeout_s: float = 5.0

            def check_incoming(self, message: Any, addr: tuple[str, int], protocol: Any) -> None:
                # RFC 8445 §7.3.1.4: a check received on a pair whose own check is In-Progress triggers a
                # new check at once. aioice 0.13 only waits for its own retransmission: 500 ms (RTO)
                # whenever the first check was dropped, e.g. by a TURN server because the peer's permission
                # was not installed yet (most turns: runs of a 20-server check). The request in flight is
                # sent again now (same transaction: its answer completes it; no timer or retry is changed).
                super().check_incoming(message, addr, protocol)
                pair = self._in_progress(addr, protocol)
                if pair is None:
                    return
                for transaction in list(getattr(pair.protocol, "transactions", {}).values()):
                    if getattr(transaction, "_Transaction__addr", None) == pair.remote_addr:
                        pair.protocol.send_stun(transaction._Transaction__request, pair.remote_addr)

            def _in_progress(self, addr: tuple[str, int], protocol: Any) -> Any:
                for candidate in self._remote_candidates:
                    if getattr(candidate, "_network_host", candidate.host) == addr[0] \
                            and candidate.port == addr[1]:
                        pair = self._find_pair(protocol, candidate)
                        if pair is not None and pair.state == aioice.ice.CandidatePair.State.IN_PROGRESS:
                            return pair
                        return None
                return None

            async def get_component_candidates(self, component: int, addresses: list[str],
                                               timeout: int = 5) -> Any:
                # aioice cancels the servers still pending at the timeout and keeps what it has;
                # asyncio.wait takes a float although aioice annotates an int.
                limit: Any = self.gather_timeout_s
                return await super().get_component_candidates(component, addresses, timeout=limit)

        _agent_class = Agent
    return _agent_class


def _describe(exc: BaseException) -> tuple[str, str]:
    """(kind, what happened) for an exception seen while gathering: a stable word and a sentence a user
    reads, never a Python exception repr such as ``gaierror(-2, ...)``."""
    from aioice.stun import TransactionFailed, TransactionTimeout

    from rtcdiag.tls import classify_ssl_error

    if isinstance(exc, asyncio.CancelledError | TimeoutError | TransactionTimeout):
        return "timeout", "no answer before the gathering timeout"
    if isinstance(exc, socket.gaierror):
        why = f" ({exc.strerror})" if exc.strerror else ""
        return "dns", f"the server name does not resolve{why}"
    if isinstance(exc, ssl.SSLError):
        reason, detail = classify_ssl_error(exc)
        return f"tls:{reason.value}", detail
    if isinstance(exc, TransactionFailed):
        code = exc.response.attributes.get("ERROR-CODE")
        answer = f"{code[0]} {echo(code[1])}" if code else "an error response"  # the server's reason phrase
        return "error-response", f"the server answered {answer}"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused (nothing listens on that port)"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "closed", "the server closed the connection"
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "unreachable", f"no route to the server ({exc.strerror})"
        return "network", exc.strerror or str(exc) or "a socket error"
    return "error", str(exc) or type(exc).__name__


# --- the probe ---------------------------------------------------------------------------------------------


def _ms(start: float, now: float | None = None) -> float:
    return round(((now if now is not None else time.monotonic()) - start) * 1000.0, 2)


def _make_agent(server: IceServer, controlling: bool, relay_only: bool, options: IceOptions) -> Any:
    import aioice

    kwargs: dict[str, Any] = {
        "ice_controlling": controlling,
        "use_ipv4": True,
        "use_ipv6": options.use_ipv6,
        "transport_policy": aioice.TransportPolicy.RELAY if relay_only else aioice.TransportPolicy.ALL,
    }
    addr = (server.host, server.port)
    if server.is_turn:
        kwargs.update(turn_server=addr, turn_username=server.username, turn_password=server.password,
                      turn_transport="tcp" if server.scheme == "turns" else server.transport)
        if server.scheme == "turns":
            kwargs["turn_ssl"] = options.ssl_context or ssl.create_default_context()
        # A TURN server answers STUN Binding on its UDP port too (RFC 8656 §3): the full agent also asks it
        # for a server-reflexive candidate, as browsers derive one from the TURN server.
        if not relay_only and server.scheme == "turn" and server.transport == "udp":
            kwargs["stun_server"] = addr
    else:
        kwargs["stun_server"] = addr
    agent = _agent_factory()(**kwargs)
    agent.gather_timeout_s = options.gather_timeout_s
    return agent


def _candidate_info(agent_name: str, cand: Any, server: IceServer) -> CandidateInfo:
    kind = CandidateType(cand.type)
    return CandidateInfo(
        agent=agent_name, type=kind, foundation=cand.foundation, component=cand.component,
        protocol=cand.transport.lower(), address=cand.host, port=cand.port, priority=cand.priority,
        related_address=cand.related_address, related_port=cand.related_port,
        relay_protocol=server.relay_protocol if kind is CandidateType.RELAY else None,
        url=None if kind is CandidateType.HOST else server.url,
    )


async def _gather(agent: Any, log: _GatherLog, spawned: set[asyncio.Task[Any]]) -> None:
    _gather_log.set(log)  # this task's own context: seen by aioice's subtasks only
    _gather_tasks.set(spawned)
    await agent.gather_candidates()


async def _stop_spawned(spawned: set[asyncio.Task[Any]]) -> None:
    """Cancel the server tasks aioice left running (see ``_gather_tasks``) and wait for them to end."""
    pending = [task for task in spawned if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
    for task in spawned:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: aioice already recorded what went wrong


def _selected(agent: Any) -> SelectedPair | None:
    nominated = getattr(agent, "_nominated", {}) or {}
    pair = nominated.get(1)
    if pair is None:
        return None
    local = pair.local_candidate
    remote = pair.remote_candidate
    return SelectedPair(local_type=CandidateType(local.type), local=f"{local.host}:{local.port}",
                        remote_type=CandidateType(remote.type), remote=f"{remote.host}:{remote.port}")


_MAX_STAMPS = 256  # arrival times kept per agent (one per packet in flight)


def _stamp_arrivals(agent: Any) -> dict[bytes, float]:
    """Note when each datagram reached ``agent`` (aioice ``Connection.data_received``, called as the socket
    is read) by content; bounded."""
    arrived: dict[bytes, float] = {}
    original = agent.data_received

    def data_received(data: bytes, component: int) -> None:
        if len(arrived) < _MAX_STAMPS:
            arrived[data] = time.monotonic()
        original(data, component)

    agent.data_received = data_received
    return arrived


async def _exchange(a: Any, b: Any, run: IceRun, options: IceOptions, deadline: float) -> None:
    """Echo ``packets`` datagrams a -> b -> a over the selected pair; count bytes, measure RTT.

    Both agents run on this (possibly busy) event loop: a reply's arrival is noted in the callback that read
    it from the socket, and the time the echo waited in ``b`` is taken out, so the RTT is the path's."""
    arrived_a = _stamp_arrivals(a)
    arrived_b = _stamp_arrivals(b)
    held: dict[bytes, float] = {}

    async def echo() -> None:
        while True:
            data = await b.recv()
            came = arrived_b.pop(data, None)
            if came is not None and len(held) < _MAX_STAMPS:
                held[data] = time.monotonic() - came
            await b.send(data)

    echo_task = asyncio.create_task(echo())
    try:
        for seq in range(options.packets):
            payload = seq.to_bytes(4, "big") + bytes(max(options.payload_size - 4, 0))
            sent_at = time.monotonic()
            await a.send(payload)
            run.packets_sent += 1
            run.bytes_sent += len(payload)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                reply = await asyncio.wait_for(a.recv(), timeout=min(remaining, 1.0))
            except (TimeoutError, ConnectionError):
                continue
            if reply == payload:
                run.packets_received += 1
                run.bytes_received += len(reply)
                came = arrived_a.pop(reply, time.monotonic())
                run.rtts_ms.append(round(max(came - sent_at - held.pop(reply, 0.0), 0.0) * 1000.0, 2))
    finally:
        echo_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await echo_task


def _retrieved(future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    """``future`` with its outcome always retrieved: a gather under ``wait_for`` that is cancelled (Ctrl-C,
    SIGTERM) ends with a CancelledError nobody reads, which asyncio logs at exit as "_GatheringFuture
    exception was never retrieved" with a traceback."""
    def retrieve(done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            done.exception()

    future.add_done_callback(retrieve)
    return future


async def _close_all(agents: list[Any]) -> None:
    # Closing deletes the TURN allocations (Refresh LIFETIME=0, RFC 8656 §7.3); shield it from Ctrl-C.
    await asyncio.shield(asyncio.gather(*(agent.close() for agent in agents), return_exceptions=True))


async def probe_server(server: IceServer, options: IceOptions | None = None) -> IceRun:
    """Gather (and for TURN: connect and exchange data) through one server URL."""
    options = options or IceOptions()
    _install_hooks()
    register_secret(server.password)
    run = IceRun(url=server.url, server_host=server.host, scheme=server.scheme,
                 relay_protocol=server.relay_protocol, agents=[], port=server.port)
    agents: list[tuple[str, Any]] = []
    start = time.monotonic()
    try:
        if server.is_turn:
            full_name = "relay-only-a" if options.relay_only else "full"
            agents.append((full_name, _make_agent(server, True, options.relay_only, options)))
            agents.append(("relay-only", _make_agent(server, False, True, options)))
        else:
            agents.append(("full", _make_agent(server, True, False, options)))
        run.agents = [name for name, _ in agents]
        await _run_agents(server, options, run, agents, start)
    except (OSError, ValueError, ConnectionError) as exc:
        run.error_kind, run.error = _describe(exc)
    finally:
        if agents:
            await _close_all([agent for _, agent in agents])
        run.duration_ms = _ms(start)
    return run


async def _run_agents(server: IceServer, options: IceOptions, run: IceRun,
                      agents: list[tuple[str, Any]], start: float) -> None:
    logs: list[_GatherLog] = [[] for _ in agents]
    spawned: set[asyncio.Task[Any]] = set()
    gather = _retrieved(asyncio.gather(*(_gather(agent, log, spawned)
                                         for (_, agent), log in zip(agents, logs, strict=True))))
    try:
        # aioice bounds each server by gather_timeout_s itself; this is a safety net only.
        await asyncio.wait_for(gather, timeout=options.gather_timeout_s + 2.0)
    except TimeoutError:
        run.gather_events.append(GatherEvent(agent="*", type="*", ms=_ms(start),
                                             error="gathering did not finish in time", kind="timeout"))
    finally:
        await _stop_spawned(spawned)
    run.gather_ms = _ms(start)
    starts: list[float] = []
    for (name, agent), log in zip(agents, logs, strict=True):
        for kind, when, error in log:
            if kind == "start":
                starts.append(_ms(start, when))
                continue
            run.gather_events.append(GatherEvent(agent=name, type=kind, ms=_ms(start, when),
                                                 error=error[1] if error else None,
                                                 kind=error[0] if error else None))
        for cand in agent.local_candidates:
            run.candidates.append(_candidate_info(name, cand, server))
    for event in sorted(run.gather_events, key=lambda e: e.ms):
        if event.error is None and event.type in tuple(CandidateType):
            run.first_candidate_ms.setdefault(event.type, event.ms)
    if any(c.type is CandidateType.HOST for c in run.candidates):
        # Host candidates exist as soon as the sockets are bound, before any server is asked.
        run.first_candidate_ms["host"] = min(starts, default=run.gather_ms)

    if len(agents) < 2:
        return
    (_, a), (_, b) = agents
    if not a.local_candidates or not b.local_candidates:
        run.ice_error = "no candidates to pair: " + ("the relay-only agent has no relay candidate"
                                                     if not b.local_candidates else "the full agent has none")
        return
    # The signalling channel: swap ufrag/pwd and candidates, then end-of-candidates (RFC 8838 §13).
    for local, remote in ((a, b), (b, a)):
        local.remote_username = remote.local_username
        local.remote_password = remote.local_password
        for cand in remote.local_candidates:
            await local.add_remote_candidate(cand)
        await local.add_remote_candidate(None)
    run.attempted_connect = True
    try:
        await asyncio.wait_for(_retrieved(asyncio.gather(a.connect(), b.connect())),
                               timeout=options.connect_timeout_s)
    except TimeoutError:
        run.ice_error = f"connectivity checks did not complete within {options.connect_timeout_s:g} s"
        return
    except ConnectionError as exc:
        run.ice_error = str(exc) or "ICE negotiation failed"
        return
    run.connected = True
    run.connect_ms = _ms(start)
    run.selected_pair = _selected(a)
    run.relay_only_pair = _selected(b)
    await _exchange(a, b, run, options, deadline=time.monotonic() + max(options.connect_timeout_s, 1.0))


async def probe(servers: list[IceServer], options: IceOptions | None = None) -> IceResult:
    """Probe every server URL concurrently."""
    options = options or IceOptions()
    start = time.monotonic()
    # Interrupted (Ctrl-C, SIGTERM): the URLs that had finished (rtcdiag.interrupt.finished).
    runs = await interrupt.finished([slots.limited(slots.ICE_FDS, probe_server, server, options)
                                     for server in servers], [server.url for server in servers])
    return IceResult(relay_only=options.relay_only, runs=list(runs), duration_ms=_ms(start))
