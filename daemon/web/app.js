// The chatd web client: login, conversations, members, history, typing, unread
// counts and notifications. Plain ES module, no framework and no build step; the
// IRC protocol is in irc.js. Text from the network only ever reaches the page
// through textContent, never as HTML.
import { Connection } from './irc.js';

const $ = id => document.getElementById(id);
const HISTORY_PAGE = 50;
const TYPING_SEND_EVERY = 3000;
const TYPING_SHOWN_FOR = 6000;
const isChannel = name => /^[#&]/.test(name);
const fold = name => name.toLowerCase();

let conn = null;
let buffers = new Map();
let active = null;
let batches = new Map();
let names = new Map();
let lastTypingSent = 0;
let remember = false;

// "Keep me logged in": a login token from SESSION CREATE, never the password.
const SAVED = 'chatd.session';
function savedSession() {
  try { return JSON.parse(localStorage.getItem(SAVED) || 'null'); } catch { return null; }
}

function buffer(name, kind) {
  const key = fold(name);
  let b = buffers.get(key);
  if (!b) {
    b = { name, kind: kind || (isChannel(name) ? 'channel' : 'query'), messages: [], ids: new Set(),
      unread: 0, mentions: 0, topic: '', members: new Map(), typing: new Map(),
      exhausted: false, loading: false, joined: false };
    buffers.set(key, b);
    renderBufferList();
  }
  return b;
}

// ---- login ----------------------------------------------------------------

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
}

function startSession(credentials) {
  $('login-error').textContent = '';
  buffers = new Map();
  active = null;
  conn = new Connection(wsUrl(), credentials);
  conn.on('message', onMessage);
  conn.on('state', (state, secs) => {
    const text = { connecting: 'Connecting…', connected: 'Connected', closed: 'Disconnected',
      waiting: `Connection lost; retrying in ${secs} s…` }[state];
    $('status').textContent = text;
    if (state === 'connected') {
      // How many times this page has connected (reconnections show up here).
      document.body.dataset.connections = String(Number(document.body.dataset.connections || 0) + 1);
      showApp();
    }
  });
  conn.on('login-failed', why => {
    showLogin();
    if (credentials.token) {
      localStorage.removeItem(SAVED);
      why = 'Your saved login is no longer valid; log in again.';
    }
    $('login-error').textContent = why || 'Login failed.';
  });
  conn.open();
}

/**
 * Once logged in with the password and registered (SASL logs in before 001,
 * REGISTER after it): ask for a token if the user wants to stay logged in.
 */
let loggedIn = false;
function afterLogin() {
  if (!loggedIn || !conn.registered) return;
  loggedIn = false;
  if (remember && !conn.credentials.token) conn.send('SESSION', ['CREATE', 'web']);
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('me-nick').textContent = conn.nick;
  $('login-password').value = '';
  render();
}

function showLogin() {
  $('app').hidden = true;
  $('login').hidden = false;
  document.title = 'chatd';
}

function loginSubmit(register) {
  remember = $('login-remember').checked;
  const account = $('login-account').value.trim();
  const secret = $('login-password').value;
  if (!account || !secret) {
    $('login-error').textContent = 'Enter an account name and a password.';
    return;
  }
  localStorage.setItem('chatd.account', account);
  startSession({ account, secret, mechanism: 'PLAIN', register });
}

// ---- incoming ---------------------------------------------------------------

function timeOf(m) {
  const t = m.tags.time ? new Date(m.tags.time) : new Date();
  return Number.isNaN(t.getTime()) ? new Date() : t;
}

