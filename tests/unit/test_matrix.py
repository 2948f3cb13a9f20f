"""The ground-truth matrix of ``rtcdiag analyze`` (issue 19), judged from every evidence form of every call.

Each cell of tests/fixtures/matrix/ is one real call (tests/browser/matrix.py: Debian's headless Chromium
through a real coturn, in a network namespace of its own) with what really happened beside its evidence:
the page's own states, candidate errors, data-channel echoes and RTP counts, and coturn's log. The cell's
expected verdict was written down (``Cell.expect``) before the call was made; ``truth.json`` shows the call
really was that call (else the generator is broken, said as such). Every form is judged the way
``rtcdiag analyze --json FILE`` judges it (the command itself, in-process), and three claims are checked over
the whole matrix:

- zero false errors: every healthy cell passes (exit 0, warnings allowed) from every form;
- one right root per failing cell: exactly one error root-cause id (the same id from several connections
  or legs is one statement), naming the real cause, or "inconclusive" (exit 3) from a form that cannot
  see that cause (``EXPECTED``);
- agreement across forms: the dump, the rtcstats dump, the getStats file and the capture of one call give
  the same verdict or say inconclusive, never a contradiction.

The form "all" gives ``rtcdiag analyze`` every file of the call at once (one diagnosis from all the evidence
of a call): it must give the dump's verdict, or the correlated root that states the same cause with every
file's evidence (CORRELATE-*), once: the same refusal seen by the dump, the capture and coturn's log is one
statement.

``KNOWN_WRONG`` lists what is wrong today, cell by cell and form by form: what rtcdiag said and what really
happened. Those cases are strict xfails: a fix turns one into an XPASS, which fails until its entry is
removed.
A fix that states a cause under a new id adds that id to ``EXPECTED``.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.triage.catalogue import CATALOGUE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from matrix import (
    BY_NAME,
    CELLS,
    FILES,
    MATRIX,
    REST_SECRET,
    TURN_PASSWORD,
    TURN_USER,
    UNKNOWN_USER,
    WRONG_PASSWORD,
    Cause,
    Cell,
    Payload,
    Server,
    Verdict,
    analyze,
    load_truth,
    truth_problems,
)

AGREEING = ("dump", "rtcstats", "getstats", "capture")  # the forms of one call that must not contradict
ALL = "all"  # every file of the call in one run
MAX_MATRIX_BYTES = 8 * 1024 * 1024
MAX_CELL_BYTES = 1024 * 1024

PASS = "pass"  # exit 0, no error root cause (warnings allowed)
INCONCLUSIVE = "inconclusive"  # exit 3


@dataclass(frozen=True)
class Warn:
    """Exit 0 with this warning among the root causes (the call worked; the app did something wrong)."""

    id: str


@dataclass(frozen=True)
class Mentions:
    """One error root cause, any id of the form's family, whose statement names the cause (for causes no id
    states yet: e.g. a certificate the browser refused on a turns: server)."""

    pattern: str


Outcome = str | Warn | Mentions
_BLIND: frozenset[Outcome] = frozenset({PASS, INCONCLUSIVE})  # a coturn log that cannot see the cause


def _expect(dump: set[Outcome], getstats: set[Outcome], capture: set[Outcome],
            log: set[Outcome] | None = None, rtcstats: set[Outcome] | None = None,
            correlated: set[Outcome] | None = None) -> dict[str, frozenset[Outcome]]:
    """``correlated``: the root the files of the call together state for this cause (CORRELATE-*); the "all"
    form gives it or the dump's own."""
    out = {"dump": frozenset(dump), "rtcstats": frozenset(dump if rtcstats is None else rtcstats),
           "getstats": frozenset(getstats), "capture": frozenset(capture),
           "coturn-log": frozenset(_BLIND if log is None else log)}
    out[ALL] = out["dump"] | frozenset(correlated or ())
    return out


_EITHER_DTLS = "ANALYZE-DTLS-FAILED-AS-CLIENT"  # "a wrong fingerprint, or both sides DTLS client": says both

