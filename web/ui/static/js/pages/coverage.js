// Coverage toward the 2026 target (覆盖率 / 配置率): for a unit and a day, the unit and its
// children with eligible, equipped, allocation and active rates, the milestone and the behind
// flag, the projection and the shortfall; drill down one level at a time; a chart of the rate
// against the milestone line and the projection (inline SVG); the four lists a manager acts on;
// exports to send upward. A unit with nobody eligible has no rate ("—"), never 100%.
import { h, clear, field } from '../dom.js';
import { t, has } from '../i18n.js';
import { get, api, items } from '../api.js';
import { today } from '../format.js';
import { fetchBlob, saveBlob } from '../download.js';
import { Cursors, pager, emptyRow, loadingRow, errorBox, showError, badge, toast, describeError, openDialog } from '../widgets.js';

const COLS = 11;
const LISTS = ['unequipped', 'to_take_back', 'cert_due', 'not_seen'];
const PLAN_START_MONTH = '2024-05-01'; // the month of the provincial plan (2024-05-28)
const DEADLINE = '2026-12-31';

// pct prints a rate fraction as a percentage; null (nobody eligible) is "—", not 100%.
export function pct(r) {
  if (r === null || r === undefined || Number.isNaN(r)) return '—';
  return `${(Math.round(r * 1000) / 10).toFixed(1)}%`;
}

