// The application shell: sign-in, the left navigation, the top bar (unit, user, language,
// sign-out) and a hash router (#/desk, #/officers, …) that needs nothing from the server but
// index.html, so deep links work behind any static mount.
import { h, clear } from './dom.js';
import { t, loadI18n, getLang, setLang, onLangChange } from './i18n.js';
import { api, get, getToken, setToken, events } from './api.js';
import { icon } from './icons.js';
import { toast, describeError } from './widgets.js';
import { UnitStore } from './units.js';
import { renderLogin } from './pages/login.js';
// Pages are imported up front (they are small): a page never fails to open because the network
// dropped between two clicks.
import desk from './pages/desk.js';
import devices from './pages/devices.js';
import officers from './pages/officers.js';
import unitsPage from './pages/units.js';
import audit from './pages/audit.js';
import command from './pages/command.js';
import coverage from './pages/coverage.js';
import evidence from './pages/evidence.js';
import firmware from './pages/firmware.js';
import docks, { DOCK_ROLES } from './pages/docks.js';

// Each route: the page module, the permission it needs (null: any signed-in user), the roles
// it is for when no single permission says so, its icon and nav group. Pages without a module
// are placeholders that later issues fill.
const ROUTES = [
  { id: 'desk', group: 'equipment', perm: 'assignments.manage', icon: 'desk', render: desk },
  { id: 'devices', group: 'equipment', perm: 'register.read', icon: 'devices', render: devices },
  { id: 'officers', group: 'equipment', perm: 'register.read', icon: 'officers', render: officers },
  { id: 'units', group: 'equipment', perm: 'register.read', icon: 'units', render: unitsPage },
  { id: 'docks', group: 'equipment', perm: 'register.read', roles: DOCK_ROLES, icon: 'docks', render: docks },
  { id: 'command', group: 'supervision', perm: 'live.watch', icon: 'command', render: command },
  { id: 'coverage', group: 'supervision', perm: 'coverage.read', icon: 'coverage', render: coverage },
  { id: 'evidence', group: 'supervision', perm: 'register.read', icon: 'evidence', render: evidence },
  { id: 'firmware', group: 'system', perm: 'devices.manage', icon: 'firmware', render: firmware },
  { id: 'audit', group: 'system', perm: 'audit.read', icon: 'audit', render: audit },
];
const GROUPS = ['equipment', 'supervision', 'system'];

const app = document.getElementById('app');
let session = null; // {user, permissions:Set, unit}
let current = null; // {route, controller}
const units = new UnitStore();

async function start() {
  try {
    await loadI18n();
  } catch (err) {
    clear(app, h('p', { class: 'fatal', role: 'alert', text: `UI resources failed to load: ${err.message}` }));
    return;
  }
  events.addEventListener('auth-lost', () => {
    if (session) toast(t('err.sessionExpired'), 'error');
    signOut(false);
  });
  let lastNetToast = 0;
  events.addEventListener('network-error', () => {
    // Announce once every few seconds, not once per failed request.
    if (Date.now() - lastNetToast > 4000) {
      lastNetToast = Date.now();
      toast(t('err.network'), 'error', 6000);
    }
  });
  window.addEventListener('hashchange', () => session && route());
  // The skip link must not change the hash: the router owns it.
  document.querySelector('.skip-link')?.addEventListener('click', (ev) => {
    ev.preventDefault();
    (document.getElementById('main') || document.getElementById('login-username'))?.focus();
  });
  onLangChange(() => (session ? renderShell() : showLogin()));
  if (getToken()) {
    try {
      await loadSession();
    } catch (err) {
      if (err.status !== 401) toast(describeError(err), 'error');
      showLogin();
      return;
    }
    renderShell();
  } else {
    showLogin();
  }
}

async function loadSession() {
  const me = await get('/me');
  const user = me?.user || me || {};
  session = {
    user,
    permissions: new Set(me?.permissions || []),
    unit: me?.unit || null,
  };
  units.loaded = null;
}

function showLogin() {
  session = null;
  current?.controller.abort();
  current = null;
  app.setAttribute('aria-busy', 'false');
  renderLogin(app, {
    async onLogin(res) {
      setToken(res.token);
      await loadSession();
      renderShell();
    },
    toggleLanguage,
  });
}

async function signOut(callServer = true) {
  if (callServer && getToken()) {
    try {
      await api('DELETE', '/session');
    } catch {
      // the token is dropped here anyway; it expires on the server
    }
  }
  setToken('');
  try {
    sessionStorage.removeItem('fleet.unit');
  } catch {
    // nothing kept
  }
  showLogin();
}

function toggleLanguage() {
  setLang(getLang() === 'zh-CN' ? 'en' : 'zh-CN');
}

export function can(perm) {
  return Boolean(session?.permissions.has(perm));
}

function visibleRoutes() {
  return ROUTES.filter((r) => (!r.perm || can(r.perm)) && (!r.roles || r.roles.includes(session?.user?.role)));
}

