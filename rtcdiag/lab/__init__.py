"""A real-NAT lab: network namespaces client / router / public joined by veth pairs, with nftables on the
router emulating one NAT kind, optional ``tc netem`` loss, and a two-address coturn in the public namespace
for RFC 5780 discovery.

Used by ``tests/lab/``, ``benchmarks/bench_nat.py`` and ``rtcdiag lab up|down|status``. Needs root, ``ip``,
``nft`` (and ``tc`` for loss). Every address lives only inside the lab's own namespaces.

    with Lab.create(NatKind.SYMMETRIC) as lab:       # namespaces, rules, coturn
        lab.exec(["rtcdiag", "nat-type", "--server", lab.stun_uri])   # inside the client namespace
"""
