"""Catalogue entries: ``rtcdiag browser --engine both --interop`` — a call between a real Chromium and a
real Firefox, signalled by rtcdiag."""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="INTEROP-CALL-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The {caller} -> {callee} call did not connect ({call})",
        symptom="{caller} called {callee} through the same ICE servers (signalling relayed by rtcdiag) and "
                "the call ended \"{state}\".",
        cause="No candidate pair worked between the two browsers, or one of them refused the other's "
              "description (its error is quoted).",
        fix="Read the findings above (a codec or TURN problem explains this); run `rtcdiag browser --engine "
            "firefox` and `--engine chromium` alone to see each browser with the servers.",
        reference="RFC 8829 (JSEP); RFC 8445",
    ),
    CatalogueEntry(
        id="INTEROP-NO-COMMON-CODEC",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{callee} rejected {caller}'s media: no common codec ({call})",
        symptom="{callee}'s answer set port 0 on an offered m-line: {rejected}.",
        cause="The offer kept codecs the answerer does not have: setCodecPreferences (or SDP munging) left "
              "only one codec, e.g. H.264 where the other browser has no H.264 encoder (Firefox needs the "
              "OpenH264 plugin, which a closed network cannot download) or not that profile.",
        fix="Offer a codec both have (VP8 and Opus everywhere; keep the browser's full list and only reorder "
            "it with setCodecPreferences); for H.264 offer Constrained Baseline "
            "(profile-level-id=42e01f, packetization-mode=1) and make sure Firefox has OpenH264.",
        reference="RFC 3264 §6 (port 0), RFC 6184 §8.1 (profile-level-id), W3C webrtc-pc setCodecPreferences",
    ),
    CatalogueEntry(
        id="INTEROP-MAX-MESSAGE-SIZE",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        title="Data-channel messages above {limit} bytes cannot go from {big} to {small}",
        symptom="The two browsers announce different a=max-message-size: {small} accepts at most {limit} "
                "bytes in one message, {big} more.",
        cause="Each browser's SCTP stack has its own limit; a sender must not exceed the receiver's "
              "(RFC 8841 §6) and the browser throws on send() when it would.",
        fix="Chunk messages larger than {limit} bytes in the application (and reassemble them), or read "
            "pc.sctp.maxMessageSize before sending.",
        reference="RFC 8841 §6; W3C webrtc-pc RTCSctpTransport.maxMessageSize",
    ),
    CatalogueEntry(
        id="INTEROP-ECHO-LOST",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="{received} of {sent} data-channel messages came back in {call}",
        symptom="The call connected; {received} of {sent} echo messages came back (unordered, no "
                "retransmissions).",
        cause="Loss on the path or in the relay, or the data channel did not open between the two browsers.",
        fix="Measure the path (`rtcdiag turn-check --packets 100`); look at the relay's bandwidth limits.",
        reference="RFC 8831",
    ),
)
