"""Offline evidence: files a browser or an app saved (webrtc-internals dumps, SDP), parsed into typed values.

Everything here is a pure parser of attacker-controlled input: sizes and counts are bounded, nothing is
trusted, and a file that is not evidence raises :class:`~rtcdiag.evidence.sniff.EvidenceError` (exit 2).
"""
