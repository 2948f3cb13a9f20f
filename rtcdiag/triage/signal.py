"""Triage rules for the signalling path probe: SignalResult -> a Judgement.

Steps, per URL (suite = the URL as shown, token values ``***``; transport ``tls`` for wss:, ``tcp`` for ws:):
``resolve``, ``connect``, ``proxy`` (through a proxy), ``tls`` (wss:), ``upgrade``, ``echo``, ``message``
(``--message-size`` > 0), ``idle`` (``--idle``), ``security``. Once a step fails the later ones are skipped
with that reason: a browser stops there too. A proxy that cannot be reached or wants authentication is one
finding about the proxy (suite ``proxy http://HOST:PORT``), however many URLs went through it.

Rules (judged on each step's final outcome):
- DNS: DNS-FAILURE about the name connected to (the proxy's when there is one); its NameFact feeds
  DNS-NOT-WORKING.
- TCP: SIGNAL-CONNECT-REFUSED / -TIMEOUT / SIGNAL-NO-ROUTE; to the proxy: SIGNAL-PROXY-UNREACHABLE.
- CONNECT: 407 SIGNAL-PROXY-AUTH; 502/503/504 SIGNAL-PROXY-UPSTREAM; another refusal of a port that is not
  443 SIGNAL-PROXY-PORT-REFUSED when the proxy opened a tunnel to ``--try-port`` on the same host or its
  answer names the port (fix: serve signalling on 443), else SIGNAL-PROXY-REFUSED; no HTTP answer
  SIGNAL-PROXY-NOT-HTTP.
- TLS: through a proxy, a leaf whose issuer differs from the one the server sends directly is
  SIGNAL-TLS-INTERCEPTED (an error when the proxy's CA is not trusted here: it replaces SIGNAL-TLS-UNTRUSTED);
  without a direct view, an issuer that names a TLS-inspection product is SIGNAL-TLS-INTERCEPTED-LIKELY;
  never a claim from a different certificate of the same issuer. Otherwise SIGNAL-TLS-UNTRUSTED, -EXPIRED,
  -HOSTNAME, -HANDSHAKE (--insecure: SIGNAL-TLS-CERT-IGNORED warnings), TLS-EXPIRING-SOON, TLS-OLD-VERSION.
- Upgrade: 101 needs a valid Sec-WebSocket-Accept, Upgrade/Connection and no unrequested extension
  (SIGNAL-UPGRADE-INVALID) and, when subprotocols were offered, one of them (SIGNAL-SUBPROTOCOL-MISSING);
  2xx SIGNAL-UPGRADE-IGNORED; 400/426 SIGNAL-UPGRADE-HEADERS-DROPPED; 403 SIGNAL-UPGRADE-FORBIDDEN;
  401/407 SIGNAL-UPGRADE-UNAUTHORIZED; 502/503/504 SIGNAL-UPGRADE-BAD-GATEWAY; 3xx SIGNAL-UPGRADE-REDIRECT
  (never followed); other SIGNAL-UPGRADE-REFUSED; no answer SIGNAL-UPGRADE-NO-ANSWER. Behind an intercepting
  proxy a 2xx/400/403/426 is SIGNAL-INSPECTION-BLOCKS-UPGRADE.
- Open WebSocket: no pong SIGNAL-NO-PONG; closed after rtcdiag's first message SIGNAL-CLOSED-AFTER-OPEN (a
  warning: the server may reject a message it does not understand); frames breaking RFC 6455
  SIGNAL-PROTOCOL-VIOLATION; the large message refused SIGNAL-MESSAGE-TOO-BIG, altered SIGNAL-MESSAGE-CUT, no
  pong after it SIGNAL-MESSAGE-STALLED; idle: ended early SIGNAL-IDLE-TIMEOUT (with the keep-alive interval:
  half the time it survived), no pong after the silence SIGNAL-IDLE-SILENT-DEATH.
- Security: ws:// SIGNAL-CLEARTEXT; the Origin of ``--foreign-origin`` accepted (a second handshake, only
  when asked: an app's own origin on another domain is never taken for a foreign one)
  SIGNAL-ORIGIN-NOT-CHECKED; credential-like query parameters
  SIGNAL-TOKEN-IN-URL (a warning over ws://, where every proxy reads it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rtcdiag.addresses import parse_ip
from rtcdiag.probes.signal import EchoState, Failure, SignalResult, TlsStep, UrlResult
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.certificate import expiring_soon
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, NameFact, RttFact, StepOutcome, StepState, is_well_known
from rtcdiag.triage.signal_evidence import close_text, describe_answer, describe_tls, interception, words_of

CHECK = "signal"
RESOLVE, CONNECT, PROXY, TLS, UPGRADE, ECHO, MESSAGE, IDLE, SECURITY = (
    "resolve", "connect", "proxy", "tls", "upgrade", "echo", "message", "idle", "security")
OLD_TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1")  # RFC 8996
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_HOSTNAME_MISMATCH = (62, 64)
PROXY_LEVEL = frozenset({ids.SIGNAL_PROXY_UNREACHABLE, ids.SIGNAL_PROXY_AUTH, ids.DNS_FAILURE})


def subject(url: UrlResult) -> Subject:
    """One URL's subject: suite = the URL as shown, its host and port, transport tls (wss:) or tcp (ws:)."""
    transport = "tls" if url.scheme == "wss" else "tcp"
    return Subject(server=url.url, host=url.host, port=url.port, transport=transport)


