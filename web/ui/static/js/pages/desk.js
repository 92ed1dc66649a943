// Assignment desk (领用/归还), the page managers use most. One input takes a barcode scanner's
// keystrokes (the serial, then Enter). A recorder in stock asks for the officer (type or scan a
// name or badge number, Enter picks the single match) and a confirmation; a recorder that is out
// offers its return. Scan + Enter + Enter hands out or takes back; focus always lands on the
// next thing to press.
import { h, clear, debounce, uid } from '../dom.js';
import { t } from '../i18n.js';
import { get, post, items } from '../api.js';
import { today, timeOfDay, dateOf } from '../format.js';
import { icon } from '../icons.js';
import * as names from '../names.js';
import { ineligible } from '../eligibility.js';
import {
  statusBadge, eligibilityBadge, errorBox, describeError, isHoldsRecorder, badge, toast,
} from '../widgets.js';

const MOVEMENT_PAGES = 20; // × 500 assignments read to find today's (see the report's API gap)

// onPress runs fn when the button is activated. A scanner's Enter that chose the recorder or the
// officer can deliver its keypress after the focus has moved to this button, which would confirm
// on the manager's behalf; so a keyboard click (detail 0) is ignored when the Enter or Space that
// caused it went down on another element a moment ago. Pointer clicks, keys pressed on the button
// itself and screen readers' clicks (which send no key to the page) all count.
let lastKey = { target: null, at: 0 };
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' || ev.key === ' ') lastKey = { target: ev.target, at: performance.now() };
}, true);

function onPress(button, fn) {
  button.addEventListener('click', (ev) => {
    const stray = ev.detail === 0 && lastKey.target && lastKey.target !== button && performance.now() - lastKey.at < 1000;
    if (stray) return;
    fn(ev);
  });
}

