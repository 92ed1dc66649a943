// Firmware over the air (固件): signed images per model, and rollout campaigns in waves with
// their progress, which a manager pauses, resumes or cancels with a written reason.
import { h, clear, field } from '../dom.js';
import { t, has } from '../i18n.js';
import { get, post, api, items } from '../api.js';
import { dateTime } from '../format.js';
import { emptyRow, loadingRow, errorBox, showError, badge, openDialog, toast, describeError, unitSelect } from '../widgets.js';
import { askReason } from './evidence.js';

const STATE_TONE = { running: 'info', paused: 'warn', halted: 'bad', cancelled: 'muted', completed: 'ok' };
const WAVE_TONE = { waiting: 'muted', open: 'info', soaking: 'warn', done: 'ok' };
const tr = (prefix, v) => (v && has(`${prefix}.${v}`) ? t(`${prefix}.${v}`) : (v || ''));

export default async function render(root, ctx) {
  const canManage = ctx.can('devices.manage');
  try {
    await ctx.units.load();
  } catch {
    // names fall back to ids
  }
  const notice = h('div', { id: 'fw-notice' });
  const imgBody = h('tbody', {}, loadingRow(6));
  const campaigns = h('div', { id: 'fw-campaigns' }, h('p', { class: 'muted', text: t('common.loading') }));
  let images = [];
  clear(root, h('section', { class: 'register-main single', 'aria-labelledby': 'page-title' },
    notice,
    h('section', { class: 'card', 'aria-labelledby': 'fw-images-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'fw-images-title', text: t('fw.images') }),
        canManage ? h('button', { type: 'button', class: 'btn primary', id: 'fw-upload', text: t('fw.upload'), onclick: () => uploadDialog(loadImages) }) : null),
      h('div', { class: 'table-wrap short' }, h('table', { class: 'grid compact', id: 'fw-images' },
        h('thead', {}, h('tr', {}, ['fw.model', 'fw.version', 'fw.size', 'fw.sha256', 'fw.uploadedAt', 'fw.notes'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        imgBody))),
    h('section', { class: 'card', 'aria-labelledby': 'fw-campaigns-title', style: 'margin-top:12px' },
      h('div', { class: 'card-head' }, h('h2', { id: 'fw-campaigns-title', text: t('fw.campaigns') }),
        canManage ? h('button', { type: 'button', class: 'btn primary', id: 'fw-campaign-new', text: t('fw.newCampaign'), onclick: () => campaignDialog(ctx, images, loadCampaigns) }) : null),
      campaigns)));

  async function loadImages() {
    let data;
    try {
      data = await get('/firmware/images', { limit: 200 }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return false;
      if (err.status === 503) {
        clear(notice, h('div', { class: 'alert warn prominent', role: 'alert', id: 'fw-unavailable' },
          h('strong', { text: t('fw.unavailable') }), h('p', { class: 'small', text: describeError(err) })));
        clear(imgBody, emptyRow(6, t('fw.unavailable')));
        clear(campaigns);
        return false;
      }
      clear(imgBody, h('tr', {}, h('td', { colspan: 6 }, errorBox(err))));
      return true;
    }
    images = items(data);
    clear(imgBody, images.length ? images.map((i) => h('tr', {},
      h('td', { text: i.model }), h('td', { class: 'mono', text: i.version }), h('td', { class: 'num', text: `${(i.size_bytes / 1024 / 1024).toFixed(2)} MB` }),
      h('td', { class: 'hash', title: i.sha256, text: `${i.sha256.slice(0, 16)}…` }),
      h('td', { class: 'nowrap', text: `${dateTime(i.uploaded_at)} ${i.uploaded_by || ''}` }),
      h('td', { class: 'wrap small', text: i.release_notes || '' }))) : emptyRow(6, t('fw.noImages')));
    return true;
  }

  async function loadCampaigns() {
    let data;
    try {
      data = await get('/firmware/campaigns', { limit: 100 }, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(campaigns, errorBox(err));
      return;
    }
    const list = items(data);
    clear(campaigns, list.length ? list.map((c) => campaignCard(c)) : h('p', { class: 'muted', text: t('fw.noCampaigns') }));
  }

  function campaignCard(c) {
    const p = c.progress || {};
    const act = (action) => async () => {
      const reason = await askReason(t(`fw.${action}Title`, { name: c.name }), { confirmText: t(`fw.${action}`), danger: action === 'cancel' });
      if (!reason) return;
      try {
        await post(`/firmware/campaigns/${encodeURIComponent(c.id)}/${action}`, { reason });
        toast(t(`fw.done.${action}`, { name: c.name }), 'success');
      } catch (err) {
        toast(describeError(err), 'error');
      }
      loadCampaigns();
    };
    const live = ['running', 'paused', 'halted'].includes(c.state);
    return h('article', { class: 'fw-campaign', dataset: { id: c.id } },
      h('div', { class: 'card-head' },
        h('div', {}, h('h3', { text: c.name }),
          h('div', { class: 'small muted', text: `${c.model} → ${c.target_version} · ${ctx.units.name(c.unit_id)} · ${dateTime(c.created_at)}` })),
        h('div', { class: 'alert-actions' }, badge(tr('fw.state', c.state), STATE_TONE[c.state] || 'muted', c.reason || ''),
          canManage && c.state === 'running' ? h('button', { type: 'button', class: 'btn small', text: t('fw.pause'), onclick: act('pause') }) : null,
          canManage && (c.state === 'paused' || c.state === 'halted') ? h('button', { type: 'button', class: 'btn small', text: t('fw.resume'), onclick: act('resume') }) : null,
          canManage && live ? h('button', { type: 'button', class: 'btn small danger', text: t('fw.cancel'), onclick: act('cancel') }) : null)),
      c.reason ? h('p', { class: 'small' }, h('span', { class: 'muted', text: `${t('fw.reason')}：` }), c.reason) : null,
      h('p', { class: 'small', text: t('fw.progress', { done: p.done ?? 0, total: p.total ?? 0, inflight: p.in_flight ?? 0, failed: p.failed ?? 0, pending: p.pending ?? 0 }) }),
      h('table', { class: 'grid compact' },
        h('thead', {}, h('tr', {}, ['fw.wave', 'fw.share', 'fw.waveState', 'fw.waveProgress', 'fw.soakUntil'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', {}, (c.wave_progress || []).map((w) => {
          const done = (w.done || 0) + (w.failed || 0) + (w.cancelled || 0);
          const pctDone = w.total ? Math.round((done / w.total) * 100) : 0;
          return h('tr', {},
            h('td', { text: t('fw.waveN', { n: w.index + 1 }) }),
            h('td', { class: 'num', text: `${w.percent}%` }),
            h('td', {}, badge(tr('fw.wstate', w.state), WAVE_TONE[w.state] || 'muted')),
            h('td', {}, h('progress', { max: 100, value: pctDone, 'aria-label': t('fw.waveN', { n: w.index + 1 }) }),
              h('span', { class: 'small muted', text: ` ${done}/${w.total || 0}${w.failed ? ` · ${t('fw.failedN', { n: w.failed })}` : ''}` })),
            h('td', { class: 'nowrap', text: w.soak_until ? dateTime(w.soak_until) : '' }));
        }))));
  }

  if (await loadImages()) await loadCampaigns();
}

async function sha256Hex(file) {
  if (!window.crypto?.subtle) return '';
  const buf = await file.arrayBuffer();
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function uploadDialog(onDone) {
  const inputs = {
    model: h('input', { required: true, maxlength: 64 }),
    version: h('input', { required: true, maxlength: 64, class: 'mono' }),
    release_notes: h('textarea', { rows: 3, maxlength: 2000 }),
    signature: h('input', { class: 'mono' }),
    sha256: h('input', { class: 'mono', pattern: '[0-9a-f]{64}' }),
    file: h('input', { type: 'file', id: 'fw-file', required: true }),
  };
  inputs.file.addEventListener('change', async () => {
    const f = inputs.file.files[0];
    if (f && !inputs.sha256.value) inputs.sha256.value = await sha256Hex(f);
  });
  const errors = h('div', {});
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'fw-form', id: 'fw-save', text: t('fw.upload') });
  const form = h('form', {
    id: 'fw-form', class: 'form-grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      // The server reads the fields first, then the part "file".
      const fd = new FormData();
      for (const k of ['model', 'version', 'release_notes', 'signature', 'sha256']) fd.append(k, inputs[k].value.trim());
      fd.append('file', inputs.file.files[0]);
      try {
        await api('POST', '/firmware/images', { form: fd });
        dlg.close();
        toast(t('fw.uploaded'), 'success');
        onDone();
      } catch (err) {
        showError(errors, err);
        save.disabled = false;
      }
    },
  },
  field(t('fw.model'), inputs.model), field(t('fw.version'), inputs.version),
  field(t('fw.file'), inputs.file, { wide: true }),
  field(t('fw.sha256'), inputs.sha256, { wide: true, hint: t('fw.shaHint') }),
  field(t('fw.signature'), inputs.signature, { wide: true, hint: t('fw.signatureHint') }),
  field(t('fw.notes'), inputs.release_notes, { wide: true }), errors);
  const dlg = openDialog({
    title: t('fw.upload'), wide: true, attrs: { id: 'fw-upload-dialog' }, body: form,
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
  });
  inputs.model.focus();
}

function campaignDialog(ctx, images, onDone) {
  const name = h('input', { required: true, maxlength: 100 });
  const image = h('select', { required: true }, images.map((i) => h('option', { value: i.id, text: `${i.model} ${i.version}` })));
  const unit = unitSelect(ctx.units, ctx.units.selected() || ctx.units.roots[0]?.id);
  const from = h('input', { class: 'mono', placeholder: t('fw.fromHint') });
  const waves = h('input', { class: 'mono', value: '1, 10, 50, 100' });
  const soak = h('input', { type: 'number', min: 0, value: 60 });
  const errors = h('div', {});
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'fw-campaign-form', text: t('common.create') });
  const form = h('form', {
    id: 'fw-campaign-form', class: 'form-grid',
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      const list = (s) => s.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);
      try {
        await post('/firmware/campaigns', {
          name: name.value.trim(), image_id: image.value, unit_id: unit.value, from_versions: list(from.value),
          waves: list(waves.value).map(Number), soak_s: Number(soak.value) * 60,
        });
        dlg.close();
        onDone();
      } catch (err) {
        showError(errors, err);
        save.disabled = false;
      }
    },
  },
  field(t('fw.campaignName'), name, { wide: true }), field(t('fw.image'), image), field(t('ev.unit'), unit),
  field(t('fw.fromVersions'), from, { wide: true }), field(t('fw.waves'), waves, { hint: t('fw.wavesHint') }),
  field(t('fw.soakMin'), soak), errors);
  const dlg = openDialog({
    title: t('fw.newCampaign'), wide: true, attrs: { id: 'fw-campaign-dialog' }, body: form,
    actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
  });
  name.focus();
}
