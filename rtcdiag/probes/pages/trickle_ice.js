async (s) => {
  // The Trickle ICE page (rtcdiag.probes.browser_ice), awaited by the driver with one argument
  // s = {servers: [{urls, username?, credential?}], alone, policy, timeoutMs, messages, relayCall, normalCall,
  // marker}. Every peer connection is created up front, in a fixed order (gather 0..n-1, gather-all, relay call
  // a/b, normal call a/b): webrtc-internals numbers them in that order, which is how the dump's connections are
  // named in the report. Bounded waits only: each on a browser event, raced against timeoutMs. Logs nothing.
  const t0 = performance.now();
  const since = t => Math.round((performance.now() - t) * 10) / 10;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const servers = s.servers;
  const plans = [];
  if (s.alone) servers.forEach((srv, i) => plans.push({kind: 'gather', label: 'gather ' + srv.urls,
                                                        servers: [srv]}));
  plans.push({kind: 'gather', servers,
              label: s.alone || !servers.length ? 'gather all' : 'gather ' + servers[0].urls});
  if (s.relayCall) plans.push({kind: 'call', label: 'relay call', policy: 'relay'});
  if (s.normalCall) plans.push({kind: 'call', label: 'normal call', policy: 'all'});
  for (const p of plans) {  // all connections first, in order (see above)
    if (p.kind === 'gather') {
      p.pc = new RTCPeerConnection({iceServers: p.servers, iceTransportPolicy: s.policy});
    } else {
      const cfg = {iceServers: servers, iceTransportPolicy: p.policy};
      p.a = new RTCPeerConnection(cfg); p.b = new RTCPeerConnection(cfg);
    }
  }
  const cand = (c, url) => ({type: c.type || '', protocol: c.protocol || '', address: c.address || '',
    port: c.port || 0, priority: c.priority || 0, relayProtocol: c.relayProtocol || '',
    url: url || c.url || '', foundation: c.foundation || '', ms: since(t0)});
  const gatheredBy = pc => new Promise(res => {
    const check = () => { if (pc.iceGatheringState === 'complete') res('complete'); };
    pc.addEventListener('icegatheringstatechange', check); check();
  });
  const record = (pc, out) => {
    pc.addEventListener('icecandidate', e => {
      if (e.candidate && e.candidate.candidate && out.candidates.length < 200)
        out.candidates.push(cand(e.candidate, e.url));
    });
    pc.addEventListener('icecandidateerror', e => {
      if (out.errors.length < 100) out.errors.push({url: e.url || '', code: e.errorCode || 0,
        text: String(e.errorText || '').slice(0, 300), address: e.address || '', port: e.port || 0,
        ms: since(t0)});
    });
  };
  async function gather(p) {
    const out = {label: p.label, urls: p.servers.map(x => x.urls), candidates: [], errors: [],
                 state: 'new', ms: null};
    record(p.pc, out);
    const done = gatheredBy(p.pc);
    p.pc.createDataChannel('gather');
    await p.pc.setLocalDescription();
    out.state = await within(done, s.timeoutMs);
    out.ms = since(t0);
    return out;  // left open: webrtc-internals drops a closed connection from its dump
  }
  async function call(p) {
    const {a, b} = p;
    const out = {label: p.label, policy: p.policy, state: 'new', connectMs: null, open: false,
                 sent: 0, received: 0, rtts: [], pair: null, candidates: [], errors: [], error: ''};
    record(a, out);
    let bCount = 0;  // the callee's candidates (the caller's are in out.candidates)
    b.addEventListener('icecandidate', e => { if (e.candidate && e.candidate.candidate) bCount++; });
    a.onicecandidate = e => { if (e.candidate) b.addIceCandidate(e.candidate).catch(() => {}); };
    b.onicecandidate = e => { if (e.candidate) a.addIceCandidate(e.candidate).catch(() => {}); };
    // Unordered, no retransmissions: a lost message stays lost, so loss is measured, not hidden.
    const dc = a.createDataChannel('echo', {ordered: false, maxRetransmits: 0});
    b.ondatachannel = e => { e.channel.onmessage = m => e.channel.send(m.data); };
    const settled = new Promise(res => {
      const check = () => {
        if (['connected', 'failed', 'closed'].includes(a.connectionState)) res(a.connectionState);
      };
      a.addEventListener('connectionstatechange', check); check();
    });
    try {
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
    } catch (e) { out.error = String(e && e.message).slice(0, 300); return out; }
    // A side that finished gathering without a single candidate (relay-only, no relay) cannot connect:
    // Chromium leaves such a connection "new" or "checking"; no need to wait for the timeout then.
    const hopeless = Promise.all([gatheredBy(a), gatheredBy(b)]).then(() =>
      new Promise(res => { if (!out.candidates.length || !bCount) res('no candidates'); }));
    const start = performance.now();
    out.state = await within(Promise.race([settled, hopeless]), s.timeoutMs);
    out.connectMs = since(start);
    if (out.state !== 'connected') return out;
    const opened = dc.readyState === 'open' ? 'open' : await within(new Promise(res => {
      dc.onopen = () => res('open');
    }), s.timeoutMs);
    out.open = opened === 'open';
    if (out.open) {
      const sentAt = new Map();
      let resolveAll;
      const all = new Promise(r => { resolveAll = r; });
      dc.onmessage = m => {
        const n = parseInt(m.data, 10);
        if (sentAt.has(n)) { out.rtts.push(since(sentAt.get(n))); sentAt.delete(n); out.received++; }
        if (out.received === s.messages) resolveAll('all');
      };
      for (let i = 0; i < s.messages; i++) {
        sentAt.set(i, performance.now());
        dc.send(String(i) + ' rtcdiag echo');
        out.sent++;
      }
      if (s.messages > 0) await within(all, s.timeoutMs);
    }
    const stats = await a.getStats();
    let pairId = '';
    stats.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pairId =
      r.selectedCandidatePairId; });
    const pair = pairId ? stats.get(pairId) : null;
    if (pair) {
      const l = stats.get(pair.localCandidateId) || {}, r = stats.get(pair.remoteCandidateId) || {};
      out.pair = {localType: l.candidateType || '', local: (l.address || '') + ':' + (l.port || ''),
        localProtocol: l.protocol || '', relayProtocol: l.relayProtocol || '', url: l.url || '',
        remoteType: r.candidateType || '', remote: (r.address || '') + ':' + (r.port || ''),
        rttMs: pair.currentRoundTripTime === undefined ? null : pair.currentRoundTripTime * 1000};
    }
    return out;  // left open: webrtc-internals samples its stats until the dump is made
  }
  const results = await Promise.all(plans.map(p => p.kind === 'gather' ? gather(p) : call(p)));
  // The last connection: its data channel's label tells the driver webrtc-internals has seen it all.
  window.rtcdiagMarker = new RTCPeerConnection();
  window.rtcdiagMarker.createDataChannel(s.marker);
  return {gathers: results.filter((r, i) => plans[i].kind === 'gather'),
          calls: results.filter((r, i) => plans[i].kind === 'call'), ms: since(t0)};
}
