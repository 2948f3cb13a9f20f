"""`rtcdiag exporter` against real peers: a real Prometheus (Debian's ``prometheus``, started here on a free
loopback port with its own config and storage, stopped by PID) scrapes the exporter, which probes real
coturns on loopback. Also: HTTP errors in one line, bounded concurrency (503), the scrape timeout header,
allocations released when the scraper hangs up (coturn's per-user quota of one allocation proves it), REST
credentials minted per probe without growing the secret set, no secret on any endpoint, and
``rtcdiag check --openmetrics`` read back by ``promtool check metrics``; the scrape-timeout path driven in
process with a deadline the probe cannot meet (the same quota proof).

The only hand-written peer is tests/servers.py's ``silent`` server (reads requests, never answers): no real
TURN server can be made to hang on purpose, and a hanging probe is what the busy/timeout paths need.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from free_ports import free_port

from rtcdiag.coturn import CoturnOptions, RunningCoturn

pytest.importorskip("prometheus_client", reason="the exporter extra (prometheus_client) is in the test extra")

REPO = Path(__file__).resolve().parents[2]
PASSWORD_VAR = "RTCDIAG_TEST_EXPORTER_PW"
WRONG_VAR = "RTCDIAG_TEST_EXPORTER_WRONG"
SECRET_VAR = "RTCDIAG_TEST_EXPORTER_SECRET"
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
Factory = Callable[[CoturnOptions], RunningCoturn]


def http(url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text format (labels matched as given, others ignored)."""
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        match = re.match(rf"^{re.escape(name)}(\{{(.*)\}})? (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


@dataclass
class Exporter:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def probe(self, module: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        query = urllib.parse.urlencode({"module": module, "target": target})
        return http(f"{self.base}/probe?{query}", headers)

    def metrics(self) -> str:
        return http(f"{self.base}/metrics")[1]


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], Exporter]]:
    """``start_exporter(toml_text, env)`` -> a running `rtcdiag exporter` on a free loopback port."""
    started: list[Exporter] = []

    def start(config: str, env: dict[str, str]) -> Exporter:
        path = tmp_path / f"rtcdiag-{len(started)}.toml"
        path.write_text(config)
        log = tmp_path / f"exporter-{len(started)}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "rtcdiag", "exporter", "--config", str(path),
                                     "--listen", "127.0.0.1:0"], stderr=err, stdout=subprocess.DEVNULL,
                                    env={**os.environ, **env}, cwd=tmp_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", log.read_text())
            if found:
                exporter = Exporter(proc, f"http://127.0.0.1:{found.group(1)}", log)
                started.append(exporter)
                return exporter
            if proc.poll() is not None:
                pytest.fail(f"exporter exited {proc.returncode}: {log.read_text()}")
            time.sleep(0.05)
        proc.kill()
        pytest.fail(f"exporter did not start: {log.read_text()}")

    try:
        yield start
    finally:
        for exporter in started:
            exporter.proc.terminate()
            try:
                exporter.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                exporter.proc.kill()
                exporter.proc.wait()
            assert "Traceback" not in exporter.log.read_text(), exporter.log.read_text()


def turn_module(name: str, coturn: RunningCoturn, password_var: str, **extra: str) -> str:
    lines = [f"[modules.{name}]", 'urls = ["turn:{target}?transport=udp"]', f"default_port = {coturn.port}",
             'checks = ["stun", "turn"]', 'username = "alice"', f'password_env = "{password_var}"',
             'targets = ["127.0.0.1"]']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def alice(coturn: RunningCoturn) -> str:
    return coturn.users["alice"]


RELEASE_WAIT_S = 10.0  # coturn frees a released allocation on its 1 s timer; a leaked one holds 600 s


