// WHEP client: plays one of the relay's streams over WebRTC in a <video>.
//
// The relay takes no trickle ICE, so the offer goes out once ICE gathering is complete (or after
// GATHER_MS with the candidates there are). POST {url} with the SDP offer answers 201 with the
// SDP answer and, in Location, the session resource that close() DELETEs. The URL is the one
// GET /api/v1/devices/{id}/live gives, token included; the session resource needs no token, since
// its random name is known only to this page.
//
// The POST can take a while: the first viewer of a device asks it to start streaming, and the
// relay answers only once the stream is live. A failed POST rejects with an Error carrying the
// HTTP status and the relay's {error:{code,message}} (e.g. 422 for an H.265 stream, which
// browsers cannot play over WebRTC: play HLS instead).
const GATHER_MS = 3000;

// iceGathered resolves when pc has gathered its candidates, after at most GATHER_MS.
function iceGathered(pc, signal) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      signal?.removeEventListener('abort', abort);
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') {
        done();
        resolve();
      }
    };
    const abort = () => {
      done();
      reject(signal.reason || new DOMException('aborted', 'AbortError'));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, GATHER_MS);
    pc.addEventListener('icegatheringstatechange', check);
    signal?.addEventListener('abort', abort, { once: true });
  });
}

async function whepError(res) {
  let code = '';
  let message = `WHEP ${res.status}`;
  try {
    const body = await res.json();
    code = body?.error?.code || '';
    message = body?.error?.message || message;
  } catch {
    // not JSON: keep the status
  }
  const err = new Error(message);
  err.status = res.status;
  err.code = code;
  return err;
}

// playWHEP plays url in videoElement and resolves, once the answer is set, to {close, pc}:
// close() ends the session (the peer connection, and the relay's session by DELETE). Aborting
// signal does the same; a rejected promise has closed everything already.
export async function playWHEP(videoElement, url, { signal } = {}) {
  if (signal?.aborted) throw signal.reason || new DOMException('aborted', 'AbortError');
  const pc = new RTCPeerConnection();
  const stream = new MediaStream();
  let resource = null;
  let closed = false;

  const close = () => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', close);
    pc.close();
    if (resource) {
      // keepalive: the DELETE still goes out when the page is being left.
      fetch(resource, { method: 'DELETE', keepalive: true }).catch(() => null);
    }
  };
  signal?.addEventListener('abort', close, { once: true });

  pc.ontrack = (ev) => {
    stream.addTrack(ev.track);
    if (videoElement.srcObject !== stream) videoElement.srcObject = stream;
  };
  pc.onconnectionstatechange = () => {
    // A failed connection does not come back without a new offer: free the relay's session.
    if (pc.connectionState === 'failed') close();
  };

  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, signal);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
      body: pc.localDescription.sdp,
      signal,
    });
    if (res.status !== 201) throw await whepError(res);
    const location = res.headers.get('Location');
    const where = location ? new URL(location, new URL(url, window.location.href)).href : null;
    if (closed) {
      // Aborted while the relay was answering: its session exists now, end it.
      if (where) fetch(where, { method: 'DELETE', keepalive: true }).catch(() => null);
      throw signal?.reason || new DOMException('aborted', 'AbortError');
    }
    resource = where;
    const answer = await res.text();
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  } catch (err) {
    close();
    throw err;
  }
  return { close, pc };
}
