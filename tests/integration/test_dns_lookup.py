"""`rtcdiag dns` against a real DNS server: dnsmasq on a free loopback port, started and stopped by PID here.

Zone (all under rtcdiag.test, unknown names there are NXDOMAIN):
- good:    A 127.0.0.1, AAAA ::1; SRV _turn._udp x3 (priorities/weights to order), _stun._udp, _turns._tcp ->
           turn.rtcdiag.test, which has A/AAAA and where the session coturn listens (so ::1 is reachable).
- srvonly: no address; SRV _turn._udp -> ghost (no address), _turn._tcp -> alias (a CNAME of turn).
- noaddr:  only a TXT record.
- v6dead:  A 127.0.0.1, AAAA ::1, SRV _turn._tcp -> v6dead at the dead port: nothing answers on ::1.
Every query dnsmasq receives is logged to ``Dnsmasq.log``. (The control question of the DNS check goes to the
system resolver only, never to a --nameserver: tests/lab/test_no_dns.py covers it inside a namespace.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from free_ports import free_udp_and_tcp_port

from rtcdiag.coturn import RunningCoturn
from rtcdiag.report import json_report

# dnsmasq lives in /usr/sbin, which is not on every user's PATH.
DNSMASQ = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
ZONE = "rtcdiag.test"

pytestmark = pytest.mark.skipif(DNSMASQ is None,
                                reason="dnsmasq is not installed (apt-get install -y dnsmasq-base)")


@dataclass
class Dnsmasq:
    port: int
    process: subprocess.Popen[bytes]
    log: Path  # --log-queries output: one line per question received

    def asked(self, name: str) -> bool:
        return any(f" {name} from " in line for line in self.log.read_text().splitlines()
                   if "query[" in line)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"


def _answers(port: int) -> bool:
    import dns.exception
    import dns.message
    import dns.query

    try:
        dns.query.udp(dns.message.make_query(f"turn.{ZONE}", "A"), "127.0.0.1", port=port, timeout=0.2)
    except (dns.exception.DNSException, OSError):
        return False
    return True


def _zone_args(coturn: RunningCoturn, dead_port: int) -> list[str]:
    turn, tls = coturn.port, coturn.tls_port
    return [
        f"--host-record=turn.{ZONE},127.0.0.1,::1",
        f"--host-record=turn2.{ZONE},127.0.0.1",
        f"--host-record=good.{ZONE},127.0.0.1,::1",
        # _turn._udp: priority 20 last; within priority 10 the heavier weight (60) first (RFC 2782).
        f"--srv-host=_turn._udp.good.{ZONE},turn2.{ZONE},{turn},20,100",
        f"--srv-host=_turn._udp.good.{ZONE},turn.{ZONE},{turn},10,10",
        f"--srv-host=_turn._udp.good.{ZONE},turn2.{ZONE},{turn + 1},10,60",
        f"--srv-host=_stun._udp.good.{ZONE},turn.{ZONE},{turn},0,0",
        f"--srv-host=_turns._tcp.good.{ZONE},turn.{ZONE},{tls},0,0",
        f"--srv-host=_turn._udp.srvonly.{ZONE},ghost.{ZONE},3478,0,0",
        f"--cname=alias.{ZONE},turn.{ZONE}",
        f"--srv-host=_turn._tcp.srvonly.{ZONE},alias.{ZONE},{turn},0,0",
        f"--txt-record=noaddr.{ZONE},only text here",
        f"--host-record=v6dead.{ZONE},127.0.0.1,::1",
        f"--srv-host=_turn._tcp.v6dead.{ZONE},v6dead.{ZONE},{dead_port},0,0",
    ]


@pytest.fixture(scope="module")
def dnsmasq(coturn: RunningCoturn, dead_port: int, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[Dnsmasq]:
    assert DNSMASQ is not None
    log = tmp_path_factory.mktemp("dnsmasq") / "queries.log"
    for _attempt in range(3):
        port = free_udp_and_tcp_port()
        argv = [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", f"--port={port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                f"--local=/{ZONE}/", "--log-queries", f"--log-facility={log}", *_zone_args(coturn, dead_port)]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and process.poll() is None and not _answers(port):
                time.sleep(0.02)
            if process.poll() is None and _answers(port):
                yield Dnsmasq(port=port, process=process, log=log)
                return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(3)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    pytest.fail("dnsmasq did not start")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", "dns", *args], capture_output=True, text=True,
                          timeout=60)


def run_json(server: Dnsmasq, name: str, *extra: str) -> tuple[int, dict[str, object]]:
    proc = run(name, "--nameserver", server.nameserver, "--timeout", "1", "--json", *extra)
    assert proc.stderr == "" or "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(json_report.load_schema()).validate(report)
    assert report["exit_code"] == proc.returncode
    return proc.returncode, report


def finding_ids(report: dict[str, object]) -> list[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return sorted(f["id"] for f in findings)


def test_healthy_name_resolves_with_srv_in_rfc2782_order(dnsmasq: Dnsmasq, coturn: RunningCoturn) -> None:
    code, report = run_json(dnsmasq, f"good.{ZONE}")
    results = report["results"]
    assert isinstance(results, dict)
    assert results["nameservers"] == [dnsmasq.nameserver]
    assert results["resolver_source"] == "--nameserver"
    assert results["ipv4"] == ["127.0.0.1"]
    assert results["ipv6"] == ["::1"]
    turn_udp = [(r["priority"], r["weight"], r["target"], r["port"]) for r in results["srv"]
                if r["service"] == "_turn._udp"]
    assert turn_udp == [(10, 60, f"turn2.{ZONE}", coturn.port + 1), (10, 10, f"turn.{ZONE}", coturn.port),
                        (20, 100, f"turn2.{ZONE}", coturn.port)]
    turns = [r for r in results["srv"] if r["service"] == "_turns._tcp"]
    assert turns[0]["port"] == coturn.tls_port and turns[0]["addresses"] == ["127.0.0.1", "::1"]
    # Every query was timed, and every SRV service was asked (the missing one does not exist: NXDOMAIN).
    outcomes = {(q["rdtype"], q["qname"]): q["outcome"] for q in results["queries"]}
    assert outcomes[("SRV", f"_turn._tcp.good.{ZONE}")] == "nxdomain"
    assert outcomes[("SRV", f"_turn._udp.good.{ZONE}")] == "answer"
    assert all(0 < q["rtt_ms"] < 1000 for q in results["queries"])
    # ::1 is reachable: the session coturn listens there on the SRV port.
    if "::1" in coturn.listening_ips:
        assert any(c["address"] == "::1" and c["reachable"] for c in results["ipv6_checks"])
        assert "DNS-IPV6-UNREACHABLE" not in finding_ids(report)
    assert not [f for f in report["findings"] if f["severity"] == "error"]
    # One testcase per question, named as before; the control name was not asked (no extra traffic).
    names = [c["name"] for c in report["checks"]]
    assert names[:3] == [f"A good.{ZONE}", f"AAAA good.{ZONE}", "SRV _stun._udp"]
    assert "SRV _turns._tcp" in names and "ipv6 reachability" in names
    assert {c["suite"] for c in report["checks"]} == {f"dns:good.{ZONE}"}
    assert results["control"] is None
    assert dnsmasq.asked(f"good.{ZONE}") and not dnsmasq.asked("example.com")  # no extra question
    assert code == 0


def test_unknown_name_is_nxdomain_exit_1(dnsmasq: Dnsmasq) -> None:
    code, report = run_json(dnsmasq, f"missing.{ZONE}")
    assert finding_ids(report) == ["DNS-NXDOMAIN"]
    # A --nameserver that answers NXDOMAIN: the name is the root cause; no control question to that server.
    assert report["results"]["control"] is None and not dnsmasq.asked("example.com")
    assert [r["id"] for r in report["root_causes"]] == ["DNS-NXDOMAIN"]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses[f"A missing.{ZONE}"] == "fail" and statuses[f"AAAA missing.{ZONE}"] == "skip"
    assert code == 1


def test_srv_target_without_address_and_cname_target(dnsmasq: Dnsmasq) -> None:
    code, report = run_json(dnsmasq, f"srvonly.{ZONE}")
    ids = finding_ids(report)
    assert "DNS-SRV-TARGET-NO-ADDRESS" in ids
    assert "DNS-SRV-TARGET-CNAME" in ids
    assert "DNS-NO-ADDRESS" not in ids  # SRV records exist: a bare A/AAAA is not required
    by_id = {f["id"]: f for f in report["findings"]}
    assert f"ghost.{ZONE}" in by_id["DNS-SRV-TARGET-NO-ADDRESS"]["title"]
    assert f"turn.{ZONE}" in by_id["DNS-SRV-TARGET-CNAME"]["symptom"]
    results = report["results"]
    alias = next(r for r in results["srv"] if r["service"] == "_turn._tcp")
    assert alias["target_alias_of"] == f"turn.{ZONE}" and "127.0.0.1" in alias["addresses"]
    assert code == 1


def test_name_with_only_txt_has_no_address(dnsmasq: Dnsmasq) -> None:
    code, report = run_json(dnsmasq, f"noaddr.{ZONE}")
    assert "DNS-NO-ADDRESS" in finding_ids(report)
    a_query = next(q for q in report["results"]["queries"] if q["rdtype"] == "A")
    assert a_query["outcome"] == "nodata"
    assert code == 1


def test_published_ipv6_that_does_not_answer(dnsmasq: Dnsmasq, dead_port: int, coturn: RunningCoturn) -> None:
    if "::1" not in coturn.listening_ips:
        pytest.skip("no IPv6 loopback here")
    code, report = run_json(dnsmasq, f"v6dead.{ZONE}")
    checks = report["results"]["ipv6_checks"]
    assert {(c["transport"], c["port"]) for c in checks} >= {("tcp", dead_port), ("udp", 3478)}
    assert not any(c["reachable"] for c in checks)
    assert "DNS-IPV6-UNREACHABLE" in finding_ids(report)
    assert code == 0  # a warning: IPv4 still works


def test_resolver_that_does_not_answer_is_said_so(dead_port: int) -> None:
    started = time.monotonic()
    proc = run(f"good.{ZONE}", "--nameserver", f"127.0.0.1:{dead_port}", "--timeout", "0.3", "--json")
    report = json.loads(proc.stdout)
    # That server is the problem (named in the finding), not this machine's DNS (no DNS-NOT-WORKING) and not
    # the name (issue 22: "the name server does not answer", not "the name is misspelled").
    assert finding_ids(report) == ["DNS-RESOLVER-SILENT"]
    [silent] = report["findings"]
    assert f"127.0.0.1:{dead_port} (--nameserver) answered none of the 7 questions" in silent["symptom"]
    assert "misspelled" not in silent["cause"] + silent["fix"]
    assert silent["snippet"] == [f"dig @127.0.0.1 -p {dead_port} good.{ZONE} A +tries=1 +time=2"]
    assert report["results"]["control"] is None
    assert [r["id"] for r in report["root_causes"]] == ["DNS-RESOLVER-SILENT"]
    statuses = [c["status"] for c in report["checks"]]
    assert statuses[0] == "fail" and set(statuses[1:]) == {"inconclusive"}  # said once, on "A NAME"
    assert proc.returncode == 1
    assert time.monotonic() - started < 10


def test_console_report_names_resolver_and_srv_table(dnsmasq: Dnsmasq) -> None:
    proc = run(f"good.{ZONE}", "--nameserver", dnsmasq.nameserver, "--timeout", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()  # the verdict, the addresses, each SRV record, the resolver (issue 22)
    assert lines[1].split()[0] == "addresses" and "127.0.0.1" in lines[1]
    assert any(line.split()[0] == "_turn._udp" for line in lines[2:])
    assert f"resolver     {dnsmasq.nameserver} (--nameserver), slowest answer" in proc.stdout
    verbose = run(f"good.{ZONE}", "--nameserver", dnsmasq.nameserver, "--timeout", "1", "-v")
    assert f"Queries via {dnsmasq.nameserver}" in verbose.stdout
    assert "SRV records (RFC 2782 order" in verbose.stdout


@pytest.mark.parametrize("args, message", [
    (["192.0.2.1"], "is an IP address"),
    ([f"good.{ZONE}", "--nameserver", "not-an-ip"], "--nameserver"),
    (["bad..name"], "not a valid DNS name"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtcdiag: error: ") and message in lines[0]


def test_several_failing_names_ask_the_control_question_once(dead_port: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`rtcdiag check` looks up every server's name at once: when none resolves, the control name is asked
    once per resolver and run, and every lookup gets that one answer (a dead loopback resolver here)."""
    import asyncio

    from rtcdiag.probes import dns

    asked: list[str] = []
    real_query = dns._query

    async def counting(resolver: object, qname: str, rdtype: str) -> object:
        asked.append(qname)
        return await real_query(resolver, qname, rdtype)

    monkeypatch.setattr(dns, "_query", counting)

    async def three() -> list[dns.DnsResult]:
        return list(await asyncio.gather(*(
            dns.lookup(f"{label}.{ZONE}", nameserver=("127.0.0.1", dead_port), timeout=0.3,
                       check_ipv6=False, control_name=dns.CONTROL_NAME) for label in ("a", "b", "c"))))

    results = asyncio.run(three())
    assert asked.count(dns.CONTROL_NAME) == 1
    assert all(r.control is not None and r.control.qname == dns.CONTROL_NAME for r in results)
    assert results[0].control is results[1].control is results[2].control
