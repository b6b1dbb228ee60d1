// Switchyard dashboard (docs/dashboard.md, "Pages"). One file, no framework, no dependencies.
//
// Rules this file keeps:
//  - Every string that comes from the API or the user reaches the page as a text node or a
//    property value (h() below): no innerHTML, no string-built HTML, no inline handlers (the
//    CSP forbids them anyway), so a name or a prompt holding <script> is just text.
//  - Money is never a float: the API's *_usd members are exact decimal strings; sums and
//    differences are BigInt nano-USD (usdToNano / nanoToUsd); a chart's bar length is the only
//    place a ratio of two amounts becomes a Number, and it is computed in BigInt first.
//  - Unsafe requests carry x-csrf-token (the session's token from /api/auth/me).
'use strict';

// ------------------------------------------------------------------------------- DOM helpers

const SVG = 'http://www.w3.org/2000/svg';

function put(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

function setProps(el, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'value') {
      el.value = v;
      if (el.tagName === 'INPUT') el.defaultValue = v; // form.reset() goes back to it
    } else if (k === 'checked') {
      el.checked = v;
      el.defaultChecked = v;
    } else if (k === 'selected') {
      el.selected = v;
      el.defaultSelected = v;
    }
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** An element: h('p', {class: 'x'}, 'text', child, [more]) — strings become text nodes. */
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  setProps(el, props);
  return put(el, kids);
}

function svg(tag, props, ...kids) {
  const el = document.createElementNS(SVG, tag);
  setProps(el, props);
  return put(el, kids);
}

const $ = (sel, root = document) => root.querySelector(sel);
const clear = (el) => {
  el.replaceChildren();
  return el;
};

let fieldSeq = 0;
/** A labelled form field: h('label') tied to the control by id. */
function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldSeq}`;
  const kids = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hid);
    kids.push(h('span', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, kids);
}

function checkField(label, control) {
  if (!control.id) control.id = `f${++fieldSeq}`;
  return h('div', { class: 'field check' }, control, h('label', { for: control.id }, label));
}

function table(caption, heads, rows, { empty = 'Nothing yet.', label } = {}) {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': label ?? caption ?? 'table', tabindex: '0' },
    h(
      'table',
      null,
      caption ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, heads.map((t) => h('th', { scope: 'col', class: t.startsWith('#') ? 'num' : null }, t.replace(/^#/, ''))))),
      h('tbody', null, rows),
    ),
  );
}

function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.textContent = ''), 3500);
}

function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));
}

/** A modal <dialog> (Esc closes it); resolves with what `build(close)` passes to close(). */
function modal(title, build) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': `dlg${++fieldSeq}` });
    const close = (v) => {
      d.close();
      d.remove();
      resolve(v);
    };
    d.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      close(undefined);
    });
    put(d, [h('h2', { id: `dlg${fieldSeq}` }, title), build(close)]);
    document.body.append(d);
    d.showModal();
  });
}

function confirmBox(title, text, okLabel = 'Confirm', danger = false) {
  return modal(title, (close) =>
    h(
      'div',
      null,
      h('p', null, text),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', on: { click: () => close(true) } }, okLabel),
        h('button', { type: 'button', on: { click: () => close(false) } }, 'Cancel'),
      ),
    ),
  );
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    if (input) {
      input.select();
      document.execCommand('copy');
    }
  }
  toast('Copied');
}

/** A secret shown once, in a read-only field with a copy button. */
function secretBox(label, value, id = 'new-secret') {
  const input = h('input', { id, type: 'text', readonly: true, value, 'aria-label': label, spellcheck: 'false', autocomplete: 'off' });
  return h(
    'div',
    { class: 'notice' },
    h('p', null, h('strong', null, label), ' — shown only now; store it somewhere safe.'),
    h('div', { class: 'secret' }, input, h('button', { type: 'button', id: `${id}-copy`, on: { click: () => copyText(value, input) } }, 'Copy')),
  );
}

// ------------------------------------------------------------------------------------ money

/** "12.500000000" / "-0.15" / "3" → nano-USD as a BigInt (exact). */
function usdToNano(s) {
  const m = /^(-?)(\d+)(?:\.(\d{0,9}))?$/.exec(String(s ?? '').trim());
  if (!m) return 0n;
  const v = BigInt(m[2]) * 1000000000n + BigInt((m[3] ?? '').padEnd(9, '0') || '0');
  return m[1] ? -v : v;
}

/** nano-USD → "d.ddddddddd" (the API's own form). */
function nanoToUsd(n) {
  const neg = n < 0n;
  const a = neg ? -n : n;
  return `${neg ? '-' : ''}${a / 1000000000n}.${(a % 1000000000n).toString().padStart(9, '0')}`;
}

/** An exact amount for people: "$12.50", "$0.0015", "−$3.00" (trailing zeros past cents dropped). */
function fmtUsd(s) {
  if (s === null || s === undefined || s === '') return '—';
  const str = typeof s === 'bigint' ? nanoToUsd(s) : String(s);
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(str);
  if (!m) return str;
  let frac = (m[3] ?? '').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  const int = m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${m[1] ? '−' : ''}$${int}.${frac}`;
}

/** The ratio a/b of two BigInts as a Number in 0..1 (for a bar's length only). */
function ratio(a, b) {
  if (typeof a !== 'bigint') return b ? Math.max(0, Math.min(1, a / b)) : 0;
  if (b <= 0n || a <= 0n) return 0;
  return Number((a * 100000n) / b) / 100000;
}



// ------------------------------------------------------------------------------ formatting