function mentionsMe(text) {
  const nick = conn.nick.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w])${nick}($|[^\\w])`, 'i').test(text);
}

function addMessage(b, entry, live, page) {
  if (entry.msgid && b.ids.has(entry.msgid)) return;
  if (entry.msgid) b.ids.add(entry.msgid);
  let i = b.messages.length;
  if (page) {
    // A page of older history goes above everything shown, in the server's
    // order (times alone cannot order messages sent in the same millisecond).
    i = page.insertAt++;
  } else {
    // Keep time order otherwise.
    while (i > 0 && b.messages[i - 1].time > entry.time) i--;
  }
  b.messages.splice(i, 0, entry);
  const seen = b === active && document.visibilityState === 'visible';
  if (live && entry.kind !== 'event' && !entry.mine) {
    if (!seen) {
      b.unread += 1;
      if (entry.mention || b.kind === 'query') b.mentions += 1;
    }
    if ((entry.mention || b.kind === 'query') &&
        (document.visibilityState !== 'visible' || !document.hasFocus())) {
      notify(b, entry);
    }
  }
  if (b === active) renderMessages(i === b.messages.length - 1);
  renderBufferList();
  renderTitle();
}

function notify(b, entry) {
  const N = window.Notification;
  if (!N || N.permission !== 'granted') return;
  const title = b.kind === 'query' ? `${entry.nick} (private)` : `${entry.nick} in ${b.name}`;
  const n = new N(title, { body: entry.text, tag: fold(b.name) });
  n.onclick = () => { window.focus(); select(b); };
}

function onMessage(m) {
  const p = m.params;
  const batchId = m.tags.batch;
  const inBatch = batchId && batches.get(batchId);
  switch (m.command) {
    case '900':
      loggedIn = true;
      afterLogin();
      return;
    case '001':
      afterLogin();
      return;
    case 'SESSION':
      if (p[0] === 'CREATED' && remember) {
        localStorage.setItem(SAVED, JSON.stringify({ account: conn.credentials.account, id: p[1], secret: p[2] }));
        // Reconnections use the token from now on; the password is dropped.
        conn.credentials = { account: conn.credentials.account, secret: p[2], mechanism: 'PLAIN', token: true };
      }
      return;
    case 'BATCH': {
      const id = p[0].slice(1);
      if (p[0].startsWith('+')) {
        const target = p[2];
        const b = target ? buffers.get(fold(target)) : null;
        batches.set(id, { type: p[1], target, requested: Boolean(b && b.loading), count: 0,
          older: Boolean(b && b.loadingOlder), insertAt: 0 });
      } else {
        const done = batches.get(id);
        batches.delete(id);
        const b = done && done.target && buffers.get(fold(done.target));
        if (b && done.requested) {
          b.loading = false;
          if (done.count < HISTORY_PAGE) b.exhausted = true;
          if (b === active) renderMessages(false);
        }
      }
      return;
    }
    case 'PRIVMSG':
    case 'NOTICE': {
      if (!m.nick || !m.source.includes('!')) {
        if (active) addMessage(active, { kind: 'event', time: timeOf(m), text: p[p.length - 1] }, false);
        return;
      }
      const mine = fold(m.nick) === fold(conn.nick);
      const target = isChannel(p[0]) ? p[0] : (mine ? p[0] : m.nick);
      const b = buffer(target);
      let text = p[1] || '';
      let kind = m.command === 'NOTICE' ? 'notice' : 'message';
      const action = text.match(/^\x01ACTION (.*)\x01?$/);
      if (action) { kind = 'action'; text = action[1].replace(/\x01$/, ''); }
      else if (text.startsWith('\x01')) return;
      if (inBatch) inBatch.count += 1;
      addMessage(b, { kind, nick: m.nick, text, time: timeOf(m), msgid: m.tags.msgid, mine,
        mention: !mine && mentionsMe(text) }, !(inBatch && inBatch.requested),
        inBatch && inBatch.older ? inBatch : null);
      b.typing.delete(fold(m.nick));
      renderTyping();
      return;
    }
    case 'TAGMSG': {
      const state = m.tags['+typing'];
      if (!state || fold(m.nick) === fold(conn.nick)) return;
      const b = buffer(isChannel(p[0]) ? p[0] : m.nick);
      if (state === 'done') b.typing.delete(fold(m.nick));
      else b.typing.set(fold(m.nick), { nick: m.nick, until: Date.now() + TYPING_SHOWN_FOR });
      renderTyping();
      return;
    }
    case 'JOIN': {
      const b = buffer(p[0], 'channel');
      if (fold(m.nick) === fold(conn.nick)) {
        b.joined = true;
        b.name = p[0];
        if (!active || b.wanted) select(b);
        requestHistory(b, null);
        conn.send('NAMES', [p[0]]);
      } else {
        b.members.set(fold(m.nick), { nick: m.nick, prefix: '' });
        event(b, m, `${m.nick} joined`);
      }
      renderMembers();
      return;
    }
    case 'PART':
    case 'KICK': {
      const b = buffers.get(fold(p[0]));
      if (!b) return;
      const who = m.command === 'KICK' ? p[1] : m.nick;
      if (fold(who) === fold(conn.nick)) {
        buffers.delete(fold(p[0]));
        if (active === b) active = [...buffers.values()][0] || null;
        render();
        return;
      }
      b.members.delete(fold(who));
      event(b, m, m.command === 'KICK' ? `${who} was removed by ${m.nick}` : `${who} left`);
      renderMembers();
      return;
    }
    case 'QUIT':
      for (const b of buffers.values()) {
        if (b.members.delete(fold(m.nick))) event(b, m, `${m.nick} quit`);
      }
      renderMembers();
      return;
    case 'NICK': {
      const to = p[0];
      if (fold(m.nick) === fold(conn.nick) || fold(to) === fold(conn.nick)) $('me-nick').textContent = conn.nick;
      for (const b of buffers.values()) {
        const member = b.members.get(fold(m.nick));
        if (member) {
          b.members.delete(fold(m.nick));
          b.members.set(fold(to), { nick: to, prefix: member.prefix });
          event(b, m, `${m.nick} is now ${to}`);
        }
      }
      renderMembers();
      return;
    }
    case 'MODE':
      if (isChannel(p[0])) {
        event(buffer(p[0]), m, `${m.nick} set mode ${p.slice(1).join(' ')}`);
        conn.send('NAMES', [p[0]]);
      }
      return;
    case 'TOPIC': {
      const b = buffer(p[0]);
      b.topic = p[1] || '';
      event(b, m, `${m.nick} set the topic: ${b.topic}`);
      renderHeader();
      return;
    }
    case '332': buffer(p[1]).topic = p[2] || ''; renderHeader(); return;
    case '331': buffer(p[1]).topic = ''; renderHeader(); return;
    case '353': {
      const list = names.get(fold(p[2])) || [];
      for (const entry of p[3].split(' ').filter(Boolean)) {
        const at = entry.search(/[^~&@%+]/);
        const nick = entry.slice(at).split('!')[0];
        list.push({ nick, prefix: entry.slice(0, at) });
      }
      names.set(fold(p[2]), list);
      return;
    }
    case '366': {
      const b = buffers.get(fold(p[1]));
      const list = names.get(fold(p[1])) || [];
      names.delete(fold(p[1]));
      if (b) {
        b.members = new Map(list.map(x => [fold(x.nick), x]));
        renderMembers();
      }
      return;
    }
    case 'MARKREAD': {
      const b = buffers.get(fold(p[0]));
      const stamp = (p[1] || '').replace(/^timestamp=/, '');
      if (b && stamp && stamp !== '*') {
        const at = new Date(stamp);
        if (!b.messages.some(x => x.time > at && !x.mine && x.kind !== 'event')) {
          b.unread = 0; b.mentions = 0;
          renderBufferList(); renderTitle();
        }
      }
      return;
    }
    case '401': case '403': case '404': case '405': case '442': case '471': case '473':
    case '474': case '475': case '477': case '482': case '417':
      if (active) addMessage(active, { kind: 'event', time: new Date(), text: p.slice(1).join(': ') }, false);
      return;
    case 'FAIL':
      if (active) addMessage(active, { kind: 'event', time: new Date(), text: p[p.length - 1] }, false);
      return;
  }
}

function event(b, m, text) {
  addMessage(b, { kind: 'event', text, time: timeOf(m), msgid: m.tags.msgid }, false);
}

function requestHistory(b, before) {
  if (b.loading || (before && b.exhausted)) return;
  b.loading = true;
  b.loadingOlder = Boolean(before);
  const ref = before ? (before.msgid ? `msgid=${before.msgid}` : `timestamp=${before.time.toISOString()}`) : '*';
  conn.send('CHATHISTORY', [before ? 'BEFORE' : 'LATEST', b.name, ref, String(HISTORY_PAGE)]);
  if (b === active) renderMessages(false);
}

// ---- outgoing ---------------------------------------------------------------

function sendText(raw) {
  const b = active;
  if (raw.startsWith('/') && !raw.startsWith('//')) {
    const [cmd, ...rest] = raw.slice(1).split(' ');
    const arg = rest.join(' ');
    switch (cmd.toLowerCase()) {
      case 'join': joinChannel(rest[0]); return;
      case 'part': if (b && b.kind === 'channel') conn.send('PART', arg ? [b.name, arg] : [b.name]); return;
      case 'msg': case 'query': {
        const q = buffer(rest[0], 'query');
        select(q);
        if (rest.length > 1) say(q, rest.slice(1).join(' '));
        return;
      }
      case 'me': if (b) say(b, `\x01ACTION ${arg}\x01`); return;
      case 'topic': if (b) conn.send('TOPIC', [b.name, arg]); return;
      case 'nick': conn.send('NICK', [rest[0]]); return;
      case 'quote': case 'raw': if (conn.ws) conn.ws.send(arg); return;
      default:
        if (b) addMessage(b, { kind: 'event', time: new Date(), text: `Unknown command /${cmd}` }, false);
        return;
    }
  }
  if (b) say(b, raw.replace(/^\//, ''));
}

function say(b, text) {
  conn.send('PRIVMSG', [b.name, text]);
  if (!conn.caps.has('echo-message')) {
    const action = text.match(/^\x01ACTION (.*)\x01$/);
    addMessage(b, { kind: action ? 'action' : 'message', nick: conn.nick, text: action ? action[1] : text,
      time: new Date(), mine: true }, false);
  }
  lastTypingSent = 0;
}

function joinChannel(name) {
  if (!name) return;
  if (!isChannel(name)) name = `#${name}`;
  buffer(name, 'channel').wanted = true;
  conn.send('JOIN', [name]);
}