export default async function render(root, ctx) {
  const scan = h('input', {
    id: 'scan-input', class: 'scan-input mono', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
    enterkeyhint: 'search', placeholder: t('desk.scanPlaceholder'), autofocus: true,
  });
  const scanForm = h('form', {
    class: 'scan-form', role: 'search',
    onsubmit: (ev) => {
      ev.preventDefault();
      lookup(scan.value.trim());
    },
  },
  h('label', { for: 'scan-input', class: 'scan-label' }, icon('scan'), h('span', { text: t('desk.scanLabel') })),
  h('div', { class: 'input-row' }, scan, h('button', { type: 'submit', class: 'btn', text: t('desk.lookup') })),
  h('small', { class: 'hint', text: t('desk.scanHint') }));

  const result = h('div', { id: 'desk-result', class: 'desk-result', 'aria-live': 'polite' },
    h('p', { class: 'muted', text: t('desk.idle') }));
  const moves = h('tbody', {});
  const movesNote = h('p', { class: 'muted small' });
  const movesPanel = h('section', { class: 'card movements', 'aria-labelledby': 'moves-title' },
    h('div', { class: 'card-head' },
      h('h2', { id: 'moves-title', text: t('desk.today', { date: today() }) }),
      h('button', { type: 'button', class: 'btn ghost small', text: t('common.refresh'), onclick: () => loadMoves() })),
    h('div', { class: 'table-wrap' }, h('table', { class: 'grid compact', id: 'movements' },
      h('thead', {}, h('tr', {}, ['common.time', 'desk.action', 'devices.serial', 'desk.officer'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      moves)),
    movesNote);

  // Unit names for the cards; the desk works with ids until they arrive.
  ctx.units.load().catch(() => {});
  clear(root, h('div', { class: 'desk' },
    h('div', { class: 'desk-main' }, h('section', { class: 'card scan-card' }, scanForm), result),
    movesPanel));
  scan.focus();

  // Esc starts over; the listener goes with the page (root outlives it).
  root.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !document.querySelector('dialog[open]')) reset();
  }, { signal: ctx.signal });

  function reset(message) {
    clear(result, message || h('p', { class: 'muted', text: t('desk.idle') }));
    scan.value = '';
    scan.focus();
  }

  // lookup finds the scanned serial: GET /devices?serial= answers zero or one device.
  async function lookup(serial) {
    if (!serial) {
      scan.focus();
      return;
    }
    clear(result, h('p', { class: 'muted', text: t('common.loading') }));
    let dev;
    try {
      [dev] = items(await get('/devices', { serial }, { signal: ctx.signal }));
    } catch (err) {
      if (err.name === 'AbortError') return;
      fail(err);
      return;
    }
    if (!dev) {
      fail(null, t('desk.notFound', { serial }));
      return;
    }
    names.devices.put(dev);
    if (dev.kind !== 'recorder') {
      showDevice(dev, h('div', { class: 'alert error', role: 'alert', text: t('desk.notRecorder', { kind: t(`kind.${dev.kind}`) }) }));
      again();
      return;
    }
    if (dev.status === 'in_stock') checkoutStep(dev);
    else if (dev.status === 'assigned') await checkinStep(dev);
    else {
      showDevice(dev, h('div', { class: 'alert error', role: 'alert', text: t('desk.unavailable', { status: t(`status.${dev.status}`) }) }));
      again();
    }
  }

  // again readies the scan input for the next scan, keeping what is shown.
  function again() {
    scan.select();
    scan.focus();
  }

  function fail(err, text) {
    clear(result, err ? errorBox(err) : h('div', { class: 'alert error', role: 'alert', text }));
    again();
  }

  function deviceCard(dev, extra) {
    const unit = ctx.units.name(dev.unit_id);
    return h('section', { class: 'card device-card', id: 'desk-device', dataset: { status: dev.status }, 'aria-label': t('desk.device') },
      h('div', { class: 'device-head' },
        h('div', {},
          h('div', { class: 'device-serial mono', id: 'desk-serial', text: dev.serial }),
          h('div', { class: 'muted', text: [t(`kind.${dev.kind}`), dev.model, unit].filter(Boolean).join(' · ') })),
        h('span', { id: 'desk-status' }, statusBadge(dev.status))),
      extra || null);
  }

  function showDevice(dev, ...below) {
    clear(result, deviceCard(dev), ...below);
  }

  // ---- 领用: pick the officer, confirm ----
  function checkoutStep(dev) {
    let matches = [];
    let active = -1;
    let chosen = null;
    let seq = 0;
    const listId = uid('officers');
    const pick = h('input', {
      id: 'officer-pick', class: 'mono-ish', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list',
      'aria-expanded': 'false', 'aria-controls': listId, placeholder: t('desk.officerPlaceholder'),
    });
    const list = h('ul', { id: listId, class: 'options', role: 'listbox', 'aria-label': t('desk.officerMatches') });
    const chosenBox = h('div', { id: 'desk-chosen' });
    const allow = h('input', { type: 'checkbox', id: 'allow-another' });
    const allowBox = h('div', { class: 'field check', hidden: true },
      allow, h('label', { for: 'allow-another', text: t('desk.allowAnother') }));
    const errors = h('div', { id: 'desk-error' });
    const confirm = h('button', { type: 'button', class: 'btn primary large', id: 'checkout-confirm', disabled: true, text: t('desk.confirmCheckout') });

    const search = async (q, { enter = false } = {}) => {
      const my = ++seq;
      if (!q) {
        matches = [];
        drawList();
        return;
      }
      let data;
      try {
        data = await get('/officers', { q, limit: 10 }, { signal: ctx.signal });
      } catch (err) {
        if (err.name !== 'AbortError') clear(errors, errorBox(err));
        return;
      }
      if (my !== seq) return; // a later keystroke won
      matches = items(data);
      active = -1;
      drawList();
      if (enter) {
        const exact = matches.filter((o) => o.badge_no.toLowerCase() === q.toLowerCase() || o.name === q);
        if (exact.length === 1) choose(exact[0]);
        else if (matches.length === 1) choose(matches[0]);
        else if (!matches.length) clear(errors, h('div', { class: 'alert error', role: 'alert', text: t('desk.noOfficer', { q }) }));
        else clear(errors, h('div', { class: 'alert info', role: 'status', text: t('desk.manyOfficers', { n: matches.length }) }));
      }
    };
    const searchSoon = debounce((q) => search(q), 200);

    function drawList() {
      const day = today();
      pick.setAttribute('aria-expanded', String(matches.length > 0 && !chosen));
      clear(list, chosen ? [] : matches.map((o, i) => h('li', {
        id: `${listId}-${i}`, role: 'option', class: i === active ? 'option active' : 'option', 'aria-selected': String(i === active),
        dataset: { id: o.id },
        onmousedown: (ev) => ev.preventDefault(), // keep focus in the input
        onclick: () => choose(o),
      },
      h('strong', { text: o.name }), h('span', { class: 'mono', text: o.badge_no }),
      h('span', { class: 'muted', text: ctx.units.name(o.unit_id) }), eligibilityBadge(o, day))));
      if (active >= 0) pick.setAttribute('aria-activedescendant', `${listId}-${active}`);
      else pick.removeAttribute('aria-activedescendant');
    }

    function choose(o) {
      chosen = o;
      clear(errors);
      matches = [];
      drawList();
      const why = ineligible(o, today());
      clear(chosenBox, h('div', { class: 'chosen' },
        h('div', {},
          h('div', { class: 'muted small', text: t('desk.handTo') }),
          h('strong', { id: 'desk-officer', text: `${o.name}（${o.badge_no}）` }),
          h('span', { class: 'muted', text: ` ${ctx.units.name(o.unit_id)}` })),
        eligibilityBadge(o, today()),
        h('button', { type: 'button', class: 'link', text: t('desk.change'), onclick: unchoose })),
      why && why !== 'not_frontline' ? h('p', { class: 'alert warn small', text: t('desk.ineligibleWarn', { reason: t(`reason.${why}`) }) }) : null);
      pick.value = '';
      pick.hidden = true;
      confirm.disabled = false;
      confirm.focus();
    }

    function unchoose() {
      chosen = null;
      clear(chosenBox);
      pick.hidden = false;
      confirm.disabled = true;
      allowBox.hidden = true;
      allow.checked = false;
      pick.focus();
    }

    pick.addEventListener('input', () => searchSoon(pick.value.trim()));
    pick.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        if (!matches.length) return;
        ev.preventDefault();
        active = ev.key === 'ArrowDown' ? (active + 1) % matches.length : (active - 1 + matches.length) % matches.length;
        drawList();
      } else if (ev.key === 'Enter') {
        ev.preventDefault();
        if (active >= 0 && matches[active]) choose(matches[active]);
        else search(pick.value.trim(), { enter: true });
      }
    });

    onPress(confirm, async () => {
      if (!chosen) return;
      confirm.disabled = true;
      clear(errors);
      try {
        const a = await post(`/devices/${encodeURIComponent(dev.id)}/checkout`, { officer_id: chosen.id, allow_another: allow.checked });
        names.officers.put(chosen);
        const done = { ...dev, status: 'assigned' };
        names.devices.put(done);
        addMove({ kind: 'out', at: a?.start_at || new Date().toISOString(), serial: dev.serial, officer: chosen });
        clear(result, deviceCard(done, holderLine(chosen, a?.start_at)),
          h('div', { class: 'alert success', role: 'status', id: 'desk-done', text: t('desk.checkedOut', { serial: dev.serial, name: chosen.name, badge: chosen.badge_no }) }));
        scan.value = '';
        scan.focus();
      } catch (err) {
        clear(errors, errorBox(err));
        if (isHoldsRecorder(err)) {
          allowBox.hidden = false;
          allow.focus();
        } else if (err.field === 'officer_id') {
          unchoose();
        }
        confirm.disabled = false;
        if (err.status === 409 && !isHoldsRecorder(err) && err.field !== 'officer_id') again();
      }
    });

    clear(result, deviceCard(dev),
      h('section', { class: 'card step', 'aria-labelledby': 'step-title' },
        h('h2', { id: 'step-title', text: t('desk.checkoutTitle') }),
        h('label', { for: 'officer-pick', text: t('desk.officerLabel') }),
        pick, list, chosenBox, allowBox, errors,
        h('div', { class: 'step-actions' }, confirm,
          h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => reset() }))));
    pick.focus();
  }

  function holderLine(o, since) {
    return h('p', { class: 'holder' },
      t('desk.heldBy'), ' ', h('strong', { id: 'desk-holder', text: o ? `${o.name}（${o.badge_no}）` : t('desk.unknownOfficer') }),
      since ? h('span', { class: 'muted', text: ` · ${t('desk.since', { time: `${dateOf(since)} ${timeOfDay(since)}` })}` }) : null);
  }

  // ---- 归还: one press ----
  async function checkinStep(dev) {
    let holder = null;
    let open = null;
    try {
      [open] = items(await get('/assignments', { device: dev.id, open: true, limit: 1 }, { signal: ctx.signal }));
      if (open) holder = await names.officers.get(open.officer_id);
    } catch (err) {
      if (err.name === 'AbortError') return;
      // the return still works without the holder's name
    }
    const errors = h('div', { id: 'desk-error' });
    const confirm = h('button', { type: 'button', class: 'btn primary large', id: 'checkin-confirm', text: t('desk.confirmCheckin') });
    onPress(confirm, async () => {
      confirm.disabled = true;
      clear(errors);
      try {
        const a = await post(`/devices/${encodeURIComponent(dev.id)}/checkin`);
        const done = { ...dev, status: 'in_stock' };
        names.devices.put(done);
        addMove({ kind: 'in', at: a?.end_at || new Date().toISOString(), serial: dev.serial, officer: holder });
        clear(result, deviceCard(done),
          h('div', { class: 'alert success', role: 'status', id: 'desk-done', text: t('desk.checkedIn', { serial: dev.serial, name: holder?.name || '—' }) }));
        scan.value = '';
        scan.focus();
      } catch (err) {
        clear(errors, errorBox(err));
        confirm.disabled = false;
        again();
      }
    });
    clear(result, deviceCard(dev, holderLine(holder, open?.start_at)),
      h('section', { class: 'card step', 'aria-labelledby': 'step-title' },
        h('h2', { id: 'step-title', text: t('desk.checkinTitle') }),
        errors,
        h('div', { class: 'step-actions' }, confirm,
          h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => reset() }))));
    confirm.focus();
  }

  // ---- today's movements ----
  let rows = [];
  function addMove(m) {
    rows = [m, ...rows.filter((r) => !(r.at === m.at && r.serial === m.serial && r.kind === m.kind))];
    drawMoves();
  }

  function drawMoves() {
    clear(moves, rows.length ? rows.slice(0, 100).map((m) => h('tr', {},
      h('td', { class: 'mono', text: timeOfDay(m.at) }),
      h('td', {}, m.kind === 'out' ? badge(t('desk.out'), 'info') : badge(t('desk.in'), 'ok')),
      h('td', { class: 'mono', text: m.serial }),
      h('td', { text: m.officer ? `${m.officer.name}（${m.officer.badge_no}）` : '—' })))
      : h('tr', { class: 'empty' }, h('td', { colspan: 4, text: t('desk.noMoves') })));
  }

  // loadMoves reads assignments and keeps those begun or ended today. The API lists them oldest
  // first with no date filter, so this reads at most MOVEMENT_PAGES pages.
  async function loadMoves() {
    const day = today();
    const found = [];
    let after = '';
    let pages = 0;
    try {
      do {
        const data = await get('/assignments', { limit: 500, after }, { signal: ctx.signal });
        for (const a of items(data)) {
          if (dateOf(a.start_at) === day) found.push({ kind: 'out', at: a.start_at, a });
          if (a.end_at && dateOf(a.end_at) === day) found.push({ kind: 'in', at: a.end_at, a });
        }
        after = data?.next || '';
        pages += 1;
      } while (after && pages < MOVEMENT_PAGES);
    } catch (err) {
      if (err.name !== 'AbortError') movesNote.textContent = describeError(err);
      return;
    }
    movesNote.textContent = after ? t('desk.movesCapped', { n: pages * 500 }) : '';
    found.sort((x, y) => (x.at < y.at ? 1 : -1));
    const top = found.slice(0, 100);
    const resolved = await Promise.all(top.map(async (m) => {
      const [d, o] = await Promise.all([names.devices.get(m.a.device_id), names.officers.get(m.a.officer_id)]);
      return { kind: m.kind, at: m.at, serial: d?.serial || m.a.device_id, officer: o };
    }));
    if (ctx.signal.aborted) return;
    rows = resolved;
    drawMoves();
  }

  drawMoves();
  loadMoves().catch((err) => toast(describeError(err), 'error'));
}