function renderShell() {
  const u = session.user;
  const unitName = session.unit?.name || (u.unit_id ? '' : t('shell.allUnits'));
  const nav = h('nav', { class: 'sidenav', id: 'sidenav', 'aria-label': t('shell.nav') },
    h('div', { class: 'brand' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true', text: '执' }),
      h('span', { class: 'brand-text' },
        h('strong', { text: t('app.name') }),
        h('small', { text: t('app.org') }))),
    GROUPS.map((g) => {
      const rs = visibleRoutes().filter((r) => r.group === g);
      if (!rs.length) return null;
      return h('div', { class: 'nav-group' },
        h('div', { class: 'nav-group-title', text: t(`nav.group.${g}`) }),
        h('ul', {}, rs.map((r) => h('li', {},
          h('a', { href: `#/${r.id}`, class: 'nav-link', id: `nav-${r.id}`, dataset: { route: r.id } },
            icon(r.icon),
            h('span', { text: t(`nav.${r.id}`) }),
            r.placeholder ? h('span', { class: 'soon', text: t('nav.soon') }) : null)))));
    }));

  const title = h('h1', { id: 'page-title', class: 'page-title', tabindex: '-1' });
  const top = h('header', { class: 'topbar' },
    h('button', {
      type: 'button', class: 'icon-btn nav-toggle', 'aria-label': t('shell.menu'), 'aria-controls': 'sidenav', 'aria-expanded': 'false',
      onclick: (ev) => {
        const open = document.body.classList.toggle('nav-open');
        ev.currentTarget.setAttribute('aria-expanded', String(open));
      },
    }, icon('menu')),
    title,
    h('div', { class: 'topbar-right' },
      h('span', { class: 'who', title: u.username || '' },
        h('span', { class: 'who-unit', id: 'user-unit', text: unitName }),
        h('span', { class: 'who-name', id: 'user-name', text: u.name || u.username || '' }),
        u.role && t(`role.${u.role}`) !== u.name ? h('span', { class: 'who-role', text: t(`role.${u.role}`) }) : null),
      h('button', {
        type: 'button', class: 'btn ghost', id: 'lang-toggle', lang: getLang() === 'zh-CN' ? 'en' : 'zh-CN',
        'aria-label': t('shell.switchLanguage'), onclick: toggleLanguage,
      }, icon('globe'), h('span', { text: t('shell.otherLanguage') })),
      h('button', { type: 'button', class: 'btn ghost', id: 'logout', onclick: () => signOut(true) },
        icon('logout'), h('span', { text: t('shell.logout') }))));

  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  clear(app,
    h('div', { class: 'shell', id: 'app-shell' }, nav,
      h('div', { class: 'workspace' }, top, main)));
  app.setAttribute('aria-busy', 'false');
  route();
}

function route() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [id] = hash.split(/[/?]/);
  const routes = visibleRoutes();
  const r = routes.find((x) => x.id === id);
  if (!r) {
    if (ROUTES.some((x) => x.id === id) || !routes.length) {
      // a page this role may not see: say so rather than jump elsewhere
      renderPage({ id, title: t('nav.forbidden') }, (root) => clear(root, h('div', { class: 'placeholder', text: t('err.forbiddenPage') })));
    } else {
      window.location.replace(`#/${routes[0].id}`); // fires hashchange, which routes again
    }
    return;
  }
  document.body.classList.remove('nav-open');
  document.querySelectorAll('.nav-link').forEach((a) => {
    if (a.dataset.route === r.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  if (r.placeholder) {
    renderPage({ id: r.id, title: t(`nav.${r.id}`) }, (root) => clear(root, placeholder(r)));
    return;
  }
  document.getElementById('main')?.setAttribute('aria-busy', 'true');
  renderPage({ id: r.id, title: t(`nav.${r.id}`) }, r.render);
}

function renderPage(info, render) {
  current?.controller.abort();
  const controller = new AbortController();
  current = { route: info.id, controller };
  const main = document.getElementById('main');
  const title = document.getElementById('page-title');
  if (!main || !title) return;
  title.textContent = info.title;
  document.title = `${info.title} · ${t('app.title')}`;
  main.dataset.page = info.id;
  main.replaceChildren();
  const ctx = {
    me: session,
    can,
    units,
    signal: controller.signal,
    navigate: (id) => {
      window.location.hash = `#/${id}`;
    },
  };
  Promise.resolve(render(main, ctx)).catch((err) => {
    if (err?.name !== 'AbortError' && !controller.signal.aborted) toast(describeError(err), 'error');
  }).finally(() => main.setAttribute('aria-busy', 'false'));
}

function placeholder(r) {
  return h('section', { class: 'placeholder', 'aria-labelledby': 'ph-title' },
    icon(r.icon, 'icon big'),
    h('h2', { id: 'ph-title', text: t(`nav.${r.id}`) }),
    h('p', { text: t(`placeholder.${r.id}`) }),
    h('p', { class: 'muted', text: t('placeholder.later') }));
}

start();
