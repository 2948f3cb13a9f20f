"""What ``rtcdiag signal`` quotes as evidence (an HTTP answer, a TLS handshake and its chain, a close) and
whether a TLS-inspecting proxy stands between the client and the signalling server (its certificate is not
the server's)."""

from __future__ import annotations

from rtcdiag.probes.signal import CloseSeen, HttpAnswer, TlsStep
from rtcdiag.probes.tls_info import CertInfo
from rtcdiag.redact import echo

# Issuers (organisation or CA names) of TLS-inspection products: a chain through a proxy issued by one of
# these is most likely its own (matched case-insensitively inside the issuer's distinguished name).
INSPECTION_ISSUERS = ("zscaler", "netskope", "fortinet", "fortigate", "palo alto", "blue coat", "bluecoat",
                      "cisco umbrella", "sophos", "forcepoint", "websense", "mcafee web gateway", "skyhigh",
                      "check point", "checkpoint", "barracuda", "kaspersky", "eset ssl filter", "avast",
                      "bitdefender", "squid", "mitmproxy", "charles proxy", "do_not_trust_fiddlerroot",
                      "portswigger", "menlo security", "iboss", "cloudflare for teams", "securly",
                      "lightspeed", "contentkeeper", "smoothwall", "untangle", "watchguard", "sonicwall")
KEPT_HEADERS = ("server", "via", "content-type", "location", "www-authenticate", "proxy-authenticate",
                "x-squid-error", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions",
                "upgrade", "connection")


# --- evidence ---------------------------------------------------------------------------------------------

def describe_answer(answer: HttpAnswer, what: str) -> list[str]:
    lines = [f"{what}: {echo(answer.version)} {answer.status} {echo(answer.reason)}"]
    lines += [f"  {echo(k)}: {echo(v)}" for k, v in answer.headers if k.lower() in KEPT_HEADERS]
    if answer.body:
        lines.append(f"  body: {echo(answer.body[:200])}")
    return lines


def words_of(answer: HttpAnswer | None) -> str:
    """`` (Server: nginx; "first words of the body")``: who answered, and what it said."""
    if answer is None:
        return ""
    parts: list[str] = []
    for name in ("server", "via", "x-squid-error"):
        value = answer.get(name)
        if value:
            parts.append(f"{name.title()}: {echo(value[:80])}")
    body = " ".join(answer.body.split())[:120]
    if body:
        parts.append(f"body \"{echo(body)}\"")
    return f" ({'; '.join(parts)})" if parts else ""


def describe_tls(tls: TlsStep) -> list[str]:
    lines: list[str] = []
    info = tls.info
    if info.handshake_ok:
        lines.append(f"TLS {info.version}, cipher {info.cipher}, ALPN {info.alpn_selected or 'none'} "
                     f"(offered {', '.join(info.alpn_offered)})")
    for depth, cert in enumerate(info.chain[:5]):
        sans = ", ".join(echo(n) for n in cert.san_dns + cert.san_ip) or "none"
        fingerprint = tls.fingerprints[depth][:16] if depth < len(tls.fingerprints) else "?"
        lines.append(f"certificate[{depth}]: subject {echo(cert.subject or '-')}; "
                     f"issuer {echo(cert.issuer or '-')};"
                     f" SAN {sans}; valid {cert.not_before} .. {cert.not_after}; sha256 {fingerprint}...")
    if info.verify_error:
        lines.append(f"verification: {echo(info.verify_error)} (OpenSSL code {info.verify_code})")
    if info.error:
        lines.append(echo(info.error))
    if tls.direct is not None and tls.direct.chain:
        leaf = tls.direct.chain[0]
        fingerprint = tls.direct_fingerprints[0][:16] if tls.direct_fingerprints else "?"
        lines.append(f"directly (no proxy): certificate[0] subject {echo(leaf.subject or '-')}; issuer "
                     f"{echo(leaf.issuer or '-')}; sha256 {fingerprint}...; ALPN {tls.direct_alpn or 'none'} "
                     "(offered h2, http/1.1)")
    elif tls.direct_error:
        lines.append(f"directly (no proxy): {echo(tls.direct_error)}")
    return lines


def close_text(closed: CloseSeen) -> str:
    if closed.code is None:
        return "without a close frame (EOF)" if closed.how == "eof" else "by a reset, without a close frame"
    reason = f" {echo(closed.reason)}" if closed.reason else ""
    return f"with close code {closed.code}{reason}"


# --- interception ------------------------------------------------------------------------------------------

def _issuer_product(cert: CertInfo) -> bool:
    issuer = cert.issuer.lower()
    return any(name in issuer for name in INSPECTION_ISSUERS)


def interception(tls: TlsStep) -> tuple[str, str, str, str] | None:
    """("confirmed" | "likely", issuer through the proxy, issuer directly, how it was told), or None.

    Confirmed: the leaf through the proxy and the leaf taken directly are different certificates from
    different issuers. Another certificate from the same issuer is not interception (a load balancer may
    hold several); without a direct view only an issuer naming a TLS-inspection product counts (likely)."""
    chain = tls.info.chain
    if not chain:
        return None
    leaf = chain[0]
    direct = tls.direct.chain if tls.direct is not None else []
    if direct:
        same = bool(tls.fingerprints) and bool(tls.direct_fingerprints) and \
            tls.fingerprints[0] == tls.direct_fingerprints[0]
        if same or leaf.issuer == direct[0].issuer:
            return None
        return ("confirmed", leaf.issuer, direct[0].issuer,
                "different certificates from different issuers for the same name and port")
    if _issuer_product(leaf) or any(_issuer_product(c) for c in chain[1:]):
        return ("likely", leaf.issuer, "unknown", tls.direct_error or "not compared")
    return None
