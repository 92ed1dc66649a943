// The unit tree of the signed-in user's scope, loaded once per session from every page of
// GET /api/v1/units and rebuilt from parent_id. A province has at most a few thousand units, so
// one list is cheaper than a request per expanded node and gives names for every table.
import { all } from './api.js';

const SELECTED_KEY = 'fleet.unit';

export class UnitStore {
  constructor() {
    this.byId = new Map();
    this.kids = new Map();
    this.roots = [];
    this.loaded = null;
    this.listeners = new Set();
  }

  // load fetches the tree once; reload forces a fresh copy (after a unit was created).
  load() {
    if (!this.loaded) {
      this.loaded = all('/units').then((list) => this.build(list)).catch((err) => {
        this.loaded = null;
        throw err;
      });
    }
    return this.loaded;
  }

  reload() {
    this.loaded = null;
    return this.load();
  }

  build(list) {
    this.byId = new Map(list.map((u) => [u.id, u]));
    this.kids = new Map();
    this.roots = [];
    const byName = (a, b) => (a.code || '').localeCompare(b.code || '') || a.name.localeCompare(b.name);
    for (const u of list) {
      // A scoped user sees their own unit but not its parent: that unit is a root here.
      if (u.parent_id && this.byId.has(u.parent_id)) {
        if (!this.kids.has(u.parent_id)) this.kids.set(u.parent_id, []);
        this.kids.get(u.parent_id).push(u);
      } else {
        this.roots.push(u);
      }
    }
    this.roots.sort(byName);
    this.kids.forEach((k) => k.sort(byName));
    if (this.selected() && !this.byId.has(this.selected())) this.select('');
  }

  get(id) {
    return this.byId.get(id);
  }

  children(id) {
    return this.kids.get(id) || [];
  }

  name(id) {
    return this.byId.get(id)?.name || id || '';
  }

  // trail is "省 / 市 / 县" from the user's visible root down to id.
  trail(id) {
    const names = [];
    for (let u = this.byId.get(id); u; u = this.byId.get(u.parent_id)) names.unshift(u.name);
    return names.join(' / ');
  }

  // within reports whether unit id lies in the subtree of unit root ('' is everything).
  within(id, root) {
    if (!root) return true;
    const u = this.byId.get(id);
    const r = this.byId.get(root);
    if (!u || !r) return id === root;
    return u.path ? u.path.startsWith(r.path) : id === root;
  }

  // options lists units depth first with their depth, for <select> menus.
  options() {
    const out = [];
    const walk = (u, depth) => {
      out.push({ unit: u, depth });
      this.children(u.id).forEach((c) => walk(c, depth + 1));
    };
    this.roots.forEach((u) => walk(u, 0));
    return out;
  }

  // The unit chosen in the tree, shared by the registers and kept for the browser session.
  selected() {
    try {
      return sessionStorage.getItem(SELECTED_KEY) || '';
    } catch {
      return '';
    }
  }

  select(id) {
    try {
      if (id) sessionStorage.setItem(SELECTED_KEY, id);
      else sessionStorage.removeItem(SELECTED_KEY);
    } catch {
      // not kept across reloads
    }
    this.listeners.forEach((fn) => fn(id));
  }

  onSelect(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
