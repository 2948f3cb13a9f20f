"""Masking a secret never touches rtcdiag's own words (issue 20 item 1), against a real coturn on loopback.

Before: with the password ``turn``, ``turn-check --json`` wrote ``"results": {"***": ...}`` and
``"target": "***:127.0.0.1:P"``; with ``udp`` the table said ``transport ***``. A secret is masked only in
values that came from outside (the server's strings, a user's free text), never in rtcdiag's keys, words,
schemes, transports, check names or enum values, whatever the password is.

Two proofs:
- the short passwords of the issue are the real password of the coturn user (subprocesses: only what
  rtcdiag registers can be masked), and the report is exactly as with any other password;
- every word of the catalogue, every finding id, scheme, transport, check name and every enum value of
  rtcdiag is registered as a secret at once, in-process, and the real commands (turn-check, stun, check,
  ports) run against coturn healthy and failing: nothing at all is masked. The words the server itself
  says in this run (its reason phrases, certificate names) are outside text, where masking them is right:
  they are left out of that set, and named in the assertion message.
"""

from __future__ import annotations

import enum
import importlib
import json
import os
import pkgutil
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import rtcdiag
from rtcdiag.config import CHECKS
from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.redact import ECHO_CLOSE, ECHO_OPEN, MASK, clear_secrets, register_secret
from rtcdiag.targets import SCHEMES, TRANSPORTS
from rtcdiag.triage.catalogue import CATALOGUE