def held_allocations(server: RunningCoturn) -> set[str]:
    """Sessions whose allocation coturn still holds, from its own log (``verbose``): ``session N: new, ...``
    when it allocates, ``session N: closed (2nd stage)`` once it has freed the allocation and its quota."""
    log = server.log_path.read_text(errors="replace")
    made = set(re.findall(r"session (\d+): new, ", log))
    return made - set(re.findall(r"session (\d+): closed \(2nd stage\)", log))


async def all_released(server: RunningCoturn) -> None:
    """Wait until coturn has freed every allocation it made (not a fixed sleep on its timer); fail when one
    is still held after RELEASE_WAIT_S: that one leaked."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    while held := held_allocations(server):
        assert time.monotonic() < deadline, f"coturn still holds the allocation of session(s) {held}: " \
            f"leaked\n{server.log_tail(40)}"
        await asyncio.sleep(0.05)


# --- a real Prometheus ------------------------------------------------------------------------------------


@dataclass
class Prometheus:
    proc: subprocess.Popen[bytes]
    base: str

    def query(self, expr: str) -> list[dict[str, object]]:
        status, body = http(f"{self.base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert status == 200, body
        data = json.loads(body)
        assert data["status"] == "success", data
        result: list[dict[str, object]] = data["data"]["result"]
        return result

    def wait_for(self, expr: str, timeout_s: float = 60.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.5)
        pytest.fail(f"Prometheus has no result for {expr} after {timeout_s:.0f} s")


@contextlib.contextmanager
def run_prometheus(scrape_configs: str) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    with tempfile.TemporaryDirectory(prefix="rtcdiag-prometheus-") as temp:
        folder = Path(temp)
        (folder / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 4s\n  scrape_timeout: 4s\nscrape_configs:\n" + scrape_configs)
        port = free_port()
        log = (folder / "prometheus.log").open("wb")
        proc = subprocess.Popen([binary, f"--config.file={folder / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={folder / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        server = Prometheus(proc, f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 60
            while not (_listening(port) and http(f"{server.base}/-/ready", timeout=2)[0] == 200):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    tail = (folder / "prometheus.log").read_text()[-2000:]
                    pytest.fail(f"prometheus did not start: {tail}")
                time.sleep(0.2)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def probe_job(job: str, module: str, target: str, exporter: Exporter) -> str:
    """A scrape job in the blackbox pattern: the target is a parameter, the exporter the address."""
    address = exporter.base.removeprefix("http://")
    return (f"  - job_name: {job}\n    metrics_path: /probe\n    params:\n      module: [{module}]\n"
            f"    static_configs:\n      - targets: ['{target}']\n    relabel_configs:\n"
            "      - source_labels: [__address__]\n        target_label: __param_target\n"
            "      - source_labels: [__param_target]\n        target_label: instance\n"
            f"      - target_label: __address__\n        replacement: '{address}'\n")


def test_prometheus_records_success_and_the_finding_of_a_broken_server(
        coturn: RunningCoturn, start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    config = turn_module("turn_udp", coturn, PASSWORD_VAR) + turn_module("turn_wrong", coturn, WRONG_VAR)
    exporter = start_exporter(config, {PASSWORD_VAR: alice(coturn), WRONG_VAR: "not-" + alice(coturn)})
    target = f"127.0.0.1:{coturn.port}"
    jobs = (probe_job("healthy", "turn_udp", target, exporter)
            + probe_job("broken", "turn_wrong", target, exporter)
            + f"  - job_name: exporter\n    static_configs:\n      - targets: ['{exporter.base[7:]}']\n")
    with run_prometheus(jobs) as prometheus:
        healthy = prometheus.wait_for('probe_success{job="healthy"}')
        broken = prometheus.wait_for('probe_success{job="broken"}')
        assert healthy[0]["value"][1] == "1"  # type: ignore[index]
        assert broken[0]["value"][1] == "0"  # type: ignore[index]
        finding = prometheus.wait_for('rtcdiag_findings{job="broken",id="TURN-AUTH-401",severity="error"}')
        assert float(finding[0]["value"][1]) >= 1  # type: ignore[index]
        root = prometheus.wait_for('rtcdiag_root_cause_info{job="broken"}')
        assert [r["metric"]["id"] for r in root] == ["TURN-AUTH-401"]  # type: ignore[index]
        relay = prometheus.wait_for('rtcdiag_relay_allocation_success{job="healthy",transport="udp"}')
        assert relay[0]["value"][1] == "1"  # type: ignore[index]
        assert prometheus.query('rtcdiag_root_cause_info{job="healthy"}') == []
        # Prometheus sent X-Prometheus-Scrape-Timeout-Seconds: 4; the exporter kept its 0.5 s margin.
        budget = prometheus.wait_for('rtcdiag_probe_timeout_seconds{job="healthy"}')
        assert float(budget[0]["value"][1]) == pytest.approx(3.5)  # type: ignore[index]
        prometheus.wait_for('rtcdiag_exporter_probes_total{job="exporter",module="turn_udp",result="success"}')
        # No secret in anything Prometheus stored (every series of every job, with all labels).
        status, federated = http(f"{prometheus.base}/federate?match[]=" + urllib.parse.quote('{job=~".+"}'))
        assert status == 200 and "probe_success" in federated
        assert alice(coturn) not in federated


def test_sigterm_is_a_clean_stop_with_exit_0(
        coturn: RunningCoturn, start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    """systemd stops a service with SIGTERM and marks 143 as failed: after the clean shutdown, exit 0."""
    exporter = start_exporter(turn_module("turn_udp", coturn, PASSWORD_VAR), {PASSWORD_VAR: alice(coturn)})
    assert exporter.probe("turn_udp", f"127.0.0.1:{coturn.port}")[0] == 200
    exporter.proc.terminate()
    assert exporter.proc.wait(timeout=15) == 0
    assert "rtcdiag exporter: stopped by SIGTERM" in exporter.log.read_text()


def test_no_secret_on_any_endpoint(coturn: RunningCoturn,
                                   start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    password = alice(coturn)
    exporter = start_exporter(turn_module("turn_udp", coturn, PASSWORD_VAR)
                              + turn_module("turn_wrong", coturn, WRONG_VAR),
                              {PASSWORD_VAR: password, WRONG_VAR: "wrong-" + password})
    target = f"127.0.0.1:{coturn.port}"
    answers = [exporter.probe("turn_udp", target), exporter.probe("turn_wrong", target),
               exporter.probe(password, target),  # the password as a module name: echoed masked
               exporter.probe("turn_udp", password), http(f"{exporter.base}/"),
               http(f"{exporter.base}/{password}"), (200, exporter.metrics())]
    assert answers[0][0] == 200 and sample(answers[0][1], "probe_success") == 1
    assert answers[1][0] == 200 and sample(answers[1][1], "probe_success") == 0
    assert answers[2][0] == 400 and "unknown module '***'" in answers[2][1]
    for _, body in answers:
        assert password not in body and "wrong-" not in body


def test_bad_requests_are_one_line_and_the_exporter_keeps_serving(
        coturn: RunningCoturn, start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    exporter = start_exporter(turn_module("turn_udp", coturn, PASSWORD_VAR), {PASSWORD_VAR: alice(coturn)})
    target = f"127.0.0.1:{coturn.port}"
    cases = {
        "unknown module": (exporter.probe("nope", target), 400, "unknown module 'nope'"),
        "bad target": (exporter.probe("turn_udp", "127.0.0.1/evil?x"), 400, "target must be host[:port]"),
        "port out of range": (exporter.probe("turn_udp", "127.0.0.1:70000"), 400, "port must be"),
        "not on the allow-list": (exporter.probe("turn_udp", "203.0.113.9"), 400, "not allowed by module"),
        "no target": (http(f"{exporter.base}/probe?module=turn_udp"), 400, "exactly one target="),
        "two targets": (http(f"{exporter.base}/probe?module=turn_udp&target=a&target=b"), 400, "exactly one"),
        "bad timeout": (exporter.probe("turn_udp", target, {TIMEOUT_HEADER: "x"}), 400, "not a number"),
        "unknown path": (http(f"{exporter.base}/nothing"), 404, "not found"),
    }
    for what, ((status, body), want_status, want_text) in cases.items():
        assert status == want_status, (what, status, body)
        assert want_text in body and body.count("\n") == 1, (what, body)
    with socket.create_connection(("127.0.0.1", int(exporter.base.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"POST /probe HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 405")
    with socket.create_connection(("127.0.0.1", int(exporter.base.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 431")
    status, body = exporter.probe("turn_udp", target)
    assert status == 200 and sample(body, "probe_success") == 1
    assert exporter.proc.poll() is None
    assert sample(exporter.metrics(), "rtcdiag_exporter_rejected_requests_total", reason="bad_request") == 7


def test_concurrency_is_capped_with_503(hostile: Callable[..., object],
                                        start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    silent = hostile("silent")
    port = silent.port  # type: ignore[attr-defined]
    config = ("[exporter]\nmax_concurrent = 1\nmax_queued = 0\n[modules.slow]\n"
              'urls = ["stun:{target}"]\nchecks = ["stun"]\ntimeout = 3\ntargets = ["127.0.0.1"]\n')
    exporter = start_exporter(config, {})
    first: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: first.append(
        exporter.probe("slow", f"127.0.0.1:{port}", {TIMEOUT_HEADER: "8"})))
    thread.start()
    deadline = time.monotonic() + 20
    while sample(exporter.metrics(), "rtcdiag_exporter_probes_in_flight") != 1:
        assert time.monotonic() < deadline, "the first probe never started"
        time.sleep(0.02)
    status, body = exporter.probe("slow", f"127.0.0.1:{port}")
    thread.join(30)
    assert status == 503 and body.count("\n") == 1 and "too many probes" in body
    assert first and first[0][0] == 200
    assert sample(first[0][1], "probe_success") == 0  # the silent server never answered
    assert sample(first[0][1], "rtcdiag_probe_timeout_seconds") == pytest.approx(7.5)
    metrics = exporter.metrics()
    assert sample(metrics, "rtcdiag_exporter_rejected_requests_total", reason="busy") == 1
    assert sample(metrics, "rtcdiag_exporter_probes_in_flight") == 0


def test_scraper_hanging_up_releases_the_allocation(
        coturn_factory: Factory, start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    """coturn allows alice ONE allocation at a time (user-quota=1). coturn frees a released allocation's
    quota on its one-second timer; a leaked one holds it for its LIFETIME (600 s). So after probes cancelled
    at different points by the scraper hanging up, coturn's own log shows every allocation freed, and a
    probe passes right after."""
    server = coturn_factory(CoturnOptions(users={"alice": "alice-" + secrets.token_hex(8)}, user_quota=1,
                                          verbose=True))
    exporter = start_exporter(turn_module("turn_udp", server, PASSWORD_VAR), {PASSWORD_VAR: alice(server)})
    port = int(exporter.base.rsplit(":", 1)[1])
    target = f"127.0.0.1:{server.port}"
    request = f"GET /probe?module=turn_udp&target={target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

    def settled(requests: int) -> None:
        """The exporter has finished ``requests`` probes, cancelled (releases included) or answered, and
        coturn has freed every allocation they made."""
        deadline = time.monotonic() + 30
        while True:
            metrics = exporter.metrics()
            finished = sample(metrics, "rtcdiag_exporter_rejected_requests_total", reason="disconnected") or 0
            finished += sum(sample(metrics, "rtcdiag_exporter_probes_total", module="turn_udp", result=result)
                            or 0 for result in ("success", "failure", "timeout", "error"))
            if finished >= requests and sample(metrics, "rtcdiag_exporter_probes_in_flight") == 0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        asyncio.run(all_released(server))

    for sent, delay_ms in enumerate((0, 3, 8, 15, 30, 60), start=1):  # hang up at different points
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            time.sleep(delay_ms / 1000)
        settled(sent)  # before the next attempt, so that each one can allocate
    assert (sample(exporter.metrics(), "rtcdiag_exporter_rejected_requests_total", reason="disconnected")
            or 0) >= 1
    status, body = exporter.probe("turn_udp", target)
    assert status == 200 and sample(body, "probe_success") == 1, body


def test_rest_credentials_are_minted_per_probe_and_forgotten(
        coturn_factory: Factory, start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    secret = "rest-" + secrets.token_hex(8)
    server = coturn_factory(CoturnOptions(static_auth_secret=secret))
    config = ("[modules.rest]\n" 'urls = ["turn:{target}?transport=udp"]\nchecks = ["turn"]\n'
              f'username = "probe"\nsecret_env = "{SECRET_VAR}"\nttl = 300\ntargets = ["127.0.0.1"]\n')
    exporter = start_exporter(config, {SECRET_VAR: secret})
    before = sample(exporter.metrics(), "rtcdiag_exporter_masked_secrets")
    for _ in range(3):
        status, body = exporter.probe("rest", f"127.0.0.1:{server.port}")
        assert status == 200 and sample(body, "probe_success") == 1, body
        assert secret not in body
    # Each probe registered its minted password (and keys) for masking, and forgot them afterwards.
    assert sample(exporter.metrics(), "rtcdiag_exporter_masked_secrets") == before
    assert secret not in exporter.metrics()


def test_check_openmetrics_for_the_textfile_collector(coturn: RunningCoturn, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    out = tmp_path / "rtcdiag.prom"
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": alice(coturn)}
    base = [sys.executable, "-m", "rtcdiag", "check", f"turn:127.0.0.1:{coturn.port}?transport=udp",
            "-u", "alice", "--checks", "stun,turn", "--openmetrics", str(out)]
    done = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    text = out.read_text()
    assert sample(text, "probe_success") == 1 and text.endswith("# EOF\n")
    assert sample(text, "rtcdiag_relay_allocation_success", transport="udp") == 1
    assert alice(coturn) not in text
    if promtool is not None:  # the text format node_exporter's textfile collector reads
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert "error" not in (lint.stdout + lint.stderr).lower(), lint.stdout + lint.stderr
    env["RTCDIAG_TURN_PASSWORD"] = "wrong-" + alice(coturn)
    done = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    text = out.read_text()
    assert sample(text, "probe_success") == 0
    assert sample(text, "rtcdiag_root_cause_info", id="TURN-AUTH-401") == 1
    assert not list(tmp_path.glob(".rtcdiag.prom.*"))  # the temp file of the atomic write is gone


def test_check_openmetrics_unwritable_is_a_usage_error_before_traffic(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "check", "stun:127.0.0.1:9", "--openmetrics",
                           str(tmp_path / "missing" / "x.prom")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--openmetrics" in done.stderr and done.stderr.count("\n") == 1


def test_certificate_expiry_and_nat_behaviour(
        coturn_factory: Factory, start_exporter: Callable[[str, dict[str, str]], Exporter]) -> None:
    """A coturn with two loopback addresses (RFC 5780, as `rtcdiag selftest` runs it) and a self-signed
    certificate: the TLS module reports the certificate's own notAfter, the NAT module an info series."""
    from rtcdiag.commands.selftest import selftest_coturn_options

    server = coturn_factory(selftest_coturn_options({"alice": "alice-" + secrets.token_hex(8)}))
    assert server.ca_cert is not None and server.tls_port is not None
    config = (f'[modules.turn_tls]\nurls = ["turns:{{host}}:{server.tls_port}?transport=tcp"]\n'
              f'checks = ["ports", "turn"]\nusername = "alice"\npassword_env = "{PASSWORD_VAR}"\n'
              f'ca = "{server.ca_cert}"\ntargets = ["127.0.0.1"]\n'
              '[modules.nat]\nurls = ["stun:{target}"]\nchecks = ["nat"]\ntargets = ["127.0.0.1"]\n')
    exporter = start_exporter(config, {PASSWORD_VAR: alice(server)})
    status, body = exporter.probe("turn_tls", "127.0.0.1")
    assert status == 200 and sample(body, "probe_success") == 1, body
    not_after = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(server.ca_cert)],
                               capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
    expected = time.mktime(time.strptime(not_after.removesuffix(" GMT"), "%b %d %H:%M:%S %Y")) - time.timezone
    assert sample(body, "rtcdiag_tls_certificate_expiry_timestamp_seconds",
                  port=str(server.tls_port)) == pytest.approx(expected, abs=1)
    assert sample(body, "rtcdiag_relay_allocation_success", transport="tls") == 1
    status, body = exporter.probe("nat", f"127.0.0.1:{server.port}")
    assert status == 200, body
    line = next(li for li in body.splitlines() if li.startswith("rtcdiag_nat_info{"))
    labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
    # Loopback to loopback: no NAT in between (RFC 5780 §4.3: the mapped address is the local one).
    assert labels == {"mapping": "endpoint-independent", "filtering": "endpoint-independent",
                      "nat_type": "open internet"}, line
    assert line.endswith(" 1.0") and sample(body, "probe_success") == 1


