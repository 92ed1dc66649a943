// Evidence (证据) for legal/audit staff and administrators: search the vault, open an item with
// its metadata and chain of custody, play or download the untouched original (a written reason
// first; every view is logged), legal hold and release, deletion by an administrator's written
// decision, the chain verifier, the missing-records report (执法节点缺失记录) and the case review
// sample (案卷评查). The dock stations and their offloads have their own page (#/docks); this
// one links there for those who may see it.
import { h, clear, field } from '../dom.js';
import { t, has } from '../i18n.js';
import { get, post, api, items } from '../api.js';
import { today, dateTime } from '../format.js';
import { fetchBlob, saveBlob } from '../download.js';
import {
  Cursors, pager, emptyRow, loadingRow, errorBox, showError, badge, openDialog, toast, describeError, unitSelect,
} from '../widgets.js';
import { DOCK_ROLES } from './docks.js';

const PAGE = 50;
const READ_ROLES = ['admin', 'auditor'];
const MIME = { mp4: 'video/mp4', wav: 'audio/wav', aac: 'audio/aac', jpg: 'image/jpeg' };

export default async function render(root, ctx) {
  const role = ctx.me?.user?.role || '';
  const canRead = READ_ROLES.includes(role);
  // Stations and offloads are on the dock page: a link, not a second copy here.
  const docksLink = DOCK_ROLES.includes(role)
    ? h('a', { href: '#/docks', id: 'ev-docks-link', class: 'small', text: t('ev.docksLink') })
    : null;
  try {
    await ctx.units.load();
  } catch {
    // names fall back to ids
  }
  const views = [];
  if (canRead) views.push(['search', searchView], ['missing', missingView], ['review', reviewView]);
  if (!views.length) {
    clear(root, h('div', { class: 'placeholder', role: 'status' }, h('p', { text: t('ev.noRole') }), docksLink));
    return;
  }
  const names = new Names();
  const wanted = (window.location.hash.split('/')[2] || '').split('?')[0];
  // #/evidence/search?item=ID opens that item (the dock page links its confirmed files here).
  const linked = new URLSearchParams(window.location.hash.split('?')[1] || '').get('item');
  let active = views.some(([id]) => id === wanted) ? wanted : views[0][0];
  const panel = h('div', { role: 'tabpanel', id: 'ev-panel', tabindex: '-1' });
  const tabs = views.map(([id]) => h('button', {
    type: 'button', role: 'tab', class: 'tab', id: `ev-tab-${id}`, 'aria-controls': 'ev-panel', text: t(`ev.tab.${id}`),
    onclick: () => select(id),
    onkeydown: (ev) => {
      const i = views.findIndex(([v]) => v === id);
      let j = -1;
      if (ev.key === 'ArrowRight') j = (i + 1) % views.length;
      if (ev.key === 'ArrowLeft') j = (i + views.length - 1) % views.length;
      if (j >= 0) {
        ev.preventDefault();
        select(views[j][0]);
        tabs[j].focus();
      }
    },
  }));
  clear(root, h('section', { class: 'register-main single', 'aria-labelledby': 'page-title' },
    h('div', { style: 'display:flex; flex-wrap:wrap; align-items:baseline; gap:12px' },
      h('div', { role: 'tablist', class: 'tabs', style: 'flex:1', 'aria-label': t('nav.evidence') }, tabs), docksLink),
    panel));

  function select(id) {
    active = id;
    tabs.forEach((b, i) => {
      const on = views[i][0] === id;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    });
    panel.setAttribute('aria-labelledby', `ev-tab-${id}`);
    // Keep the tab in the address, so a link opens it (the router takes #/evidence/…).
    const want = `#/evidence/${id}`;
    if (window.location.hash !== want) window.history.replaceState(null, '', want);
    clear(panel);
    const view = views.find(([v]) => v === id)[1];
    Promise.resolve(view(panel, ctx, { names, canRead, role })).catch((err) => {
      if (err?.name !== 'AbortError') clear(panel, errorBox(err));
    });
  }
  select(active);
  if (linked && canRead) itemDialog(ctx, { names, canRead, role }, linked);
}

// Names resolves officer and device ids to names for the tables, once each.
class Names {
  constructor() {
    this.cache = new Map();
  }