def proxy_subject(url: UrlResult) -> Subject:
    return Subject(server=f"proxy {url.proxy}", host=url.proxy_host or "", port=url.proxy_port,
                   transport="tcp")


# --- the judgement ------------------------------------------------------------------------------------------

class _Url:
    """Judging one URL: its steps in order, its findings, and why the rest was skipped."""

    def __init__(self, url: UrlResult, out: Judgement, seen: set[tuple[str, str]]) -> None:
        self.url, self.out, self.seen = url, out, seen
        self.subject = subject(url)
        self.stopped: str | None = None
        self.values: dict[str, Any] = {"server": url.url, "host": url.host, "port": url.port,
                                       "proxy": url.proxy or "none"}

    def step(self, name: str, detail: str, duration_ms: float = 0.0, state: StepState = StepState.DONE,
             where: Subject | None = None) -> None:
        self.out.steps.append(StepOutcome(where or self.subject, CHECK, name, state=state, detail=detail,
                                          duration_s=round(duration_ms / 1000.0, 6)))

    def skip(self, name: str) -> None:
        self.step(name, f"not tried: {self.stopped}", state=StepState.SKIPPED)

    def finding(self, finding_id: str, step: str, evidence: list[str], *, where: Subject | None = None,
                severity: Severity | None = None, **params: Any) -> Finding:
        made = make_finding(finding_id, where or self.subject, check=CHECK, step=step, evidence=evidence,
                            severity=severity, **{**self.values, **params})
        self.out.findings.append(made)
        return made

    def proxy_finding(self, finding_id: str, step: str, evidence: list[str], **params: Any) -> None:
        """A finding about the proxy itself: made once per proxy, the URL's step skipped with its reason."""
        key = (finding_id, self.url.proxy or "")
        where = proxy_subject(self.url)
        if key not in self.seen:
            self.seen.add(key)
            self.finding(finding_id, step, evidence, where=where, **params)
            self.step(step, f"{finding_id}", where=where)


def _name_fact(out: Judgement, host: str, error: str | None) -> None:
    if parse_ip(host) is None:
        out.facts.names.append(NameFact(host, error is None, well_known=is_well_known(host),
                                        detail=error or ""))


def _resolve(j: _Url) -> None:
    u, r = j.url, j.url.resolve
    if r is None:
        j.stopped = "not resolved"
        j.skip(RESOLVE)
        return
    _name_fact(j.out, r.host, r.error)
    via = f" (the proxy {u.proxy})" if u.proxy else ""
    if r.error is not None:
        evidence = [f"resolving {r.host}{via}: {r.error}"]
        if u.proxy:
            j.proxy_finding(ids.DNS_FAILURE, RESOLVE, evidence, detail=r.error, host=r.host)
        else:
            j.finding(ids.DNS_FAILURE, RESOLVE, evidence, detail=r.error, host=r.host)
        j.step(RESOLVE, r.error, r.duration_ms)
        j.stopped = f"{r.host} does not resolve"
        return
    if parse_ip(r.host) is not None:
        j.step(RESOLVE, f"{r.host}{via} is an address: nothing to resolve")
        return
    j.step(RESOLVE, f"{r.host}{via}: {', '.join(r.addresses)}", r.duration_ms)


