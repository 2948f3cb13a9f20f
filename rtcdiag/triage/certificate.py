"""Certificate rules every check that meets a TLS certificate shares (``ports``, ``turn``): one rule, one
threshold, the same finding whichever check saw the certificate."""

from __future__ import annotations

from typing import Any

from rtcdiag.probes.tls_info import CertInfo
from rtcdiag.redact import echo

EXPIRY_WARNING_DAYS = 14  # issue 5: warn when a certificate expires in under 14 days


def expiring_soon(leaf: CertInfo | None) -> dict[str, Any] | None:
    """The parameters of TLS-EXPIRING-SOON when ``leaf`` is still valid but expires in under
    :data:`EXPIRY_WARNING_DAYS` days (RFC 5280 §4.1.2.5 notAfter), else None (expired is TLS-EXPIRED)."""
    days = leaf.days_to_expiry if leaf is not None else None
    if leaf is None or days is None or not 0 <= days < EXPIRY_WARNING_DAYS:
        return None
    return {"days": int(days), "not_after": leaf.not_after, "cert_subject": echo(leaf.subject or "-")}
