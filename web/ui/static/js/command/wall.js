// The command centre's video wall: live video of several recorders and vehicle terminals at
// once, beside the map, so that panning and zooming leave the pictures alone. Tiles are laid out
// 1, 2×2 or 3×3 by their number, up to MAX_TILES (each is a decoder and a stream through the
// relay); one tile can be maximised over the map, and the wall folded down to its title bar.
//
// The tiles on the wall (not their pictures) are kept in sessionStorage under the signed-in
// user, so that the wall comes back as it was after a language switch or a visit to another page
// in the same tab, and another user signing in at that tab does not inherit it.
import { h, clear, uid } from '../dom.js';
import { t } from '../i18n.js';
import { toast, errorBox } from '../widgets.js';
import { LivePlayer } from './video.js';

export const MAX_TILES = 9;
const STORE_KEY = 'fleet.wall';
const STATES = ['starting', 'live', 'retrying', 'failed'];

// The tiles' own glyphs (24×24, stroke currentColor), drawn like icons.js's: each button has
// an aria-label, so they are aria-hidden.
const GLYPHS = {
  muted: 'M4 9h4l5-4v14l-5-4H4zM16 9l5 6M21 9l-5 6',
  sound: 'M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M19 6a8 8 0 0 1 0 12',
  maximize: 'M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5',
  restore: 'M9 4v5H4M20 9h-5V4M15 20v-5h5M4 15h5v5',
  close: 'M6 6l12 12M18 6L6 18',
};

function glyph(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', GLYPHS[name]);
  svg.appendChild(p);
  return svg;
}

function columns(n) {
  if (n <= 1) return 1;
  if (n <= 4) return 2;
  return 3;
}