const pad2 = (n) => String(n).padStart(2, '0');
function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
const fmtDate = (ms) => fmtTime(ms).slice(0, 10);
const fmtInt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
function fmtAgo(ms) {
  const s = Math.round((Date.now() - Number(ms)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const utcDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const limitText = (v) => (v === null || v === undefined ? 'no limit' : fmtInt(v));
const outcomeClass = (o) => (o === 'ok' ? 'ok' : o === 'client_disconnect' || o === 'shutdown' ? 'warn' : 'bad');

// ------------------------------------------------------------------------------------ state

const S = {
  me: null, // /api/auth/me
  csrf: null,
  config: null, // /api/config
  ws: null, // the selected workspace id
  workspaces: [], // [{id, name, role}]
  models: null, // cache of /api/models
};

class ApiError extends Error {
  constructor(status, body, text) {
    super(body?.error?.message ?? `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
    this.status = status;
    this.code = body?.error?.code;
    this.param = body?.error?.param;
  }
}

/** The control plane's JSON API (same origin; the session cookie rides along). */
async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && S.csrf) headers['x-csrf-token'] = S.csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = new ApiError(res.status, json, json ? '' : text);
    if (res.status === 401 && S.me && !path.startsWith('/api/auth/')) {
      S.me = null;
      S.csrf = null;
      go(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
    }
    throw e;
  }
  return json;
}

const wsPath = (p = '') => `/api/workspaces/${encodeURIComponent(S.ws)}${p}`;

async function loadMe() {
  const me = await api('/api/auth/me');
  S.me = me;
  S.csrf = me.csrf_token ?? null;
  try {
    S.config = await api('/api/config');
  } catch {
    S.config = { api_base_url: null, signup: null, checkout: true };
  }
  if (me.operator) {
    try {
      const l = await api('/api/workspaces');
      S.workspaces = (l.data ?? []).map((w) => ({ id: w.id, name: w.name, role: 'operator' }));
    } catch {
      S.workspaces = [];
    }
  } else {
    S.workspaces = me.workspaces ?? [];
  }
  const saved = localStorage.getItem('sy.ws');
  S.ws = S.workspaces.some((w) => w.id === saved) ? saved : (S.workspaces[0]?.id ?? null);
}

function role() {
  if (S.me?.operator) return 'operator';
  return S.workspaces.find((w) => w.id === S.ws)?.role ?? null;
}
const canOwn = () => role() === 'owner' || role() === 'operator';

async function models() {
  if (!S.models) S.models = (await api('/api/models')).data ?? [];
  return S.models;
}

async function keyList() {
  return (await api(wsPath('/keys'))).data ?? [];
}

// ----------------------------------------------------------------------------------- router

const PAGES = [
  ['/', 'Overview'],
  ['/keys', 'Keys'],
  ['/credits', 'Credits'],
  ['/requests', 'Requests'],
  ['/spend', 'Spend'],
  ['/models', 'Models'],
  ['/playground', 'Playground'],
  ['/invite', 'Team'],
  ['/operator', 'Operator'],
];
const ROUTES = {
  '/': pageOverview,
  '/keys': pageKeys,
  '/credits': pageCredits,
  '/billing': pageCredits,
  '/requests': pageRequests,
  '/spend': pageSpend,
  '/models': pageModels,
  '/playground': pagePlayground,
  '/operator': pageOperator,
  '/invite': pageInvite,
  '/login': pageLogin,
  '/signup': pageSignup,
};
const PUBLIC = new Set(['/login', '/signup', '/invite']);

function go(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest?.('a[data-link]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', () => render());

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const main = $('#main');
  if (!S.me) {
    try {
      await loadMe();
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) {
        clear(main).append(errorBox(e));
        return;
      }
    }
  }
  if (seq !== renderSeq) return;
  if (!S.me && !PUBLIC.has(path)) {
    go(`/login?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`, true);
    return;
  }
  if (S.me && (path === '/login' || path === '/signup')) {
    go('/', true);
    return;
  }
  renderChrome(path);
  const page = ROUTES[path];
  const title = (PAGES.find((p) => p[0] === path) ?? [null, path === '/billing' ? 'Credits' : path === '/login' ? 'Log in' : path === '/signup' ? 'Sign up' : 'Not found'])[1];
  document.title = `${title} · Switchyard`;
  const section = h('section', { 'aria-label': title, 'data-page': path.slice(1) || 'overview' });
  clear(main).append(section);
  if (!page) {
    section.append(h('h1', null, 'Not found'), h('p', null, h('a', { href: '/', 'data-link': true }, 'Back to the overview')));
    return;
  }
  try {
    await page(section);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) section.append(errorBox(e));
  }
  if (seq === renderSeq) section.setAttribute('data-ready', '1');
}

function renderChrome(path) {
  const top = $('#top');
  if (!S.me) {
    top.hidden = true;
    return;
  }
  top.hidden = false;
  const nav = clear($('#nav'));
  for (const [p, label] of PAGES) {
    if (p === '/operator' && !S.me.operator) continue;
    if (p === '/invite' && !canOwn()) continue;
    const cur = p === path || (p === '/credits' && path === '/billing');
    nav.append(h('a', { href: p, 'data-link': true, 'aria-current': cur ? 'page' : null }, label));
  }
  const who = clear($('#who'));
  if (S.workspaces.length > 0) {
    const sel = h(
      'select',
      { id: 'ws-select', 'aria-label': 'Workspace' },
      S.workspaces.map((w) => h('option', { value: w.id, selected: w.id === S.ws }, w.name ? `${w.name}` : w.id)),
    );
    sel.addEventListener('change', () => {
      S.ws = sel.value;
      localStorage.setItem('sy.ws', S.ws);
      render();
    });
    who.append(sel);
  }
  who.append(h('span', { class: 'muted', id: 'who-email' }, S.me.operator ? 'operator' : S.me.email));
  who.append(h('button', { type: 'button', id: 'logout', on: { click: logout } }, 'Log out'));
}

async function logout() {
  try {
    await api('/api/auth/logout', { method: 'POST' });
  } catch {
    /* the session may already be gone */
  }
  S.me = null;
  S.csrf = null;
  go('/login', true);
}

function needWorkspace(root) {
  if (S.ws) return false;
  root.append(h('h1', null, 'No workspace'), h('p', null, S.me?.operator ? 'There are no workspaces yet: create one on the Operator page.' : 'You belong to no workspace. Ask an owner for an invitation.'));
  return true;
}

/** A form whose submit runs `fn` with its button disabled and any error shown inside it. */
function onSubmit(form, fn) {
  const err = h('div', { 'aria-live': 'polite' });
  form.append(err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btns = [...form.querySelectorAll('button')].filter((b) => !b.disabled && !b.hasAttribute('data-keep'));
    btns.forEach((b) => (b.disabled = true));
    clear(err);
    try {
      await fn();
    } catch (e) {
      err.append(errorBox(e));
    } finally {
      btns.forEach((b) => (b.disabled = false));
    }
  });
  return form;
}

// ----------------------------------------------------------------------- log-in and sign-up

function pageLogin(root) {
  const next = new URLSearchParams(location.search).get('next');
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'stack', id: 'login-form' }, field('Email', email), field('Password', pw), h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  onSubmit(form, async () => {
    await api('/api/auth/login', { method: 'POST', body: { email: email.value, password: pw.value } });
    S.me = null;
    go(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
  });
  const tok = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true });
  const opForm = h('form', { class: 'stack', id: 'operator-form' }, field('Operator token', tok), h('button', { type: 'submit' }, 'Log in as the operator'));
  onSubmit(opForm, async () => {
    await api('/api/auth/operator', { method: 'POST', body: { token: tok.value } });
    tok.value = '';
    S.me = null;
    go('/operator', true);
  });
  root.append(
    h(
      'div',
      { class: 'auth' },
      h('h1', null, 'Log in to Switchyard'),
      h('div', { class: 'panel' }, form),
      h('p', { class: 'muted' }, 'No account? ', h('a', { href: '/signup', 'data-link': true }, 'Sign up'), '.'),
      h('details', { class: 'panel' }, h('summary', null, 'Operator'), opForm),
    ),
  );
  email.focus();
}

function pageSignup(root) {
  const q = new URLSearchParams(location.search);
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const pw = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: '10', maxlength: '256', required: true });
  const wsName = h('input', { type: 'text', name: 'workspace_name', maxlength: '128', autocomplete: 'organization' });
  const invite = h('input', { type: 'text', name: 'invite', value: q.get('invite') ?? '', autocomplete: 'off', spellcheck: 'false', pattern: '[0-9a-fA-F]{64}' });
  const form = h(
    'form',
    { class: 'stack', id: 'signup-form' },
    field('Email', email),
    field('Password', pw, 'At least 10 characters.'),
    field('Workspace name', wsName, 'Your new workspace (ignored when you join by invitation).'),
    field('Invitation code', invite, 'Only if you were invited (64 characters).'),
    h('button', { type: 'submit', class: 'primary' }, 'Create account'),
  );
  onSubmit(form, async () => {
    const body = { email: email.value, password: pw.value };
    if (wsName.value) body.workspace_name = wsName.value;
    if (invite.value) body.invite = invite.value.trim();
    const r = await api('/api/auth/signup', { method: 'POST', body });
    if (r?.created?.workspace) localStorage.setItem('sy.ws', r.created.workspace);
    S.me = null;
    go('/keys', true);
  });
  root.append(
    h(
      'div',
      { class: 'auth' },
      h('h1', null, 'Create your account'),
      h('div', { class: 'panel' }, form),
      h('p', { class: 'muted' }, 'Already have one? ', h('a', { href: '/login', 'data-link': true }, 'Log in'), '.'),
    ),
  );
  email.focus();
}

/** /invite#CODE: accept (or sign up with) an invitation; without a code, owners create one. */
async function pageInvite(root) {
  const code = location.hash.replace(/^#/, '');
  if (!S.me) {
    root.append(
      h(
        'div',
        { class: 'auth' },
        h('h1', null, 'You are invited'),
        h('p', null, 'Create an account with this invitation, or log in to accept it with your account.'),
        h(
          'p',
          { class: 'actions' },
          h('a', { class: 'button primary', href: `/signup?invite=${encodeURIComponent(code)}`, 'data-link': true }, 'Sign up'),
          h('a', { class: 'button', href: `/login?next=${encodeURIComponent(`/invite#${code}`)}`, 'data-link': true }, 'Log in'),
        ),
      ),
    );
    return;
  }
  root.append(h('h1', null, 'Team'));
  if (code) {
    const p = h('div', { class: 'panel' }, h('p', null, 'Accept this invitation to join its workspace?'));
    const btn = h('button', { type: 'button', class: 'primary', id: 'accept-invite' }, 'Accept invitation');
    const out = h('div');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const before = new Set(S.workspaces.map((w) => w.id));
        await api('/api/auth/accept-invite', { method: 'POST', body: { invite: code } });
        await loadMe();
        const joined = S.workspaces.find((w) => !before.has(w.id));
        if (joined) {
          S.ws = joined.id;
          localStorage.setItem('sy.ws', joined.id);
        }
        history.replaceState(null, '', '/invite');
        toast('Invitation accepted');
        go('/keys', true);
      } catch (e) {
        btn.disabled = false;
        clear(out).append(errorBox(e));
      }
    });
    p.append(btn, out);
    root.append(p);
  }
  if (!S.ws || !canOwn()) {
    root.append(h('p', { class: 'muted' }, 'Only a workspace owner can invite people.'));
    return;
  }
  const roleSel = h('select', { name: 'role' }, h('option', { value: 'member' }, 'member'), h('option', { value: 'owner' }, 'owner'));
  const out = h('div');
  const form = h('form', { class: 'row', id: 'invite-form' }, field('Role', roleSel), h('button', { type: 'submit', class: 'primary' }, 'Create invitation link'));
  onSubmit(form, async () => {
    const r = await api(wsPath('/invites'), { method: 'POST', body: { role: roleSel.value } });
    clear(out).append(secretBox(`Invitation link (${r.role}, valid until ${fmtTime(r.expires_ms)}, one use)`, `${location.origin}/invite#${r.invite}`, 'invite-link'));
  });
  root.append(
    h('div', { class: 'panel' }, h('h2', null, 'Invite someone to this workspace'), h('p', { class: 'muted small' }, 'Members can read usage and manage keys; owners can also add credits and invite.'), form, out),
  );
}

// --------------------------------------------------------------------------------- overview

async function pageOverview(root) {
  if (needWorkspace(root)) return;
  root.append(h('h1', null, 'Overview'));
  const now = Date.now();
  const from = now - 30 * 86400000;
  const [bal, use, recs, keys] = await Promise.all([api(wsPath('/balance')), api(wsPath(`/usage?from=${from}&to=${now + 60000}`)), api(wsPath('/usage/records?limit=8')), keyList()]);
  const t = use.total ?? {};
  root.append(
    h(
      'div',
      { class: 'cards' },
      card('Balance', fmtUsd(bal.balance_usd), 'credits left', 'overview-balance'),
      card('Spend, 30 days', fmtUsd(t.cost_usd ?? '0'), `${fmtInt(t.requests ?? 0)} requests`),
      card('Errors, 30 days', fmtInt(t.errors ?? 0), 'attempts not ok'),
      card('Tokens, 30 days', fmtInt(Number(t.tokens_in ?? 0) + Number(t.tokens_out ?? 0)), `${fmtInt(t.tokens_in ?? 0)} in · ${fmtInt(t.tokens_out ?? 0)} out`),
    ),
    h('h2', null, 'Latest requests'),
    recordsTable(recs.data ?? [], new Map(keys.map((k) => [k.id, k.name]))),
    h('p', null, h('a', { href: '/requests', 'data-link': true }, 'All requests →')),
  );
}

function card(label, value, sub, id) {
  return h('div', { class: 'card', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
}

// ------------------------------------------------------------------------------------- keys

function keyState(k) {
  if (k.revoked) return ['revoked', 'bad'];
  if (k.expires_at && k.expires_at * 1000 <= Date.now()) return ['expired', 'warn'];
  return ['active', 'ok'];
}

async function pageKeys(root) {
  if (needWorkspace(root)) return;
  root.append(h('h1', null, 'API keys'));
  const secretSlot = h('div', { id: 'secret-slot' });
  const list = h('div');
  const catalog = await models().catch(() => []);
  root.append(secretSlot, keyForm(catalog, secretSlot, () => refresh()), h('h2', null, 'Keys'), list);

  async function refresh() {
    const keys = await keyList();
    const rows = keys.map((k) => {
      const [st, cls] = keyState(k);
      return h(
        'tr',
        { 'data-key': k.id },
        h('td', null, h('div', { class: 'key-name' }, k.name || h('span', { class: 'muted' }, '(no name)')), h('div', { class: 'mono muted' }, k.prefix ?? '')),
        h('td', null, h('span', { class: `badge ${cls}` }, st)),
        h('td', { class: 'small' }, (k.allowed_models ?? []).includes('*') ? 'all models' : (k.allowed_models ?? []).join(', ')),
        h('td', { class: 'num' }, fmtUsd(k.spent_usd ?? '0')),
        h('td', { class: 'num' }, k.budget_usd ? `${fmtUsd(k.budget_usd)} (${fmtUsd(k.budget_left_usd)} left)` : 'no budget'),
        h('td', { class: 'num small' }, `${limitText(k.rpm)} rpm`, h('br'), `${limitText(k.tpm)} tpm`),
        h('td', { class: 'small nowrap' }, k.last_used_ms ? fmtTime(k.last_used_ms) : 'never'),
        h('td', { class: 'small nowrap' }, fmtDate(k.created_at * 1000), k.expires_at ? h('div', { class: 'muted' }, `expires ${fmtDate(k.expires_at * 1000)}`) : null),
        h(
          'td',
          null,
          k.revoked
            ? null
            : h(
                'div',
                { class: 'actions' },
                h('button', { type: 'button', 'data-act': 'edit', on: { click: () => editKey(k, catalog).then((ch) => ch && refresh()) } }, 'Edit'),
                h('button', { type: 'button', 'data-act': 'rotate', on: { click: () => rotateKey(k, secretSlot).then((ch) => ch && refresh()) } }, 'Rotate'),
                h('button', { type: 'button', class: 'danger', 'data-act': 'revoke', on: { click: () => revokeKey(k).then((ch) => ch && refresh()) } }, 'Revoke'),
              ),
        ),
      );
    });
    clear(list).append(table(null, ['Name', 'Status', 'Models', '#Spent', '#Budget', '#Limits', 'Last used', 'Created', 'Actions'], rows, { empty: 'No keys yet: create one above.', label: 'API keys' }));
  }
  await refresh();
}

function scopePicker(catalog, current = ['*']) {
  const all = current.includes('*');
  const allBox = h('input', { type: 'checkbox', checked: all, name: 'all_models' });
  const boxes = catalog.map((m) => h('input', { type: 'checkbox', value: m.id, checked: !all && current.includes(m.id), disabled: all, name: 'model' }));
  allBox.addEventListener('change', () => boxes.forEach((b) => (b.disabled = allBox.checked)));
  const el = h(
    'fieldset',
    { class: 'panel' },
    h('legend', null, 'Models this key may use'),
    checkField('All models (including auto routing)', allBox),
    h('div', { class: 'row' }, boxes.map((b, i) => checkField(catalog[i].id, b))),
  );
  return {
    el,
    value: () => (allBox.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value)),
  };
}

function limitInputs(k = {}) {
  const budget = h('input', { type: 'text', inputmode: 'decimal', name: 'budget_usd', value: k.budget_usd ? k.budget_usd.replace(/\.?0+$/, '') : '', placeholder: 'none', pattern: '\\d{1,12}(\\.\\d{1,9})?' });
  const rpm = h('input', { type: 'number', name: 'rpm', min: '1', max: '1000000000', value: k.rpm ?? '', placeholder: 'none' });
  const tpm = h('input', { type: 'number', name: 'tpm', min: '1', max: '4294967295', value: k.tpm ?? '', placeholder: 'none' });
  return {
    els: [field('Budget (USD)', budget, 'Empty: no budget.'), field('Requests per minute', rpm), field('Tokens per minute', tpm)],
    patch(onlyChanged) {
      const p = {};
      const b = budget.value.trim() === '' ? null : budget.value.trim();
      const r = rpm.value === '' ? null : Number(rpm.value);
      const t = tpm.value === '' ? null : Number(tpm.value);
      const same = (a, c) => a === c;
      if (!onlyChanged || !same(b === null ? null : nanoToUsd(usdToNano(b)), k.budget_usd ?? null)) if (b !== null || onlyChanged) p.budget_usd = b;
      if (!onlyChanged || !same(r, k.rpm ?? null)) if (r !== null || onlyChanged) p.rpm = r;
      if (!onlyChanged || !same(t, k.tpm ?? null)) if (t !== null || onlyChanged) p.tpm = t;
      return p;
    },
  };
}

function keyForm(catalog, secretSlot, done) {
  const name = h('input', { type: 'text', name: 'name', id: 'key-name', maxlength: '128', required: true, placeholder: 'e.g. production' });
  const scope = scopePicker(catalog);
  const lim = limitInputs();
  const expires = h('input', { type: 'date', name: 'expires' });
  const form = h(
    'form',
    { class: 'panel', id: 'key-form' },
    h('h2', null, 'Create a key'),
    h('div', { class: 'row' }, field('Name', name), ...lim.els, field('Expires (optional)', expires)),
    scope.el,
    h('button', { type: 'submit', class: 'primary', id: 'key-create' }, 'Create key'),
  );
  onSubmit(form, async () => {
    const allowed = scope.value();
    if (allowed.length === 0) throw new Error('Choose at least one model, or all models.');
    const body = { name: name.value, allowed_models: allowed };
    if (expires.value) body.expires_at = Math.floor(new Date(`${expires.value}T23:59:59`).getTime() / 1000);
    const k = await api(wsPath('/keys'), { method: 'POST', body });
    clear(secretSlot).append(secretBox(`New key “${k.name}”`, k.key));
    const patch = lim.patch(false);
    if (Object.keys(patch).length > 0) {
      try {
        await api(`/api/keys/${encodeURIComponent(k.id)}`, { method: 'PATCH', body: patch });
      } catch (e) {
        secretSlot.append(h('p', { class: 'error' }, `The key was created, but its limits were not set: ${e.message}`));
      }
    }
    form.reset();
    scope.el.querySelectorAll('input[name="model"]').forEach((b) => (b.disabled = true));
    $('#new-secret')?.focus();
    await done();
  });
  return form;
}

function editKey(k, catalog) {
  return modal(`Edit key “${k.name}”`, (close) => {
    const name = h('input', { type: 'text', name: 'name', value: k.name, maxlength: '128' });
    const scope = scopePicker(catalog, k.allowed_models ?? ['*']);
    const lim = limitInputs(k);
    const form = h(
      'form',
      { class: 'stack', id: 'key-edit' },
      field('Name', name),
      ...lim.els,
      scope.el,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('button', { type: 'button', on: { click: () => close(false) } }, 'Cancel')),
    );
    onSubmit(form, async () => {
      const p = lim.patch(true);
      if (name.value !== k.name) p.name = name.value;
      const sc = scope.value();
      if (sc.length === 0) throw new Error('Choose at least one model, or all models.');
      if (JSON.stringify(sc) !== JSON.stringify(k.allowed_models)) p.allowed_models = sc;
      if (Object.keys(p).length > 0) await api(`/api/keys/${encodeURIComponent(k.id)}`, { method: 'PATCH', body: p });
      close(true);
    });
    return form;
  });
}

async function rotateKey(k, secretSlot) {
  const grace = await modal(`Rotate key “${k.name}”`, (close) => {
    const g = h('input', { type: 'number', name: 'grace_seconds', min: '0', max: '604800', value: '0' });
    const form = h(
      'form',
      { class: 'stack' },
      h('p', null, 'A new secret replaces the current one. Usage, budget and limits stay with the key.'),
      field('Keep the old secret working for (seconds)', g, '0 = it stops now; at most 604800 (7 days).'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Rotate'), h('button', { type: 'button', on: { click: () => close(undefined) } }, 'Cancel')),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      close(Number(g.value || 0));
    });
    return form;
  });
  if (grace === undefined) return false;
  try {
    const r = await api(`/api/keys/${encodeURIComponent(k.id)}/rotate`, { method: 'POST', body: { grace_seconds: grace } });
    clear(secretSlot).append(secretBox(`New secret for “${k.name}”`, r.key));
    $('#new-secret')?.focus();
  } catch (e) {
    clear(secretSlot).append(errorBox(e));
  }
  return true;
}

async function revokeKey(k) {
  if (!(await confirmBox(`Revoke “${k.name}”?`, 'Requests with this key are refused within moments, on every node. This cannot be undone.', 'Revoke', true))) return false;
  try {
    await api(`/api/keys/${encodeURIComponent(k.id)}/revoke`, { method: 'POST' });
    toast('Key revoked');
  } catch (e) {
    toast(e.message);
  }
  return true;
}

// ---------------------------------------------------------------------------------- credits

async function pageCredits(root) {
  if (needWorkspace(root)) return;
  root.append(h('h1', null, 'Credits'));
  const q = new URLSearchParams(location.search);
  if (q.get('checkout') === 'success') root.append(h('p', { class: 'notice', id: 'checkout-notice' }, 'Payment received. Credits appear here as soon as Stripe confirms it (usually within seconds).'));
  if (q.get('checkout') === 'cancelled') root.append(h('p', { class: 'notice' }, 'Checkout cancelled: nothing was charged.'));
  const bal = await api(wsPath('/balance'));
  root.append(h('div', { class: 'cards' }, card('Balance', fmtUsd(bal.balance_usd), `exactly ${bal.balance_usd} USD`, 'balance')));

  // Add credits (Stripe Checkout)
  const add = h('div', { class: 'panel' }, h('h2', null, 'Add credits'));
  if (!canOwn()) add.append(h('p', { class: 'muted' }, 'Only a workspace owner can add credits.'));
  else if (S.config && S.config.checkout === false) add.append(h('p', { class: 'muted' }, 'Card payments are not configured on this gateway; ask the operator for credits.'));
  else {
    const amount = h('input', { type: 'text', inputmode: 'decimal', name: 'amount_usd', id: 'credit-amount', value: '20.00', required: true, pattern: '\\d{1,6}(\\.\\d{1,2})?' });
    const presets = ['10', '20', '50', '100'].map((v) => h('button', { type: 'button', on: { click: () => (amount.value = `${v}.00`) } }, `$${v}`));
    const form = h('form', { class: 'row', id: 'checkout-form' }, field('Amount (USD)', amount, 'From 0.50 to 100,000.00, whole cents.'), h('div', { class: 'actions' }, presets), h('button', { type: 'submit', class: 'primary', id: 'checkout' }, 'Add credits'));
    onSubmit(form, async () => {
      const v = amount.value.trim();
      if (!/^\d{1,6}(\.\d{1,2})?$/.test(v)) throw new Error('Enter an amount in dollars and cents, e.g. 20.00');
      const r = await api(wsPath('/checkout'), {
        method: 'POST',
        body: { amount_usd: v, success_url: `${location.origin}/credits?checkout=success`, cancel_url: `${location.origin}/credits?checkout=cancelled` },
      });
      if (!/^https?:\/\//.test(r.url ?? '')) throw new Error('Stripe did not return a checkout page');
      location.assign(r.url);
    });
    add.append(form, h('p', { class: 'hint' }, 'You pay on Stripe’s page; the credits are added when Stripe confirms the payment.'));
  }
  root.append(add);

  // key budgets
  const keys = await keyList();
  const budgeted = keys.filter((k) => k.budget_usd);
  root.append(
    h('h2', null, 'Key budgets'),
    table(
      null,
      ['Key', '#Budget', '#Spent', '#Left'],
      budgeted.map((k) => {
        const left = usdToNano(k.budget_left_usd);
        return h('tr', { 'data-key': k.id }, h('td', null, k.name), h('td', { class: 'num' }, fmtUsd(k.budget_usd)), h('td', { class: 'num' }, fmtUsd(k.spent_usd)), h('td', { class: `num ${left <= 0n ? 'bad' : ''}` }, fmtUsd(k.budget_left_usd)));
      }),
      { empty: 'No key has a budget (set one on the Keys page).', label: 'Key budgets' },
    ),
  );

  // the ledger, paged; usage debits are summed per day unless asked for one by one
  const ledgerBox = h('div');
  const each = h('input', { type: 'checkbox', id: 'ledger-each', name: 'each' });
  root.append(h('h2', null, 'Ledger'), checkField('Show each usage debit', each), ledgerBox);
  let cursors = [0];
  each.addEventListener('change', () => {
    cursors = [0];
    showLedger();
  });
  async function showLedger() {
    const before = cursors[cursors.length - 1];
    const l = await api(wsPath(`/ledger?limit=${each.checked ? 25 : 200}${before ? `&before=${before}` : ''}`));
    const groups = [];
    for (const e of l.data ?? []) {
      const last = groups[groups.length - 1];
      if (!each.checked && e.kind === 'debit' && last?.kind === 'debit' && fmtDate(last.created_ms) === fmtDate(e.created_ms)) {
        last.n++;
        last.sum += usdToNano(e.amount_usd);
      } else groups.push({ ...e, n: 1, sum: usdToNano(e.amount_usd) });
    }
    const rows = groups.map((e) =>
      h(
        'tr',
        { 'data-kind': e.kind },
        h('td', { class: 'nowrap small' }, e.n > 1 ? fmtDate(e.created_ms) : fmtTime(e.created_ms)),
        h('td', null, h('span', { class: `badge ${e.kind === 'debit' || e.kind === 'refund' || e.kind === 'dispute' ? '' : 'ok'}` }, e.kind === 'debit' ? 'usage' : e.kind)),
        h('td', { class: `num ${e.sum < 0n ? '' : 'ok'}` }, fmtUsd(e.sum)),
        h('td', { class: 'num' }, fmtUsd(e.balance_after_usd)),
        h('td', { class: 'small break' }, e.n > 1 ? `${fmtInt(e.n)} requests` : e.kind === 'debit' ? 'one request' : e.note || e.ref),
      ),
    );
    const prev = h('button', { type: 'button', disabled: cursors.length === 1 }, '← Newer');
    const next = h('button', { type: 'button', disabled: !l.has_more }, 'Older →');
    prev.addEventListener('click', () => {
      cursors.pop();
      showLedger();
    });
    next.addEventListener('click', () => {
      cursors.push(l.next_before);
      showLedger();
    });
    clear(ledgerBox).append(
      table(null, ['Time', 'Kind', '#Amount', '#Balance after', 'Details'], rows, { empty: 'No entries yet.', label: 'Ledger' }),
      h('div', { class: 'pager' }, prev, next),
    );
  }
  await showLedger();
}

// --------------------------------------------------------------------------------- requests

function recordsTable(recs, keyNames, onOpen) {
  const rows = recs.map((r) => {
    const tr = h(
      'tr',
      { class: onOpen ? 'row-click' : null, 'data-record': r.id },
      h('td', { class: 'nowrap small' }, fmtTime(r.created_ms)),
      h('td', { class: 'small' }, keyNames.get(r.key_id) ?? r.key_id),
      h('td', { class: 'small' }, r.model_asked || '—'),
      h('td', { class: 'small' }, r.model, h('div', { class: 'muted' }, r.provider)),
      h('td', { class: 'small' }, r.task ? `${r.task}${r.difficulty ? ` · ${r.difficulty}` : ''}` : '—'),
      h('td', { class: 'num' }, r.attempt ? String(r.attempt) : '—'),
      h('td', { class: 'num' }, `${fmtInt(r.tokens_in)} / ${fmtInt(r.tokens_out)}`),
      h('td', { class: 'num' }, fmtUsd(r.cost_usd)),
      h('td', { class: 'num' }, `${fmtInt(r.latency_ms)} ms`, r.streamed ? h('div', { class: 'muted' }, `ttft ${fmtInt(r.ttft_ms)} ms`) : null),
      h('td', null, h('span', { class: `badge ${outcomeClass(r.outcome)}` }, r.outcome)),
      h('td', null, onOpen ? h('button', { type: 'button', class: 'link', 'data-open': r.id, on: { click: (ev) => { ev.stopPropagation(); onOpen(r); } } }, 'Details') : null),
    );
    if (onOpen) tr.addEventListener('click', () => onOpen(r));
    return tr;
  });
  return table(null, ['Time', 'Key', 'Model asked', 'Served by', 'Task', '#Attempt', '#Tokens in/out', '#Cost', '#Latency', 'Status', ''], rows, { empty: 'No requests yet.', label: 'Requests' });
}

async function recordDetail(r, keyNames) {
  let attempts = [r];
  if (r.request_id) {
    try {
      const l = await api(wsPath(`/usage/records?limit=50&request_id=${encodeURIComponent(r.request_id)}`));
      if (l.data?.length) attempts = l.data.slice().sort((a, b) => Number(a.attempt ?? 0) - Number(b.attempt ?? 0));
    } catch {
      /* the row's own record is enough to show */
    }
  }
  const total = attempts.reduce((a, x) => a + usdToNano(x.cost_usd), 0n);
  return modal('Request', (close) =>
    h(
      'div',
      { id: 'record-detail' },
      h('h3', null, 'Routing decision'),
      h(
        'dl',
        { class: 'kv' },
        kv('Request id', r.request_id || '—', 'mono'),
        kv('Model asked', r.model_asked || '—'),
        kv('Task', r.task || '—'),
        kv('Difficulty', r.difficulty || '—'),
        kv('Served by', `${r.model} (${r.provider})`),
        kv('Attempts', String(attempts.length)),
        kv('Cost of the request', fmtUsd(total)),
      ),
      h('h3', null, 'Attempts'),
      table(
        null,
        ['#', 'Model', 'Provider', 'Status', '#Tokens in/out', '#Cost', '#Latency'],
        attempts.map((x) =>
          h(
            'tr',
            null,
            h('td', null, x.attempt ? String(x.attempt) : '—'),
            h('td', null, x.model),
            h('td', null, x.provider),
            h('td', null, h('span', { class: `badge ${outcomeClass(x.outcome)}` }, x.outcome)),
            h('td', { class: 'num' }, `${fmtInt(x.tokens_in)} / ${fmtInt(x.tokens_out)}`),
            h('td', { class: 'num' }, fmtUsd(x.cost_usd)),
            h('td', { class: 'num' }, `${fmtInt(x.latency_ms)} ms`),
          ),
        ),
        { label: 'Attempts' },
      ),
      h('h3', null, 'This attempt'),
      h(
        'dl',
        { class: 'kv' },
        kv('Record id', r.id, 'mono'),
        kv('Time', fmtTime(r.created_ms)),
        kv('Key', `${keyNames.get(r.key_id) ?? ''} (${r.key_id})`),
        kv('Status', r.outcome),
        kv('Tokens', `${fmtInt(r.tokens_in)} in (${fmtInt(r.cache_read_tokens)} cache read, ${fmtInt(r.cache_write_tokens)} cache write) · ${fmtInt(r.tokens_out)} out${r.estimated ? ' · estimated' : ''}`),
        kv('Cost', `${fmtUsd(r.cost_usd)} (${r.cost_usd} USD)`),
        kv('Latency', `${fmtInt(r.latency_ms)} ms${r.streamed ? `, first token after ${fmtInt(r.ttft_ms)} ms (streamed)` : ''}`),
        kv('Node', r.node || '—'),
        kv('Received', fmtTime(r.received_ms)),
      ),
      h('p', null, h('button', { type: 'button', on: { click: () => close() } }, 'Close')),
    ),
  );
}

function kv(k, v, cls) {
  return [h('dt', null, k), h('dd', { class: cls }, v)];
}

async function pageRequests(root) {
  if (needWorkspace(root)) return;
  root.append(h('h1', null, 'Requests'));
  const keys = await keyList();
  const keyNames = new Map(keys.map((k) => [k.id, k.name]));
  const cat = await models().catch(() => []);
  const q0 = new URLSearchParams(location.search);
  const fKey = h('select', { name: 'key' }, h('option', { value: '' }, 'any key'), keys.map((k) => h('option', { value: k.id, selected: q0.get('key') === k.id }, k.name || k.id)));
  const fModel = h('select', { name: 'model' }, h('option', { value: '' }, 'any model'), cat.map((m) => h('option', { value: m.id, selected: q0.get('model') === m.id }, m.id)));
  const fStatus = h('select', { name: 'outcome' }, ['', 'ok', 'upstream_error', 'upstream_timeout', 'upstream_rate_limited', 'upstream_rejected', 'client_disconnect', 'shutdown'].map((v) => h('option', { value: v, selected: (q0.get('outcome') ?? '') === v }, v === '' ? 'any status' : v)));
  const fReq = h('input', { type: 'text', name: 'request_id', value: q0.get('request_id') ?? '', spellcheck: 'false', autocomplete: 'off' });
  const fFrom = h('input', { type: 'datetime-local', name: 'from' });
  const fTo = h('input', { type: 'datetime-local', name: 'to' });
  const form = h(
    'form',
    { class: 'row panel', id: 'filters' },
    field('Key', fKey),
    field('Model', fModel),
    field('Status', fStatus),
    field('Request id', fReq),
    field('From', fFrom),
    field('To', fTo),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h('button', { type: 'reset' }, 'Clear'),
  );
  const box = h('div');
  const note = h('p', { class: 'hint' }, 'One row per upstream attempt, newest first. Select a row for its routing decision.');
  root.append(form, note, box);
  let cursors = [0];

  // the filters go to the API (GET …/usage/records?key=&model=&outcome=&request_id=&from=&to=)
  function query() {
    const q = new URLSearchParams();
    if (fKey.value) q.set('key', fKey.value);
    if (fModel.value) q.set('model', fModel.value);
    if (fStatus.value) q.set('outcome', fStatus.value);
    if (fReq.value.trim()) q.set('request_id', fReq.value.trim());
    if (fFrom.value) q.set('from', String(new Date(fFrom.value).getTime()));
    if (fTo.value) q.set('to', String(new Date(fTo.value).getTime()));
    return q;
  }
  async function show() {
    const q = query();
    q.set('limit', '50');
    const before = cursors[cursors.length - 1];
    if (before) q.set('before', String(before));
    const l = await api(wsPath(`/usage/records?${q}`));
    const rows = l.data ?? [];
    const prev = h('button', { type: 'button', id: 'newer', disabled: cursors.length === 1 }, '← Newer');
    const older = h('button', { type: 'button', id: 'older', disabled: !l.has_more }, 'Older →');
    prev.addEventListener('click', () => {
      cursors.pop();
      show();
    });
    older.addEventListener('click', () => {
      cursors.push(l.next_before);
      show();
    });
    clear(box).append(
      recordsTable(rows, keyNames, (r) => recordDetail(r, keyNames)),
      h('div', { class: 'pager' }, prev, older, h('button', { type: 'button', id: 'refresh', on: { click: () => show() } }, 'Refresh')),
    );
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    cursors = [0];
    show();
  });
  form.addEventListener('reset', () =>
    setTimeout(() => {
      cursors = [0];
      show();
    }),
  );
  await show();
}

// ------------------------------------------------------------------------------------ spend

function barChart(id, title, labels, values, fmt, cls = 'b1') {
  const W = 720;
  const H = 220;
  const L = 8;
  const B = 26;
  const T = 10;
  const n = values.length;
  const zero = typeof values[0] === 'bigint' ? 0n : 0;
  const max = values.reduce((m, v) => (v > m ? v : m), zero);
  const bw = n ? (W - L * 2) / n : 0;
  const el = svg('svg', { class: 'chart', id, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, preserveAspectRatio: 'none' });
  el.append(svg('line', { class: 'axis', x1: L, x2: W - L, y1: H - B, y2: H - B }));
  const every = Math.max(1, Math.ceil(n / 10));
  values.forEach((v, i) => {
    const hgt = Math.max(v > zero ? 1 : 0, ratio(v, max) * (H - B - T));
    const x = L + i * bw + bw * 0.12;
    el.append(svg('rect', { class: cls, x: x.toFixed(1), y: (H - B - hgt).toFixed(1), width: (bw * 0.76).toFixed(1), height: hgt.toFixed(1) }, svg('title', null, `${labels[i]}: ${fmt(v)}`)));
    if (i % every === 0) el.append(svg('text', { x: (L + i * bw + bw / 2).toFixed(1), y: H - 8, 'text-anchor': 'middle' }, labels[i].slice(5)));
  });
  el.append(svg('text', { x: L, y: T + 2 }, `max ${fmt(max)}`));
  return h('figure', { class: 'panel' }, h('figcaption', null, h('strong', null, title)), el);
}

function hbars(title, rows, id) {
  // rows: [{label, value (BigInt nano), text}]
  const max = rows.reduce((m, r) => (r.value > m ? r.value : m), 0n);
  return h(
    'div',
    { class: 'panel', id },
    h('h2', null, title),
    rows.length === 0
      ? h('p', { class: 'muted' }, 'No usage in this period.')
      : h(
          'div',
          { class: 'hbars' },
          rows.map((r) => [
            h('div', { class: 'small break' }, r.label),
            svg('svg', { role: 'presentation', preserveAspectRatio: 'none' }, svg('rect', { class: 'b1', x: 0, y: 1, height: 12, width: `${(ratio(r.value, max) * 100).toFixed(2)}%` })),
            h('div', { class: 'num small' }, r.text),
          ]),
        ),
  );
}

function daysBetween(fromMs, toMs) {
  const out = [];
  for (let d = Date.parse(`${utcDay(fromMs)}T00:00:00Z`); d < toMs; d += 86400000) out.push(utcDay(d));
  return out;
}

async function pageSpend(root) {
  if (needWorkspace(root)) return;
  root.append(h('h1', null, 'Spend'));
  const period = h('select', { name: 'period', id: 'period' }, [7, 30, 90, 365].map((d) => h('option', { value: String(d), selected: d === 30 }, `Last ${d} days`)));
  const form = h('form', { class: 'row panel' }, field('Period', period));
  const body = h('div');
  root.append(form, body);
  period.addEventListener('change', () => show());

  async function show() {
    const days = Number(period.value);
    const to = Date.now() + 60000;
    const from = Date.parse(`${utcDay(to - days * 86400000)}T00:00:00Z`);
    const q = `from=${from}&to=${to}`;
    const [byDay, byModel, byKey, keys, sv] = await Promise.all([
      api(wsPath(`/usage?${q}&group_by=day`)),
      api(wsPath(`/usage?${q}&group_by=model`)),
      api(wsPath(`/usage?${q}&group_by=key`)),
      keyList(),
      api(wsPath(`/usage/savings?${q}`)),
    ]);
    const names = new Map(keys.map((k) => [k.id, k.name || k.id]));
    const t = byDay.total ?? {};
    const dayMap = new Map((byDay.data ?? []).map((r) => [r.day, r]));
    const labels = daysBetween(from, to);
    const cost = labels.map((d) => usdToNano(dayMap.get(d)?.cost_usd ?? '0'));
    const reqs = labels.map((d) => Number(dayMap.get(d)?.requests ?? 0));
    const saved = savingsView(sv);
    clear(body).append(
      h(
        'div',
        { class: 'cards' },
        card('Spend', fmtUsd(t.cost_usd ?? '0'), `${utcDay(from)} – ${utcDay(to)} (UTC days)`, 'spend-total'),
        card('Requests', fmtInt(t.requests ?? 0), `${fmtInt(t.errors ?? 0)} not ok`),
        card('Tokens', fmtInt(Number(t.tokens_in ?? 0) + Number(t.tokens_out ?? 0)), `${fmtInt(t.tokens_in ?? 0)} in · ${fmtInt(t.tokens_out ?? 0)} out`),
        saved.card,
      ),
      h('div', { class: 'grid2' }, barChart('chart-spend', 'Spend per day (USD)', labels, cost, fmtUsd), barChart('chart-requests', 'Requests per day', labels, reqs, fmtInt, 'b2')),
      h(
        'div',
        { class: 'grid2' },
        hbars('By model', (byModel.data ?? []).map((r) => ({ label: r.model, value: usdToNano(r.cost_usd), text: `${fmtUsd(r.cost_usd)} · ${fmtInt(r.requests)} req` })).sort((a, b) => (b.value > a.value ? 1 : b.value < a.value ? -1 : 0)), 'by-model'),
        hbars('By key', (byKey.data ?? []).map((r) => ({ label: names.get(r.key_id) ?? r.key_id, value: usdToNano(r.cost_usd), text: `${fmtUsd(r.cost_usd)} · ${fmtInt(r.requests)} req` })).sort((a, b) => (b.value > a.value ? 1 : b.value < a.value ? -1 : 0)), 'by-key'),
      ),
      saved.table,
      h(
        'details',
        { class: 'panel' },
        h('summary', null, 'Per day, as a table'),
        table(
          null,
          ['Day (UTC)', '#Requests', '#Errors', '#Tokens in', '#Tokens out', '#Spend'],
          (byDay.data ?? []).map((r) => h('tr', null, h('td', null, r.day), h('td', { class: 'num' }, fmtInt(r.requests)), h('td', { class: 'num' }, fmtInt(r.errors)), h('td', { class: 'num' }, fmtInt(r.tokens_in)), h('td', { class: 'num' }, fmtInt(r.tokens_out)), h('td', { class: 'num' }, fmtUsd(r.cost_usd)))),
          { label: 'Spend per day' },
        ),
      ),
    );
  }
  await show();
}

/** "Saved by auto routing" (GET …/usage/savings): the card and the per-task table. */
function savingsView(sv) {
  const c = card('Saved by auto routing', fmtUsd(sv.saved_usd), `${fmtInt(sv.routed_requests)} routed request${Number(sv.routed_requests) === 1 ? '' : 's'}: ${fmtUsd(sv.cost_usd)} billed vs. ${fmtUsd(sv.baseline_usd)} on the strongest model used`, 'auto-saved');
  const t = h(
    'details',
    { class: 'panel', id: 'savings' },
    h('summary', null, 'What auto routing saved, by task'),
    h('p', { class: 'hint' }, 'Each task’s routed requests priced again on the strongest model the workspace used for that task in this period (current prices), against what they were billed.'),
    table(
      null,
      ['Task', 'Compared with', '#Requests', '#Billed', '#On that model', '#Saved'],
      (sv.by_task ?? []).map((r) => h('tr', null, h('td', null, r.task || '(unclassified)'), h('td', null, r.baseline_model || '—'), h('td', { class: 'num' }, fmtInt(r.requests)), h('td', { class: 'num' }, fmtUsd(r.cost_usd)), h('td', { class: 'num' }, fmtUsd(r.baseline_usd)), h('td', { class: `num ${r.saved_usd.startsWith('-') ? 'bad' : 'ok'}` }, fmtUsd(r.saved_usd)))),
      { label: 'Savings by task', empty: 'No request asked for auto routing in this period.' },
    ),
  );
  return { card: c, table: t };
}

// ----------------------------------------------------------------------------------- models

async function pageModels(root) {
  root.append(h('h1', null, 'Models'));
  const [cat, al, prov] = await Promise.all([api('/api/models'), api('/api/aliases').catch(() => ({ data: [] })), api('/api/providers').catch(() => ({ data: [] }))]);
  S.models = cat.data ?? [];
  const health = new Map((prov.data ?? []).map((p) => [p.id, p]));
  const hcls = (x) => (x === 'healthy' ? 'ok' : x === 'degraded' ? 'warn' : x === 'down' ? 'bad' : '');
  root.append(
    table(
      null,
      ['Model', 'Provider', 'Health', '#Input / 1M', '#Output / 1M', '#Cache read / write', '#Context', 'Capabilities', 'Tiers'],
      S.models.map((m) => {
        const p = health.get(m.provider);
        return h(
          'tr',
          { 'data-model': m.id },
          h('td', null, h('strong', null, m.id), m.upstream && m.upstream !== m.id ? h('div', { class: 'muted small' }, `upstream ${m.upstream}`) : null),
          h('td', null, m.provider),
          h('td', null, p ? h('span', { class: `badge ${hcls(p.health)}` }, p.health) : '—'),
          h('td', { class: 'num' }, fmtUsd(m.input_per_m)),
          h('td', { class: 'num' }, fmtUsd(m.output_per_m)),
          h('td', { class: 'num small' }, m.cache_read_per_m !== undefined || m.cache_write_per_m !== undefined ? `${fmtUsd(m.cache_read_per_m)} / ${fmtUsd(m.cache_write_per_m)}` : '—'),
          h('td', { class: 'num' }, fmtInt(m.context_window)),
          h('td', { class: 'small' }, (m.capabilities ?? []).join(', ')),
          h('td', { class: 'small' }, (m.tiers ?? []).join(', ')),
        );
      }),
      { label: 'Models', empty: 'The catalog is empty.' },
    ),
  );
  const tiers = [...new Set(S.models.flatMap((m) => m.tiers ?? []))].sort();
  root.append(
    h('h2', null, 'Routing forms'),
    h('p', { class: 'muted small' }, 'Use these as the model name to let the gateway choose for each request (docs/routing.md).'),
    table(
      null,
      ['Model name', 'Meaning'],
      [
        ['auto', 'the best quality per dollar for the task and difficulty of each prompt'],
        ['strategy:cost', 'the cheapest model whose quality clears the bar for the prompt'],
        ['strategy:quality', 'the highest quality for the task'],
        ['strategy:latency', 'the fastest time to first token observed'],
        ['strategy:balanced', 'as auto'],
        ...tiers.map((t) => [`industry:${t}`, `auto routing among models of the “${t}” tier`]),
      ].map(([a, b]) => h('tr', null, h('td', { class: 'mono' }, a), h('td', null, b))),
      { label: 'Routing forms' },
    ),
    h('h2', null, 'Aliases'),
    table(null, ['Alias', 'Model'], (al.data ?? []).map((a) => h('tr', null, h('td', { class: 'mono' }, a.alias), h('td', null, a.model))), { empty: 'No aliases.', label: 'Aliases' }),
  );
}

// ------------------------------------------------------------------------------- playground

function dataPlaneBase() {
  const saved = sessionStorage.getItem('sy.apibase');
  return saved || S.config?.api_base_url || '';
}

async function pagePlayground(root) {
  root.append(h('h1', null, 'Playground'));
  const cat = await models().catch(() => []);
  const base = h('input', { type: 'url', name: 'base', id: 'pg-base', value: dataPlaneBase(), placeholder: 'https://api.example.com/v1', required: true });
  const key = h('input', { type: 'password', name: 'key', id: 'pg-key', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'sk-sy-…' });
  const model = h('input', { type: 'text', name: 'model', id: 'pg-model', value: 'auto', list: 'pg-models', required: true });
  const list = h('datalist', { id: 'pg-models' }, ['auto', 'strategy:cost', 'strategy:quality', 'strategy:latency', ...cat.map((m) => m.id)].map((v) => h('option', { value: v })));
  const system = h('textarea', { name: 'system', id: 'pg-system', rows: '2', placeholder: 'optional' });
  const prompt = h('textarea', { name: 'prompt', id: 'pg-prompt', rows: '4', required: true });
  const stream = h('input', { type: 'checkbox', name: 'stream', id: 'pg-stream', checked: true });
  const maxTok = h('input', { type: 'number', name: 'max_tokens', id: 'pg-max', min: '1', max: '100000', placeholder: 'default' });
  const answer = h('div', { class: 'answer', id: 'pg-answer', 'aria-live': 'polite' });
  const routing = h('div', { id: 'pg-routing' });
  const stop = h('button', { type: 'button', disabled: true, 'data-keep': true, id: 'pg-stop' }, 'Stop');
  let ctl = null;
  stop.addEventListener('click', () => ctl?.abort());
  const form = h(
    'form',
    { class: 'panel', id: 'pg-form' },
    h('div', { class: 'row' }, field('Data plane URL', base, S.config?.api_base_url ? null : 'The operator has not published it (--public-api-url); enter it.'), field('API key', key, 'Used only in this tab, never stored.'), field('Model', model), list, field('Max tokens', maxTok), checkField('Stream', stream)),
    field('System message', system),
    field('Prompt', prompt),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'pg-send' }, 'Send'), stop),
  );
  onSubmit(form, async () => {
    sessionStorage.setItem('sy.apibase', base.value.trim());
    const url = `${base.value.trim().replace(/\/+$/, '').replace(/(\/v1)?$/, '/v1')}/chat/completions`;
    const messages = [];
    if (system.value.trim()) messages.push({ role: 'system', content: system.value });
    messages.push({ role: 'user', content: prompt.value });
    const body = { model: model.value.trim(), messages, stream: stream.checked };
    if (stream.checked) body.stream_options = { include_usage: true };
    if (maxTok.value) body.max_tokens = Number(maxTok.value);
    answer.textContent = '';
    clear(routing);
    answer.setAttribute('aria-busy', 'true');
    ctl = new AbortController();
    stop.disabled = false;
    const t0 = performance.now();
    try {
      let res;
      try {
        res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key.value.trim()}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: ctl.signal, credentials: 'omit' });
      } catch (e) {
        if (e.name === 'AbortError') throw new Error('Stopped.');
        throw new Error(`Could not reach ${url}: the data plane is down or unreachable from this browser, or this page's security policy does not allow it (the operator publishes the data plane's URL with --public-api-url).`);
      }
      const hdr = (n) => res.headers.get(n);
      let ttft = null;
      let usage = null;
      let decision = null;
      if (!res.ok) {
        const t = await res.text();
        let msg = t;
        try {
          msg = JSON.parse(t).error?.message ?? t;
        } catch {
          /* not JSON */
        }
        throw new Error(`${res.status}: ${msg}`);
      }
      if (stream.checked && res.body) {
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).replace(/\r$/, '');
            buf = buf.slice(i + 1);
            if (!line.startsWith('data:')) continue;
            const d = line.slice(5).trim();
            if (d === '[DONE]') continue;
            let ev;
            try {
              ev = JSON.parse(d);
            } catch {
              continue;
            }
            if (ev.error) throw new Error(ev.error.message ?? 'stream error');
            const delta = ev.choices?.[0]?.delta?.content;
            if (delta) {
              if (ttft === null) ttft = performance.now() - t0;
              answer.append(document.createTextNode(delta));
            }
            if (ev.usage) usage = ev.usage;
            if (ev.routing) decision = ev.routing;
          }
        }
      } else {
        const j = await res.json();
        answer.textContent = j.choices?.[0]?.message?.content ?? '';
        usage = j.usage ?? null;
        decision = j.routing ?? null;
      }
      const total = performance.now() - t0;
      routing.append(
        h('h2', null, 'Routing decision'),
        h(
          'dl',
          { class: 'kv', id: 'pg-decision' },
          kv('Model', decision?.selected ?? hdr('x-switchyard-model') ?? '—'),
          kv('Provider', decision?.provider ?? hdr('x-switchyard-provider') ?? '—'),
          kv('Task', decision?.task ?? hdr('x-switchyard-task') ?? '—'),
          kv('Difficulty', decision?.difficulty ?? hdr('x-switchyard-difficulty') ?? '—'),
          kv('Attempts', String(decision?.attempts ?? hdr('x-switchyard-attempts') ?? '—')),
          decision?.objective ? kv('Objective', decision.objective) : null,
          decision?.candidates ? kv('Candidates', decision.candidates.join(' → ')) : null,
          decision?.reason ? kv('Reason', decision.reason) : null,
          kv('Cost', hdr('x-switchyard-cost') ? fmtUsd(hdr('x-switchyard-cost')) : usage?.cost !== undefined ? fmtUsd(String(usage.cost)) : hdr('x-switchyard-cost-estimate') ? `≈ ${fmtUsd(hdr('x-switchyard-cost-estimate'))} (estimate; streamed answers are billed by their usage)` : '—'),
          usage ? kv('Tokens', `${fmtInt(usage.prompt_tokens)} in · ${fmtInt(usage.completion_tokens)} out`) : null,
          kv('Time', `${Math.round(total)} ms${ttft !== null ? `, first token ${Math.round(ttft)} ms` : ''}`),
          kv('Request id', hdr('x-request-id') ?? '—', 'mono'),
        ),
      );
    } finally {
      answer.removeAttribute('aria-busy');
      stop.disabled = true;
      ctl = null;
    }
  });
  root.append(form, h('div', { class: 'panel' }, h('h2', null, 'Answer'), answer, routing));
}

