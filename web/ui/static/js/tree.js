// An accessible unit tree (WAI-ARIA tree pattern): one tab stop, arrow keys to move, Right and
// Left to open and close, Enter or Space to choose. Children are rendered only when opened.
import { h } from './dom.js';
import { t } from './i18n.js';

// unitTree renders store's tree. opts: selected (id, '' for all), onSelect(id), allLabel
// (shown as a first item that clears the choice; omitted when null), label (aria-label).
export function unitTree(store, opts) {
  const open = new Set();
  // Open the way down to the selected unit, and the roots, so the choice is visible.
  for (let u = store.get(opts.selected); u; u = store.get(u.parent_id)) open.add(u.id);
  store.roots.forEach((r) => open.add(r.id));
  let selected = opts.selected || '';
  let focusId = selected || (opts.allLabel ? '' : store.roots[0]?.id || '');

  const root = h('ul', { class: 'tree', role: 'tree', 'aria-label': opts.label || t('units.tree') });

  function item(u, level) {
    const kids = store.children(u.id);
    const expanded = open.has(u.id);
    const li = h('li', {
      role: 'treeitem',
      'aria-level': level,
      'aria-selected': String(u.id === selected),
      'aria-expanded': kids.length ? String(expanded) : null,
      tabindex: u.id === focusId ? '0' : '-1',
      dataset: { id: u.id },
    });
    const row = h('div', { class: 'tree-row', style: `padding-left:${(level - 1) * 14 + 4}px` },
      h('span', {
        class: kids.length ? (expanded ? 'twisty open' : 'twisty') : 'twisty leaf',
        'aria-hidden': 'true',
        onclick: (ev) => {
          ev.stopPropagation();
          toggle(u.id);
        },
      }),
      h('span', { class: 'tree-name', text: u.name, title: u.name }),
      h('span', { class: 'tree-level', text: t(`level.${u.level}`) }));
    li.appendChild(row);
    row.addEventListener('click', () => choose(u.id));
    if (kids.length && expanded) {
      li.appendChild(h('ul', { role: 'group' }, kids.map((k) => item(k, level + 1))));
    }
    return li;
  }

  function render() {
    const items = [];
    if (opts.allLabel) {
      const li = h('li', {
        role: 'treeitem',
        'aria-level': 1,
        'aria-selected': String(selected === ''),
        tabindex: focusId === '' ? '0' : '-1',
        dataset: { id: '' },
      }, h('div', { class: 'tree-row all', style: 'padding-left:4px' },
        h('span', { class: 'twisty leaf', 'aria-hidden': 'true' }),
        h('span', { class: 'tree-name', text: opts.allLabel })));
      li.firstChild.addEventListener('click', () => choose(''));
      items.push(li);
    }
    store.roots.forEach((u) => items.push(item(u, 1)));
    if (!store.roots.length) items.push(h('li', { class: 'muted tree-empty', text: t('units.none') }));
    root.replaceChildren(...items);
  }

  function focusItem(id) {
    focusId = id;
    root.querySelectorAll('[role=treeitem]').forEach((el) => {
      el.tabIndex = el.dataset.id === id ? 0 : -1;
    });
    root.querySelector(`[role=treeitem][data-id="${CSS.escape(id)}"]`)?.focus();
  }

  function toggle(id) {
    if (open.has(id)) open.delete(id);
    else open.add(id);
    render();
    focusItem(id);
  }

  function choose(id) {
    selected = id;
    focusId = id;
    render();
    focusItem(id);
    opts.onSelect?.(id);
  }

  root.addEventListener('keydown', (ev) => {
    const visible = [...root.querySelectorAll('[role=treeitem]')];
    const cur = ev.target.closest('[role=treeitem]');
    if (!cur) return;
    const i = visible.indexOf(cur);
    const id = cur.dataset.id;
    const u = store.get(id);
    const hasKids = u && store.children(id).length > 0;
    let handled = true;
    switch (ev.key) {
      case 'ArrowDown': if (visible[i + 1]) focusItem(visible[i + 1].dataset.id); break;
      case 'ArrowUp': if (visible[i - 1]) focusItem(visible[i - 1].dataset.id); break;
      case 'Home': focusItem(visible[0].dataset.id); break;
      case 'End': focusItem(visible[visible.length - 1].dataset.id); break;
      case 'ArrowRight':
        if (hasKids && !open.has(id)) toggle(id);
        else if (hasKids) focusItem(store.children(id)[0].id);
        break;
      case 'ArrowLeft':
        if (hasKids && open.has(id)) toggle(id);
        else if (u && store.get(u.parent_id)) focusItem(u.parent_id);
        break;
      case 'Enter': case ' ': choose(id); break;
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  render();
  return {
    el: root,
    refresh() {
      store.roots.forEach((r) => open.add(r.id));
      render();
    },
    select(id) {
      selected = id;
      focusId = id;
      for (let u = store.get(id); u; u = store.get(u.parent_id)) open.add(u.id);
      render();
    },
  };
}
