// The IRC side of the web client: parsing and writing lines (IRCv3 message tags),
// and a Connection over WebSocket (text.ircv3.net) that negotiates capabilities,
// logs in with SASL, and reconnects with backoff. No DOM here; app.js listens.

const TAG_ESCAPES = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

/** Parses one IRC line into { tags, source, nick, command, params }. */
export function parse(line) {
  let rest = line;
  const tags = {};
  if (rest.startsWith('@')) {
    const end = rest.indexOf(' ');
    for (const pair of rest.slice(1, end).split(';')) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const raw = eq < 0 ? '' : pair.slice(eq + 1);
      tags[key] = raw.replace(/\\(.?)/g, (_, c) => TAG_ESCAPES[c] ?? c);
    }
    rest = rest.slice(end + 1).trimStart();
  }
  let source = null;
  if (rest.startsWith(':')) {
    const end = rest.indexOf(' ');
    source = rest.slice(1, end);
    rest = rest.slice(end + 1).trimStart();
  }
  const params = [];
  while (rest.length) {
    if (rest.startsWith(':')) { params.push(rest.slice(1)); break; }
    const end = rest.indexOf(' ');
    if (end < 0) { params.push(rest); break; }
    params.push(rest.slice(0, end));
    rest = rest.slice(end + 1).trimStart();
  }
  const command = (params.shift() || '').toUpperCase();
  const nick = source ? source.split('!')[0] : null;
  return { tags, source, nick, command, params };
}

function escapeTag(v) {
  return String(v).replace(/[\\; \r\n]/g, c => ({ '\\': '\\\\', ';': '\\:', ' ': '\\s', '\r': '\\r', '\n': '\\n' })[c]);
}

/** Writes a line: command, middle params, and a last param with `:` when needed. */
export function line(command, params = [], tags = null) {
  let out = '';
  if (tags && Object.keys(tags).length) {
    out = '@' + Object.entries(tags).map(([k, v]) => v === '' || v == null ? k : `${k}=${escapeTag(v)}`).join(';') + ' ';
  }
  out += command;
  params.forEach((p, i) => {
    p = String(p).replace(/[\r\n]/g, ' ');
    const last = i === params.length - 1;
    out += ' ' + (last && (p === '' || p.includes(' ') || p.startsWith(':')) ? ':' + p : p);
  });
  return out;
}

/** base64 of a UTF-8 string. */
function b64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The capabilities the client asks for, when the server offers them. */
export const WANTED_CAPS = ['sasl', 'server-time', 'message-tags', 'echo-message', 'batch',
  'draft/chathistory', 'multi-prefix', 'account-tag', 'away-notify', 'draft/read-marker',
  'cap-notify'];

/**
 * One login to the server over WebSocket, reconnecting with backoff until closed.
 * Events (listen with on(name, fn)): 'message' (parsed line), 'registered',
 * 'login-failed' (text), 'state' ('connecting' | 'connected' | 'waiting' | 'closed').
 */
export class Connection {
  constructor(url, credentials) {
    this.url = url;
    this.credentials = credentials; // { account, secret, mechanism, register }
    this.handlers = {};
    this.caps = new Set();
    this.isupport = {};
    this.nick = credentials.account;
    this.attempt = 0;
    this.closed = false;
    this.registered = false;
  }

  on(name, fn) { (this.handlers[name] ||= []).push(fn); return this; }
  emit(name, ...args) { for (const fn of this.handlers[name] || []) fn(...args); }

  open() {
    this.closed = false;
    this.registered = false;
    this.caps = new Set();
    this.emit('state', 'connecting');
    const ws = new WebSocket(this.url, ['text.ircv3.net']);
    this.ws = ws;
    ws.onopen = () => this.start();
    ws.onmessage = ev => {
      if (typeof ev.data !== 'string') return;
      for (const l of ev.data.split(/\r?\n/)) if (l) this.receive(parse(l));
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) { this.emit('state', 'closed'); return; }
      // Backoff: 1 s, 2 s, 4 s ... at most 30 s, with some jitter.
      const delay = Math.min(30000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
      this.attempt += 1;
      this.emit('state', 'waiting', Math.round(delay / 1000));
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) {
      this.send('QUIT', ['Logged out']);
      this.ws.close(1000);
    }
  }

  send(command, params = [], tags = null) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(line(command, params, tags));
  }

  start() {
    this.send('CAP', ['LS', '302']);
    this.nick = this.credentials.account;
    this.send('NICK', [this.nick]);
    this.send('USER', [this.credentials.account, '0', '*', 'web client']);
  }

  receive(m) {
    const p = m.params;
    switch (m.command) {
      case 'PING': this.send('PONG', [p[p.length - 1]]); break;
      case 'CAP': this.onCap(m); break;
      case 'AUTHENTICATE':
        if (p[0] === '+') {
          const c = this.credentials;
          this.send('AUTHENTICATE', [b64(`${c.account}\0${c.account}\0${c.secret}`)]);
        }
        break;
      case '903': this.send('CAP', ['END']); break;
      case '904': case '905': case '906': case '908':
        this.closed = true;
        this.emit('login-failed', p[p.length - 1]);
        this.ws?.close();
        break;
      case '001':
        this.nick = p[0];
        this.registered = true;
        this.attempt = 0;
        this.emit('state', 'connected');
        if (this.credentials.register) {
          this.send('REGISTER', [this.credentials.account, '*', this.credentials.secret]);
        }
        break;
      case '433':
        if (!this.registered) {
          this.nick = `${this.nick.slice(0, 25)}_`;
          this.send('NICK', [this.nick]);
        }
        break;
      case '005':
        for (const token of p.slice(1, -1)) {
          const [k, v] = token.split('=');
          this.isupport[k] = v ?? true;
        }
        break;
      case 'NICK':
        if (m.nick === this.nick) this.nick = p[0];
        break;
      case 'FAIL':
        if (p[0] === 'REGISTER') {
          this.closed = true;
          this.emit('login-failed', p[p.length - 1]);
          this.ws?.close();
        }
        break;
      case 'ERROR':
        if (!this.registered) this.emit('login-failed', p[0]);
        break;
    }
    this.emit('message', m);
  }

  onCap(m) {
    const sub = m.params[1];
    const list = m.params[m.params.length - 1];
    if (sub === 'LS') {
      for (const entry of list.split(' ')) {
        const name = entry.split('=')[0];
        if (WANTED_CAPS.includes(name)) this.caps.add(name);
      }
      if (m.params[2] === '*') return; // more LS lines follow
      if (!this.credentials.register && !this.caps.has('sasl')) {
        this.emit('login-failed', 'The server offers no SASL login.');
        this.close();
        return;
      }
      if (this.credentials.register) this.caps.delete('sasl');
      this.send('CAP', ['REQ', [...this.caps].join(' ')]);
    } else if (sub === 'ACK') {
      this.caps = new Set(list.split(' ').filter(Boolean));
      if (this.credentials.register) {
        this.send('CAP', ['END']);
      } else {
        this.send('AUTHENTICATE', [this.credentials.mechanism || 'PLAIN']);
      }
    } else if (sub === 'NAK') {
      this.emit('login-failed', 'The server refused the capabilities.');
      this.close();
    }
  }
}
