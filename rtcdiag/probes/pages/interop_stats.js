async () => {
  // Interop call, step 3: what this browser's own getStats says (codecs, DTLS, the selected pair).
  const pc = window.rtcdiagPc;
  await new Promise(r => setTimeout(r, 1500));  // a few RTP packets each way
  const stats = await pc.getStats();
  const out = {codecs: [], tlsVersion: '', dtlsCipher: '', dtlsState: '', localType: '', relayProtocol: '',
               packetsReceived: {}, packetsSent: {}};
  const byId = {}; stats.forEach(r => { byId[r.id] = r; });
  stats.forEach(r => {
    if ((r.type === 'inbound-rtp' || r.type === 'outbound-rtp') && r.kind) {
      const c = byId[r.codecId] || {};
      const dir = r.type === 'inbound-rtp' ? 'recv' : 'send';
      out.codecs.push({kind: r.kind, direction: dir, mimeType: c.mimeType || '', fmtp: c.sdpFmtpLine || ''});
      const count = r.type === 'inbound-rtp' ? r.packetsReceived : r.packetsSent;
      const into = r.type === 'inbound-rtp' ? out.packetsReceived : out.packetsSent;
      into[r.kind] = (into[r.kind] || 0) + (count || 0);
    }
    if (r.type === 'transport') {
      out.tlsVersion = r.tlsVersion || out.tlsVersion; out.dtlsCipher = r.dtlsCipher || out.dtlsCipher;
      out.dtlsState = r.dtlsState || out.dtlsState;
      const pair = byId[r.selectedCandidatePairId];
      const local = pair ? byId[pair.localCandidateId] || {} : {};
      out.localType = local.candidateType || ''; out.relayProtocol = local.relayProtocol || '';
    }
  });
  out.ua = navigator.userAgent;
  return out;
}
