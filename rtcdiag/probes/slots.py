"""How many probes run at once: a cap on targets in flight and on the file descriptors they hold.

Every probe of one target (a Binding to one server, one TURN transport, one ICE server, one port) takes a
slot for as long as it holds sockets::

    async with slots.slot(cost=slots.TURN_LEG_FDS):
        ...

At most ``concurrency`` slots are taken at once (``--concurrency N``, default :data:`DEFAULT_CONCURRENCY`),
and the descriptors they may hold together (each slot's ``cost``) stay within what this process may still
open (RLIMIT_NOFILE, getrlimit(2), minus those already open and a reserve), so that many targets never end in
``Too many open files``. Slots are granted first come, first served. Only a probe that holds no other slot
takes one (no nesting, so no deadlock).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ParamSpec, TypeVar

DEFAULT_CONCURRENCY = 32  # targets in flight
MAX_CONCURRENCY = 4096
RESERVE_FDS = 32  # descriptors kept free for everything else (stdio, DNS, report files, the selector)
# Descriptors one probe holds at most, by kind.
BINDING_FDS = 1  # one UDP socket or TCP/TLS connection
PORT_FDS = 3  # a TLS port: the connect test, the certificate inspection and a Binding over TLS
TURN_LEG_FDS = 4  # control connection, echo peer, the source-address lookup, a 437 retry
ICE_FDS = 12  # two aioice agents: host sockets per interface and family, TURN connections

_concurrency = DEFAULT_CONCURRENCY


def set_concurrency(concurrency: int) -> None:
    """The cap for runs started from now on (a command calls this before its event loop starts)."""
    global _concurrency
    _concurrency = max(1, min(int(concurrency), MAX_CONCURRENCY))


def get_concurrency() -> int:
    return _concurrency


def descriptor_budget(reserve: int = RESERVE_FDS) -> int:
    """Descriptors this process may still open: RLIMIT_NOFILE's soft limit minus those open now and
    ``reserve`` (at least 1; a large number where the limit cannot be read)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1 << 20
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 16
    return max(1, int(soft) - in_use - reserve)


class Limiter:
    """At most ``slots`` holders at once, together holding at most ``descriptors`` (first come, first
    served; a slot that costs more than the whole budget is granted when nothing else runs)."""

    def __init__(self, slots: int, descriptors: int) -> None:
        self.slots = max(1, slots)
        self.descriptors = max(1, descriptors)
        self.busy = 0  # slots taken
        self.used = 0  # descriptors they may hold
        self.peak = 0  # most slots taken at once
        self._waiters: deque[tuple[asyncio.Future[None], int]] = deque()

    def _fits(self, cost: int) -> bool:
        return self.busy == 0 or (self.busy < self.slots and self.used + cost <= self.descriptors)

    def _take(self, cost: int) -> None:
        self.busy += 1
        self.used += cost
        self.peak = max(self.peak, self.busy)

    def release(self, cost: int) -> None:
        self.busy -= 1
        self.used -= cost
        while self._waiters:
            future, wanted = self._waiters[0]
            if future.done():  # its task was cancelled while waiting
                self._waiters.popleft()
                continue
            if not self._fits(wanted):
                break
            self._waiters.popleft()
            self._take(wanted)
            future.set_result(None)

    async def acquire(self, cost: int) -> None:
        if not self._waiters and self._fits(cost):
            self._take(cost)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, cost))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(cost)  # granted just as the task was cancelled: give it back
            raise


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limiter] = weakref.WeakKeyDictionary()


def limiter() -> Limiter:
    """The limiter of the running event loop (made on first use from the current settings)."""
    loop = asyncio.get_running_loop()
    current = _limiters.get(loop)
    if current is None:
        current = _limiters[loop] = Limiter(_concurrency, descriptor_budget())
    return current


@contextlib.asynccontextmanager
async def slot(cost: int = BINDING_FDS) -> AsyncIterator[None]:
    """Hold one slot (and ``cost`` descriptors of the budget) for the body."""
    current = limiter()
    await current.acquire(cost)
    try:
        yield
    finally:
        current.release(cost)


T = TypeVar("T")
P = ParamSpec("P")


async def limited(cost: int, probe: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """``await probe(*args, **kwargs)`` in a slot of ``cost`` descriptors (the coroutine is made only once
    the slot is granted)."""
    async with slot(cost):
        return await probe(*args, **kwargs)
