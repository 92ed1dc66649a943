// Device register (设备台账): recorders, vehicle terminals and boat AIS units, with kind and
// status filters, registration (the MQTT secret is shown once), status changes and history.
import { h, clear, debounce, field, copyText } from '../dom.js';
import { t } from '../i18n.js';
import { get, post, patch, items } from '../api.js';
import { dateTime } from '../format.js';
import { unitPane, markField } from '../unitpane.js';
import { userLabel } from '../names.js';
import {
  Cursors, pager, emptyRow, loadingRow, statusBadge, openDialog, errorBox, showError, toast, unitSelect,
  enumSelect, DEVICE_KINDS, DEVICE_STATUSES, SETTABLE_STATUSES,
} from '../widgets.js';

const PAGE = 50;
const COLS = 9;

export default async function render(root, ctx) {
  const canEdit = ctx.can('devices.manage');
  const cursors = new Cursors();
  let unitId = ctx.units.selected();

  const kind = enumSelect(DEVICE_KINDS, 'kind', '', { empty: t('devices.allKinds') });
  kind.id = 'device-kind';
  const status = enumSelect(DEVICE_STATUSES, 'status', '', { empty: t('devices.allStatuses') });
  status.id = 'device-status';
  const search = h('input', { type: 'search', id: 'device-search', placeholder: t('devices.searchHint'), 'aria-label': t('devices.search') });
  const reload = () => {
    cursors.reset();
    load();
  };
  kind.addEventListener('change', reload);
  status.addEventListener('change', reload);
  search.addEventListener('input', debounce(reload, 250));

  const tbody = h('tbody', {}, loadingRow(COLS));
  const pagerBox = h('div', {});
  const note = h('p', { class: 'muted small', hidden: true, text: t('devices.unitFilterPage') });

  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'toolbar-left' },
      h('label', { class: 'visually-hidden', for: 'device-kind', text: t('devices.kind') }), kind,
      h('label', { class: 'visually-hidden', for: 'device-status', text: t('devices.status') }), status,
      search),
    h('div', { class: 'toolbar-right' },
      canEdit ? h('button', { type: 'button', class: 'btn primary', id: 'device-new', text: t('devices.new'), onclick: () => registerDialog(ctx, reload) }) : null));

  const table = h('table', { class: 'grid', id: 'device-table' },
    h('caption', { class: 'visually-hidden', text: t('nav.devices') }),
    h('thead', {}, h('tr', {}, ['devices.serial', 'devices.kind', 'devices.model', 'devices.unit', 'devices.status',
      'devices.firmware', 'devices.lastSeen', 'devices.created', 'common.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
    tbody);

  const pane = await unitPane(ctx, (id) => {
    unitId = id;
    reload();
  });
  clear(root, h('div', { class: 'register' }, pane,
    h('section', { class: 'register-main', 'aria-labelledby': 'page-title' }, toolbar, note, h('div', { class: 'table-wrap' }, table), pagerBox)));

  async function load() {
    clear(tbody, loadingRow(COLS));
    let data;
    try {
      data = await get('/devices', {
        kind: kind.value, status: status.value, q: search.value.trim(), unit_id: unitId, limit: PAGE, after: cursors.current,
      }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(tbody, h('tr', {}, h('td', { colspan: COLS }, errorBox(err))));
      return;
    }
    cursors.next = data?.next || '';
    let list = items(data);
    // The API lists devices of the whole scope; narrow the page to the chosen unit's subtree.
    const all = list.length;
    if (unitId) list = list.filter((d) => ctx.units.within(d.unit_id, unitId));
    note.hidden = !unitId || list.length === all;
    clear(tbody, list.length ? list.map((d) => h('tr', { dataset: { id: d.id, serial: d.serial } },
      h('td', { class: 'mono' }, h('strong', { text: d.serial })),
      h('td', { text: t(`kind.${d.kind}`) }),
      h('td', { text: d.model || '—' }),
      h('td', { class: 'unit-cell', text: ctx.units.name(d.unit_id), title: ctx.units.trail(d.unit_id) }),
      h('td', {}, statusBadge(d.status)),
      h('td', { class: 'mono', text: d.firmware_version || '—' }),
      h('td', { class: d.last_seen_at ? '' : 'muted', text: d.last_seen_at ? dateTime(d.last_seen_at) : t('devices.never') }),
      h('td', { class: 'muted', text: dateTime(d.created_at) }),
      h('td', { class: 'actions' },
        canEdit && d.status !== 'retired'
          ? h('button', { type: 'button', class: 'link', text: t('devices.changeStatus'), onclick: () => statusDialog(d, load) }) : null,
        h('button', { type: 'button', class: 'link', text: t('common.history'), onclick: () => historyDialog(ctx, d) }))))
      : emptyRow(COLS, t('devices.empty')));
    clear(pagerBox, pager({
      hasPrev: cursors.page > 1,
      hasNext: Boolean(cursors.next),
      label: t('common.pageN', { n: cursors.page, count: list.length }),
    }, () => { cursors.back(); load(); }, () => { cursors.forward(); load(); }));
  }

  await load();
}

// registerDialog registers a device; on success the one-time secret dialog follows.
function registerDialog(ctx, onDone) {
  const inputs = {
    kind: enumSelect(DEVICE_KINDS, 'kind', 'recorder'),
    serial: h('input', { required: true, maxlength: 64, class: 'mono', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*', autocomplete: 'off' }),
    model: h('input', { maxlength: 64 }),
    unit_id: unitSelect(ctx.units, ctx.units.selected() || ctx.units.roots[0]?.id),
    firmware_version: h('input', { maxlength: 32, class: 'mono' }),
    rtsp_url: h('input', { type: 'url', maxlength: 512, placeholder: 'rtsp://', class: 'mono' }),
    mmsi: h('input', { inputmode: 'numeric', pattern: '[0-9]{9}', maxlength: 9, class: 'mono' }),
  };
  Object.entries(inputs).forEach(([k, el]) => {
    el.id = `device-${k.replace('_', '-')}`;
  });
  const rtspField = field(t('devices.rtsp'), inputs.rtsp_url, { hint: t('devices.rtspHint'), wide: true });
  const mmsiField = field(t('devices.mmsi'), inputs.mmsi, { hint: t('devices.mmsiHint') });
  const kindChanged = () => {
    const ais = inputs.kind.value === 'ais_unit';
    rtspField.hidden = ais;
    mmsiField.hidden = !ais;
  };
  inputs.kind.addEventListener('change', kindChanged);
  kindChanged();
  const errors = h('div', {});
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'device-form', id: 'device-save', text: t('devices.register') });
  const form = h('form', {
    id: 'device-form', class: 'form-grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const ais = inputs.kind.value === 'ais_unit';
      const body = {
        kind: inputs.kind.value,
        serial: inputs.serial.value.trim(),
        model: inputs.model.value.trim(),
        unit_id: inputs.unit_id.value,
        firmware_version: inputs.firmware_version.value.trim(),
        rtsp_url: ais ? '' : inputs.rtsp_url.value.trim(),
        mmsi: ais ? inputs.mmsi.value.trim() : '',
      };
      save.disabled = true;
      try {
        const nd = await post('/devices', body);
        dlg.close();
        secretDialog(nd);
        onDone();
      } catch (err) {
        showError(errors, err);
        markField(inputs, err);
        save.disabled = false;
      }
    },
  },
  h('fieldset', {},
    field(t('devices.kind'), inputs.kind),
    field(t('devices.serial'), inputs.serial, { hint: t('devices.serialHint') }),
    field(t('devices.model'), inputs.model),
    field(t('devices.firmware'), inputs.firmware_version),
    field(t('devices.unit'), inputs.unit_id, { wide: true }),
    rtspField,
    mmsiField),
  errors);
  const dlg = openDialog({
    title: t('devices.new'),
    wide: true,
    attrs: { id: 'device-dialog' },
    body: form,
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
  });
  inputs.serial.focus();
}

// secretDialog shows a new device's MQTT secret this once: the server keeps only its hash.
// Esc does not close it, so that it is not lost by a stray key.
export function secretDialog(nd) {
  const value = h('input', { id: 'secret-value', class: 'mono secret', readonly: true, value: nd.mqtt_secret, 'aria-label': t('devices.secret'), onfocus: (ev) => ev.target.select() });
  const copied = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const copy = h('button', {
    type: 'button', class: 'btn', id: 'secret-copy', text: t('common.copy'),
    onclick: async () => {
      const ok = await copyText(nd.mqtt_secret);
      copied.textContent = ok ? t('common.copied') : t('devices.copyFailed');
      if (!ok) value.select();
    },
  });
  const dlg = openDialog({
    title: t('devices.secretTitle'),
    dismissable: false,
    medium: true,
    attrs: { id: 'secret-dialog' },
    body: [
      h('div', { class: 'alert warn', role: 'alert' }, h('strong', { text: t('devices.secretWarn') })),
      h('dl', { class: 'kv' },
        h('dt', { text: t('devices.serial') }), h('dd', { class: 'mono', text: nd.serial }),
        h('dt', { text: t('devices.mqttUser') }), h('dd', { class: 'mono', id: 'secret-device-id', text: nd.id })),
      h('div', { class: 'field wide' },
        h('label', { for: 'secret-value', text: t('devices.secret') }),
        h('div', { class: 'input-row' }, value, copy), copied),
    ],
    actions: [h('button', { type: 'button', class: 'btn primary', id: 'secret-done', text: t('devices.secretDone'), onclick: () => dlg.close() })],
  });
  copy.focus();
}

// statusDialog moves a device through its lifecycle: 在库, 维修中, 遗失, 报废.
function statusDialog(d, onDone) {
  const choices = SETTABLE_STATUSES.filter((s) => s !== d.status);
  const sel = enumSelect(choices, 'status', choices[0]);
  sel.id = 'status-new';
  const reason = h('input', { id: 'status-reason', maxlength: 200 });
  const warnings = h('div', {});
  const errors = h('div', {});
  const refresh = () => clear(warnings,
    d.status === 'assigned' ? h('p', { class: 'alert warn small', text: t('devices.endsAssignment') }) : null,
    sel.value === 'retired' ? h('p', { class: 'alert warn small', text: t('devices.retireFinal') }) : null);
  sel.addEventListener('change', refresh);
  refresh();
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'status-form', id: 'status-save', text: t('common.save') });
  const form = h('form', {
    id: 'status-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      try {
        await patch(`/devices/${encodeURIComponent(d.id)}`, { status: sel.value, reason: reason.value.trim() });
        dlg.close();
        toast(t('devices.statusChanged', { serial: d.serial, status: t(`status.${sel.value}`) }), 'success');
        onDone();
      } catch (err) {
        showError(errors, err);
        save.disabled = false;
      }
    },
  },
  h('p', {}, t('devices.current'), ' ', statusBadge(d.status)),
  field(t('devices.newStatus'), sel),
  field(t('devices.reason'), reason, { hint: t('devices.reasonHint') }),
  warnings, errors);
  const dlg = openDialog({
    title: t('devices.statusTitle', { serial: d.serial }),
    attrs: { id: 'status-dialog' },
    body: form,
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
  });
  sel.focus();
}