  fill(el, kind, id) {
    if (!id) {
      el.textContent = '—';
      return el;
    }
    el.textContent = id.slice(0, 8);
    el.title = id;
    const key = `${kind}:${id}`;
    if (!this.cache.has(key)) {
      const path = kind === 'officer' ? `/officers/${encodeURIComponent(id)}` : `/devices/${encodeURIComponent(id)}`;
      this.cache.set(key, get(path).then((x) => (kind === 'officer' ? `${x.name}（${x.badge_no}）` : x.serial)).catch(() => id));
    }
    this.cache.get(key).then((n) => { el.textContent = n; });
    return el;
  }
}

// 503: the vault is not configured on this server.
const unavailable = (err) => err?.status === 503;

function errorOrUnavailable(err) {
  if (unavailable(err)) {
    return h('div', { class: 'alert warn', role: 'alert', id: 'ev-unavailable' },
      h('strong', { text: t('ev.unavailable') }), h('p', { class: 'small', text: describeError(err) }));
  }
  return errorBox(err);
}

function fmtSize(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

function fmtDuration(ms) {
  if (!ms) return '';
  const s = Math.round(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return `${hh ? `${hh}:` : ''}${String(mm).padStart(hh ? 2 : 1, '0')}:${String(ss).padStart(2, '0')}`;
}

const tr = (prefix, v) => (v && has(`${prefix}.${v}`) ? t(`${prefix}.${v}`) : (v || ''));

function stateBadges(it) {
  return [
    it.deleted_at ? badge(t('ev.deleted'), 'bad') : null,
    it.legal_hold ? badge(t('ev.held'), 'warn', it.hold_reason || '') : null,
    it.category ? badge(tr('ev.category', it.category), it.category === 'no_incident' ? 'muted' : 'info') : null,
  ];
}

// ---------- search ----------

async function searchView(panel, ctx, env) {
  const cursors = new Cursors();
  const unit = unitSelect(ctx.units, '', { required: false, empty: t('ev.allUnits') });
  unit.id = 'ev-unit';
  const from = h('input', { type: 'date', id: 'ev-from' });
  const to = h('input', { type: 'date', id: 'ev-to' });
  const caseNo = h('input', { id: 'ev-case', class: 'mono', maxlength: 64 });
  const officer = h('input', { id: 'ev-officer', class: 'mono', placeholder: t('ev.idHint') });
  const device = h('input', { id: 'ev-device', class: 'mono', placeholder: t('ev.idHint') });
  const deleted = h('input', { type: 'checkbox', id: 'ev-deleted' });
  const COLS = 8;
  const tbody = h('tbody', {}, loadingRow(COLS));
  const pagerBox = h('div', {});
  const form = h('form', {
    class: 'filters', id: 'ev-filters', role: 'search',
    onsubmit: (ev) => { ev.preventDefault(); cursors.reset(); load(); },
  },
  field(t('ev.unit'), unit), field(t('ev.from'), from), field(t('ev.to'), to), field(t('ev.case'), caseNo),
  field(t('ev.officerId'), officer), field(t('ev.deviceId'), device),
  h('div', { class: 'field check' }, deleted, h('label', { for: 'ev-deleted', text: t('ev.showDeleted') })),
  h('button', { type: 'submit', class: 'btn primary', id: 'ev-search', text: t('ev.search') }));
  const verifyBtn = h('button', { type: 'button', class: 'btn', id: 'ev-verify', text: t('ev.verify'), onclick: () => verifyDialog() });
  clear(panel,
    h('div', { class: 'toolbar' }, h('div', { class: 'toolbar-left' }, h('p', { class: 'small muted', text: t('ev.searchHint') })), h('div', { class: 'toolbar-right' }, verifyBtn)),
    form,
    h('div', { class: 'table-wrap' }, h('table', { class: 'grid', id: 'evidence-table' },
      h('caption', { class: 'visually-hidden', text: t('ev.tab.search') }),
      h('thead', {}, h('tr', {}, ['ev.recordedAt', 'ev.file', 'ev.officer', 'ev.device', 'ev.unit', 'ev.size', 'ev.state', 'common.actions']
        .map((k) => h('th', { scope: 'col', text: t(k) })))),
      tbody)),
    pagerBox);

  async function load() {
    clear(tbody, loadingRow(COLS));
    let data;
    try {
      data = await get('/evidence', {
        unit: unit.value, from: from.value, to: to.value, case: caseNo.value.trim(), officer: officer.value.trim(), device: device.value.trim(),
        deleted: deleted.checked ? 'true' : '', limit: PAGE, after: cursors.current,
      }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(tbody, h('tr', {}, h('td', { colspan: COLS }, errorOrUnavailable(err))));
      return;
    }
    const list = items(data);
    cursors.next = data?.next || '';
    clear(tbody, list.length ? list.map((it) => itemRow(it)) : emptyRow(COLS, t('ev.none')));
    clear(pagerBox, pager({ hasPrev: cursors.page > 1, hasNext: Boolean(cursors.next), label: t('common.pageN', { n: cursors.page, count: list.length }) },
      () => { cursors.back(); load(); }, () => { cursors.forward(); load(); }));
  }

  function itemRow(it) {
    return h('tr', { dataset: { id: it.id } },
      h('td', { class: 'nowrap', text: dateTime(it.start_at) }),
      h('td', {}, h('span', { class: 'mono', text: it.file_name }), ' ', badge(tr('ev.type', it.file_type), 'muted')),
      h('td', {}, env.names.fill(h('span', {}), 'officer', it.officer_id)),
      h('td', {}, env.names.fill(h('span', { class: 'mono' }), 'device', it.device_id)),
      h('td', { class: 'unit-cell', text: ctx.units.name(it.unit_id), title: ctx.units.trail(it.unit_id) }),
      h('td', { class: 'num', text: fmtSize(it.size_bytes) }),
      h('td', {}, stateBadges(it)),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'link ev-open', text: t('ev.open'), 'aria-label': t('ev.openItem', { name: it.file_name }),
        onclick: () => itemDialog(ctx, env, it.id, load),
      })));
  }

  await load();
}

