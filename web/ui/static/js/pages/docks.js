// Dock stations (采集站): the stations of the user's subtree and the offloads of its recorders,
// each with a progress bar over the bytes received against the total declared, and one per file
// when opened. While an offload is open or in progress the list refreshes itself every few
// seconds; a stalled one (files outstanding, no byte for a while) is flagged. A confirmed file
// links to its item on the evidence page for those who may read evidence. Administrators and
// equipment managers register stations here; the secret shows once.
import { h, clear, field, copyText } from '../dom.js';
import { t } from '../i18n.js';
import { get, post, items, all } from '../api.js';
import { dateTime, timeOfDay } from '../format.js';
import {
  Cursors, pager, emptyRow, loadingRow, errorBox, showError, badge, openDialog, toast, describeError, unitSelect,
} from '../widgets.js';

const PAGE = 20;
const REFRESH_MS = 3000; // while an offload is open or in progress
const IDLE_REFRESH_MS = 30000; // otherwise, to catch the next docking
// Who sees this page; the server enforces the same (fleet.mayWatchOffloads).
export const DOCK_ROLES = ['admin', 'equipment_manager', 'auditor'];
const READ_ROLES = ['admin', 'auditor'];
const STATUSES = ['open', 'in_progress', 'stalled', 'complete'];
const STATUS_TONE = { open: 'info', in_progress: 'info', complete: 'ok', stalled: 'bad' };
const FILE_TONE = { announced: 'muted', receiving: 'info', confirmed: 'ok', failed: 'bad' };
const LIVE = new Set(['open', 'in_progress']);

