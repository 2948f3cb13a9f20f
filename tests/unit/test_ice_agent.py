"""The aioice agent subclass of the ICE probe: RFC 8445 §7.3.1.4 triggered checks (no network, no timing)."""

from __future__ import annotations

import asyncio
from typing import Any

from aioice import stun
from aioice.candidate import Candidate
from aioice.ice import CandidatePair

from rtcdiag.probes import ice

REMOTE = ("127.0.0.1", 50002)


class _Transaction:
    """What the agent reads of an aioice transaction in flight (name-mangled private attributes)."""

    def __init__(self, request: stun.Message, addr: tuple[str, int]) -> None:
        self._Transaction__request = request
        self._Transaction__addr = addr


class _Protocol:
    """A StunProtocol stand-in: its local candidate, transactions in flight, and what was sent."""

    def __init__(self) -> None:
        self.local_candidate = Candidate(foundation="l", component=1, transport="udp", priority=1,
                                         host="127.0.0.1", port=50001, type="relay")
        self.transactions: dict[bytes, Any] = {}
        self.sent: list[tuple[stun.Message, tuple[str, int]]] = []

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        self.sent.append((message, addr))


def _agent_with_pair(state: CandidatePair.State) -> tuple[Any, _Protocol, CandidatePair, stun.Message]:
    agent = ice._agent_factory()(ice_controlling=False)
    protocol = _Protocol()
    remote = Candidate(foundation="r", component=1, transport="udp", priority=1, host=REMOTE[0],
                       port=REMOTE[1], type="relay")
    agent._remote_candidates.append(remote)
    pair = CandidatePair(protocol, remote)  # type: ignore[arg-type]
    pair.state = state
    agent._check_list.append(pair)
    our_check = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    protocol.transactions[our_check.transaction_id] = _Transaction(our_check, REMOTE)
    return agent, protocol, pair, our_check


def _their_check() -> stun.Message:
    message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    message.attributes["PRIORITY"] = 1
    return message


def test_a_check_received_while_ours_is_in_progress_sends_ours_again_at_once() -> None:
    """Ours may have been dropped (e.g. by a TURN server before the peer's permission existed): it is sent
    again now, in the same transaction, instead of after aioice's 500 ms retransmission timeout."""
    agent, protocol, pair, our_check = _agent_with_pair(CandidatePair.State.IN_PROGRESS)
    agent.check_incoming(_their_check(), REMOTE, protocol)
    assert protocol.sent == [(our_check, REMOTE)]
    assert pair.state is CandidatePair.State.IN_PROGRESS and pair.task is None


def test_no_check_in_progress_nothing_is_sent_again() -> None:
    async def go() -> None:
        agent, protocol, pair, _ = _agent_with_pair(CandidatePair.State.SUCCEEDED)
        agent.check_incoming(_their_check(), REMOTE, protocol)
        assert protocol.sent == [] and pair.state is CandidatePair.State.SUCCEEDED

    asyncio.run(go())
