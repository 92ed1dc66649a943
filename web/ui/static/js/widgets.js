// Building blocks shared by the pages: toasts, dialogs, error text, status badges, pagers.
import { h, clear } from './dom.js';
import { t, has, getLang } from './i18n.js';
import { ineligible } from './eligibility.js';

// toast shows a short message that does not take the focus. kind: info, success, error.
export function toast(message, kind = 'info', ms = 5000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { text: message }),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': t('common.close'), text: '×', onclick: () => el.remove() }));
  box.appendChild(el);
  if (ms) setTimeout(() => el.remove(), ms);
}

// Server messages are English sentences; the common ones are recognised and shown in the
// user's language, with the original kept in the element's title for support calls.
const KNOWN = [
  [/^recorder (\S+) is already with (.+); check it in first$/, 'err.alreadyOut', ['serial', 'holder']],
  [/^recorder (\S+) is (\w+) and cannot be handed out$/, 'err.notInStock', ['serial', 'status']],
  [/^recorder (\S+) is not checked out$/, 'err.notCheckedOut', ['serial']],
  [/^officer (\S+) already holds a recorder/, 'err.holdsRecorder', ['badge']],
  [/^officer (\S+) is (\w+), not on duty$/, 'err.notOnDuty', ['badge', 'duty']],
  [/^only recorders are handed to officers/, 'err.notRecorder', []],
  [/^device (\S+) is retired; /, 'err.retired', ['serial']],
  [/^wrong username or password$/, 'err.wrongLogin', []],
  [/^outside your unit$|^officer is outside your unit$/, 'err.outsideUnit', []],
];

// isHoldsRecorder tells the conflict a manager may override with allow_another.
export function isHoldsRecorder(err) {
  return err?.status === 409 && /already holds a recorder/.test(err.message || '');
}

// describeError returns a one-line text for an ApiError (or any Error) in the user's language.
export function describeError(err) {
  if (!err) return '';
  if (err.status === 0) return t('err.network');
  const msg = err.message || '';
  for (const [re, key, names] of KNOWN) {
    const m = msg.match(re);
    if (m) {
      const params = {};
      names.forEach((n, i) => {
        let v = m[i + 1];
        if (n === 'status') v = t(`status.${v}`);
        if (n === 'duty') v = t(`duty.${v}`);
        params[n] = v;
      });
      return t(key, params);
    }
  }
  const code = err.code && has(`code.${err.code}`) ? t(`code.${err.code}`) : t('code.internal');
  if (getLang() === 'zh-CN' && err.field) {
    return `${code}（${t('common.field')}: ${fieldName(err.field)}）：${msg}`;
  }
  return err.field ? `${code} (${fieldName(err.field)}): ${msg}` : `${code}: ${msg}`;
}

function fieldName(f) {
  return has(`field.${f}`) ? t(`field.${f}`) : f;
}

// errorBox is an inline, announced error message; null for no error.
export function errorBox(err, extra) {
  if (!err) return null;
  return h('div', { class: 'alert error', role: 'alert', title: err.message || '' },
    h('strong', { text: describeError(err) }), extra || null);
}

// showError puts err (or nothing) into a container kept for errors.
export function showError(box, err, extra) {
  clear(box, errorBox(err, extra));
}

// openDialog shows a modal <dialog>: native focus trapping and Esc. It returns close().
// opts: title, body (nodes), actions (nodes), wide, onClose, dismissable (default true).
export function openDialog(opts) {
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const close = () => {
    if (dlg.open) dlg.close();
  };
  const dlg = h('dialog', { class: `dialog ${opts.wide ? 'wide' : ''} ${opts.medium ? 'medium' : ''}`.trim(), 'aria-labelledby': titleId, ...(opts.attrs || {}) },
    h('header', { class: 'dialog-head' },
      h('h2', { id: titleId, text: opts.title }),
      opts.dismissable === false ? null
        : h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('common.close'), text: '×', onclick: close })),
    h('div', { class: 'dialog-body' }, opts.body),
    opts.actions ? h('footer', { class: 'dialog-foot' }, opts.actions) : null);
  if (opts.dismissable === false) dlg.addEventListener('cancel', (ev) => ev.preventDefault());
  dlg.addEventListener('close', () => {
    dlg.remove();
    opts.onClose?.();
  });
  document.body.appendChild(dlg);
  dlg.showModal();
  return { dialog: dlg, close };
}