// askReason asks for the written reason of a view, download, hold, release or deletion.
export function askReason(title, { danger = false, confirmText } = {}) {
  return new Promise((resolve) => {
    let done = false;
    const input = h('textarea', { id: 'reason-input', required: true, rows: 3, maxlength: 500 });
    const errors = h('div', {});
    const ok = h('button', { type: 'submit', form: 'reason-form', class: danger ? 'btn danger' : 'btn primary', id: 'reason-ok', text: confirmText || t('common.confirm') });
    const form = h('form', {
      id: 'reason-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        const v = input.value.trim();
        if (!v) {
          showError(errors, { message: t('ev.reasonRequired'), code: 'invalid' });
          input.setAttribute('aria-invalid', 'true');
          input.focus();
          return;
        }
        done = true;
        dlg.close();
        resolve(v);
      },
    }, field(t('ev.reason'), input, { hint: t('ev.reasonHint') }), errors);
    const dlg = openDialog({
      title, medium: true, attrs: { id: 'reason-dialog' }, body: form,
      actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), ok],
      onClose: () => { if (!done) resolve(null); },
    });
    input.focus();
  });
}

// itemDialog shows an item: metadata, the original (after a reason), actions and custody.
async function itemDialog(ctx, env, id, onChanged) {
  const meta = h('div', { id: 'ev-meta' }, h('p', { class: 'muted', text: t('common.loading') }));
  const player = h('div', { class: 'player', id: 'ev-player', 'aria-live': 'polite' });
  const actions = h('div', { class: 'alert-actions', id: 'ev-actions' });
  const timeline = h('div', { id: 'custody-timeline' }, h('p', { class: 'muted', text: t('common.loading') }));
  const errors = h('div', {});
  let objectURL = '';
  openDialog({
    title: t('ev.itemTitle'), wide: true, attrs: { id: 'evidence-dialog' },
    body: h('div', { class: 'ev-layout' }, errors, meta, actions, player,
      h('section', { 'aria-labelledby': 'custody-title' }, h('h3', { id: 'custody-title', text: t('ev.custody') }), timeline)),
    onClose: () => { if (objectURL) URL.revokeObjectURL(objectURL); onChanged?.(); },
  });

  async function refresh() {
    let rep;
    try {
      rep = await get(`/evidence/${encodeURIComponent(id)}/custody`);
    } catch (err) {
      clear(meta, errorOrUnavailable(err));
      clear(timeline);
      return;
    }
    const it = rep.item;
    clear(meta, metaList(ctx, env, it));
    clear(timeline, custodyTimeline(rep.entries || []));
    clear(actions,
      it.deleted_at ? null : h('button', { type: 'button', class: 'btn primary', id: 'ev-play', text: t('ev.play'), onclick: () => play(it) }),
      it.deleted_at ? null : h('button', { type: 'button', class: 'btn', id: 'ev-download', text: t('ev.download'), onclick: () => download(it) }),
      it.deleted_at ? null : it.legal_hold
        ? h('button', { type: 'button', class: 'btn', id: 'ev-release', text: t('ev.release'), onclick: () => withReason('release', t('ev.releaseTitle')) })
        : h('button', { type: 'button', class: 'btn', id: 'ev-hold', text: t('ev.hold'), onclick: () => withReason('hold', t('ev.holdTitle')) }),
      env.role === 'admin' && !it.deleted_at
        ? h('button', { type: 'button', class: 'btn danger', id: 'ev-delete', text: t('ev.delete'), disabled: it.legal_hold, title: it.legal_hold ? t('ev.heldNoDelete') : null, onclick: () => withReason('delete', t('ev.deleteTitle'), true) })
        : null);
  }

  async function play(it) {
    const reason = await askReason(t('ev.viewTitle'), { confirmText: t('ev.play') });
    if (!reason) return;
    clear(player, h('p', { class: 'muted', text: t('common.loading') }));
    try {
      const { blob } = await fetchBlob(`/evidence/${encodeURIComponent(it.id)}/content`, { reason }, { fallbackName: it.file_name });
      if (objectURL) URL.revokeObjectURL(objectURL);
      const typed = blob.type ? blob : new Blob([blob], { type: MIME[it.file_type] || '' });
      objectURL = URL.createObjectURL(typed);
      const kind = (MIME[it.file_type] || typed.type || '').split('/')[0];
      const label = t('ev.mediaLabel', { name: it.file_name });
      let el;
      if (kind === 'video') el = h('video', { src: objectURL, controls: true, 'aria-label': label });
      else if (kind === 'audio') el = h('audio', { src: objectURL, controls: true, 'aria-label': label });
      else if (kind === 'image') el = h('img', { src: objectURL, alt: label });
      else el = h('p', { text: t('ev.noPreview') });
      clear(player, el);
    } catch (err) {
      clear(player, errorBox(err));
    }
    refresh();
  }

  async function download(it) {
    const reason = await askReason(t('ev.downloadTitle'), { confirmText: t('ev.download') });
    if (!reason) return;
    try {
      const { blob, name } = await fetchBlob(`/evidence/${encodeURIComponent(it.id)}/content`, { reason, export: 'true' }, { fallbackName: it.file_name });
      saveBlob(blob, name);
    } catch (err) {
      showError(errors, err);
    }
    refresh();
  }

  async function withReason(action, title, danger = false) {
    const reason = await askReason(title, { danger, confirmText: t(`ev.${action}`) });
    if (!reason) return;
    try {
      if (action === 'delete') await api('DELETE', `/evidence/${encodeURIComponent(id)}`, { body: { reason } });
      else await post(`/evidence/${encodeURIComponent(id)}/${action}`, { reason });
      toast(t(`ev.done.${action}`), 'success');
      clear(errors);
    } catch (err) {
      showError(errors, err);
    }
    refresh();
  }

  await refresh();
}

