// Files behind the bearer token (exports, evidence originals): fetched with the token and saved
// from a blob, since a plain link cannot carry the Authorization header.
import { h } from './dom.js';
import { url, getToken, ApiError } from './api.js';

// fetchBlob GETs path under /api/v1 and returns {blob, name, type}; errors are ApiErrors
// carrying the server's {error:{code,message}} when it sent one.
export async function fetchBlob(path, query, { signal, fallbackName = 'download' } = {}) {
  let res;
  try {
    res = await fetch(url(path, query), { headers: { Authorization: `Bearer ${getToken()}` }, signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', err.message);
  }
  if (!res.ok) {
    let e = {};
    try {
      e = (await res.json())?.error || {};
    } catch {
      e = {};
    }
    throw new ApiError(res.status, e.code || (res.status === 503 ? 'unavailable' : res.status === 404 ? 'not_found' : res.status === 403 ? 'forbidden' : 'internal'), e.message || `HTTP ${res.status}`, e.field);
  }
  const blob = await res.blob();
  return { blob, name: fileName(res.headers.get('Content-Disposition') || '', fallbackName), type: res.headers.get('Content-Type') || '' };
}

// fileName reads the name the server gave (filename*=UTF-8''… first, then filename="…").
export function fileName(cd, fallback) {
  let m = cd.match(/filename\*=UTF-8''([^;]+)/i);
  if (m) {
    try {
      return decodeURIComponent(m[1]);
    } catch {
      // fall through
    }
  }
  m = cd.match(/filename="?([^";]+)"?/i);
  return m ? m[1] : fallback;
}

// saveBlob hands a blob to the browser as a download named name.
export function saveBlob(blob, name) {
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