def _connect(j: _Url) -> None:
    u, c = j.url, j.url.connect
    if c is None:
        j.stopped = j.stopped or "no connection"
        j.skip(CONNECT)
        return
    evidence = [f"TCP to {c.host}:{c.port}: " + "; ".join(c.attempts)]
    if c.failure is None:
        which = " (the proxy)" if c.via_proxy else ""
        j.step(CONNECT, f"{c.address}:{c.port} in {c.duration_ms:.1f} ms{which}",
               c.duration_ms)
        return
    detail = c.error or c.failure.value
    if c.via_proxy:
        j.proxy_finding(ids.SIGNAL_PROXY_UNREACHABLE, CONNECT, evidence, detail=detail,
                        source=u.proxy_variable or u.proxy_source)
        j.step(CONNECT, f"the proxy {u.proxy}: {detail}", c.duration_ms)
        j.stopped = "the proxy does not accept connections"
        return
    finding_id = {Failure.REFUSED: ids.SIGNAL_CONNECT_REFUSED,
                  Failure.TIMEOUT: ids.SIGNAL_CONNECT_TIMEOUT}.get(
        c.failure, ids.SIGNAL_NO_ROUTE)
    j.finding(finding_id, CONNECT, evidence, detail=detail)
    j.step(CONNECT, detail, c.duration_ms)
    j.stopped = f"TCP to {u.host}:{u.port} failed"


def _proxy(j: _Url) -> None:
    u, p = j.url, j.url.proxy_step
    if p is None:
        return
    evidence = [f"{p.request} to {p.proxy} ({u.proxy_variable or u.proxy_source})"]
    if p.answer is not None:
        evidence += describe_answer(p.answer, "proxy answer")
    if p.port_probe is not None:
        tried = p.port_probe
        evidence.append(f"--try-port: CONNECT {u.host}:{tried.port}: "
                        f"{tried.status} {echo(tried.reason)}" if tried.status else
                        f"--try-port: CONNECT {u.host}:{tried.port}: {tried.error}")
    if p.failure is None:
        answer = p.answer
        status = answer.status if answer else "?"
        j.step(PROXY, f"CONNECT {u.host}:{u.port}: {status} in {p.duration_ms:.1f} ms",
               p.duration_ms)
        return
    j.stopped = "the proxy opened no tunnel"
    answer = p.answer
    if answer is None:
        j.finding(ids.SIGNAL_PROXY_NOT_HTTP, PROXY, evidence, detail=p.error or p.failure.value)
        j.step(PROXY, p.error or p.failure.value, p.duration_ms)
        return
    status, reason = answer.status, echo(answer.reason)
    j.step(PROXY, f"CONNECT {u.host}:{u.port}: {status} {reason}", p.duration_ms)
    words = words_of(answer)
    if status == 407:
        challenge = ", ".join(echo(v[:80]) for k, v in answer.headers if k.lower() == "proxy-authenticate")
        j.proxy_finding(ids.SIGNAL_PROXY_AUTH, PROXY, evidence, reason=reason, challenge=challenge or "none",
                        status=status)
        return
    if status in (502, 503, 504):
        j.finding(ids.SIGNAL_PROXY_UPSTREAM, PROXY, evidence, status=status, reason=reason, words=words)
        return
    probe = p.port_probe
    allowed = probe is not None and probe.status is not None and 200 <= probe.status < 300
    names_port = re.search(r"\bports?\b", answer.body, re.IGNORECASE) is not None and u.port != 443
    if 400 <= status < 500 and u.port != 443 and (allowed or names_port):
        if allowed and probe is not None:
            alt, told = probe.port, f"CONNECT {u.host}:{probe.port} through the same proxy got {probe.status}"
        else:
            alt, told = 443, f"its answer names the port{words}"
        j.finding(ids.SIGNAL_PROXY_PORT_REFUSED, PROXY, evidence, status=status, reason=reason, alt_port=alt,
                  evidence_443=told)
        return
    if u.port != 443:
        port_fix = (f"Most proxies allow CONNECT only to 443: serve signalling on 443 of the same host "
                    f"(wss://{u.host}/...), or ask the proxy admins to allow port {u.port}; run again with "
                    "--try-port 443 to see whether the proxy opens 443 to this host.")
    else:
        port_fix = f"Ask the proxy admins to allow {u.host} (its answer above names the rule that " \
            "refused it)."
    j.finding(ids.SIGNAL_PROXY_REFUSED, PROXY, evidence, status=status, reason=reason, words=words,
              port_fix=port_fix)


