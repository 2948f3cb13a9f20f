""""No DNS at all": rtcdiag in a network namespace whose resolver does not exist.

The test creates a namespace with only ``lo`` up and ``/etc/netns/<ns>/resolv.conf`` naming 127.0.0.1, where
nothing listens inside the namespace (``ip netns exec`` bind-mounts that file over /etc/resolv.conf), so
every query fails fast with ICMP port unreachable on the namespace's own loopback. The DNS check then asks
its control name (example.com) of the same resolver, which fails too, and the diagnosis must give ONE root
cause, DNS-NOT-WORKING, with the name's own failure folded under it. No packet leaves the namespace.
The namespace and /etc/netns/<ns> are removed at teardown, even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NETNS_ETC = Path("/etc/netns")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (ip netns add, /etc/netns)"
    if shutil.which("ip") is None:
        return "needs `ip` (apt-get install iproute2)"
    return None


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def no_dns_ns() -> Iterator[str]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    name = f"rtdns{os.getpid()}"
    created_etc = not NETNS_ETC.exists()
    etc = NETNS_ETC / name
    try:
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        etc.mkdir(parents=True)
        # Nothing listens on 127.0.0.1:53 inside the namespace: each query gets ICMP port unreachable.
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        shutil.rmtree(etc, ignore_errors=True)
        if created_etc:
            with contextlib.suppress(OSError):  # someone else's namespace files are there now: leave them
                NETNS_ETC.rmdir()


def run_in(ns: str, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "rtcdiag", *args, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_resolv_conf_of_the_namespace_is_the_one_used(no_dns_ns: str) -> None:
    proc = subprocess.run(["ip", "netns", "exec", no_dns_ns, "cat", "/etc/resolv.conf"], capture_output=True,
                          text=True, timeout=30, check=True)
    assert proc.stdout.startswith("nameserver 127.0.0.1\n")


def test_dns_with_no_resolver_is_one_root_cause_dns_not_working(no_dns_ns: str) -> None:
    code, report = run_in(no_dns_ns, "dns", "turn.some-name.test", "--timeout", "1")
    results = report["results"]
    assert results["nameservers"] == ["127.0.0.1:53"] and results["resolver_source"] == "/etc/resolv.conf"
    assert {q["outcome"] for q in results["queries"]} <= {"timeout", "servfail", "error"}
    # The control question was asked of the same (missing) resolver, and failed too.
    assert results["control"]["qname"] == "example.com"
    assert results["control"]["outcome"] in ("timeout", "servfail", "error")
    (root,) = report["root_causes"]
    assert root["id"] == "DNS-NOT-WORKING"
    by_id = {f["id"]: f for f in report["findings"]}
    assert sorted(by_id) == ["DNS-FAILURE", "DNS-NOT-WORKING"]
    assert "turn.some-name.test" in by_id["DNS-NOT-WORKING"]["symptom"]
    assert "example.com" in by_id["DNS-NOT-WORKING"]["symptom"]
    # Everything else is folded under the root cause, and said once.
    others = [f for f in report["findings"] if f["ref"] != root["ref"] and f["severity"] != "info"]
    assert others and all(f["explained_by"] == root["ref"] for f in others)
    assert sorted(root["explains"]) == sorted(f["ref"] for f in others)
    assert [f["id"] for f in report["findings"]].count("DNS-FAILURE") == 1
    assert code == 1


def test_check_with_no_resolver_is_one_root_cause_dns_not_working(no_dns_ns: str) -> None:
    code, report = run_in(no_dns_ns, "check", "turn:turn.some-name.test:3478", "--timeout", "1")
    (root,) = report["root_causes"]
    assert root["id"] == "DNS-NOT-WORKING"
    problems = [f for f in report["findings"] if f["ref"] != root["ref"] and f["severity"] != "info"]
    assert problems and all(f["explained_by"] == root["ref"] for f in problems)
    assert code == 1


def test_check_without_arguments_and_no_resolver_says_dns_does_not_work(no_dns_ns: str) -> None:
    """The issue's case: `rtcdiag check` (public STUN servers by name) on a machine without DNS. No packet
    leaves the namespace: the names never resolve."""
    code, report = run_in(no_dns_ns, "check", "--timeout", "1")
    assert code == 1
    assert [r["id"] for r in report["root_causes"]] == ["DNS-NOT-WORKING"]
    root = report["root_causes"][0]
    problems = [f for f in report["findings"] if f["ref"] != root["ref"] and f["severity"] != "info"]
    assert len(problems) >= 2 and all(f["explained_by"] == root["ref"] for f in problems)
    assert not [f for f in report["findings"] if f["id"] == "DNS-NXDOMAIN"]
    assert "gaierror" not in json.dumps(report)