export default async function render(root, ctx) {
  try {
    await ctx.units.load();
  } catch {
    // names come from the report itself
  }
  let at = today();
  let unitId = ctx.units.roots.length === 1 ? ctx.units.roots[0].id : (ctx.units.roots[0]?.id || '');
  const trail = []; // units drilled through, from the top: [{id, name}]

  const date = h('input', { type: 'date', id: 'cov-date', value: at, max: today(), required: true });
  date.addEventListener('change', () => {
    if (!date.value) return;
    at = date.value;
    loadAll();
  });
  const crumbs = h('nav', { class: 'crumbs', id: 'cov-crumbs', 'aria-label': t('cov.path') });
  const exportBtn = (format, label) => {
    const btn = h('button', {
      type: 'button', class: 'btn', id: `cov-export-${format}`, text: label,
      onclick: async () => {
        btn.disabled = true;
        try {
          const { blob, name } = await fetchBlob('/coverage/export', { unit: unitId, at, format, depth: 'all' },
            { fallbackName: `coverage-${at}.${format}` });
          saveBlob(blob, name);
        } catch (err) {
          toast(`${t('cov.exportFailed')}: ${describeError(err)}`, 'error');
        } finally {
          btn.disabled = false;
        }
      },
    });
    exports.push(btn);
    return btn;
  };
  const notice = h('div', { id: 'cov-notice' });
  const summary = h('div', { class: 'cov-summary', id: 'cov-summary' });
  const tbody = h('tbody', {}, loadingRow(COLS));
  const table = h('table', { class: 'grid', id: 'coverage-table' },
    h('caption', { class: 'visually-hidden', text: t('cov.tableCaption') }),
    h('thead', {}, h('tr', {},
      ['cov.unit', 'cov.eligible', 'cov.equipped', 'cov.rate', 'cov.activeRate', 'cov.milestone', 'cov.behind',
        'cov.projected', 'cov.shortfall', 'cov.spare', 'cov.toProcure']
        .map((k, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null, text: t(k) })))),
    tbody);
  const chartBox = h('div', { class: 'cov-chart', id: 'cov-chart' });
  const lists = actionTabs(ctx, () => ({ unitId, at }));
  const chartCard = h('section', { class: 'card', 'aria-labelledby': 'cov-chart-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'cov-chart-title', text: t('cov.chartTitle') })),
    chartBox);
  const exports = [];
  const setAvailable = (ok) => {
    chartCard.hidden = !ok;
    lists.el.hidden = !ok;
    exports.forEach((b) => { b.disabled = !ok; });
  };

  clear(root, h('section', { class: 'register-main single coverage', 'aria-labelledby': 'page-title' },
    h('div', { class: 'toolbar' },
      h('div', { class: 'toolbar-left' }, field(t('cov.at'), date), crumbs),
      h('div', { class: 'toolbar-right' },
        h('button', { type: 'button', class: 'btn', id: 'cov-milestones', text: t('cov.milestones'), onclick: () => milestonesDialog(ctx, unitId, loadAll) }),
        exportBtn('xlsx', t('cov.exportXlsx')), exportBtn('csv', t('cov.exportCsv')))),
    notice,
    summary,
    h('div', { class: 'cov-grid' },
      h('div', { class: 'table-wrap' }, table),
      chartCard),
    lists.el));

  function drill(u) {
    if (u.id === unitId) return;
    const i = trail.findIndex((x) => x.id === u.id);
    if (i >= 0) trail.splice(i + 1);
    unitId = u.id;
    loadAll();
  }

  function renderCrumbs(report) {
    if (!trail.length || trail[trail.length - 1].id !== report.unit.id) {
      if (!trail.some((x) => x.id === report.unit.id)) trail.push({ id: report.unit.id, name: report.unit.name });
    }
    clear(crumbs, h('ol', {}, trail.map((u, i) => h('li', {},
      i === trail.length - 1
        ? h('span', { 'aria-current': 'page', text: u.name })
        : h('button', { type: 'button', class: 'link', text: u.name, onclick: () => { trail.splice(i + 1); unitId = u.id; loadAll(); } })))));
  }

  async function loadAll() {
    clear(tbody, loadingRow(COLS));
    clear(notice);
    let report;
    try {
      report = await get('/coverage', { unit: unitId, at }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err.status === 503 || err.status === 404) {
        showUnavailable(err);
      } else {
        clear(tbody, h('tr', {}, h('td', { colspan: COLS }, errorBox(err))));
      }
      return;
    }
    setAvailable(true);
    if (report?.unit?.id) unitId = report.unit.id;
    renderCrumbs(report);
    renderSummary(report);
    const kids = report.children || [];
    clear(tbody, row(report, true), kids.length ? kids.map((c) => row(c, false)) : emptyRow(COLS, t('cov.noChildren')));
    lists.reload();
    loadChart(report);
  }

  function showUnavailable(err) {
    clear(notice, h('div', { class: 'alert warn prominent', role: 'alert', id: 'cov-unavailable' },
      h('strong', { text: t('cov.unavailable') }),
      h('p', { text: t('cov.unavailableHint') }),
      h('p', { class: 'small muted', text: describeError(err) })));
    clear(tbody, emptyRow(COLS, t('cov.unavailable')));
    clear(summary);
    clear(chartBox);
    lists.disable();
    setAvailable(false);
  }

  function row(r, self) {
    const name = self ? h('strong', { text: r.unit.name })
      : h('button', { type: 'button', class: 'link drill', text: r.unit.name, title: t('cov.drill'), 'aria-label': t('cov.drillTo', { unit: r.unit.name }), onclick: () => drill(r.unit) });
    return h('tr', { class: self ? 'self' : null, dataset: { unit: r.unit.id } },
      h('th', { scope: 'row' }, name, r.unit.level ? h('span', { class: 'tree-level', text: ` ${t(`level.${r.unit.level}`)}` }) : null),
      h('td', { class: 'num', text: r.eligible }),
      h('td', { class: 'num', text: r.equipped }),
      h('td', { class: 'num' }, rateCell(r.rate, r.milestone)),
      h('td', { class: 'num', text: pct(r.active_rate) }),
      h('td', { class: 'num muted', text: pct(r.milestone) }),
      h('td', {}, r.behind ? badge(t('cov.behindYes'), 'bad') : (r.rate === null || r.rate === undefined ? h('span', { class: 'muted', text: '—' }) : badge(t('cov.onTrack'), 'ok'))),
      h('td', { class: 'nowrap' }, projection(r)),
      h('td', { class: 'num', text: r.shortfall }),
      h('td', { class: 'num', text: r.spare }),
      h('td', { class: 'num' }, r.to_procure > 0 ? h('strong', { class: 'bad-text', text: r.to_procure }) : String(r.to_procure ?? 0)));
  }

  function renderSummary(r) {
    const stat = (label, value, extra) => h('div', { class: 'stat' }, h('div', { class: 'stat-label', text: label }), h('div', { class: 'stat-value' }, value), extra || null);
    clear(summary,
      stat(t('cov.rate'), pct(r.rate), h('div', { class: 'small muted', text: t('cov.ofEligible', { equipped: r.equipped, eligible: r.eligible }) })),
      stat(t('cov.activeRate'), pct(r.active_rate), h('div', { class: 'small muted', text: t('cov.activeN', { n: r.active }) })),
      stat(t('cov.milestone'), pct(r.milestone), r.behind ? badge(t('cov.behindYes'), 'bad') : null),
      stat(t('cov.projected'), projection(r)),
      stat(t('cov.toProcure'), String(r.to_procure ?? 0), h('div', { class: 'small muted', text: t('cov.shortSpare', { shortfall: r.shortfall, spare: r.spare }) })));
  }

  async function loadChart(report) {
    clear(chartBox, h('p', { class: 'muted', text: t('common.loading') }));
    try {
      const s = await get('/coverage/series', { unit: report.unit.id, from: PLAN_START_MONTH < at ? PLAN_START_MONTH : '', to: at }, { signal: ctx.signal });
      clear(chartBox, chart(s.points || [], report));
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(chartBox, errorBox(err));
    }
  }

  await loadAll();
}

