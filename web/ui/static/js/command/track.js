// Track playback: a device's positions over the last hours (GET /api/v1/devices/{id}/track)
// drawn as a line, with a bar under the map to play it: play/pause, a slider over the time span
// (keyboard: arrows step, Home/End jump), the playback speed, and a marker moving along the line.
import { h, clear } from '../dom.js';
import { t } from '../i18n.js';
import { get } from '../api.js';
import { dateTime, timeOfDay } from '../format.js';
import { describeError } from '../widgets.js';

export const PRESETS = [1, 8, 24]; // hours
const SPEEDS = [1, 10, 30, 60, 120, 300, 600, 1800];

// pointAt interpolates the track at time ms (points sorted by time, each with .ms).
export function pointAt(points, ms) {
  if (!points.length) return null;
  if (ms <= points[0].ms) return { ...points[0], i: 0 };
  const last = points[points.length - 1];
  if (ms >= last.ms) return { ...last, i: points.length - 1 };
  let lo = 0;
  let hi = points.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid].ms <= ms) lo = mid;
    else hi = mid;
  }
  const a = points[lo];
  const b = points[hi];
  const f = b.ms === a.ms ? 0 : (ms - a.ms) / (b.ms - a.ms);
  return {
    ms,
    lat: a.lat + (b.lat - a.lat) * f,
    lon: a.lon + (b.lon - a.lon) * f,
    speed_kmh: a.speed_kmh,
    heading_deg: Number.isFinite(a.heading_deg) ? a.heading_deg : bearing(a, b),
    i: lo,
  };
}

// bearing is the initial course from a to b in degrees.
export function bearing(a, b) {
  const r = Math.PI / 180;
  const y = Math.sin((b.lon - a.lon) * r) * Math.cos(b.lat * r);
  const x = Math.cos(a.lat * r) * Math.sin(b.lat * r) - Math.sin(a.lat * r) * Math.cos(b.lat * r) * Math.cos((b.lon - a.lon) * r);
  return ((Math.atan2(y, x) / r) + 360) % 360;
}

// defaultSpeed plays a span in about half a minute.
export function defaultSpeed(spanMs) {
  const want = spanMs / 30000;
  return SPEEDS.find((s) => s >= want) || SPEEDS[SPEEDS.length - 1];
}

// TrackPlayer draws one track at a time on map. bar is the element under the map it fills.
export class TrackPlayer {
  constructor(L, map, bar, signal) {
    this.L = L;
    this.map = map;
    this.bar = bar;
    this.signal = signal;
    this.layer = L.layerGroup();
    this.points = [];
    this.playing = false;
    this.raf = 0;
    this.speed = 60;
    this.cursor = 0;
    this.req = 0;
    signal.addEventListener('abort', () => this.close(), { once: true });
  }

