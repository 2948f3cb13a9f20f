"""The ``relay-address`` step of the TURN check: the scope of XOR-RELAYED-ADDRESS (RFC 8656 §6)."""

from __future__ import annotations

from rtcdiag.addresses import PUBLIC_LIKE as PUBLIC_LIKE_SCOPES
from rtcdiag.addresses import AddressScope, reachable_from
from rtcdiag.triage import ids
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_exchanges import parse_scope
from rtcdiag.triage.turn_leg import Leg


def judge_relay_address(leg: Leg) -> None:
    t, result = leg.t, leg.result
    if not t.allocated:
        leg.outcome("relay-address", "no allocation", state=StepState.SKIPPED)
        leg.stop("no allocation")
        return
    if t.relayed_address is None or t.relayed_ip is None:
        leg.outcome("relay-address", "the Allocate success has no XOR-RELAYED-ADDRESS",
                    state=StepState.UNDECIDED)
        leg.stop("no relayed address in the Allocate success")
        return
    relay, server = parse_scope(t.relay_scope), parse_scope(result.server_scope)
    if relay is not None and relay is not AddressScope.PUBLIC:
        # RFC 8656 §6: peers and clients must reach the relayed address from where they reach the server.
        reachable = server is None or reachable_from(relay, server)
        detail = f"{t.relayed_address} ({relay.value})"
        evidence = [f"relayed address {t.relayed_address} is {relay.value}; server {t.server} is "
                    f"{server.value if server else 'unknown'}"]
        if not reachable:
            leg.add("relay-address", ids.TURN_RELAY_PRIVATE, detail, evidence)
        elif server is not None and server not in PUBLIC_LIKE_SCOPES:
            leg.add("relay-address", ids.TURN_RELAY_LOCAL, detail, evidence)
    leg.outcome("relay-address", f"relay {t.relayed_address} ({t.relay_scope or 'unknown scope'})")
