// Audit log (审计日志) for roles with audit.read: who changed what, when, with the record before
// and after, newest first.
import { h, clear, debounce } from '../dom.js';
import { t, has } from '../i18n.js';
import { get, items } from '../api.js';
import { dateTime } from '../format.js';
import { Cursors, pager, emptyRow, loadingRow, errorBox, enumSelect } from '../widgets.js';

const PAGE = 50;
const COLS = 6;
const ENTITIES = ['unit', 'officer', 'device', 'assignment', 'user'];

export default async function render(root, ctx) {
  const cursors = new Cursors();
  const entity = enumSelect(ENTITIES, 'entity', '', { empty: t('audit.allEntities') });
  entity.id = 'audit-entity';
  const entityId = h('input', { id: 'audit-entity-id', placeholder: t('audit.entityIdHint'), class: 'mono' });
  const reload = () => {
    cursors.reset();
    load();
  };
  entity.addEventListener('change', reload);
  entityId.addEventListener('input', debounce(reload, 300));
  const tbody = h('tbody', {}, loadingRow(COLS));
  const pagerBox = h('div', {});
  clear(root, h('section', { class: 'register-main single' },
    h('div', { class: 'toolbar' }, h('div', { class: 'toolbar-left' },
      h('label', { class: 'visually-hidden', for: 'audit-entity', text: t('audit.entity') }), entity,
      h('label', { class: 'visually-hidden', for: 'audit-entity-id', text: t('audit.entityId') }), entityId)),
    h('div', { class: 'table-wrap' }, h('table', { class: 'grid', id: 'audit-table' },
      h('thead', {}, h('tr', {}, ['common.time', 'common.by', 'audit.action', 'audit.entity', 'devices.unit', 'audit.changes']
        .map((k) => h('th', { scope: 'col', text: t(k) })))),
      tbody)),
    pagerBox));

  async function load() {
    clear(tbody, loadingRow(COLS));
    let data;
    try {
      data = await get('/audit', { entity: entity.value, entity_id: entityId.value.trim(), limit: PAGE, after: cursors.current }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(tbody, h('tr', {}, h('td', { colspan: COLS }, errorBox(err))));
      return;
    }
    cursors.next = data?.next || '';
    const list = items(data);
    clear(tbody, list.length ? list.flatMap((e) => entryRows(e, ctx)) : emptyRow(COLS, t('common.none')));
    clear(pagerBox, pager({
      hasPrev: cursors.page > 1, hasNext: Boolean(cursors.next), label: t('common.pageN', { n: cursors.page, count: list.length }),
    }, () => { cursors.back(); load(); }, () => { cursors.forward(); load(); }));
  }

  try {
    await ctx.units.load(); // for unit names; the log is readable without them
  } catch {
    // names fall back to ids
  }
  await load();
}

// flatten turns a record into path → printed value ("certificate.status" → "valid").
export function flatten(v, prefix = '', out = new Map()) {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (!keys.length && prefix) out.set(prefix, '{}');
    for (const k of keys) flatten(v[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, v === null || v === undefined ? '' : (typeof v === 'string' ? v : JSON.stringify(v)));
  }
  return out;
}

// entryRows is an entry's row and, below it, a full-width row with the fields that changed
// (all of them for a creation), hidden until the manager opens it.
function entryRows(e, ctx) {
  const changed = changes(e);
  const detailId = `audit-diff-${e.seq}`;
  const detail = h('tr', { class: 'diff-row', id: detailId, hidden: true },
    h('td', { colspan: COLS }, changed.length ? diffTable(changed, e) : null));
  const toggle = changed.length
    ? h('button', {
      type: 'button', class: 'link', 'aria-expanded': 'false', 'aria-controls': detailId, text: t('audit.nChanges', { n: changed.length }),
      onclick: (ev) => {
        const open = detail.hidden;
        detail.hidden = !open;
        ev.currentTarget.setAttribute('aria-expanded', String(open));
      },
    })
    : h('span', { class: 'muted', text: e.reason || '—' });
  return [h('tr', { dataset: { seq: e.seq } },
    h('td', { class: 'mono nowrap', text: dateTime(e.at) }),
    h('td', { text: e.actor || e.actor_id }),
    h('td', { text: has(`action.${e.action}`) ? t(`action.${e.action}`) : e.action }),
    h('td', {}, h('span', { text: has(`entity.${e.entity}`) ? t(`entity.${e.entity}`) : e.entity }), ' ',
      h('span', { class: 'mono muted small', text: e.entity_id })),
    h('td', { class: 'unit-cell', text: e.unit_id ? ctx.units.name(e.unit_id) : '—' }),
    h('td', {}, toggle)), detail];
}

// changes lists [field, before, after] for the fields that differ; the version counter is noise.
function changes(e) {
  const before = flatten(e.before || null);
  const after = flatten(e.after || null);
  const keys = [...new Set([...before.keys(), ...after.keys()])];
  return keys.filter((k) => before.get(k) !== after.get(k) && k !== 'version').map((k) => [k, before.get(k), after.get(k)]);
}

function diffTable(changed, e) {
  return h('div', { class: 'diff' },
    e.reason ? h('p', { class: 'small' }, `${t('audit.reason')}: `, e.reason) : null,
    h('table', { class: 'grid compact diff-table' },
      h('thead', {}, h('tr', {}, ['common.field', 'audit.before', 'audit.after'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, changed.map(([k, b, a]) => h('tr', {},
        h('th', { scope: 'row', class: 'mono', text: k }),
        h('td', { class: b !== undefined ? 'del mono' : 'muted', text: b !== undefined ? b : '—' }),
        h('td', { class: a !== undefined ? 'ins mono' : 'muted', text: a !== undefined ? a : '—' }))))));
}
