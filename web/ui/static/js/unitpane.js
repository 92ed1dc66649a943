// The unit pane beside a register: the tree of the user's scope; choosing a unit filters the
// register and is remembered for the other registers during the session.
import { h } from './dom.js';
import { t } from './i18n.js';
import { unitTree } from './tree.js';
import { describeError } from './widgets.js';

export async function unitPane(ctx, onSelect) {
  const pane = h('aside', { class: 'pane unit-pane', 'aria-label': t('units.tree') },
    h('div', { class: 'pane-title', text: t('units.tree') }));
  try {
    await ctx.units.load();
  } catch (err) {
    pane.appendChild(h('p', { class: 'alert error', role: 'alert', text: describeError(err) }));
    return pane;
  }
  const tree = unitTree(ctx.units, {
    selected: ctx.units.selected(),
    allLabel: t('units.all'),
    onSelect: (id) => {
      ctx.units.select(id);
      onSelect(id);
    },
  });
  pane.appendChild(tree.el);
  return pane;
}

// markField marks the input named by an API error's field (aria-invalid) and focuses it.
export function markField(inputs, err) {
  Object.values(inputs).forEach((el) => el.removeAttribute('aria-invalid'));
  const el = err?.field && inputs[err.field];
  if (el) {
    el.setAttribute('aria-invalid', 'true');
    el.focus();
  }
  return el || null;
}
