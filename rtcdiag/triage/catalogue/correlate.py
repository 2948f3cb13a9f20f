"""Catalogue entries: ``rtcdiag analyze`` over several evidence files of one call (a webrtc-internals or
rtcstats dump, a packet capture, a coturn log) put together: which files are one call, and the root causes
only the files together can state. Every symptom quotes each file's own evidence."""

from rtcdiag.triage.entry import AcrossFiles, CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="CORRELATE-SAME-CALL",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.ABOUT,
        title="{files} are one call",
        symptom="Matched by {how}.",
        cause="The files share what only one call has: ICE ufrags, relayed or candidate addresses, or the "
              "same refusal from the same server at the same moment.",
        fix="Nothing to fix: their findings are judged together, as one diagnosis.",
        reference="RFC 8445 §7.2.2 (USERNAME of the checks: the two ufrags); RFC 8656 §7.3",
    ),
    CatalogueEntry(
        id="CORRELATE-NOT-SAME-CALL",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.ABOUT,
        title="{first} and {second} are not from the same call",
        symptom="{why}.",
        cause="The files were taken from different calls, at different times or of another server (or the "
              "capture ran on an interface, or with a filter, that missed this call). Their findings are "
              "judged each on its own, never put together.",
        fix="Give the dump, the capture and the coturn log of one call: capture while the call runs, on the "
            "interface it uses, and take the log that covers its time (coturn's `new-log-timestamp` gives "
            "the log absolute times to match).",
        reference="RFC 8445 §7.2.2; RFC 8656 §7.3",
    ),
    CatalogueEntry(
        id="CORRELATE-UNDECIDED",
        severity=Severity.INFO,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.ABOUT,
        title="Cannot tell whether {first} and {second} are from the same call",
        symptom="{why}.",
        cause="They have nothing to compare: no ICE ufrag, no address and no refusal in common or in "
              "conflict, and no absolute times (a coturn log without `new-log-timestamp`).",
        fix="Judge them separately, or give a capture of the call (it ties a dump to a log) and a log "
            "written with `new-log-timestamp` and `verbose`.",
        reference="",
    ),
    CatalogueEntry(
        id="CORRELATE-TURNS-TLS-REFUSED",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.FOLDS,
        title="The browser refused the TLS handshake with TURN server {url}{certificate}",
        symptom="The browser reported 701 for {url} ({errors}), yet {answered}{logged}: nothing was "
                "unreachable, the browser ended the handshake{alert}.",
        cause="The browser does not accept the server's TLS: almost always its certificate (self-signed or "
              "signed by a private CA, an incomplete chain without the intermediate, a name that is not "
              "{host}, or expired: the client's alert certificate_unknown, bad_certificate or unknown_ca "
              "says so); less often a TLS version or cipher the browser refuses.",
        fix="Give coturn a certificate a browser trusts for the name in the URL, with its full chain "
            "(`cert=` with the intermediates, `pkey=`), and check it with `rtcdiag turn-check {url_sh}` "
            "(certificate verification on).",
        reference="RFC 8656 §3.1 (TURN over TLS); RFC 8446 §6.2 (alerts); RFC 5280 §6",
    ),
    CatalogueEntry(
        id="CORRELATE-TURN-UNREACHABLE",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.FOLDS,
        title="TURN server {url} could not be reached",
        symptom="The browser reported 701 for {url} ({errors}), and the capture shows it: {silence}.",
        cause="No TURN server answered at {server} over {transport}: the server is down or not listening "
              "there, a firewall drops (or rejects) the traffic, or the URL's port or `?transport=` is "
              "wrong.",
        fix="Check that the server listens on {server} over {transport} (`rtcdiag ports {url_sh}`) and that "
            "no firewall between the browser and it drops the packets; offer `turns:` on TCP 443 for "
            "networks that block UDP.",
        reference="RFC 8656 §7.2; W3C webrtc-pc RTCPeerConnectionIceErrorEvent (701)",
    ),
    CatalogueEntry(
        id="CORRELATE-TURN-CREDENTIALS",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.FOLDS,
        title="TURN server {url} refused the credentials of user {user}{reason}",
        symptom="{seen}.",
        cause="The server does not accept these credentials: the user is not in its database (coturn logs "
              "`Cannot find credentials of user`), its password differs (`credentials are incorrect`), the "
              "realm the browser hashed with is not the server's, or a TURN REST credential expired or was "
              "made with another static-auth-secret. {which}",
        fix="Give the page credentials the server accepts: for lt-cred-mech a `user=` line (or a user in "
            "the database) for {user} with this password in this realm; for TURN REST, mint them with the "
            "server's current `static-auth-secret` and a TTL longer than the call. Check with "
            "`rtcdiag turn-check {url_sh}` and the same credentials.",
        reference="RFC 8656 §7.2; RFC 8489 §9.2.4 (401 to an authenticated request)",
    ),
    CatalogueEntry(
        id="CORRELATE-REFUTED",
        severity=Severity.WARNING,
        layer=Layer.SERVICE,
        across_files=AcrossFiles.FOLDS,
        title="The dump is contradicted: {url} did give this call a relay",
        symptom="The dump says {url} gave no relay candidate and no error, but {shown} ({relays}: among the "
                "dump's own relay candidates).",
        cause="The dump's own rule could not tie the relay candidate to this server's URL (the browser "
              "reports the URL spelt another way, or an older dump names no URL for its candidates); the "
              "server allocated the relay the dump lists.",
        fix="Nothing to fix on the server for this. If the dump comes from a current browser, send it "
            "(anonymised: `rtcdiag analyze --redact OUT`) to the rtcdiag maintainers.",
        reference="RFC 8656 §7.3 (XOR-RELAYED-ADDRESS)",
    ),
)
