// Officer register (执法人员): paged table over the selected unit, search, create and edit with
// the effective date of a change, eligibility badges, history, and roster import.
import { h, clear, debounce, field } from '../dom.js';
import { t } from '../i18n.js';
import { get, post, patch, api, items, url, getToken } from '../api.js';
import { today, dateTime } from '../format.js';
import { unitPane, markField } from '../unitpane.js';
import {
  Cursors, pager, emptyRow, loadingRow, eligibilityBadge, dutyBadge, badge, openDialog, errorBox,
  showError, toast, unitSelect, enumSelect, DUTY_STATUSES, CERT_STATUSES,
} from '../widgets.js';

const PAGE = 50;
const COLS = 8;

export default async function render(root, ctx) {
  const canEdit = ctx.can('officers.manage');
  const cursors = new Cursors();
  let query = '';
  let unitId = ctx.units.selected();

  const notices = h('div', { class: 'notices', id: 'officer-notices' });
  const search = h('input', {
    type: 'search', id: 'officer-search', placeholder: t('officers.searchHint'), 'aria-label': t('officers.search'),
    oninput: debounce(() => {
      query = search.value.trim();
      cursors.reset();
      load();
    }, 250),
  });
  const tbody = h('tbody', {}, loadingRow(COLS));
  const pagerBox = h('div', {});
  const scopeLabel = h('span', { class: 'scope-label' });

  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'toolbar-left' }, search, scopeLabel),
    h('div', { class: 'toolbar-right' },
      h('a', { class: 'btn ghost', href: templateURL('csv'), id: 'template-csv', text: t('officers.templateCsv'), onclick: (ev) => download(ev, 'csv') }),
      h('a', { class: 'btn ghost', href: templateURL('xlsx'), id: 'template-xlsx', text: t('officers.templateXlsx'), onclick: (ev) => download(ev, 'xlsx') }),
      canEdit ? h('button', { type: 'button', class: 'btn', id: 'officer-import', text: t('officers.import'), onclick: () => importDialog(ctx, load) }) : null,
      canEdit ? h('button', { type: 'button', class: 'btn primary', id: 'officer-new', text: t('officers.new'), onclick: () => officerDialog(ctx, null, afterSave) }) : null));

  const table = h('table', { class: 'grid', id: 'officer-table' },
    h('caption', { class: 'visually-hidden', text: t('nav.officers') }),
    h('thead', {}, h('tr', {},
      ['officers.name', 'officers.badge', 'officers.unit', 'officers.frontline', 'officers.duty', 'officers.certificate',
        'officers.eligibility', 'common.actions']
        .map((k) => h('th', { scope: 'col', text: t(k) })))),
    tbody);

  const pane = await unitPane(ctx, (id) => {
    unitId = id;
    cursors.reset();
    load();
  });
  clear(root, h('div', { class: 'register' }, pane,
    h('section', { class: 'register-main', 'aria-labelledby': 'page-title' }, toolbar, notices, h('div', { class: 'table-wrap' }, table), pagerBox)));

  function afterSave(res) {
    showReturnNotice(ctx, notices, res);
    load();
  }

  async function load() {
    clear(tbody, loadingRow(COLS));
    scopeLabel.textContent = unitId ? t('common.inUnit', { unit: ctx.units.name(unitId) }) : '';
    let data;
    try {
      data = await get('/officers', { unit_id: unitId, q: query, limit: PAGE, after: cursors.current }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(tbody, h('tr', {}, h('td', { colspan: COLS }, errorBox(err))));
      return;
    }
    const list = items(data);
    cursors.next = data?.next || '';
    const day = today();
    clear(tbody, list.length ? list.map((o) => h('tr', { dataset: { id: o.id } },
      h('td', {}, h('strong', { text: o.name })),
      h('td', { class: 'mono', text: o.badge_no }),
      h('td', { class: 'unit-cell', text: ctx.units.name(o.unit_id), title: ctx.units.trail(o.unit_id) }),
      h('td', {}, o.frontline ? badge(t('common.yes'), 'info') : h('span', { class: 'muted', text: t('common.no') })),
      h('td', {}, dutyBadge(o.duty_status)),
      h('td', {}, certCell(o.certificate, day)),
      h('td', {}, eligibilityBadge(o, day)),
      h('td', { class: 'actions' },
        canEdit ? h('button', { type: 'button', class: 'link', text: t('common.edit'), onclick: () => officerDialog(ctx, o, afterSave) }) : null,
        h('button', { type: 'button', class: 'link', text: t('common.history'), onclick: () => historyDialog(ctx, o) }))))
      : emptyRow(COLS, query ? t('officers.noMatch') : t('officers.empty')));
    clear(pagerBox, pager({
      hasPrev: cursors.page > 1,
      hasNext: Boolean(cursors.next),
      label: t('common.pageN', { n: cursors.page, count: list.length }),
    }, () => { cursors.back(); load(); }, () => { cursors.forward(); load(); }));
  }

  await load();
}