function sendTyping() {
  const b = active;
  if (!b || !conn.caps.has('message-tags')) return;
  const text = $('composer-input').value;
  const now = Date.now();
  if (!text || text.startsWith('/')) {
    if (lastTypingSent) conn.send('TAGMSG', [b.name], { '+typing': 'done' });
    lastTypingSent = 0;
  } else if (now - lastTypingSent > TYPING_SEND_EVERY) {
    conn.send('TAGMSG', [b.name], { '+typing': 'active' });
    lastTypingSent = now;
  }
}

function markRead(b) {
  b.unread = 0;
  b.mentions = 0;
  const last = [...b.messages].reverse().find(x => x.kind !== 'event');
  if (last && conn.caps.has('draft/read-marker')) {
    conn.send('MARKREAD', [b.name, `timestamp=${last.time.toISOString()}`]);
  }
}

// ---- rendering --------------------------------------------------------------

function select(b) {
  active = b;
  if (b) {
    b.wanted = false;
    if (document.visibilityState === 'visible') markRead(b);
    if (b.kind === 'query' && !b.historyAsked) {
      b.historyAsked = true;
      requestHistory(b, null);
    }
  }
  lastTypingSent = 0;
  closePanels();
  render();
  $('composer-input').focus();
}

function render() {
  renderBufferList();
  renderHeader();
  renderMessages(true);
  renderMembers();
  renderTyping();
  renderTitle();
}