# What each form must say of each cause. A form that cannot see a cause says inconclusive (a caller's getStats
# has no icecandidateerror and no SDP; a capture has no getUserMedia or signalling); a coturn log that sees
# a healthy relay session where the failure was elsewhere may pass (it vouches for the TURN server only).
EXPECTED: dict[Cause, dict[str, frozenset[Outcome]]] = {
    Cause.HEALTHY: _expect({PASS}, {PASS}, {PASS}, {PASS}),
    Cause.TURN_AUTH: _expect({"ANALYZE-TURN-401"}, {INCONCLUSIVE}, {"CAPTURE-TURN-401-LOOP"},
                             {"COTURN-LOG-401"}, correlated={"CORRELATE-TURN-CREDENTIALS"}),
    Cause.TURN_QUOTA: _expect({"ANALYZE-TURN-486"}, {INCONCLUSIVE}, {"CAPTURE-TURN-486"},
                              {"COTURN-LOG-QUOTA"}),
    Cause.TURN_PEER_ACL: _expect({"ANALYZE-RELAY-REFUSED", "ANALYZE-TURN-403"},
                                 {"ANALYZE-RELAY-REFUSED", INCONCLUSIVE}, {"CAPTURE-TURN-403-PEER"},
                                 {"COTURN-LOG-403"}),
    Cause.TURN_CAPACITY: _expect({"ANALYZE-TURN-508"}, {INCONCLUSIVE}, {"CAPTURE-TURN-508"},
                                 {"COTURN-LOG-QUOTA"}),
    # UDP: ICMP port unreachable to every request; TCP: the SYN answered by RST.
    Cause.TURN_UNREACHABLE: _expect({"ANALYZE-TURN-UNREACHABLE"}, {INCONCLUSIVE},
                                    {"CAPTURE-TURN-UNANSWERED", "CAPTURE-TCP-REFUSED"},
                                    correlated={"CORRELATE-TURN-UNREACHABLE"}),
    # The server answered; the browser refused its certificate. A dump cannot tell that from a dead server
    # (Chromium says 701 either way): it must say both and name the check that decides (issue 19); the
    # capture holds the TLS alert; coturn's log holds TLS connections closed before any Allocate.
    # All the files of the call: the browser's 701, the capture's ServerHello and the browser's alert,
    # coturn's TLS connections closed before any request: the certificate, said once.
    Cause.TURN_TLS_REFUSED: _expect({Mentions("certificate")}, {INCONCLUSIVE}, {Mentions("certificate")},
                                    {INCONCLUSIVE, Mentions("certificate|TLS")},
                                    correlated={"CORRELATE-TURNS-TLS-REFUSED"}),
    # DTLS 1.3 encrypts the alert: a capture sees the handshake, then nothing over DTLS while ICE goes on
    # (DTLS did not complete, cause unreadable), or, when the call stopped at once, cannot tell a refusal from
    # a hang-up (inconclusive). A caller that was the DTLS client, alone, cannot tell a wrong fingerprint from
    # a role conflict: it says both (ANALYZE-DTLS-FAILED-AS-CLIENT).
    Cause.DTLS_FINGERPRINT: _expect({"ANALYZE-DTLS-FAILED"}, {"ANALYZE-DTLS-FAILED", _EITHER_DTLS},
                                    {"CAPTURE-DTLS-ALERT", "CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE",
                                     INCONCLUSIVE}),
    Cause.DTLS_BOTH_CLIENT: _expect({"ANALYZE-DTLS-ROLE-CONFLICT"},
                                    {"ANALYZE-DTLS-ROLE-CONFLICT", _EITHER_DTLS, INCONCLUSIVE},
                                    {"CAPTURE-DTLS-ROLE-CONFLICT"}),
    # Nobody sends a ClientHello: the capture shows ICE answered and no DTLS at all.
    Cause.DTLS_BOTH_SERVER: _expect({"ANALYZE-DTLS-STUCK"}, {"ANALYZE-DTLS-STUCK"},
                                    {"CAPTURE-DTLS-NOT-STARTED"}),
    Cause.SDP_GLARE: _expect({"ANALYZE-SDP-GLARE"}, {INCONCLUSIVE}, {INCONCLUSIVE}),
    Cause.SDP_ANSWER_TWICE: _expect({Warn("ANALYZE-SDP-WRONG-STATE-STABLE")}, {PASS}, {PASS}, {PASS}),
    Cause.GUM_NOT_FOUND: _expect({"ANALYZE-GUM-NOT-FOUND"}, {INCONCLUSIVE}, {INCONCLUSIVE}),
    Cause.GUM_NOT_ALLOWED: _expect({"ANALYZE-GUM-NOT-ALLOWED"}, {INCONCLUSIVE}, {INCONCLUSIVE}),
    Cause.GUM_OVERCONSTRAINED: _expect({"ANALYZE-GUM-OVERCONSTRAINED"}, {INCONCLUSIVE}, {INCONCLUSIVE}),
    Cause.NO_RELAY_CONFIGURED: _expect({"ANALYZE-RELAY-ONLY-NO-CANDIDATE"}, {INCONCLUSIVE}, {INCONCLUSIVE}),
    # The caller's own getStats samples show it connected, then disconnected and failed: the loss itself.
    Cause.CONNECTION_LOST: _expect({"ANALYZE-CONNECTION-LOST"}, {"ANALYZE-CONNECTION-LOST"},
                                   {"CAPTURE-ICE-CONSENT-LOST"}),
}

