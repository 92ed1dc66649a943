// Map markers: devices by kind (recorders carried by officers, vehicle terminals, AIS units),
// coloured by state (online, offline, SOS), with a heading arrow when moving; and AIS vessels,
// enforcement vessels drawn apart from the others, pointing along their heading, with a name.
// Markers are built once and changed in place: positions stream in several times a second.
import { h } from '../dom.js';
import { t } from '../i18n.js';

const SVG = 'http://www.w3.org/2000/svg';

// Glyph paths (24×24, stroked) inside a device marker.
const GLYPHS = {
  recorder: 'M12 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM5 20c0-3.5 3-5.5 7-5.5s7 2 7 5.5',
  vehicle_terminal: 'M4 15l1.6-5A2 2 0 0 1 7.5 8.5h9a2 2 0 0 1 1.9 1.5L20 15v3H4zM7 18v2M17 18v2M4 15h16',
  ais_unit: 'M4 15l2 4h12l2-4zM12 4v11M12 5l5 7h-5',
};

export function glyph(kind, cls = 'dm-glyph') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(SVG, 'path');
  p.setAttribute('d', GLYPHS[kind] || GLYPHS.recorder);
  svg.appendChild(p);
  return svg;
}

// pressable lets the keyboard choose a focused marker with Enter or Space, as a mouse click
// does (Leaflet itself handles Enter only for markers with a popup). The marker's element is
// made anew each time it is added to the map, so this runs on every 'add'.
function pressable(marker, fn) {
  const el = marker.getElement();
  if (!el || el.dataset.pressable) return;
  el.dataset.pressable = 'true';
  el.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      ev.stopPropagation();
      fn();
    }
  });
}

// A device moving faster than this shows its heading.
export const MOVING_KMH = 2;

export function isMoving(p) {
  return Number.isFinite(p?.heading_deg) && Number.isFinite(p?.speed_kmh) && p.speed_kmh >= MOVING_KMH;
}

// deviceState is 'sos', 'offline' or 'online'.
export function deviceState(p, sos) {
  if (sos) return 'sos';
  return p?.online ? 'online' : 'offline';
}

// deviceMarker returns a Leaflet marker for live position p and update(p, flags) to restyle it.
// flags: {sos, alert, selected, label}.
export function deviceMarker(L, p, flags, onSelect) {
  const arrow = h('span', { class: 'dm-arrow', 'aria-hidden': 'true' });
  const body = h('span', { class: 'dm-body' }, glyph(p.kind));
  const rec = h('span', { class: 'dm-rec', 'aria-hidden': 'true' });
  const root = h('span', { class: 'dm-inner' }, arrow, body, rec);
  const icon = L.divIcon({ html: root, className: `dm dm-${p.kind || 'recorder'}`, iconSize: [30, 30], iconAnchor: [15, 15] });
  const marker = L.marker([p.lat, p.lon], { icon, keyboard: true, riseOnHover: true, title: '' });
  let last = null;
  const update = (pos, fl) => {
    const el = marker.getElement();
    const state = deviceState(pos, fl.sos);
    const moving = isMoving(pos);
    if (!el) return; // styled when added to the map (see 'add')
    // The position is also kept on the element, for tests and for anyone reading the DOM.
    el.dataset.lat = String(pos.lat);
    el.dataset.lon = String(pos.lon);
    const key = [state, moving, moving ? Math.round(pos.heading_deg) : 0, Boolean(pos.recording), fl.alert, fl.selected, fl.label].join('|');
    if (key === last) return;
    last = key;
    el.classList.toggle('is-online', state === 'online');
    el.classList.toggle('is-offline', state === 'offline');
    el.classList.toggle('is-sos', state === 'sos');
    el.classList.toggle('is-alert', Boolean(fl.alert) && state !== 'sos');
    el.classList.toggle('is-moving', moving);
    el.classList.toggle('is-recording', Boolean(pos.recording));
    el.classList.toggle('is-selected', Boolean(fl.selected));
    el.dataset.device = pos.device_id;
    el.dataset.state = state;
    arrow.style.transform = moving ? `rotate(${pos.heading_deg}deg)` : '';
    el.setAttribute('role', 'button');
    el.setAttribute('aria-label', fl.label || pos.device_id);
    el.setAttribute('aria-pressed', String(Boolean(fl.selected)));
    el.removeAttribute('title');
  };
  let cur = { p, flags };
  marker.on('add', () => {
    last = null;
    update(cur.p, cur.flags);
    pressable(marker, () => onSelect?.(cur.p.device_id));
  });
  marker.on('click', () => onSelect?.(cur.p.device_id));
  return {
    marker,
    update(pos, fl) {
      cur = { p: pos, flags: fl };
      const ll = marker.getLatLng();
      if (ll.lat !== pos.lat || ll.lng !== pos.lon) marker.setLatLng([pos.lat, pos.lon]);
      update(pos, fl);
    },
  };
}

