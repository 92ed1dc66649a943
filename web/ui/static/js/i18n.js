// Two languages: zh-CN (the default) and en. Every visible string lives in i18n/<lang>.json;
// pages call t(key) and re-render when the language changes. The choice is kept in localStorage.
export const LANGS = ['zh-CN', 'en'];
const STORAGE_KEY = 'fleet.lang';

const dicts = {};
let lang = 'zh-CN';
const listeners = new Set();

// load fetches both dictionaries (they are small) so that switching needs no round trip.
export async function loadI18n() {
  await Promise.all(LANGS.map(async (l) => {
    const res = await fetch(`/i18n/${l}.json`, { cache: 'no-cache' });
    if (!res.ok) throw new Error(`i18n/${l}.json: HTTP ${res.status}`);
    dicts[l] = await res.json();
  }));
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    saved = null; // storage disabled: stay with the default
  }
  setLang(LANGS.includes(saved) ? saved : 'zh-CN', { silent: true });
}

export function getLang() {
  return lang;
}

export function setLang(l, { silent = false } = {}) {
  if (!LANGS.includes(l)) return;
  lang = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem(STORAGE_KEY, l);
  } catch {
    // not remembered; still switched
  }
  document.title = t('app.title');
  if (!silent) listeners.forEach((fn) => fn(l));
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// t returns the text of key in the current language, with {name} placeholders filled from
// params. A key missing in the current language falls back to zh-CN, then to the key itself.
export function t(key, params) {
  let s = dicts[lang]?.[key] ?? dicts['zh-CN']?.[key] ?? key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
  }
  return s;
}

// has reports whether key has a text, for optional translations (server error messages).
export function has(key) {
  return dicts[lang]?.[key] !== undefined;
}
