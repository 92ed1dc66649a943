// Live video of a recorder or a vehicle terminal, one player per video-wall tile.
//
// GET /api/v1/devices/{id}/live gives the relay's playback URLs ({hls, webrtc, state}); asking
// for them also asks the relay to start the device's stream. WebRTC (WHEP, command/whep.js) is
// tried first when the relay offers it: it has less delay than even low-latency HLS, which must
// wait for whole parts. When it shows no frame within WEBRTC_CONNECT_MS of the relay's answer
// (UDP blocked between the command centre and the service), or the relay refuses it (H.265, which
// browsers do not take over WebRTC), the tile falls back to HLS, played through the vendored
// hls.js where Media Source Extensions exist, natively elsewhere.
//
// One watchdog covers both transports: a player whose frames stop advancing for STALL_MS is torn
// down and started again from a fresh GET /live, with a doubling wait, so that a recorder that
// lost its uplink comes back on the wall by itself; after MAX_RESTARTS attempts in a row that
// showed nothing the tile says it failed and offers a retry.
import { t } from '../i18n.js';
import { get } from '../api.js';
import { describeError } from '../widgets.js';

export const VIDEO_KINDS = ['recorder', 'vehicle_terminal'];

const WEBRTC_CONNECT_MS = 5000;
// The relay answers a WHEP offer once the stream is live: a recorder asked to push just now may
// take most of the relay's own 10 s wait.
const WEBRTC_ANSWER_MS = 12000;
// The relay waits up to 10 s for a recorder that was just asked to push, and hls.js needs a few
// segments more: a first picture may take this long.
const FIRST_FRAME_MS = 30000;
const STALL_MS = 12000;
const WATCH_MS = 1000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 15000;
const MAX_RESTARTS = 8;

let hlsModule = null;

function loadHls() {
  if (!hlsModule) {
    hlsModule = import('../../vendor/hls/hls.light.min.mjs').then((m) => m.default).catch((err) => {
      hlsModule = null;
      throw err;
    });
  }
  return hlsModule;
}

// The WHEP client is loaded with the first WebRTC stream; should it fail to load, tiles play HLS.
let whepModule = null;

function loadWhep() {
  if (!whepModule) {
    whepModule = import('./whep.js').then((m) => (typeof m.playWHEP === 'function' ? m : null)).catch(() => null);
  }
  return whepModule;
}

// framesOf counts the frames the element has shown so far; currentTime stands in where the
// browser keeps no count.
function framesOf(video) {
  const q = video.getVideoPlaybackQuality?.();
  return q ? q.totalVideoFrames : Math.round(video.currentTime * 1000);
}

// firstFrame resolves when video shows a picture, and rejects when signal is aborted.
function firstFrame(video, signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      cleanup();
      resolve();
    };
    const abort = () => {
      cleanup();
      reject(signal.reason || new DOMException('aborted', 'AbortError'));
    };
    const check = () => {
      if (video.readyState >= 2 && video.videoWidth > 0) done();
    };
    const events = ['loadeddata', 'playing', 'resize', 'timeupdate'];
    function cleanup() {
      events.forEach((e) => video.removeEventListener(e, check));
      signal.removeEventListener('abort', abort);
    }
    if (signal.aborted) {
      abort();
      return;
    }
    events.forEach((e) => video.addEventListener(e, check));
    signal.addEventListener('abort', abort, { once: true });
    check();
  });
}

// LivePlayer plays device id's live stream in video. onChange({state, transport, message, error})
// is called on every change; state is starting, live, retrying or failed (the relay's own
// vocabulary, video.state.* in the dictionaries), transport webrtc, hls or ''.
export class LivePlayer {
  constructor(video, id, onChange) {
    this.video = video;
    this.id = id;
    this.onChange = onChange;
    this.state = 'starting';
    this.transport = '';
    this.message = '';
    this.error = null;
    this.closed = false;
    this.noWebRTC = false; // WebRTC failed once: this tile stays on HLS
    this.restarts = 0;
    this.attempt = null; // {ac, hls, session} of the running attempt
    this.retryTimer = null;
    this.watchTimer = null;
  }

