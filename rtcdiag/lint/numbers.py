"""What coturn makes of the numbers in a turnserver.conf, zero above all.

coturn reads these options with ``atoi``/``strtoul`` (src/apps/relay/mainrelay.c: ``case 'q'`` user-quota,
``case 'Q'`` total-quota, ``case 's'`` max-bps, ``case 'B'`` bps-capacity) or ``get_int_value`` (stale-nonce,
max-allocate-lifetime, channel-lifetime, permission-lifetime: an empty value takes the default, anything
else ``atoi``). A 0 is not one thing: for the quotas and bandwidth caps it is *no limit*, for stale-nonce
*never stale*, and for the lifetimes something else again. Read in coturn's own source (4.6.1 and 4.17.1,
github.com/coturn/coturn) and its example turnserver.conf:

- ``user-quota``/``total-quota`` 0: no quota (src/apps/relay/userdb.c ``inc_quota``:
  ``if (total_quota && ...)``, ``if ((user_quota) && ...)``; turnserver.conf: "default value is 0 (no quota,
  unlimited number of sessions per user)"). A negative total-quota is below every count: every Allocate 486.
- ``max-bps`` 0: no per-session limit (src/server/ns_turn_server.c ``handle_turn_allocate``:
  ``if (max_bps && ...)``; src/apps/relay/ns_ioalib_engine_impl.c ``ioa_socket_check_bandwidth``:
  ``if (max_bps < 1) return 1``).
- ``bps-capacity`` 0: no server cap (src/apps/relay/netengine.c ``allocate_bps``: ``if (!cap)``); a cap
  without ``max-bps`` stops the server ("CONFIG ERROR: If you set the --bps-capacity option, then you must
  set --max-bps options, too.").
- ``stale-nonce`` 0: a nonce never goes stale (turnserver.conf: "Set it to 0 for unlimited lifetime";
  ns_turn_server.c: ``if (*(server->stale_nonce))``).
- ``max-allocate-lifetime`` 0: every lifetime asked for is above the maximum, so it becomes 0
  (src/client/ns_turn_msg.c ``stun_adjust_allocate_lifetime``); an Allocate then gets the default 600 s
  (``create_relay_connection``: ``if (lifetime < 1)``), and every Refresh sets 1 s
  (``refresh_relay_connection``): allocations end a second after their first Refresh.
- ``channel-lifetime``/``permission-lifetime`` 0: before 4.13.0 a timer of 0 s is never set
  (``set_ioa_timer``: ``secs > 0``), so channels and permissions never expire; from 4.13.0 (PR #1926, a
  per-thread sweep) they expire at the next sweep, within a second: the relay drops the peer's packets.
- ``min-port``/``max-port`` 0: literally port 0 (src/apps/relay/turn_ports.c), not the default range.
"""

from __future__ import annotations

import re

_LEADING_INT = re.compile(r"^[ \t\n\v\f\r]*([+-]?[0-9]+)")

QUOTA_OPTIONS = ("user-quota", "total-quota", "max-bps", "bps-capacity")  # 0: no limit
LIFETIME_DEFAULTS = {"stale-nonce": 600, "max-allocate-lifetime": 3600, "channel-lifetime": 600,
                     "permission-lifetime": 300}  # coturn's defaults for an empty value (get_int_value)


def atoi(text: str | None) -> int | None:
    """C ``atoi`` as coturn applies it: leading blanks, a sign, digits, the rest ignored; no digits is 0.
    None for an option given without a value (``get_int_value`` then takes the default)."""
    if text is None or text == "":
        return None
    match = _LEADING_INT.match(text)
    return int(match.group(1)) if match else 0


def limits(value: int | None) -> bool:
    """Does a quota or bandwidth option with this value limit anything? (0, unset: no.)"""
    return value is not None and value > 0
