"""One timeout, its derivations in one place.

The user gives one number (``--timeout S`` or an ``rtcdiag.toml``'s ``timeout``): how long one network
transaction may take (a STUN/TURN request and its retransmissions, a connect, a DNS question). What each
probe waits for is derived from it here, never next to the probe. The whole run's limit (``--deadline``) is
:mod:`rtcdiag.interrupt`'s: it cuts a run short wherever it is, and is not a per-transaction timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_S = 5.0  # --timeout and the config's timeout when not given
MIN_S = 0.05  # the smallest timeout the config accepts (and the exporter gives a transaction)
REACH_MAX_S = 1.0  # the DNS check's reachability test of each published address waits at most this
BROWSER_MIN_S = 5.0  # a browser gathers and connects through the page: never less than this
SCRAPE_SHARE = 4.0  # an exporter probe runs a few transactions in a row: each gets 1/4 of the scrape budget


@dataclass(frozen=True)
class Timeouts:
    """The transaction timeout of one run and what each probe waits for, in seconds."""

    transaction_s: float = DEFAULT_S

    @property
    def dns_question_s(self) -> float:
        return self.transaction_s

    @property
    def reach_s(self) -> float:
        """A published address answering a Binding or a TCP connect (the DNS check)."""
        return min(self.transaction_s, REACH_MAX_S)

    @property
    def ice_gather_s(self) -> float:
        return self.transaction_s

    @property
    def ice_connect_s(self) -> float:
        return self.transaction_s

    @property
    def browser_s(self) -> float:
        """A headless browser's whole gathering and call (``check --browser``)."""
        return max(self.transaction_s, BROWSER_MIN_S)

    @classmethod
    def within_scrape(cls, configured_s: float, budget_s: float) -> Timeouts:
        """An exporter probe: the module's timeout, but at most a share of the scrape budget so that its
        transactions in a row (Allocate, permission, data, refresh) fit inside it."""
        return cls(max(MIN_S, min(configured_s, budget_s / SCRAPE_SHARE)))
