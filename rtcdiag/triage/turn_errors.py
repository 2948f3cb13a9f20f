"""A TURN error response -> its finding: RFC 8656 §19 / RFC 8489 §14.8 / RFC 6062 §6.3 codes, the
family errors (440, 443) and the quota note of a 486."""

from __future__ import annotations

from collections.abc import Sequence

from rtcdiag.probes.record import Exchange
from rtcdiag.probes.turn_result import FamilyRelay, RelayFamily
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.turn_credentials import realm_detail
from rtcdiag.triage.turn_exchanges import describe_exchange
from rtcdiag.triage.turn_leg import Leg

# RFC 8656 §19 / RFC 8489 §14.8 / RFC 6062 §6.3: error code -> catalogue id.
ERROR_CODE_FINDINGS: dict[int, str] = {
    400: ids.TURN_BAD_REQUEST_400,
    401: ids.TURN_AUTH_401,
    403: ids.TURN_FORBIDDEN_403,
    420: ids.TURN_UNKNOWN_ATTR_420,
    437: ids.TURN_MISMATCH_437,
    438: ids.TURN_STALE_NONCE_438,
    440: ids.TURN_FAMILY_440,
    441: ids.TURN_AUTH_441,
    442: ids.TURN_TRANSPORT_442,
    443: ids.TURN_FAMILY_443,
    446: ids.TURN_CONNECTION_446,
    447: ids.TURN_CONNECTION_447,
    486: ids.TURN_QUOTA_486,
    508: ids.TURN_CAPACITY_508,
}


def family_error_id(code: int, relay: FamilyRelay | None) -> str:
    """440 to an Allocate that asked for IPv4 by default (no attribute: what a browser sends) means the
    server has no IPv4 relay; a 440 to a family we did ask for is TURN-FAMILY-440."""
    default_ipv4 = relay is not None and relay.family is RelayFamily.IPV4 and relay.requested_with is None
    if code == 440 and default_ipv4:
        return ids.TURN_NO_IPV4_RELAY
    return ERROR_CODE_FINDINGS.get(code, ids.TURN_ERROR_OTHER)


def asked_families(relays: Sequence[FamilyRelay]) -> str:
    """What the Allocate asked for, e.g. ``REQUESTED-ADDRESS-FAMILY IPv6``."""
    asked = [f"{r.requested_with} {r.family.label}" for r in relays if r.asked and r.requested_with]
    return ", ".join(asked) or "IPv4 by default, no family attribute"


def report_error_code(leg: Leg, step: str, final: Exchange) -> None:
    t = leg.t
    code = final.error_code or t.error_code or 0
    request = t.error_step or ("unauthenticated Allocate request" if step == "challenge"
                               else "authenticated Allocate request")
    reason = f" ({echo(t.error_reason)})" if t.error_reason else ""
    finding_id = ids.TURN_REST_EXPIRED if code == 401 and leg.rest_expired and step == "allocate" else \
        family_error_id(code, t.relays[0] if t.relays and step == "allocate" else None)
    if finding_id == ids.TURN_UNKNOWN_ATTR_420:
        detail = f"{request} was answered 420: unknown attributes {', '.join(t.unknown_attributes) or '?'}"
    elif finding_id == ids.TURN_ERROR_OTHER:
        detail = f"{request} was answered {code}{reason}"
    elif finding_id in (ids.TURN_AUTH_401, ids.TURN_AUTH_441):
        detail = realm_detail(t)
    elif finding_id == ids.TURN_FAMILY_440 and step == "allocate" and t.relays:
        detail = f"{request} ({asked_families(t.relays)})"
    elif finding_id == ids.TURN_QUOTA_486 and t.quota_own_held is not None:
        detail = f"{request}{quota_note(t.quota_own_held, t.quota_retry_after_s)}"
    else:
        detail = request
    evidence = [describe_exchange(ex) for ex in t.steps]
    if t.userhash_error:
        evidence.append(t.userhash_error)
    if finding_id == ids.TURN_REST_EXPIRED:
        evidence.insert(0, f"server answered 401 over {t.transport.upper()}")
    leg.add(step, finding_id, detail, evidence)


def quota_note(own: int, retry_after_s: float | None) -> str:
    """Whether rtcdiag itself held allocations under this user when the 486 came, and the one retry."""
    held = (f"after rtcdiag released the {own} allocation(s) it held itself under this user on this server"
            if own else "rtcdiag itself held no allocation under this user on this server")
    if retry_after_s is None:
        return f" ({held.replace('after rtcdiag released', 'rtcdiag held')}, not released in time to retry)"
    return f" (and its one retry {retry_after_s:g} s later, {held})"