  set(state, fields = {}) {
    if (this.closed) return;
    this.state = state;
    this.message = fields.message ?? '';
    this.error = fields.error ?? null;
    if (fields.transport !== undefined) this.transport = fields.transport;
    this.onChange?.({ state: this.state, transport: this.transport, message: this.message, error: this.error });
  }

  start() {
    if (this.closed) return;
    this.restarts = 0;
    this.run();
  }

  // close stops the stream for good: the WHEP session is deleted, hls.js destroyed, the element
  // emptied (which also ends its decoder).
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchTimer);
    this.teardown();
  }

  teardown() {
    const a = this.attempt;
    this.attempt = null;
    clearInterval(this.watchTimer);
    this.watchTimer = null;
    if (!a) return;
    a.ac.abort();
    a.hls?.destroy();
    try {
      a.session?.close();
    } catch {
      // the session is gone anyway
    }
    const v = this.video;
    v.pause();
    v.srcObject = null;
    v.removeAttribute('src');
    v.load();
  }

  // retry tears the running attempt down and starts again after a doubling wait, or gives up.
  retry(reason) {
    if (this.closed) return;
    this.teardown();
    clearTimeout(this.retryTimer);
    this.restarts += 1;
    if (this.restarts > MAX_RESTARTS) {
      this.set('failed', { message: reason || t('wall.noPicture'), transport: '' });
      return;
    }
    this.set('retrying', { message: reason || t('video.waiting') });
    const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.restarts - 1));
    this.retryTimer = setTimeout(() => this.run(), wait);
  }

  async run() {
    if (this.closed) return;
    this.teardown();
    const a = { ac: new AbortController(), hls: null, session: null };
    this.attempt = a;
    const { signal } = a.ac;
    if (this.state !== 'retrying') this.set('starting', { message: t('video.starting') });

    let live;
    try {
      live = await get(`/devices/${encodeURIComponent(this.id)}/live`, null, { signal });
    } catch (err) {
      if (signal.aborted || this.closed) return;
      // A network failure may pass; a refusal (video not enabled, no permission, no such
      // device) will not.
      if (err.status === 0) this.retry(describeError(err));
      else this.set('failed', { error: err, transport: '' });
      return;
    }
    if (signal.aborted || this.closed) return;
    if (live?.state === 'failed') {
      // The device could not be told to start; the relay asks it again while someone watches.
      this.set('retrying', { message: t('wall.deviceNotAsked') });
    }

    if (live?.webrtc && !this.noWebRTC) {
      if (await this.playWebRTC(a, live.webrtc)) return;
      if (signal.aborted || this.closed) return;
    }
    if (!live?.hls) {
      this.set('failed', { message: t('video.noStream', { state: live?.state || '—' }), transport: '' });
      return;
    }
    await this.playHLS(a, live.hls);
  }

  // playWebRTC reports whether WebRTC shows frames: the relay's answer within WEBRTC_ANSWER_MS,
  // then a picture within WEBRTC_CONNECT_MS. When it does not, its session is closed (and so
  // deleted at the relay) and this tile uses HLS from now on.
  async playWebRTC(a, url) {
    const whep = await loadWhep();
    if (!whep || a.ac.signal.aborted) {
      this.noWebRTC = true;
      return false;
    }
    // Its own controller: a WebRTC attempt that times out is ended without ending the attempt.
    const rtc = new AbortController();
    const stop = () => rtc.abort();
    a.ac.signal.addEventListener('abort', stop, { once: true });
    const timeout = (ms) => setTimeout(() => rtc.abort(new DOMException('timeout', 'TimeoutError')), ms);
    let timer = timeout(WEBRTC_ANSWER_MS);
    try {
      a.session = await whep.playWHEP(this.video, url, { signal: rtc.signal });
      clearTimeout(timer);
      timer = timeout(WEBRTC_CONNECT_MS);
      this.video.play().catch(() => null);
      await firstFrame(this.video, rtc.signal);
    } catch {
      try {
        a.session?.close();
      } catch {
        // already closed
      }
      a.session = null;
      this.video.srcObject = null;
      this.noWebRTC = true;
      return false;
    } finally {
      clearTimeout(timer);
      a.ac.signal.removeEventListener('abort', stop);
    }
    if (a.ac.signal.aborted) return true;
    // A connection that fails later (the network changed) is started again at once rather than
    // after the watchdog's STALL_MS.
    const pc = a.session?.pc;
    pc?.addEventListener('connectionstatechange', () => {
      if (this.attempt === a && pc.connectionState === 'failed') this.retry(t('wall.stalled'));
    }, { signal: a.ac.signal });
    this.playing(a, 'webrtc');
    return true;
  }

  async playHLS(a, src) {
    const { signal } = a.ac;
    const v = this.video;
    let Hls = null;
    try {
      Hls = await loadHls();
    } catch {
      Hls = null; // native HLS, if the browser has it
    }
    if (signal.aborted) return;
    // hls.js first where Media Source Extensions exist: Chromium's own HLS, where present, does
    // not keep up with low-latency playlists.
    if (Hls?.isSupported()) {
      // The worker would start from a blob: URL, which the server's CSP refuses for scripts.
      const hls = new Hls({ enableWorker: false, lowLatencyMode: true, backBufferLength: 30 });
      a.hls = hls;
      let mediaRecoveries = 0;
      hls.on(Hls.Events.ERROR, (_ev, data) => {
        if (!data?.fatal || signal.aborted) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
          mediaRecoveries += 1;
          hls.recoverMediaError();
          return;
        }
        this.retry(t('video.failed', { reason: data.details || data.type || '' }));
      });
      hls.loadSource(src);
      hls.attachMedia(v);
    } else if (v.canPlayType('application/vnd.apple.mpegurl')) {
      v.src = src;
      v.addEventListener('error', () => {
        if (!signal.aborted) this.retry(t('video.failed', { reason: v.error?.message || '' }));
      }, { signal });
    } else {
      this.set('failed', { message: t('video.unsupported'), transport: '' });
      return;
    }
    v.play().catch(() => null); // muted autoplay is allowed; a refusal shows as no frames
    this.watch(a, 'hls', FIRST_FRAME_MS);
  }

  // playing marks the attempt live and watches that its frames keep coming.
  playing(a, transport) {
    this.restarts = 0;
    this.set('live', { transport });
    this.watch(a, transport, STALL_MS);
  }

  // watch checks once a second that frames advance: the first within firstMs, then with gaps of
  // at most STALL_MS.
  watch(a, transport, firstMs) {
    clearInterval(this.watchTimer);
    let frames = framesOf(this.video);
    let since = performance.now();
    let limit = firstMs;
    this.watchTimer = setInterval(() => {
      if (this.attempt !== a || this.closed) return;
      const v = this.video;
      const n = framesOf(v);
      const now = performance.now();
      // A picture nobody sees (the wall folded, another tile enlarged, the tab in the
      // background) may not be drawn: that is no stall.
      if (document.hidden || !(v.checkVisibility ? v.checkVisibility() : v.offsetParent !== null)) {
        frames = n;
        since = now;
        return;
      }
      if (n !== frames && v.videoWidth > 0) {
        frames = n;
        since = now;
        limit = STALL_MS;
        if (this.state !== 'live' || this.transport !== transport) {
          this.restarts = 0;
          this.set('live', { transport });
        }
        return;
      }
      if (now - since > limit) this.retry(t('wall.stalled'));
    }, WATCH_MS);
  }
}
