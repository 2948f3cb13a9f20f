"""The ground-truth matrix of ``rtcdiag analyze`` (issue 19): real Chromium calls through a real coturn, each
cell one call, every evidence form of that call saved next to what really happened.

    sudo .venv/bin/python tests/browser/matrix.py [CELL...]     # writes tests/fixtures/matrix/<cell>/
    .venv/bin/python tests/browser/make_fixtures.py --matrix [CELL...]   # the same

Each cell runs in a network namespace of its own (made and removed here; root needed): a veth pair with
10.19.0.2 (and fd19::2 for the dual-stack cells) as the machine's address, coturn on 203.0.113.1 and
2001:db8::1 (documentation addresses held by the namespace's loopback interface, so the browser reaches them
as a routed server, never gathers them as its own, and Chromium's rule against a loopback TURN server from a
non-loopback network does not apply; fixed ports: 3478, TLS 5349, relays 49152-49199; 3999 is a port nothing
listens on), Debian's headless
Chromium (Playwright, ``executable_path`` = a wrapper that runs /usr/bin/chromium in the namespace) and
tcpdump on the namespace's loopback, which carries every packet of the call and nothing else. So the
addresses and ports of every committed file are the same from one regeneration to the next, and no other
test's traffic ends up in a capture.

A cell is written down before it runs: its iceServers (URL spelling, credentials), policy, payload (data
channel, audio+video from the fake devices, both), path, event (ICE restart, renegotiation, callee close, page
close) or fault, and ``expect``: HEALTHY or the one cause the failure has. Per cell the folder holds

    truth.json                 what the page saw (connectionState / iceConnectionState / gathering /
                               signalling transitions with times, icecandidateerror events, candidates,
                               data-channel messages sent and echoed, RTP packets sent and received, the
                               selected pair) and what coturn logged (errors per code, allocations), the
                               cell's definition and its expectation, Chromium's and coturn's versions
    webrtc-internals.json.gz   the two downloads of chrome://webrtc-internals
    rtcstats.gz
    getstats.json.gz           the caller's own pc.getStats() every second (the "snapshots" shape)
    capture.pcap.gz            tcpdump of the call (stopped when the page script returns)
    coturn.log.gz              coturn's verbose log of the call (cells with a TURN server)

No file holds the TURN password, the REST secret or a REST credential (checked here before saving, and by
tests/unit/test_matrix.py); the browser's own files (dumps, getStats, truth.json) hold no TURN username
either. Captures and coturn logs do hold the username: RFC 8489 sends USERNAME in clear and coturn logs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from rtcdiag.cli import main as rtcdiag_main
from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.probes.browser import BrowserOptions, BrowserRun, find_chromium, run_script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wire_capture import tcpdump

MATRIX = Path(__file__).resolve().parents[1] / "fixtures" / "matrix"
TURN_USER = "matrix-user"
TURN_PASSWORD = "matrix-Pa55-never-in-files"
WRONG_PASSWORD = "matrix-wr0ng-never-in-files"
UNKNOWN_USER = "matrix-nobody"
REST_SECRET = "matrix-rest-secret-never-in-files"
# Inside each cell's namespace: the machine's address(es), coturn's fixed ports, a port nothing listens on.
HOST_V4, HOST_V6 = "10.19.0.2", "fd19::2"
SERVER_V4, SERVER_V6 = "203.0.113.1", "2001:db8::1"
TURN_PORT, TURN_ALT_PORT, TLS_PORT, TLS_ALT_PORT, DEAD_PORT = 3478, 3479, 5349, 5350, 3999
RELAY_PORTS = (49152, 49199)
MAX_PACKETS = 20_000  # a capture stops there (a few seconds of low-rate media are ~2,000 packets)
FILES = {"dump": "webrtc-internals.json.gz", "rtcstats": "rtcstats.gz", "getstats": "getstats.json.gz",
         "capture": "capture.pcap.gz", "coturn-log": "coturn.log.gz"}


class Cause(StrEnum):
    """What a cell's call really has: HEALTHY, or the one cause of its failure (written before the run)."""

    HEALTHY = "healthy"
    TURN_AUTH = "turn-auth"  # 401 to the authenticated Allocate: wrong password, unknown user, expired REST
    TURN_QUOTA = "turn-quota"  # 486 Allocation Quota Reached
    TURN_PEER_ACL = "turn-peer-acl"  # 403 to CreatePermission: denied-peer-ip covers the other side
    TURN_CAPACITY = "turn-capacity"  # 508 Insufficient Capacity: no relay port left
    TURN_UNREACHABLE = "turn-unreachable"  # nothing listens on the TURN port (UDP: ICMP, TCP: RST)
    TURN_TLS_REFUSED = "turn-tls-refused"  # turns: server answered, the browser refused its certificate
    DTLS_FINGERPRINT = "dtls-fingerprint"  # the answer's a=fingerprint changed on the way
    DTLS_BOTH_CLIENT = "dtls-both-client"  # a=setup munged: both sides active (role conflict)
    DTLS_BOTH_SERVER = "dtls-both-server"  # a=setup munged: both sides passive (nobody starts DTLS)
    SDP_GLARE = "sdp-glare"  # both sides offered at once
    SDP_ANSWER_TWICE = "sdp-answer-twice"  # the same answer applied twice (the call works: a warning)
    GUM_NOT_FOUND = "gum-not-found"
    GUM_NOT_ALLOWED = "gum-not-allowed"
    GUM_OVERCONSTRAINED = "gum-overconstrained"
    NO_RELAY_CONFIGURED = "no-relay-configured"  # relay-only policy, no ICE server at all
    CONNECTION_LOST = "connection-lost"  # the callee vanished mid-call (no ICE restart): consent lost


class Payload(StrEnum):
    DC = "dc"  # a data channel (the caller sends, the callee echoes)
    AV = "av"  # audio + video from the fake devices, both directions (video capped at 100 kbit/s)
    BOTH = "both"


class Server(StrEnum):
    """The coturn a cell runs (NONE: no TURN server at all)."""

    NONE = "none"
    LT = "lt-cred"  # long-term credentials: TURN_USER / TURN_PASSWORD
    REST = "rest"  # use-auth-secret (TURN REST API credentials)
    QUOTA = "quota"  # user-quota=1: the second allocation of the user gets 486
    ACL = "acl"  # denied-peer-ip over the relay addresses: CreatePermission gets 403
    CAPACITY = "capacity"  # one relay port: the second allocation gets 508
    TLS = "tls"  # self-signed certificate whose key Chromium trusts (--ignore-certificate-errors-spki-list)
    TLS_UNTRUSTED = "tls-untrusted"  # the same certificate, not trusted


class Cred(StrEnum):
    OK = "ok"
    WRONG_PASSWORD = "wrong-password"
    UNKNOWN_USER = "unknown-user"
    REST_OK = "rest-ok"
    REST_EXPIRED = "rest-expired"
    NONE = "none"  # a stun: entry