// --------------------------------------------------------------------------------- operator

async function pageOperator(root) {
  root.append(h('h1', null, 'Operator'));
  if (!S.me?.operator) {
    root.append(h('p', null, 'This page is for the gateway’s operator (log in with the operator token).'));
    return;
  }
  const wsBox = h('div');
  const nodesBox = h('div');
  const provBox = h('div');
  const catBox = h('div');
  const checkBox = h('div');
  root.append(h('h2', null, 'Workspaces'), wsBox, h('h2', null, 'Fleet nodes'), nodesBox, h('h2', null, 'Provider health'), provBox, h('h2', null, 'Catalog'), catBox, h('h2', null, 'Ledger check'), checkBox);
  await Promise.all([opWorkspaces(wsBox), opNodes(nodesBox), opProviders(provBox), opCatalog(catBox), opCheck(checkBox)]);
}

async function opWorkspaces(box) {
  const l = await api('/api/workspaces');
  const id = h('input', { type: 'text', name: 'id', required: true, maxlength: '128', pattern: '[A-Za-z0-9._:\\-]+' });
  const name = h('input', { type: 'text', name: 'name', maxlength: '128' });
  const out = h('div');
  const form = h('form', { class: 'row panel', id: 'ws-create' }, field('New workspace id', id), field('Name', name), h('button', { type: 'submit', class: 'primary' }, 'Create workspace'));
  onSubmit(form, async () => {
    await api('/api/workspaces', { method: 'POST', body: { id: id.value, name: name.value } });
    const inv = await api(`/api/workspaces/${encodeURIComponent(id.value)}/invites`, { method: 'POST', body: { role: 'owner' } });
    S.me = null; // the workspace list changes
    await loadMe();
    await opWorkspaces(clear(box));
    box.prepend(secretBox(`Owner invitation for ${inv.workspace}`, `${location.origin}/invite#${inv.invite}`, 'invite-link'));
  });
  const rows = (l.data ?? []).map((w) =>
    h(
      'tr',
      { 'data-ws': w.id },
      h('td', { class: 'mono' }, w.id),
      h('td', null, w.name),
      h('td', null, h('span', { class: `badge ${w.active ? 'ok' : 'bad'}` }, w.active ? 'active' : 'inactive')),
      h('td', { class: 'num small' }, `${limitText(w.rpm)} rpm`, h('br'), `${limitText(w.tpm)} tpm`),
      h('td', { class: 'small nowrap' }, fmtDate(w.created_at * 1000)),
      h(
        'td',
        null,
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              type: 'button',
              'data-act': w.active ? 'deactivate' : 'activate',
              on: {
                click: async () => {
                  if (w.active && !(await confirmBox(`Deactivate ${w.id}?`, 'Its keys stop working on every node until it is activated again.', 'Deactivate', true))) return;
                  await api(`/api/workspaces/${encodeURIComponent(w.id)}`, { method: 'PATCH', body: { active: !w.active } }).catch((e) => toast(e.message));
                  await opWorkspaces(clear(box));
                },
              },
            },
            w.active ? 'Deactivate' : 'Activate',
          ),
          h('button', { type: 'button', 'data-act': 'grant', on: { click: () => grant(w).then((ch) => ch && opWorkspaces(clear(box))) } }, 'Grant credits'),
          h(
            'button',
            {
              type: 'button',
              'data-act': 'open',
              on: {
                click: () => {
                  S.ws = w.id;
                  localStorage.setItem('sy.ws', w.id);
                  go('/credits');
                },
              },
            },
            'Open',
          ),
        ),
      ),
    ),
  );
  box.append(form, out, table(null, ['Id', 'Name', 'State', '#Limits', 'Created', 'Actions'], rows, { label: 'Workspaces', empty: 'No workspaces.' }));
}

