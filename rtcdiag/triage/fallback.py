"""Is there a way to the relay for clients behind a UDP-blocking firewall? Judged on the configured URLs.

A browser uses ``turn:`` without ``?transport=`` over UDP only (RFC 7065 §3; Chromium's webrtc-internals
shows ``turn:...?transport=udp``); only ``turn:...?transport=tcp`` and ``turns:`` (TLS over TCP) reach a
relay through a firewall that drops UDP. A configuration (an RTCIceServer list, an ``rtcdiag.toml``, the URIs
on a command line) whose TURN URLs are all UDP gets one warning per TURN host. The ``host[:port]`` shortcut
is not a browser configuration (the command chooses its transports) and is not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rtcdiag.targets import IceServerUrl, Target, Transport
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Subject, make_finding, needing
from rtcdiag.triage.judgement import Judgement, StepOutcome

CHECK = "config"
STEP = "fallback"


def _transport(target: Target) -> Transport:
    """The transport a browser uses for ``target`` (RFC 7065 §3: no ``?transport=`` is UDP)."""
    return IceServerUrl.of_target(target).transport or Transport.UDP


def judge_fallback(targets: Sequence[Target], subject_of: Callable[[str], Subject]) -> Judgement:
    """One ``config/fallback`` step per TURN host of the written URIs; TURN-NO-TCP-FALLBACK when no TURN URL
    of the whole configuration goes over TCP or TLS. ``subject_of(host)`` names the host's subject."""
    out = Judgement()
    turn = [t for t in targets if t.is_turn and not t.shortcut]
    if not turn:
        return out
    fallback = [t for t in turn if _transport(t) in (Transport.TCP, Transport.TLS)]
    hosts = list(dict.fromkeys(t.host for t in turn))
    for host in hosts:
        subject = subject_of(host)
        if fallback:
            shown = ", ".join(dict.fromkeys(t.uri for t in fallback[:3]))
            out.steps.append(StepOutcome(subject, CHECK, STEP, detail=f"TCP/TLS fallback: {shown}"))
            continue
        mine = [t for t in turn if t.host == host]
        urls = [IceServerUrl.of_target(t).browser_form for t in mine]
        out.findings.append(needing(make_finding(  # the configuration's own fact: nothing explains it
            ids.TURN_NO_TCP_FALLBACK, subject, check=CHECK, step=STEP, host=_uri_host(host),
            port=mine[0].port,
            urls=", ".join(dict.fromkeys(urls[:5])),
            evidence=["a browser uses turn: URLs without ?transport= over UDP only (RFC 7065 §3)"],
            snippet=[turns_url(host), f"turn:{_uri_host(host)}:{mine[0].port}?transport=tcp"]), ()))
        out.steps.append(StepOutcome(subject, CHECK, STEP))
    return out


CERTIFICATE_NAME = "<the host name on its certificate>"


def turns_url(host: str, port: int = 443) -> str:
    """The ``turns:`` URL to offer for ``host``: its name, or for an IP address a placeholder for the name
    on the server's certificate (a browser checks the URL's host against the certificate: an IP fails)."""
    from rtcdiag.addresses import parse_ip

    name = CERTIFICATE_NAME if parse_ip(host.strip("[]")) is not None else host
    return f"turns:{name}:{port}?transport=tcp"


def _uri_host(host: str) -> str:
    """An IPv6 literal goes in brackets inside a URI (RFC 3986 §3.2.2)."""
    return f"[{host}]" if ":" in host else host
