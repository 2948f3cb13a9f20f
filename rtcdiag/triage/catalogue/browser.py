"""Catalogue entries: ``rtcdiag browser`` — the Trickle ICE page run by a real Chromium. The ICE servers'
own errors are ``rtcdiag analyze``'s entries (the run's webrtc-internals dump is judged by those rules);
these are what only the live run can say: the calls in the page, and Chromium against aioice."""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="BROWSER-CALL-FAILED",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="{browser}'s {call} did not connect",
        symptom="Two RTCPeerConnections in one page (iceTransportPolicy \"{policy}\", the same iceServers) "
                "ended with \"{state}\" (connection state, or why it was not waited for) after {ms}; "
                "{detail}.",
        cause="No candidate pair worked between the two connections: with policy \"relay\" both must reach a "
              "TURN server and the server must relay between its own relay addresses (coturn refuses that "
              "for loopback/private peers unless allowed, and `denied-peer-ip` ranges refuse it too).",
        fix="Read the TURN server's own errors above (they explain this when present); otherwise run "
            "`rtcdiag turn-check` against the server to see the CreatePermission and data path, and check "
            "`denied-peer-ip`/`allowed-peer-ip` and `allow-loopback-peers`.",
        reference="RFC 8445 §7.2.5 (checks), RFC 8656 §9 (permissions)",
    ),
    CatalogueEntry(
        id="BROWSER-CHANNEL-NOT-OPEN",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="{browser}'s {call} connected but its data channel never opened",
        symptom="ICE and DTLS connected (selected pair {pair}) but the data channel did not open within "
                "{timeout}.",
        cause="SCTP over DTLS did not come up over the selected pair: packets above a small size are lost "
              "on the path (an MTU black hole), or the relay drops them.",
        fix="Check the path MTU between the client and the TURN server (and the server's relay), and "
            "run `rtcdiag turn-check --packets 50` to see larger datagrams through the relay.",
        reference="RFC 8831 (data channels), RFC 8261 (SCTP over DTLS)",
    ),
    CatalogueEntry(
        id="BROWSER-ECHO-LOSS",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="{lost} of {sent} data-channel messages were lost in {browser}'s {call}",
        symptom="Over the selected pair {pair}, {received} of {sent} echo messages came back within "
                "{timeout} (unordered, no retransmissions).",
        cause="Packets are lost between the browser and the TURN server or in the relay (congestion, a "
              "rate limit such as coturn's `max-bps`, or a lossy link).",
        fix="Measure loss on the path (`rtcdiag turn-check --packets 100`), and check the server's "
            "bandwidth limits and load.",
        reference="RFC 8831 §6.6 (partial reliability)",
    ),
    CatalogueEntry(
        id="BROWSER-AIOICE-DISAGREE",
        severity=Severity.WARNING,
        layer=Layer.CONSEQUENCE,
        title="Chromium and aioice disagree about {url}",
        symptom="Chromium: {browser}; aioice (`rtcdiag ice`): {aioice}.",
        cause="The two ICE stacks handle this server differently (TURN over TCP/TLS, certificate checks, "
              "which address families and interfaces they gather on, how they retry after an error), so a "
              "server that works for one client may fail for another.",
        fix="Trust the browser's result for browser calls; look at the server's log for the allocation the "
            "other stack made, and at how its TLS certificate and transports are configured.",
        reference="W3C webrtc-pc RTCIceServer; RFC 8656",
    ),
    CatalogueEntry(
        id="BROWSER-TURNS-CERTIFICATE",
        severity=Severity.ERROR,
        layer=Layer.ENDPOINT,
        # the certificate is why Chromium could not reach the turns: server (it says only 701)
        explains=frozenset({"ANALYZE-TURN-UNREACHABLE", "ANALYZE-TURNS-CONNECT-FAILED"}),
        roots_first=0,
        title="Chromium cannot use {url}: the TURN server's TLS certificate was refused",
        symptom="Chromium reported only 701 \"{text}\" for {url}; aioice, connecting to the same URL from "
                "the same machine, was refused the certificate: {aioice}.",
        cause="Chromium checks a turns: server's certificate like a web site's (trusted chain, the URL's "
              "host name, validity dates); a self-signed, expired or wrong-name certificate fails the TLS "
              "handshake, and the browser says no more than 701.",
        fix="Give the TURN server a certificate from a public CA for the host name in the turns: URL (e.g. "
            "Let's Encrypt) with its full chain (`cert=` and `pkey=` in turnserver.conf), and use that name "
            "in the URL; `rtcdiag turn-check {url_sh}` shows the certificate the server presents.",
        reference="RFC 8656 §3.1 (TURN over TLS), RFC 6125 (host name check)",
    ),
)
