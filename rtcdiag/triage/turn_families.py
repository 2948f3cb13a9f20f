"""Relay families (RFC 8656 §7.1, §7.2): allocate, relay-address and both data paths once per family asked
for, the second family of a dual allocation judged on its own."""

from __future__ import annotations

from dataclasses import replace

from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    FamilyRelay,
    RelayFamily,
    TransportResult,
)
from rtcdiag.triage import ids
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_allocate import judge_allocate
from rtcdiag.triage.turn_data_path import data_rule
from rtcdiag.triage.turn_errors import family_error_id
from rtcdiag.triage.turn_exchanges import (
    AUTH_STEP,
    FAMILY_STEPS,
    FAMILY_SUFFIX,
    describe_exchange,
    exchanges_of,
    reason_text,
    retried_note,
    rtt_s,
)
from rtcdiag.triage.turn_leg import Leg, Rule, run_rules
from rtcdiag.triage.turn_relay_address import judge_relay_address

# The steps judged once per relay family, in order (FAMILY_STEPS).
FAMILY_RULES: tuple[tuple[str, Rule], ...] = (
    ("allocate", judge_allocate),
    ("relay-address", judge_relay_address),
    ("data-" + METHOD_INDICATION, data_rule(METHOD_INDICATION)),
    ("data-" + METHOD_CHANNEL, data_rule(METHOD_CHANNEL)),
)
assert tuple(step for step, _ in FAMILY_RULES) == FAMILY_STEPS


def _family_view(t: TransportResult, relay: FamilyRelay) -> TransportResult:
    """``t`` as the rules of one relay family see it: that family's relay, data paths and transactions."""
    return replace(t, allocated=relay.relayed_address is not None, relayed_address=relay.relayed_address,
                   relayed_ip=relay.relayed_ip, relay_scope=relay.relay_scope,
                   data_paths=[d for d in t.data_paths if d.family == relay.family],
                   steps=relay.steps if relay.separate else t.steps)


def judge_families(leg: Leg) -> None:
    """allocate, relay-address and both data paths once per relay family asked for; the first family is
    the one the top-level fields describe (judged by the plain rules unless an ADDRESS-ERROR-CODE says it
    failed inside a successful dual allocation)."""
    t = leg.t
    relays = [r for r in t.relays if r.asked] or [FamilyRelay(RelayFamily.IPV4)]
    connection_blocked = leg.blocked
    for index, relay in enumerate(relays):
        primary = index == 0
        fleg = replace(leg, t=t if primary else _family_view(t, relay), suffix=FAMILY_SUFFIX[relay.family])
        if relay.separate:
            fleg.blocked = connection_blocked  # its own allocation: judged even when the dual one failed
        if fleg.blocked is not None or (primary and not (t.allocated and relay.error_code is not None)):
            run_rules(fleg, FAMILY_RULES)  # the plain rules (or every step skipped with the reason)
        else:
            _family_allocate(fleg, relay)
            run_rules(fleg, FAMILY_RULES[1:])
        if primary and fleg.blocked is not None and (not t.allocated or fleg.stopped is not None):
            leg.stop(fleg.blocked)  # refresh (and the other families of this allocation) cannot run


def _family_allocate(leg: Leg, relay: FamilyRelay) -> None:
    """The ``allocate`` step of a relay family that the plain rule cannot judge: the second family of a dual
    allocation (RFC 8656 §7.2: its own XOR-RELAYED-ADDRESS or ADDRESS-ERROR-CODE), or a separate allocation
    made because the server ignored ADDITIONAL-ADDRESS-FAMILY."""
    t = leg.t
    label = relay.family.label
    asked = f"{relay.requested_with} {label}" if relay.requested_with else f"{label} (the default)"
    exchanges = relay.steps if relay.separate else exchanges_of(t, AUTH_STEP)
    duration = rtt_s(ex for ex in exchanges if ex.step.startswith("allocate"))
    evidence = [describe_exchange(ex) for ex in (relay.steps if relay.separate else t.steps)]
    if relay.separate:
        got = relay.relayed_address or (f"answered {relay.error_code}{reason_text(relay.error_reason)}"
                                        if relay.error_code is not None else relay.error or "no relay")
        leg.add("allocate", ids.TURN_DUAL_ALLOCATION_IGNORED, f"REQUESTED-ADDRESS-FAMILY {label}: {got}",
                evidence)
    if relay.relayed_address is not None:
        how = f"a separate allocation ({asked})" if relay.separate else f"the dual allocation ({asked})"
        leg.outcome("allocate", f"{label} relay {relay.relayed_address} from {how}{retried_note(exchanges)}",
                    duration)
        return
    if relay.error_code is not None:
        where = "separate Allocate request" if relay.separate else \
            f"Allocate request: its ADDRESS-ERROR-CODE for {label} says"
        reason = reason_text(relay.error_reason)
        finding_id = family_error_id(relay.error_code, relay)
        detail = f"{where} ({asked})" if finding_id != ids.TURN_ERROR_OTHER else \
            f"{where} ({asked}) {relay.error_code}{reason}"
        leg.add("allocate", finding_id, detail, evidence)
        leg.outcome("allocate", f"no {label} relay: {relay.error_code}{reason}", duration)
        leg.stop(f"no {label} relay: {relay.error_code}{reason}")
        return
    if relay.error is not None:
        leg.add("allocate", ids.TURN_ALLOCATE_TIMEOUT, f"separate Allocate request ({asked}): {relay.error}",
                evidence)
        leg.outcome("allocate", f"no {label} relay: {relay.error}", duration)
        leg.stop(f"no {label} relay: {relay.error}")
        return
    why = f"the Allocate success has no {label} XOR-RELAYED-ADDRESS and no ADDRESS-ERROR-CODE for it"
    leg.outcome("allocate", why, duration, state=StepState.UNDECIDED)
    leg.stop(f"no {label} relay")
