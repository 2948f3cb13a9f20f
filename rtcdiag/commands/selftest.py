"""``rtcdiag selftest``: start a coturn on loopback with a generated config and run ``check`` against it.

Offline and in seconds: a new user sees what a full green report looks like, and that this machine can run
every probe. The coturn (config, user, self-signed certificate, temp dir) is removed when the check ends.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import OutputOptions, output_options, timeout_option
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async
from rtcdiag.config import CheckConfig, ServerConfig
from rtcdiag.errors import UsageError
from rtcdiag.redact import register_secret
from rtcdiag.report.model import Report
from rtcdiag.targets import parse_uri
from rtcdiag.triage.expectations import Expectations

if TYPE_CHECKING:
    from rtcdiag.coturn import CoturnOptions

SELFTEST_USER = "selftest"
# dns: an IP literal has no records. nat: coturn listens on two loopback addresses, so it answers RFC 5780
# (OTHER-ADDRESS, CHANGE-REQUEST) and the NAT check runs too: loopback has no NAT ("open internet").
SELFTEST_CHECKS = ("ports", "stun", "turn", "ice", "nat")
SECOND_IP = "127.0.0.2"


def selftest_config(host: str, port: int, tls_port: int | None, password: str,
                    ca: Path | None) -> CheckConfig:
    """A check config for the loopback coturn: STUN, TURN over UDP, TCP and TLS, a relay expected."""
    urls = [f"stun:{host}:{port}", f"turn:{host}:{port}?transport=udp", f"turn:{host}:{port}?transport=tcp"]
    if tls_port is not None:
        urls.append(f"turns:{host}:{tls_port}?transport=tcp")
    targets = [parse_uri(url, source="selftest", username=SELFTEST_USER, credential=password) for url in urls]
    server = ServerConfig(targets=targets, name="selftest coturn", username=SELFTEST_USER, password=password)
    return CheckConfig(servers=[server], checks=SELFTEST_CHECKS, ca=ca,
                       nat_servers=[parse_uri(f"stun:{host}:{port}", source="selftest")],
                       expect=Expectations(expect_relay=True, min_nat="open"), source="selftest")


def _run(config: CheckConfig, live: bool | None = None) -> Report:
    from rtcdiag.checks.run import run_config
    from rtcdiag.report.progress import progress

    with progress("rtcdiag selftest", enabled=live) as view:
        return run_async(run_config(config, on_start=view.add, on_done=view.done, command="selftest"))


def selftest_coturn_options(users: dict[str, str]) -> CoturnOptions:
    """The selftest's coturn: two loopback addresses (RFC 5780), a self-signed certificate (TLS), relaying
    to loopback peers. Also what the examples are proven against (tests/integration/test_examples.py)."""
    from rtcdiag.coturn import CoturnOptions

    return CoturnOptions(listening_ips=("127.0.0.1", SECOND_IP), users=users, self_signed=True,
                         allow_loopback_peers=True)


def run_selftest(timeout: float | None = None, live: bool | None = None) -> Report:
    from rtcdiag.coturn import CoturnNotInstalled, start_coturn

    password = "selftest-" + secrets.token_urlsafe(12)
    register_secret(password)
    options = selftest_coturn_options({SELFTEST_USER: password})
    try:
        server = start_coturn(options)
    except CoturnNotInstalled:
        raise UsageError("coturn is not installed: apt-get install coturn") from None
    with server:
        config = selftest_config(server.host, server.port, server.tls_port, password, server.ca_cert)
        if timeout is not None:
            config.timeout = timeout
        report = _run(config, live)
    report.detail_notes.append(f"coturn {server.host} port {server.port} (UDP/TCP) and {server.tls_port} "
                               f"(TLS), "
                        f"self-signed certificate trusted as the CA; stopped after the check")
    return report


@click.command(name="selftest", epilog=exitcodes.epilog(
    "rtcdiag selftest",
    "rtcdiag selftest -v",
    "rtcdiag selftest --json"))
@timeout_option(default=None)
@output_options
def command(timeout: float | None, output: OutputOptions) -> int:
    """Start a coturn on loopback and run the full check against it (offline, a few seconds).

    Needs coturn (`apt-get install coturn`). Exits with the check's code: 0 when everything works.
    """
    return emit(run_selftest(timeout, live=False if output.json else None), output)
