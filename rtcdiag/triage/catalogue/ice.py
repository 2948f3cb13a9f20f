"""Catalogue entries: ICE end to end (``rtcdiag ice``) and the expectations of ``rtcdiag check`` configs."""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        id="ICE-NO-RELAY",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="No relay candidate from {url}",
        symptom="An ICE agent configured with this TURN URL gathered no relay candidate ({reason}).",
        cause="The TURN allocation failed: wrong username or password (401/441), a server that does not "
              "answer on this transport or port, a TLS failure, or a quota/capacity refusal (486/508).",
        fix="Run `rtcdiag turn-check {url_sh}` with the same credentials for the exact TURN error and its "
            "fix; browsers behind strict NATs or firewalls cannot connect without a relay candidate.",
        reference="RFC 8445 §5.1.1.2 (relayed candidates), RFC 8656 §7",
    ),
    CatalogueEntry(
        id="ICE-RELAY-PRIVATE",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="Relay candidate has a {scope} address {address}",
        symptom="The TURN server hands out relayed address {address}, which peers on the internet cannot "
                "reach; calls through this relay fail for everyone outside that network.",
        cause="coturn is behind NAT (Docker, AWS, a home router) and does not know its public address.",
        fix="Set `external-ip=PUBLIC_IP/PRIVATE_IP` (or `relay-ip` to a public address) in turnserver.conf "
            "and forward the relay port range (min-port..max-port, UDP) to the server.",
        reference="RFC 8656 §6.2; coturn README `external-ip`",
    ),
    CatalogueEntry(
        id="ICE-RELAY-INTERNAL-NOTED",
        severity=Severity.INFO,
        layer=Layer.CONSEQUENCE,
        title="Relay candidates are {scope}, as expected for a server reached at {server}",
        symptom="The relayed address is not reachable from the internet.",
        cause="The TURN server itself was reached on a loopback or private address (a lab, a LAN, a test), "
              "so an internal relay address is expected.",
        fix="Nothing to do for a LAN or lab server; a server meant for the internet needs `external-ip`.",
        reference="RFC 8656 §6.2",
    ),
    CatalogueEntry(
        id="ICE-FAILED",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="ICE failed through {url}",
        symptom="Two ICE agents had candidates but their connectivity checks never succeeded ({reason}).",
        cause="Packets between the relayed addresses are dropped: coturn refuses the peer address "
              "(denied-peer-ip, no allow-loopback-peers for a loopback lab), a firewall blocks the relay "
              "port range, or the relay address handed out is not the one the server really uses.",
        fix="Open the relay port range (min-port..max-port, UDP) on the server and its firewall, check "
            "`denied-peer-ip`/`allowed-peer-ip`, and run `rtcdiag turn-check` for the data-path test.",
        reference="RFC 8445 §7.2.5 (connectivity checks), §8 (concluding ICE)",
    ),
    CatalogueEntry(
        id="ICE-NO-DATA",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="ICE connected through {url} but data did not flow",
        symptom="The agents nominated a pair but only {received}/{sent} echo packets came back.",
        cause="The relay accepts checks but drops or rate-limits application data (bandwidth quota "
              "`max-bps`, a middlebox, an overloaded server).",
        fix="Check coturn's `max-bps`/`bps-capacity`, the server load, and packet loss on the relay path.",
        reference="RFC 8445 §12 (media after ICE)",
    ),
    CatalogueEntry(
        id="ICE-NO-SRFLX",
        severity=Severity.WARNING,
        layer=Layer.CONSEQUENCE,
        title="No server-reflexive candidate from {url}",
        symptom="An ICE agent asked this STUN server for its public address and got none ({reason}).",
        cause="UDP to the STUN server is blocked, the server is down, or this machine has no non-loopback "
              "interface (aioice makes no host candidate for 127.0.0.1, so it has nothing to ask from).",
        fix="Check `rtcdiag stun {url_sh}`; if UDP is blocked on this network, calls need TURN over TCP/TLS.",
        reference="RFC 8445 §5.1.1.1 (server-reflexive candidates)",
    ),
    CatalogueEntry(
        id="ICE-ERROR",
        severity=Severity.ERROR,
        layer=Layer.SERVICE,
        title="The ICE probe could not run against {url}",
        symptom="{reason}",
        cause="A local socket or address error before any ICE exchange (bad host name, no route, "
              "address family not available).",
        fix="Check the URL's host and port and that this machine has a route to it.",
        reference="",
    ),
    # --- expectations from an rtcdiag.toml (``rtcdiag check``) ---
    CatalogueEntry(
        id="EXPECT-RELAY",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="Expected every relay through {server} to carry data: {failed} of {total} did not",
        symptom="The config says `expect_relay = true` but {reason}.",
        cause="The TURN server did not allocate, or data did not flow through the relay.",
        fix="See the TURN and ICE findings for this server; `rtcdiag turn-check` gives the exact error.",
        reference="rtcdiag.toml `expect_relay`",
    ),
    CatalogueEntry(
        id="EXPECT-RTT",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="Round-trip time {rtt_ms} ms to {server} exceeds max_rtt_ms = {limit_ms}",
        symptom="The measured {what} round-trip time is above the limit in the config.",
        cause="The server is far away or overloaded, or the path is congested.",
        fix="Use a TURN/STUN server closer to users (geo-DNS, several regions) or relax `max_rtt_ms`.",
        reference="rtcdiag.toml `max_rtt_ms`",
    ),
    CatalogueEntry(
        id="EXPECT-NAT",
        severity=Severity.ERROR,
        layer=Layer.CONSEQUENCE,
        title="NAT is {found}, worse than min_nat = {wanted}",
        symptom="The NAT in front of this machine behaves as {found}; the config requires at least {wanted}.",
        cause="A stricter NAT or firewall than planned (symmetric NAT, CGNAT, UDP filtering).",
        fix="Fix the network (router NAT settings, firewall) or make sure a TURN relay is always offered.",
        reference="rtcdiag.toml `min_nat`; RFC 4787, RFC 3489 §5 labels",
    ),
    CatalogueEntry(
        id="EXPECT-UNCHECKED",
        severity=Severity.WARNING,
        layer=Layer.CONSEQUENCE,
        title="Expectation {name} could not be checked",
        symptom="The config sets `{name}` but {reason}.",
        cause="The check that measures it was not run or did not produce a value.",
        fix="Enable the check in `checks = [...]` or remove the expectation.",
        reference="rtcdiag.toml",
    ),
)