REALM = "qx7k9"  # the server's realm: outside text, chosen to be no word of rtcdiag's
USER = "u7x"
SHORT_PASSWORDS = ("turn", "udp")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@pytest.fixture(scope="module")
def short_pw_coturn(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    """One user per short password: ``u0`` has the password ``turn``, ``u1`` has ``udp``."""
    return coturn_factory(CoturnOptions(users={f"u{i}": pw for i, pw in enumerate(SHORT_PASSWORDS)},
                                        realm=REALM))


def _cli(*args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.parametrize("index", range(len(SHORT_PASSWORDS)))
def test_a_short_password_leaves_keys_schemes_and_transports_alone(short_pw_coturn: RunningCoturn,
                                                                    index: int) -> None:
    password, port = SHORT_PASSWORDS[index], short_pw_coturn.port
    args = ("turn-check", f"turn:127.0.0.1:{port}", "-u", f"u{index}")
    proc = _cli(*args, "--json", password=password)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    report = json.loads(proc.stdout)
    (result,) = report["results"]["turn"]  # the key is the check's name, whatever the password
    assert result["target"] == f"turn:127.0.0.1:{port}"
    assert [t["transport"] for t in result["transports"]] == ["udp"]
    assert result["transports"][0]["allocated"] and result["transports"][0]["released"]
    assert report["tables"][0]["title"].startswith(f"TURN turn:127.0.0.1:{port} ")
    assert report["tables"][0]["rows"][0][0] == "udp"
    assert MASK not in proc.stdout
    text = _cli(*args, "-v", password=password)  # the software note is a -v note (issue 22)
    assert text.returncode == 0, text.stdout[-2000:]
    assert f"Note: turn:127.0.0.1:{port}: server software" in text.stdout
    assert re.search(r"^\s+transport\s+udp$", text.stdout, re.M), text.stdout
    assert MASK not in text.stdout


def _enum_values() -> set[str]:
    """Every string value of every enum defined in rtcdiag (outcomes, kinds, states, scopes, ...)."""
    values: set[str] = set()
    skip = ("rtcdiag.commands", "rtcdiag.cli", "rtcdiag.lab", "rtcdiag.exporter", "rtcdiag.__main__")
    for info in pkgutil.walk_packages(rtcdiag.__path__, "rtcdiag."):
        if info.name.startswith(skip):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == info.name:
                values.update(str(member.value) for member in value)
    return values


def own_words() -> set[str]:
    """rtcdiag's vocabulary: catalogue words and ids, schemes, transports, check names, enum values."""
    words: set[str] = set(CATALOGUE) | set(SCHEMES) | set(TRANSPORTS) | set(CHECKS) | _enum_values()
    for entry in CATALOGUE.values():
        for text in (entry.title, entry.symptom, entry.cause, entry.fix, entry.reference):
            words.update(_TOKEN.findall(text))
    for value in list(words):
        words.update(_TOKEN.findall(value))
    return {w for w in words if len(w) >= 3}


def _outside_texts(data: Any) -> Iterator[str]:
    """The strings of a report's results that the server itself sent (its text attributes, reason phrases,
    certificate names): outside text, where masking a registered word is right."""
    outside_keys = {"software", "realm", "hash_realm", "redirect_realm", "error_reason", "username",
                    "subject", "issuer", "san_dns", "records", "canonical_name"}
    if isinstance(data, dict):
        if data.get("name") in ("ERROR-CODE", "REALM", "NONCE", "SOFTWARE", "USERNAME", "ALTERNATE-DOMAIN"):
            yield str(data.get("value"))
        for key, value in data.items():
            if key in outside_keys and value is not None:
                yield json.dumps(value)
            else:
                yield from _outside_texts(value)
    elif isinstance(data, list):
        for value in data:
            yield from _outside_texts(value)


@pytest.fixture(scope="module")
def words_coturn(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={USER: "pw-" + secrets.token_hex(8)}, realm=REALM,
                                        self_signed=True, software_attribute=False))


def _runs(server: RunningCoturn, tmp_path: Path, dead_port: int) -> list[tuple[list[str], str]]:
    """(arguments, password) of the runs: healthy, wrong password, refused, every command."""
    assert server.ca_cert is not None
    ca = ["--ca", str(server.ca_cert)]
    good, port = server.users[USER], server.port
    return [
        (["turn-check", f"127.0.0.1:{port}", "--transport", "udp,tcp,tls", "--tls-port", str(server.tls_port),
          "-u", USER, *ca], good),
        (["turn-check", f"127.0.0.1:{port}", "--transport", "udp,tcp", "-u", USER], "wrong-" + good),
        (["turn-check", f"turn:127.0.0.1:{dead_port}?transport=tcp", "-u", USER, "--timeout", "1"], good),
        (["stun", f"127.0.0.1:{port}", "-t", "udp", "-t", "tcp"], good),
        (["ports", f"127.0.0.1:{port}", "--ports", f"udp:{port},tcp:{port},tls:{server.tls_port}", *ca],
         good),
        (["check", f"turn:127.0.0.1:{port}?transport=udp",
          f"turns:127.0.0.1:{server.tls_port}?transport=tcp",
          "-u", USER, *ca, "--junit", str(tmp_path / "junit.xml")], good),
    ]


def _invoke(args: list[str], password: str) -> str:
    from rtcdiag.cli import cli

    result = CliRunner().invoke(cli, args, env={"RTCDIAG_TURN_PASSWORD": password}, catch_exceptions=False)
    assert result.exit_code in (0, 1, 3), f"{args}: exit {result.exit_code}\n{result.output[-3000:]}"
    return result.output


def test_every_own_word_as_a_secret_masks_nothing_of_rtcdiag(words_coturn: RunningCoturn, tmp_path: Path,
                                                             dead_port: int) -> None:
    runs = _runs(words_coturn, tmp_path, dead_port)
    clear_secrets()
    try:
        # Baseline, nothing registered: what did the server itself say in these runs?
        said: set[str] = set()
        for args, password in runs:
            report = json.loads(_invoke([*args, "--json"], password))
            said.update(token for text in _outside_texts(report["results"]) for token in _TOKEN.findall(text))
        clear_secrets()
        words = own_words() - said
        assert len(words) > 1000 and {"turn", "udp", "tcp", "tls", "stun", "turns", "check", "ports"} <= words
        for word in words:
            register_secret(word)
        for args, password in runs:
            for fmt in ([], ["--json"], ["--markdown"]):
                output = _invoke([*args, *fmt], password)
                place = output.find(MASK)
                assert place < 0, (f"{' '.join(args + fmt)} masked an own word (the server said only "
                                   f"{sorted(said)}): ...{output[max(0, place - 300):place + 100]}...")
                assert ECHO_OPEN not in output and ECHO_CLOSE not in output
        junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
        assert MASK not in junit and "<testsuite" in junit
    finally:
        clear_secrets()


# --- the other half: a server that says the password is masked there --------------------------------------
# Hand-written (no real server echoes a client's password): it answers a Binding with the password in
# SOFTWARE, an Allocate with a 401 whose REALM and NONCE carry it, and the authenticated Allocate with a 486
# whose reason phrase carries it.


def _echo_reply(request: bytes, password: str) -> bytes | None:
    from rtcdiag.protocol.attributes import Address, ErrorCode
    from rtcdiag.protocol.constants import AttrType, MessageClass, Method
    from rtcdiag.protocol.message import Message

    try:
        msg = Message.decode(request)
    except Exception:
        return None
    if msg.msg_class != MessageClass.REQUEST:
        return None
    if msg.method == Method.BINDING:
        reply = Message(Method.BINDING, MessageClass.SUCCESS, transaction_id=msg.transaction_id)
        reply.add(AttrType.XOR_MAPPED_ADDRESS, Address.of("127.0.0.1", 40000))
    else:
        reply = Message(msg.method, MessageClass.ERROR, transaction_id=msg.transaction_id)
        if msg.find(AttrType.USERNAME, str) is None:
            reply.add(AttrType.ERROR_CODE, ErrorCode(401, f"Unauthorized {password}"))
            reply.add(AttrType.REALM, f"realm-{password}")
            reply.add(AttrType.NONCE, f"nonce-{password}")
        else:
            reply.add(AttrType.ERROR_CODE, ErrorCode(486, f"Quota of {password} reached"))
    reply.add(AttrType.SOFTWARE, f"echo-server {password}")
    return reply.encode(fingerprint=True)


@pytest.fixture
def echo_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, str]]:
    import socket
    import threading

    password: str = request.param
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, source = udp.recvfrom(65536)
            except TimeoutError:
                continue
            reply = _echo_reply(data, password)
            if reply is not None:
                udp.sendto(reply, source)

    thread = threading.Thread(target=serve, daemon=True, name="echo-server")
    thread.start()
    try:
        yield int(udp.getsockname()[1]), password
    finally:
        stop.set()
        thread.join(timeout=2)
        udp.close()