def test_scrape_timeout_cancels_the_probe_and_releases_its_allocation(
        coturn_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timeout path, in process: a deadline the probe cannot meet (a few ms) cuts it off; the answer is
    probe_success 0 with rtcdiag_probe_timed_out 1. Every cut-off probe released its allocation: coturn's
    own log shows each allocation it made freed (within its timer, not its 600 s LIFETIME), and its
    one-allocation quota (user-quota=1) lets a probe with time to finish pass right after. (Under CPU load
    this once failed with 486: the release had overtaken the cut-off Allocate inside coturn, see
    test_turn_check.py::test_release_never_overtakes_the_allocate_it_releases.)"""
    from rtcdiag.exporter.modules import parse_exporter_config
    from rtcdiag.exporter.server import Exporter as Server

    server = coturn_factory(CoturnOptions(users={"alice": "alice-" + secrets.token_hex(8)}, user_quota=1,
                                          verbose=True))
    monkeypatch.setenv(PASSWORD_VAR, alice(server))
    config = parse_exporter_config({"modules": {"turn_udp": {
        "urls": ["turn:{target}?transport=udp"], "checks": ["turn"], "username": "alice",
        "password_env": PASSWORD_VAR, "targets": ["127.0.0.1"]}}}, source="test", base=Path("."))

    async def main() -> list[str]:
        exporter = Server(config)
        target = config.target(config.modules["turn_udp"], f"127.0.0.1:{server.port}")
        bodies: list[str] = []
        for deadline_ms in (1, 3, 6, 10, 15):
            started = exporter.clock()
            response = await exporter._run("turn_udp", target, 5.0, started + deadline_ms / 1000, started,
                                           asyncio.StreamReader(), "")  # a scraper that stays connected
            assert response is not None and response.status == 200
            bodies.append(response.body.decode())
            await all_released(server)  # coturn's log: every allocation made so far is freed, quota too
        final = await exporter._run("turn_udp", target, 5.0, exporter.clock() + 5.0, exporter.clock(),
                                    asyncio.StreamReader(), "")
        assert final is not None
        bodies.append(final.body.decode())
        bodies.append(exporter.registry_text())
        return bodies

    *cut, final, own = asyncio.run(main())
    timed_out = [b for b in cut if sample(b, "rtcdiag_probe_timed_out") == 1]
    assert timed_out, "no probe was cut off by a deadline of a few milliseconds"
    assert all(sample(b, "probe_success") == 0 for b in timed_out)
    assert sample(own, "rtcdiag_exporter_probes_total", module="turn_udp", result="timeout") == len(timed_out)
    assert sample(final, "probe_success") == 1, final
