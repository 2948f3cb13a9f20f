""""No DNS at all" versus "this name is broken": rtcdiag with the system resolver of a network namespace.

The test creates a namespace with only ``lo`` up and ``/etc/netns/<ns>/resolv.conf`` naming 127.0.0.1
(``ip netns exec`` bind-mounts that file over /etc/resolv.conf):

- nothing listening on 127.0.0.1:53: every query fails fast (ICMP port unreachable on the namespace's own
  loopback); the DNS check asks its control name (example.com), which fails too, and the diagnosis gives ONE
  root cause, DNS-NOT-WORKING, with the name's own failure folded under it;
- a dnsmasq on 127.0.0.1:53 inside the namespace (started and stopped here, by PID) that knows example.com:
  a healthy name sends no control question at all; an unknown name gets DNS-NXDOMAIN as the root cause and
  the control question is answered;
- a dnsmasq that answers NXDOMAIN for every name (a broken or hijacking resolver): DNS-NOT-WORKING again.

No packet leaves the namespace. The namespace and /etc/netns/<ns> are removed at teardown, even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NETNS_ETC = Path("/etc/netns")
DNSMASQ = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
ZONE = "rtcdiag.test"


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
    # The one cause of every failure; the configuration's own fact (a UDP-only TURN URL, no TCP fallback)
    # is not a consequence of DNS and stands beside it, a warning.
    root, fallback = report["root_causes"]
    assert (root["id"], fallback["id"], fallback["severity"]) == ("DNS-NOT-WORKING", "TURN-NO-TCP-FALLBACK",
                                                                 "warning")
    problems = [f for f in report["findings"] if f["ref"] not in (root["ref"], fallback["ref"])
                and f["severity"] != "info"]
    assert problems and all(f["explained_by"] == root["ref"] for f in problems)
    # Every check that needed the name says so once, on its own step, folded under the root cause.
    assert {(f["check"], f["step"]) for f in problems} >= {("dns", "A turn.some-name.test"),
                                                           ("ports", "resolve")}
    assert "INTERNAL-ERROR" not in [f["id"] for f in report["findings"]]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["dns/A turn.some-name.test"] == statuses["ports/resolve"] == "fail"
    assert statuses["ports/udp/3478"] == "skip"
    assert code == 1


@contextlib.contextmanager
def dnsmasq_in(ns: str, log: Path, *zone: str) -> Iterator[None]:
    """dnsmasq on 127.0.0.1:53 inside ``ns`` (no upstream), every query logged to ``log``; stopped by PID."""
    if DNSMASQ is None:
        pytest.skip("dnsmasq is not installed (apt-get install -y dnsmasq-base)")
    argv = ["ip", "netns", "exec", ns, DNSMASQ, "--no-daemon", "--conf-file=/dev/null", "--port=53",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--log-queries",
            f"--log-facility={log}", *zone]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5.0
        while not (log.exists() and "started" in log.read_text()) and time.monotonic() < deadline:
            assert process.poll() is None, "dnsmasq exited"
            time.sleep(0.02)
        yield
    finally:
        process.terminate()
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def asked(log: Path, name: str) -> bool:
    return any(f"] {name} from " in line for line in log.read_text().splitlines() if "query[" in line)


def test_healthy_name_sends_no_control_question(no_dns_ns: str, tmp_path: Path) -> None:
    log = tmp_path / "queries.log"
    with dnsmasq_in(no_dns_ns, log, f"--host-record=turn.{ZONE},127.0.0.1", f"--local=/{ZONE}/",
                    "--host-record=example.com,192.0.2.10"):
        code, report = run_in(no_dns_ns, "dns", f"turn.{ZONE}", "--timeout", "1", "--no-ipv6-check")
    assert report["results"]["ipv4"] == ["127.0.0.1"]
    assert report["results"]["control"] is None
    assert asked(log, f"turn.{ZONE}") and not asked(log, "example.com")
    assert report["root_causes"] == [] and code == 0


def test_unknown_name_with_working_dns_is_nxdomain_only(no_dns_ns: str, tmp_path: Path) -> None:
    log = tmp_path / "queries.log"
    with dnsmasq_in(no_dns_ns, log, f"--local=/{ZONE}/", "--host-record=example.com,192.0.2.10"):
        code, report = run_in(no_dns_ns, "dns", f"missing.{ZONE}", "--timeout", "1")
    assert asked(log, "example.com")
    control = report["results"]["control"]
    assert (control["qname"], control["outcome"], control["records"]) == ("example.com", "answer",
                                                                          ["192.0.2.10"])
    assert [r["id"] for r in report["root_causes"]] == ["DNS-NXDOMAIN"]
    assert "DNS-NOT-WORKING" not in [f["id"] for f in report["findings"]]
    assert any("control name example.com" in note and "resolver works" in note for note in report["notes"])
    assert code == 1


def test_resolver_that_says_nxdomain_to_everything_is_dns_not_working(no_dns_ns: str, tmp_path: Path) -> None:
    log = tmp_path / "queries.log"
    with dnsmasq_in(no_dns_ns, log, "--address=/#/"):  # NXDOMAIN for every name
        code, report = run_in(no_dns_ns, "dns", f"turn.{ZONE}", "--timeout", "1")
    assert asked(log, "example.com")
    assert report["results"]["control"]["outcome"] == "nxdomain"
    (root,) = report["root_causes"]
    assert root["id"] == "DNS-NOT-WORKING"
    nxdomain = next(f for f in report["findings"] if f["id"] == "DNS-NXDOMAIN")
    assert nxdomain["explained_by"] == root["ref"]
    assert code == 1


@pytest.mark.parametrize("host, root_id", [("turn.some-name.test", "DNS-FAILURE"),
                                           ("stun.l.google.com", "DNS-NOT-WORKING")])
def test_ports_of_a_name_that_does_not_resolve(no_dns_ns: str, host: str, root_id: str) -> None:
    # The ports check asks no control question; a well-known name that fails is itself the evidence.
    code, report = run_in(no_dns_ns, "ports", host, "--timeout", "0.5")
    assert report["results"]["resolve_error"] and report["results"]["ports"] == []
    (root,) = report["root_causes"]
    assert root["id"] == root_id
    failure = next(f for f in report["findings"] if f["id"] == "DNS-FAILURE")
    assert (failure["subject"], failure["step"], failure["host"]) == (f"ports:{host}", "resolve", host)
    assert failure["explained_by"] == (None if root_id == "DNS-FAILURE" else root["ref"])
    statuses = {c["name"]: c["status"] for c in report["checks"] if c["suite"] == f"ports:{host}"}
    assert statuses == {"resolve": "fail", "udp/3478": "skip", "tcp/3478": "skip", "tls/5349": "skip",
                        "tls/443": "skip"}
    assert code == 1


def test_check_of_an_unknown_name_with_working_dns_is_one_root_cause_nxdomain(no_dns_ns: str,
                                                                              tmp_path: Path) -> None:
    log = tmp_path / "queries.log"
    with dnsmasq_in(no_dns_ns, log, f"--local=/{ZONE}/", "--host-record=example.com,192.0.2.10"):
        code, report = run_in(no_dns_ns, "check", f"turn:missing.{ZONE}:3478", "--timeout", "1")
    # The DNS check says it precisely (NXDOMAIN); ports, stun and turn, which could only say "does not
    # resolve" (DNS-FAILURE), are folded under it: one fact, stated once. (The UDP-only URL's missing TCP
    # fallback is the configuration's own warning, beside it.)
    root, fallback = report["root_causes"]
    assert fallback["id"] == "TURN-NO-TCP-FALLBACK"
    assert (root["id"], root["ref"].split("|")[-1]) == ("DNS-NXDOMAIN", f"dns/A missing.{ZONE}")
    failures = [f for f in report["findings"] if f["id"] == "DNS-FAILURE"]
    assert {f["check"] for f in failures} >= {"ports", "stun"}
    assert all(f["explained_by"] == root["ref"] for f in failures)
    assert "DNS-NOT-WORKING" not in [f["id"] for f in report["findings"]]
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


def test_bare_nat_type_offline_is_one_line_exit_3(no_dns_ns: str) -> None:
    """`rtcdiag nat-type` with no arguments uses the default public list; with no DNS and no route it ends in
    one line and exit 3 (nothing was measured), not one failure per public server or "DNS is broken"."""
    proc = subprocess.run(["ip", "netns", "exec", no_dns_ns, sys.executable, "-m", "rtcdiag", "nat-type"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and proc.stderr == ""
    assert lines[0].startswith(
        "rtcdiag nat-type: INCONCLUSIVE: None of the 4 STUN servers answered: DNS failed")
    code, report = run_in(no_dns_ns, "nat-type")
    assert code == 3 and [f["id"] for f in report["findings"]] == ["NAT-OFFLINE"]
    # IP literals without a route: the same one line
    proc = subprocess.run(["ip", "netns", "exec", no_dns_ns, sys.executable, "-m", "rtcdiag", "nat-type",
                           "--servers", "stun:203.0.113.98:3478,stun:203.0.113.99:3478", "--timeout", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3 and len(proc.stdout.strip().splitlines()) == 1
    assert "no reply from stun:203.0.113.98:3478, stun:203.0.113.99:3478" in proc.stdout
