// The alerts panel of the command centre: open alerts (GET /api/v1/alerts?state=open, SOS
// first), then those acknowledged but not yet over (state=acked), kept current by the live
// feed. SOS is critical: a red, pulsing entry and a banner over the map, with no sound (the
// centres work in shared rooms). Clicking an alert centres the map on its device; commanders
// (alerts.ack) acknowledge with a note; the timeline shows who did what.
import { h, clear, field } from '../dom.js';
import { t, has } from '../i18n.js';
import { get, post, items } from '../api.js';
import { dateTime, timeOfDay } from '../format.js';
import { openDialog, errorBox, showError, toast, describeError, emptyRow, loadingRow } from '../widgets.js';
import { userLabel } from '../names.js';

const PRIORITY_RANK = { critical: 0, high: 1, warning: 2 };
const MAX_NOTE = 1000;

export function alertState(a) {
  if (a.state) return a.state;
  if (a.cleared_at) return 'cleared';
  if (a.acked_at) return 'acked';
  return 'open';
}

export function kindText(kind) {
  return has(`alert.kind.${kind}`) ? t(`alert.kind.${kind}`) : kind;
}

// compare orders alerts: open before acknowledged, SOS and higher priority first, newest first.
export function compareAlerts(a, b) {
  const sa = alertState(a) === 'open' ? 0 : 1;
  const sb = alertState(b) === 'open' ? 0 : 1;
  if (sa !== sb) return sa - sb;
  const ka = a.kind === 'sos' ? 0 : 1;
  const kb = b.kind === 'sos' ? 0 : 1;
  if (ka !== kb) return ka - kb;
  const pa = PRIORITY_RANK[a.priority] ?? 3;
  const pb = PRIORITY_RANK[b.priority] ?? 3;
  if (pa !== pb) return pa - pb;
  return String(b.raised_at || '').localeCompare(String(a.raised_at || ''));
}

// ago is "3 分钟前" / "3 min ago" for an instant.
function ago(s, now = Date.now()) {
  const ms = now - Date.parse(s);
  if (!Number.isFinite(ms)) return '';
  const min = Math.floor(ms / 60000);
  if (min < 1) return t('time.justNow');
  if (min < 60) return t('time.minutesAgo', { n: min });
  const hrs = Math.floor(min / 60);
  if (hrs < 48) return t('time.hoursAgo', { n: hrs });
  return t('time.daysAgo', { n: Math.floor(hrs / 24) });
}

// AlertsPanel owns the alert list. opts: ctx (page context), deviceLabel(id) → text,
// onLocate(alert), onChange() after any change (the map restyles its markers).
export class AlertsPanel {
  constructor(opts) {
    this.opts = opts;
    this.ctx = opts.ctx;
    this.alerts = new Map();
    this.recent = new Map(); // alert id → {at, alert}: the live feed's latest, for load()
    this.seen = new Set(); // SOS ids already announced
    this.loaded = false;
    this.error = null;
    this.pending = false;
    this.count = h('span', { class: 'count', id: 'alert-count' });
    this.list = h('ul', { class: 'alert-list', id: 'alert-list', 'aria-labelledby': 'alerts-title' });
    this.live = h('div', { class: 'visually-hidden', 'aria-live': 'assertive', id: 'alert-announce' });
    this.el = h('section', { class: 'cmd-panel alerts-panel', id: 'alerts-panel', 'aria-labelledby': 'alerts-title' },
      h('header', { class: 'cmd-panel-head' },
        h('h2', { id: 'alerts-title' }, t('alerts.title'), ' ', this.count),
        h('button', { type: 'button', class: 'btn ghost small', id: 'alerts-refresh', text: t('common.refresh'), onclick: () => this.load() })),
      this.list, this.live);
    clear(this.list, h('li', { class: 'alert-empty muted', text: t('common.loading') }));
  }

  // load replaces the list with the server's open and acknowledged alerts.
  async load() {
    const signal = this.ctx.signal;
    const started = performance.now();
    try {
      const [open, acked] = await Promise.all([
        get('/alerts', { state: 'open', limit: 200 }, { signal }),
        get('/alerts', { state: 'acked', limit: 100 }, { signal }).catch((err) => {
          if (err.name === 'AbortError') throw err;
          return { items: [] };
        }),
      ]);
      const next = new Map();
      for (const a of [...items(open), ...items(acked)]) next.set(a.id, a);
      // Changes the live feed delivered while the lists were on their way are newer.
      for (const [id, ev] of this.recent) {
        if (ev.at <= started) continue;
        const had = next.get(id);
        if (had && (had.version ?? 0) > (ev.alert.version ?? 0)) continue;
        if (alertState(ev.alert) === 'cleared') next.delete(id);
        else next.set(id, ev.alert);
      }
      this.alerts = next;
      this.error = null;
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.error = err;
    }
    this.loaded = true;
    this.render();
    this.opts.onChange?.();
  }

