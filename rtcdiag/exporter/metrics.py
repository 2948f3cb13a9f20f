"""One probe's typed run -> Prometheus metric families (names and labels: docs/commands/exporter.md).

Everything comes from typed values: the report (findings, root causes, exit code), the merged judgement
(steps with their subject, check and duration; RTT and relay facts) and each job's typed result (TURN
allocations and data paths, TLS certificates from the ports check, the NAT verdict). No label value is ever
a server string or user input: label values are check and step names, transports, catalogue ids,
severities and enum values, so their number is bounded by the catalogue and the module; the target is
not a label (Prometheus adds ``instance``). Every label value is masked and made printable anyway.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from rtcdiag.checks import registry as checks_registry
from rtcdiag.checks.registry import Combine
from rtcdiag.checks.run import ConfigRun
from rtcdiag.redact import unmark
from rtcdiag.report.build import step_status
from rtcdiag.report.model import Status
from rtcdiag.textsafe import printable
from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.finding import Finding

# name -> (help, labels): the documented, stable set (docs/commands/exporter.md "Exporter metrics").
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "probe_success": ("1 when the module's checks passed (exit code 0: pass or warnings only), else 0", ()),
    "probe_duration_seconds": ("How long the probe took", ()),
    "rtcdiag_probe_exit_code": ("The exit code `rtcdiag check` would give (0 pass, 1 error, 3 inconclusive, "
                                "4 internal error); absent when the probe timed out", ()),
    "rtcdiag_probe_timed_out": ("1 when the probe was cut off by the scrape timeout (allocations released)",
                                ()),
    "rtcdiag_probe_timeout_seconds": ("Time the probe was given: the scrape timeout (X-Prometheus-Scrape-"
                                      "Timeout-Seconds) minus the exporter's margin", ()),
    "rtcdiag_step_duration_seconds": ("Duration of one check step", ("check", "step", "transport")),
    "rtcdiag_step_success": ("1 when the step passed (warnings allowed), 0 when it failed or could not "
                             "decide; skipped steps are absent", ("check", "step", "transport")),
    "rtcdiag_rtt_seconds": ("Worst round-trip time the check measured (STUN binding, TURN data, ICE data)",
                            ("check",)),
    "rtcdiag_data_loss_ratio": ("Share of test packets sent through the TURN relay that did not come back",
                                ("transport",)),
    "rtcdiag_relay_allocation_success": ("1 when a TURN allocation succeeded over the transport",
                                         ("transport",)),
    "rtcdiag_relay_data_success": ("1 when data flowed through a relay (TURN data path or ICE relay)", ()),
    "rtcdiag_tls_certificate_expiry_timestamp_seconds": ("Unix time the server's TLS leaf certificate "
                                                         "expires (ports check over TLS)", ("port",)),
    "rtcdiag_nat_info": ("NAT behaviour of the exporter's network (RFC 4787 mapping and filtering, "
                         "RFC 3489 type); value 1", ("mapping", "filtering", "nat_type")),
    "rtcdiag_findings": ("Findings of the probe by catalogue id and severity (count)", ("id", "severity")),
    "rtcdiag_root_cause_info": ("The diagnosis: one series per root-cause finding id; value 1", ("id",)),
}
_MAX_LABEL = 120


def _label(value: object) -> str:
    """A label value: rtcdiag's own words (check, step, transport, finding id, NAT enums), never masked."""
    return printable(unmark(str(value)))[:_MAX_LABEL]


def _finding_id(finding: Finding) -> str:
    return finding.id if finding.id in CATALOGUE else "UNKNOWN"  # make_finding allows catalogue ids only


@dataclass
class ProbeOutcome:
    """What one probe gave: a run, or nothing because the scrape timeout cut it off."""

    run: ConfigRun | None
    duration_s: float
    timed_out: bool = False
    budget_s: float | None = None  # the exporter's time limit for this probe (None: `check --openmetrics`)


