async (s) => {
  // Interop call, step 2: wait (at most s.timeoutMs) for the connection to settle, then echo s.messages
  // data-channel messages and time them.
  const pc = window.rtcdiagPc;
  const within = (p, ms) => Promise.race([p, new Promise(r => setTimeout(() => r('timeout'), ms))]);
  const state = await within(new Promise(res => {
    const check = () => { if (['connected', 'failed', 'closed'].includes(pc.connectionState))
      res(pc.connectionState); };
    pc.addEventListener('connectionstatechange', check); check();
  }), s.timeoutMs);
  const out = {state, sent: 0, received: 0, rtts: [], open: false};
  const dc = window.rtcdiagDc;
  if (dc && state === 'connected') {
    out.open = dc.readyState === 'open' || (await within(new Promise(r => { dc.onopen = () => r('open'); }),
                                                        s.timeoutMs)) === 'open';
    if (out.open) {
      const sentAt = new Map();
      let done; const all = new Promise(r => { done = r; });
      dc.onmessage = m => { const n = parseInt(m.data, 10);
        if (sentAt.has(n)) { out.rtts.push(performance.now() - sentAt.get(n)); sentAt.delete(n);
                             if (++out.received === s.messages) done(); } };
      for (let i = 0; i < s.messages; i++) {
        sentAt.set(i, performance.now()); dc.send(i + ' interop'); out.sent++;
      }
      if (s.messages) await within(all, s.timeoutMs);
    }
  }
  return out;
}
