"""nat-type and lab command-line errors: one line, documented exit codes, no network needed."""

from __future__ import annotations

import pytest

from rtcdiag.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return int(exc.value.code or 0), err


@pytest.mark.parametrize(("argv", "message"), [
    (["nat-type", "--servers", " , "], "--servers: name at least one value"),
    (["nat-type", "--servers", "stun:127.0.0.1,stuns:127.0.0.2"], "NAT discovery runs over plain udp"),
])
def test_nat_type_server_list_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str],
                                           message: str) -> None:
    """Bare `nat-type` uses the default public list (tested offline in tests/lab/test_nat_type_lab.py);
    a list that cannot work is a usage error before any traffic."""
    code, err = run(argv, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_nat_type_server_spellings_are_one_option() -> None:
    """`-s/--server` is the one spelling (issue 22); --servers and check's --nat-server still work, hidden."""
    from click.testing import CliRunner

    from rtcdiag.cli import cli

    shown = CliRunner().invoke(cli, ["nat-type", "--help"]).output
    assert "-s, --server URI" in shown and "--servers" not in shown and "--nat-server" not in shown
    for spelling in ("--server", "--servers", "--nat-server", "-s"):
        code = CliRunner().invoke(cli, ["nat-type", spelling, "stuns:x.example"]).exit_code
        assert code != 0  # parsed as a server (then refused: TLS), never "no such option"
        out = CliRunner().invoke(cli, ["nat-type", spelling, "stuns:x.example"]).output
        assert "No such option" not in out


def test_nat_type_refuses_tls_uri(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["nat-type", "--server", "stuns:stun.example.org"], capsys)
    assert code == 2
    assert "NAT discovery runs over plain udp" in err


def test_lab_needs_root(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    code, err = run(["lab", "up", "symmetric"], capsys)
    assert code == 2
    assert err.strip() == ("rtcdiag: error: the NAT lab needs root (network namespaces and nftables): "
                           "run it with sudo")


def test_lab_needs_nft(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda tool: None if tool == "nft" else f"/usr/sbin/{tool}")
    code, err = run(["lab", "status"], capsys)
    assert code == 2
    assert "needs nft: run `apt-get install iproute2 nftables`" in err


def test_nat_type_crash_inside_the_check_still_reports_exit_4(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from rtcdiag.checks import nat
    from rtcdiag.checks.engine import Check

    async def broken_run(plan: nat.NatPlan) -> nat.NatDiscovery:
        raise RuntimeError("boom in the probe")

    monkeypatch.setattr(nat, "NAT", Check("nat", broken_run, nat.rules.judge))
    monkeypatch.delenv("RTCDIAG_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["nat-type", "--server", "stun:192.0.2.1", "--json"])
    assert exc.value.code == 4
    report = json.loads(capsys.readouterr().out)
    [finding] = report["findings"]
    assert finding["id"] == "INTERNAL-ERROR" and "boom in the probe" in finding["symptom"]
    assert finding["subject"] == "local network"
    assert report["results"]["runs"] == [] and report["results"]["consensus"]["legacy"] == "unknown"