function renderTitle() {
  const total = [...buffers.values()].reduce((n, b) => n + b.unread, 0);
  document.title = total ? `(${total}) chatd` : 'chatd';
}

function renderHeader() {
  $('buffer-name').textContent = active ? active.name : 'chatd';
  $('topic').textContent = active && active.kind === 'channel' ? active.topic : '';
  $('topic').title = $('topic').textContent;
  $('part-button').hidden = !active;
  $('part-button').textContent = active && active.kind === 'query' ? 'Close' : 'Leave';
}

function renderBufferList() {
  for (const [listId, kind] of [['channel-list', 'channel'], ['query-list', 'query']]) {
    const list = $(listId);
    list.replaceChildren(...[...buffers.values()].filter(b => b.kind === kind)
      .sort((a, b) => fold(a.name).localeCompare(fold(b.name)))
      .map(b => {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.buffer = b.name;
        button.setAttribute('aria-current', String(b === active));
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = b.name;
        button.append(name);
        let label = b.name;
        if (b.unread) {
          const badge = document.createElement('span');
          badge.className = b.mentions ? 'badge mention' : 'badge';
          badge.textContent = String(b.unread);
          button.append(badge);
          label += `, ${b.unread} unread`;
        }
        button.setAttribute('aria-label', label);
        button.addEventListener('click', () => select(b));
        li.append(button);
        return li;
      }));
  }
}

