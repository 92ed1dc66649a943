// The live feed of the command centre: Server-Sent Events from GET /api/v1/live/events.
// EventSource cannot send the bearer header, so each connection first asks
// POST /api/v1/live/ticket for a short-lived, single-use ticket and passes it in the query. The
// browser's own reconnect would reuse a spent ticket, so on any error the feed closes the
// stream and connects again with a new ticket, backing off. Each time a stream opens it asks
// the page to reload the picture (what changed while no stream was open is not in it). A
// server without the feed is polled instead.
import { post, url } from '../api.js';

// Events the feed dispatches (CustomEvent detail):
//   position  a device's live state (a LivePosition: moved, or its online state changed)
//   alert     an alert raised, reopened, acknowledged or cleared
//   device    a device event (record_start, power_off, …)
//   resync    the picture may be stale: reload positions and alerts
//   status    the connection state changed: detail is connecting | live | retrying | polling | off
const STREAM_EVENTS = {
  position: 'position',
  state: 'position', // the server's name for an online/offline change; same payload
  status: 'position',
  alert: 'alert',
  device: 'device',
  event: 'device',
};

const BACKOFF = [1000, 2000, 5000, 10000, 20000];
const POLL_MS = 10000;
const RETRY_STREAM_MS = 60000;

export class LiveFeed extends EventTarget {
  constructor(signal) {
    super();
    this.signal = signal;
    this.source = null;
    this.timer = null;
    this.poller = null;
    this.failures = 0;
    this.everOpen = false;
    this.state = 'off';
    signal.addEventListener('abort', () => this.stop(), { once: true });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('status', s);
  }

  start() {
    this.connect();
  }

  stop() {
    this.closeSource();
    clearTimeout(this.timer);
    clearInterval(this.poller);
    this.timer = null;
    this.poller = null;
    this.setState('off');
  }

  closeSource() {
    if (this.source) {
      this.source.onopen = null;
      this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
  }

  async connect() {
    if (this.signal.aborted) return;
    this.closeSource();
    clearTimeout(this.timer);
    if (this.state !== 'polling') this.setState(this.everOpen || this.failures ? 'retrying' : 'connecting');
    let ticket;
    try {
      ticket = (await post('/live/ticket', {}, { signal: this.signal }))?.ticket;
    } catch (err) {
      if (this.signal.aborted || err.name === 'AbortError') return;
      if (err.status === 401) {
        this.stop(); // the shell signs out
        return;
      }
      if (err.status === 403) {
        this.stop();
        return;
      }
      if (err.status === 404 || err.status === 405 || err.status === 501 || err.status === 503) {
        this.poll(); // no live feed on this server (yet): poll, and look again now and then
        return;
      }
      this.retry();
      return;
    }
    if (!ticket) {
      this.poll();
      return;
    }
    const es = new EventSource(url('/live/events', { ticket }));
    this.source = es;
    es.onopen = () => {
      if (this.source !== es) return;
      this.everOpen = true;
      this.failures = 0;
      clearInterval(this.poller);
      this.poller = null;
      this.setState('live');
      // Whatever changed before the stream was open is not in it: reload the picture once.
      this.emit('resync');
    };
    es.onerror = () => {
      if (this.source !== es) return;
      // Closed by the server (it ends streams now and then), a network failure, or a refused
      // ticket: in every case a new ticket is needed.
      this.closeSource();
      this.retry();
    };
    for (const [name, kind] of Object.entries(STREAM_EVENTS)) {
      es.addEventListener(name, (ev) => this.deliver(kind, ev));
    }
    // An event without a name: the server's envelope {type, data}, if it sends one.
    es.addEventListener('message', (ev) => {
      const msg = parse(ev.data);
      const kind = msg && STREAM_EVENTS[msg.type];
      if (kind && msg.data && typeof msg.data === 'object') this.emit(kind, msg.data);
    });
  }

  deliver(kind, ev) {
    const msg = parse(ev.data);
    if (!msg || typeof msg !== 'object') return;
    // Accept both the bare record and an envelope {type, data}.
    const data = msg.data && typeof msg.data === 'object' && typeof msg.type === 'string' && !msg.device_id && !msg.id ? msg.data : msg;
    this.emit(kind, data);
  }

  retry() {
    if (this.signal.aborted) return;
    const wait = BACKOFF[Math.min(this.failures, BACKOFF.length - 1)];
    this.failures += 1;
    if (this.state !== 'polling') this.setState('retrying');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  poll() {
    if (this.signal.aborted) return;
    if (!this.poller) {
      this.setState('polling');
      this.emit('resync');
      this.poller = setInterval(() => this.emit('resync'), POLL_MS);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), RETRY_STREAM_MS);
  }
}

function parse(s) {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