function metaList(ctx, env, it) {
  const row = (k, v) => [h('dt', { text: t(k) }), h('dd', {}, v === undefined || v === null || v === '' ? '—' : v)];
  return h('div', {},
    h('div', { class: 'card-head' }, h('h3', { class: 'mono', id: 'ev-file-name', text: it.file_name }), h('div', {}, stateBadges(it))),
    h('dl', { class: 'kv inline' },
      row('ev.recordedAt', `${dateTime(it.start_at)}${it.end_at ? ` – ${dateTime(it.end_at)}` : ''}`),
      row('ev.duration', fmtDuration(it.duration_ms)),
      row('ev.officer', env.names.fill(h('span', {}), 'officer', it.officer_id)),
      row('ev.device', env.names.fill(h('span', { class: 'mono' }), 'device', it.device_id)),
      row('ev.unit', ctx.units.trail(it.unit_id) || it.unit_id),
      row('ev.position', it.lat !== undefined && it.lon !== undefined ? `${it.lat}, ${it.lon}` : ''),
      row('ev.type', tr('ev.type', it.file_type)),
      row('ev.size', fmtSize(it.size_bytes)),
      row('ev.ingestedAt', dateTime(it.ingested_at)),
      row('ev.station', h('span', { class: 'mono', text: it.station_id })),
      row('ev.category', tr('ev.category', it.category)),
      row('ev.case', it.case_number),
      row('ev.retainUntil', it.retain_until ? dateTime(it.retain_until) : (it.category === 'permanent' ? t('ev.forever') : '')),
      row('ev.holdReason', it.legal_hold ? it.hold_reason : ''),
      it.deleted_at ? row('ev.deletedAt', `${dateTime(it.deleted_at)} · ${it.deleted_by || ''} · ${it.delete_reason || ''}`) : null,
      row('ev.sha256', h('span', { class: 'hash', id: 'ev-sha', text: it.sha256 }))));
}

