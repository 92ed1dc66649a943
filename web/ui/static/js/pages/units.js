// Units (组织机构): the tree of the user's scope, a unit's details, and creating a child unit
// (POST /api/v1/units) for users with units.manage. Only a register-wide administrator creates
// provinces.
import { h, clear, field } from '../dom.js';
import { t } from '../i18n.js';
import { post } from '../api.js';
import { unitTree } from '../tree.js';
import { markField } from '../unitpane.js';
import { openDialog, showError, toast, errorBox, enumSelect, UNIT_LEVELS } from '../widgets.js';

export default async function render(root, ctx) {
  const canManage = ctx.can('units.manage');
  const registerWide = !ctx.me.user.unit_id;
  try {
    await ctx.units.load();
  } catch (err) {
    clear(root, errorBox(err));
    return;
  }
  let selected = ctx.units.selected() || ctx.units.roots[0]?.id || '';
  const detail = h('section', { class: 'card unit-detail', id: 'unit-detail', 'aria-live': 'polite' });
  const pane = h('aside', { class: 'pane unit-pane tall', 'aria-label': t('units.tree') },
    h('div', { class: 'pane-title' }, h('span', { text: t('units.tree') }),
      canManage && registerWide
        ? h('button', { type: 'button', class: 'btn ghost small', id: 'unit-new-province', text: t('units.newProvince'), onclick: () => createDialog(null) }) : null));
  let tree = null;
  const drawTree = () => {
    tree = unitTree(ctx.units, {
      selected,
      onSelect: (id) => {
        selected = id;
        ctx.units.select(id);
        drawDetail();
      },
    });
    clear(pane, pane.firstChild, tree.el);
  };
  drawTree();
  clear(root, h('div', { class: 'register' }, pane, h('div', { class: 'register-main' }, detail)));
  drawDetail();

  function drawDetail() {
    const u = ctx.units.get(selected);
    if (!u) {
      clear(detail, h('p', { class: 'muted', text: ctx.units.roots.length ? t('units.pick') : t('units.none') }));
      return;
    }
    const kids = ctx.units.children(u.id);
    const deeper = UNIT_LEVELS.slice(UNIT_LEVELS.indexOf(u.level) + 1);
    clear(detail,
      h('div', { class: 'card-head' },
        h('h2', { text: u.name }),
        canManage && deeper.length
          ? h('button', { type: 'button', class: 'btn primary', id: 'unit-new-child', text: t('units.newChild'), onclick: () => createDialog(u) }) : null),
      h('dl', { class: 'kv' },
        h('dt', { text: t('units.code') }), h('dd', { class: 'mono', text: u.code }),
        h('dt', { text: t('units.level') }), h('dd', { text: t(`level.${u.level}`) }),
        h('dt', { text: t('units.trail') }), h('dd', { text: ctx.units.trail(u.id) }),
        h('dt', { text: t('units.children') }), h('dd', { text: kids.length ? kids.map((k) => k.name).join('、') : t('common.none') }),
        h('dt', { text: 'ID' }), h('dd', { class: 'mono muted', text: u.id })),
      h('div', { class: 'step-actions' },
        h('a', { class: 'btn', href: '#/officers', text: t('units.showOfficers') }),
        h('a', { class: 'btn', href: '#/devices', text: t('units.showDevices') })));
  }

  function createDialog(parent) {
    const levels = parent ? UNIT_LEVELS.slice(UNIT_LEVELS.indexOf(parent.level) + 1) : ['province'];
    const inputs = {
      name: h('input', { id: 'unit-name', required: true, maxlength: 64 }),
      code: h('input', { id: 'unit-code', required: true, maxlength: 32, class: 'mono', pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]*' }),
      level: enumSelect(levels, 'level', levels[0]),
    };
    inputs.level.id = 'unit-level';
    const errors = h('div', {});
    const save = h('button', { type: 'submit', class: 'btn primary', form: 'unit-form', id: 'unit-save', text: t('common.create') });
    const form = h('form', {
      id: 'unit-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        save.disabled = true;
        try {
          const u = await post('/units', {
            name: inputs.name.value.trim(), code: inputs.code.value.trim(), level: inputs.level.value, parent_id: parent?.id || '',
          });
          dlg.close();
          toast(t('units.created', { name: u.name }), 'success');
          await ctx.units.reload();
          selected = u.id;
          ctx.units.select(u.id);
          drawTree();
          tree.select(u.id);
          drawDetail();
        } catch (err) {
          showError(errors, err);
          markField(inputs, err);
          save.disabled = false;
        }
      },
    },
    parent ? h('p', {}, t('units.parent'), ' ', h('strong', { text: ctx.units.trail(parent.id) })) : null,
    field(t('units.name'), inputs.name),
    field(t('units.code'), inputs.code, { hint: t('units.codeHint') }),
    field(t('units.level'), inputs.level),
    errors);
    const dlg = openDialog({
      title: parent ? t('units.newChild') : t('units.newProvince'),
      attrs: { id: 'unit-dialog' },
      body: form,
      actions: [h('button', { type: 'button', class: 'btn', text: t('common.cancel'), onclick: () => dlg.close() }), save],
    });
    inputs.name.focus();
  }
}