function formatTime(t) {
  return t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function renderMessages(stickToBottom) {
  const box = $('messages');
  const list = $('message-list');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const oldHeight = box.scrollHeight;
  const oldTop = box.scrollTop;
  const b = active;
  $('older').hidden = !b || b.exhausted || b.kind === 'server';
  $('older').textContent = b && b.loading ? 'Loading…' : 'Load older messages';
  if (!b) { list.replaceChildren(); return; }
  let lastDay = '';
  const items = [];
  for (const x of b.messages) {
    const day = x.time.toDateString();
    if (day !== lastDay) {
      const d = document.createElement('li');
      d.className = 'day';
      d.textContent = x.time.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
      items.push(d);
      lastDay = day;
    }
    const li = document.createElement('li');
    li.className = `msg ${x.kind}${x.mention ? ' mention' : ''}`;
    if (x.msgid) li.dataset.msgid = x.msgid;
    const time = document.createElement('time');
    time.dateTime = x.time.toISOString();
    time.textContent = formatTime(x.time);
    time.title = x.time.toLocaleString();
    li.append(time);
    if (x.nick && x.kind !== 'event') {
      const nick = document.createElement('span');
      nick.className = 'nick';
      nick.textContent = x.kind === 'action' ? `* ${x.nick}` : x.kind === 'notice' ? `-${x.nick}-` : x.nick;
      li.append(nick);
    }
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = x.text;
    li.append(text);
    items.push(li);
  }
  list.replaceChildren(...items);
  if (stickToBottom || atBottom) {
    box.scrollTop = box.scrollHeight;
  } else {
    // Older messages went in above: keep what the reader was looking at in place.
    box.scrollTop = oldTop + (box.scrollHeight - oldHeight);
  }
}

function renderMembers() {
  const b = active;
  const members = b && b.kind === 'channel' ? [...b.members.values()] : [];
  const rank = p => (p.startsWith('~') ? 0 : p.startsWith('&') ? 1 : p.startsWith('@') ? 2 : p.startsWith('%') ? 3 : p.startsWith('+') ? 4 : 5);
  members.sort((x, y) => rank(x.prefix) - rank(y.prefix) || fold(x.nick).localeCompare(fold(y.nick)));
  $('members-title').textContent = b && b.kind === 'channel' ? `Members (${members.length})` : 'Members';
  $('member-list').replaceChildren(...members.map(m => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    const role = document.createElement('span');
    role.className = 'role';
    role.textContent = m.prefix.slice(0, 1);
    const roleName = { '~': 'founder', '&': 'admin', '@': 'operator', '%': 'half-operator', '+': 'voiced' }[m.prefix.slice(0, 1)];
    button.setAttribute('aria-label', roleName ? `${m.nick}, ${roleName}` : m.nick);
    button.append(role, document.createTextNode(m.nick));
    button.addEventListener('click', () => select(buffer(m.nick, 'query')));
    li.append(button);
    return li;
  }));
}