function custodyTimeline(entries) {
  if (!entries.length) return h('p', { class: 'muted', text: t('common.none') });
  return h('ol', { class: 'timeline', 'aria-label': t('ev.custody') }, entries.map((e) => h('li', { class: `act-${e.action}` },
    h('div', { class: 'tl-head' },
      h('strong', { text: tr('custody', e.action) }),
      h('span', { class: 'mono small', text: dateTime(e.at) }),
      h('span', { text: e.actor || e.actor_id || '' })),
    e.reason ? h('div', { class: 'small' }, h('span', { class: 'muted', text: `${t('ev.reason')}：` }), e.reason) : null,
    e.detail ? h('div', { class: 'small muted', text: e.detail }) : null,
    h('div', { class: 'tl-hash', title: t('ev.entryHash'), text: `#${e.seq} ${e.entry_hash}` }))));
}

async function verifyDialog() {
  const body = h('div', { id: 'verify-report', 'aria-live': 'polite' }, h('p', { class: 'muted', text: t('ev.verifying') }));
  openDialog({ title: t('ev.verify'), wide: true, attrs: { id: 'verify-dialog' }, body });
  let rep;
  try {
    rep = await post('/evidence/verify', {});
  } catch (err) {
    clear(body, errorOrUnavailable(err));
    return;
  }
  const breaks = rep.chain_breaks || [];
  const problems = rep.file_problems || [];
  clear(body,
    h('div', { class: `alert ${rep.ok ? 'success' : 'error'}`, role: rep.ok ? 'status' : 'alert' }, h('strong', { text: rep.ok ? t('ev.verifyOk') : t('ev.verifyBad') })),
    h('dl', { class: 'kv inline' },
      h('dt', { text: t('ev.verifyItems') }), h('dd', { text: String(rep.items) }),
      h('dt', { text: t('ev.verifyEntries') }), h('dd', { text: String(rep.custody_entries) }),
      h('dt', { text: t('ev.verifyBytes') }), h('dd', { text: fmtSize(rep.bytes_hashed) }),
      h('dt', { text: t('ev.verifyTime') }), h('dd', { text: `${dateTime(rep.started_at)} – ${dateTime(rep.finished_at)}` })),
    breaks.length ? h('div', {}, h('h3', { text: t('ev.chainBreaks') }), h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['ev.seq', 'ev.item', 'ev.reason'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, breaks.map((b) => h('tr', {}, h('td', { class: 'mono', text: b.seq }), h('td', { class: 'mono', text: b.item_id }), h('td', { text: b.reason })))))) : null,
    problems.length ? h('div', {}, h('h3', { text: t('ev.fileProblems') }), h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['ev.item', 'ev.sha256', 'ev.problem'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, problems.map((p) => h('tr', {}, h('td', { class: 'mono', text: p.item_id }), h('td', { class: 'hash', text: p.sha256 }),
        h('td', { text: `${p.problem}${p.detail ? `: ${p.detail}` : ''}` })))))) : null);
}

// ---------- missing records (执法节点缺失记录) ----------

