"""Judge a ``rtcdiag browser`` run: the run's own webrtc-internals dump by ``rtcdiag analyze``'s rules (the
ICE servers' errors, relay-only without relay, ICE and DTLS failures), then what only the live page can say
(the calls' data-channel echo) and where Chromium and aioice disagree about a server.

Pure: no I/O.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from rtcdiag.evidence.webrtc_internals import InternalsDump
from rtcdiag.probes.browser_ice import BrowserIceResult, Call, Gathering, canonical_url
from rtcdiag.probes.ice import IceResult, IceRun
from rtcdiag.redact import echo
from rtcdiag.targets import Transport
from rtcdiag.triage import analyze, analyze_base, ids
from rtcdiag.triage.analyze_base import ice_url
from rtcdiag.triage.finding import Severity, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, RelayFact, RttFact, StepOutcome, StepState

CHECK = "browser"


@dataclass
class BrowserEvidence:
    """What one run gave: the page's own records, the parsed dump (None when it could not be had), and
    aioice's run with the same servers (None when not compared)."""

    page: BrowserIceResult
    # Left out of the JSON report (the "secret" mark drops a field there): the dump is --save-dump's.
    dump: InternalsDump | None = field(default=None, metadata={"secret": True})
    dump_error: str = ""
    ice: IceResult | None = None
    timeout_s: float = 10.0
    notes: list[str] = field(default_factory=list)


def server_subject(url: str) -> Subject:
    """The subject ``rtcdiag analyze`` gives a server URL (so findings and steps meet)."""
    return analyze_base.server_subject(ice_url(url))


def _turn_host(page: BrowserIceResult) -> str:
    hosts = {ice_url(u).host for u in page.servers if ice_url(u).is_turn}
    return hosts.pop() if len(hosts) == 1 else ""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def browser_name(page: BrowserIceResult) -> str:
    """The engine that ran the page, as said in the report."""
    return "Firefox" if page.engine == "firefox" else "Chromium"


def pair_text(call: Call) -> str:
    p = call.pair
    if p is None:
        return "-"
    relay = f" over {p.relay_protocol}" if p.relay_protocol else ""
    return f"{p.local_type} {p.local}{relay} <-> {p.remote_type} {p.remote}"


def rtt_text(call: Call) -> str:
    if not call.rtts_ms:
        return "-"
    return (f"{min(call.rtts_ms):.1f} / {statistics.median(call.rtts_ms):.1f} / "
            f"{max(call.rtts_ms):.1f} ms")


def _call(call: Call, evidence: BrowserEvidence, judgement: Judgement, failed_pcs: set[str]) -> None:
    step = "relay-call" if call.policy == "relay" else "call"
    host = _turn_host(evidence.page) if call.policy == "relay" else ""
    subject = Subject(call.label, host or call.label)
    timeout = f"{evidence.timeout_s:g} s"
    if call.error:
        judgement.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED,
                                           detail=f"signalling failed in the page: {call.error}"))
        return
    if not call.connected:
        # The dump's rules usually said why (a TURN error, ICE failed): then this is their consequence.
        said = sorted(pc for pc in failed_pcs if pc.startswith(f"pc {call.label}"))
        detail = (f"the browser's own evidence says why ({', '.join(said)})" if said else
                  "the browser's own evidence names no cause")
        judgement.findings.append(make_finding(
            ids.BROWSER_CALL_FAILED, subject, check=CHECK, step=step,
            evidence=[f"{call.label}: connectionState {call.state} after {_ms(call.connect_ms)}",
                      *(f"caller candidate {c.type} {c.protocol} {c.address}:{c.port} url={c.url or '-'}"
                        for c in call.candidates[:5]),
                      *(f"icecandidateerror {e.url} {e.code} {echo(repr(e.text))}" for e in call.errors[:5])],
            call=call.label, policy=call.policy, state=call.state, ms=_ms(call.connect_ms), detail=detail,
            browser=browser_name(evidence.page)))
        judgement.steps.append(StepOutcome(subject, CHECK, step, detail=f"connection {call.state}"))
        return
    pair = pair_text(call)
    if not call.open:
        judgement.findings.append(make_finding(
            ids.BROWSER_CHANNEL_NOT_OPEN, subject, check=CHECK, step=step,
            evidence=[f"{call.label}: connected in {_ms(call.connect_ms)}, pair {pair}"],
            call=call.label, pair=pair, timeout=timeout, browser=browser_name(evidence.page)))
    elif call.lost:
        judgement.findings.append(make_finding(
            ids.BROWSER_ECHO_LOSS, subject, check=CHECK, step=step,
            severity=Severity.ERROR if call.received == 0 else None,
            evidence=[f"{call.label}: {call.received}/{call.sent} echoed, RTT {rtt_text(call)}"],
            call=call.label, lost=call.lost, sent=call.sent, received=call.received, pair=pair,
            timeout=timeout, browser=browser_name(evidence.page)))
    relayed = call.pair is not None and call.pair.local_type == "relay"
    if call.policy == "relay" and host:
        judgement.facts.relays.append(RelayFact(host, relayed and call.received > 0,
                                                f"{browser_name(evidence.page)} relay-only call: {pair}, "
                                                f"{call.received}/{call.sent} echoed"))
    if call.rtts_ms:
        judgement.facts.rtts.append(RttFact(host or call.label,
                                            f"{browser_name(evidence.page)} {call.label} data-channel echo",
                                            statistics.median(call.rtts_ms)))
    judgement.steps.append(StepOutcome(
        subject, CHECK, step, detail=f"connected in {_ms(call.connect_ms)}, {pair}, "
                                     f"{call.received}/{call.sent} echoed, RTT {rtt_text(call)}"))


