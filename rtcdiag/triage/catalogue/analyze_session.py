"""Catalogue entries of ``rtcdiag analyze``, continued: DTLS, signalling (SDP), getUserMedia, candidates that
cannot cross networks, DTLS that never starts, codecs and data channels. Kept in the ``analyze`` area (its
ENTRIES follow rtcdiag.triage.catalogue.analyze's, in this order)."""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    # ---- DTLS -----------------------------------------------------------------------------------------
    CatalogueEntry(
        id="ANALYZE-DTLS-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE connected but DTLS failed",
        symptom="In {pc} ICE connected at {ice_when} but the connection went \"failed\" at {when} "
                "(transport {stats_id} "
                "dtlsState \"{dtls}\"); the remote description's fingerprint was {fingerprint}.",
        cause="The DTLS certificate the peer presented does not match the a=fingerprint of its SDP: the SDP "
              "was changed on the way (munging, a signalling server or SBC rewriting it), or the answer "
              "belongs to another session.",
        fix="Send the SDP unchanged between the peers (munge nothing in the a=fingerprint/a=setup lines) and "
            "make sure each answer goes to the peer connection that made the offer.",
        reference="RFC 8122 §5; RFC 8842 §5 (fingerprint check)",
    ),
    CatalogueEntry(
        id="ANALYZE-DATACHANNEL-NOT-OPEN",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Data channel never opened",
        symptom="In {pc} the connection was up but data channel \"{label}\" (stats {stats_id}) was still "
                "\"connecting\" {seconds} s later.",
        cause="The SCTP association over DTLS did not come up: the answer's m=application section was "
              "munged (a=sctp-port, max-message-size), the other side has no data channel support, or a "
              "negotiated channel's id is not created on the other side.",
        fix="Do not edit the m=application section of the SDP; with negotiated: true create the channel "
            "with the same id on both sides.",
        reference="RFC 8831 §6; RFC 8841 (SDP for SCTP over DTLS)",
    ),
    # ---- signalling -----------------------------------------------------------------------------------
    CatalogueEntry(
        id="ANALYZE-MLINE-REJECTED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The answer rejected the {kind} m-line",
        symptom="In {pc} the answer {applied} has port 0 for the {kind} section (mid {mid}): no "
                "{kind} will flow.",
        cause="The other side has no codec in common with the offer for this media (e.g. H.264 profile or "
              "packetization-mode that does not match, VP9/AV1 unsupported), or it refuses this media kind.",
        fix="Offer a codec both sides support (keep VP8 and Opus in the list; for H.264 offer "
            "profile-level-id 42e01f with packetization-mode=1), and do not strip codecs when munging SDP.",
        reference="RFC 8829 §5.3.1 (rejected m-sections), RFC 3264 §6",
    ),
    CatalogueEntry(
        id="ANALYZE-RTX-APT-MISSING",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="RTX payload type points to a missing payload type ({side} {kind})",
        symptom="In {pc} the {side} description's {kind} section (mid {mid}) has an RTX a=fmtp apt={apt} "
                "that is not among its payload types.",
        cause="SDP munging removed a codec but left its RTX entry, or the endpoint generated a broken "
              "answer; retransmissions for that codec cannot work and some browsers reject the description.",
        fix="When removing a codec from the SDP, remove its rtx payload type (the a=rtpmap/a=fmtp with "
            "apt=<that payload type>) too.",
        reference="RFC 4588 §8.6 (apt parameter)",
    ),
    CatalogueEntry(
        # Seen on real calls: tests/fixtures/matrix/dtls-both-client (the caller's getStats alone)
        id="ANALYZE-DTLS-FAILED-AS-CLIENT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE connected but DTLS failed: a fingerprint mismatch, or both sides DTLS client",
        symptom="In {pc} ICE connected at {ice_when} but the connection went \"failed\" at {when} (transport "
                "{stats_id} dtlsState \"{dtls}\"); this end was the DTLS client ({role}) and the other end "
                "is not in this evidence.",
        cause="Either the peer's certificate did not match the a=fingerprint of its SDP (the SDP was changed "
              "on the way, or the answer belongs to another session), or the other end also took the "
              "client role (a=setup rewritten on the way: both sides sent a ClientHello). Which one, only "
              "the other end's role tells.",
        fix="Compare the SDP each side sent with what the other received (a=fingerprint and a=setup lines): "
            "a webrtc-internals dump with both ends, or a capture of the call (`rtcdiag analyze` on it shows "
            "ClientHellos both ways for a role conflict), decides. Send the SDP unchanged.",
        reference="RFC 8842 §5 (a=setup, a=fingerprint); RFC 5763 §5",
    ),
    CatalogueEntry(
        id="ANALYZE-DTLS-ROLE-CONFLICT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="DTLS role conflict: both sides are {role}",
        symptom="In {pc} {how}: both sides wait for (or both start) the DTLS handshake.",
        cause="One endpoint (often a media server or gateway, or munged SDP) answered with the same DTLS "
              "role as the offerer instead of the opposite one, or a=setup was rewritten on its way to the "
              "other side (each side then sees a different choice).",
        fix="The offer must say a=setup:actpass and the answer a=setup:active (or passive), never the same "
            "role as the other side; send the SDP unchanged between the peers.",
        reference="RFC 8842 §5.2, §5.3 (a=setup negotiation)",
    ),
    CatalogueEntry(
        id="ANALYZE-SDP-GLARE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Glare: both sides sent an offer at once",
        symptom="{pc} had its own offer out (have-local-offer) when the other side's offer arrived at {when}"
                "{failure}.",
        cause="Both peers started a negotiation at the same time (glare) and the app has no rule for who "
              "yields, so the offers cross and the answers arrive in the wrong state.",
        fix="Use the \"perfect negotiation\" pattern: one polite peer rolls back its offer "
            "(setRemoteDescription applies an implicit rollback) and the impolite one ignores the incoming "
            "offer while it has its own out.",
        reference="W3C webrtc-pc §10.7 (perfect negotiation); RFC 8829 §5.7",
    ),
    CatalogueEntry(
        id="ANALYZE-SDP-WRONG-STATE-STABLE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="An answer was applied in the \"stable\" state",
        symptom="In {pc} {operation} failed at {when}: \"{error}\" — an answer arrived when no offer was "
                "pending "
                "(the answer applied twice, or a late duplicate).",
        cause="The app applies the same answer twice (a signalling message delivered twice, two handlers for "
              "one message) or answers a negotiation that already finished.",
        fix="Apply an answer only in \"have-local-offer\" (check signalingState), de-duplicate signalling "
            "messages, and use the perfect negotiation pattern.",
        reference="RFC 8829 §5.7 (state machine); W3C webrtc-pc §4.3.1",
    ),
    CatalogueEntry(
        id="ANALYZE-SDP-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{operation} failed",
        symptom="In {pc} {operation} failed at {when}: \"{error}\".",
        cause="The browser rejected the session description or the call in this state.",
        fix="Read the error text: a munged SDP, a state-machine error in the app's signalling, or an "
            "unsupported feature.",
        reference="RFC 8829 §5",
    ),
    CatalogueEntry(
        id="ANALYZE-ICE-LITE-BOTH",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="Both sides are ICE-lite",
        symptom="In {pc} both the local and the remote description carry a=ice-lite: nobody sends "
                "connectivity checks, so ICE can never connect.",
        cause="Two lite implementations (typically two media servers, or a server and a gateway) were put "
              "in front of each other; ICE needs at least one full agent.",
        fix="Make one side a full ICE agent (a browser always is), or connect the servers without ICE.",
        reference="RFC 8445 §2.5, §6.1.1 (a lite agent never sends checks)",
    ),
    CatalogueEntry(
        id="ANALYZE-ICE-CREDENTIALS-SHORT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE credentials too short in the {side} description",
        symptom="In {pc} the {side} description has {what}: browsers reject it (ice-ufrag needs at least 4 "
                "characters, ice-pwd at least 22).",
        cause="A hand-made or munged SDP, or a non-browser endpoint generating weak ICE credentials.",
        fix="Generate ice-ufrag with 4-256 and ice-pwd with 22-256 ice-chars (letters, digits, + and /).",
        reference="RFC 8839 §5.4",
    ),
    CatalogueEntry(
        id="ANALYZE-SDP-NO-FINGERPRINT",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="No DTLS fingerprint in the {side} description",
        symptom="In {pc} the {side} description has DTLS-SRTP or SCTP-over-DTLS m-lines but no "
                "a=fingerprint: the peer cannot authenticate the DTLS handshake and browsers reject it.",
        cause="The fingerprint was stripped by SDP munging or a signalling server, or the endpoint does not "
              "do DTLS (plain RTP/SAVP with SDES keys is not WebRTC).",
        fix="Send the description unchanged; the endpoint must offer DTLS-SRTP with a=fingerprint.",
        reference="RFC 8122 §5; RFC 8827 §6.5",
    ),
    CatalogueEntry(
        id="ANALYZE-DIRECTION-MISMATCH",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The answer's direction does not fit the offer ({offered} answered {answered})",
        symptom="In {pc} the {kind} section (mid {mid}) was offered a={offered} and answered a={answered}, "
                "which is not a valid answer: media will not flow the way either side expects.",
        cause="SDP munging or a non-browser endpoint set the direction; an answer to sendonly must be "
              "recvonly or inactive, to recvonly sendonly or inactive, to inactive inactive.",
        fix="Set directions with RTCRtpTransceiver.direction instead of editing the SDP, and answer each "
            "offered direction with one RFC 3264 allows.",
        reference="RFC 3264 §6.1; RFC 8829 §5.3.1",
    ),
    CatalogueEntry(
        id="ANALYZE-BUNDLE-MISMATCH",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="BUNDLE group of the answer does not match the offer",
        symptom="In {pc} the offer bundles mids {offered} but the answer bundles {answered}: the answer "
                "may only keep (a subset of) the offered group, and browsers with bundlePolicy max-bundle "
                "reject an answer without one.",
        cause="The answering endpoint (often a media server or gateway) does not support BUNDLE, or the "
              "SDP was munged and the mids no longer match.",
        fix="Answer with a=group:BUNDLE listing the offered mids it accepts (RFC 9143), or set "
            "bundlePolicy \"balanced\" on the browser for endpoints without BUNDLE.",
        reference="RFC 9143 §7.3 (answerer BUNDLE procedures)",
    ),
    # ---- getUserMedia ---------------------------------------------------------------------------------
    CatalogueEntry(
        id="ANALYZE-GUM-NOT-ALLOWED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{request} was denied (NotAllowedError)",
        symptom="{request} for {constraints} failed at {when}: NotAllowedError \"{message}\".",
        cause="The user or the browser denied camera/microphone permission, a policy blocks it, or the page "
              "is not a secure context (https or localhost).",
        fix="Serve the page over https, ask for permission after a user gesture, and tell the user how to "
            "re-allow access (the camera icon in the address bar); check Permissions-Policy for iframes.",
        reference="W3C Media Capture and Streams §10 (getUserMedia, NotAllowedError)",
    ),
    CatalogueEntry(
        id="ANALYZE-GUM-NOT-FOUND",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{request}: no such device (NotFoundError)",
        symptom="{request} for {constraints} failed at {when}: NotFoundError \"{message}\".",
        cause="No camera or microphone of the requested kind exists (or the OS hides it from the browser).",
        fix="Check that a device is connected and enabled; ask only for the kinds that exist "
            "(enumerateDevices first) and fall back to audio-only.",
        reference="W3C Media Capture and Streams §10 (NotFoundError)",
    ),
    CatalogueEntry(
        id="ANALYZE-GUM-NOT-READABLE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{request}: the device could not be opened (NotReadableError)",
        symptom="{request} for {constraints} failed at {when}: NotReadableError \"{message}\".",
        cause="The device is busy (another application or tab holds it) or a hardware/driver error.",
        fix="Close the other application using the camera/microphone, or pick another device.",
        reference="W3C Media Capture and Streams §10 (NotReadableError)",
    ),
    CatalogueEntry(
        id="ANALYZE-GUM-OVERCONSTRAINED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{request}: constraints cannot be met (OverconstrainedError)",
        symptom="{request} for {constraints} failed at {when}: OverconstrainedError \"{message}\".",
        cause="No device satisfies a required (exact/min/max) constraint, e.g. a deviceId that no longer "
              "exists or a resolution the camera does not have.",
        fix="Use ideal instead of exact constraints, or retry without the constraint the error names.",
        reference="W3C Media Capture and Streams §10 (OverconstrainedError)",
    ),
    CatalogueEntry(
        id="ANALYZE-GUM-FAILED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="{request} failed ({error})",
        symptom="{request} for {constraints} failed at {when}: {error} \"{message}\".",
        cause="The browser could not give the page the media it asked for.",
        fix="Read the error name and message; retry with simpler constraints.",
        reference="W3C Media Capture and Streams §10",
    ),
    # ---- issue 11, second slice: candidates that cannot cross networks, DTLS that never starts, H.264 ---
    CatalogueEntry(
        id="ANALYZE-PRIVATE-HOST-ONLY",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Only private host candidates: this call works on the same network only",
        symptom="{pc} has only host candidates with non-public addresses on both sides ({addresses}) and no "
                "server-reflexive or relay candidate; ICE servers: {servers}.",
        cause="Without a STUN server no public (server-reflexive) address is learnt and without TURN there "
              "is no relay: peers behind different NATs or on different networks have no pair that can work.",
        fix="Configure a STUN server and a TURN server (both sides) in iceServers; check with "
            "`rtcdiag check` that they give srflx and relay candidates.",
        reference="RFC 8445 §5.1.1 (gathering), §2.1; RFC 8656 §1",
    ),
    CatalogueEntry(
        id="ANALYZE-TCP-ONLY",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Only TCP candidates: UDP is blocked or disabled",
        symptom="Every local candidate of {pc} is TCP ({candidates}); no UDP candidate and no relay; the "
                "other side offered {remote}.",
        cause="UDP is blocked on this network (or disabled by policy), so ICE can only pair TCP candidates "
              "(RFC 6544), which needs the other side to offer a TCP candidate it can accept connections on.",
        fix="Allow UDP where you can; otherwise configure a TURN server reachable over TCP/TLS "
            "(turn:...?transport=tcp, turns:...:443) so that a relay candidate exists.",
        reference="RFC 6544 (ICE-TCP); RFC 8656 §3.1",
    ),
    CatalogueEntry(
        id="ANALYZE-IPV6-ONLY",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        title="Only IPv6 candidates{common}",
        symptom="Every local candidate of {pc} is IPv6 ({candidates}) and there is no relay candidate; the "
                "other side offered {remote}.",
        cause="This side is on an IPv6-only network (or IPv4 is disabled) and has no TURN relay: a peer that "
              "has only IPv4 candidates has no candidate pair with it.",
        fix="Configure a TURN server reachable over IPv6 that relays to IPv4 (coturn with `relay-ip` of both "
            "families); or give the IPv6-only network NAT64/464XLAT with a STUN server.",
        reference="RFC 8445 §6.1.2.2 (pairs of the same address family); RFC 6156",
    ),
    CatalogueEntry(
        id="ANALYZE-DTLS-STUCK",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="ICE connected but DTLS never completed",
        symptom="In {pc} ICE connected at {ice_when} but transport {stats_id} was still dtlsState \"{dtls}\" "
                "{seconds} s later (this side's DTLS role: {role}).",
        cause="Nobody started the DTLS handshake or its packets are lost: both sides ended up DTLS server "
              "(a=setup munged: the answer says active to one side and the offer active to the other), or a "
              "middlebox drops the DTLS records while letting STUN through.",
        fix="Send the SDP unchanged (the offer must say a=setup:actpass, the answer active or passive, and "
            "each side must see the other's real choice); check that nothing between the peers filters "
            "non-STUN UDP on the selected pair.",
        reference="RFC 8842 §5 (a=setup), RFC 5763 §5; RFC 6347 §4.2.4",
    ),
    CatalogueEntry(
        id="ANALYZE-H264-MISMATCH",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="H.264 payload type {pt} differs between offer and answer ({what})",
        symptom="In {pc} the offer's H.264 payload type {pt} has \"{offered}\" but the answer {applied} "
                "gives it \"{answered}\".",
        cause="An answer must keep the offered packetization-mode and profile (profile_idc and "
              "profile-iop) of an H.264 payload type; a munged or hand-built SDP that changes them makes the "
              "sender produce a stream the receiver does not decode (black video, or no video at all).",
        fix="Answer with the offered H.264 payload type's packetization-mode and profile unchanged (only the "
            "level may differ, with level-asymmetry-allowed=1), or answer with another payload type that "
            "matches; do not munge a=fmtp lines.",
        reference="RFC 6184 §8.2.2 (offer/answer of profile-level-id and packetization-mode)",
    ),
    CatalogueEntry(
        id="ANALYZE-DATACHANNEL-REJECTED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The answer rejected the data channel section: data channels can never open",
        symptom="{pc} created data channel(s) {labels} but the answer {applied} has port 0 for "
                "m=application (mid {mid}); the channels close without ever opening.",
        cause="The other side refused SCTP over DTLS: it has no data channel support, or a signalling server "
              "or SBC rewrote the answer (port 0, or the m=application section dropped from BUNDLE).",
        fix="Answer m=application with a non-zero port and keep it in the BUNDLE group; use an endpoint that "
            "supports data channels (RFC 8841), and send the SDP unchanged.",
        reference="RFC 8841 §5 (SDP offer/answer for SCTP over DTLS); RFC 8829 §5.3.1",
    ),
)
