"""TURN credentials: where a refused credential comes from (the fix's lines) and the server-wide
``credentials`` step of a REST user name (``expiry:user``)."""

from __future__ import annotations

import re

from rtcdiag.probes.turn_result import TransportResult, TurnCheckResult
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.finding import make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome
from rtcdiag.triage.turn_exchanges import CHECK, subject

# A REST expiry further ahead than this is suspicious (ms instead of s, clock skew, endless TTL).
REST_SKEW_LIMIT_S = 7 * 86400


CREDENTIAL_REFUSED = frozenset({ids.TURN_AUTH_401, ids.TURN_AUTH_441})
_SHELL_SAFE = re.compile(r"[\w.@+-]+")  # a user name that needs no quoting inside '...'  (no ' or \)


def credential_lines(result: TurnCheckResult, realm: str | None) -> list[str]:
    """For a refused credential: where the user and password come from, and the line to look for on a coturn
    that keeps its users in turnserver.conf (``user=NAME:...``)."""
    user = result.username
    lines = [f"# user {echo(user) if user else '(none)'}: {credential_where(result)}"]
    if user and result.credential_kind == "long-term" and _SHELL_SAFE.fullmatch(user):
        # Only the user name is the outside value (masked as one); rtcdiag's words around it never are.
        realm_text = f" of realm {echo(repr(realm))}" if realm else ""
        lines += [f"# on the server: is {echo(user)} a user{realm_text}?",
                  f"grep -n '^user={echo(user)}:' /etc/turnserver.conf"]
    return lines


def credential_where(result: TurnCheckResult) -> str:
    """Where the credentials of ``result`` are written, for a fix: ``iceServers[1].credential in ice.json``
    (an RTCIceServer entry), the REST secret, or the password given to rtcdiag."""
    if result.entry is not None:
        source, _, entry = result.entry.rpartition(": ")
        return f"{echo(entry)}.username and .credential in {echo(source)}" if source else \
            f"{echo(entry)}.credential"
    if result.credential_kind == "rest":
        return "a REST credential made from the shared secret given (--secret*, $RTCDIAG_TURN_SECRET)"
    if result.credential_kind == "long-term":
        return "the password given to rtcdiag (--password-env, --password-file or $RTCDIAG_TURN_PASSWORD)"
    return "no credentials were given"


def realm_detail(t: TransportResult) -> str:
    """The realms of a 401/441: the server's and the one the password was hashed with (RFC 8489 §9.2.2)."""
    algorithm = f" ({t.auth_algorithm})" if t.auth_algorithm else ""
    hashed = t.hash_realm if t.hash_realm is not None else t.realm
    if hashed != t.realm:
        return f"(server realm {echo(repr(t.realm))}; the password was hashed{algorithm} with realm " \
               f"{echo(repr(hashed))} from " \
               "--realm, not with the server's)"
    return f"(server realm {echo(repr(t.realm))}; the password was hashed{algorithm} with the same realm " \
           f"{echo(repr(hashed))})"


# --- server-wide: REST credentials ---

def judge_rest(result: TurnCheckResult, out: Judgement) -> bool:
    """The ``credentials`` step of a REST user name (``expiry:user``); True when it has expired."""
    rest = result.rest
    if rest is None:
        return False
    subj = subject(result)
    detail = f"{echo(repr(rest.username))} (expiry {rest.expiry}, local clock {rest.local_time}, " \
             f"{rest.seconds_left:+d} s)"
    expired = rest.seconds_left <= 0
    if expired:
        out.findings.append(make_finding(ids.TURN_REST_EXPIRED, subj, check=CHECK, step="credentials",
                                         detail=detail,
                                         evidence=[f"expired {-rest.seconds_left} s ago by the local clock"]))
    elif not rest.generated and rest.seconds_left > REST_SKEW_LIMIT_S:
        out.findings.append(make_finding(ids.TURN_CLOCK_SKEW, subj, check=CHECK, step="credentials",
                                         detail=detail,
                                         evidence=[f"expires in {rest.seconds_left / 86400:.1f} days"]))
    made = "generated from the shared secret" if rest.generated else "as given"
    out.steps.append(StepOutcome(subj, CHECK, "credentials",
                                 detail=f"REST user name {echo(repr(rest.username))} ({made}), "
                                        f"{rest.seconds_left:+d} s to expiry by the local clock"))
    return expired