async function missingView(panel, ctx, env) {
  const unit = unitSelect(ctx.units, ctx.units.roots[0]?.id || '', { required: false, empty: t('ev.allUnits') });
  unit.id = 'mr-unit';
  const year = today().slice(0, 4);
  const from = h('input', { type: 'date', id: 'mr-from', value: `${year}-01-01` });
  const to = h('input', { type: 'date', id: 'mr-to', value: today() });
  const COLS = 6;
  const tbody = h('tbody', {}, loadingRow(COLS));
  const summary = h('p', { class: 'small muted', id: 'mr-summary', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); load(); } },
    field(t('ev.unit'), unit), field(t('ev.from'), from), field(t('ev.to'), to),
    h('button', { type: 'submit', class: 'btn primary', id: 'mr-run', text: t('ev.run') }));
  clear(panel, h('p', { class: 'small muted', text: t('ev.missingHint') }), form, summary,
    h('div', { class: 'table-wrap' }, h('table', { class: 'grid', id: 'missing-table' },
      h('thead', {}, h('tr', {}, ['ev.caseNo', 'ev.unit', 'ev.node', 'ev.nodeTime', 'ev.officer', 'ev.caseStatus'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      tbody)));
  async function load() {
    clear(tbody, loadingRow(COLS));
    let rep;
    try {
      rep = await get('/cases/missing-records', { unit: unit.value, from: from.value, to: to.value }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(tbody, h('tr', {}, h('td', { colspan: COLS }, errorOrUnavailable(err))));
      return;
    }
    const list = rep.missing || [];
    summary.textContent = t('ev.missingSummary', { cases: rep.cases_checked ?? 0, nodes: rep.nodes_checked ?? 0, missing: list.length });
    clear(tbody, list.length ? list.map((m) => h('tr', {},
      h('td', { class: 'mono', text: m.case_number }),
      h('td', { class: 'unit-cell', text: ctx.units.name(m.unit_id), title: ctx.units.trail(m.unit_id) }),
      h('td', {}, badge(tr('node', m.node?.kind), 'bad')),
      h('td', { class: 'nowrap', text: `${dateTime(m.node?.start_at)}${m.node?.end_at ? ` – ${dateTime(m.node.end_at)}` : ''}` }),
      h('td', {}, env.names.fill(h('span', {}), 'officer', m.node?.officer_id)),
      h('td', { text: tr('caseStatus', m.case_status) }))) : emptyRow(COLS, t('ev.noMissing')));
  }
  await load();
}

// ---------- review sample (案卷评查) ----------

async function reviewView(panel, ctx) {
  const unit = unitSelect(ctx.units, ctx.units.roots[0]?.id || '', { required: false, empty: t('ev.allUnits') });
  unit.id = 'rs-unit';
  const year = h('input', { type: 'number', id: 'rs-year', min: 2000, max: 2100, value: today().slice(0, 4), required: true });
  const percent = h('input', { type: 'number', id: 'rs-percent', min: 10, max: 100, value: 10, required: true });
  const out = h('div', { id: 'rs-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); load(); } },
    field(t('ev.unit'), unit), field(t('ev.year'), year), field(t('ev.percent'), percent, { hint: t('ev.percentHint') }),
    h('button', { type: 'submit', class: 'btn primary', id: 'rs-run', text: t('ev.draw') }));
  clear(panel, h('p', { class: 'small muted', text: t('ev.reviewHint') }), form, out);
  async function load() {
    clear(out, h('p', { class: 'muted', text: t('common.loading') }));
    let s;
    try {
      s = await get('/cases/review-sample', { unit: unit.value, year: year.value, percent: percent.value }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(out, errorOrUnavailable(err));
      return;
    }
    const cases = s.cases || [];
    clear(out,
      h('dl', { class: 'kv inline' },
        h('dt', { text: t('ev.totalCases') }), h('dd', { text: String(s.total_cases) }),
        h('dt', { text: t('ev.sampled') }), h('dd', { text: `${cases.length}（${s.percent}%）` }),
        h('dt', { text: t('ev.seed') }), h('dd', { class: 'mono', text: s.seed })),
      h('h3', { text: t('ev.strata') }),
      h('div', { class: 'table-wrap short' }, h('table', { class: 'grid compact', id: 'rs-strata' },
        h('thead', {}, h('tr', {}, ['ev.unit', 'ev.cases', 'ev.sampled'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', {}, (s.strata || []).length ? s.strata.map((x) => h('tr', {}, h('td', { text: ctx.units.name(x.unit_id) }), h('td', { class: 'num', text: x.cases }), h('td', { class: 'num', text: x.sampled })))
          : emptyRow(3, t('common.none'))))),
      h('h3', { text: t('ev.sampleCases') }),
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid compact', id: 'rs-cases' },
        h('thead', {}, h('tr', {}, ['ev.caseNo', 'ev.caseTitle', 'ev.unit', 'ev.openedAt', 'ev.caseStatus'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', {}, cases.length ? cases.map((c) => h('tr', {},
          h('td', { class: 'mono', text: c.number }), h('td', { text: c.title || '' }),
          h('td', { text: ctx.units.name(c.unit_id) }), h('td', { class: 'nowrap', text: dateTime(c.opened_at) }),
          h('td', { text: tr('caseStatus', c.status) }))) : emptyRow(5, t('ev.noCases'))))));
  }
  await load();
}
