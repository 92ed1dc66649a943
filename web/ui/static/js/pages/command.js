// Command centre (指挥中心): a live map of officers (their recorders), enforcement vehicles
// (vehicle terminals) and vessels (AIS), the alerts panel with SOS first, track playback and
// the video wall (command/wall.js). The map works with no tile server: a plain background with a
// graticule and the units' names; tiles are added when the server (or this browser) names a tile
// source.
//
// Data: GET /api/v1/live/positions for the picture, then the live feed (command/live.js) for
// changes; GET /api/v1/vessels?bbox= for the vessels in view, again after the map moves;
// GET /api/v1/alerts for the panel (command/alerts.js).
import { h, clear, debounce, field } from '../dom.js';
import { t } from '../i18n.js';
import { get, all, items } from '../api.js';
import { dateTime, timeOfDay } from '../format.js';
import { openDialog, toast, describeError, errorBox, badge } from '../widgets.js';
import { icon } from '../icons.js';
import { devices as deviceCache, officers as officerCache } from '../names.js';
import {
  loadLeaflet, mapConfig, graticuleLayer, tileLayer, zoomTexts, localTiles, setLocalTiles, validTileURL,
} from '../command/basemap.js';
import { LiveFeed } from '../command/live.js';
import { deviceMarker, vesselMarker, legend, deviceState, vesselName, vesselHeading } from '../command/markers.js';
import { AlertsPanel } from '../command/alerts.js';
import { TrackPlayer, PRESETS } from '../command/track.js';
import { VIDEO_KINDS } from '../command/video.js';
import { VideoWall } from '../command/wall.js';

// Mainland China, when there is nothing to show yet.
const DEFAULT_VIEW = { center: [32.5, 110], zoom: 5 };
// Markers kept on the map at once; past it the page asks to zoom in.
const MAX_MARKERS = 3000;
const LAYERS_KEY = 'fleet.map.layers';
const LAYER_IDS = ['recorder', 'vehicle_terminal', 'vessels', 'other_vessels', 'grid', 'units'];
const HOLDER_TTL = 5 * 60 * 1000;
const VESSEL_REFRESH_MS = 20000;

function savedLayers() {
  const on = Object.fromEntries(LAYER_IDS.map((id) => [id, true]));
  try {
    const v = JSON.parse(localStorage.getItem(LAYERS_KEY) || 'null');
    if (v && typeof v === 'object') LAYER_IDS.forEach((id) => { if (typeof v[id] === 'boolean') on[id] = v[id]; });
  } catch {
    // defaults
  }
  return on;
}

function hasFix(p) {
  return Number.isFinite(p?.lat) && Number.isFinite(p?.lon) && Math.abs(p.lat) <= 90 && Math.abs(p.lon) <= 180;
}

function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : '';
}