// certCell shows the certificate number over its expiry and annual review dates.
function certCell(c, day) {
  if (!c?.number) return h('span', { class: 'muted', text: '—' });
  return h('div', { class: 'cert' },
    h('div', { class: 'mono', text: c.number }),
    h('div', { class: 'small' },
      h('span', { class: 'muted', text: `${t('officers.expiresShort')} ` }),
      h('span', { class: dateClass(c.expires_on, day), text: c.expires_on || '—' }),
      h('span', { class: 'muted', text: ` · ${t('officers.reviewShort')} ` }),
      h('span', { class: dateClass(c.annual_review_until, day), text: c.annual_review_until || '—' })));
}

// dateClass flags dates already past (or within 30 days) so lapses stand out.
function dateClass(d, day) {
  if (!d) return 'muted';
  if (d < day) return 'date-past';
  const soon = new Date(Date.parse(day) + 30 * 864e5).toISOString().slice(0, 10);
  return d <= soon ? 'date-soon' : '';
}

// Template downloads need the bearer token, so a click fetches the file and saves it from a blob;
// the links still name the real endpoint.
const templateURL = (format) => url('/officers/import/template', { format });

async function download(ev, format) {
  ev.preventDefault();
  try {
    const res = await fetch(templateURL(format), { headers: { Authorization: `Bearer ${getToken()}` } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const blob = await res.blob();
    // The server names the file (in Chinese) in filename*=UTF-8''…
    const cd = res.headers.get('Content-Disposition') || '';
    const m = cd.match(/filename\*=UTF-8''([^;]+)/i);
    const name = m ? decodeURIComponent(m[1]) : `officers-template.${format}`;
    const a = h('a', { href: URL.createObjectURL(blob), download: name });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (err) {
    toast(`${t('officers.templateFailed')}: ${err.message}`, 'error');
  }
}

// showReturnNotice warns when a change leaves the officer holding recorders they may no longer
// keep (transfer, retirement, lapsed certificate): the manager must take them back.
async function showReturnNotice(ctx, box, res) {
  const due = res?.recorders_to_return || [];
  if (!due.length) return;
  const serials = await Promise.all(due.map(async (a) => {
    try {
      return (await get(`/devices/${encodeURIComponent(a.device_id)}`)).serial;
    } catch {
      return a.device_id;
    }
  }));
  const notice = h('div', { class: 'alert warn prominent', role: 'alert', id: 'return-notice' },
    h('strong', { text: t('officers.returnTitle', { name: res.name, badge: res.badge_no }) }),
    h('p', { text: t('officers.returnBody', { n: due.length }) }),
    h('ul', {}, serials.map((s) => h('li', { class: 'mono', text: s }))),
    h('div', { class: 'alert-actions' },
      ctx.can('assignments.manage') ? h('a', { class: 'btn primary', href: '#/desk', text: t('officers.goDesk') }) : null,
      h('button', { type: 'button', class: 'btn', text: t('common.dismiss'), onclick: () => notice.remove() })));
  box.prepend(notice);
  notice.scrollIntoView({ block: 'nearest' });
}

// officerDialog creates (o null) or edits an officer.
function officerDialog(ctx, o, onSaved) {
  const c = o?.certificate || {};
  const day = today();
  const inputs = {
    name: h('input', { required: true, maxlength: 64, value: o?.name || '' }),
    badge_no: h('input', { required: true, maxlength: 32, pattern: '[A-Za-z0-9][A-Za-z0-9\\-]*', value: o?.badge_no || '', class: 'mono' }),
    unit_id: unitSelect(ctx.units, o?.unit_id || ctx.units.selected() || ctx.units.roots[0]?.id),
    frontline: h('input', { type: 'checkbox', id: 'officer-frontline', checked: o ? o.frontline : true }),
    duty_status: enumSelect(DUTY_STATUSES, 'duty', o?.duty_status || 'on_duty'),
    'certificate.number': h('input', { maxlength: 32, value: c.number || '', class: 'mono' }),
    'certificate.issued_on': h('input', { type: 'date', value: c.issued_on || '' }),
    'certificate.expires_on': h('input', { type: 'date', value: c.expires_on || '' }),
    'certificate.annual_review_until': h('input', { type: 'date', value: c.annual_review_until || '' }),
    'certificate.status': enumSelect(CERT_STATUSES, 'cert', c.status || 'valid'),
    effective_on: h('input', { type: 'date', value: day, max: day, required: true }),
  };
  const preview = h('span', { id: 'officer-elig-preview' });
  const transferNote = h('p', { class: 'alert warn small', hidden: true, text: t('officers.transferNote') });
  const errors = h('div', {});

  const state = () => ({
    frontline: inputs.frontline.checked,
    duty_status: inputs.duty_status.value,
    certificate: {
      number: inputs['certificate.number'].value.trim(),
      issued_on: inputs['certificate.issued_on'].value || null,
      expires_on: inputs['certificate.expires_on'].value || null,
      annual_review_until: inputs['certificate.annual_review_until'].value || null,
      status: inputs['certificate.status'].value,
    },
  });
  const refresh = () => {
    const s = state();
    if (s.duty_status === 'transferred_out' && s.certificate.number) s.certificate.status = 'revoked';
    clear(preview, eligibilityBadge(s, inputs.effective_on.value || day));
    transferNote.hidden = inputs.duty_status.value !== 'transferred_out';
  };
  Object.values(inputs).forEach((el) => el.addEventListener('input', refresh));
  Object.values(inputs).forEach((el) => el.addEventListener('change', refresh));
  refresh();

  // The footer button belongs to the form (form="officer-form"), so Enter in a field submits.
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'officer-form', id: 'officer-save', text: t('common.save') });
  const form = h('form', {
    class: 'form-grid', id: 'officer-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      const s = state();
      if (!s.certificate.number) {
        s.certificate = { number: '', issued_on: null, expires_on: null, annual_review_until: null, status: '' };
      }
      const body = {
        name: inputs.name.value.trim(),
        badge_no: inputs.badge_no.value.trim(),
        unit_id: inputs.unit_id.value,
        ...s,
        effective_on: inputs.effective_on.value,
      };
      try {
        const res = o ? await patch(`/officers/${encodeURIComponent(o.id)}`, body) : await post('/officers', body);
        dlg.close();
        toast(o ? t('officers.saved', { name: body.name }) : t('officers.created', { name: body.name }), 'success');
        onSaved(res);
      } catch (err) {
        showError(errors, err);
        markField(inputs, err);
        save.disabled = false;
      }
    },
  },
  h('fieldset', {},
    h('legend', { text: t('officers.person') }),
    field(t('officers.name'), inputs.name),
    field(t('officers.badge'), inputs.badge_no),
    field(t('officers.unit'), inputs.unit_id, { wide: true }),
    h('div', { class: 'field check' }, inputs.frontline, h('label', { for: 'officer-frontline', text: t('officers.frontlineLong') })),
    field(t('officers.duty'), inputs.duty_status),
    transferNote),
  h('fieldset', {},
    h('legend', { text: t('officers.certificate') }),
    field(t('officers.certNo'), inputs['certificate.number'], { hint: t('officers.certNoHint') }),
    field(t('officers.certStatus'), inputs['certificate.status']),
    field(t('officers.issued'), inputs['certificate.issued_on']),
    field(t('officers.expires'), inputs['certificate.expires_on']),
    field(t('officers.review'), inputs['certificate.annual_review_until'])),
  h('fieldset', {},
    h('legend', { text: t('officers.effective') }),
    field(t('officers.effectiveOn'), inputs.effective_on, { hint: t('officers.effectiveHint') }),
    h('div', { class: 'field' }, h('span', { class: 'label', text: t('officers.eligibility') }), preview)),
  errors);

  const dlg = openDialog({
    title: o ? t('officers.editTitle', { name: o.name }) : t('officers.new'),
    wide: true,
    attrs: { id: 'officer-dialog' },
    body: form,
    actions: [
      h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }),
      save,
    ],
  });
  inputs.name.focus();
}

