// The command centre's base map: the vendored Leaflet (loaded on first use), the tile source
// (from the server's UI configuration, overridden per browser in localStorage), and a coordinate
// graticule drawn in the browser, so that the map is usable with no tile server at all: the
// agencies' machines have no internet access, and a tile server is something a site may add.
import { get } from '../api.js';
import { t } from '../i18n.js';

const LEAFLET_CSS = '/vendor/leaflet/leaflet.css';
const TILES_KEY = 'fleet.map.tiles';

let leaflet = null;

// loadLeaflet loads Leaflet's stylesheet and script once and returns the library.
export function loadLeaflet() {
  if (!leaflet) {
    leaflet = (async () => {
      await loadStylesheet(LEAFLET_CSS);
      // leaflet.js is a UMD script: imported as a module it defines window.L.
      await import('../../vendor/leaflet/leaflet.js');
      const L = window.L;
      if (!L?.map) throw new Error('Leaflet did not load');
      // The default marker images are served from the vendored folder (the page draws its own
      // markers; this is for anything that falls back to L.Icon.Default).
      L.Icon.Default.imagePath = '/vendor/leaflet/images/';
      return L;
    })().catch((err) => {
      leaflet = null; // try again on the next visit
      throw err;
    });
  }
  return leaflet;
}

function loadStylesheet(href) {
  const have = document.querySelector(`link[rel="stylesheet"][href="${href}"]`);
  if (have?.dataset.loaded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const link = have || document.createElement('link');
    link.addEventListener('load', () => {
      link.dataset.loaded = 'true';
      resolve();
    }, { once: true });
    link.addEventListener('error', () => reject(new Error(`${href} failed to load`)), { once: true });
    if (!have) {
      link.rel = 'stylesheet';
      link.href = href;
      document.head.appendChild(link);
    }
  });
}

// localTiles is this browser's tile override: {url, attribution} (url '' means "no tiles,
// whatever the server says"), or null for none.
export function localTiles() {
  try {
    const v = JSON.parse(localStorage.getItem(TILES_KEY) || 'null');
    if (v && typeof v === 'object' && typeof v.url === 'string') {
      return { url: v.url, attribution: typeof v.attribution === 'string' ? v.attribution : '' };
    }
  } catch {
    // unreadable: as if unset
  }
  return null;
}

// setLocalTiles saves (or with null removes) this browser's tile override.
export function setLocalTiles(v) {
  try {
    if (v) localStorage.setItem(TILES_KEY, JSON.stringify({ url: v.url, attribution: v.attribution || '' }));
    else localStorage.removeItem(TILES_KEY);
  } catch {
    // storage disabled: the choice lasts until the page is left
  }
}

// validTileURL checks a tile URL template: http(s) or a path on this server, with {z}, {x}, {y}
// (and optionally {s} for subdomains). The empty string means no tiles.
export function validTileURL(u) {
  if (!u) return true;
  if (/\s/.test(u) || !u.includes('{z}') || !u.includes('{x}') || !u.includes('{y}')) return false;
  return /^https?:\/\/[^/]/i.test(u) || (u.startsWith('/') && !u.startsWith('//'));
}

// mapConfig reads the server's UI configuration (GET /api/v1/ui/config; a server without it
// answers 404 and the map has no tiles) and applies this browser's override.
// The answer: {tileURL, attribution, maxZoom, source: 'server'|'local'|'none', center, zoom}.
export async function mapConfig(signal) {
  let server = {};
  try {
    server = (await get('/ui/config', null, { signal })) || {};
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    server = {};
  }
  const local = localTiles();
  const tileURL = local ? local.url : (typeof server.tile_url === 'string' ? server.tile_url : '');
  const cfg = {
    tileURL,
    attribution: local ? local.attribution : (server.tile_attribution || ''),
    maxZoom: Number(server.tile_max_zoom) || 18,
    source: local ? 'local' : (tileURL ? 'server' : 'none'),
    serverTileURL: server.tile_url || '',
    center: null,
    zoom: null,
  };
  const c = server.map_center;
  if (Array.isArray(c) && c.length === 2 && c.every(Number.isFinite)) cfg.center = c;
  if (Number.isFinite(server.map_zoom)) cfg.zoom = server.map_zoom;
  if (!tileURL) cfg.source = 'none';
  return cfg;
}

// Graticule spacings in degrees, coarse to fine.
const STEPS = [30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001];

// stepFor picks the spacing that puts lines at least ~100 px apart at zoom z.
export function stepFor(z) {
  const pxPerDegree = (256 * 2 ** z) / 360;
  let best = STEPS[0];
  for (const s of STEPS) {
    if (s * pxPerDegree >= 100) best = s;
  }
  return best;
}

function decimals(step) {
  if (step >= 1) return 0;
  return Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
}

// degreeLabel formats a coordinate the way Chinese maps label their edges: 114.5°E, 30°N.
export function degreeLabel(v, step, axis) {
  const d = decimals(step);
  const a = Math.abs(v);
  const text = a.toFixed(d);
  if (a < 1e-9) return `0°`;
  const hemi = axis === 'lon' ? (v > 0 ? 'E' : 'W') : (v > 0 ? 'N' : 'S');
  return `${text}°${hemi}`;
}