def _cert_problems(j: _Url, tls: TlsStep, intercepted: tuple[str, str, str, str] | None,
                   evidence: list[str]) -> None:
    info = tls.info
    leaf = info.chain[0] if info.chain else None

    def add(finding_id: str, detail: str) -> None:
        if info.verification_off:
            j.finding(ids.SIGNAL_TLS_CERT_IGNORED, TLS, evidence, detail=detail)
        else:
            j.finding(finding_id, TLS, evidence, detail=detail)

    expired = leaf is not None and leaf.days_to_expiry is not None and leaf.days_to_expiry < 0
    if intercepted is not None and intercepted[0] == "confirmed":
        pass  # the interception finding says it (its CA, trusted or not)
    elif expired or info.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
        add(ids.SIGNAL_TLS_EXPIRED, f"expired on {leaf.not_after if leaf else '?'}")
    elif info.trusted is False and info.verify_code not in X509_V_ERR_HOSTNAME_MISMATCH:
        add(ids.SIGNAL_TLS_UNTRUSTED, echo(info.verify_error or "the chain does not verify"))
    if info.hostname_match is False and leaf is not None and intercepted is None:
        names = ", ".join(echo(n) for n in leaf.san_dns + leaf.san_ip) or "none"
        add(ids.SIGNAL_TLS_HOSTNAME, f"the certificate names {names}, not {j.url.host}")


def _tls(j: _Url) -> None:
    u, tls = j.url, j.url.tls
    if u.scheme != "wss":
        return
    if j.stopped is not None or tls is None:
        j.stopped = j.stopped or "no TLS connection"
        j.skip(TLS)
        return
    info = tls.info
    evidence = describe_tls(tls)
    intercepted = interception(tls)
    if not info.chain and tls.failure is not None:
        j.finding(ids.SIGNAL_TLS_HANDSHAKE, TLS, evidence, detail=echo(info.error or tls.failure.value))
        j.step(TLS, echo(info.error or tls.failure.value), tls.duration_ms)
        j.stopped = "the TLS handshake failed"
        return
    if intercepted is not None:
        kind, issuer, direct_issuer, how = intercepted
        params: dict[str, Any] = {"issuer": echo(issuer or "-"), "direct_issuer": echo(direct_issuer or "-"),
                                  "detail": how}
        if kind == "confirmed":
            untrusted = info.trusted is False and not info.verification_off
            if untrusted:
                why = echo(info.verify_error or "?")
                params["detail"] = f"{how}; the proxy's CA is not trusted here: {why}"
            j.finding(ids.SIGNAL_TLS_INTERCEPTED, TLS, evidence,
                      severity=Severity.ERROR if untrusted else None, **params)
        else:
            j.finding(ids.SIGNAL_TLS_INTERCEPTED_LIKELY, TLS, evidence, **params)
    _cert_problems(j, tls, intercepted, evidence)
    own = tls.direct if intercepted is not None and tls.direct is not None and tls.direct.chain else info
    soon = expiring_soon(own.chain[0] if own.chain else None)
    if soon is not None:
        j.finding(ids.TLS_EXPIRING_SOON, TLS, evidence, **soon)
    if info.version in OLD_TLS_VERSIONS and intercepted is None:
        j.finding(ids.TLS_OLD_VERSION, TLS, evidence, version=info.version)
    leaf = info.chain[0] if info.chain else None
    detail = f"{info.version}, issuer {echo(leaf.issuer) if leaf else '-'}"
    if info.trusted is False:
        detail += f", not trusted ({echo(info.verify_error or '?')})"
    if tls.direct_alpn == "h2":
        detail += "; the server offers HTTP/2 (RFC 8441 not tried: upgraded over HTTP/1.1, as a browser " \
                  "does on a new connection)"
    j.step(TLS, detail, tls.duration_ms)
    if tls.failure is not None:
        j.stopped = "a browser refuses this certificate (--insecure goes on past it)"


_BLOCKED_BY_INSPECTION = (200, 400, 403, 426)