// hull is a vessel's shape: an arrow pointing up (rotated to the heading), or a dot when the
// heading is unknown; CSS shows one of the two.
export function hull() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'vm-hull');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const arrow = document.createElementNS(SVG, 'path');
  arrow.setAttribute('class', 'vm-arrow');
  arrow.setAttribute('d', 'M12 1.5 19.5 21 12 16.5 4.5 21z');
  const dot = document.createElementNS(SVG, 'circle');
  dot.setAttribute('class', 'vm-dot');
  dot.setAttribute('cx', '12');
  dot.setAttribute('cy', '12');
  dot.setAttribute('r', '7');
  svg.append(arrow, dot);
  return svg;
}

// vesselHeading is the direction a vessel's marker points: its heading, else its course.
export function vesselHeading(v) {
  if (Number.isFinite(v.heading_deg)) return v.heading_deg;
  if (Number.isFinite(v.course_deg) && Number.isFinite(v.speed_kn) && v.speed_kn > 0.5) return v.course_deg;
  return null;
}

// vesselName is what the map calls a vessel: its name, else its call sign, else its MMSI.
export function vesselName(v) {
  return (v.name || '').trim() || (v.callsign || '').trim() || v.mmsi;
}

// vesselMarker returns a marker for AIS vessel v and update(v, flags) to restyle it. flags:
// {state: 'online'|'offline'|'sos' of the enforcement vessel's own AIS unit, selected, label}.
export function vesselMarker(L, v, flags, onSelect) {
  const shape = hull();
  const name = h('span', { class: 'vm-name' });
  const root = h('span', { class: 'vm-inner' }, shape, name);
  const big = v.enforcement;
  const icon = L.divIcon({
    html: root,
    className: `vm ${big ? 'vm-enforcement' : 'vm-other'}`,
    iconSize: big ? [26, 26] : [18, 18],
    iconAnchor: big ? [13, 13] : [9, 9],
  });
  const marker = L.marker([v.lat, v.lon], { icon, keyboard: Boolean(big), riseOnHover: true, zIndexOffset: big ? 500 : -500 });
  let cur = { v, flags };
  const update = () => {
    const el = marker.getElement();
    if (!el) return;
    const { v: vv, flags: fl } = cur;
    const hd = vesselHeading(vv);
    shape.style.transform = hd === null ? '' : `rotate(${hd}deg)`;
    el.classList.toggle('has-heading', hd !== null);
    el.classList.toggle('is-sos', fl.state === 'sos');
    el.classList.toggle('is-offline', fl.state === 'offline');
    el.classList.toggle('is-selected', Boolean(fl.selected));
    el.dataset.mmsi = vv.mmsi;
    if (vv.enforcement) {
      el.setAttribute('role', 'button');
      el.setAttribute('aria-label', fl.label || vesselName(vv));
    }
    name.textContent = vesselName(vv);
    el.removeAttribute('title');
  };
  marker.on('add', () => {
    update();
    if (cur.v.enforcement) pressable(marker, () => onSelect?.(cur.v));
  });
  marker.on('click', () => onSelect?.(cur.v));
  return {
    marker,
    update(nv, fl) {
      cur = { v: nv, flags: fl };
      const ll = marker.getLatLng();
      if (ll.lat !== nv.lat || ll.lng !== nv.lon) marker.setLatLng([nv.lat, nv.lon]);
      update();
    },
  };
}

// legend is the map key: shapes by kind, colours by state.
export function legend() {
  const row = (sample, text) => h('li', {}, sample, h('span', { text }));
  const dev = (kind, state) => h('span', { class: `legend-sample dm dm-${kind} is-${state}`, 'aria-hidden': 'true' },
    h('span', { class: 'dm-inner' }, h('span', { class: 'dm-body' }, glyph(kind))));
  const ves = (cls) => h('span', { class: `legend-sample vm ${cls} has-heading`, 'aria-hidden': 'true' },
    h('span', { class: 'vm-inner' }, hull()));
  const dot = (state) => h('span', { class: `legend-dot is-${state}`, 'aria-hidden': 'true' });
  return h('div', { class: 'map-legend', id: 'map-legend' },
    h('ul', {},
      row(dev('recorder', 'online'), t('kind.recorder')),
      row(dev('vehicle_terminal', 'online'), t('kind.vehicle_terminal')),
      row(ves('vm-enforcement'), t('map.legendEnforcementVessel')),
      row(ves('vm-other'), t('map.legendOtherVessel'))),
    h('ul', {},
      row(dot('online'), t('map.online')),
      row(dot('offline'), t('map.offline')),
      row(dot('sos'), t('map.sos')),
      row(h('span', { class: 'legend-arrow', 'aria-hidden': 'true' }), t('map.legendHeading'))));
}
