// Line icons drawn for this UI (24×24, stroke currentColor), decorative only: every icon sits
// beside a text label, so they are aria-hidden.
const PATHS = {
  desk: 'M4 7h13l-3-3M20 17H7l3 3',
  officers: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 4-6 8-6s8 2 8 6',
  devices: 'M4 7h11v10H4zM15 10l5-3v10l-5-3M8 12h.01',
  units: 'M9 3h6v4H9zM3 17h6v4H3zM15 17h6v4h-6zM12 7v5M6 17v-5h12v5',
  command: 'M12 21s-6-6-6-11a6 6 0 0 1 12 0c0 5-6 11-6 11zM12 12a2 2 0 1 0 0-4 2 2 0 0 0 0 4z',
  coverage: 'M4 20V10M10 20V4M16 20v-7M22 20H2',
  evidence: 'M6 3h9l4 4v14H6zM14 3v5h5M9 13h7M9 17h7',
  docks: 'M3 14h18v6H3zM7 14V9h10v5M12 3v6M9 6l3 3 3-3M7 17h2',
  firmware: 'M7 7h10v10H7zM10 3v4M14 3v4M10 17v4M14 17v4M3 10h4M3 14h4M17 10h4M17 14h4',
  audit: 'M9 5h11M9 12h11M9 19h11M4 5l1 1 2-2M4 12l1 1 2-2M4 19l1 1 2-2',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  globe: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM3 12h18M12 3c3 3 3 15 0 18M12 3c-3 3-3 15 0 18',
  scan: 'M4 8V4h4M16 4h4v4M20 16v4h-4M8 20H4v-4M7 12h10',
  menu: 'M4 6h16M4 12h16M4 18h16',
  fit: 'M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5M12 9v6M9 12h6',
  layers: 'M12 3l9 5-9 5-9-5zM3 13l9 5 9-5',
};

export function icon(name, cls = 'icon') {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', PATHS[name] || '');
  svg.appendChild(p);
  return svg;
}