// graticuleLayer is the coordinate grid: meridians and parallels drawn per tile (so they pan and
// zoom like tiles), and their degree labels along the top and right edges of the map, kept in
// place as the map moves (labels drawn into tiles would repeat on every tile and collide).
export function graticuleLayer(L) {
  const Lines = L.GridLayer.extend({
    createTile(coords) {
      const tile = document.createElement('canvas');
      const size = this.getTileSize();
      const ratio = window.devicePixelRatio || 1;
      tile.width = size.x * ratio;
      tile.height = size.y * ratio;
      const g = tile.getContext('2d');
      g.scale(ratio, ratio);
      const map = this._map;
      const z = coords.z;
      const origin = coords.scaleBy(size);
      const nw = map.unproject(origin, z);
      const se = map.unproject(origin.add(size), z);
      const step = stepFor(z);
      const major = (v) => Math.abs(v / (step * 5) - Math.round(v / (step * 5))) < 1e-6;
      g.lineWidth = 1;
      for (let k = Math.ceil(nw.lng / step); k * step <= se.lng; k += 1) {
        const lon = k * step;
        const x = Math.round(map.project([0, lon], z).x - origin.x) + 0.5;
        g.strokeStyle = major(lon) ? 'rgba(71, 98, 140, .45)' : 'rgba(71, 98, 140, .22)';
        g.beginPath();
        g.moveTo(x, 0);
        g.lineTo(x, size.y);
        g.stroke();
      }
      for (let k = Math.ceil(se.lat / step); k * step <= nw.lat; k += 1) {
        const lat = k * step;
        if (Math.abs(lat) > 85.05) continue;
        const y = Math.round(map.project([lat, 0], z).y - origin.y) + 0.5;
        g.strokeStyle = major(lat) ? 'rgba(71, 98, 140, .45)' : 'rgba(71, 98, 140, .22)';
        g.beginPath();
        g.moveTo(0, y);
        g.lineTo(size.x, y);
        g.stroke();
      }
      return tile;
    },
  });

  const Labels = L.Layer.extend({
    onAdd(map) {
      this.box = L.DomUtil.create('div', 'graticule-labels', map.getContainer());
      this.box.setAttribute('aria-hidden', 'true');
      map.on('move zoomend viewreset resize', this.update, this);
      this.update();
    },
    onRemove(map) {
      map.off('move zoomend viewreset resize', this.update, this);
      this.box.remove();
    },
    update() {
      const map = this._map;
      if (!map) return;
      const size = map.getSize();
      const b = map.getBounds();
      const c = map.getCenter();
      const step = stepFor(Math.round(map.getZoom()));
      const out = [];
      for (let k = Math.ceil(b.getWest() / step); k * step <= b.getEast(); k += 1) {
        const lon = k * step;
        const x = map.latLngToContainerPoint([c.lat, lon]).x;
        if (x < 52 || x > size.x - 60) continue; // clear of the zoom buttons and the right edge
        const el = document.createElement('span');
        el.className = 'gl gl-lon';
        el.textContent = degreeLabel(((lon + 540) % 360) - 180, step, 'lon');
        el.style.left = `${Math.round(x) + 3}px`;
        out.push(el);
      }
      for (let k = Math.ceil(b.getSouth() / step); k * step <= b.getNorth(); k += 1) {
        const lat = k * step;
        const y = map.latLngToContainerPoint([lat, c.lng]).y;
        if (y < 20 || y > size.y - 24) continue;
        const el = document.createElement('span');
        el.className = 'gl gl-lat';
        el.textContent = degreeLabel(lat, step, 'lat');
        el.style.top = `${Math.round(y) + 1}px`;
        out.push(el);
      }
      this.box.replaceChildren(...out);
    },
  });

  return L.layerGroup([
    new Lines({ className: 'graticule', updateWhenZooming: false, keepBuffer: 1, zIndex: 5 }),
    new Labels(),
  ]);
}

// tileLayer is the configured tile source, or null without one. Failed tiles leave the plain
// background showing; onTrouble is called once when tiles keep failing.
export function tileLayer(L, cfg, onTrouble) {
  if (!cfg.tileURL) return null;
  const layer = L.tileLayer(cfg.tileURL, {
    attribution: cfg.attribution || '',
    maxZoom: cfg.maxZoom,
    crossOrigin: false,
    zIndex: 1,
  });
  let failed = 0;
  let loaded = 0;
  let told = false;
  layer.on('tileload', () => {
    loaded += 1;
  });
  layer.on('tileerror', () => {
    failed += 1;
    if (!told && failed >= 4 && failed > loaded) {
      told = true;
      onTrouble?.();
    }
  });
  return layer;
}

// mapTexts are Leaflet's own control texts, in the user's language.
export function zoomTexts() {
  return { zoomInTitle: t('map.zoomIn'), zoomOutTitle: t('map.zoomOut'), zoomInText: '+', zoomOutText: '−' };
}