  // load fetches the track of device (id, label) over the last hours and shows it.
  async load(device, hours) {
    this.pause();
    const req = ++this.req;
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600 * 1000);
    this.bar.hidden = false;
    clear(this.bar, h('p', { class: 'muted small', role: 'status', text: t('track.loading', { device: device.label }) }));
    let data;
    try {
      data = await get(`/devices/${encodeURIComponent(device.id)}/track`, {
        from: from.toISOString(), to: to.toISOString(),
      }, { signal: this.signal });
    } catch (err) {
      if (err.name === 'AbortError' || req !== this.req) return;
      this.showMessage(describeError(err), 'error');
      return;
    }
    if (req !== this.req) return;
    const points = (data?.points || [])
      .map((p) => ({ ...p, ms: Date.parse(p.ts) }))
      .filter((p) => Number.isFinite(p.ms) && Number.isFinite(p.lat) && Number.isFinite(p.lon))
      .sort((a, b) => a.ms - b.ms);
    this.layer.clearLayers();
    this.device = device;
    this.hours = hours;
    this.points = points;
    if (!points.length) {
      this.showMessage(t('track.empty', { device: device.label, hours }), 'info');
      return;
    }
    const line = points.map((p) => [p.lat, p.lon]);
    this.L.polyline(line, { color: '#1d4ed8', weight: 4, opacity: 0.8, className: 'track-line', interactive: false }).addTo(this.layer);
    this.L.circleMarker(line[0], { radius: 5, color: '#fff', weight: 2, fillColor: '#067647', fillOpacity: 1, interactive: false }).addTo(this.layer);
    this.L.circleMarker(line[line.length - 1], { radius: 5, color: '#fff', weight: 2, fillColor: '#b42318', fillOpacity: 1, interactive: false }).addTo(this.layer);
    this.arrow = h('span', { class: 'track-arrow' });
    const icon = this.L.divIcon({ html: h('span', { class: 'track-cursor-inner' }, this.arrow), className: 'track-cursor', iconSize: [22, 22], iconAnchor: [11, 11] });
    this.cursorMarker = this.L.marker(line[0], { icon, interactive: false, keyboard: false, zIndexOffset: 1000 }).addTo(this.layer);
    this.layer.addTo(this.map);
    if (line.length > 1) this.map.fitBounds(this.L.latLngBounds(line), { padding: [40, 40], maxZoom: 16 });
    else this.map.setView(line[0], Math.max(this.map.getZoom(), 14));
    this.t0 = points[0].ms;
    this.t1 = points[points.length - 1].ms;
    this.speed = defaultSpeed(this.t1 - this.t0);
    this.renderBar();
    this.seek(this.t0);
  }

  showMessage(text, kind) {
    this.layer.clearLayers();
    this.points = [];
    clear(this.bar, h('div', { class: 'track-head' },
      h('p', { class: `alert ${kind} small`, role: kind === 'error' ? 'alert' : 'status', id: 'track-message', text }),
      h('button', { type: 'button', class: 'btn small', id: 'track-close', text: t('common.close'), onclick: () => this.close() })));
  }

  renderBar() {
    const p = this.points;
    this.playBtn = h('button', {
      type: 'button', class: 'btn small primary', id: 'track-play', 'aria-pressed': 'false',
      onclick: () => (this.playing ? this.pause() : this.play()),
    });
    this.slider = h('input', {
      type: 'range', id: 'track-slider', class: 'track-slider', min: 0, max: Math.max(1, Math.round((this.t1 - this.t0) / 1000)), step: 1, value: 0,
      'aria-label': t('track.position'),
      oninput: (ev) => {
        this.pause();
        this.seek(this.t0 + Number(ev.target.value) * 1000);
      },
    });
    const speed = h('select', {
      id: 'track-speed',
      onchange: (ev) => {
        this.speed = Number(ev.target.value);
      },
    }, SPEEDS.map((s) => h('option', { value: s, selected: s === this.speed, text: `${s}×` })));
    speed.value = String(this.speed);
    this.clock = h('span', { class: 'track-clock mono', id: 'track-clock', 'aria-live': 'off' });
    clear(this.bar,
      h('div', { class: 'track-head' },
        h('strong', { id: 'track-title', text: t('track.title', { device: this.device.label }) }),
        h('span', { class: 'muted small', id: 'track-summary', text: t('track.summary', { hours: this.hours, n: p.length, from: dateTime(p[0].ts), to: timeOfDay(p[p.length - 1].ts) }) }),
        h('button', { type: 'button', class: 'btn small ghost', id: 'track-close', text: t('common.close'), onclick: () => this.close() })),
      h('div', { class: 'track-controls' },
        this.playBtn,
        this.slider,
        this.clock,
        h('label', { class: 'visually-hidden', for: 'track-speed', text: t('track.speed') }),
        speed));
    this.setPlayLabel();
  }

  setPlayLabel() {
    if (!this.playBtn) return;
    clear(this.playBtn, h('span', { 'aria-hidden': 'true', text: this.playing ? '❚❚' : '▶' }), ' ', t(this.playing ? 'track.pause' : 'track.play'));
    this.playBtn.setAttribute('aria-pressed', String(this.playing));
  }

  seek(ms) {
    this.cursor = Math.min(Math.max(ms, this.t0), this.t1);
    const at = pointAt(this.points, this.cursor);
    if (!at) return;
    this.cursorMarker?.setLatLng([at.lat, at.lon]);
    if (this.arrow) this.arrow.style.transform = Number.isFinite(at.heading_deg) ? `rotate(${at.heading_deg}deg)` : '';
    const secs = Math.round((this.cursor - this.t0) / 1000);
    if (this.slider && Number(this.slider.value) !== secs) this.slider.value = String(secs);
    const when = new Date(this.cursor).toISOString();
    const speed = Number.isFinite(at.speed_kmh) ? t('track.kmh', { n: Math.round(at.speed_kmh) }) : '';
    if (this.clock) this.clock.textContent = [`${dateTime(when).slice(5, 10)} ${timeOfDay(when)}`, speed].filter(Boolean).join(' · ');
    this.slider?.setAttribute('aria-valuetext', `${dateTime(when)} ${speed}`.trim());
  }

  play() {
    if (!this.points.length) return;
    if (this.cursor >= this.t1) this.seek(this.t0);
    this.playing = true;
    this.setPlayLabel();
    let prev = performance.now();
    const step = (now) => {
      if (!this.playing) return;
      const dt = now - prev;
      prev = now;
      this.seek(this.cursor + dt * this.speed);
      if (this.cursor >= this.t1) {
        this.pause();
        return;
      }
      this.raf = requestAnimationFrame(step);
    };
    this.raf = requestAnimationFrame(step);
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.setPlayLabel();
  }

  close() {
    this.pause();
    this.req += 1;
    this.layer.clearLayers();
    this.layer.remove();
    this.points = [];
    this.cursorMarker = null;
    this.playBtn = null;
    this.slider = null;
    this.bar.hidden = true;
    clear(this.bar);
  }
}
