"""Diagnosis cost over many findings on one host: the indexed search of rtcdiag.triage.diagnosis side by side
with testing every earlier finding (the quadratic search it must equal), on the same findings.

The findings: N error findings on 127.0.0.1 over N/10 ports, 3 transports, 4 checks and 3 server entries
(refused ports, unreachable ports, 401s, PORT-NOT-STUN, UDP-BLOCKED, ICE and EXPECT-RELAY), a worst case
for a config with hundreds of ports. No traffic.

Run: ``python benchmarks/bench_diagnosis.py [--findings N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import random
import time

from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.diagnosis import _order, _same_statement, diagnose, explains
from rtcdiag.triage.finding import Finding, Severity, Subject

IDS = ("SERVER-REFUSED", "SERVER-UNREACHABLE", "TURN-AUTH-401", "ICE-NO-RELAY", "PORT-NOT-STUN",
       "UDP-BLOCKED", "EXPECT-RELAY")


def findings(count: int, seed: int = 1) -> list[Finding]:
    rng = random.Random(seed)
    ports = max(count // 10, 1)
    out = []
    for n in range(count):
        entry = rng.choice(("a", "b", "c"))
        subject = Subject(f"s{n % ports} ({entry})", "127.0.0.1", 3000 + n % ports,
                          rng.choice(("udp", "tcp", "tls")), entry)
        out.append(Finding(entry=CATALOGUE[rng.choice(IDS)], subject=subject,
                           check=rng.choice(("ports", "stun", "turn", "ice")), step=f"step{n}",
                           severity=Severity.ERROR))
    return out


def quadratic(found: list[Finding]) -> None:
    """Every earlier finding tested in order (the reference the index must equal)."""
    refs = {f.ref: f for f in found}
    for finding in found:
        finding.explained_by = None
    ordered = sorted(found, key=_order)
    for index, finding in enumerate(ordered):
        for candidate in ordered[:index]:
            if explains(candidate, finding) or _same_statement(candidate, finding):
                root = candidate
                while root.explained_by is not None and root.explained_by in refs:
                    root = refs[root.explained_by]
                finding.explained_by = root.ref
                break


def best_of(runs: int, work: list[Finding], run: object) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        run(work)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = findings(args.findings)
    indexed = best_of(args.runs, work, diagnose)
    by_index = {f.ref: f.explained_by for f in work}
    reference = best_of(1, work, quadratic)
    assert {f.ref: f.explained_by for f in work} == by_index, "the indexed search differs from the reference"
    print(f"{args.findings} findings on one host, {max(args.findings // 10, 1)} ports, 3 server entries:")
    print(f"  diagnose (indexed)          {indexed * 1000:9.1f} ms")
    print(f"  every earlier finding       {reference * 1000:9.1f} ms   (x{reference / indexed:.0f})")


if __name__ == "__main__":
    main()
