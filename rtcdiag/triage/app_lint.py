"""``rtcdiag lint ice-servers.json`` (or an ``rtcdiag.toml``): the application side of a TURN deployment.

Pure rules over the parsed URLs (``rtcdiag.targets``): what the application ships to browsers. The missing
TCP/TLS fallback is ``triage.fallback`` (TURN-NO-TCP-FALLBACK), reused, not repeated here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rtcdiag.protocol.credentials import parse_rest_expiry
from rtcdiag.targets import Target
from rtcdiag.triage import ids
from rtcdiag.triage.fallback import judge_fallback
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome

CHECK = "lint"
STEP = "ice-servers"
MIN_REST_EXPIRY = 1_000_000_000  # a leading number below this is not a Unix time
MAX_REST_TTL_S = 7 * 86400  # a REST credential valid for more than a week is as good as a static one
MAX_PER_KIND = 2


def judge_ice_servers(targets: Sequence[Target], source: str, *, now: float | None = None,
                      credentials_shipped: bool = True) -> Judgement:
    """Findings for the URL list of one file. ``credentials_shipped``: the credentials in it go to browsers
    (an RTCIceServer list); False for an rtcdiag.toml, whose credentials are the tool's own."""
    clock = time.time() if now is None else now
    subject = Subject(source)
    out = Judgement()

    def add(finding_id: str, **params: Any) -> None:
        out.findings.append(make_finding(finding_id, subject, check=CHECK, step=STEP, **params))

    written = [t for t in targets if not t.shortcut]
    for t in written:
        if not t.is_turn and (t.username or t.credential):
            add(ids.APP_STUN_CREDENTIALS, url=t.uri)
        if t.scheme == "turns" and t.port != 443:
            add(ids.APP_TURNS_NOT_443, url=t.uri, port=t.port)
    if credentials_shipped:
        seen_users: set[tuple[str, str]] = set()
        for t in written:
            if not t.is_turn or not t.username or (t.uri, t.username) in seen_users:
                continue
            seen_users.add((t.uri, t.username))
            expiry = parse_rest_expiry(t.username)
            if expiry is None or expiry < MIN_REST_EXPIRY:
                if t.credential:
                    add(ids.APP_STATIC_CREDENTIAL, url=t.uri, detail=repr(t.username))
            elif expiry - clock > MAX_REST_TTL_S:
                days = (expiry - clock) / 86400
                add(ids.APP_REST_EXPIRY_FAR, url=t.uri,
                    detail=f"{t.username!r} expires in {days:.0f} days (at Unix time {expiry})")
    for kind, group in (("STUN", [t for t in written if not t.is_turn]),
                        ("TURN", [t for t in written if t.is_turn])):
        urls = list(dict.fromkeys(t.uri for t in group))
        if len(urls) > MAX_PER_KIND:
            add(ids.APP_TOO_MANY_URLS, kind=kind, count=len(urls), urls=", ".join(urls[:8]))
    counts = Counter(t.uri for t in written)
    for uri, count in counts.items():
        if count > 1:
            add(ids.APP_DUPLICATE_URL, url=uri, count=count)
    out.steps.append(StepOutcome(subject, CHECK, STEP, detail=f"{len(written)} URLs read"))
    out.extend(judge_fallback(written, lambda host: Subject(source, host)))
    return out