async function historyDialog(ctx, d) {
  const tbody = h('tbody', {}, loadingRow(5));
  openDialog({
    title: t('devices.historyTitle', { serial: d.serial }),
    wide: true,
    attrs: { id: 'device-history' },
    body: h('div', { class: 'table-wrap' }, h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, ['common.time', 'devices.status', 'devices.unit', 'devices.reason', 'common.by']
        .map((k) => h('th', { scope: 'col', text: t(k) })))),
      tbody)),
  });
  try {
    const changes = items(await get(`/devices/${encodeURIComponent(d.id)}/history`)).slice().reverse();
    const names = await Promise.all(changes.map((c) => userLabel(c.by)));
    clear(tbody, changes.length ? changes.map((c, i) => h('tr', {},
      h('td', { class: 'mono', text: dateTime(c.at) }),
      h('td', {}, statusBadge(c.status)),
      h('td', { text: ctx.units.name(c.unit_id) }),
      h('td', { text: reasonText(c.reason) }),
      h('td', { text: names[i] }))) : emptyRow(5, t('common.none')));
  } catch (err) {
    clear(tbody, h('tr', {}, h('td', { colspan: 5 }, errorBox(err))));
  }
}

// reasonText translates the register's own reasons ("registered", "checkout B-1", …).
function reasonText(r) {
  if (!r) return '';
  const [word, ...rest] = r.split(' ');
  const key = `devices.why.${word}`;
  const text = t(key);
  return text === key ? r : [text, ...rest].join(' ');
}