// VideoWall is the wall's panel (el); host is the element whose map gives way to a maximised
// tile, owner the signed-in user's id.
export class VideoWall {
  constructor({ host, owner } = {}) {
    this.host = host || null;
    this.key = `${STORE_KEY}:${owner || ''}`;
    this.tiles = new Map(); // device id → tile
    this.maxed = null; // device id of the maximised tile
    this.collapsed = false;

    this.count = h('span', { class: 'count', id: 'wall-count' });
    this.status = h('p', { class: 'wall-status small', id: 'wall-status', role: 'status' });
    this.grid = h('div', { class: 'wall-grid', id: 'wall-grid', role: 'list', 'aria-labelledby': 'wall-title' });
    this.toggle = h('button', {
      type: 'button', class: 'btn small', id: 'wall-toggle', 'aria-controls': 'wall-grid', 'aria-expanded': 'true',
      onclick: () => this.setCollapsed(!this.collapsed),
    });
    this.closeAllBtn = h('button', {
      type: 'button', class: 'btn small', id: 'wall-close-all', text: t('wall.closeAll'),
      onclick: () => this.closeAll(),
    });
    this.el = h('section', { class: 'video-wall', id: 'video-wall', 'aria-labelledby': 'wall-title', hidden: true },
      h('header', { class: 'wall-head' },
        h('h2', { id: 'wall-title' }, h('span', { text: t('wall.title') }), this.count),
        this.status,
        h('div', { class: 'wall-tools' }, this.toggle, this.closeAllBtn)),
      this.grid);
    this.el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.maxed) {
        ev.stopPropagation();
        const id = this.maxed;
        this.maximize(null);
        this.tiles.get(id)?.maxBtn.focus();
      }
    });
    try {
      this.collapsed = sessionStorage.getItem(`${this.key}.collapsed`) === 'true';
    } catch {
      this.collapsed = false;
    }
    this.layout();
  }

  has(id) {
    return this.tiles.has(id);
  }

  // add puts device {id, label, kind, holder, unit} on the wall and starts its picture; a
  // device already there is shown and focused. It answers added, present or full.
  add(device, { quiet = false } = {}) {
    const present = this.tiles.get(device.id);
    if (present) {
      this.setCollapsed(false);
      present.el.scrollIntoView({ block: 'nearest' });
      present.closeBtn.focus();
      this.say(t('wall.present', { device: present.device.label }));
      return 'present';
    }
    if (this.tiles.size >= MAX_TILES) {
      const msg = t('wall.full', { n: MAX_TILES });
      this.say(msg);
      toast(msg, 'error');
      return 'full';
    }
    const tile = this.tile({ ...device });
    this.tiles.set(device.id, tile);
    this.grid.appendChild(tile.el);
    if (this.maxed) this.maximize(null);
    if (!quiet) this.setCollapsed(false); // a restored wall stays as it was left
    this.layout();
    this.save();
    tile.player.start();
    if (!quiet) this.say(t('wall.added', { device: device.label, n: this.tiles.size, max: MAX_TILES }));
    return 'added';
  }

  // update refreshes what a tile says of its device (a holder found later, a serial loaded).
  update(device) {
    const tile = this.tiles.get(device.id);
    if (!tile) return;
    Object.assign(tile.device, device);
    this.renderLabel(tile);
    this.save();
  }

  remove(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    const order = [...this.tiles.keys()];
    const next = order[order.indexOf(id) + 1] || order[order.indexOf(id) - 1];
    tile.player.close();
    tile.el.remove();
    this.tiles.delete(id);
    if (this.maxed === id) this.maxed = null;
    this.layout();
    this.save();
    this.say(t('wall.removed', { device: tile.device.label }));
    // The focus goes to a neighbour, not to the page's top.
    const to = this.tiles.get(next);
    if (to) to.closeBtn.focus();
  }

  closeAll() {
    for (const tile of this.tiles.values()) {
      tile.player.close();
      tile.el.remove();
    }
    this.tiles.clear();
    this.maxed = null;
    this.layout();
    this.save();
  }

  // destroy stops every picture and keeps the list, for the next visit to the page.
  destroy() {
    for (const tile of this.tiles.values()) tile.player.close();
  }

  // restore puts back the tiles kept in this tab.
  restore() {
    let list = [];
    try {
      list = JSON.parse(sessionStorage.getItem(this.key) || '[]');
    } catch {
      list = [];
    }
    if (!Array.isArray(list)) return;
    list.slice(0, MAX_TILES).forEach((d) => {
      if (d && typeof d.id === 'string' && d.id) this.add({ id: d.id, label: String(d.label || d.id), kind: d.kind, holder: d.holder, unit: d.unit }, { quiet: true });
    });
  }

  save() {
    try {
      sessionStorage.setItem(this.key, JSON.stringify([...this.tiles.values()].map((x) => x.device)));
      sessionStorage.setItem(`${this.key}.collapsed`, String(this.collapsed));
    } catch {
      // not kept across pages
    }
  }

  say(text) {
    this.status.textContent = text;
  }

  setCollapsed(on) {
    this.collapsed = Boolean(on);
    if (this.collapsed && this.maxed) this.maximize(null);
    this.layout();
    this.save();
  }

  maximize(id) {
    const prev = this.maxed;
    this.maxed = id && this.tiles.has(id) ? id : null;
    for (const [tid, tile] of this.tiles) {
      const on = tid === this.maxed;
      tile.el.classList.toggle('is-max', on);
      tile.maxBtn.setAttribute('aria-pressed', String(on));
      tile.maxBtn.setAttribute('aria-label', t(on ? 'wall.restore' : 'wall.maximize', { device: tile.device.label }));
      tile.maxBtn.title = t(on ? 'wall.restoreShort' : 'wall.maximizeShort');
      clear(tile.maxBtn, glyph(on ? 'restore' : 'maximize'));
    }
    if (prev !== this.maxed) this.layout();
  }

  layout() {
    const n = this.tiles.size;
    this.el.hidden = n === 0;
    this.el.classList.toggle('is-collapsed', this.collapsed);
    this.el.classList.toggle('has-max', Boolean(this.maxed));
    this.host?.classList.toggle('wall-max', Boolean(this.maxed) && !this.collapsed && n > 0);
    this.grid.hidden = this.collapsed;
    this.grid.dataset.count = String(n);
    this.grid.style.setProperty('--wall-cols', String(this.maxed ? 1 : columns(n)));
    this.count.textContent = `${n}/${MAX_TILES}`;
    this.count.title = t('wall.countHint', { n, max: MAX_TILES });
    this.toggle.setAttribute('aria-expanded', String(!this.collapsed));
    this.toggle.textContent = t(this.collapsed ? 'wall.expand' : 'wall.collapse');
  }

  renderLabel(tile) {
    const d = tile.device;
    const extra = [d.kind ? t(`kind.${d.kind}`) : '', d.holder, d.unit].filter(Boolean).join(' · ');
    clear(tile.title, h('strong', { class: 'mono', text: d.label }), extra ? h('span', { class: 'wall-tile-sub', text: extra }) : null);
    tile.title.title = [d.label, extra].filter(Boolean).join(' · '); // the whole line, where the tile cuts it
    tile.video.setAttribute('aria-label', t('video.player', { device: d.label }));
    tile.closeBtn.setAttribute('aria-label', t('wall.close', { device: d.label }));
    tile.soundBtn.setAttribute('aria-label', t(tile.video.muted ? 'wall.unmute' : 'wall.mute', { device: d.label }));
    tile.maxBtn.setAttribute('aria-label', t(this.maxed === d.id ? 'wall.restore' : 'wall.maximize', { device: d.label }));
  }

  tile(device) {
    const titleId = uid('wall-tile');
    const video = h('video', { class: 'wall-video', muted: true, autoplay: true, playsinline: true, disablepictureinpicture: true });
    video.muted = true; // autoplay needs it; the sound button unmutes
    const stateEl = h('span', { class: 'wall-state', dataset: { state: 'starting' }, text: t('video.state.starting') });
    const transportEl = h('span', { class: 'wall-transport', hidden: true });
    const msg = h('div', { class: 'wall-msg', role: 'status' });
    const title = h('span', { class: 'wall-tile-title', id: titleId });
    const tile = { device, video, title, msg };
    tile.soundBtn = h('button', {
      type: 'button', class: 'icon-btn wall-btn wall-sound', 'aria-pressed': 'false', title: t('wall.soundShort'),
      onclick: () => {
        video.muted = !video.muted;
        tile.soundBtn.setAttribute('aria-pressed', String(!video.muted));
        clear(tile.soundBtn, glyph(video.muted ? 'muted' : 'sound'));
        this.renderLabel(tile);
      },
    }, glyph('muted'));
    tile.maxBtn = h('button', {
      type: 'button', class: 'icon-btn wall-btn wall-max', 'aria-pressed': 'false', title: t('wall.maximizeShort'),
      onclick: () => this.maximize(this.maxed === device.id ? null : device.id),
    }, glyph('maximize'));
    tile.closeBtn = h('button', {
      type: 'button', class: 'icon-btn wall-btn wall-close', title: t('common.close'),
      onclick: () => this.remove(device.id),
    }, glyph('close'));
    tile.el = h('article', {
      class: 'wall-tile', role: 'listitem', 'aria-labelledby': titleId,
      dataset: { device: device.id, state: 'starting', transport: '' },
    },
    h('header', { class: 'wall-tile-head' }, title, stateEl, transportEl,
      h('div', { class: 'wall-tile-tools' }, tile.soundBtn, tile.maxBtn, tile.closeBtn)),
    h('div', { class: 'wall-video-box', ondblclick: () => this.maximize(this.maxed === device.id ? null : device.id) }, video, msg));
    this.renderLabel(tile);

    tile.player = new LivePlayer(video, device.id, ({ state, transport, message, error }) => {
      const s = STATES.includes(state) ? state : 'starting';
      tile.el.dataset.state = s;
      tile.el.dataset.transport = transport || '';
      stateEl.dataset.state = s;
      stateEl.textContent = t(`video.state.${s}`);
      stateEl.title = stateEl.textContent; // a narrow tile shows only its colour
      transportEl.hidden = !transport;
      transportEl.textContent = transport === 'webrtc' ? 'WebRTC' : (transport === 'hls' ? 'HLS' : '');
      if (s === 'live') {
        clear(msg);
        msg.hidden = true;
        return;
      }
      msg.hidden = false;
      const retry = s === 'failed' ? h('button', {
        type: 'button', class: 'btn small wall-retry', text: t('wall.retry'),
        onclick: () => tile.player.start(),
      }) : null;
      if (error) clear(msg, errorBox(error), retry);
      else clear(msg, h('p', { text: message || t(`video.state.${s}`) }), retry);
    });
    return tile;
  }
}
