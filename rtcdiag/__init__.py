"""rtcdiag: diagnose WebRTC connectivity (STUN, TURN, NAT type, ports, DNS, ICE).

The package is a library first: ``from rtcdiag.probes import binding`` works without the CLI.
Keep this module free of imports so that ``rtcdiag --version`` starts fast.
"""

__version__ = "0.1.0"
