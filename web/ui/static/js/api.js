// The HTTP client of /api/v1: bearer token from sessionStorage, JSON in and out, errors as
// ApiError with the server's {error:{code,message,field}}. A 401 anywhere but the sign-in
// itself ends the session; network failures are announced without blocking the page.
const TOKEN_KEY = 'fleet.token';
const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message, field, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status; // 0 for a network failure
    this.code = code || '';
    this.field = field || '';
    this.body = body; // the whole decoded body, e.g. an import's per-row errors
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // a session without storage lasts until the page reloads
  }
}

// Events the shell listens to: 'auth-lost' (a 401) and 'network-error'.
export const events = new EventTarget();

// url builds a path under /api/v1 with the query's non-empty values.
export function url(path, query) {
  const u = new URL(BASE + path, window.location.origin);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
    }
  }
  return u.pathname + u.search;
}

// api sends one request. opts: query, body (JSON), form (FormData), auth (default true).
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token && opts.auth !== false) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.form) {
    body = opts.form;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url(path, opts.query), { method, headers, body, signal: opts.signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    events.dispatchEvent(new CustomEvent('network-error', { detail: err }));
    throw new ApiError(0, 'network', err.message);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const e = data?.error || {};
  const err = new ApiError(res.status, e.code || statusCode(res.status), e.message || text || res.statusText, e.field, data);
  if (res.status === 401 && opts.auth !== false) {
    setToken('');
    events.dispatchEvent(new CustomEvent('auth-lost', { detail: err }));
  }
  throw err;
}

function statusCode(status) {
  switch (status) {
    case 400: case 422: return 'invalid';
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 503: return 'unavailable';
    default: return 'internal';
  }
}

export const get = (path, query, opts) => api('GET', path, { ...opts, query });
export const post = (path, body, opts) => api('POST', path, { ...opts, body });
export const patch = (path, body, opts) => api('PATCH', path, { ...opts, body });

// items returns a list answer's items whatever its shape ({items} or a bare array).
export function items(data) {
  if (Array.isArray(data)) return data;
  return data?.items || [];
}

// all fetches every page of a list, up to max items.
export async function all(path, query = {}, max = 5000) {
  const out = [];
  let after = '';
  for (;;) {
    const data = await get(path, { ...query, limit: 500, after });
    out.push(...items(data));
    after = data?.next || '';
    if (!after || out.length >= max) return out;
  }
}
