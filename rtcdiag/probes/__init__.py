"""Probes: one module per probe. Each is an async function returning a result dataclass that records
every step; a probe never decides what is good or bad for the user (that is triage's job)."""
