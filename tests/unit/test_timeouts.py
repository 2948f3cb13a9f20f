"""One timeout, derived in one place (rtcdiag.timeouts): what ``rtcdiag check`` plans for each probe from a
config's ``timeout`` is what :class:`Timeouts` says, and the exporter's per-transaction share of a scrape."""

from pathlib import Path

import pytest

from rtcdiag.timeouts import BROWSER_MIN_S, MIN_S, REACH_MAX_S, Timeouts


@pytest.mark.parametrize("seconds", [0.05, 0.4, 1.0, 3.0, 12.0])
def test_derivations(seconds: float) -> None:
    t = Timeouts(seconds)
    assert t.reach_s == min(seconds, REACH_MAX_S) and t.reach_s <= seconds
    assert t.browser_s == max(seconds, BROWSER_MIN_S) and t.browser_s >= seconds
    assert t.ice_gather_s == t.ice_connect_s == t.dns_question_s == seconds


def test_a_scrape_share_never_exceeds_the_module_nor_the_quarter_budget() -> None:
    assert Timeouts.within_scrape(5.0, 8.0).transaction_s == 2.0
    assert Timeouts.within_scrape(1.0, 20.0).transaction_s == 1.0
    assert Timeouts.within_scrape(5.0, 0.01).transaction_s == MIN_S


def test_check_plans_each_probe_with_the_derived_timeouts(tmp_path: Path) -> None:
    from rtcdiag.checks.plan import plan_servers
    from rtcdiag.checks.run import plan_jobs
    from rtcdiag.config import load_config

    toml = tmp_path / "rtcdiag.toml"
    toml.write_text('timeout = 0.4\nchecks = ["dns", "ports", "stun", "turn", "ice"]\n[[servers]]\n'
                    'urls = ["turn:turn.example.org:3478"]\nusername = "u"\npassword_env = "PW"\n')
    config = load_config(toml, environ={"PW": "timeouts-pw-1"})
    jobs = {job.check.name: job for job in plan_jobs(config, plan_servers(config))}
    assert jobs["dns"].plan.timeout == 0.4 and jobs["dns"].plan.reach_timeout == 0.4
    assert jobs["ports"].plan.timeout == 0.4
    assert jobs["stun"].plan.options.timeout == 0.4
    assert jobs["turn"].plan.options.timeout_s == 0.4
    assert jobs["ice"].plan.options.gather_timeout_s == jobs["ice"].plan.options.connect_timeout_s == 0.4
