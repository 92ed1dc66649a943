// Live video of a recorder or a vehicle terminal: GET /api/v1/devices/{id}/live gives the relay's
// playback URLs ({hls, webrtc, state}); the HLS stream plays in a <video>, natively where the
// browser can (Safari, some Chromium builds), else through the vendored hls.js, loaded only now.
import { h, clear } from '../dom.js';
import { t, has } from '../i18n.js';
import { get } from '../api.js';
import { openDialog, errorBox } from '../widgets.js';

export const VIDEO_KINDS = ['recorder', 'vehicle_terminal'];
const MAX_RETRIES = 15;
const RETRY_MS = 2000;

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

// openLiveVideo shows device {id, label}'s live stream in a dialog; closing it stops the stream.
export function openLiveVideo(device) {
  const video = h('video', {
    id: 'live-video', class: 'live-video', controls: true, muted: true, autoplay: true, playsinline: true,
    'aria-label': t('video.player', { device: device.label }),
  });
  video.muted = true; // autoplay needs it; the operator can unmute
  const status = h('p', { class: 'muted small', id: 'live-video-status', role: 'status', text: t('video.starting') });
  let hls = null;
  let closed = false;
  openDialog({
    title: t('video.title', { device: device.label }),
    wide: true,
    attrs: { id: 'video-dialog' },
    body: [h('div', { class: 'video-box' }, video), status],
    onClose: () => {
      closed = true;
      hls?.destroy();
      video.removeAttribute('src');
      video.load();
    },
  });

  const fail = (err) => {
    if (closed) return;
    clear(status, errorBox(err));
  };

  (async () => {
    const live = await get(`/devices/${encodeURIComponent(device.id)}/live`);
    if (closed) return;
    const state = live?.state || '';
    const stateText = state && has(`video.state.${state}`) ? t(`video.state.${state}`) : state;
    if (!live?.hls) {
      status.textContent = t('video.noStream', { state: stateText || '—' });
      return;
    }
    status.textContent = stateText ? t('video.stateLine', { state: stateText }) : t('video.starting');
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = live.hls;
    } else {
      const Hls = await loadHls();
      if (closed) return;
      if (!Hls.isSupported()) {
        status.textContent = t('video.unsupported');
        return;
      }
      // The worker would start from a blob: URL, which the server's CSP refuses for scripts.
      hls = new Hls({ enableWorker: false, lowLatencyMode: true, backBufferLength: 30 });
      // A stream the relay is still starting answers errors for a while: wait and load again.
      let retries = 0;
      hls.on(Hls.Events.ERROR, (_ev, data) => {
        if (!data?.fatal || closed || !hls) return;
        if (retries < MAX_RETRIES && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
          retries += 1;
          status.textContent = t('video.waiting');
          setTimeout(() => hls?.loadSource(live.hls), RETRY_MS);
          return;
        }
        if (retries < MAX_RETRIES && data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          retries += 1;
          hls.recoverMediaError();
          return;
        }
        status.textContent = t('video.failed', { reason: data.details || data.type || '' });
        hls.destroy();
        hls = null;
      });
      hls.loadSource(live.hls);
      hls.attachMedia(video);
    }
    video.addEventListener('error', () => {
      if (!closed && !hls) status.textContent = t('video.failed', { reason: video.error?.message || '' });
    });
    video.addEventListener('playing', () => {
      status.textContent = t('video.playing');
    }, { once: true });
    video.play().catch(() => {
      // autoplay refused: the controls are there
    });
  })().catch(fail);
}