def _upgrade(j: _Url) -> bool:
    u, up = j.url, j.url.upgrade
    if j.stopped is not None or up is None:
        j.stopped = j.stopped or "no upgrade"
        j.skip(UPGRADE)
        return False
    evidence = [f"sent: {line}" for line in up.request[:12]]
    if up.answer is not None:
        evidence += describe_answer(up.answer, "answer")
    answer = up.answer
    if answer is None:
        detail = echo(up.error or (up.failure.value if up.failure else "no answer"))
        j.finding(ids.SIGNAL_UPGRADE_NO_ANSWER, UPGRADE, evidence, detail=detail)
        j.step(UPGRADE, detail, up.duration_ms)
        j.stopped = "the upgrade got no answer"
        return False
    status, reason, words = answer.status, echo(answer.reason), words_of(answer)
    if status == 101:
        return _switched(j, evidence)
    j.step(UPGRADE, f"{status} {reason}", up.duration_ms)
    j.stopped = f"the upgrade got {status}"
    params: dict[str, Any] = {"status": status, "reason": reason, "words": words}
    tls = u.tls
    intercepted = interception(tls) if tls is not None else None
    if intercepted is not None and status in _BLOCKED_BY_INSPECTION:
        j.finding(ids.SIGNAL_INSPECTION_BLOCKS_UPGRADE, UPGRADE, evidence, issuer=echo(intercepted[1]),
                  **params)
    elif 200 <= status < 300:
        j.finding(ids.SIGNAL_UPGRADE_IGNORED, UPGRADE, evidence, **params)
    elif status in (400, 426, 505):
        j.finding(ids.SIGNAL_UPGRADE_HEADERS_DROPPED, UPGRADE, evidence, **params)
    elif status == 403:
        sent = f"Sec-WebSocket-Protocol: {echo(', '.join(up.protocols_offered))}" if up.protocols_offered \
            else "no Sec-WebSocket-Protocol"
        j.finding(ids.SIGNAL_UPGRADE_FORBIDDEN, UPGRADE, evidence, origin=echo(up.origin or "none"),
                  protocol_sent=sent, **params)
    elif status in (401, 407):
        j.finding(ids.SIGNAL_UPGRADE_UNAUTHORIZED, UPGRADE, evidence, **params)
    elif status in (502, 503, 504):
        j.finding(ids.SIGNAL_UPGRADE_BAD_GATEWAY, UPGRADE, evidence, **params)
    elif 300 <= status < 400:
        location = answer.get("location")
        j.finding(ids.SIGNAL_UPGRADE_REDIRECT, UPGRADE, evidence, status=status, reason=reason,
                  location=echo(location[:200]) if location else "no Location")
    else:
        j.finding(ids.SIGNAL_UPGRADE_REFUSED, UPGRADE, evidence, **params)
    return False


def _switched(j: _Url, evidence: list[str]) -> bool:
    up = j.url.upgrade
    assert up is not None and up.answer is not None
    problems: list[str] = []
    if not up.accept_valid:
        got = up.answer.get("sec-websocket-accept")
        shown = echo(got) if got else "missing"
        problems.append(f"Sec-WebSocket-Accept is {shown}, expected {up.accept_expected}")
    if not up.upgrade_header_ok:
        problems.append("the 101 lacks Upgrade: websocket or Connection: Upgrade")
    if up.extensions:
        problems.append(f"the server chose the extension {echo(up.extensions)}, which was not offered")
    if up.protocol and up.protocol not in up.protocols_offered:
        problems.append(f"the server chose the subprotocol {echo(up.protocol)}, which was not offered")
    if problems:
        j.finding(ids.SIGNAL_UPGRADE_INVALID, UPGRADE, evidence, detail="; ".join(problems))
        j.step(UPGRADE, "101, but " + "; ".join(problems), up.duration_ms)
        j.stopped = "the handshake is not valid"
        return False
    if up.protocols_offered and not up.protocol:
        j.finding(ids.SIGNAL_SUBPROTOCOL_MISSING, UPGRADE, evidence,
                  offered=echo(", ".join(up.protocols_offered)),
                  answered="without Sec-WebSocket-Protocol")
        j.step(UPGRADE, "101 without the subprotocol", up.duration_ms)
        j.stopped = "no subprotocol chosen (a browser fails the connection)"
        return False
    chosen = f", subprotocol {echo(up.protocol)}" if up.protocol else ""
    j.step(UPGRADE, f"101 Switching Protocols in {up.duration_ms:.1f} ms{chosen}", up.duration_ms)
    return True