function renderTyping() {
  const b = active;
  const now = Date.now();
  const who = b ? [...b.typing.values()].filter(t => t.until > now).map(t => t.nick) : [];
  $('typing').textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…`
    : who.length <= 3 ? `${who.join(', ')} are typing…` : 'Several people are typing…';
}

function closePanels() {
  for (const [panel, button] of [['sidebar', 'toggle-sidebar'], ['members', 'toggle-members']]) {
    $(panel).classList.remove('open');
    $(button).setAttribute('aria-expanded', 'false');
  }
}

function togglePanel(panel, button) {
  const open = !$(panel).classList.contains('open');
  closePanels();
  $(panel).classList.toggle('open', open);
  $(button).setAttribute('aria-expanded', String(open));
  if (open) $(panel).querySelector('button, input')?.focus();
}

// ---- wiring -----------------------------------------------------------------

function init() {
  $('login-account').value = localStorage.getItem('chatd.account') || '';
  $('login-form').addEventListener('submit', e => { e.preventDefault(); loginSubmit(false); });
  $('register-button').addEventListener('click', () => loginSubmit(true));
  $('join-form').addEventListener('submit', e => {
    e.preventDefault();
    joinChannel($('join-input').value.trim());
    $('join-input').value = '';
  });
  $('query-form').addEventListener('submit', e => {
    e.preventDefault();
    const nick = $('query-input').value.trim();
    if (nick) select(buffer(nick, 'query'));
    $('query-input').value = '';
  });
  $('composer').addEventListener('submit', e => {
    e.preventDefault();
    const text = $('composer-input').value;
    if (!text.trim()) return;
    $('composer-input').value = '';
    sendText(text);
  });
  $('composer-input').addEventListener('input', sendTyping);
  $('part-button').addEventListener('click', () => {
    const b = active;
    if (!b) return;
    if (b.kind === 'channel') conn.send('PART', [b.name]);
    else { buffers.delete(fold(b.name)); active = [...buffers.values()][0] || null; render(); }
  });
  $('older').addEventListener('click', () => active && requestHistory(active, active.messages.find(x => x.kind !== 'event' && x.msgid)));
  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop === 0 && active && !active.exhausted && active.messages.length) {
      requestHistory(active, active.messages.find(x => x.kind !== 'event' && x.msgid));
    }
  });
  $('toggle-sidebar').addEventListener('click', () => togglePanel('sidebar', 'toggle-sidebar'));
  $('toggle-members').addEventListener('click', () => togglePanel('members', 'toggle-members'));
  document.addEventListener('keydown', e => {
    if (e.key === 'Escape') closePanels();
    // Alt+Up / Alt+Down: previous / next conversation.
    if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && buffers.size) {
      const all = [...document.querySelectorAll('.buffers button')];
      const at = all.findIndex(x => x.getAttribute('aria-current') === 'true');
      const next = all[(at + (e.key === 'ArrowUp' ? -1 : 1) + all.length) % all.length];
      if (next) next.click();
      e.preventDefault();
    }
  });
  $('notify-button').addEventListener('click', async () => {
    if (!window.Notification) { $('notify-button').textContent = 'Notifications not supported'; return; }
    const answer = await Notification.requestPermission();
    $('notify-button').textContent = answer === 'granted' ? 'Notifications on' : 'Notifications blocked';
  });
  $('logout-button').addEventListener('click', () => {
    const saved = savedSession();
    if (saved && conn) conn.send('SESSION', ['REVOKE', saved.id]);
    localStorage.removeItem(SAVED);
    conn?.close();
    conn = null;
    buffers = new Map();
    active = null;
    showLogin();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && active) {
      markRead(active);
      renderBufferList();
      renderTitle();
    }
  });
  setInterval(renderTyping, 1000);
  const saved = savedSession();
  if (saved && saved.account && saved.secret) {
    remember = true;
    $('login-account').value = saved.account;
    startSession({ account: saved.account, secret: saved.secret, mechanism: 'PLAIN', token: true });
  }
  if (window.Notification && Notification.permission === 'granted') $('notify-button').textContent = 'Notifications on';
}

init();