class Path_(StrEnum):
    """The path a healthy call's selected pair takes (what the caller's getStats must show)."""

    ANY = ""
    HOST = "host"
    RELAY_UDP = "relay-udp"
    RELAY_TCP = "relay-tcp"
    RELAY_TLS = "relay-tls"


@dataclass(frozen=True)
class Entry:
    """One RTCIceServer: its urls ({v4} 203.0.113.1, {v6} [2001:db8::1], {port} 3478, {tls} 5349, {dead}
    3999)."""

    urls: tuple[str, ...]
    cred: Cred = Cred.OK


@dataclass(frozen=True)
class Cell:
    name: str
    expect: Cause
    doc: str
    entries: tuple[Entry, ...] = ()  # both sides' iceServers
    policy: str = "all"
    entries_b: tuple[Entry, ...] | None = None  # the callee's own list when it differs
    policy_b: str | None = None
    payload: Payload = Payload.BOTH
    server: Server = Server.NONE
    dual_stack: bool = False
    event: str = ""  # ice-restart, renegotiate, callee-close, callee-close-stays, page-close, callee-vanish
    fault: str = ""  # fingerprint, both-client, both-server, glare, answer-twice, gum
    path: Path_ = Path_.ANY
    constraints: dict[str, Any] = field(default_factory=dict)  # getUserMedia constraints (fault "gum")
    fake_media: bool = True
    auto_accept: bool = True
    timing: dict[str, int] = field(default_factory=dict)  # page waits: connectMs, gatherMs, mediaMs, lostMs
    # Forms that cannot hold this call at all: Chromium 156's webrtc-internals drops a connection the page
    # closed, and every connection of a closed tab, from its dump (the rtcstats dump keeps them). Checked
    # against the file by tests/unit/test_matrix.py (no peer connection in it).
    blind: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"policy": self.policy, "policyB": self.policy_b or self.policy, "payload": self.payload.value,
                "event": self.event, "fault": self.fault, "constraints": self.constraints, **self.timing}


UDP_BARE = Entry(("turn:{v4}:{port}",))
UDP = Entry(("turn:{v4}:{port}?transport=udp",))
TCP = Entry(("turn:{v4}:{port}?transport=tcp",))
TLS = Entry(("turns:{v4}:{tls}?transport=tcp",))
STUN = Entry(("stun:{v4}:{port}",), Cred.NONE)
RELAY = "relay"