def _echo(j: _Url) -> None:
    u, e = j.url, j.url.echo
    if j.stopped is not None or e is None:
        j.stopped = j.stopped or "not opened"
        j.skip(ECHO)
        return
    evidence = [f"sent a {e.message_bytes}-byte text message and a ping"]
    if e.ping_rtt_ms is not None:
        evidence.append(f"pong after {e.ping_rtt_ms:.3f} ms")
    evidence += [f"server message: {echo(m)}" for m in e.other_messages]
    if e.failure is Failure.PROTOCOL:
        j.finding(ids.SIGNAL_PROTOCOL_VIOLATION, ECHO, evidence, detail=echo(e.error or "?"))
        j.step(ECHO, echo(e.error or "protocol violation"), e.duration_ms)
        j.stopped = "the server broke RFC 6455"
        return
    if e.closed is not None:
        text = close_text(e.closed)
        evidence.append(f"the connection ended {text} after {e.closed.after_ms:.1f} ms")
        j.finding(ids.SIGNAL_CLOSED_AFTER_OPEN, ECHO, evidence, detail=text, message_bytes=e.message_bytes)
        j.step(ECHO, f"closed {text}", e.duration_ms)
        j.stopped = "the server closed the connection"
        return
    if e.failure is not None:
        j.finding(ids.SIGNAL_NO_PONG, ECHO, evidence, detail=echo(e.error or e.failure.value))
        j.step(ECHO, echo(e.error or "no pong"), e.duration_ms)
        j.stopped = "no pong"
        return
    rtt = e.ping_rtt_ms or 0.0
    j.out.facts.rtts.append(RttFact(server=u.url, what="WebSocket ping/pong", rtt_ms=rtt))
    if e.echo is EchoState.ECHOED:
        detail = f"pong in {rtt:.2f} ms; echoed in {e.echo_rtt_ms or 0.0:.2f} ms"
    elif e.echo is EchoState.OTHER:
        detail = f"pong in {rtt:.2f} ms; the server sent {e.other_count} other message(s) (not an echo)"
    else:
        detail = f"pong in {rtt:.2f} ms; no echo (not an echo server)"
    j.step(ECHO, detail, e.duration_ms)


def _message(j: _Url) -> None:
    m = j.url.message
    if m is None:
        if j.stopped is not None:
            j.skip(MESSAGE)
        return
    if j.stopped is not None:
        j.skip(MESSAGE)
        return
    evidence = [f"sent a {m.size}-byte text message (one frame) and a ping"]
    size = m.size
    if m.failure is Failure.PROTOCOL:
        j.finding(ids.SIGNAL_PROTOCOL_VIOLATION, MESSAGE, evidence, detail=echo(m.error or "?"))
        j.step(MESSAGE, echo(m.error or "protocol violation"), m.duration_ms)
        j.stopped = "the server broke RFC 6455"
        return
    if m.closed is not None:
        text = close_text(m.closed)
        evidence.append(f"the connection ended {text} after {m.closed.after_ms:.1f} ms; the small message "
                        "before it passed")
        j.finding(ids.SIGNAL_MESSAGE_TOO_BIG, MESSAGE, evidence, size=size, detail=f"the server closed the "
                  f"connection {text}")
        j.step(MESSAGE, f"{size} bytes: closed {text}", m.duration_ms)
        j.stopped = f"the {size}-byte message ended the connection"
        return
    if m.failure is not None:
        j.finding(ids.SIGNAL_MESSAGE_STALLED, MESSAGE, evidence, size=size, detail=echo(m.error or "no pong"))
        j.step(MESSAGE, echo(m.error or "no pong"), m.duration_ms)
        j.stopped = "the large message stalled the connection"
        return
    if m.echoed_intact is False:
        detail = f"the echo of the {size}-byte message came back as {m.echoed_size} different bytes"
        j.finding(ids.SIGNAL_MESSAGE_CUT, MESSAGE, [*evidence, detail], size=size, detail=detail)
        j.step(MESSAGE, detail, m.duration_ms)
        return
    echoed = "; echoed intact" if m.echoed_intact else ""
    j.step(MESSAGE, f"{size} bytes accepted (pong after it){echoed} in {m.duration_ms:.1f} ms", m.duration_ms)


def keepalive_interval(survived_s: float) -> int:
    """The keep-alive to configure for a connection cut after ``survived_s`` idle seconds: half of it
    (room for one lost ping), at least 1 s."""
    return max(1, int(survived_s / 2))


