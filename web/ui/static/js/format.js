// Dates and times in the agencies' zone. China Standard Time has no daylight saving, so a fixed
// +08:00 offset is exact and needs no time-zone data in the browser (as fleet.Zone in Go).
const CST_MS = 8 * 60 * 60 * 1000;

// today returns the civil date in China as YYYY-MM-DD.
export function today(now = Date.now()) {
  return new Date(now + CST_MS).toISOString().slice(0, 10);
}

// dateTime formats an RFC 3339 instant as "YYYY-MM-DD HH:mm" in China time.
export function dateTime(s) {
  if (!s) return '';
  const t = Date.parse(s);
  if (Number.isNaN(t)) return String(s);
  return new Date(t + CST_MS).toISOString().slice(0, 16).replace('T', ' ');
}

// timeOfDay formats an instant as "HH:mm:ss" in China time.
export function timeOfDay(s) {
  if (!s) return '';
  const t = Date.parse(s);
  if (Number.isNaN(t)) return String(s);
  return new Date(t + CST_MS).toISOString().slice(11, 19);
}

// dateOf returns the China civil date of an instant.
export function dateOf(s) {
  if (!s) return '';
  const t = Date.parse(s);
  if (Number.isNaN(t)) return '';
  return today(t);
}