// historyDialog lists an officer's effective-dated versions with the eligibility of each.
async function historyDialog(ctx, o) {
  const tbody = h('tbody', {}, loadingRow(8));
  openDialog({
    title: t('officers.historyTitle', { name: o.name, badge: o.badge_no }),
    wide: true,
    attrs: { id: 'officer-history' },
    body: h('div', { class: 'table-wrap' }, h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['officers.effectiveOn', 'officers.unit', 'officers.frontline', 'officers.duty', 'officers.certNo',
        'officers.certStatus', 'officers.eligibility', 'officers.recorded'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      tbody)),
  });
  try {
    const versions = items(await get(`/officers/${encodeURIComponent(o.id)}/history`));
    clear(tbody, versions.length ? versions.slice().reverse().map((v) => h('tr', {},
      h('td', { class: 'mono', text: v.effective_on }),
      h('td', { text: ctx.units.name(v.unit_id) }),
      h('td', { text: v.frontline ? t('common.yes') : t('common.no') }),
      h('td', {}, dutyBadge(v.duty_status)),
      h('td', { class: 'mono', text: v.certificate?.number || '—' }),
      h('td', { text: v.certificate?.status ? t(`cert.${v.certificate.status}`) : '—' }),
      h('td', {}, eligibilityBadge(v, v.effective_on)),
      h('td', { class: 'muted', text: dateTime(v.recorded_at) }))) : emptyRow(8, t('common.none')));
  } catch (err) {
    clear(tbody, h('tr', {}, h('td', { colspan: 8 }, errorBox(err))));
  }
}