def _idle(j: _Url) -> None:
    i = j.url.idle
    if i is None:
        if j.stopped is not None and j.url.upgrade is not None:
            j.skip(IDLE)
        return
    if j.stopped is not None:
        j.skip(IDLE)
        return
    pinged = ""
    if i.server_pings:
        pinged = f"; the server pinged {i.server_pings} time(s) (first after {i.first_server_ping_s} s), " \
            "answered"
    evidence = [f"idle for up to {i.asked_s:g} s{pinged}"]
    if i.closed is not None:
        text = close_text(i.closed)
        evidence.append(f"ended {text} after {i.survived_s:.1f} s")
        j.finding(ids.SIGNAL_IDLE_TIMEOUT, IDLE, evidence, survived=f"{i.survived_s:.1f}", how=text,
                  asked=f"{i.asked_s:g}", interval=keepalive_interval(i.survived_s))
        j.step(IDLE, f"cut after {i.survived_s:.1f} s {text}", i.survived_s * 1000.0)
        return
    if i.error is not None:
        j.finding(ids.SIGNAL_PROTOCOL_VIOLATION, IDLE, evidence, detail=echo(i.error))
        j.step(IDLE, echo(i.error), i.survived_s * 1000.0)
        return
    if i.alive_after is False:
        j.finding(ids.SIGNAL_IDLE_SILENT_DEATH, IDLE, evidence, asked=f"{i.asked_s:g}",
                  detail=f"no pong within {j.values.get('timeout', '?')} s")
        j.step(IDLE, f"no pong after {i.asked_s:g} s idle", i.survived_s * 1000.0)
        return
    j.step(IDLE, f"alive after {i.survived_s:.1f} s idle (a ping got its pong){pinged}",
           i.survived_s * 1000.0)


def _security(j: _Url) -> None:
    u = j.url
    said = False
    if u.scheme == "ws":
        j.finding(ids.SIGNAL_CLEARTEXT, SECURITY, [f"{u.url}: ws:// (RFC 6455 §3: wss:// is TLS)"])
        said = True
    if u.token_params:
        cleartext = ", and of every proxy on the path (ws:// is not encrypted)" if u.scheme == "ws" else ""
        names = ", ".join(echo(p) for p in u.token_params)
        j.finding(ids.SIGNAL_TOKEN_IN_URL, SECURITY, [f"{u.url}"], params=names,
                  cleartext=cleartext, severity=Severity.WARNING if u.scheme == "ws" else None)
        said = True
    foreign = u.foreign_origin
    if foreign is not None:
        evidence = [f"a second opening handshake with Origin: {echo(foreign.origin)}: "
                    + (f"{foreign.status} {echo(foreign.reason)}" if foreign.status else echo(foreign.error))]
        if foreign.status == 101:
            j.finding(ids.SIGNAL_ORIGIN_NOT_CHECKED, SECURITY, evidence, origin=echo(foreign.origin))
            said = True
    if said or foreign is not None:
        detail = "see findings" if said else "nothing to report"
        if foreign is not None:
            answer = f"got {foreign.status}" if foreign.status else f"failed ({echo(foreign.error)})"
            detail += f"; the foreign Origin {echo(foreign.origin)} {answer}"
        j.step(SECURITY, detail)


def _judge_url(url: UrlResult, out: Judgement, seen: set[tuple[str, str]], timeout: float) -> None:
    j = _Url(url, out, seen)
    j.values["timeout"] = f"{timeout:g}"
    if url.internal_error is not None:
        j.finding(ids.INTERNAL_ERROR, "run", [url.internal_error], check_name=CHECK,
                  detail=url.internal_error,
                  about=url.url)
        j.step("run", f"internal error: {url.internal_error}", state=StepState.UNDECIDED)
        return
    steps: tuple[Callable[[_Url], object], ...] = (_resolve, _connect, _proxy, _tls, _upgrade, _echo,
                                                   _message, _idle)
    for run in steps:
        run(j)
    _security(j)


def judge(result: SignalResult) -> Judgement:
    """Findings, the steps of every URL, the RTT and name facts."""
    out = Judgement()
    seen: set[tuple[str, str]] = set()
    for url in result.urls:
        _judge_url(url, out, seen, result.timeout_s)
    return out