def _said(verdict: str, really: str, why: str = "") -> str:
    return f"says {verdict}; really {really}" + (f" ({why})" if why else "")


# What is wrong today: (cell, form) -> what rtcdiag said, what really happened, why (``_said``). (cell,
# "agree"): the forms of that call contradict each other (``_CONTRADICTIONS``). ("*", form): every cell of
# that form. Empty: every form of every cell is right (issue 19). A cell added later that some form gets
# wrong is written down here, never hidden by a looser expectation.
KNOWN_WRONG: dict[tuple[str, str], str] = {}
_CONTRADICTIONS: dict[str, str] = {}
KNOWN_WRONG.update({(name, "agree"): f"the forms contradict: {why}" for name, why in _CONTRADICTIONS.items()})


def _forms(name: str) -> list[str]:
    truth_file = MATRIX / name / "truth.json"
    if not truth_file.exists():
        return []
    forms: list[str] = load_truth(name)["forms"]
    return forms


@functools.cache
def verdict(name: str, form: str) -> Verdict:
    folder = MATRIX / name
    paths = [folder / FILES[f] for f in _forms(name)] if form == ALL else [folder / FILES[form]]
    return analyze(paths)


def _matches(outcome: Outcome, v: Verdict, form: str) -> bool:
    if outcome == PASS:
        return v.exit == 0
    if outcome == INCONCLUSIVE:
        return v.exit == 3 and not v.errors
    if isinstance(outcome, Warn):
        return v.exit == 0 and outcome.id in v.warnings
    if v.exit != 1 or len(v.errors) != 1:
        return False
    [said] = v.errors
    if isinstance(outcome, Mentions):
        return said.startswith(_PREFIXES.get(form, ("ANALYZE-",))) and \
            re.search(outcome.pattern, v.texts.get(said, ""), re.I) is not None
    return said == outcome


# The family of ids each form's roots come from (for Mentions): all the files of a call give the dump's or
# a correlated root.
_PREFIXES = {"capture": ("CAPTURE-",), "coturn-log": ("COTURN-LOG-",), ALL: ("ANALYZE-", "CORRELATE-")}


def _known(name: str, form: str) -> str | None:
    return KNOWN_WRONG.get((name, form)) or KNOWN_WRONG.get(("*", form))


def _cases(healthy: bool) -> list[Any]:
    out = []
    for cell in CELLS:
        if (cell.expect is Cause.HEALTHY) != healthy:
            continue
        for form in [*_forms(cell.name), ALL]:
            reason = _known(cell.name, form)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(cell, form, marks=marks, id=f"{cell.name}-{form}"))
    return out


def _generated(cell: Cell) -> None:
    if not (MATRIX / cell.name / "truth.json").exists():
        pytest.fail(f"cell {cell.name} has no recorded call: run tests/browser/matrix.py {cell.name}")