@pytest.mark.parametrize("echo_server", ["pw9", "Echo-Pw-" + secrets.token_hex(6)], indirect=True)
def test_a_server_that_says_the_password_has_it_masked_in_every_format(echo_server: tuple[int, str],
                                                                        tmp_path: Path) -> None:
    port, password = echo_server
    # (`stun` takes no credentials: it has no secret to mask.) Each command runs twice, concurrently: the
    # console text on stdout with the Markdown, JUnit and HTML files beside it, and the JSON on stdout.
    commands = {"turn-check": ["turn-check", f"turn:127.0.0.1:{port}", "-u", USER],
                "check": ["check", f"turn:127.0.0.1:{port}", "-u", USER, "--checks", "stun,turn"]}
    runs = {(name, fmt): [*args, *(["--json"] if fmt == "json" else [
        "--report-file", str(tmp_path / f"{name}.md"), "--junit", str(tmp_path / f"{name}.xml"),
        "--html", str(tmp_path / f"{name}.html")]), "--timeout", "1"]
            for name, args in commands.items() for fmt in ("json", "text")}
    with ThreadPoolExecutor(len(runs)) as pool:
        done = dict(zip(runs, pool.map(lambda argv: _cli(*argv, password=password), runs.values()),
                        strict=True))
    for name, args in commands.items():
        outputs = []
        for fmt in ("json", "text"):
            proc = done[(name, fmt)]
            assert "Traceback" not in proc.stderr, proc.stderr
            outputs.append(proc.stdout + proc.stderr)
        files = [tmp_path / f"{name}.{suffix}" for suffix in ("md", "xml", "html")]
        outputs += [path.read_text(encoding="utf-8") for path in files]
        assert outputs[-1].lower().startswith("<!doctype html>") and "<testsuite" in outputs[-2]
        for output in outputs:
            assert password not in output, f"{args}: the password leaked"
            assert ECHO_OPEN not in output and ECHO_CLOSE not in output
        joined = "\n".join(outputs)
        assert "echo-server ***" in joined, joined[-3000:]  # the server's SOFTWARE, masked
        assert "'realm-***'" in joined and "Quota of *** reached" in joined, joined[-3000:]
        assert f"turn:127.0.0.1:{port}" in joined