  // apply takes an alert from the live feed (or an ack's answer).
  apply(a) {
    if (!a?.id) return;
    this.recent.set(a.id, { at: performance.now(), alert: a });
    if (this.recent.size > 500) this.recent.delete(this.recent.keys().next().value);
    const prev = this.alerts.get(a.id);
    if (prev && (prev.version ?? 0) > (a.version ?? 0)) return;
    if (alertState(a) === 'cleared') this.alerts.delete(a.id);
    else this.alerts.set(a.id, a);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      if (this.ctx.signal.aborted) return;
      this.render();
      this.opts.onChange?.();
    });
  }

  // active lists the alerts shown, in display order.
  active() {
    return [...this.alerts.values()].sort(compareAlerts);
  }

  // byDevice maps device id → {sos, alert} for the markers (acknowledged SOS still counts: the
  // officer is still in trouble until the device clears it).
  byDevice() {
    const m = new Map();
    for (const a of this.alerts.values()) {
      const f = m.get(a.device_id) || { sos: false, alert: false };
      if (a.kind === 'sos') f.sos = true;
      else f.alert = true;
      m.set(a.device_id, f);
    }
    return m;
  }

  sosOpen() {
    return [...this.alerts.values()].filter((a) => a.kind === 'sos');
  }

  render() {
    const list = this.active();
    const open = list.filter((a) => alertState(a) === 'open').length;
    this.count.textContent = list.length ? t('alerts.count', { open, total: list.length }) : '';
    this.count.classList.toggle('has-sos', list.some((a) => a.kind === 'sos' && alertState(a) === 'open'));
    if (this.error) {
      clear(this.list, h('li', {}, errorBox(this.error)));
      return;
    }
    if (!list.length) {
      clear(this.list, h('li', { class: 'alert-empty muted', text: this.loaded ? t('alerts.none') : t('common.loading') }));
      return;
    }
    // The list is rebuilt on every change; the control that had the focus gets it back.
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    const focusId = focused?.closest('[data-id]')?.dataset.id;
    const focusRole = ['alert-main', 'alert-ack', 'alert-timeline'].find((c) => focused?.classList.contains(c));
    let ackedHeader = false;
    const rows = [];
    for (const a of list) {
      if (alertState(a) === 'acked' && !ackedHeader) {
        ackedHeader = true;
        rows.push(h('li', { class: 'alert-group', role: 'presentation', text: t('alerts.ackedGroup') }));
      }
      rows.push(this.row(a));
    }
    clear(this.list, rows);
    if (focusId && focusRole) {
      const again = this.list.querySelector(`[data-id="${CSS.escape(focusId)}"] .${focusRole}`)
        || this.list.querySelector(`[data-id="${CSS.escape(focusId)}"] .alert-main`);
      (again || this.list.querySelector('.alert-main'))?.focus();
    }
    // Announce new SOS alerts to screen readers once.
    const fresh = list.filter((a) => a.kind === 'sos' && alertState(a) === 'open' && !this.seen.has(a.id));
    fresh.forEach((a) => this.seen.add(a.id));
    if (fresh.length) {
      this.live.textContent = fresh.map((a) => t('alerts.sosAnnounce', { device: this.opts.deviceLabel(a.device_id) })).join(' ');
    }
  }

  row(a) {
    const state = alertState(a);
    const device = this.opts.deviceLabel(a.device_id);
    const unit = a.unit_id ? this.ctx.units.name(a.unit_id) : '';
    const titleId = `alert-${a.id}-title`;
    const canAck = this.ctx.can('alerts.ack') && state === 'open';
    return h('li', {
      class: `alert-item prio-${a.priority || 'warning'} kind-${a.kind} state-${state}`,
      dataset: { id: a.id, kind: a.kind, device: a.device_id },
    },
    h('button', {
      type: 'button', class: 'alert-main', id: titleId, 'aria-describedby': `${titleId}-meta`,
      title: t('alerts.locateHint'), onclick: () => this.opts.onLocate?.(a),
    },
    h('span', { class: 'alert-kind' },
      h('span', { class: 'alert-dot', 'aria-hidden': 'true' }),
      h('strong', { text: kindText(a.kind) }),
      a.repeats ? h('span', { class: 'alert-repeats', text: t('alerts.repeats', { n: a.repeats }) }) : null,
      state === 'acked' ? h('span', { class: 'badge muted', text: t('alerts.state.acked') }) : null),
    h('span', { class: 'alert-device', text: device })),
    h('div', { class: 'alert-meta', id: `${titleId}-meta` },
      h('time', { datetime: a.raised_at, title: dateTime(a.raised_at), text: `${timeOfDay(a.raised_at)} · ${ago(a.raised_at)}` }),
      unit ? h('span', { class: 'alert-unit', text: unit, title: this.ctx.units.trail(a.unit_id) }) : null),
    h('div', { class: 'alert-actions' },
      canAck ? h('button', { type: 'button', class: 'btn small primary alert-ack', text: t('alerts.ack'), 'aria-describedby': titleId, onclick: () => this.ackDialog(a) }) : null,
      h('button', { type: 'button', class: 'btn small alert-timeline', text: t('alerts.timeline'), 'aria-describedby': titleId, onclick: () => this.timelineDialog(a) })));
  }

  ackDialog(a) {
    const note = h('textarea', { id: 'ack-note', rows: 3, maxlength: MAX_NOTE, class: 'ack-note' });
    const errors = h('div', {});
    const save = h('button', { type: 'submit', class: 'btn primary', form: 'ack-form', id: 'ack-save', text: t('alerts.ackConfirm') });
    const form = h('form', {
      id: 'ack-form', class: 'form-stack',
      onsubmit: async (ev) => {
        ev.preventDefault();
        save.disabled = true;
        try {
          const res = await post(`/alerts/${encodeURIComponent(a.id)}/ack`, { note: note.value.trim() });
          dlg.close();
          toast(t('alerts.acked', { kind: kindText(a.kind), device: this.opts.deviceLabel(a.device_id) }), 'success');
          if (res?.id) this.apply(res);
          else this.load();
        } catch (err) {
          showError(errors, err);
          save.disabled = false;
          if (err.status === 409 || err.status === 404) this.load();
        }
      },
    },
    h('dl', { class: 'kv' },
      h('dt', { text: t('alerts.kind') }), h('dd', { text: kindText(a.kind) }),
      h('dt', { text: t('alerts.device') }), h('dd', { text: this.opts.deviceLabel(a.device_id) }),
      h('dt', { text: t('alerts.raised') }), h('dd', { text: dateTime(a.raised_at) })),
    field(t('alerts.note'), note, { hint: t('alerts.noteHint'), wide: true }),
    errors);
    const dlg = openDialog({
      title: t('alerts.ackTitle'),
      attrs: { id: 'ack-dialog' },
      body: form,
      actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
    });
    note.focus();
  }

  async timelineDialog(a) {
    const tbody = h('tbody', {}, loadingRow(4));
    const head = h('div', {});
    openDialog({
      title: t('alerts.timelineTitle', { kind: kindText(a.kind), device: this.opts.deviceLabel(a.device_id) }),
      medium: true,
      attrs: { id: 'alert-timeline' },
      body: [head, h('div', { class: 'table-wrap' }, h('table', { class: 'grid compact' },
        h('thead', {}, h('tr', {}, ['common.time', 'alerts.action', 'common.by', 'alerts.note'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        tbody))],
    });
    try {
      const full = await get(`/alerts/${encodeURIComponent(a.id)}`);
      this.apply(full);
      clear(head, h('dl', { class: 'kv inline' },
        h('dt', { text: t('alerts.state') }), h('dd', { text: t(`alerts.state.${alertState(full)}`) }),
        h('dt', { text: t('alerts.priority') }), h('dd', { text: has(`alerts.priority.${full.priority}`) ? t(`alerts.priority.${full.priority}`) : full.priority }),
        full.detail ? [h('dt', { text: t('alerts.detail') }), h('dd', { text: full.detail })] : null));
      const steps = (full.timeline || []).slice();
      const names = await Promise.all(steps.map((s) => actorLabel(s.by)));
      clear(tbody, steps.length ? steps.map((s, i) => h('tr', {},
        h('td', { class: 'mono nowrap', text: dateTime(s.at) }),
        h('td', { text: has(`alerts.action.${s.action}`) ? t(`alerts.action.${s.action}`) : s.action }),
        h('td', { text: names[i] }),
        h('td', { class: 'wrap', text: s.note || '' }))) : emptyRow(4, t('common.none')));
    } catch (err) {
      clear(tbody, h('tr', {}, h('td', { colspan: 4 }, errorBox(err))));
      if (err.status !== 404) toast(describeError(err), 'error');
    }
  }
}

function actorLabel(by) {
  if (by === 'device') return Promise.resolve(t('alerts.byDevice'));
  if (by === 'system') return Promise.resolve(t('alerts.bySystem'));
  return userLabel(by);
}