# ---- Chromium against aioice ---------------------------------------------------------------------------

def _alone(page: BrowserIceResult, url: str) -> Gathering | None:
    """The gathering with this server alone (the only one when a single server was given)."""
    return next((g for g in page.gatherings if g.urls == [url]), None)


def browser_says(page: BrowserIceResult, url: str) -> tuple[bool | None, str]:
    """(got the server's candidate, in words) from Chromium's gathering with ``url`` alone."""
    g = _alone(page, url)
    if g is None:
        return None, "not run"
    kind = "relay" if ice_url(url).is_turn else "srflx"
    mine = ice_url(url).key
    got = [c for c in g.candidates if c.type == kind and (not c.url or ice_url(c.url).key == mine)]
    errors = sorted({f"{e.code} {echo(e.text)}" if e.text else str(e.code) for e in g.errors
                     if ice_url(e.url).key == mine})
    if got:
        return True, f"{len(got)} {kind} ({got[0].address}:{got[0].port})"
    said = "; ".join(errors[:3]) or ("no error" if g.state == "complete" else f"gathering {g.state}")
    return False, f"no {kind} ({said})"


def aioice_says(run: IceRun) -> tuple[bool | None, str]:
    kind = "relay" if run.scheme in ("turn", "turns") else "srflx"
    got = [c for c in run.candidates if c.type == kind]
    if got:
        connected = "; connected" if run.connected else ("; did not connect" if run.attempted_connect else "")
        return True, f"{len(got)} {kind} ({got[0].address}:{got[0].port}){connected}"
    errors = [e.error for e in run.gather_events if e.error][:2]
    said = "; ".join(errors) or run.error or "no error"
    if kind == "srflx" and not run.candidates:
        return None, "no host candidate to ask from (aioice skips 127.0.0.1)"
    return False, f"no {kind} ({said})"


@dataclass(frozen=True)
class Comparison:
    url: str
    browser: str
    aioice: str
    agree: bool | None  # None: one side cannot tell
    certificate: str = ""  # turns: Chromium's 701 while aioice was refused the certificate: aioice's words
    text: str = ""  # Chromium's 701 text then


def _certificate(page: BrowserIceResult, url: str, run: IceRun) -> tuple[str, str]:
    """(aioice's certificate error, Chromium's 701 text) when a turns: URL failed so in both, else blanks."""
    g = _alone(page, url)
    if g is None or ice_url(url).transport is not Transport.TLS or not ice_url(url).is_turn:
        return "", ""
    mine = ice_url(url).key
    chromium = next((e for e in g.errors if e.code == 701 and ice_url(e.url).key == mine), None)
    refused = next((e.error for e in run.gather_events if e.error and (e.kind or "").startswith("tls")
                    and "certificate" in e.error.lower()), None)
    if chromium is None or refused is None or any(c.type == "relay" for c in g.candidates):
        return "", ""
    return refused[:300], chromium.text