CELLS: tuple[Cell, ...] = (
    # ---- healthy: URL spellings x policy x payload x path x events -------------------------------------
    Cell("host-dc-mdns", Cause.HEALTHY, "no ICE servers, data channel only: mDNS host candidates",
         payload=Payload.DC, path=Path_.HOST),
    Cell("host-av", Cause.HEALTHY, "no ICE servers, audio+video: the machine's private host address",
         payload=Payload.AV, path=Path_.HOST),
    Cell("host-both-dual-stack", Cause.HEALTHY, "no ICE servers, both payloads, IPv4 and IPv6 host addresses",
         payload=Payload.BOTH, dual_stack=True, path=Path_.HOST),
    Cell("stun-only", Cause.HEALTHY, "stun: only, policy all: srflx equals the host address (no NAT)",
         (STUN,), payload=Payload.BOTH, server=Server.LT, path=Path_.HOST),
    Cell("relay-udp-bare-dc", Cause.HEALTHY, "turn:h:p (no ?transport, UDP to a browser), relay, data only",
         (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.LT, path=Path_.RELAY_UDP),
    Cell("relay-udp-bare-av", Cause.HEALTHY, "turn:h:p, relay, audio+video",
         (UDP_BARE,), RELAY, payload=Payload.AV, server=Server.LT, path=Path_.RELAY_UDP),
    Cell("relay-udp-explicit-both", Cause.HEALTHY, "turn:h:p?transport=udp, relay, both payloads",
         (UDP,), RELAY, server=Server.LT, path=Path_.RELAY_UDP),
    Cell("relay-tcp-both", Cause.HEALTHY, "turn:h:p?transport=tcp, relay, both payloads (TCP: a warning)",
         (TCP,), RELAY, server=Server.LT, path=Path_.RELAY_TCP),
    Cell("relay-tls-dc", Cause.HEALTHY, "turns:h:p?transport=tcp, a certificate the browser trusts, relay",
         (TLS,), RELAY, payload=Payload.DC, server=Server.TLS, path=Path_.RELAY_TLS),
    Cell("relay-multi-url", Cause.HEALTHY, "one entry with two urls (turn:h:p and ?transport=tcp), relay",
         (Entry(("turn:{v4}:{port}", "turn:{v4}:{port}?transport=tcp")),), RELAY, server=Server.LT,
         path=Path_.RELAY_UDP),
    Cell("stun-turn-mixed", Cause.HEALTHY, "a stun: entry and a turn: entry, policy all",
         (STUN, UDP_BARE), payload=Payload.BOTH, server=Server.LT, path=Path_.HOST),
    Cell("turn-policy-all-av", Cause.HEALTHY, "turn:h:p with policy all: relay gathered, host pair chosen",
         (UDP_BARE,), payload=Payload.AV, server=Server.LT, path=Path_.HOST),
    Cell("relay-rest", Cause.HEALTHY, "TURN REST credentials (use-auth-secret), valid for an hour, relay",
         (Entry(("turn:{v4}:{port}?transport=udp",), Cred.REST_OK),), RELAY, payload=Payload.DC,
         server=Server.REST, path=Path_.RELAY_UDP),
    Cell("relay-dual-stack", Cause.HEALTHY, "caller reaches coturn over IPv6 (turn:[v6]:p), callee over IPv4",
         (Entry(("turn:{v6}:{port}",)),), RELAY, entries_b=(UDP_BARE,), server=Server.LT, dual_stack=True,
         path=Path_.RELAY_UDP),
    Cell("relay-one-side", Cause.HEALTHY, "caller relay-only, callee policy all without servers",
         (UDP_BARE,), RELAY, entries_b=(), policy_b="all", server=Server.LT, path=Path_.RELAY_UDP),
    Cell("event-ice-restart", Cause.HEALTHY, "relay call, ICE restart mid-call (new ufrag), stays connected",
         (UDP_BARE,), RELAY, server=Server.LT, event="ice-restart", path=Path_.RELAY_UDP),
    Cell("event-renegotiate", Cause.HEALTHY, "host call with a data channel, audio+video added mid-call",
         payload=Payload.DC, event="renegotiate", path=Path_.HOST),
    Cell("event-callee-close", Cause.HEALTHY, "relay call; the callee hangs up, the caller 0.5 s later",
         (UDP_BARE,), RELAY, server=Server.LT, event="callee-close", path=Path_.RELAY_UDP, blind=("dump",)),
    # A hang-up the other side does not answer with its own close: the caller's checks go unanswered until
    # it fails. Still a hang-up (close() deletes the callee's TURN allocation and sends an encrypted
    # close_notify), never "consent lost".
    Cell("event-callee-close-stays", Cause.HEALTHY, "relay call; the callee hangs up, the caller keeps its "
         "connection open until it fails", (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.LT,
         event="callee-close-stays", path=Path_.RELAY_UDP),
    Cell("event-page-close", Cause.HEALTHY, "relay call; the page is closed mid-call, the dump made after",
         (UDP_BARE,), RELAY, payload=Payload.AV, server=Server.LT, event="page-close", path=Path_.RELAY_UDP,
         blind=("dump",)),
    # ---- failures: one cause each --------------------------------------------------------------------------
    Cell("auth-wrong-password", Cause.TURN_AUTH, "turn:h:p (bare), relay, wrong password",
         (Entry(("turn:{v4}:{port}",), Cred.WRONG_PASSWORD),), RELAY, payload=Payload.DC, server=Server.LT),
    Cell("auth-wrong-password-tcp", Cause.TURN_AUTH, "turn:h:p?transport=tcp, relay, wrong password",
         (Entry(("turn:{v4}:{port}?transport=tcp",), Cred.WRONG_PASSWORD),), RELAY, payload=Payload.DC,
         server=Server.LT),
    Cell("auth-unknown-user", Cause.TURN_AUTH, "turn:h:p?transport=udp, relay, a user coturn does not know",
         (Entry(("turn:{v4}:{port}?transport=udp",), Cred.UNKNOWN_USER),), RELAY, payload=Payload.DC,
         server=Server.LT),
    Cell("auth-rest-expired", Cause.TURN_AUTH, "TURN REST credential that expired an hour ago, relay",
         (Entry(("turn:{v4}:{port}",), Cred.REST_EXPIRED),), RELAY, payload=Payload.DC, server=Server.REST),
    Cell("quota-486", Cause.TURN_QUOTA, "user-quota=1: the second side's Allocate gets 486, relay",
         (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.QUOTA),
    Cell("peer-acl-403", Cause.TURN_PEER_ACL, "denied-peer-ip covers the relay addresses: 403, relay",
         (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.ACL),
    Cell("capacity-508", Cause.TURN_CAPACITY, "one relay port: the second Allocate gets 508, relay",
         (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.CAPACITY),
    # Chromium reports 701 for a dead UDP port only after ~40 s of retransmissions.
    Cell("dead-port-udp", Cause.TURN_UNREACHABLE, "turn:h:p (UDP) to a port nothing listens on, relay",
         (Entry(("turn:{v4}:{dead}",)),), RELAY, payload=Payload.DC, timing={"gatherMs": 60000}),
    Cell("dead-port-tcp", Cause.TURN_UNREACHABLE, "turn:h:p?transport=tcp to a closed port, relay",
         (Entry(("turn:{v4}:{dead}?transport=tcp",)),), RELAY, payload=Payload.DC),
    Cell("turns-self-signed", Cause.TURN_TLS_REFUSED, "turns: to coturn with a self-signed certificate",
         (TLS,), RELAY, payload=Payload.DC, server=Server.TLS_UNTRUSTED),
    Cell("dtls-fingerprint", Cause.DTLS_FINGERPRINT, "the answer's a=fingerprint changed on the way, relay",
         (UDP_BARE,), RELAY, server=Server.LT, fault="fingerprint"),
    Cell("dtls-fingerprint-hung-up", Cause.DTLS_FINGERPRINT, "the same failure, then both sides hang up "
         "before the dump is made", (UDP,), RELAY, server=Server.LT, fault="fingerprint",
         event="callee-close", blind=("dump",)),
    Cell("dtls-both-client", Cause.DTLS_BOTH_CLIENT, "a=setup munged: both sides active, relay",
         (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.LT, fault="both-client"),
    Cell("dtls-both-server", Cause.DTLS_BOTH_SERVER, "a=setup munged: both sides passive, host",
         payload=Payload.AV, fault="both-server", timing={"connectMs": 12000}),
    Cell("glare", Cause.SDP_GLARE, "both sides offer at once", payload=Payload.DC, fault="glare"),
    Cell("answer-twice", Cause.SDP_ANSWER_TWICE, "the same answer applied twice (the call works)",
         (UDP_BARE,), RELAY, payload=Payload.AV, server=Server.LT, fault="answer-twice"),
    Cell("gum-not-found", Cause.GUM_NOT_FOUND, "getUserMedia for a camera on a machine without one",
         fault="gum", constraints={"video": True}, fake_media=False),
    Cell("gum-not-allowed", Cause.GUM_NOT_ALLOWED, "getUserMedia, the permission prompt denied",
         fault="gum", constraints={"audio": True}, auto_accept=False),
    Cell("gum-overconstrained", Cause.GUM_OVERCONSTRAINED, "getUserMedia for a width no camera has",
         fault="gum", constraints={"video": {"width": {"exact": 12345}}}),
    Cell("no-servers-relay", Cause.NO_RELAY_CONFIGURED, "relay-only policy with an empty iceServers",
         (), RELAY, payload=Payload.DC),
    # RFC 7675: consent is lost 30 s after the last answer; the page waits for "failed". The callee is
    # silenced (its relayed address dropped by an nft rule in the cell's namespace), never closed: close()
    # sends a DTLS close_notify, a hang-up (event-callee-close), not a callee that vanished.
    Cell("callee-vanishes", Cause.CONNECTION_LOST, "relay call; the callee goes silent without a word (its "
         "relay path dropped mid-call, no close)", (UDP_BARE,), RELAY, payload=Payload.DC, server=Server.LT,
         event="callee-vanish"),
)
BY_NAME = {cell.name: cell for cell in CELLS}


def cell_dir(name: str, root: Path = MATRIX) -> Path:
    return root / name


# ---- the page ---------------------------------------------------------------------------------------------

# Two RTCPeerConnections in one page, `a` (caller) and `b` (callee), signalling to each other directly with
# trickle ICE. Everything the page sees is recorded as it happens; bounded waits only.
PAGE_SCRIPT = r"""
async (s) => {
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const truth = {errors: [], pcs: {}, events: []};
  const note = (what, e) => truth.errors.push(what + ': ' + (e && e.name) + ': ' + (e && e.message));
  const event = what => truth.events.push([now(), what]);
  if (s.fault === 'gum') {
    try {
      const m = await navigator.mediaDevices.getUserMedia(s.constraints);
      truth.gum = 'ok'; m.getTracks().forEach(t => t.stop());
    } catch (e) { truth.gum = e.name; note('getUserMedia', e); }
    await sleep(1500);  // the result reaches chrome://webrtc-internals asynchronously
    return truth;
  }
  const a = new RTCPeerConnection({iceServers: s.serversA, iceTransportPolicy: s.policy});
  const b = new RTCPeerConnection({iceServers: s.serversB, iceTransportPolicy: s.policyB});
  const watch = (pc, name) => {
    const t = {connection: [], ice: [], gathering: [], signaling: [], candidateErrors: [], candidates: []};
    truth.pcs[name] = t;
    pc.addEventListener('connectionstatechange', () => t.connection.push([now(), pc.connectionState]));
    pc.addEventListener('iceconnectionstatechange', () => t.ice.push([now(), pc.iceConnectionState]));
    pc.addEventListener('icegatheringstatechange', () => t.gathering.push([now(), pc.iceGatheringState]));
    pc.addEventListener('signalingstatechange', () => t.signaling.push([now(), pc.signalingState]));
    pc.addEventListener('icecandidateerror', e => t.candidateErrors.push(
      {ms: now(), url: e.url, code: e.errorCode, text: e.errorText, address: e.address, port: e.port}));
    pc.addEventListener('icecandidate', e => {
      const c = e.candidate;
      if (c && c.candidate) t.candidates.push({ms: now(), type: c.type, protocol: c.protocol,
        relayProtocol: c.relayProtocol || null, address: c.address, port: c.port, url: e.url || null});
    });
  };
  watch(a, 'a'); watch(b, 'b');
  const trickle = (to, name) => e => {
    if (e.candidate) to.addIceCandidate(e.candidate).catch(x => note(name + '.addIceCandidate', x));
  };
  a.onicecandidate = trickle(b, 'b'); b.onicecandidate = trickle(a, 'a');
  const media = {};
  const camera = async who => {
    media[who] = await navigator.mediaDevices.getUserMedia(
      {audio: true, video: {width: 160, height: 120, frameRate: 10}});
    return media[who];
  };
  const addMedia = async () => {  // the caller's tracks, video capped at 100 kbit/s (small captures)
    const m = await camera('a');
    m.getTracks().forEach(t => a.addTransceiver(t, {direction: 'sendrecv', streams: [m],
      sendEncodings: t.kind === 'video' ? [{maxBitrate: 100000}] : undefined}));
  };
  const answerMedia = async () => {  // the callee sends its own tracks back on the caller's transceivers
    const idle = b.getTransceivers().filter(t => !t.sender.track && t.receiver.track);
    if (!idle.length) return;
    const m = media.b || await camera('b');
    for (const t of idle) {
      const track = m.getTracks().find(x => x.kind === t.receiver.track.kind);
      if (!track) continue;
      t.direction = 'sendrecv';
      await t.sender.replaceTrack(track);
      t.sender.setStreams(m);
      if (track.kind === 'video') {
        const p = t.sender.getParameters();
        if (p.encodings && p.encodings.length) {
          p.encodings[0].maxBitrate = 100000;
          await t.sender.setParameters(p).catch(x => note('b.setParameters', x));
        }
      }
    }
  };
  const withMedia = s.payload === 'av' || s.payload === 'both';
  const withChannel = s.payload === 'dc' || s.payload === 'both';
  if (withMedia && s.event !== 'renegotiate') await addMedia();
  const dc = withChannel ? a.createDataChannel('rtcdiag') : null;
  const channel = {sent: 0, echoed: 0, opened: null};
  if (dc) {
    dc.onopen = () => { channel.opened = now(); };
    dc.onmessage = () => { channel.echoed++; };
  }
  b.ondatachannel = e => { e.channel.onmessage = m => { try { e.channel.send(m.data); } catch (x) {} }; };
  // What an app saves: the caller's pc.getStats() every second, as monitoring code does.
  const snapshots = [];
  const snapshot = async () => { try { snapshots.push([...(await a.getStats()).values()]); } catch (e) {} };
  const sampler = setInterval(snapshot, 1000);

  const negotiate = async () => {
    await a.setLocalDescription();
    const offer = {type: 'offer', sdp: a.localDescription.sdp};
    if (s.fault === 'both-server') offer.sdp = offer.sdp.replace(/a=setup:actpass/g, 'a=setup:active');
    await b.setRemoteDescription(offer);
    if (withMedia || s.event === 'renegotiate') await answerMedia();
    await b.setLocalDescription();
    const answer = {type: 'answer', sdp: b.localDescription.sdp};
    if (s.fault === 'both-server') answer.sdp = answer.sdp.replace(/a=setup:passive/g, 'a=setup:active');
    if (s.fault === 'both-client') answer.sdp = answer.sdp.replace(/a=setup:active/g, 'a=setup:passive');
    if (s.fault === 'fingerprint') answer.sdp = answer.sdp.replace(/(a=fingerprint:sha-256 )([0-9A-F]{2})/g,
      (m, p, h) => p + (h === '00' ? '01' : '00'));
    await a.setRemoteDescription(answer);
    if (s.fault === 'answer-twice') {
      try { await a.setRemoteDescription(answer); } catch (e) { note('answer-twice', e); }
    }
  };
  const state = (pc, wanted, ms) => within(new Promise(res => {
    const c = () => { if (wanted.includes(pc.connectionState)) res(pc.connectionState); };
    pc.addEventListener('connectionstatechange', c); c();
  }), ms);
  const iceState = (pc, wanted, ms) => within(new Promise(res => {
    const c = () => { if (wanted.includes(pc.iceConnectionState)) res(pc.iceConnectionState); };
    pc.addEventListener('iceconnectionstatechange', c); c();
  }), ms);
  const gathered = pc => new Promise(res => {
    const c = () => { if (pc.iceGatheringState === 'complete') res('complete'); };
    pc.addEventListener('icegatheringstatechange', c); c();
  });

  if (s.fault === 'glare') {
    // Both sides offer at once and both apply the other's offer (an implicit rollback), answer it, then
    // receive the other's answer in "stable": the glare signature.
    b.createDataChannel('rtcdiag-b');
    await a.setLocalDescription(); await b.setLocalDescription();
    const offerA = a.localDescription, offerB = b.localDescription;
    try { await a.setRemoteDescription(offerB); await a.setLocalDescription(); } catch (e) { note('a', e); }
    try { await b.setRemoteDescription(offerA); await b.setLocalDescription(); } catch (e) { note('b', e); }
    try { await a.setRemoteDescription(b.localDescription); } catch (e) { note('a answer', e); }
    try { await b.setRemoteDescription(a.localDescription); } catch (e) { note('b answer', e); }
    await sleep(3000);
  } else {
    try { await negotiate(); } catch (e) { note('negotiate', e); }
    event('negotiated');
    // Settled: connected or failed; or hopeless: a side finished gathering without a candidate.
    const hopeless = Promise.all([gathered(a), gathered(b)]).then(() => new Promise(res => {
      if (!truth.pcs.a.candidates.length || !truth.pcs.b.candidates.length) res('no candidates');
    }));
    truth.gathering = await within(Promise.all([gathered(a), gathered(b)]).then(() => 'complete'),
                                   s.gatherMs || 12000);
    truth.settled = await within(Promise.race([state(a, ['connected', 'failed'], 1e9), hopeless]),
                                 s.connectMs || 8000);
    event('settled ' + truth.settled);
    const half = (s.mediaMs || 3000) / 2;
    const ping = async ms => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        if (dc && dc.readyState === 'open') {
          try { dc.send('ping ' + channel.sent); channel.sent++; } catch (e) {}
        }
        await sleep(100);
      }
    };
    if (truth.settled === 'connected') {
      await ping(half);
      if (s.event === 'ice-restart') {
        truth.ufragBefore = (a.localDescription.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1];
        a.restartIce(); event('restartIce');
        try { await negotiate(); } catch (e) { note('restart', e); }
        truth.ufragAfter = (a.localDescription.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1];
        await sleep(500);
        truth.afterRestart = await state(a, ['connected', 'failed'], 8000);
      }
      if (s.event === 'renegotiate') {
        await addMedia(); event('add media');
        try { await negotiate(); } catch (e) { note('renegotiate', e); }
        truth.afterRenegotiation = await state(a, ['connected', 'failed'], 8000);
      }
      await ping(half);
      await sleep(300);  // the last echoes
    }
  }
  // The page's own account of the call, both sides.
  const account = async pc => {
    const out = {connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState,
                 signalingState: pc.signalingState, rtpSent: {}, rtpReceived: {}, dataChannels: []};
    let stats;
    try { stats = await pc.getStats(); } catch (e) { return out; }
    stats.forEach(r => {
      const add = (counts, n) => { counts[r.kind] = (counts[r.kind] || 0) + (n || 0); };
      if (r.type === 'outbound-rtp') add(out.rtpSent, r.packetsSent);
      if (r.type === 'inbound-rtp') add(out.rtpReceived, r.packetsReceived);
      if (r.type === 'data-channel') out.dataChannels.push({label: r.label, state: r.state,
        sent: r.messagesSent, received: r.messagesReceived});
      if (r.type === 'transport') {
        out.dtlsState = r.dtlsState; out.iceState = r.iceState; out.tlsVersion = r.tlsVersion || null;
        out.dtlsRole = r.dtlsRole || null;
        const pair = r.selectedCandidatePairId && stats.get(r.selectedCandidatePairId);
        if (pair) {
          const l = stats.get(pair.localCandidateId) || {}, rc = stats.get(pair.remoteCandidateId) || {};
          out.selected = {local: l.candidateType, localAddress: l.address, protocol: l.protocol,
            relayProtocol: l.relayProtocol || null, url: l.url || null, remote: rc.candidateType,
            remoteAddress: rc.address, requestsSent: pair.requestsSent,
            responsesReceived: pair.responsesReceived};
        }
      }
    });
    return out;
  };
  truth.final = {a: await account(a), b: await account(b)};
  truth.channel = channel;
  if (s.event === 'callee-close') {
    clearInterval(sampler); await snapshot();  // a closed connection has no stats
    b.close(); event('b.close');
    await sleep(500);
    a.close(); event('a.close');
  }
  if ((s.event === 'callee-vanish' || s.event === 'callee-close-stays') && truth.settled === 'connected') {
    if (s.event === 'callee-vanish') {
      // The callee goes silent without a word: no close() (which sends a DTLS close_notify: a hang-up);
      // every packet to or from its relayed address is dropped from here on (nft, in the call's namespace).
      const relays = truth.pcs.b.candidates.filter(c => c.type === 'relay').map(c => c.port);
      truth.vanished = await window.rtcdiagVanish(relays);
      event('b silenced at its relayed port(s) ' + relays.join(', ') + ' (no close)');
    } else {
      b.close(); event('b.close; a stays open');  // a hang-up the caller's app does not act on
    }
    const left = performance.now();
    truth.lost = await state(a, ['failed'], s.lostMs || 45000);
    event('a ' + a.connectionState + ', ice ' + a.iceConnectionState);
    // RFC 7675 §5.1: consent expires 30 s after the last answer; the capture runs past that.
    await sleep(Math.max(0, 33000 - (performance.now() - left)));
    truth.final.a.afterVanish = {connectionState: a.connectionState,
                                 iceConnectionState: a.iceConnectionState};
  }
  clearInterval(sampler);
  if (a.connectionState !== 'closed') await snapshot();
  truth.getStats = snapshots;
  await sleep(2200);  // webrtc-internals samples getStats once a second: let it see the end state
  return truth;
}
"""


# ---- the namespace, the servers, the browser ---------------------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def namespace(name: str, dual_stack: bool) -> Iterator[str]:
    """A network namespace with loopback up and a veth pair (no dummy driver on every kernel) whose first end
    carries the machine's address(es). Removed afterwards, with any process still in it (ours: by PID)."""
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", f"{SERVER_V4}/32", "dev", "lo")
        _ip("-n", name, "addr", "add", f"{SERVER_V6}/128", "dev", "lo", "nodad")
        _ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        for dev in ("v0", "v1"):
            subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw",
                            f"net.ipv6.conf.{dev}.disable_ipv6={0 if dual_stack and dev == 'v0' else 1}"],
                           check=True, capture_output=True, timeout=10)
            _ip("-n", name, "link", "set", dev, "up")
        _ip("-n", name, "addr", "add", f"{HOST_V4}/24", "dev", "v0")
        _ip("-n", name, "route", "add", "default", "dev", "v0")
        # The server addresses are local: without a preferred source the kernel would pick the server's own
        # address for a connection to it, and Chromium drops a TCP/TLS TURN socket whose local address is
        # not its network's ("Address not associated with the desired network interface", 701).
        _ip("-n", name, "route", "replace", "local", SERVER_V4, "dev", "lo", "table", "local", "proto",
            "kernel", "scope", "host", "src", HOST_V4)
        if dual_stack:
            _ip("-n", name, "addr", "add", f"{HOST_V6}/64", "dev", "v0", "nodad")
            _ip("-n", name, "-6", "route", "add", "default", "dev", "v0")
            _ip("-n", name, "-6", "route", "replace", "local", SERVER_V6, "dev", "lo", "table", "local",
                "proto", "kernel", "src", HOST_V6)
        yield name
    finally:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10)
        for pid in pids.stdout.split():  # only processes this run started live in its namespace
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def silence(stack: contextlib.ExitStack, netns: str, relay_ports: list[int]) -> None:
    """Drop every UDP packet to or from the relayed ports (on the server's address) inside the cell's
    namespace: the callee behind them goes silent, without a word. The nft table is named after this run and
    deleted when the cell ends (the namespace goes too)."""
    table = f"rtcd19_vanish_{os.getpid()}"
    ports = ", ".join(str(p) for p in relay_ports)
    rules = (f"table inet {table} {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n"
             f"  ip daddr {SERVER_V4} udp dport {{ {ports} }} drop\n"
             f"  ip saddr {SERVER_V4} udp sport {{ {ports} }} drop\n }}\n}}\n")
    stack.callback(subprocess.run, ["ip", "netns", "exec", netns, "nft", "delete", "table", "inet", table],
                   capture_output=True, timeout=10)
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=rules.encode(), check=True,
                   capture_output=True, timeout=10)


def _coturn_options(server: Server, netns: str) -> CoturnOptions | None:
    if server is Server.NONE:
        return None
    options = CoturnOptions(listening_ips=(SERVER_V4, SERVER_V6), port=TURN_PORT, alt_port=TURN_ALT_PORT,
                            users={TURN_USER: TURN_PASSWORD}, allow_loopback_peers=False,
                            cert_hostnames=("turn.example",), min_relay_port=RELAY_PORTS[0],
                            max_relay_port=RELAY_PORTS[1], verbose=True, netns=netns, die_with_parent=True)
    if server is Server.REST:
        options.users = {}
        options.static_auth_secret = REST_SECRET
    elif server is Server.QUOTA:
        options.user_quota = 1
    elif server is Server.ACL:
        options.denied_peer_ips = (f"{SERVER_V4}-{SERVER_V4}", "10.19.0.0-10.19.0.255")
    elif server is Server.CAPACITY:
        options.max_relay_port = RELAY_PORTS[0]
    elif server in (Server.TLS, Server.TLS_UNTRUSTED):
        options.self_signed = True
        options.tls_port, options.alt_tls_port = TLS_PORT, TLS_ALT_PORT
    return options


def rest_credential(expired: bool) -> tuple[str, str]:
    """A TURN REST API credential (draft-uberti-behave-turn-rest-00): "expiry:user" and its HMAC-SHA1."""
    expiry = int(time.time()) + (-3600 if expired else 3600)
    username = f"{expiry}:{TURN_USER}"
    digest = hmac.new(REST_SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(entries: tuple[Entry, ...], secrets: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in entries:
        urls = [u.format(v4=SERVER_V4, v6=f"[{SERVER_V6}]", port=TURN_PORT, tls=TLS_PORT, dead=DEAD_PORT)
                for u in entry.urls]
        server: dict[str, Any] = {"urls": urls[0] if len(urls) == 1 else urls}
        if entry.cred is Cred.OK:
            server.update(username=TURN_USER, credential=TURN_PASSWORD)
        elif entry.cred is Cred.WRONG_PASSWORD:
            server.update(username=TURN_USER, credential=WRONG_PASSWORD)
        elif entry.cred is Cred.UNKNOWN_USER:
            server.update(username=UNKNOWN_USER, credential=TURN_PASSWORD)
        elif entry.cred in (Cred.REST_OK, Cred.REST_EXPIRED):
            username, credential = rest_credential(entry.cred is Cred.REST_EXPIRED)
            secrets.add(credential)
            server.update(username=username, credential=credential)
        out.append(server)
    return out


def _spki_hash(cert: Path) -> str:
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo (--ignore-certificate-errors-spki-list)."""
    pem = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], capture_output=True,
                         check=True, timeout=10).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pem, capture_output=True,
                         check=True, timeout=10).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _settled_log(server: RunningCoturn, quiet_s: float = 0.4, limit_s: float = 3.0) -> str:
    """coturn's log once it stopped growing (the sessions the browser closed are logged as closed)."""
    deadline = time.monotonic() + limit_s
    size = -1
    while time.monotonic() < deadline:
        now = server.log_path.stat().st_size
        if now == size:
            break
        size = now
        time.sleep(quiet_s)
    return server.log_path.read_text(errors="replace")


_ERROR = re.compile(r"incoming packet (\S+) processed, error (\d{3})")


def coturn_facts(log: str) -> dict[str, Any]:
    """What coturn said, counted from its own lines (not by rtcdiag's parser): errors per method and code,
    allocations made, TLS/TCP connections, sessions closed."""
    errors: dict[str, int] = {}
    for method, code in _ERROR.findall(log):
        errors[f"{method} {code}"] = errors.get(f"{method} {code}", 0) + 1
    return {"errors": errors,
            "allocations": log.count("incoming packet ALLOCATE processed, success"),
            "permissions": log.count("incoming packet CREATE_PERMISSION processed, success"),
            "channels": log.count("incoming packet CHANNEL_BIND processed, success"),
            "denied_peers": log.count(" denied in the range"),
            "tcp_tls_disconnects": log.count("TLS/TCP socket disconnected"),
            "sessions_closed": log.count("closed (2nd stage)")}


@dataclass
class CellRun:
    cell: Cell
    truth: dict[str, Any]
    files: dict[str, bytes]  # form -> gzip bytes
    seconds: float


async def generate(cell: Cell) -> CellRun:
    """Run one cell: namespace, coturn, tcpdump, Chromium; every evidence form and the ground truth."""
    started = time.monotonic()
    netns = f"rtcd19-{os.getpid()}-{CELLS.index(cell) if cell in CELLS else 99}"
    secrets = {TURN_PASSWORD, WRONG_PASSWORD, REST_SECRET}
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rtcdiag-matrix-")))
        os.chmod(work, 0o755)  # tcpdump writes the capture as its own user
        stack.enter_context(namespace(netns, cell.dual_stack))
        options = _coturn_options(cell.server, netns)
        coturn = stack.enter_context(start_coturn(options)) if options is not None else None
        chromium = find_chromium()
        if chromium is None:
            raise RuntimeError("Chromium is not installed")
        wrapper = work / "chromium-in-netns"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {chromium} "$@"\n')
        wrapper.chmod(0o755)
        extra: tuple[str, ...] = ()
        if cell.server is Server.TLS and coturn is not None and coturn.ca_cert is not None:
            extra = (f"--ignore-certificate-errors-spki-list={_spki_hash(coturn.ca_cert)}",)
        capture = work / "capture.pcap"
        capturing = contextlib.ExitStack()
        capturing.enter_context(tcpdump(capture, [], netns=netns, max_packets=MAX_PACKETS))

        async def before_script(page: Any) -> None:
            async def vanish(ports: list[int]) -> list[int]:
                wanted = sorted({int(p) for p in ports if 0 < int(p) < 65536})
                if wanted:
                    await asyncio.to_thread(silence, stack, netns, wanted)
                return wanted

            await page.expose_function("rtcdiagVanish", vanish)

        async def after_script(page: Any) -> None:
            if cell.event == "page-close":
                await page.close()
                await asyncio.sleep(2.5)  # webrtc-internals hears of the closed connections
            await asyncio.to_thread(capturing.close)

        entries_b = cell.entries if cell.entries_b is None else cell.entries_b
        params = {**cell.params(), "serversA": ice_servers(cell.entries, secrets),
                  "serversB": ice_servers(entries_b, secrets)}
        browser = BrowserOptions(executable=str(wrapper), fake_media=cell.fake_media,
                                 auto_accept=cell.auto_accept, extra_args=extra, timeout_s=120.0,
                                 after_script=after_script,
                                 before_script=before_script if cell.event == "callee-vanish" else None)
        try:
            run: BrowserRun = await run_script(PAGE_SCRIPT, params, browser)
        finally:
            capturing.close()
        log = _settled_log(coturn) if coturn is not None else None
        page: dict[str, Any] = run.result
        snapshots = page.pop("getStats", None)
        files = {"dump": _gz(run.internals_dump), "rtcstats": _gz(run.rtcstats_dump),
                 "capture": gzip.compress(capture.read_bytes(), mtime=0)}
        if snapshots:
            files["getstats"] = gzip.compress(json.dumps(snapshots, separators=(",", ":")).encode(), mtime=0)
        if log is not None:
            files["coturn-log"] = gzip.compress(log.encode(), mtime=0)
        truth = {"cell": _definition(cell), "expect": cell.expect.value, "page": page,
                 "coturn": coturn_facts(log) if log is not None else None,
                 "chromium": run.user_agent, "coturn_version": _coturn_version(log),
                 "forms": sorted(files)}
    _refuse_secrets(cell, files, truth, secrets)
    return CellRun(cell, truth, files, time.monotonic() - started)


def _gz(blob: bytes) -> bytes:
    return blob if blob[:2] == b"\x1f\x8b" else gzip.compress(blob, mtime=0)


def _coturn_version(log: str | None) -> str | None:
    found = re.search(r"Version (Coturn-\S+)", log or "")
    return found.group(1) if found else None


def _definition(cell: Cell) -> dict[str, Any]:
    data = asdict(cell)
    data["entries"] = [{"urls": list(e.urls), "cred": e.cred.value} for e in cell.entries]
    if cell.entries_b is not None:
        data["entries_b"] = [{"urls": list(e.urls), "cred": e.cred.value} for e in cell.entries_b]
    return json.loads(json.dumps(data, default=str))


def _refuse_secrets(cell: Cell, files: dict[str, bytes], truth: dict[str, Any], secrets: set[str]) -> None:
    """No file may hold a password, the REST secret or a REST credential; the browser's files (and the
    truth) no TURN username either (captures and coturn logs carry it: RFC 8489 sends USERNAME in clear)."""
    texts = {form: gzip.decompress(blob) for form, blob in files.items()}
    texts["truth"] = json.dumps(truth).encode()
    for form, text in texts.items():
        for secret in secrets:
            if secret.encode() in text:
                raise SystemExit(f"{cell.name}: the {form} holds a TURN secret; not saved")
        if form in ("dump", "rtcstats", "getstats", "truth") and (
                TURN_USER.encode() in text or UNKNOWN_USER.encode() in text):
            raise SystemExit(f"{cell.name}: the {form} holds a TURN username; not saved")


def save(run: CellRun, root: Path = MATRIX) -> Path:
    folder = cell_dir(run.cell.name, root)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for form, blob in run.files.items():
        (folder / FILES[form]).write_bytes(blob)
    (folder / "truth.json").write_text(json.dumps(run.truth, indent=1, sort_keys=True) + "\n")
    return folder


def load_truth(name: str, root: Path = MATRIX) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((cell_dir(name, root) / "truth.json").read_text())
    return truth


# ---- ground truth against the cell's definition --------------------------------------------------------

def _reached(states: list[list[Any]], wanted: str) -> bool:
    return any(state == wanted for _, state in states)


def _codes(truth: dict[str, Any]) -> set[int]:
    return {int(e["code"]) for pc in truth["page"].get("pcs", {}).values() for e in pc["candidateErrors"]}


def _coturn_errors(truth: dict[str, Any], code: str) -> int:
    coturn = truth.get("coturn") or {}
    return sum(n for key, n in coturn.get("errors", {}).items() if key.endswith(" " + code))


def truth_problems(cell: Cell, truth: dict[str, Any]) -> list[str]:
    """Why the recorded call is not the call the cell describes (empty: it is). A "healthy" cell whose page
    never connected, or whose data channel did not echo, is a broken generator, not a verdict to test."""
    page = truth["page"]
    problems: list[str] = []
    pcs = page.get("pcs", {})
    final = page.get("final", {})

    def need(ok: bool, why: str) -> None:
        if not ok:
            problems.append(why)

    if cell.expect is Cause.HEALTHY or cell.expect is Cause.SDP_ANSWER_TWICE:
        for side in ("a", "b"):
            need(_reached(pcs.get(side, {}).get("connection", []), "connected"), f"{side} never connected")
        if cell.payload in (Payload.DC, Payload.BOTH):
            sent, echoed = page["channel"]["sent"], page["channel"]["echoed"]
            need(sent > 0 and echoed == sent, f"data channel: {echoed} of {sent} messages echoed")
        if cell.payload in (Payload.AV, Payload.BOTH) or cell.event == "renegotiate":
            for side in ("a", "b"):
                got = final.get(side, {}).get("rtpReceived", {})
                need(got.get("audio", 0) > 0 and got.get("video", 0) > 0, f"{side} received RTP {got}")
        selected = final.get("a", {}).get("selected") or {}
        kind, _, protocol = cell.path.value.partition("-")
        if cell.path is not Path_.ANY:
            local = selected.get("local")
            need(local == kind or (kind == "host" and local in ("srflx", "prflx")),
                 f"caller's selected pair is {local}, not {kind}")
            if kind == "relay":
                need(selected.get("relayProtocol") == protocol, f"relay over {selected.get('relayProtocol')}")
        if cell.event == "ice-restart":
            need(page.get("ufragBefore") != page.get("ufragAfter"), "ICE restart kept the ufrag")
            need(page.get("afterRestart") == "connected", f"after the restart: {page.get('afterRestart')}")
        if cell.expect is Cause.SDP_ANSWER_TWICE:
            need(any(e.startswith("answer-twice:") for e in page["errors"]), "the second answer was accepted")
        if cell.event == "callee-close-stays":
            need(any(what.startswith("b.close") for _, what in page.get("events", [])),
                 "the callee never closed")
            need(page.get("lost") == "failed", f"the caller after the hang-up: {page.get('lost')}")
        return problems
    if cell.expect is Cause.TURN_AUTH:
        need(401 in _codes(truth), f"page saw codes {_codes(truth)}, no 401")
        need(_coturn_errors(truth, "401") > 0, "coturn logged no 401")
        need(truth["coturn"]["allocations"] == 0, "coturn made an allocation")
    elif cell.expect is Cause.TURN_QUOTA:
        need(_coturn_errors(truth, "486") > 0, "coturn logged no 486")
        need(truth["coturn"]["allocations"] >= 1, "no allocation at all")
    elif cell.expect is Cause.TURN_PEER_ACL:
        need(_coturn_errors(truth, "403") > 0, "coturn logged no 403")
        need(not _reached(pcs["a"]["connection"], "connected"), "the call connected")
    elif cell.expect is Cause.TURN_CAPACITY:
        need(_coturn_errors(truth, "508") > 0, "coturn logged no 508")
    elif cell.expect is Cause.TURN_UNREACHABLE:
        need(701 in _codes(truth), f"page saw codes {_codes(truth)}, no 701")
    elif cell.expect is Cause.TURN_TLS_REFUSED:
        need(701 in _codes(truth), f"page saw codes {_codes(truth)}, no 701")
        need(truth["coturn"]["allocations"] == 0, "coturn made an allocation")
        need(truth["coturn"]["tcp_tls_disconnects"] > 0, "coturn logged no TLS connection")
    elif cell.expect in (Cause.DTLS_FINGERPRINT, Cause.DTLS_BOTH_CLIENT, Cause.DTLS_BOTH_SERVER):
        need(_reached(pcs["a"]["ice"], "connected") or _reached(pcs["a"]["ice"], "completed"),
             "ICE never connected")
        need(not _reached(pcs["a"]["connection"], "connected"), "the connection (DTLS) connected")
    elif cell.expect is Cause.SDP_GLARE:
        need(any("wrong state" in e for e in page["errors"]), f"no wrong-state error: {page['errors']}")
    elif cell.expect in (Cause.GUM_NOT_FOUND, Cause.GUM_NOT_ALLOWED, Cause.GUM_OVERCONSTRAINED):
        wanted = {Cause.GUM_NOT_FOUND: "NotFoundError", Cause.GUM_NOT_ALLOWED: "NotAllowedError",
                  Cause.GUM_OVERCONSTRAINED: "OverconstrainedError"}[cell.expect]
        need(page.get("gum") == wanted, f"getUserMedia gave {page.get('gum')}, not {wanted}")
    elif cell.expect is Cause.NO_RELAY_CONFIGURED:
        need(not pcs["a"]["candidates"], "the caller gathered candidates")
        need(not _reached(pcs["a"]["connection"], "connected"), "the call connected")
    elif cell.expect is Cause.CONNECTION_LOST:
        need(_reached(pcs["a"]["connection"], "connected"), "the call never connected")
        need(bool(page.get("vanished")), "the callee was not silenced")
        need(page.get("lost") == "failed", f"the caller after the callee left: {page.get('lost')}")
        need(not any(what.startswith("b.close") for _, what in page.get("events", [])),
             "the callee was closed (a hang-up), not silenced")
    return problems


# ---- what rtcdiag analyze says ------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    exit: int
    errors: tuple[str, ...]  # distinct ids of the error root causes, in report order
    warnings: tuple[str, ...]  # distinct ids of the warning root causes
    texts: dict[str, str]  # id -> title, symptom and cause of its (first) root finding
    line: str  # the first line on stderr (exit 2: why the file was refused)

    def show(self) -> str:
        if self.exit == 2:
            return f"exit 2 ({self.line})"
        said = ", ".join(self.errors) or "no error root"
        warned = f"; warnings {', '.join(self.warnings)}" if self.warnings else ""
        return f"exit {self.exit}: {said}{warned}"


def analyze(paths: list[Path]) -> Verdict:
    """``rtcdiag analyze --json PATH...`` run in-process: the command's own code path and exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rtcdiag_main(["analyze", "--json", *map(str, paths)])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    line = (err.getvalue().strip().splitlines() or [""])[0]
    if code not in (0, 1, 3) or not out.getvalue().strip():
        return Verdict(code, (), (), {}, line)
    report = json.loads(out.getvalue())
    findings = {f["ref"]: f for f in report["findings"]}
    errors: dict[str, None] = {}
    warnings: dict[str, None] = {}
    texts: dict[str, str] = {}
    for root in report["root_causes"]:
        (errors if root["severity"] == "error" else warnings)[root["id"]] = None
        finding = findings.get(root["ref"], {})
        texts.setdefault(root["id"], " ".join(str(finding.get(k, "")) for k in ("title", "symptom", "cause")))
    return Verdict(code, tuple(errors), tuple(warnings), texts, line)


# ---- command line ------------------------------------------------------------------------------------------

def _summary(run: CellRun) -> str:
    page = run.truth["page"]
    final = page.get("final", {})
    a = final.get("a", {})
    selected = a.get("selected") or {}
    parts = [f"a {a.get('connectionState', '-')}", f"b {final.get('b', {}).get('connectionState', '-')}"]
    if selected:
        protocol = selected.get("relayProtocol") or selected.get("protocol")
        parts.append(f"pair {selected.get('local')}/{protocol}")
    if "channel" in page:
        parts.append(f"dc {page['channel']['echoed']}/{page['channel']['sent']}")
    codes = sorted({e["code"] for pc in page.get("pcs", {}).values() for e in pc["candidateErrors"]})
    if codes:
        parts.append(f"errors {codes}")
    if page.get("gum"):
        parts.append(f"gum {page['gum']}")
    if run.truth.get("coturn"):
        parts.append(f"coturn {run.truth['coturn']['errors']}")
    return ", ".join(parts)


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("the matrix runs each call in a network namespace of its own: run as root", file=sys.stderr)
        return 2
    unknown = [n for n in argv if n not in BY_NAME]
    if unknown:
        print(f"unknown cell(s): {', '.join(unknown)}; cells: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    chosen = [BY_NAME[n] for n in argv] if argv else list(CELLS)
    started = time.monotonic()
    broken: list[str] = []
    for cell in chosen:
        run = asyncio.run(generate(cell))
        problems = truth_problems(cell, run.truth)
        folder = save(run)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{cell.name}: {run.seconds:.1f} s, {size / 1024:.0f} kB; {_summary(run)}"
              + (f"; NOT THE CELL: {'; '.join(problems)}" if problems else ""), flush=True)
        if problems:
            broken.append(cell.name)
        for form in run.truth["forms"]:
            print(f"    {form}: {analyze([folder / FILES[form]]).show()}", flush=True)
    total = sum(p.stat().st_size for p in MATRIX.rglob("*") if p.is_file())
    print(f"{len(chosen)} cell(s) in {time.monotonic() - started:.0f} s; matrix {total / 1e6:.2f} MB")
    if broken:
        print(f"the recorded call is not what the cell describes: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
