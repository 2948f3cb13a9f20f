"""The allocations this run holds, per server and user: so that they never cost each other a 486.

A TURN server counts allocations per user (coturn ``user-quota``) and in all (``total-quota``), and coturn
frees a released allocation only on its next timer tick (measured: about one second after the Refresh with
LIFETIME=0 was answered). So the transports of one ``turn-check`` (or the servers of one ``check``, or a
dual allocation's separate one) under one user, run concurrently, can be refused 486 because of each other;
and two runs a fraction of a second apart (two CI jobs) because of the other's just-released allocation.

Transports keep running concurrently (a server with room for them all pays nothing). A 486 (RFC 8656 §19:
Allocation Quota Reached) is answered here: the leg waits until this run holds no other allocation under the
same user on that server, then until :data:`RELEASE_DELAY_S` after the last of them was released (or after
the 486, when another process may just have released one), takes the turn (a reservation, so legs retrying
together go one after the other), and retries the Allocate once. Only a 486 that persists is reported, with
how many allocations this run itself held when it came.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

# coturn frees a released allocation on its 1 s timer: one tick, and a margin for scheduling.
RELEASE_DELAY_S = 1.2

# How long after its release an allocation of this run may still be counted by the server (a 486 meeting it
# is of this run's own making): a few ticks, for a server slowed by load.
COUNTED_AFTER_RELEASE_S = 3 * RELEASE_DELAY_S
MAX_RECENT = 64  # releases remembered per key (bounded: a run of many servers under one user)

Key = tuple[str, str]  # (server IP, user name): what a user quota counts


@dataclass
class _Ledger:
    condition: asyncio.Condition = field(default_factory=asyncio.Condition)
    held: dict[Key, int] = field(default_factory=dict)  # live allocations (and reservations) of this run
    released_at: dict[Key, float] = field(default_factory=dict)  # event-loop time of the last release
    recent: dict[Key, list[float]] = field(default_factory=dict)  # releases the server may not have freed yet


_LEDGERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Ledger] = weakref.WeakKeyDictionary()


def _ledger() -> _Ledger:
    loop = asyncio.get_running_loop()
    ledger = _LEDGERS.get(loop)
    if ledger is None:
        ledger = _LEDGERS[loop] = _Ledger()
    return ledger


def held(key: Key) -> int:
    """How many allocations (and reservations) this run holds under ``key`` now."""
    return _ledger().held.get(key, 0)


def counted(key: Key) -> int:
    """How many of this run's allocations the server may count under ``key`` now: those it holds, and those
    released within :data:`COUNTED_AFTER_RELEASE_S` (the server frees them on its next timer tick, later on a
    busy server). What a 486 is told it met."""
    ledger = _ledger()
    now = asyncio.get_running_loop().time()
    recent = [t for t in ledger.recent.get(key, []) if now - t < COUNTED_AFTER_RELEASE_S]
    ledger.recent[key] = recent
    return ledger.held.get(key, 0) + len(recent)


def allocated(key: Key) -> None:
    """An allocation under ``key`` was made (or a reservation taken)."""
    ledger = _ledger()
    ledger.held[key] = ledger.held.get(key, 0) + 1


async def released(key: Key, *, freed: bool = True) -> None:
    """An allocation under ``key`` was released (``freed``: the server was told, its timer now runs), or a
    reservation that allocated nothing was given back (``freed=False``)."""
    ledger = _ledger()
    async with ledger.condition:
        ledger.held[key] = max(0, ledger.held.get(key, 0) - 1)
        if freed:
            now = asyncio.get_running_loop().time()
            ledger.released_at[key] = now
            recent = [t for t in ledger.recent.get(key, []) if now - t < COUNTED_AFTER_RELEASE_S]
            ledger.recent[key] = [*recent, now][-MAX_RECENT:]
        ledger.condition.notify_all()


async def take_turn(key: Key, refused_at: float, deadline: float) -> bool:
    """After a 486 at ``refused_at`` (event-loop time): wait until this run holds nothing under ``key`` and
    :data:`RELEASE_DELAY_S` has passed since the last release (this run's, or one the server may just have
    seen from elsewhere: the 486 itself), then reserve the turn (:func:`allocated`) and return True. False
    when ``deadline`` (event-loop time) comes first: then nothing is reserved."""
    ledger = _ledger()
    loop = asyncio.get_running_loop()
    async with ledger.condition:
        while True:
            now = loop.time()
            if ledger.held.get(key, 0) == 0:
                ready = max(refused_at, ledger.released_at.get(key, refused_at)) + RELEASE_DELAY_S
                if now >= ready:
                    ledger.held[key] = 1
                    return True
                wait = min(ready, deadline) - now
            else:
                wait = deadline - now
            if now >= deadline:
                return False
            try:
                await asyncio.wait_for(ledger.condition.wait(), max(wait, 0.0))
            except TimeoutError:
                if loop.time() >= deadline:
                    return False