class _Families:
    def __init__(self) -> None:
        self.families: dict[str, GaugeMetricFamily] = {}
        self.values: dict[str, dict[tuple[str, ...], float]] = {}

    def set(self, name: str, value: float, *labels: object, combine: Combine = Combine.LAST) -> None:
        key = tuple(_label(v) for v in labels)
        series = self.values.setdefault(name, {})
        if key in series and combine is Combine.MAX:
            value = max(series[key], value)
        elif key in series and combine is Combine.MIN:
            value = min(series[key], value)
        elif key in series and combine is Combine.SUM:
            value = series[key] + value
        series[key] = value

    def collect(self) -> Iterator[Metric]:
        for name, series in self.values.items():
            help_text, labels = METRICS[name]
            family = GaugeMetricFamily(name, help_text, labels=list(labels))
            for key, value in series.items():
                family.add_metric(list(key), value)
            yield family


def _steps(run: ConfigRun, out: _Families) -> None:
    attached: dict[tuple[str, str | None, str, str], list[Finding]] = {}
    for finding in run.report.findings:
        s = finding.subject
        attached.setdefault((s.server, s.transport, finding.check, finding.step), []).append(finding)
    for step in run.judgement.steps:
        s = step.subject
        transport = s.transport or ""
        status = step_status(step, attached.get((s.server, s.transport, step.check, step.step), []))
        if status is not Status.SKIP:
            out.set("rtcdiag_step_duration_seconds", max(step.duration_s, 0.0), step.check, step.step,
                    transport, combine=Combine.MAX)
            out.set("rtcdiag_step_success", float(status in (Status.PASS, Status.WARN)), step.check,
                    step.step, transport, combine=Combine.MIN)


def _facts(run: ConfigRun, out: _Families) -> None:
    for each in run.ran:
        for rtt in each.judgement.facts.rtts:
            out.set("rtcdiag_rtt_seconds", rtt.rtt_ms / 1000.0, each.check, combine=Combine.MAX)
    relays = run.judgement.facts.relays
    if relays:
        out.set("rtcdiag_relay_data_success", float(any(r.works for r in relays)))


def _checks(run: ConfigRun, out: _Families) -> None:
    """What each registered check's own metrics say about its typed result."""
    for each in run.ran:
        entry = checks_registry.for_ran(each.check)
        if entry is None or entry.metrics is None or each.result is None:
            continue
        for sample in entry.metrics(each.result, run.judgement.facts):
            out.set(sample.name, sample.value, *sample.labels, combine=sample.combine)


def families(outcome: ProbeOutcome) -> _Families:
    out = _Families()
    out.set("probe_duration_seconds", outcome.duration_s)
    out.set("rtcdiag_probe_timed_out", float(outcome.timed_out))
    if outcome.budget_s is not None:
        out.set("rtcdiag_probe_timeout_seconds", outcome.budget_s)
    run = outcome.run
    if run is None:
        out.set("probe_success", 0.0)
        return out
    report = run.report
    out.set("probe_success", float(report.exit_code == 0))
    out.set("rtcdiag_probe_exit_code", float(report.exit_code))
    _steps(run, out)
    _facts(run, out)
    _checks(run, out)
    for finding in report.findings:
        out.set("rtcdiag_findings", 1.0, _finding_id(finding), finding.severity.value, combine=Combine.SUM)
    for root in report.roots:
        out.set("rtcdiag_root_cause_info", 1.0, _finding_id(root))
    return out


class _OneProbe(Collector):
    def __init__(self, metrics: _Families) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics.collect()


def registry(outcome: ProbeOutcome) -> CollectorRegistry:
    """A registry holding only this probe's metrics (blackbox exporter style: one scrape, one probe)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_OneProbe(families(outcome)))
    return reg


def exposition(outcome: ProbeOutcome, accept: str = "") -> tuple[bytes, str]:
    """The probe's metrics in the format the scraper asked for (OpenMetrics or Prometheus text)."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept)
    return encoder(registry(outcome)), content_type


def write_openmetrics(outcome: ProbeOutcome, path: Path) -> None:
    """OpenMetrics text for node_exporter's textfile collector, written atomically (temp file + rename)."""
    from prometheus_client.openmetrics.exposition import generate_latest

    data: bytes = generate_latest(registry(outcome))  # type: ignore[no-untyped-call]
    temp = path.with_name(f".{path.name}.{time.time_ns()}.tmp")
    try:
        temp.write_bytes(data)
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


__all__ = ["METRICS", "ProbeOutcome", "exposition", "families", "registry", "write_openmetrics"]