export default async function render(root, ctx) {
  const { signal } = ctx;
  const layers = savedLayers();

  // ---- the page's frame ----
  const mapEl = h('div', { id: 'command-map', class: 'command-map', role: 'region', 'aria-label': t('map.label') });
  const sosBanner = h('div', { class: 'sos-banner', id: 'sos-banner', hidden: true });
  const notice = h('div', { class: 'map-notice', id: 'map-notice', hidden: true, role: 'status' });
  const trackBar = h('div', { class: 'track-bar', id: 'track-bar', hidden: true, role: 'group', 'aria-label': t('track.group') });
  const liveStatus = h('span', { class: 'live-status', id: 'live-status', role: 'status', dataset: { state: 'off' } });
  const counts = h('span', { class: 'map-counts', id: 'map-counts' });
  const devicePanel = h('section', { class: 'cmd-panel device-panel', id: 'device-panel', 'aria-labelledby': 'device-title' });
  const side = h('aside', { class: 'cmd-side', 'aria-label': t('command.side') });

  const search = h('input', { type: 'search', id: 'map-search', placeholder: t('map.searchHint'), 'aria-label': t('map.search'), autocomplete: 'off' });
  const searchForm = h('form', {
    class: 'map-search', role: 'search',
    onsubmit: (ev) => {
      ev.preventDefault();
      findDevice(search.value.trim());
    },
  }, search, h('button', { type: 'submit', class: 'btn', text: t('map.find') }));

  const layerBoxes = LAYER_IDS.map((id) => {
    const box = h('input', { type: 'checkbox', id: `layer-${id}`, checked: layers[id] });
    box.addEventListener('change', () => {
      layers[id] = box.checked;
      try {
        localStorage.setItem(LAYERS_KEY, JSON.stringify(layers));
      } catch {
        // not remembered
      }
      applyLayers();
    });
    return h('div', { class: 'field check' }, box, h('label', { for: box.id, text: t(`map.layer.${id}`) }));
  });
  const layerMenu = h('details', { class: 'layer-menu', id: 'layer-menu' },
    h('summary', { class: 'btn' }, icon('layers'), h('span', { text: t('map.layers') })),
    h('div', { class: 'layer-menu-body', role: 'group', 'aria-label': t('map.layers') }, layerBoxes,
      h('button', {
        type: 'button', class: 'btn small', id: 'map-basemap', text: t('map.basemap'),
        onclick: () => {
          layerMenu.open = false;
          basemapDialog();
        },
      })));
  layerMenu.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && layerMenu.open) {
      layerMenu.open = false;
      layerMenu.querySelector('summary').focus();
    }
  });

  const toolbar = h('div', { class: 'toolbar cmd-toolbar' },
    h('div', { class: 'toolbar-left' }, searchForm, layerMenu),
    h('div', { class: 'toolbar-right' }, counts, liveStatus));

  const cmdMain = h('section', { class: 'cmd-main', 'aria-labelledby': 'page-title' }, toolbar, sosBanner,
    h('div', { class: 'cmd-map-wrap' }, mapEl, notice), trackBar);
  // The wall lives outside the map, so that panning and zooming leave its pictures alone.
  const wall = new VideoWall({ host: cmdMain, owner: ctx.me?.user?.id });
  cmdMain.appendChild(wall.el);
  signal.addEventListener('abort', () => wall.destroy(), { once: true });
  clear(root, h('div', { class: 'command', id: 'command' }, cmdMain, side));
  wall.restore();

  // ---- Leaflet and the base map ----
  let L;
  let cfg;
  try {
    [L, cfg] = await Promise.all([loadLeaflet(), mapConfig(signal)]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(mapEl, errorBox(err));
    return;
  }
  if (signal.aborted) return;
  await ctx.units.load().catch(() => null); // unit names; the map works without them
  if (signal.aborted) return;

  const map = L.map(mapEl, {
    center: cfg.center || DEFAULT_VIEW.center,
    zoom: cfg.zoom ?? DEFAULT_VIEW.zoom,
    minZoom: 3,
    maxZoom: cfg.maxZoom,
    zoomControl: false,
    worldCopyJump: true,
    keyboard: true,
  });
  L.control.zoom({ position: 'topleft', ...zoomTexts() }).addTo(map);
  L.control.scale({ imperial: false, position: 'bottomright' }).addTo(map);
  // Leaflet's own prefix links to its web site; a plain name keeps the credit with no link out.
  map.attributionControl.setPrefix('Leaflet');
  map.createPane('unitLabels').style.zIndex = '450';
  const Legend = L.Control.extend({
    options: { position: 'bottomleft' },
    onAdd() {
      const box = h('details', { class: 'legend-box', open: true },
        h('summary', { text: t('map.legend') }), legend());
      L.DomEvent.disableClickPropagation(box);
      return box;
    },
  });
  new Legend().addTo(map);
  const Fit = L.Control.extend({
    options: { position: 'topleft' },
    onAdd() {
      const bar = h('div', { class: 'leaflet-bar map-fit' },
        h('button', { type: 'button', id: 'map-fit', title: t('map.fitAll'), 'aria-label': t('map.fitAll'), onclick: () => fitAll(true) }, icon('fit')));
      L.DomEvent.disableClickPropagation(bar);
      return bar;
    },
  });
  new Fit().addTo(map);
  const grid = graticuleLayer(L);
  let tiles = null;
  const setTiles = (c) => {
    tiles?.remove();
    tiles = tileLayer(L, c, () => showNotice(t('map.tilesFailing')));
    if (tiles) tiles.addTo(map);
    mapEl.classList.toggle('no-tiles', !tiles);
    mapEl.dataset.tiles = c.source;
  };
  setTiles(cfg);

  const resize = new ResizeObserver(() => map.invalidateSize({ debounceMoveend: true }));
  resize.observe(mapEl);

  const unitLayer = L.layerGroup().addTo(map);
  const player = new TrackPlayer(L, map, trackBar, signal);

  // ---- state ----
  const devs = new Map(); // device id → {p, m, on}
  const vessels = new Map(); // mmsi → {v, m, on}
  const vesselByDevice = new Map(); // AIS unit's device id → mmsi of its enforcement vessel
  const info = new Map(); // device id → register device
  const holders = new Map(); // device id → {text, at}
  let selected = null; // {type: 'device', id} | {type: 'vessel', mmsi}
  let alertFlags = new Map();
  let shown = 0;
  let vesselsState = 'unknown'; // ok | unavailable | forbidden
  let fitted = false;
  let panelKey = null; // what the device panel was built for
  const panelFacts = h('div', { class: 'device-facts', id: 'device-facts' });

  const alerts = new AlertsPanel({
    ctx,
    deviceLabel: (id) => deviceLabel(id),
    onLocate: (a) => locateAlert(a),
    onChange: () => {
      alertFlags = alerts.byDevice();
      restyleAll();
      renderSOS();
      if (selected) renderDevicePanel();
    },
  });
  clear(side, alerts.el, devicePanel);
  renderDevicePanel();

  // ---- names ----
  function deviceLabel(id) {
    const d = info.get(id);
    return d?.serial || id;
  }

  // wallDevice is what a video-wall tile says of device id: serial, kind, holder, unit.
  function wallDevice(id) {
    const reg = info.get(id);
    const p = devs.get(id)?.p;
    const unitId = p?.unit_id || reg?.unit_id || '';
    const unit = unitId ? ctx.units.name(unitId) : '';
    return {
      id,
      label: deviceLabel(id),
      kind: p?.kind || reg?.kind || '',
      holder: holders.get(id)?.text || '',
      unit: unit !== unitId ? unit : '', // the store answers the id for a unit it does not know
    };
  }

  function stateText(state) {
    return t(`map.${state}`);
  }

  function markerLabel(p) {
    const holder = holders.get(p.device_id)?.text;
    const fl = alertFlags.get(p.device_id);
    const parts = [t(`kind.${p.kind}`), deviceLabel(p.device_id), holder, stateText(deviceState(p, fl?.sos))];
    return parts.filter(Boolean).join('，');
  }

  // ensureInfo loads what the register knows of a device (serial, model) and, for a recorder,
  // who holds it now; it returns whether anything new arrived.
  async function ensureInfo(id, kind) {
    let changed = false;
    if (!info.has(id)) {
      const d = await deviceCache.get(id);
      if (d) {
        info.set(id, d);
        changed = true;
      }
    }
    const k = kind || info.get(id)?.kind;
    const hd = holders.get(id);
    if (k === 'recorder' && (!hd || Date.now() - hd.at > HOLDER_TTL)) {
      holders.set(id, { text: hd?.text || '', at: Date.now() });
      try {
        const open = items(await get('/assignments', { open: true, device: id, limit: 1 }, { signal }));
        const officer = open[0] ? await officerCache.get(open[0].officer_id) : null;
        const text = officer ? `${officer.name}（${officer.badge_no}）` : '';
        if (text !== (hd?.text || '')) changed = true;
        holders.set(id, { text, at: Date.now() });
      } catch {
        // no holder shown
      }
    }
    return changed;
  }

  // Preload the register's devices in the background (one list for a city-sized fleet) so that
  // markers and alerts show serials instead of ids.
  all('/devices', {}, 5000).then((list) => {
    if (signal.aborted) return;
    list.forEach((d) => {
      info.set(d.id, d);
      deviceCache.put(d);
    });
    restyleAll();
    alerts.render();
    if (selected) renderDevicePanel();
  }).catch(() => null);

  // ---- devices on the map ----
  function visibleKind(kind) {
    if (kind === 'ais_unit') return layers.vessels;
    return layers[kind] !== false;
  }

  function flagsOf(p) {
    const fl = alertFlags.get(p.device_id) || {};
    return {
      sos: Boolean(fl.sos),
      alert: Boolean(fl.alert),
      selected: selected?.type === 'device' && selected.id === p.device_id,
      label: markerLabel(p),
    };
  }

  // deviceRows are the facts shown about a device: [label, value] pairs.
  function deviceRows(id) {
    const d = devs.get(id);
    if (!d) return [];
    const p = d.p;
    const state = deviceState(p, alertFlags.get(id)?.sos);
    const holder = holders.get(id)?.text;
    return [
      [t('map.state'), stateText(state)],
      holder ? [t('map.holder'), holder] : null,
      p.unit_id ? [t('devices.unit'), ctx.units.name(p.unit_id)] : null,
      Number.isFinite(p.battery_pct) ? [t('map.battery'), `${fmt(p.battery_pct)}%${p.charging ? ` ${t('map.charging')}` : ''}`] : null,
      Number.isFinite(p.speed_kmh) ? [t('map.speed'), t('track.kmh', { n: fmt(p.speed_kmh) })] : null,
      p.recording ? [t('map.recording'), t('common.yes')] : null,
      [t('map.lastSeen'), p.last_seen ? dateTime(p.last_seen) : (p.ts ? dateTime(p.ts) : '—')],
    ].filter(Boolean);
  }

  function rowsList(rows, cls) {
    return h('dl', { class: cls || null }, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  }

  function tooltipFor(id) {
    const d = devs.get(id);
    if (!d) return '';
    return h('div', { class: 'map-tip' },
      h('div', { class: 'map-tip-head' },
        h('strong', { class: 'mono', text: deviceLabel(id) }),
        h('span', { class: 'muted', text: t(`kind.${d.p.kind}`) })),
      rowsList(deviceRows(id)));
  }

  function createMarker(id) {
    const d = devs.get(id);
    const handle = deviceMarker(L, d.p, flagsOf(d.p), (devId) => select({ type: 'device', id: devId }));
    handle.marker.bindTooltip(() => tooltipFor(id), { direction: 'top', offset: [0, -14], className: 'map-tooltip', opacity: 1 });
    handle.marker.on('tooltipopen', () => {
      ensureInfo(id, devs.get(id)?.p.kind).then((changed) => {
        if (changed && !signal.aborted) {
          handle.marker.getTooltip()?.update();
          restyle(id);
          // A selection made while this lookup was under way found it pending and drew no holder.
          if (selected?.type === 'device' && selected.id === id) renderDevicePanel();
          if (wall.has(id)) wall.update(wallDevice(id));
        }
      });
    });
    d.m = handle;
  }

  // place adds or removes a device's marker as its position, kind, the layers and the view say.
  function place(id, bounds) {
    const d = devs.get(id);
    if (!d) return;
    const want = hasFix(d.p) && visibleKind(d.p.kind) && !vesselByDevice.has(id)
      && (bounds.contains([d.p.lat, d.p.lon]) || (selected?.type === 'device' && selected.id === id) || alertFlags.get(id)?.sos)
      && (d.on || shown < MAX_MARKERS);
    if (want) {
      if (!d.m) createMarker(id);
      else d.m.update(d.p, flagsOf(d.p));
      if (!d.on) {
        d.m.marker.addTo(map);
        d.on = true;
        shown += 1;
      }
    } else if (d.on) {
      d.m.marker.remove();
      d.on = false;
      shown -= 1;
    }
  }

  function viewBounds() {
    return map.getBounds().pad(0.25);
  }

  function placeAll() {
    const b = viewBounds();
    // Remove first, so that the cap counts only what stays.
    for (const [id, d] of devs) if (d.on && !b.contains([d.p.lat, d.p.lon])) place(id, b);
    for (const id of devs.keys()) place(id, b);
    const inView = [...devs.values()].filter((d) => hasFix(d.p) && visibleKind(d.p.kind) && b.contains([d.p.lat, d.p.lon])).length;
    if (inView > MAX_MARKERS) showNotice(t('map.tooMany', { n: inView, max: MAX_MARKERS }));
    else hideNotice('tooMany');
  }

  function restyle(id) {
    const d = devs.get(id);
    if (d?.m) d.m.update(d.p, flagsOf(d.p));
  }

  function restyleAll() {
    const b = viewBounds();
    for (const id of devs.keys()) place(id, b);
    for (const mmsi of vessels.keys()) placeVessel(mmsi);
    renderCounts();
  }

  function renderCounts() {
    let online = 0;
    let total = 0;
    for (const d of devs.values()) {
      total += 1;
      if (d.p.online) online += 1;
    }
    const parts = [t('map.countDevices', { online, total })];
    if (vesselsState === 'ok') parts.push(t('map.countVessels', { n: [...vessels.values()].filter((v) => v.on).length }));
    counts.textContent = parts.join(' · ');
  }

  // ---- positions ----
  const queue = new Map();
  let flushing = false;

  // When the live feed last changed each device: a picture requested before that is older.
  const heardAt = new Map();

  function enqueue(p) {
    if (!p?.device_id) return;
    heardAt.set(p.device_id, performance.now());
    queue.set(p.device_id, p);
    if (!flushing) {
      flushing = true;
      // Once a frame (or once a second when the tab is hidden and frames stop).
      const run = () => {
        if (!flushing) return;
        flushing = false;
        flush();
      };
      requestAnimationFrame(run);
      setTimeout(run, 1000);
    }
  }

  function flush() {
    if (signal.aborted || !queue.size) return;
    const b = viewBounds();
    for (const p of queue.values()) {
      const d = devs.get(p.device_id);
      if (d) d.p = p;
      else devs.set(p.device_id, { p, m: null, on: false });
      place(p.device_id, b);
      if (vesselByDevice.has(p.device_id)) placeVessel(vesselByDevice.get(p.device_id));
      const m = devs.get(p.device_id).m?.marker;
      if (m?.isTooltipOpen()) m.getTooltip().update();
    }
    const sel = selected?.type === 'device' && queue.has(selected.id);
    queue.clear();
    renderCounts();
    unitLabelsSoon();
    if (sel) renderDevicePanel();
  }

  async function loadPositions() {
    const started = performance.now();
    let list;
    try {
      list = items(await get('/live/positions', null, { signal }));
    } catch (err) {
      if (err.name === 'AbortError') return;
      mapEl.dataset.positions = err.status === 503 ? 'unavailable' : 'error';
      showNotice(err.status === 503 ? t('map.liveUnavailable') : describeError(err), 'positions');
      return;
    }
    mapEl.dataset.positions = 'ok';
    hideNotice('positions');
    // What the feed delivered while the request was under way is newer than the answer.
    const fresh = (id) => (heardAt.get(id) ?? -1) > started;
    list = list.filter((p) => p?.device_id && !fresh(p.device_id));
    const ids = new Set(list.map((p) => p.device_id));
    for (const [id, d] of devs) {
      if (!ids.has(id) && !fresh(id)) {
        if (d.on) {
          d.m.marker.remove();
          shown -= 1;
        }
        devs.delete(id);
      }
    }
    list.forEach((p) => queue.set(p.device_id, p));
    flush();
    renderCounts();
    unitLabels();
    if (!fitted) {
      fitted = true;
      if (!cfg.center) fitAll(false);
    }
  }

  function fitAll(announce) {
    const pts = [...devs.values()].filter((d) => hasFix(d.p) && visibleKind(d.p.kind)).map((d) => [d.p.lat, d.p.lon]);
    for (const v of vessels.values()) if (v.v.enforcement && v.on) pts.push([v.v.lat, v.v.lon]);
    if (!pts.length) {
      if (announce) toast(t('map.nothingToShow'));
      return;
    }
    if (pts.length === 1) map.setView(pts[0], Math.max(map.getZoom(), 14));
    else map.fitBounds(L.latLngBounds(pts), { paddingTopLeft: [70, 50], paddingBottomRight: [60, 50], maxZoom: 15 });
  }

  // ---- unit names on the map (their devices' centre): orientation without tiles ----
  let unitTimer = null;
  function unitLabelsSoon() {
    if (!unitTimer) unitTimer = setTimeout(() => {
      unitTimer = null;
      unitLabels();
    }, 2000);
  }

  function unitLabels() {
    unitLayer.clearLayers();
    if (!layers.units) return;
    const sums = new Map();
    for (const d of devs.values()) {
      if (!hasFix(d.p) || !d.p.unit_id || !visibleKind(d.p.kind)) continue;
      const s = sums.get(d.p.unit_id) || { lat: 0, lon: 0, n: 0 };
      s.lat += d.p.lat;
      s.lon += d.p.lon;
      s.n += 1;
      sums.set(d.p.unit_id, s);
    }
    if (sums.size > 300) return; // a province zoomed out: names would cover the map
    for (const [unitId, s] of sums) {
      const name = ctx.units.name(unitId);
      if (!name) continue;
      const icon = L.divIcon({ className: 'unit-label', html: h('span', { text: name, title: ctx.units.trail(unitId) }), iconSize: null, iconAnchor: [0, -18] });
      L.marker([s.lat / s.n, s.lon / s.n], { icon, pane: 'unitLabels', interactive: false, keyboard: false }).addTo(unitLayer);
    }
  }

  // ---- vessels ----
  function vesselFlags(v) {
    let state = 'online';
    if (v.device_id && devs.has(v.device_id)) {
      const p = devs.get(v.device_id).p;
      state = deviceState(p, alertFlags.get(v.device_id)?.sos);
    }
    return {
      state,
      selected: selected?.type === 'vessel' && selected.mmsi === v.mmsi,
      label: `${t(v.enforcement ? 'map.enforcementVessel' : 'map.otherVessel')} ${vesselName(v)}`,
    };
  }

  function vesselRows(v) {
    const hd = vesselHeading(v);
    return [
      ['MMSI', v.mmsi],
      v.callsign ? [t('vessel.callsign'), v.callsign] : null,
      Number.isFinite(v.speed_kn) ? [t('map.speed'), t('vessel.knots', { n: fmt(v.speed_kn, 1) })] : null,
      hd !== null ? [t('vessel.heading'), `${fmt(hd)}°`] : null,
      v.destination ? [t('vessel.destination'), v.destination] : null,
      [t('map.lastSeen'), dateTime(v.last_seen || v.ts)],
    ].filter(Boolean);
  }

  function vesselTip(mmsi) {
    const e = vessels.get(mmsi);
    if (!e) return '';
    const v = e.v;
    return h('div', { class: 'map-tip' },
      h('div', { class: 'map-tip-head' },
        h('strong', { text: vesselName(v) }),
        v.enforcement ? badge(t('map.enforcementVessel'), 'info') : h('span', { class: 'muted', text: t('map.otherVessel') })),
      rowsList(vesselRows(v)));
  }

  function placeVessel(mmsi) {
    const e = vessels.get(mmsi);
    if (!e) return;
    const want = hasFix(e.v) && (e.v.enforcement ? layers.vessels : layers.other_vessels);
    if (want) {
      if (!e.m) {
        e.m = vesselMarker(L, e.v, vesselFlags(e.v), (v) => select({ type: 'vessel', mmsi: v.mmsi }));
        e.m.marker.bindTooltip(() => vesselTip(mmsi), { direction: 'top', offset: [0, -12], className: 'map-tooltip', opacity: 1 });
      }
      e.m.update(e.v, vesselFlags(e.v));
      if (!e.on) {
        e.m.marker.addTo(map);
        e.on = true;
      }
    } else if (e.on) {
      e.m.marker.remove();
      e.on = false;
    }
  }

  function bboxOf(b) {
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const w = clamp(b.getWest(), -180, 180);
    const e = clamp(b.getEast(), -180, 180);
    const s = clamp(b.getSouth(), -90, 90);
    const n = clamp(b.getNorth(), -90, 90);
    if (w >= e || s >= n) return null;
    return [w, s, e, n].map((x) => x.toFixed(5)).join(',');
  }

  let vesselReq = 0;
  async function refreshVessels() {
    if (signal.aborted || vesselsState === 'forbidden') return;
    if (!layers.vessels && !layers.other_vessels) return;
    const bbox = bboxOf(map.getBounds().pad(0.2));
    if (!bbox) return;
    const req = ++vesselReq;
    let data;
    try {
      data = await get('/vessels', { bbox, limit: 2000 }, { signal });
    } catch (err) {
      if (err.name === 'AbortError' || req !== vesselReq) return;
      vesselsState = err.status === 403 ? 'forbidden' : 'unavailable';
      mapEl.dataset.vessels = vesselsState;
      renderCounts();
      return;
    }
    if (req !== vesselReq) return;
    vesselsState = 'ok';
    mapEl.dataset.vessels = 'ok';
    const seen = new Set();
    const before = new Set(vesselByDevice.keys());
    vesselByDevice.clear();
    for (const v of items(data)) {
      if (!v?.mmsi || !hasFix(v)) continue;
      seen.add(v.mmsi);
      const e = vessels.get(v.mmsi);
      if (e) e.v = v;
      else vessels.set(v.mmsi, { v, m: null, on: false });
      if (v.enforcement && v.device_id) vesselByDevice.set(v.device_id, v.mmsi);
      placeVessel(v.mmsi);
    }
    for (const [mmsi, e] of vessels) {
      if (!seen.has(mmsi) && !(selected?.type === 'vessel' && selected.mmsi === mmsi)) {
        e.m?.marker.remove();
        vessels.delete(mmsi);
      }
    }
    // AIS units drawn as their vessel, or back as a device when the vessel left the view.
    const b = viewBounds();
    new Set([...before, ...vesselByDevice.keys()]).forEach((id) => place(id, b));
    renderCounts();
    if (selected?.type === 'vessel') renderDevicePanel();
  }
  const refreshVesselsSoon = debounce(refreshVessels, 400);
  const vesselTimer = setInterval(refreshVessels, VESSEL_REFRESH_MS);

  // ---- layers ----
  function applyLayers() {
    if (layers.grid) grid.addTo(map);
    else grid.remove();
    placeAll();
    for (const mmsi of vessels.keys()) placeVessel(mmsi);
    unitLabels();
    renderCounts();
    refreshVesselsSoon();
  }

  // ---- selection and the device panel ----
  function select(sel) {
    const prev = selected;
    selected = sel;
    if (prev?.type === 'device') restyle(prev.id);
    if (prev?.type === 'vessel') placeVessel(prev.mmsi);
    if (sel?.type === 'device') {
      place(sel.id, viewBounds());
      restyle(sel.id);
      const d = devs.get(sel.id);
      ensureInfo(sel.id, d?.p.kind).then(() => {
        if (signal.aborted) return;
        if (wall.has(sel.id)) wall.update(wallDevice(sel.id));
        if (selected === sel) {
          renderDevicePanel();
          restyle(sel.id);
        }
      });
    }
    if (sel?.type === 'vessel') placeVessel(sel.mmsi);
    renderDevicePanel();
  }

  function centreOn(lat, lon) {
    map.setView([lat, lon], Math.max(map.getZoom(), 15));
  }

  // The panel is built when the selection (or what can be done with it) changes; its facts are
  // refreshed in place as positions stream in, so that the focus stays on its buttons.
  function renderDevicePanel() {
    if (!selected) {
      if (panelKey === '') return;
      panelKey = '';
      clear(devicePanel,
        h('header', { class: 'cmd-panel-head' }, h('h2', { id: 'device-title', text: t('command.details') })),
        h('p', { class: 'muted small cmd-hint', text: t('command.selectHint') }));
      return;
    }
    const close = () => h('button', { type: 'button', class: 'icon-btn', id: 'device-deselect', 'aria-label': t('command.deselect'), text: '×', onclick: () => select(null) });
    if (selected.type === 'vessel') {
      const e = vessels.get(selected.mmsi);
      if (!e) {
        select(null);
        return;
      }
      const v = e.v;
      const key = `v|${v.mmsi}|${v.device_id || ''}|${vesselName(v)}`;
      if (key !== panelKey) {
        panelKey = key;
        clear(devicePanel,
          h('header', { class: 'cmd-panel-head' },
            h('h2', { id: 'device-title' }, h('span', { text: vesselName(v) }),
              v.enforcement ? badge(t('map.enforcementVessel'), 'info') : h('span', { class: 'muted small', text: t('map.otherVessel') })),
            close()),
          panelFacts,
          h('div', { class: 'cmd-actions' },
            h('button', { type: 'button', class: 'btn small', id: 'device-locate', text: t('map.locate'), onclick: () => { const c = vessels.get(v.mmsi)?.v; if (c) centreOn(c.lat, c.lon); } })),
          v.device_id ? trackButtons({ id: v.device_id, label: vesselName(v) }) : null);
      }
      clear(panelFacts, rowsList(vesselRows(v), 'kv2'));
      return;
    }
    const id = selected.id;
    const d = devs.get(id);
    const reg = info.get(id);
    const label = deviceLabel(id);
    const kind = d?.p.kind || reg?.kind;
    const fix = Boolean(d && hasFix(d.p));
    const key = `d|${id}|${label}|${kind}|${fix}`;
    if (key !== panelKey) {
      panelKey = key;
      clear(devicePanel,
        h('header', { class: 'cmd-panel-head' },
          h('h2', { id: 'device-title' }, h('span', { class: 'mono', text: label }),
            kind ? h('span', { class: 'muted small', text: t(`kind.${kind}`) }) : null),
          close()),
        panelFacts,
        h('div', { class: 'cmd-actions' },
          fix ? h('button', { type: 'button', class: 'btn small', id: 'device-locate', text: t('map.locate'), onclick: () => { const c = devs.get(id)?.p; if (c) centreOn(c.lat, c.lon); } }) : null,
          VIDEO_KINDS.includes(kind) ? h('button', {
            type: 'button', class: 'btn small primary', id: 'device-video', text: t('wall.watch'),
            'aria-describedby': 'wall-status',
            onclick: () => wall.add(wallDevice(id)),
          }) : null),
        trackButtons({ id, label }));
    }
    const rows = d ? deviceRows(id) : [];
    if (reg?.model) rows.push([t('devices.model'), reg.model]);
    clear(panelFacts, d ? rowsList(rows, 'kv2') : h('p', { class: 'muted small', text: t('command.noPosition') }));
  }

  function trackButtons(device) {
    return h('div', { class: 'cmd-track', role: 'group', 'aria-labelledby': 'track-presets-label' },
      h('span', { id: 'track-presets-label', class: 'small', text: t('track.playback') }),
      h('div', { class: 'cmd-actions' }, PRESETS.map((hrs) => h('button', {
        type: 'button', class: 'btn small', id: `track-${hrs}h`, text: t('track.lastHours', { n: hrs }),
        onclick: () => player.load(device, hrs),
      }))));
  }

  // ---- alerts ----
  function locateAlert(a) {
    const d = devs.get(a.device_id);
    if (d && hasFix(d.p)) {
      centreOn(d.p.lat, d.p.lon);
      select({ type: 'device', id: a.device_id });
      return;
    }
    if (Number.isFinite(a.lat) && Number.isFinite(a.lon)) {
      centreOn(a.lat, a.lon);
      select({ type: 'device', id: a.device_id });
      toast(t('alerts.lastKnown', { time: dateTime(a.position_ts || a.raised_at) }));
      return;
    }
    select({ type: 'device', id: a.device_id });
    toast(t('alerts.noPosition'), 'error');
  }

  function renderSOS() {
    const sos = alerts.sosOpen();
    sosBanner.hidden = !sos.length;
    if (!sos.length) {
      clear(sosBanner);
      return;
    }
    const focusId = sosBanner.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    clear(sosBanner,
      h('strong', { class: 'sos-title', text: t('alerts.sosBanner', { n: sos.length }) }),
      sos.slice(0, 4).map((a) => h('button', {
        type: 'button', class: 'btn small sos-locate', dataset: { id: a.id },
        text: `${deviceLabel(a.device_id)} · ${timeOfDay(a.raised_at)}`,
        onclick: () => locateAlert(a),
      })),
      sos.length > 4 ? h('span', { text: t('alerts.andMore', { n: sos.length - 4 }) }) : null);
    if (focusId) sosBanner.querySelector(`[data-id="${CSS.escape(focusId)}"]`)?.focus();
  }

  // ---- notices over the map ----
  const notices = new Map();
  function showNotice(text, key = 'misc') {
    notices.set(key, text);
    clear(notice, [...notices.values()].map((x) => h('p', { text: x })));
    notice.hidden = false;
  }
  function hideNotice(key) {
    if (!notices.delete(key)) return;
    clear(notice, [...notices.values()].map((x) => h('p', { text: x })));
    notice.hidden = notices.size === 0;
  }

  // ---- find a device ----
  async function findDevice(q) {
    if (!q) return;
    const low = q.toLowerCase();
    const hit = (id) => {
      const d = devs.get(id);
      if (!d || !hasFix(d.p)) return false;
      centreOn(d.p.lat, d.p.lon);
      select({ type: 'device', id });
      return true;
    };
    for (const [id, d] of info) {
      if (((d.serial || '').toLowerCase() === low || id === q) && hit(id)) return;
    }
    for (const v of vessels.values()) {
      if (v.v.mmsi === q || vesselName(v.v).toLowerCase().includes(low)) {
        centreOn(v.v.lat, v.v.lon);
        select({ type: 'vessel', mmsi: v.v.mmsi });
        return;
      }
    }
    try {
      const found = items(await get('/devices', { q, limit: 20 }, { signal }));
      found.forEach((d) => info.set(d.id, d));
      if (found.some((d) => hit(d.id))) return;
      toast(found.length ? t('map.noPositionFor', { q }) : t('map.notFound', { q }), 'error');
    } catch (err) {
      if (err.name !== 'AbortError') toast(describeError(err), 'error');
    }
  }

  // ---- base map settings (this browser) ----
  function basemapDialog() {
    const local = localTiles();
    const urlIn = h('input', { id: 'tiles-url', class: 'mono', value: local ? local.url : '', placeholder: cfg.serverTileURL || '/tiles/{z}/{x}/{y}.png', autocomplete: 'off' });
    const attrIn = h('input', { id: 'tiles-attribution', value: local ? local.attribution : '', maxlength: 200 });
    const errors = h('div', {});
    const current = cfg.source === 'none' ? t('basemap.none') : (cfg.source === 'local' ? t('basemap.fromBrowser') : t('basemap.fromServer'));
    const dlg = openDialog({
      title: t('basemap.title'),
      medium: true,
      attrs: { id: 'basemap-dialog' },
      body: h('form', {
        id: 'basemap-form', class: 'form-stack',
        onsubmit: (ev) => {
          ev.preventDefault();
          const u = urlIn.value.trim();
          if (!validTileURL(u)) {
            urlIn.setAttribute('aria-invalid', 'true');
            clear(errors, h('p', { class: 'alert error small', role: 'alert', text: t('basemap.badURL') }));
            urlIn.focus();
            return;
          }
          setLocalTiles({ url: u, attribution: attrIn.value.trim() });
          applyTiles();
          dlg.close();
        },
      },
      h('p', { class: 'small', text: t('basemap.current', { source: current }) }),
      h('p', { class: 'muted small', text: t('basemap.explain') }),
      field(t('basemap.url'), urlIn, { hint: t('basemap.urlHint'), wide: true }),
      field(t('basemap.attribution'), attrIn, { wide: true }),
      h('p', { class: 'alert warn small', text: t('basemap.csp') }),
      errors),
      actions: [
        h('button', {
          type: 'button', class: 'btn', id: 'basemap-reset', text: t('basemap.useServer'), disabled: !local,
          onclick: () => {
            setLocalTiles(null);
            applyTiles();
            dlg.close();
          },
        }),
        h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }),
        h('button', { type: 'submit', class: 'btn primary', form: 'basemap-form', id: 'basemap-save', text: t('common.save') }),
      ],
    });
    urlIn.focus();
  }

  async function applyTiles() {
    try {
      cfg = await mapConfig(signal);
    } catch {
      return;
    }
    hideNotice('misc');
    setTiles(cfg);
    toast(cfg.tileURL ? t('basemap.applied') : t('basemap.cleared'), 'success');
  }

  // ---- wiring ----
  const zoomClass = () => mapEl.classList.toggle('zoom-detail', map.getZoom() >= 12);
  zoomClass();
  map.on('zoomend', zoomClass);
  map.on('moveend', () => {
    placeAll();
    refreshVesselsSoon();
  });
  if (layers.grid) grid.addTo(map);

  const feed = new LiveFeed(signal);
  const statusText = { connecting: 'live.connecting', live: 'live.live', retrying: 'live.retrying', polling: 'live.polling', off: 'live.off' };
  const setStatus = (s) => {
    liveStatus.dataset.state = s;
    liveStatus.textContent = t(statusText[s] || 'live.off');
    liveStatus.title = t(`${statusText[s] || 'live.off'}Hint`);
  };
  setStatus('connecting');
  feed.addEventListener('status', (ev) => setStatus(ev.detail));
  feed.addEventListener('position', (ev) => enqueue(ev.detail));
  feed.addEventListener('alert', (ev) => alerts.apply(ev.detail));
  feed.addEventListener('resync', () => {
    loadPositions();
    alerts.load();
  });

  signal.addEventListener('abort', () => {
    clearInterval(vesselTimer);
    clearTimeout(unitTimer);
    resize.disconnect();
    map.remove();
  }, { once: true });

  feed.start();
  await Promise.all([loadPositions(), alerts.load()]);
  if (signal.aborted) return;
  refreshVessels();
  mapEl.dataset.ready = 'true';
}
