"""The ``interop`` check: a call between a real Chromium and a real Firefox (rtcdiag.probes.interop),
judged by rtcdiag.triage.interop; and its table."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.checks.engine import Check
from rtcdiag.checks.registry import Entry
from rtcdiag.probes.ice import IceServer
from rtcdiag.probes.interop import InteropResult as InteropResult  # the result type, for commands
from rtcdiag.probes.interop import probe
from rtcdiag.report.model import Table
from rtcdiag.triage import interop as rules


@dataclass(frozen=True)
class InteropPlan:
    servers: list[IceServer]
    timeout_s: float = 10.0
    messages: int = 10
    video_codec: str = ""  # force the caller's video codec (setCodecPreferences): a mismatch on purpose


async def _run(plan: InteropPlan) -> InteropResult:
    return await probe(plan.servers, timeout_s=plan.timeout_s, messages=plan.messages,
                       video_codec=plan.video_codec)


INTEROP: Check[InteropPlan, InteropResult] = Check(rules.CHECK, _run, rules.judge)


def interop_tables(result: InteropResult) -> list[Table]:
    rows: list[list[str]] = []
    for call in result.calls:
        for side in call.sides or []:
            codecs = ", ".join(f"{c.direction} {c.mime_type}" for c in side.codecs[:8]) or "-"
            rows.append([call.label, side.browser, call.state, f"{call.received}/{call.sent}", codecs,
                         rules.dtls_version(side.tls_version), side.dtls_cipher or "-",
                         f"{side.local_type or '-'} {side.relay_protocol}".strip()])
        if not call.sides:
            rows.append([call.label, "-", call.error or call.state, f"{call.received}/{call.sent}", "-", "-",
                         "-", "-"])
    return [Table(title="Chromium <-> Firefox calls (each browser's own getStats)",
                  columns=["call", "browser", "connection", "echoed", "codecs (its stats)", "DTLS", "cipher",
                           "local candidate"], rows=rows)]


ENTRIES = (Entry(INTEROP, InteropResult, tables=interop_tables),)
