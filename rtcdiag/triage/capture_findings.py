"""What the capture rules share: times and packet lists as the report says them, and the collector that
makes one finding per statement (the same refusal seen on the flows of both clients of a call, or of a
server's many clients, is said once, with every flow in its evidence).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Any

from rtcdiag.evidence.capture import CaptureSummary
from rtcdiag.evidence.observation import Observation
from rtcdiag.triage.finding import Finding, Subject, make_finding

CHECK = "analyze"
STEPS = ("read", "turn", "ice", "dtls", "media")
MAX_MERGED_FLOWS = 50  # flows named in the "flows" parameter of one merged finding
MAX_MERGED_EVIDENCE = 10
_JOINED = ("client", "relayed", "user", "peer")  # parameters that list every merged flow's value


def when(summary: CaptureSummary, t: float) -> str:
    """Capture time as UTC plus the offset from the first packet."""
    stamp = _time.strftime("%H:%M:%S", _time.gmtime(t)) + f".{int((t % 1) * 1000):03d}"
    return f"{stamp} UTC (+{max(0.0, t - summary.first_time):.3f} s)"


def packets(obs: Observation) -> str:
    shown = ", ".join(str(n) for n in obs.numbers[:8])
    return shown + (", ..." if obs.count > len(obs.numbers[:8]) else "")


def host_of(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0].strip("[]")


@dataclass
class _Pending:
    fid: str
    step: str
    host: str
    label: str  # the first flow's (or call's) label
    evidence: list[str]
    params: dict[str, Any]
    flows: list[str] = field(default_factory=list)
    merged: int = 1  # how many findings were folded into this one
    more_evidence: int = 0


class CaptureFindings:
    """Findings of one capture. ``add`` with a ``merge`` key folds later findings of the same key into the
    first: evidence appended (bounded), ``count`` summed, the :data:`_JOINED` parameters listed, every flow
    named in the ``flows`` parameter."""

    def __init__(self, summary: CaptureSummary) -> None:
        self.summary = summary
        self.counts = {step: 0 for step in STEPS}
        self._pending: dict[tuple[object, ...], _Pending] = {}
        self._order: list[_Pending] = []

    def add(self, fid: str, step: str, label: str, host: str, evidence: list[str], *,
            merge: tuple[object, ...] | None = None, flows: list[str] | None = None, **params: Any) -> None:
        key = (fid, *merge) if merge is not None else (fid, len(self._order))
        known = self._pending.get(key)
        if known is None:
            pending = _Pending(fid, step, host, label, list(evidence), dict(params), list(flows or [label]))
            self._pending[key] = pending
            self._order.append(pending)
            self.counts[step] += 1
            return
        known.merged += 1
        if len(known.evidence) + len(evidence) <= MAX_MERGED_EVIDENCE:
            known.evidence += evidence
        else:
            known.more_evidence += len(evidence)
        for name in flows or [label]:
            if name not in known.flows and len(known.flows) < MAX_MERGED_FLOWS:
                known.flows.append(name)
        for name, value in params.items():
            mine = known.params.get(name)
            if name == "count" and isinstance(mine, int) and isinstance(value, int):
                known.params[name] = mine + value
            elif name in _JOINED and value and str(value) not in str(mine).split(", "):
                known.params[name] = f"{mine}, {value}" if len(str(mine)) < 200 else mine

    def findings(self) -> list[Finding]:
        s = self.summary
        out: list[Finding] = []
        for p in self._order:
            label = p.label if p.merged <= 1 else f"{p.label} (and {len(p.flows) - 1} more flow(s))"
            evidence = p.evidence + ([f"... and {p.more_evidence} more line(s)"] if p.more_evidence else [])
            out.append(make_finding(p.fid, Subject(server=s.source, host=p.host), check=CHECK, step=p.step,
                                    evidence=evidence, file=s.source, flow=label, flows="; ".join(p.flows),
                                    **p.params))
        return out
