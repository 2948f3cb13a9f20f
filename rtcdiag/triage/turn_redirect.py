"""A 300 Try Alternate (RFC 8489 §10): where it pointed, what rtcdiag did, and whether the leg stops there."""

from __future__ import annotations

from rtcdiag.probes.record import Exchange, Redirect
from rtcdiag.probes.turn_result import TransportResult
from rtcdiag.triage import ids
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_exchanges import describe_exchange
from rtcdiag.triage.turn_leg import Leg


def redirect_text(t: TransportResult) -> str:
    """Where a 300 pointed, its scope and what rtcdiag did (the detail of the redirect findings)."""
    where = f"{t.alternate_server} ({t.alternate_scope})" if t.alternate_scope else f"{t.alternate_server}"
    done = {Redirect.FOLLOWED: "followed once",
            Redirect.REFUSED: f"not followed: {t.redirect_detail}",
            Redirect.NOT_FOLLOWED: "not followed (--no-follow)",
            Redirect.CREDENTIALS_WITHHELD: f"followed, but credentials withheld: {t.redirect_detail}"}
    return f"{where}, {done.get(t.redirect, 'followed once') if t.redirect else 'not followed'}"


def report_redirect(leg: Leg, step: str, exchanges: list[Exchange], duration: float) -> bool:
    """Report a 300 Try Alternate among ``exchanges`` (always, RFC 8489 §10); True when the leg stops here
    (the redirect was refused or --no-follow)."""
    t = leg.t
    if t.alternate_server is None or not any(ex.error_code == 300 for ex in exchanges):
        return False
    evidence = [describe_exchange(ex) for ex in exchanges]
    if t.redirect is Redirect.LOOP:  # RFC 8489 §10: not back to a server the request already went to
        leg.add(step, ids.REDIRECT_LOOP, t.redirect_detail or "?", evidence, server=t.server)
        leg.outcome(step, f"redirect loop {t.redirect_detail}: not followed", duration)
        leg.stop(f"the redirects loop ({t.redirect_detail}): no server of the loop allocates")
        return True
    if t.redirect is Redirect.AGAIN:
        leg.add(step, ids.TURN_ALTERNATE_SERVER,
                f"{t.alternate_server} ({t.alternate_scope}), followed once; "
                f"{t.redirect_detail}", evidence)
        leg.outcome(step, t.redirect_detail or "redirected again", duration, state=StepState.UNDECIDED)
        leg.stop(f"a second redirect was not followed: {t.redirect_detail}")
        return True
    if t.redirect is Redirect.REFUSED:
        leg.add(step, ids.REDIRECT_REFUSED, redirect_text(t), evidence)
        leg.outcome(step, f"redirected to {t.alternate_server}: not followed ({t.redirect_detail})", duration)
        leg.stop(f"the redirect to {t.alternate_server} was not followed: {t.redirect_detail}")
        return True
    if t.redirect is not Redirect.CREDENTIALS_WITHHELD:  # that one has its own finding (challenge step)
        leg.add(step, ids.TURN_ALTERNATE_SERVER, redirect_text(t), evidence)
    if t.redirect is Redirect.NOT_FOLLOWED:
        leg.outcome(step, f"redirected to {t.alternate_server}; not followed (--no-follow)", duration,
                    state=StepState.UNDECIDED)
        leg.stop(f"--no-follow: the redirect to {t.alternate_server} was not followed")
        return True
    return False