// importDialog uploads a CSV or XLSX roster. The import is all or nothing: on 422 every bad
// row is listed with its row number as the spreadsheet shows it.
function importDialog(ctx, onDone) {
  const file = h('input', { type: 'file', id: 'import-file', accept: '.csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', required: true });
  const result = h('div', { id: 'import-result', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn primary', form: 'import-form', id: 'import-submit', text: t('officers.importRun') });
  const form = h('form', {
    id: 'import-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (!file.files.length) return;
      const fd = new FormData();
      fd.append('file', file.files[0]);
      submit.disabled = true;
      clear(result, h('p', { class: 'muted', text: t('officers.importing') }));
      try {
        const res = await api('POST', '/officers/import', { form: fd });
        const rows = res?.errors || res?.rows || [];
        if (rows.length) {
          clear(result, rowErrors(rows));
        } else {
          clear(result, h('div', { class: 'alert success', role: 'status', text: t('officers.importDone', { created: res?.created ?? 0, updated: res?.updated ?? 0 }) }));
          onDone();
        }
      } catch (err) {
        const rows = err.body?.rows || err.body?.errors || err.body?.error?.rows || [];
        clear(result, rows.length ? rowErrors(rows) : errorBox(err));
      } finally {
        submit.disabled = false;
      }
    },
  },
  field(t('officers.importFile'), file, { hint: t('officers.importHint') }),
  h('p', { class: 'small' }, `${t('officers.templates')}: `,
    h('a', { href: templateURL('xlsx'), onclick: (ev) => download(ev, 'xlsx'), text: t('officers.templateXlsx') }), ' · ',
    h('a', { href: templateURL('csv'), onclick: (ev) => download(ev, 'csv'), text: t('officers.templateCsv') })));
  const dlg = openDialog({
    title: t('officers.import'),
    wide: true,
    attrs: { id: 'import-dialog' },
    body: [form, result],
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.close'), onclick: () => dlg.close() }), submit],
  });
}

function rowErrors(rows) {
  return h('div', { class: 'alert error', role: 'alert' },
    h('strong', { text: t('officers.importRejected', { n: rows.length }) }),
    h('div', { class: 'table-wrap short' }, h('table', { class: 'grid compact', id: 'import-errors' },
      h('thead', {}, h('tr', {}, ['officers.row', 'common.field', 'common.message'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, rows.map((r) => h('tr', {},
        h('td', { class: 'mono', text: r.row }),
        h('td', { text: r.field ? (t(`field.${r.field}`) === `field.${r.field}` ? r.field : t(`field.${r.field}`)) : '' }),
        h('td', { text: r.message })))))));
}

