"""Catalogue entries: relay capacity — ``rtcdiag budget`` (a turnserver.conf against a computed budget) and
``rtcdiag load`` (a TURN server under measured load).

Placeholders: ``{file}`` the turnserver.conf, ``{detail}`` one line of specifics, ``{fix}`` the config
line(s) to write, ``{server}``/``{transport}`` the TURN server under load, ``{count}`` allocations held,
``{code}``/``{reason}`` a refusal.
"""

from rtcdiag.triage.entry import CatalogueEntry, Layer, Severity

_E = Severity.ERROR
_W = Severity.WARNING
_I = Severity.INFO

_PORTS_REF = "RFC 8656 §7.2 (508 Insufficient Capacity); coturn src/apps/relay/turn_ports.c"
_QUOTA_REF = "RFC 8656 §7.2 (486 Allocation Quota Reached); coturn userdb.c check_new_allocation_quota"
_BPS_REF = "coturn src/apps/relay/netengine.c allocate_bps, mainrelay.c (--bps-capacity, --max-bps)"

ENTRIES: tuple[CatalogueEntry, ...] = (
    # --- rtcdiag budget: the deployment cannot hold the budget -------------------------------------------
    CatalogueEntry(
        "BUDGET-PORTS-SHORT", _E, "Relay port range too small for the budget",
        "{file}: {detail}.",
        "Every allocation takes one port of its relay address's range; when the range is used up coturn "
        "answers Allocate with 508 Insufficient Capacity and those calls get no relay at all.",
        "Widen the range to {fix} (and open it in the firewall), or add relay addresses (`relay-ip=`) or "
        "servers.",
        _PORTS_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-TOTAL-QUOTA-SHORT", _E, "total-quota below the allocations the budget needs",
        "{file}: {detail}.",
        "`total-quota` caps the allocations of the whole server at once; the next Allocate gets 486 "
        "Allocation Quota Reached and that call has no relay.",
        "Raise it: {fix} (or more, for headroom).",
        _QUOTA_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-USER-QUOTA-SHORT", _E, "user-quota below the allocations one user name holds",
        "{file}: {detail}.",
        "`user-quota` caps the allocations of one user name at once (coturn counts the name after a REST "
        "timestamp); a participant, or every client sharing one static user name, past it gets 486.",
        "Raise it: {fix}, or give each participant its own TURN user name (REST credentials).",
        _QUOTA_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-QUOTA-UNLIMITED", _W, "A quota of 0 means unlimited in coturn",
        "{file}: {detail}.",
        "coturn reads `total-quota=0` and `user-quota=0` as no limit, not as none allowed: one leaked "
        "credential can hold every relay port, and the port range (508) or the machine's descriptors "
        "become the only limit.",
        "Set the limit the budget needs: {fix}.",
        _QUOTA_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-BPS-WITHOUT-MAX", _E, "bps-capacity without max-bps: coturn does not start",
        "{file}: {detail}.",
        "coturn stops at start with \"CONFIG ERROR: If you set the --bps-capacity option, then you must set "
        "--max-bps options, too\": each allocation reserves max-bps out of bps-capacity.",
        "Add {fix}, or remove `bps-capacity`.",
        _BPS_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-BPS-CAPACITY-SHORT", _E, "bps-capacity admits fewer allocations than the budget needs",
        "{file}: {detail}.",
        "`bps-capacity` is reserved, not measured: every new allocation reserves `max-bps` bytes per "
        "second (a browser asks no BANDWIDTH), and once nothing is left coturn refuses new allocations "
        "with 486 Allocation Bandwidth Quota Reached, however little traffic really flows.",
        "Raise it to {fix}, or lower `max-bps` (never below one leg's need).",
        _BPS_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-MAX-BPS-LOW", _E, "max-bps below what one relayed leg sends",
        "{file}: {detail}.",
        "`max-bps` is bytes (not bits) per second, per session and direction; coturn drops whatever exceeds "
        "it within each second, so the relayed call loses media (video first: key frames are bursts).",
        "Raise it to at least {fix} (more for key-frame bursts).",
        "coturn ns_ioalib_engine_impl.c ioa_socket_check_bandwidth; README.turnserver (--max-bps)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-FD-SHORT", _E, "File-descriptor limit below what the relays need",
        "{file}: {detail}.",
        "coturn holds two descriptors per allocation (the client's socket and the relay socket; RFC 6062 "
        "adds two per TCP peer connection) and raises its soft limit to the hard limit at start; past it "
        "new sockets fail (EMFILE) and so do allocations.",
        "Raise the hard limit of the coturn service to at least {fix} (systemd: `LimitNOFILE=` in the "
        "unit; otherwise limits.conf `nofile`).",
        "coturn src/apps/common/apputils.c set_system_parameters; POSIX getrlimit RLIMIT_NOFILE",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-LIFETIME", _I, "Allocations outlive their lifetime only by refreshing",
        "{file}: {detail}.",
        "An allocation expires unless the client refreshes it before its lifetime ends (browsers do); "
        "each refresh, permission and channel keep-alive is an authenticated request the server answers.",
        "Nothing to do for browsers; {fix}.",
        "RFC 8656 §3.2, §8, §9, §12",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "BUDGET-RATIO-ASSUMED", _I, "Relay ratio assumed, not measured",
        "{detail}.",
        "Without a measured relay ratio every leg is assumed relayed (the worst case, e.g. "
        "iceTransportPolicy relay); typical deployments relay a much smaller share of calls.",
        "Measure it: `--from-summary DIR` on a folder of webrtc-internals dumps, or give `--relay-ratio`.",
        "rtcdiag analyze --summary (selected candidate pair relayed / connected)",
        layer=Layer.SERVICE),
    # --- rtcdiag load: the server under measured load -------------------------------------------------------
    CatalogueEntry(
        "LOAD-HELD", _I, "The server held the load asked for",
        "{server} over {transport}: {detail}.",
        "Every step of the ramp stayed under the loss and RTT thresholds and every allocation succeeded.",
        "Nothing to do; ramp further (`--streams`, `--rate`) to find the knee.",
        "RFC 8656 §12 (ChannelData)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-QUOTA", _E, "Allocation quota reached under load (486)",
        "{server} over {transport}: Allocate got {code} {reason} with {count} allocation(s) held; {detail}.",
        "The server's allocation quota (coturn `total-quota`, or `user-quota` for one user name: every "
        "stream of this run used the same name unless a REST secret was given) refused the next one.",
        "If real clients need more, raise `total-quota`/`user-quota` (see `rtcdiag budget --conf`).",
        _QUOTA_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-BANDWIDTH-QUOTA", _E, "Bandwidth capacity reserved under load (486)",
        "{server} over {transport}: Allocate got {code} {reason} with {count} allocation(s) held; {detail}.",
        "coturn's `bps-capacity` is used up by reservations: each allocation reserved `max-bps`, whatever "
        "it really sends.",
        "Raise `bps-capacity` (allocations x `max-bps`) or lower `max-bps` (see `rtcdiag budget --conf`).",
        _BPS_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-NO-PORTS", _E, "Relay capacity exhausted under load (508)",
        "{server} over {transport}: Allocate got {code} {reason} with {count} allocation(s) held; {detail}.",
        "The server could not make another relayed transport address: its relay port range "
        "(`min-port`..`max-port`) is used up, or it cannot open more sockets.",
        "Widen `min-port`..`max-port` (open it in the firewall), add `relay-ip` addresses or servers.",
        _PORTS_REF,
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-ALLOCATE-REFUSED", _E, "Allocate refused during the load run",
        "{server} over {transport}: Allocate got {code} {reason} with {count} allocation(s) held; {detail}.",
        "The server refused an allocation for a reason that is not a capacity limit (credentials, "
        "realm, a redirect, a policy).",
        "Run `rtcdiag turn-check` against the same server and credentials to see why.",
        "RFC 8656 §7.2; RFC 8489 §9.2",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-ALLOCATE-TIMEOUT", _E, "Allocations went unanswered under load",
        "{server} over {transport}: {detail}.",
        "The server stopped answering Allocate requests (or answered too late) while it carried the "
        "previous step: it is overloaded, or drops requests past a rate limit.",
        "Check the server's CPU and its logs at that moment; spread load over more servers.",
        "RFC 8489 §6.2 (transaction timeouts)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-LOSS", _E, "Packet loss through the relay under load",
        "{server} over {transport}: {detail}.",
        "Echoes did not come back beyond the loss threshold, and not because of this machine (its own "
        "drops are counted apart): the server dropped them (CPU saturated, a per-allocation `max-bps` "
        "cap, full socket buffers) or the path to it did.",
        "Check the server's CPU and `max-bps`; give it more cores or spread the load over more servers.",
        "RFC 8656 §12 (ChannelData through the relay)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-RTT", _E, "Round-trip time through the relay too high under load",
        "{server} over {transport}: {detail}.",
        "The 95th percentile of the round trip through the relay (measured from kernel timestamps, the "
        "echo peer's own delay taken out) went over the threshold: packets queue in the server.",
        "Check the server's CPU and queues at that load; spread the load over more servers.",
        "RFC 8656 §12; RFC 6349 §3 (RTT under load)",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-TOOL-LIMIT", _W, "This machine, not the server, limited the load run",
        "{detail}.",
        "rtcdiag could not send at the planned rate or dropped packets itself (full socket buffers, "
        "its CPU saturated): beyond this point the numbers would measure this machine. Inconclusive: the "
        "server's limit is above what was measured.",
        "Run with fewer streams or a lower rate per run, from a faster machine, or from several machines.",
        "Linux socket(7) SO_RXQ_OVFL; measure the network, not the tool",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-STOPPED", _W, "The load run stopped before its last step",
        "{detail}.",
        "The run's time or size bound ended it before the ramp reached its last step: the server's limit "
        "was not found. Inconclusive.",
        "Give a larger `--max-duration`, shorter `--step-seconds` or fewer steps.",
        "rtcdiag load: bounded in time and count by design",
        layer=Layer.SERVICE),
    CatalogueEntry(
        "LOAD-NOT-RELEASED", _W, "Allocations not released after the load run",
        "{server} over {transport}: {detail}.",
        "The Refresh with LIFETIME=0 got no success answer for some allocations: the server keeps them "
        "(and their relay ports and quota) until their lifetime ends.",
        "They expire by themselves within their lifetime (600 s by default); restart the server to free "
        "them at once.",
        "RFC 8656 §8 (Refresh with LIFETIME 0 deletes the allocation)",
        layer=Layer.SERVICE),
)
