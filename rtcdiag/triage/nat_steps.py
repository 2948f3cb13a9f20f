"""The steps of ``rtcdiag nat-type``: per run ``reachability``, ``rfc5780-server``, ``mapping``,
``filtering`` (and ``hairpin``, ``lifetime`` when asked for), the mapping across servers, and name facts."""

from __future__ import annotations

from rtcdiag.addresses import parse_ip
from rtcdiag.probes.nat import NatOptions, NatRun, ServerMappingRun
from rtcdiag.probes.nat_classify import Mapping
from rtcdiag.probes.record import ErrorKind
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding
from rtcdiag.triage.judgement import NameFact, StepOutcome, StepState, is_well_known
from rtcdiag.triage.nat_result import (
    CHECK,
    LOCAL_NETWORK,
    SERVER_SAID,
    NatTriage,
    Source,
    run_subject,
    step_name,
    yes_no,
)


def why_not(run: NatRun, unusable: Finding | None) -> str | None:
    """Why the RFC 5780 tests of this run did not run (None: they ran)."""
    if run.error is not None:
        return f"the server could not be asked: {run.error}"
    if unusable is None:
        return None
    if unusable.id == ids.UDP_BLOCKED:
        return "UDP is blocked: no UDP answer while STUN over TCP answered"
    if unusable.id == ids.NAT_SERVER_NO_RFC5780:
        return "the server failed RFC 5780 validation (see rfc5780-server)"
    if unusable.id in SERVER_SAID:
        return f"the server gave no usable Binding success ({unusable.id}: {unusable.params['detail']})"
    return "the server did not answer"


def run_steps(run: NatRun, options: NatOptions, unusable: Finding | None) -> list[StepOutcome]:
    subj = run_subject(run)
    secs = run.duration_ms / 1000.0
    steps: list[StepOutcome] = []

    def add(name: str, detail: str, state: StepState = StepState.DONE, duration_s: float = 0.0) -> None:
        steps.append(StepOutcome(subj, CHECK, step_name(name, run), state, detail, duration_s))

    first_rtt = next((t.rtt_ms for t in run.tests if t.rtt_ms is not None), None)
    answered = run.error is None and (run.udp_answered or (run.transport == "tcp" and bool(run.tcp_answered)))
    if unusable is not None and unusable.id in SERVER_SAID:
        add("reachability", f"{unusable.id}: {unusable.params['detail']}", StepState.UNDECIDED, secs)
    elif answered:
        rtt = f" in {first_rtt:.1f} ms" if first_rtt is not None else ""
        add("reachability", f"{run.address} answered over {run.transport.upper()}{rtt}",
            duration_s=(first_rtt or 0.0) / 1000.0)
    elif unusable is not None and unusable.id == ids.UDP_BLOCKED:
        add("reachability", "no UDP answer; STUN over TCP answered", duration_s=secs)
    else:
        add("reachability", run.error or "no answer", StepState.UNDECIDED, duration_s=secs)
    why = why_not(run, unusable)
    if run.transport == "tcp":
        tcp_why = why or "over TCP only NAT presence is measured"
        add("rfc5780-server", "RFC 5780 server validation needs UDP", StepState.SKIPPED)
        if why is None:
            state = StepState.UNDECIDED if run.nat_present is None else StepState.DONE
            add("mapping", f"NAT present: {yes_no(run.nat_present)} (mapped {run.mapped or '?'}); "
                           f"{run.mapping_reason}", state, secs)
        else:
            add("mapping", tcp_why, StepState.SKIPPED)
        add("filtering", "RFC 5780 filtering tests need UDP", StepState.SKIPPED)
        if options.hairpin:
            add("hairpin", "hairpinning is tested over UDP", StepState.SKIPPED)
        if options.lifetime:
            add("lifetime", "the mapping lifetime is measured over UDP", StepState.SKIPPED)
        return steps

    check = run.server_check
    if check is None:
        add("rfc5780-server", why or "no Binding response to validate", StepState.SKIPPED)
    elif not check.supported:
        add("rfc5780-server", "; ".join(check.problems), StepState.UNDECIDED)
    else:
        add("rfc5780-server", f"{check.other_attribute} {check.other_address}; CHANGE-REQUEST replies came "
                              f"from the addresses asked for")
    if why is not None:
        for name in ("mapping", "filtering", *(("hairpin",) if options.hairpin else ()),
                     *(("lifetime",) if options.lifetime else ())):
            add(name, why, StepState.SKIPPED)
        return steps
    for name, value, reason in (("mapping", run.mapping.value, run.mapping_reason),
                                ("filtering", run.filtering.value, run.filtering_reason)):
        state = StepState.UNDECIDED if value == "unknown" else StepState.DONE
        add(name, f"{value}: {reason}" if reason else value, state, secs)
    if options.hairpin:
        tested = any(t.socket == "hairpin" for t in run.tests)
        if not tested:
            add("hairpin", "no mapped address to send to", StepState.SKIPPED)
        else:
            state = StepState.UNDECIDED if run.hairpin is None else StepState.DONE
            add("hairpin", f"hairpinning: {yes_no(run.hairpin)} ({run.hairpin_detail})", state)
    if options.lifetime:
        life = run.lifetime
        if life is None:
            add("lifetime", "not measured", StepState.SKIPPED)
        elif not life.supported:
            add("lifetime", life.detail, StepState.UNDECIDED)
        else:
            text = (f"alive after {life.alive_s:g} s, gone after {life.gone_s:g} s"
                    if life.gone_s is not None and life.alive_s is not None else
                    f"gone after {life.gone_s:g} s" if life.gone_s is not None else
                    f"alive after {life.alive_s:g} s (longest tried)" if life.alive_s is not None else
                    "no idle probe could decide")
            state = StepState.DONE if life.alive_s is not None or life.gone_s is not None else \
                StepState.UNDECIDED
            add("lifetime", text + (f"; {life.detail}" if life.detail else ""), state)
    return steps


def name_facts(runs: list[NatRun]) -> list[NameFact]:
    facts: dict[str, NameFact] = {}
    for run in runs:
        if not run.host or parse_ip(run.host) is not None:
            continue
        resolved = run.error_kind is not ErrorKind.DNS
        if run.host in facts and facts[run.host].resolved:
            continue
        facts[run.host] = NameFact(run.host, resolved, well_known=is_well_known(run.host),
                                   detail="" if resolved else (run.error or ""))
    return list(facts.values())


def across_steps(across: ServerMappingRun, result: NatTriage) -> list[StepOutcome]:
    """The mapping across ordinary servers, and why filtering cannot be measured that way."""
    secs = across.duration_ms / 1000.0
    used = result.consensus.source is Source.ACROSS
    if across.mapping is Mapping.UNKNOWN:
        mapping = StepOutcome(LOCAL_NETWORK, CHECK, "mapping across servers", StepState.UNDECIDED,
                              across.mapping_reason or "no answer", secs)
    else:
        note = "" if used else " (the RFC 5780 verdict is used)"
        mapping = StepOutcome(LOCAL_NETWORK, CHECK, "mapping across servers", StepState.DONE,
                              f"{across.mapping.value}: {across.mapping_reason}{note}", secs)
    filtering = StepOutcome(LOCAL_NETWORK, CHECK, "filtering across servers", StepState.SKIPPED,
                            across.filtering_reason)
    return [mapping, filtering]