export default async function render(root, ctx) {
  const role = ctx.me?.user?.role || '';
  if (!DOCK_ROLES.includes(role)) {
    clear(root, h('div', { class: 'placeholder', role: 'status', text: t('docks.noRole') }));
    return;
  }
  const canRead = READ_ROLES.includes(role);
  const canRegister = ctx.can('devices.manage');
  try {
    await ctx.units.load();
  } catch {
    // unit names fall back to ids
  }

  const stationBody = h('tbody', {}, loadingRow(5));
  const stationBox = h('div', {});
  const station = h('select', { id: 'docks-station' }, h('option', { value: '', text: t('docks.allStations') }));
  const status = h('select', { id: 'docks-status' }, h('option', { value: '', text: t('docks.allStatuses') }),
    STATUSES.map((s) => h('option', { value: s, text: t(`docks.status.${s}`) })));
  const since = h('input', { type: 'date', id: 'docks-since' });
  const COLS = 9;
  const offloadBody = h('tbody', {}, loadingRow(COLS));
  const pagerBox = h('div', {});
  const live = h('p', { class: 'small muted', id: 'docks-live', 'aria-live': 'polite' });
  const flag = h('div', { id: 'docks-flag' });
  const cursors = new Cursors();
  const expanded = new Set();
  let timer = 0;
  let loads = 0; // the newest load's number: an older answer arriving late is dropped

  clear(root, h('section', { class: 'register-main single', 'aria-labelledby': 'page-title' },
    h('div', { class: 'toolbar' },
      h('div', { class: 'toolbar-left' }, h('p', { class: 'small muted', text: t('docks.hint') })),
      h('div', { class: 'toolbar-right' }, canRegister
        ? h('button', { type: 'button', class: 'btn primary', id: 'docks-new', text: t('dock.new'), onclick: () => registerDialog(ctx, loadStations) })
        : null)),
    h('section', { class: 'card', 'aria-labelledby': 'docks-stations-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'docks-stations-title', text: t('docks.stations') })),
      h('div', { class: 'table-wrap short' }, h('table', { class: 'grid compact', id: 'docks-stations' },
        h('thead', {}, h('tr', {}, ['dock.name', 'ev.unit', 'dock.id', 'dock.state', 'common.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        stationBody)),
      stationBox),
    h('section', { class: 'card', 'aria-labelledby': 'docks-offloads-title', style: 'margin-top:12px' },
      h('div', { class: 'card-head' }, h('h2', { id: 'docks-offloads-title', text: t('docks.offloads') }), live),
      h('form', {
        class: 'filters', id: 'docks-filters', role: 'search',
        onsubmit: (ev) => { ev.preventDefault(); cursors.reset(); load(); },
      }, field(t('docks.station'), station), field(t('docks.status'), status), field(t('docks.since'), since),
      h('button', { type: 'submit', class: 'btn primary', id: 'docks-search', text: t('docks.search') })),
      flag,
      h('div', { class: 'table-wrap', style: 'margin-top:8px' }, h('table', { class: 'grid', id: 'docks-offloads' },
        h('caption', { class: 'visually-hidden', text: t('docks.offloads') }),
        h('thead', {}, h('tr', {}, ['docks.openedAt', 'docks.station', 'docks.device', 'docks.officer', 'docks.status', 'docks.files',
          'docks.progress', 'docks.lastActivity', 'common.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        offloadBody)),
      pagerBox)));

  ctx.signal.addEventListener('abort', () => clearTimeout(timer));

  async function loadStations() {
    let list;
    try {
      list = await all('/dock/stations', {}, 500);
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(stationBody, h('tr', {}, h('td', { colspan: 5 }, unavailableOr(err))));
      return;
    }
    const keep = station.value;
    clear(station, h('option', { value: '', text: t('docks.allStations') }),
      list.map((s) => h('option', { value: s.id, text: s.name })));
    station.value = list.some((s) => s.id === keep) ? keep : '';
    clear(stationBody, list.length ? list.map((s) => h('tr', { dataset: { id: s.id } },
      h('td', {}, h('strong', { text: s.name })),
      h('td', { class: 'unit-cell', text: ctx.units.name(s.unit_id), title: ctx.units.trail(s.unit_id) }),
      h('td', { class: 'mono small', text: s.id }),
      h('td', {}, s.disabled ? badge(t('dock.disabled'), 'muted') : badge(t('dock.enabled'), 'ok')),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'link', text: t('docks.showOffloads'), 'aria-label': t('docks.showOffloadsOf', { name: s.name }),
        onclick: () => { station.value = s.id; cursors.reset(); load(); },
      })))) : emptyRow(5, t('dock.none')));
  }

  async function load() {
    clearTimeout(timer);
    const seq = ++loads;
    let data;
    try {
      data = await get('/dock/offloads', {
        station_id: station.value, status: status.value, since: since.value, limit: PAGE, after: cursors.current,
      }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError' || seq !== loads) return;
      clear(offloadBody, h('tr', {}, h('td', { colspan: COLS }, unavailableOr(err))));
      live.textContent = '';
      return;
    }
    const list = items(data);
    cursors.next = data?.next || '';
    // Details of the opened offloads come with the list, so a refresh redraws them together.
    const details = new Map(await Promise.all(list.filter((o) => expanded.has(o.id)).map(async (o) => {
      try {
        return [o.id, await get(`/dock/offloads/${encodeURIComponent(o.id)}`, {}, { signal: ctx.signal })];
      } catch (err) {
        return [o.id, err];
      }
    })));
    if (ctx.signal.aborted || seq !== loads) return;
    // The list is redrawn whole; the focus goes back to the control it was on.
    const focused = offloadBody.contains(document.activeElement) ? document.activeElement.id : '';
    clear(offloadBody, list.length ? list.flatMap((o) => offloadRows(o, details.get(o.id))) : emptyRow(COLS, t('docks.noOffloads')));
    if (focused) document.getElementById(focused)?.focus();
    clear(pagerBox, pager({ hasPrev: cursors.page > 1, hasNext: Boolean(cursors.next), label: t('common.pageN', { n: cursors.page, count: list.length }) },
      () => { cursors.back(); load(); }, () => { cursors.forward(); load(); }));
    const stalled = list.filter((o) => o.status === 'stalled').length;
    clear(flag, stalled ? h('div', { class: 'alert warn', role: 'alert', id: 'docks-stalled' },
      h('strong', { text: t('docks.stalledCount', { n: stalled }) }), h('p', { class: 'small', text: t('docks.stalledHint') })) : null);
    const busy = list.some((o) => LIVE.has(o.status));
    live.textContent = busy ? t('docks.live', { s: REFRESH_MS / 1000 }) : t('docks.idle');
    timer = setTimeout(() => { if (!ctx.signal.aborted) load(); }, busy ? REFRESH_MS : IDLE_REFRESH_MS);
  }

  function offloadRows(o, detail) {
    const open = expanded.has(o.id);
    const filesId = `docks-files-${o.id}`;
    const row = h('tr', { class: `offload st-${o.status}`, dataset: { id: o.id, status: o.status } },
      h('td', { class: 'nowrap', text: dateTime(o.opened_at) }),
      h('td', { text: o.station_name || o.station_id }),
      h('td', { class: 'mono', text: o.device_serial || o.device_id }),
      h('td', { text: o.officer_name || '—' }),
      h('td', {}, badge(t(`docks.status.${o.status}`), STATUS_TONE[o.status] || 'muted', o.status === 'stalled' ? t('docks.stalledHint') : null)),
      h('td', { class: 'num' },
        t('docks.filesCount', { confirmed: o.files_confirmed, announced: o.files_announced }),
        o.files_failed ? [' ', badge(t('docks.failedCount', { n: o.files_failed }), 'bad')] : null),
      h('td', { class: 'progress-cell' }, progressBar(o.bytes_received, o.bytes_declared, t('docks.progressOf', { name: o.device_serial || o.id }),
        o.files_announced ? null : t('docks.waiting'))),
      h('td', { class: 'nowrap', text: timeOfDay(o.last_activity_at), title: dateTime(o.last_activity_at) }),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'link docks-toggle', id: `docks-toggle-${o.id}`, 'aria-expanded': String(open), 'aria-controls': filesId,
        text: open ? t('docks.hide') : t('docks.details'),
        onclick: () => {
          if (expanded.has(o.id)) expanded.delete(o.id);
          else expanded.add(o.id);
          load();
        },
      })));
    if (!open) return [row];
    let inner;
    if (!detail) inner = h('p', { class: 'muted', text: t('common.loading') });
    else if (detail instanceof Error) inner = errorBox(detail);
    else inner = filesTable(detail);
    return [row, h('tr', { class: 'offload-files' }, h('td', { colspan: COLS, id: filesId, class: 'wrap' }, inner))];
  }

  function filesTable(d) {
    const files = d.files || [];
    if (!files.length) return h('p', { class: 'muted', text: t('docks.noFiles') });
    return h('table', { class: 'grid compact', id: `docks-filetable-${d.id}` },
      h('thead', {}, h('tr', {}, ['docks.file.name', 'docks.file.state', 'docks.progress', 'docks.file.sha256', 'docks.file.evidence']
        .map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, files.map((f) => h('tr', { dataset: { name: f.name, state: f.state } },
        h('td', { class: 'mono', text: f.name }),
        h('td', {}, badge(t(`docks.fileState.${f.state}`), FILE_TONE[f.state] || 'muted')),
        h('td', { class: 'progress-cell' }, progressBar(f.received_bytes, f.size_bytes, t('docks.progressOf', { name: f.name }))),
        h('td', { class: 'mono small', title: f.sha256, text: `${(f.sha256 || '').slice(0, 16)}…` }),
        h('td', { class: 'wrap' }, fileOutcome(f))))));
  }

  function fileOutcome(f) {
    if (f.state === 'failed') {
      const why = f.error_code === 'hash_mismatch' ? t('docks.error.hash_mismatch') : (f.error_code || '');
      return h('span', { class: 'small', title: f.error || '' }, badge(why || t('docks.fileState.failed'), 'bad'), ' ', t('docks.resend'));
    }
    if (f.state !== 'confirmed') return '—';
    if (canRead && f.evidence_id) {
      return h('a', {
        href: `#/evidence/search?item=${encodeURIComponent(f.evidence_id)}`, class: 'docks-item', dataset: { item: f.evidence_id },
        text: t('docks.openItem'), 'aria-label': t('docks.openItemOf', { name: f.name }),
      });
    }
    return h('span', { class: 'muted small', text: t('docks.inVault') });
  }

  await loadStations();
  await load();
}

// progressBar is a native <progress> with the bytes as text beside it.
function progressBar(received, total, label, waiting) {
  if (waiting) return h('span', { class: 'muted small', text: waiting });
  // Floored, so that 99.96% does not read as 100% before the last byte.
  const pct = (total > 0 ? Math.floor((received / total) * 1000) / 10 : 0).toFixed(1);
  return h('div', { class: 'progress-wrap' },
    h('div', {}, h('progress', { max: total || 1, value: Math.min(received, total || 0), 'aria-label': label }), ` ${pct}%`),
    h('div', { class: 'small muted', text: t('docks.bytes', { received: fmtSize(received), total: fmtSize(total) }) }));
}

function fmtSize(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

// 503: the vault is not configured on this server.
function unavailableOr(err) {
  if (err?.status === 503) {
    return h('div', { class: 'alert warn', role: 'alert', id: 'docks-unavailable' },
      h('strong', { text: t('ev.unavailable') }), h('p', { class: 'small', text: describeError(err) }));
  }
  return errorBox(err);
}

function registerDialog(ctx, onDone) {
  const name = h('input', { id: 'docks-name', required: true, maxlength: 64 });
  const unit = unitSelect(ctx.units, ctx.units.selected() || ctx.units.roots[0]?.id);
  unit.id = 'docks-unit';
  const errors = h('div', {});
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'docks-form', id: 'docks-save', text: t('common.create') });
  const form = h('form', {
    id: 'docks-form', class: 'form-grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      try {
        const ns = await post('/dock/stations', { name: name.value.trim(), unit_id: unit.value });
        dlg.close();
        secretDialog(ns);
        onDone();
      } catch (err) {
        showError(errors, err);
        save.disabled = false;
      }
    },
  }, field(t('dock.name'), name), field(t('ev.unit'), unit, { wide: true }), errors);
  const dlg = openDialog({
    title: t('dock.new'), medium: true, attrs: { id: 'docks-dialog' }, body: form,
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
  });
  name.focus();
}

// secretDialog shows a new station's secret this once: the server keeps only its hash.
function secretDialog(ns) {
  const value = h('input', { id: 'docks-secret-value', class: 'mono secret', readonly: true, value: ns.secret, 'aria-label': t('dock.secret'), onfocus: (ev) => ev.target.select() });
  const copy = h('button', {
    type: 'button', class: 'btn', text: t('common.copy'),
    onclick: async () => toast(await copyText(ns.secret) ? t('common.copied') : t('dock.copyFailed'), 'info'),
  });
  const dlg = openDialog({
    title: t('dock.secretTitle'), medium: true, dismissable: false, attrs: { id: 'docks-secret-dialog' },
    body: [
      h('div', { class: 'alert warn', role: 'alert' }, h('strong', { text: t('dock.secretWarn') })),
      h('dl', { class: 'kv' }, h('dt', { text: t('dock.name') }), h('dd', { text: ns.name }),
        h('dt', { text: t('dock.user') }), h('dd', { class: 'mono', id: 'docks-secret-id', text: ns.id })),
      h('div', { class: 'field' }, h('label', { for: 'docks-secret-value', text: t('dock.secret') }), h('div', { class: 'input-row' }, value, copy)),
    ],
    actions: [h('button', { type: 'button', class: 'btn primary', id: 'docks-secret-done', text: t('dock.secretDone'), onclick: () => dlg.close() })],
  });
  value.focus();
}
