async (s) => {
  // Interop call, step 1 (rtcdiag.probes.interop): one RTCPeerConnection with camera and microphone,
  // s = {servers, policy, timeoutMs, caller, videoCodec}; the caller opens an unordered data channel, the
  // callee echoes it. Leaves window.rtcdiagDescribe(remote) for the offer/answer exchange.
  const within = (p, ms) => Promise.race([p, new Promise(r => setTimeout(() => r('timeout'), ms))]);
  if (window.rtcdiagPc) { try { window.rtcdiagPc.close(); } catch (e) {} }
  const pc = new RTCPeerConnection({iceServers: s.servers, iceTransportPolicy: s.policy});
  window.rtcdiagPc = pc; window.rtcdiagEcho = {received: 0, rtts: [], open: false};
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  for (const t of media.getTracks()) {
    const tr = pc.addTransceiver(t, {direction: 'sendrecv', streams: [media]});
    if (t.kind === 'video' && s.videoCodec) {
      const want = RTCRtpReceiver.getCapabilities('video').codecs.filter(c =>
        c.mimeType.toLowerCase() === ('video/' + s.videoCodec).toLowerCase());
      if (want.length) tr.setCodecPreferences(want);
    }
  }
  if (s.caller) {
    const dc = pc.createDataChannel('rtcdiag-interop', {ordered: false, maxRetransmits: 0});
    window.rtcdiagDc = dc;
  } else {
    pc.ondatachannel = e => { e.channel.onmessage = m => e.channel.send(m.data); };
  }
  const gathered = () => new Promise(res => {
    const check = () => { if (pc.iceGatheringState === 'complete') res('complete'); };
    pc.addEventListener('icegatheringstatechange', check); check();
  });
  window.rtcdiagDescribe = async (remote) => {
    if (remote) await pc.setRemoteDescription(remote);
    if (!remote || remote.type === 'offer') {
      await pc.setLocalDescription();
      await within(gathered(), s.timeoutMs);
      return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
    }
    return null;
  };
  return 'ready';
}
