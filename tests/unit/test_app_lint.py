"""Application-side lint of RTCIceServer lists (fixtures in tests/fixtures/lint, written for these tests)."""

from __future__ import annotations

from pathlib import Path

from rtcdiag.targets import load_ice_servers
from rtcdiag.triage.app_lint import judge_ice_servers
from rtcdiag.triage.judgement import Judgement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
NOW = 1_700_000_000.0  # 2023-11-14; 4102444800 is 2100-01-01


def lint(name: str) -> Judgement:
    return judge_ice_servers(load_ice_servers(FIXTURES / name), name, now=NOW)


def test_good_list_has_no_findings_at_a_near_expiry() -> None:
    judgement = judge_ice_servers(load_ice_servers(FIXTURES / "ice-servers-good.json"), "good",
                                  now=4102444800 - 3600)
    assert judgement.findings == []
    assert [(s.check, s.step) for s in judgement.steps] == [("lint", "ice-servers"), ("config", "fallback")]


def test_bad_list_gets_each_rule() -> None:
    judgement = lint("ice-servers-bad.json")
    by_id: dict[str, list[str]] = {}
    for f in judgement.findings:
        by_id.setdefault(f.id, []).append(f.symptom)
    assert set(by_id) == {"APP-STUN-CREDENTIALS", "APP-STATIC-CREDENTIAL", "APP-REST-EXPIRY-FAR",
                          "APP-TURNS-NOT-443", "APP-TOO-MANY-URLS", "APP-DUPLICATE-URL"}
    assert len(by_id["APP-STUN-CREDENTIALS"]) == 3
    assert any("turns:turn.example.org:5349" in s and "5349" in s for s in by_id["APP-TURNS-NOT-443"])
    assert any("turn:turn.example.org:3478 appears 2 times" in s for s in by_id["APP-DUPLICATE-URL"])
    assert any("3 STUN URLs" in s for s in by_id["APP-TOO-MANY-URLS"])
    assert any("'4102444800:bob'" in s for s in by_id["APP-REST-EXPIRY-FAR"])
    assert all("static-password-1" not in s for f in judgement.findings for s in (f.symptom, f.fix))


def test_udp_only_list_reuses_the_fallback_rule() -> None:
    judgement = lint("ice-servers-udp-only.json")
    assert {f.id for f in judgement.findings} == {"TURN-NO-TCP-FALLBACK"}
    # an expired REST credential is not "far in the future" (turn-check reports expiry on the wire)
    assert "APP-REST-EXPIRY-FAR" not in {f.id for f in judgement.findings}


def test_toml_targets_skip_credential_rules() -> None:
    targets = load_ice_servers(FIXTURES / "ice-servers-bad.json")
    judgement = judge_ice_servers(targets, "rtcdiag.toml", now=NOW, credentials_shipped=False)
    ids = {f.id for f in judgement.findings}
    assert "APP-STATIC-CREDENTIAL" not in ids and "APP-REST-EXPIRY-FAR" not in ids
    assert "APP-DUPLICATE-URL" in ids
