"""The Prometheus exporter: ``rtcdiag exporter`` runs a module's checks against a target per scrape.

- :mod:`rtcdiag.exporter.modules`: the ``[modules.NAME]`` tables of ``rtcdiag.toml`` and the check config one
  probe runs (target validated, REST credentials minted per probe).
- :mod:`rtcdiag.exporter.metrics`: the typed run (report, judgement, results) -> metric families.
- :mod:`rtcdiag.exporter.server`: the HTTP endpoint (asyncio streams, bounded concurrency, scrape timeout).

``prometheus_client`` (the ``exporter`` extra) is imported only by the metrics and server modules.
"""