function rateCell(rate, milestone) {
  if (rate === null || rate === undefined) return h('span', { class: 'muted', title: t('cov.noRate'), text: '—' });
  const low = milestone !== null && milestone !== undefined && rate < milestone;
  return h('span', { class: low ? 'bad-text' : null, text: pct(rate) });
}

function projection(r) {
  const note = r.projection_note || '';
  if (r.projected_full_date && note !== 'not_at_this_pace' && note !== 'no_eligible' && note !== 'insufficient_trend') {
    const late = r.projected_full_date > DEADLINE;
    return h('span', { class: late ? 'bad-text' : null, title: has(`cov.proj.${note}`) ? t(`cov.proj.${note}`) : null, text: r.projected_full_date });
  }
  return h('span', { class: 'muted', text: has(`cov.proj.${note}`) ? t(`cov.proj.${note}`) : '—' });
}

// chart draws the monthly rate, the milestone line and the projection to 100% as inline SVG.
function chart(points, report) {
  const ns = 'http://www.w3.org/2000/svg';
  const s = (tag, attrs, ...kids) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    kids.forEach((c) => c && el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c));
    return el;
  };
  if (!points.length) return h('p', { class: 'muted', text: t('cov.noSeries') });
  const W = 560;
  const H = 240;
  const m = { l: 44, r: 12, t: 12, b: 28 };
  const day = (d) => Date.parse(`${d}T00:00:00Z`);
  const x0 = day(points[0].at);
  let x1 = Math.max(day(points[points.length - 1].at), day(DEADLINE));
  const proj = report.projected_full_date && report.projection_note === 'projected' ? report.projected_full_date : '';
  if (proj && day(proj) > x1) x1 = Math.min(day(proj), day(DEADLINE) + 3 * 365 * 864e5);
  const X = (d) => m.l + ((day(d) - x0) / Math.max(1, x1 - x0)) * (W - m.l - m.r);
  const Y = (r) => m.t + (1 - r) * (H - m.t - m.b);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': 'cov-chart-desc', preserveAspectRatio: 'xMidYMid meet' });
  const last = points[points.length - 1];
  svg.appendChild(s('title', { id: 'cov-chart-desc' }, t('cov.chartDesc', { unit: report.unit.name, rate: pct(last.rate), milestone: pct(last.milestone), date: proj || '—' })));
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.appendChild(s('line', { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: 'grid-line' }));
    svg.appendChild(s('text', { x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis' }, `${v * 100}%`));
  }
  // Year ticks.
  const y0 = new Date(x0).getUTCFullYear();
  const yEnd = new Date(x1).getUTCFullYear();
  for (let y = y0 + 1; y <= yEnd; y += 1) {
    const d = `${y}-01-01`;
    svg.appendChild(s('line', { x1: X(d), x2: X(d), y1: m.t, y2: H - m.b, class: 'grid-line' }));
    svg.appendChild(s('text', { x: X(d), y: H - m.b + 16, 'text-anchor': 'middle', class: 'axis' }, String(y)));
  }
  // Deadline.
  svg.appendChild(s('line', { x1: X(DEADLINE), x2: X(DEADLINE), y1: m.t, y2: H - m.b, class: 'deadline' }));
  const path = (pts) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
  // Milestone line: the series' own values, extended to 100% at the deadline.
  const ms = points.filter((p) => p.milestone !== null && p.milestone !== undefined).map((p) => [X(p.at), Y(p.milestone)]);
  if (ms.length) {
    ms.push([X(DEADLINE), Y(1)]);
    svg.appendChild(s('path', { d: path(ms), class: 'line milestone' }));
  }
  // The rate: segments broken where there is no rate (nobody eligible).
  let seg = [];
  const segs = [];
  for (const p of points) {
    if (p.rate === null || p.rate === undefined) {
      if (seg.length) segs.push(seg);
      seg = [];
    } else {
      seg.push([X(p.at), Y(p.rate)]);
    }
  }
  if (seg.length) segs.push(seg);
  segs.forEach((sg) => svg.appendChild(s('path', { d: path(sg), class: 'line rate' })));
  points.forEach((p) => {
    if (p.rate === null || p.rate === undefined) return;
    svg.appendChild(s('circle', { cx: X(p.at), cy: Y(p.rate), r: 2.5, class: 'dot' }, s('title', {}, `${p.at} ${pct(p.rate)}`)));
  });
  if (proj && last.rate !== null && last.rate !== undefined) {
    svg.appendChild(s('path', { d: path([[X(last.at), Y(last.rate)], [X(proj), Y(1)]]), class: 'line projection' }));
  }
  const legend = h('ul', { class: 'legend' },
    h('li', {}, h('span', { class: 'swatch rate', 'aria-hidden': 'true' }), t('cov.rate')),
    h('li', {}, h('span', { class: 'swatch milestone', 'aria-hidden': 'true' }), t('cov.milestoneLine')),
    h('li', {}, h('span', { class: 'swatch projection', 'aria-hidden': 'true' }), t('cov.projection')),
    h('li', {}, h('span', { class: 'swatch deadline', 'aria-hidden': 'true' }), t('cov.deadline')));
  return [svg, legend];
}

// actionTabs: the four lists in tabs (ARIA tabs with arrow keys), each paged.
function actionTabs(ctx, where) {
  let active = LISTS[0];
  let disabled = false;
  const cursors = new Cursors();
  const days = h('select', { id: 'cov-days' }, [30, 60, 90].map((d) => h('option', { value: d, text: t('cov.withinDays', { n: d }) })));
  days.addEventListener('change', () => { cursors.reset(); load(); });
  const daysField = h('span', { class: 'days-field', hidden: true },
    h('label', { for: 'cov-days', class: 'visually-hidden', text: t('cov.days') }), days);
  const tabs = LISTS.map((l) => h('button', {
    type: 'button', role: 'tab', id: `cov-tab-${l}`, class: 'tab', 'aria-controls': 'cov-list-panel', 'aria-selected': String(l === active), tabindex: l === active ? '0' : '-1',
    text: t(`cov.list.${l}`),
    onclick: () => select(l),
    onkeydown: (ev) => {
      const i = LISTS.indexOf(l);
      let j = -1;
      if (ev.key === 'ArrowRight') j = (i + 1) % LISTS.length;
      if (ev.key === 'ArrowLeft') j = (i + LISTS.length - 1) % LISTS.length;
      if (ev.key === 'Home') j = 0;
      if (ev.key === 'End') j = LISTS.length - 1;
      if (j >= 0) {
        ev.preventDefault();
        select(LISTS[j]);
        tabs[j].focus();
      }
    },
  }));
  const head = h('thead', {});
  const tbody = h('tbody', {});
  const total = h('span', { class: 'muted', id: 'cov-list-total' });
  const pagerBox = h('div', {});
  const hint = h('p', { class: 'small muted', id: 'cov-list-hint' });
  const panel = h('div', { role: 'tabpanel', id: 'cov-list-panel', 'aria-labelledby': `cov-tab-${active}`, tabindex: '0' },
    h('div', { class: 'toolbar' }, h('div', { class: 'toolbar-left' }, hint), h('div', { class: 'toolbar-right' }, daysField, total)),
    h('div', { class: 'table-wrap short' }, h('table', { class: 'grid compact', id: 'cov-list' }, head, tbody)), pagerBox);
  const el = h('section', { class: 'card cov-lists', 'aria-labelledby': 'cov-lists-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'cov-lists-title', text: t('cov.lists') })),
    h('div', { role: 'tablist', class: 'tabs', 'aria-label': t('cov.lists') }, tabs),
    panel);

  function select(l) {
    active = l;
    tabs.forEach((b, i) => {
      const on = LISTS[i] === l;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    });
    panel.setAttribute('aria-labelledby', `cov-tab-${l}`);
    cursors.reset();
    load();
  }

  function columns() {
    switch (active) {
      case 'unequipped': return ['cov.col.officer', 'cov.col.badge', 'cov.unit', 'cov.col.reason'];
      case 'to_take_back': return ['cov.col.serial', 'cov.col.officer', 'cov.col.badge', 'cov.unit', 'cov.col.reason'];
      case 'cert_due': return ['cov.col.officer', 'cov.col.badge', 'cov.unit', 'cov.col.reason', 'cov.col.dueOn', 'cov.col.daysLeft'];
      default: return ['cov.col.serial', 'cov.col.model', 'cov.col.officer', 'cov.unit', 'cov.col.lastSeen'];
    }
  }

  function cells(a) {
    const o = a.officer || {};
    const r = a.recorder || {};
    const reason = h('td', { text: reasonText(a.reason) });
    switch (active) {
      case 'unequipped': return [h('td', { text: o.name || '' }), h('td', { class: 'mono', text: o.badge_no || '' }), h('td', { text: a.unit?.name || '' }), reason];
      case 'to_take_back': return [h('td', { class: 'mono', text: r.serial || '' }), h('td', { text: o.name || '' }), h('td', { class: 'mono', text: o.badge_no || '' }), h('td', { text: a.unit?.name || '' }), reason];
      case 'cert_due': return [h('td', { text: o.name || '' }), h('td', { class: 'mono', text: o.badge_no || '' }), h('td', { text: a.unit?.name || '' }), reason,
        h('td', { class: 'mono', text: a.due_on || '' }), h('td', { class: 'num', text: a.days_left ?? '' })];
      default: return [h('td', { class: 'mono', text: r.serial || '' }), h('td', { text: r.model || '' }), h('td', { text: o.name || '' }), h('td', { text: a.unit?.name || '' }),
        h('td', { class: 'mono', text: a.last_seen_on || t('cov.neverSeen') })];
    }
  }

  async function load() {
    if (disabled) return;
    const cols = columns();
    daysField.hidden = active !== 'cert_due';
    hint.textContent = t(`cov.hint.${active}`);
    clear(head, h('tr', {}, cols.map((k) => h('th', { scope: 'col', text: t(k) }))));
    clear(tbody, loadingRow(cols.length));
    const { unitId, at } = where();
    let data;
    try {
      data = await get('/coverage/actions', { unit: unitId, at, list: active, days: active === 'cert_due' ? days.value : '', limit: 50, after: cursors.current }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(tbody, h('tr', {}, h('td', { colspan: cols.length }, errorBox(err))));
      return;
    }
    const list = items(data);
    cursors.next = data?.next || '';
    total.textContent = t('cov.total', { n: data?.total ?? list.length });
    clear(tbody, list.length ? list.map((a) => h('tr', {}, cells(a))) : emptyRow(cols.length, t('cov.listEmpty')));
    clear(pagerBox, pager({ hasPrev: cursors.page > 1, hasNext: Boolean(cursors.next), label: t('common.pageN', { n: cursors.page, count: list.length }) },
      () => { cursors.back(); load(); }, () => { cursors.forward(); load(); }));
  }

  return {
    el,
    reload: () => { disabled = false; tabs.forEach((b) => { b.disabled = false; }); cursors.reset(); load(); },
    disable: () => { disabled = true; tabs.forEach((b) => { b.disabled = true; }); clear(tbody); clear(head); total.textContent = ''; },
  };
}

function reasonText(r) {
  if (!r) return '';
  if (has(`reason.${r}`)) return t(`reason.${r}`);
  if (has(`cov.reason.${r}`)) return t(`cov.reason.${r}`);
  return r;
}

// milestonesDialog shows the province's year-end targets (the default line unless edited) and
// lets those who manage the province's units edit them. Rates are entered in percent.
async function milestonesDialog(ctx, unitId, onSaved) {
  const body = h('div', { id: 'milestones-body' }, h('p', { class: 'muted', text: t('common.loading') }));
  const errors = h('div', {});
  const canEdit = ctx.can('units.manage');
  const save = canEdit ? h('button', { type: 'submit', class: 'btn primary', form: 'milestones-form', id: 'milestones-save', text: t('common.save'), disabled: true }) : null;
  const dlg = openDialog({
    title: t('cov.milestones'), wide: true, attrs: { id: 'milestones-dialog' }, body: [body, errors],
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.close'), onclick: () => dlg.close() }), save],
  });
  let m;
  try {
    // The province of the unit on the page: the engine resolves it from the unit's tree.
    const province = provinceOf(ctx, unitId);
    m = await get('/coverage/milestones', { province });
  } catch (err) {
    clear(body, errorBox(err));
    return;
  }
  const inputs = new Map();
  const startRate = h('input', { type: 'number', id: 'ms-start', min: 0, max: 100, step: 0.1, value: m.start_rate_set ? (m.start_rate * 100).toFixed(1) : '', placeholder: (m.start_rate * 100).toFixed(1), disabled: !canEdit });
  clear(body, h('form', {
    id: 'milestones-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      const targets = [];
      for (const [year, { input, set }] of inputs) {
        if (input.value === '') continue;
        const rate = Number(input.value) / 100;
        if (set || input.dataset.edited) targets.push({ year, rate });
      }
      try {
        await api('PUT', '/coverage/milestones', {
          query: { province: m.province.id },
          body: { plan_start: m.plan_start, start_rate: startRate.value === '' ? null : Number(startRate.value) / 100, targets },
        });
        dlg.close();
        toast(t('cov.milestonesSaved'), 'success');
        onSaved();
      } catch (err) {
        showError(errors, err);
        save.disabled = false;
      }
    },
  },
  h('dl', { class: 'kv inline' },
    h('dt', { text: t('cov.province') }), h('dd', { text: m.province?.name || '' }),
    h('dt', { text: t('cov.planStart') }), h('dd', { class: 'mono', text: m.plan_start }),
    h('dt', { text: t('cov.deadlineDate') }), h('dd', { class: 'mono', text: m.deadline }),
    h('dt', { text: t('cov.updated') }), h('dd', { text: m.updated_at ? `${m.updated_at.slice(0, 10)} ${m.updated_by || ''}` : t('cov.defaultLine') })),
  h('div', { class: 'field' }, h('label', { for: 'ms-start', text: t('cov.startRate') }), startRate,
    h('small', { class: 'hint', text: t('cov.startRateHint') })),
  h('table', { class: 'grid compact', id: 'milestones-table' },
    h('thead', {}, h('tr', {}, ['cov.year', 'cov.yearEnd', 'cov.target', 'cov.source'].map((k) => h('th', { scope: 'col', text: t(k) })))),
    h('tbody', {}, (m.targets || []).map((x) => {
      const input = h('input', {
        type: 'number', min: 0, max: 100, step: 0.1, value: (x.rate * 100).toFixed(1), disabled: !canEdit,
        'aria-label': t('cov.targetOf', { year: x.year }),
        oninput: (ev) => { ev.target.dataset.edited = '1'; if (save) save.disabled = false; },
      });
      inputs.set(x.year, { input, set: x.set });
      return h('tr', {}, h('td', { text: x.year }), h('td', { class: 'mono', text: x.on }), h('td', {}, input, ' %'),
        h('td', {}, x.set ? badge(t('cov.edited'), 'info') : badge(t('cov.defaultLine'), 'muted')));
    })))));
  startRate.addEventListener('input', () => { if (save) save.disabled = false; });
}

// provinceOf walks up the unit tree to the province of unitId ('' when unknown: the server
// picks the user's own).
function provinceOf(ctx, unitId) {
  for (let u = ctx.units.get(unitId); u; u = ctx.units.get(u.parent_id)) {
    if (u.level === 'province') return u.id;
  }
  return '';
}
