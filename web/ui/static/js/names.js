// Caches that turn ids in lists (devices, officers, users) into names, one request per id.
import { get } from './api.js';

function cache(path) {
  const m = new Map();
  return {
    get(id) {
      if (!id) return Promise.resolve(null);
      if (!m.has(id)) {
        m.set(id, get(`${path}/${encodeURIComponent(id)}`).catch(() => {
          m.delete(id); // try again next time
          return null;
        }));
      }
      return m.get(id);
    },
    put(obj) {
      if (obj?.id) m.set(obj.id, Promise.resolve(obj));
    },
  };
}

export const devices = cache('/devices');
export const officers = cache('/officers');
export const users = cache('/users');

// userLabel is a user's name, or the id when the role may not read users.
export async function userLabel(id) {
  if (!id || id === 'system') return id || '';
  const u = await users.get(id);
  return u ? (u.name || u.username) : id;
}