def compare(page: BrowserIceResult, ice: IceResult | None) -> list[Comparison]:
    if ice is None:
        return []
    out: list[Comparison] = []
    runs = {ice_url(run.url).key: run for run in ice.runs}
    for url in page.servers:
        b_got, b_text = browser_says(page, url)
        run = runs.get(ice_url(url).key)
        if run is None:
            out.append(Comparison(url, b_text, "not run (aioice cannot use this URL)", None))
            continue
        a_got, a_text = aioice_says(run)
        agree = None if b_got is None or a_got is None else b_got == a_got
        out.append(Comparison(url, b_text, a_text, agree, *_certificate(page, url, run)))
    return out


def _comparisons(evidence: BrowserEvidence, judgement: Judgement) -> None:
    for c in compare(evidence.page, evidence.ice):
        subject = server_subject(canonical_url(c.url))
        if c.certificate:
            judgement.findings.append(make_finding(
                ids.BROWSER_TURNS_CERTIFICATE, subject, check=CHECK, step="compare",
                evidence=[f"{browser_name(evidence.page)}: icecandidateerror 701 {echo(repr(c.text))}",
                          f"aioice: {c.certificate}"],
                url=canonical_url(c.url), text=echo(c.text), aioice=c.certificate))
        if c.agree is False:
            judgement.findings.append(make_finding(
                ids.BROWSER_AIOICE_DISAGREE, subject, check=CHECK, step="compare",
                evidence=[f"{browser_name(evidence.page)}: {c.browser}", f"aioice: {c.aioice}"],
                url=c.url, browser=c.browser, aioice=c.aioice))
        state = StepState.DONE if c.agree is not None else StepState.SKIPPED
        judgement.steps.append(StepOutcome(subject, CHECK, "compare", state,
                                           detail=f"{browser_name(evidence.page)}: {c.browser}; "
                                                  f"aioice: {c.aioice}"[:300]))


# ---- the whole run ---------------------------------------------------------------------------------------

def _failed_pcs(judgement: Judgement) -> set[str]:
    """The peer connections the dump's rules found an error about (by subject, as analyze names them)."""
    out: set[str] = set()
    for f in judgement.findings:
        if f.severity is Severity.ERROR:
            out.add(f.subject.server)
            out.update(part.strip() for part in str(f.params.get("pcs", "")).split(","))
    return out


def judge(evidence: BrowserEvidence) -> Judgement:
    judgement = Judgement(facts=Facts())
    page = evidence.page
    run_subject = Subject(page.engine or "chromium")
    if page.error:
        # The browser itself failed (crashed, timed out): nothing about the servers can be said.
        judgement.steps.append(StepOutcome(run_subject, CHECK, "run", StepState.UNDECIDED,
                                           detail=f"the browser run failed: {page.error}"))
        judgement.facts.inconclusive = True
        return judgement
    judgement.steps.append(StepOutcome(run_subject, CHECK, "run", detail=f"{page.user_agent or 'Chromium'}; "
                                       f"page {_ms(page.page_ms)}, {_ms(page.duration_ms)} with the browser"))
    if evidence.dump is not None:
        judgement.extend(analyze.judge([evidence.dump], alone=False))
    else:
        judgement.steps.append(StepOutcome(run_subject, CHECK, "dump", StepState.UNDECIDED,
                                           detail=f"no browser evidence: {evidence.dump_error}"[:300]))
        judgement.facts.inconclusive = True
    failed = _failed_pcs(judgement)
    for call in page.calls:
        _call(call, evidence, judgement, failed)
    if not any(c.policy == "relay" for c in page.calls):
        judgement.steps.append(StepOutcome(Subject("relay call"), CHECK, "relay-call", StepState.SKIPPED,
                                           detail="no TURN server given: nothing to relay through"))
    _comparisons(evidence, judgement)
    return judgement
