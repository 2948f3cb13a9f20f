"""Static audits of server and application configuration: coturn ``turnserver.conf`` parsing, coturn
versions and the published coturn advisories. Pure data and parsing; the rules live in ``rtcdiag.triage``."""
