"""One transport being judged (a leg): findings and step outcomes appended as its steps go, the rules run
in order, and the reports shared by several steps (a server gone silent, a request not sent)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from rtcdiag.probes.record import Exchange
from rtcdiag.probes.turn_result import TransportResult, TurnCheckResult
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState
from rtcdiag.triage.turn_credentials import CREDENTIAL_REFUSED, credential_lines
from rtcdiag.triage.turn_exchanges import CHECK, FAMILY_STEPS, describe_exchange
from rtcdiag.triage.turn_server_stop import ServerStop


@dataclass
class Leg:
    """The steps of one transport being judged: findings and outcomes appended as the steps go."""

    result: TurnCheckResult
    t: TransportResult
    subj: Subject
    out: Judgement
    rest_expired: bool
    udp_blocked: bool  # the same server answered over TCP/TLS in this port's family (UDP-BLOCKED)
    blocked: str | None = None  # why the remaining steps do not run
    stopped: ServerStop | None = None  # where the server went silent after allocating (see server_stop)
    suffix: str = ""  # appended to the family steps (FAMILY_STEPS): "-ipv6" for an IPv6 relay

    def _name(self, step: str) -> str:
        return step + self.suffix if step in FAMILY_STEPS else step

    def add(self, step: str, finding_id: str, detail: str, evidence: list[str] | None = None,
            snippet: list[str] | None = None, **params: object) -> None:
        t = self.t
        values: dict[str, object] = {"transport": t.transport.upper(), "server": t.server,
                                     "host": t.server_name or self.result.host, "detail": detail,
                                     "port": self.subj.port if self.subj.port is not None else "?"}
        values.update(params)
        if snippet is None and finding_id in CREDENTIAL_REFUSED:
            snippet = credential_lines(self.result, t.realm)
        self.out.findings.append(make_finding(
            finding_id, self.subj, check=CHECK, step=self._name(step),
            evidence=evidence if evidence is not None else [describe_exchange(ex) for ex in t.steps],
            snippet=snippet, **cast(dict[str, Any], values)))

    def outcome(self, step: str, detail: str, duration_s: float = 0.0,
                state: StepState = StepState.DONE) -> None:
        self.out.steps.append(StepOutcome(self.subj, CHECK, self._name(step), state=state, detail=detail,
                                          duration_s=round(max(duration_s, 0.0), 6)))

    def stop(self, reason: str) -> None:
        if self.blocked is None:
            self.blocked = reason

    def elapsed_left_s(self) -> float:
        """Time of this transport not accounted for by answered exchanges (how long a silence lasted)."""
        known = (self.t.connect_ms or 0.0) + sum(ex.rtt_ms or 0.0 for ex in self.t.steps)
        for dp in self.t.data_paths:
            known += sum(ex.rtt_ms or 0.0 for ex in dp.steps)
        return max(0.0, self.t.duration_ms - known) / 1000.0


Rule = Callable[[Leg], None]


def run_rules(leg: Leg, rules: Iterable[tuple[str, Rule]]) -> None:
    for step, rule in rules:
        if leg.blocked is not None:
            leg.outcome(step, leg.blocked, state=StepState.SKIPPED)
        else:
            rule(leg)


def report_not_sent(leg: Leg, step: str, ex: Exchange, evidence: list[str]) -> None:
    """A request the server's challenge made impossible to send (RFC 8489 §14.9/§14.10, §5)."""
    t = leg.t
    if t.challenge_problem is not None:
        leg.add(step, ids.TURN_CHALLENGE_UNUSABLE, t.challenge_problem, evidence)
    else:
        leg.add(step, ids.TURN_REQUEST_OVERSIZED, ex.error or "request not sent", evidence)


def report_server_stop(leg: Leg, step: str, duration: float) -> None:
    stop = leg.stopped
    assert stop is not None
    when = f" {stop.after_s:.2f} s after the allocation" if stop.after_s is not None else \
        " after every earlier request had been answered"
    last = f" (its last answer came {stop.last_answer_s:.2f} s after the allocation)" \
        if stop.last_answer_s is not None else ""
    detail = f"{stop.what} {stop.how}{when}{last}, and nothing was answered after that"
    leg.add(step, ids.TURN_SERVER_STOPPED, detail, stop.evidence)
    leg.outcome(step, f"the server stopped answering: {detail}", duration)
    leg.stop(f"the server stopped answering at {stop.what}{when}")