@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_the_recorded_call_is_the_cell(cell: Cell) -> None:
    """Ground truth first: the page and coturn saw the call the cell describes (else the generator is broken
    and no verdict on it means anything), recorded for the expectation written in the cell today."""
    _generated(cell)
    truth = load_truth(cell.name)
    problems = truth_problems(cell, truth)
    assert not problems, f"generator broken, not a verdict: {cell.name}: {'; '.join(problems)}"
    assert truth["expect"] == cell.expect.value, "the cell's expectation changed: regenerate it"
    assert "HeadlessChrome" in truth["chromium"] or "Chrome/" in truth["chromium"]


@pytest.mark.parametrize(("cell", "form"), _cases(healthy=True))
def test_healthy_call_passes(cell: Cell, form: str) -> None:
    """Zero false errors: a call that worked gets exit 0 (warnings allowed) from every form of its evidence.
    """
    _generated(cell)
    v = verdict(cell.name, form)
    if form in cell.blind:  # the file holds no connection: it vouches for nothing, may say so (exit 3)
        _holds_no_connection(cell, form)
        assert v.exit in (0, 3), f"FALSE ALARM on a healthy call ({cell.doc}): {form} says {v.show()}"
    elif form == "coturn-log" and not load_truth(cell.name)["coturn"]["allocations"]:
        # Chromium never allocated (a host pair connected first): coturn logged no session, nothing to judge
        assert v.exit in (0, 3), f"FALSE ALARM on a healthy call ({cell.doc}): {form} says {v.show()}"
    else:
        assert v.exit == 0, f"FALSE ALARM on a healthy call ({cell.doc}): {form} says {v.show()}"


def _holds_no_connection(cell: Cell, form: str) -> None:
    """A form a cell declares blind really holds no peer connection (checked in the file, not by rtcdiag)."""
    assert form == "dump", form
    dump = json.loads(gzip.decompress((MATRIX / cell.name / FILES[form]).read_bytes()))
    assert not dump["PeerConnections"], f"{cell.name}: the dump holds connections; it is not blind"


@pytest.mark.parametrize(("cell", "form"), _cases(healthy=False))
def test_failed_call_gives_its_one_root_cause(cell: Cell, form: str) -> None:
    """One root per failure, naming the real cause (or inconclusive from a form that cannot see it)."""
    _generated(cell)
    v = verdict(cell.name, form)
    wanted = EXPECTED[cell.expect][form]
    if form in cell.blind:  # nothing of the call in the file: never a pass, never a cause
        _holds_no_connection(cell, form)
        wanted = frozenset({INCONCLUSIVE})
    assert any(_matches(o, v, form) for o in wanted), (
        f"{cell.name} ({cell.doc}; really {cell.expect.value}): {form} says {v.show()}; wanted one of "
        f"{sorted(map(str, wanted))}")


def _causes_of(v: Verdict, form: str) -> frozenset[str] | None:
    """What a verdict claims, as the causes it may be (None: inconclusive, no claim). One error root names
    the causes whose expectation for this form it meets (a root that says "a wrong fingerprint, or both
    sides DTLS client" names both: it agrees with a form that says either); several roots are one claim of
    all of them, which only the same several roots agree with."""
    if v.exit == 3 and not v.errors:
        return None
    if v.exit == 0:
        return frozenset({PASS})
    if v.exit != 1:
        return frozenset({f"exit {v.exit}"})
    claims: list[frozenset[str]] = []
    for said in v.errors:
        one = Verdict(1, (said,), (), {said: v.texts.get(said, "")}, "")
        causes = frozenset(cause.value for cause, forms in EXPECTED.items() if cause is not Cause.HEALTHY
                           and any(_matches(o, one, form) for o in forms[form]))
        claims.append(causes or frozenset({said}))
    if len(claims) == 1:
        return claims[0]
    return frozenset({" & ".join(sorted("+".join(sorted(c)) for c in claims))})


def _agree_cases() -> list[Any]:
    out = []
    for cell in CELLS:
        reason = _known(cell.name, "agree")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(cell, marks=marks, id=cell.name))
    return out


