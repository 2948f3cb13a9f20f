"""`rtcdiag nat-type` inside the client namespace of a real Linux NAT: every emulation must get exactly its
expected mapping, filtering and legacy label; lossy links may give "inconclusive" but never a wrong answer;
a single-address server is refused with exit 3; a list of single-address servers (coturn at several public
addresses) still gives the mapping of every kind; Vovida stund (RFC 3489) serves RFC 5780 discovery."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, start_coturn
from rtcdiag.lab.kinds import SPECS, NatKind
from rtcdiag.lab.lab import Lab
from rtcdiag.lab.topology import STUN_PORT, STUN_PRIMARY_IP

pytestmark = pytest.mark.lab
MakeLab = Callable[..., Lab]
needs_stund = pytest.mark.skipif(shutil.which("stund") is None and not Path("/usr/sbin/stund").exists(),
                                 reason="needs stund (apt-get install stun-server)")


def nat_type(lab: Lab, *args: str, server: tuple[str, ...] | None = None) -> tuple[int, dict[str, Any]]:
    """Run nat-type in the client namespace (speed is measured in benchmarks/bench_nat.py, not here)."""
    argv = [sys.executable, "-m", "rtcdiag", "nat-type", *(server or ("--server", lab.stun_uri)), "--json",
            *args]
    done = lab.exec(argv, timeout=120)
    assert done.stdout.strip(), f"no JSON (exit {done.returncode}): {done.stderr[-2000:]}"
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("kind", list(NatKind))
def test_every_emulation_is_classified_exactly(make_lab: MakeLab, kind: NatKind) -> None:
    spec = SPECS[kind]
    lab = make_lab(kind)
    code, report = nat_type(lab, "--hairpin", "--timeout", "1")
    consensus = report["results"]["consensus"]
    assert consensus["legacy"] == spec.legacy.value, report["findings"]
    checks = {(c["suite"], c["name"]): c for c in report["checks"]}
    reach = checks[(lab.stun_uri, "udp/reachability #1")]
    if kind is NatKind.UDP_BLOCKED:
        assert code == 1
        [finding] = report["findings"]
        assert (finding["id"], finding["subject"]) == ("UDP-BLOCKED", lab.stun_uri)
        assert finding["transport"] == "udp"
        assert reach["status"] == "fail" and reach["finding_ids"] == ["UDP-BLOCKED"]
        assert checks[(lab.stun_uri, "udp/mapping #1")]["status"] == "skip"
        assert "UDP is blocked" in checks[(lab.stun_uri, "udp/mapping #1")]["message"]
        return
    assert reach["status"] == "pass"
    assert {checks[(lab.stun_uri, f"udp/{step} #1")]["status"]
            for step in ("rfc5780-server", "mapping", "filtering", "hairpin")} == {"pass"}
    verdict = checks[("local network", "verdict")]
    assert "NAT-TYPE" in verdict["finding_ids"]
    warned = any(f["severity"] == "warning" for f in report["findings"])
    assert verdict["status"] == ("warn" if warned else "pass")
    if not warned:
        assert verdict["message"].startswith(spec.legacy.value)
    assert consensus["mapping"] == spec.mapping.value  # type: ignore[union-attr]
    assert consensus["filtering"] == spec.filtering.value  # type: ignore[union-attr]
    assert consensus["nat_present"] is spec.translates
    if spec.hairpin is not None:
        assert consensus["hairpin"] is spec.hairpin
    assert code == 0  # symmetric / no hairpin are warnings: exit 0
    ids = {f["id"] for f in report["findings"]}
    assert "NAT-TYPE" in ids
    assert ("NAT-SYMMETRIC" in ids) is (kind is NatKind.SYMMETRIC)


@pytest.mark.parametrize("kind", [NatKind.FULL_CONE, NatKind.RESTRICTED_CONE, NatKind.PORT_RESTRICTED,
                                  NatKind.SYMMETRIC])
@pytest.mark.parametrize("loss", [10, 30])
def test_lossy_link_is_right_or_inconclusive_never_wrong(make_lab: MakeLab, kind: NatKind, loss: int) -> None:
    spec = SPECS[kind]
    lab = make_lab(kind, loss_percent=loss)
    for _ in range(2):
        code, report = nat_type(lab, "--timeout", "2")
        consensus = report["results"]["consensus"]
        if code == 3:
            assert consensus["legacy"] == "unknown"
            assert {f["id"] for f in report["findings"]} & {"NAT-UNDETERMINED", "NAT-INCONSISTENT"}
            continue
        assert code == 0, report["findings"]
        assert consensus["legacy"] == spec.legacy.value
        assert consensus["mapping"] == spec.mapping.value  # type: ignore[union-attr]
        if kind is NatKind.SYMMETRIC and consensus["filtering"] == "unknown":
            # the mapping was proven address-and-port-dependent: symmetric whatever loss did to the
            # by-design silent filtering tests
            assert {f["id"] for f in report["findings"]} >= {"NAT-TYPE", "NAT-SYMMETRIC"}
            continue
        assert consensus["filtering"] == spec.filtering.value  # type: ignore[union-attr]


def test_repeat_runs_agree_with_high_confidence(make_lab: MakeLab) -> None:
    lab = make_lab(NatKind.RESTRICTED_CONE)
    code, report = nat_type(lab, "--repeat", "3")
    consensus = report["results"]["consensus"]
    assert code == 0
    assert (consensus["legacy"], consensus["confidence"], consensus["runs_used"]) == \
        ("restricted cone", "high", 3)
    names = {c["name"] for c in report["checks"] if c["suite"] == lab.stun_uri}
    assert {f"udp/mapping #{n}" for n in (1, 2, 3)} <= names


def test_single_address_server_is_refused_with_exit_3(make_lab: MakeLab) -> None:
    lab = make_lab(NatKind.PORT_RESTRICTED, stun=False)
    opts = CoturnOptions(listening_ips=(STUN_PRIMARY_IP,), port=STUN_PORT, no_auth=True,
                         netns=lab.topo.public_ns)
    with start_coturn(opts):
        code, report = nat_type(lab, "--timeout", "1")
    assert code == 3
    assert [f["id"] for f in report["findings"]] == ["NAT-SERVER-NO-RFC5780"]
    checks = {(c["suite"], c["name"]): c["status"] for c in report["checks"]}
    assert checks == {(lab.stun_uri, "udp/reachability #1"): "pass",
                      (lab.stun_uri, "udp/rfc5780-server #1"): "inconclusive",
                      (lab.stun_uri, "udp/mapping #1"): "skip", (lab.stun_uri, "udp/filtering #1"): "skip",
                      ("local network", "verdict"): "inconclusive"}
    assert report["results"]["consensus"]["legacy"] == "unknown"
    assert "OTHER-ADDRESS" in report["findings"][0]["symptom"]


def test_short_mapping_lifetime_is_measured(make_lab: MakeLab) -> None:
    lab = make_lab(NatKind.PORT_RESTRICTED, udp_timeout_s=3)
    code, report = nat_type(lab, "--lifetime", "--lifetime-max", "5")
    life = report["results"]["runs"][0]["lifetime"]
    assert life["supported"] is True
    assert (life["alive_s"], life["gone_s"]) == (2.0, 5.0)
    assert "NAT-SHORT-LIFETIME" in {f["id"] for f in report["findings"]}
    assert code == 0
    lifetime = next(c for c in report["checks"] if c["name"] == "udp/lifetime #1")
    assert (lifetime["status"], lifetime["message"]) == ("pass", "alive after 2 s, gone after 5 s")


@needs_stund
@pytest.mark.parametrize("kind", list(NatKind))
def test_single_address_servers_give_the_mapping_of_every_kind(make_lab: MakeLab, kind: NatKind) -> None:
    """No RFC 5780 server at all (stun=False): three single-address coturns, at 203.0.113.20:3478,
    203.0.113.21:3478 and 203.0.113.20:3480, asked from one socket give the mapping; filtering is unknown
    and the report says why."""
    spec = SPECS[kind]
    lab = make_lab(kind, stun=False, plain_stun=True)
    code, report = nat_type(lab, "--timeout", "1", server=("--servers", ",".join(lab.topo.plain_stun_uris)))
    consensus = report["results"]["consensus"]
    ids = {f["id"] for f in report["findings"]}
    if kind is NatKind.UDP_BLOCKED:  # no UDP answer, TCP answers: the same verdict as with RFC 5780
        assert code == 1 and consensus["legacy"] == "UDP blocked" and "UDP-BLOCKED" in ids
        return
    assert code == 0, report["findings"]
    assert consensus["source"] == "across"
    assert consensus["mapping"] == spec.mapping.value  # type: ignore[union-attr]
    assert consensus["filtering"] == "unknown"
    assert consensus["nat_present"] is spec.translates
    assert "NAT-MAPPING" in ids and "NAT-TYPE" not in ids
    assert ("NAT-SYMMETRIC" in ids) is (kind is NatKind.SYMMETRIC)
    nrs = [f for f in report["findings"] if f["id"] == "NAT-SERVER-NO-RFC5780"]
    assert len(nrs) == 3 and {f["severity"] for f in nrs} == {"info"}  # expected in a list, not a warning
    verdict = next(c for c in report["checks"] if c["name"] == "verdict")
    if kind is NatKind.SYMMETRIC:  # a warning: the check shows it
        assert verdict["status"] == "warn" and "NAT-SYMMETRIC" in verdict["finding_ids"]
        mapping = next(f for f in report["findings"] if f["id"] == "NAT-MAPPING")
        assert mapping["title"].endswith("(symmetric NAT, you will need TURN)")
    else:
        expected = "no NAT, STUN works" if not spec.translates else "STUN works"
        assert verdict["status"] == "pass"
        assert verdict["message"].startswith(expected + " ("), verdict["message"]
    filtering = next(c for c in report["checks"] if c["name"] == "filtering across servers")
    assert filtering["status"] == "skip" and "RFC 5780" in filtering["message"]


@needs_stund
@pytest.mark.parametrize("kind", [k for k in NatKind if k is not NatKind.UDP_BLOCKED])
def test_stund_serves_rfc5780_discovery_for_every_kind(make_lab: MakeLab, kind: NatKind) -> None:
    """Vovida stund (RFC 3489: CHANGED-ADDRESS, CHANGE-REQUEST) at 203.0.113.22/.23 in the public namespace,
    the only two-address server there: the full classification, exactly as with coturn."""
    spec = SPECS[kind]
    lab = make_lab(kind, stun=False, plain_stun=True)
    code, report = nat_type(lab, "--timeout", "1", server=("--server", lab.topo.stund_uri))
    consensus = report["results"]["consensus"]
    assert code == 0, report["findings"]
    run = report["results"]["runs"][0]
    assert run["server_check"]["other_attribute"] == "CHANGED-ADDRESS"
    assert (consensus["legacy"], consensus["mapping"], consensus["filtering"]) == \
        (spec.legacy.value, spec.mapping.value, spec.filtering.value)  # type: ignore[union-attr]
    assert consensus["nat_present"] is spec.translates


@needs_stund
def test_stun_and_check_pass_against_stund_behind_the_nat(make_lab: MakeLab) -> None:
    lab = make_lab(NatKind.PORT_RESTRICTED, stun=False, plain_stun=True)
    for command in (["stun"], ["check", "--checks", "stun,ports"]):
        done = lab.exec([sys.executable, "-m", "rtcdiag", *command, f"{lab.topo.stund_uri}?transport=udp",
                         "--json"])
        report = json.loads(done.stdout)
        assert done.returncode == 0, report["findings"]
        assert "STUN-RFC3489-SERVER" in {f["id"] for f in report["findings"]}