// badge is a coloured label; tone: ok, warn, bad, info, muted.
export function badge(text, tone = 'muted', title) {
  return h('span', { class: `badge ${tone}`, text, title: title || null });
}

const STATUS_TONE = { in_stock: 'ok', assigned: 'info', in_repair: 'warn', lost: 'bad', retired: 'muted' };

export function statusBadge(status) {
  return badge(t(`status.${status}`), STATUS_TONE[status] || 'muted');
}

const DUTY_TONE = { on_duty: 'ok', transferred_out: 'muted', retired: 'muted', long_leave: 'warn' };

export function dutyBadge(duty) {
  return badge(t(`duty.${duty}`), DUTY_TONE[duty] || 'muted');
}

// eligibilityBadge shows whether officer o counts toward the allocation rate on day.
export function eligibilityBadge(o, day) {
  const why = ineligible(o, day);
  if (!why) return badge(t('elig.eligible'), 'ok', t('elig.eligibleHint'));
  return badge(t(`reason.${why}`), why === 'not_frontline' ? 'muted' : 'bad', t('elig.ineligible'));
}

// pager is a previous/next control over cursor pages. state: {hasPrev, hasNext, label}.
export function pager(state, onPrev, onNext) {
  return h('nav', { class: 'pager', 'aria-label': t('common.pages') },
    h('span', { class: 'muted', text: state.label || '' }),
    h('button', { type: 'button', class: 'btn', disabled: !state.hasPrev, onclick: onPrev, text: t('common.prev') }),
    h('button', { type: 'button', class: 'btn', disabled: !state.hasNext, onclick: onNext, text: t('common.next') }));
}

// Cursors walks a cursor-paged list and remembers the way back.
export class Cursors {
  constructor() {
    this.reset();
  }

  reset() {
    this.stack = [''];
    this.next = '';
  }

  get current() {
    return this.stack[this.stack.length - 1];
  }

  get page() {
    return this.stack.length;
  }

  forward() {
    if (this.next) this.stack.push(this.next);
  }

  back() {
    if (this.stack.length > 1) this.stack.pop();
  }
}

// unitSelect is a <select> of the units in store, indented by depth.
export function unitSelect(store, value, { required = true, empty } = {}) {
  const sel = h('select', { required });
  if (empty !== undefined) sel.appendChild(h('option', { value: '', text: empty }));
  for (const { unit, depth } of store.options()) {
    sel.appendChild(h('option', { value: unit.id, selected: unit.id === value, text: `${'\u3000'.repeat(depth)}${unit.name}` }));
  }
  if (value) sel.value = value;
  return sel;
}

// enumSelect is a <select> over values, labelled through prefix.value keys.
export function enumSelect(values, prefix, value, { empty } = {}) {
  const sel = h('select');
  if (empty !== undefined) sel.appendChild(h('option', { value: '', text: empty }));
  values.forEach((v) => sel.appendChild(h('option', { value: v, text: t(`${prefix}.${v}`) })));
  sel.value = value ?? (empty !== undefined ? '' : values[0]);
  return sel;
}

// emptyRow is a table row spanning cols with a message.
export function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols, text }));
}

// loadingRow is a placeholder row while a page loads.
export function loadingRow(cols) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols, text: t('common.loading') }));
}

export const DEVICE_KINDS = ['recorder', 'vehicle_terminal', 'ais_unit'];
export const DEVICE_STATUSES = ['in_stock', 'assigned', 'in_repair', 'lost', 'retired'];
// Statuses a manager may set by hand: "assigned" comes only from a check-out.
export const SETTABLE_STATUSES = ['in_stock', 'in_repair', 'lost', 'retired'];
export const DUTY_STATUSES = ['on_duty', 'transferred_out', 'retired', 'long_leave'];
export const CERT_STATUSES = ['valid', 'suspended', 'revoked'];
export const UNIT_LEVELS = ['province', 'city', 'county', 'station'];