@pytest.mark.parametrize("cell", _agree_cases())
def test_the_forms_of_one_call_agree(cell: Cell) -> None:
    """The dump, the rtcstats dump, the getStats file and the capture of one call: the same verdict, or the
    weaker form says inconclusive; never a contradiction (a pass beside an error, or two different causes)."""
    _generated(cell)
    claims = {form: _causes_of(verdict(cell.name, form), form) for form in AGREEING
              if form in _forms(cell.name)}
    said = {form: claim for form, claim in claims.items() if claim is not None}
    if len(said) > 1:
        common = set.intersection(*(set(c) for c in said.values()))
        shown = {form: verdict(cell.name, form).show() for form in said}
        assert common, f"{cell.name} ({cell.expect.value}): the forms contradict each other: {shown}"


# ---- the matrix itself ------------------------------------------------------------------------------------

def test_every_expected_id_is_in_the_catalogue() -> None:
    for forms in EXPECTED.values():
        for outcomes in forms.values():
            for o in outcomes:
                name = o.id if isinstance(o, Warn) else o
                if isinstance(name, str) and name not in (PASS, INCONCLUSIVE):
                    assert name in CATALOGUE, name
    assert set(EXPECTED) == set(Cause)


def test_known_wrong_entries_name_real_cells_and_forms() -> None:
    forms = {*FILES, ALL, "agree"}
    for name, form in KNOWN_WRONG:
        assert name == "*" or name in BY_NAME, name
        assert form in forms, form
        if name != "*" and form in FILES:  # an entry for a file the cell does not have would never XPASS
            assert form in _forms(name), (name, form)


def test_the_matrix_covers_what_issue_19_asks() -> None:
    """URL spellings, policies, payloads, paths, events and every failure family each have a cell."""
    urls = {u for c in CELLS for e in (*c.entries, *(c.entries_b or ())) for u in e.urls}
    assert {"turn:{v4}:{port}", "turn:{v4}:{port}?transport=udp", "turn:{v4}:{port}?transport=tcp",
            "turns:{v4}:{tls}?transport=tcp", "stun:{v4}:{port}", "turn:{v6}:{port}"} <= urls
    assert any(len(e.urls) > 1 for c in CELLS for e in c.entries)  # several URLs in one entry
    assert any({u.split(":")[0] for e in c.entries for u in e.urls} == {"stun", "turn"} for c in CELLS)
    healthy = [c for c in CELLS if c.expect is Cause.HEALTHY]
    assert {c.policy for c in healthy} == {"all", "relay"}
    assert {c.payload for c in healthy} == set(Payload)
    assert {c.path.value for c in healthy} >= {"host", "relay-udp", "relay-tcp", "relay-tls"}
    assert any(c.dual_stack for c in healthy)
    assert {c.event for c in healthy} >= {"ice-restart", "renegotiate", "callee-close", "page-close"}
    assert {c.server for c in CELLS} == set(Server)
    assert {c.expect for c in CELLS} == set(Cause)
    assert len({c.entries[0].cred for c in CELLS if c.expect is Cause.TURN_AUTH}) == 3  # password, user, REST


def test_the_matrix_stays_small() -> None:
    sizes = {c.name: sum(p.stat().st_size for p in (MATRIX / c.name).iterdir()) for c in CELLS
             if (MATRIX / c.name).is_dir()}
    assert sum(sizes.values()) <= MAX_MATRIX_BYTES, sizes
    assert max(sizes.values(), default=0) <= MAX_CELL_BYTES, sizes
    on_disk = {p.name for p in MATRIX.iterdir() if p.is_dir()}
    assert on_disk <= set(BY_NAME), f"folders of cells no longer defined: {on_disk - set(BY_NAME)}"


@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_no_file_holds_a_credential(cell: Cell) -> None:
    """No password, REST secret or REST credential anywhere; no TURN username in the browser's own files
    (captures and coturn logs carry the username: RFC 8489 sends USERNAME in clear, coturn logs it)."""
    _generated(cell)
    folder = MATRIX / cell.name
    for path in folder.iterdir():
        data = path.read_bytes()
        text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        for secret in (TURN_PASSWORD, WRONG_PASSWORD, REST_SECRET):
            assert secret.encode() not in text, path.name
        assert b'"credential"' not in text, path.name
        if path.name not in (FILES["capture"], FILES["coturn-log"]):
            assert TURN_USER.encode() not in text and UNKNOWN_USER.encode() not in text, path.name