function grant(w) {
  return modal(`Grant credits to ${w.id}`, (close) => {
    const amount = h('input', { type: 'text', name: 'amount_usd', inputmode: 'decimal', required: true, pattern: '\\d{1,12}(\\.\\d{1,9})?' });
    const note = h('input', { type: 'text', name: 'note', maxlength: '128' });
    const ref = `dash-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const form = h(
      'form',
      { class: 'stack' },
      field('Amount (USD)', amount),
      field('Note', note),
      h('p', { class: 'hint' }, `Reference ${ref} (a second submit of this form cannot grant twice).`),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Grant'), h('button', { type: 'button', on: { click: () => close(false) } }, 'Cancel')),
    );
    onSubmit(form, async () => {
      const body = { amount_usd: amount.value.trim(), reference: ref };
      if (note.value) body.note = note.value;
      await api(`/api/workspaces/${encodeURIComponent(w.id)}/credits`, { method: 'POST', body });
      toast(`Granted ${fmtUsd(body.amount_usd)} to ${w.id}`);
      close(true);
    });
    return form;
  });
}

async function opNodes(box) {
  const l = await api('/api/nodes');
  box.append(
    table(
      null,
      ['Node', 'Build', '#Snapshot version', 'Last heartbeat'],
      (l.nodes ?? []).map((n) => h('tr', null, h('td', { class: 'mono' }, n.id), h('td', { class: 'small' }, n.build), h('td', { class: 'num' }, String(n.snapshot_version)), h('td', { class: n.age_ms > 10000 ? 'bad' : '' }, `${fmtTime(n.last_seen_ms)} (${fmtAgo(n.last_seen_ms)})`))),
      { label: 'Fleet nodes', empty: 'No node has sent a heartbeat.' },
    ),
  );
}

async function opProviders(box) {
  const l = await api('/api/providers');
  const hcls = (x) => (x === 'healthy' ? 'ok' : x === 'degraded' ? 'warn' : x === 'down' ? 'bad' : '');
  box.append(
    table(
      null,
      ['Provider', 'Kind', 'Base URL', 'Health', 'Since', 'Last probe'],
      (l.data ?? []).map((p) =>
        h(
          'tr',
          null,
          h('td', null, p.id),
          h('td', null, p.kind),
          h('td', { class: 'small break' }, p.base_url),
          h('td', null, h('span', { class: `badge ${hcls(p.health)}` }, p.health)),
          h('td', { class: 'small nowrap' }, p.health_changed_ms ? fmtTime(p.health_changed_ms) : '—'),
          h('td', { class: 'small' }, p.last_probe?.at_ms ? `${fmtAgo(p.last_probe.at_ms)}, ${fmtInt(p.last_probe.latency_ms)} ms${p.last_probe.error ? ` — ${p.last_probe.error}` : ''}` : 'not probed'),
        ),
      ),
      { label: 'Providers', empty: 'No providers.' },
    ),
  );
}

async function opCatalog(box) {
  const [st, cat, al] = await Promise.all([api('/api/catalog/status'), api('/api/models'), api('/api/aliases')]);
  S.models = cat.data ?? [];
  const reloadOut = h('div');
  const reload = h('button', { type: 'button', id: 'catalog-reload' }, 'Re-import the catalog file');
  reload.addEventListener('click', async () => {
    clear(reloadOut);
    try {
      const r = await api('/api/catalog/reload', { method: 'POST' });
      reloadOut.append(h('p', { class: 'ok' }, `Imported: version ${r.version}.`));
      await opCatalog(clear(box));
    } catch (e) {
      reloadOut.append(errorBox(e));
    }
  });
  box.append(
    h(
      'div',
      { class: 'panel' },
      h(
        'dl',
        { class: 'kv' },
        kv('Catalog file', st.file ?? '—', 'mono'),
        kv('File matches the last import', st.file_matches_last_import ? 'yes' : 'no'),
        kv('Last import', st.last_import ? `${fmtTime(st.last_import.at_ms)} (${st.last_import.source}, version ${st.last_import.version})` : '—'),
        kv('Edited since', (st.edited_since_import ?? []).map((e) => `${e.kind} ${e.id}.${e.field}`).join(', ') || 'nothing'),
      ),
      h('p', null, reload),
      reloadOut,
    ),
  );
  const rows = S.models.map((m) =>
    h(
      'tr',
      { 'data-model': m.id },
      h('td', null, m.id),
      h('td', null, m.provider),
      h('td', { class: 'num' }, fmtUsd(m.input_per_m)),
      h('td', { class: 'num' }, fmtUsd(m.output_per_m)),
      h('td', { class: 'num' }, fmtInt(m.context_window)),
      h('td', null, h('button', { type: 'button', 'data-act': 'edit-model', on: { click: () => editModel(m).then((ch) => ch && opCatalog(clear(box))) } }, 'Edit')),
    ),
  );
  box.append(table('Models', ['Model', 'Provider', '#Input / 1M', '#Output / 1M', '#Context', ''], rows, { label: 'Catalog models' }));
  const alias = h('input', { type: 'text', name: 'alias', required: true, maxlength: '128' });
  const target = h('select', { name: 'model' }, S.models.map((m) => h('option', { value: m.id }, m.id)));
  const form = h('form', { class: 'row', id: 'alias-form' }, field('Alias', alias), field('Model', target), h('button', { type: 'submit' }, 'Set alias'));
  onSubmit(form, async () => {
    await api(`/api/aliases/${encodeURIComponent(alias.value)}`, { method: 'PUT', body: { model: target.value } });
    await opCatalog(clear(box));
  });
  box.append(
    table(
      'Aliases',
      ['Alias', 'Model', ''],
      (al.data ?? []).map((a) =>
        h(
          'tr',
          null,
          h('td', { class: 'mono' }, a.alias),
          h('td', null, a.model),
          h(
            'td',
            null,
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                on: {
                  click: async () => {
                    if (!(await confirmBox(`Delete alias ${a.alias}?`, 'Requests naming it will get 404 model_not_found.', 'Delete', true))) return;
                    await api(`/api/aliases/${encodeURIComponent(a.alias)}`, { method: 'DELETE' }).catch((e) => toast(e.message));
                    await opCatalog(clear(box));
                  },
                },
              },
              'Delete',
            ),
          ),
        ),
      ),
      { label: 'Aliases', empty: 'No aliases.' },
    ),
    h('div', { class: 'panel' }, form),
  );
}

function editModel(m) {
  return modal(`Edit ${m.id}`, (close) => {
    const price = (v) => (v === undefined ? '' : v.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, ''));
    const inp = h('input', { type: 'text', inputmode: 'decimal', name: 'input_per_m', value: price(m.input_per_m) });
    const outp = h('input', { type: 'text', inputmode: 'decimal', name: 'output_per_m', value: price(m.output_per_m) });
    const cr = h('input', { type: 'text', inputmode: 'decimal', name: 'cache_read_per_m', value: price(m.cache_read_per_m), placeholder: 'none' });
    const cw = h('input', { type: 'text', inputmode: 'decimal', name: 'cache_write_per_m', value: price(m.cache_write_per_m), placeholder: 'none' });
    const ctx = h('input', { type: 'number', name: 'context_window', min: '1', value: m.context_window });
    const tiers = h('input', { type: 'text', name: 'tiers', value: (m.tiers ?? []).join(', ') });
    const form = h(
      'form',
      { class: 'stack' },
      field('Input USD per 1M tokens', inp),
      field('Output USD per 1M tokens', outp),
      field('Cache read USD per 1M (empty: none)', cr),
      field('Cache write USD per 1M (empty: none)', cw),
      field('Context window', ctx),
      field('Tiers (comma-separated)', tiers),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('button', { type: 'button', on: { click: () => close(false) } }, 'Cancel')),
    );
    onSubmit(form, async () => {
      const p = {};
      const same = (a, b) => (a === undefined || a === '' ? b === undefined : b !== undefined && usdToNano(a) === usdToNano(b));
      if (!same(inp.value, m.input_per_m)) p.input_per_m = inp.value;
      if (!same(outp.value, m.output_per_m)) p.output_per_m = outp.value;
      if (!same(cr.value, m.cache_read_per_m)) p.cache_read_per_m = cr.value === '' ? null : cr.value;
      if (!same(cw.value, m.cache_write_per_m)) p.cache_write_per_m = cw.value === '' ? null : cw.value;
      if (Number(ctx.value) !== m.context_window) p.context_window = Number(ctx.value);
      const t = tiers.value.split(',').map((x) => x.trim()).filter(Boolean);
      if (JSON.stringify(t) !== JSON.stringify(m.tiers ?? [])) p.tiers = t;
      if (Object.keys(p).length > 0) await api(`/api/models/${encodeURIComponent(m.id)}`, { method: 'PATCH', body: p });
      close(Object.keys(p).length > 0);
    });
    return form;
  });
}

async function opCheck(box) {
  const r = await api('/api/ledger/check');
  box.append(r.ok ? h('p', { class: 'ok' }, 'The ledger invariants hold.') : h('div', null, h('p', { class: 'bad' }, 'The ledger check found problems:'), h('ul', null, (r.problems ?? []).map((p) => h('li', null, typeof p === 'string' ? p : JSON.stringify(p))))));
}

// ------------------------------------------------------------------------------------- boot

$('#boot')?.remove();
render();
