// Dashboard accounts on the control plane's API (docs/dashboard.md): sign-up, log-in, sessions
// as cookies, CSRF, roles, invitations, and that one workspace's users cannot reach another's
// resources by guessing ids (reliability matrix G4 for sessions, G5 for operator-only routes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { makeTempDir, startMock, startCp, closedPort, catalog, stopAll, sleep, slack, httpRequest, checkLedger } from './lib/harness.mjs';

const st = {};
before(async () => {
  st.tmp = makeTempDir('sy-dash-auth-');
  st.mock = await startMock({ dir: st.tmp.dir });
  const cat = catalog({ mockPort: st.mock.port, deadPort: await closedPort() });
  delete cat.keys;
  st.cat = cat;
  st.open = await startCp({ dir: st.tmp.dir, catalog: cat, bus: false, args: ['--signup', 'open'] });
  st.invite = await startCp({ dir: st.tmp.dir, catalog: cat, bus: false, args: ['--signup', 'invite', '--session-ttl-s', '2', '--cookie-secure'], name: 'switchyard-cp-invite' });
});
after(() => stopAll([st.open?.proc, st.invite?.proc, st.mock], st.tmp));

/** A browser-like client of one control plane: keeps the session cookie, sends the CSRF token. */
class User {
  constructor(cp) {
    this.cp = cp;
    this.cookie = null;
    this.csrf = null;
    this.setCookie = null;
  }
  async call(path, { method = 'GET', body, csrf = true, origin, contentType = 'application/json', cookie } = {}) {
    const headers = {};
    const c = cookie === undefined ? this.cookie : cookie;
    if (c) headers.cookie = `theme=dark; sy_session=${c}`;
    if (body !== undefined) headers['content-type'] = contentType;
    if (csrf && this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
    if (origin) headers.origin = origin;
    const r = await httpRequest(this.cp.base + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const sc = r.headers['set-cookie'];
    if (sc) {
      this.setCookie = Array.isArray(sc) ? sc.join('\n') : sc;
      const m = this.setCookie.match(/sy_session=([^;]*)/);
      this.cookie = m && m[1] ? m[1] : null;
    }
    if (r.json?.csrf_token) this.csrf = r.json.csrf_token;
    return r;
  }
  signup(email, password, extra = {}) {
    return this.call('/api/auth/signup', { method: 'POST', body: { email, password, ...extra } });
  }
  login(email, password) {
    return this.call('/api/auth/login', { method: 'POST', body: { email, password } });
  }
}

function assertErr(r, status, code) {
  assert.equal(r.status, status, `${r.status} ${r.text}`);
  assert.match(r.headers['content-type'], /application\/json/);
  if (code) assert.equal(r.json.error.code, code, r.text);
}

const PW_A = 'correct horse battery staple';
const PW_B = 'another long passphrase';

test('sign-up creates a user, a workspace it owns, and a session cookie that is HttpOnly and SameSite=Strict', async () => {
  const a = new User(st.open);
  const r = await a.signup('Alice@Example.COM', PW_A, { workspace_name: 'Alice & Co <b>' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.email, 'alice@example.com', 'email stored lower-cased');
  assert.equal(r.json.workspaces.length, 1);
  assert.equal(r.json.workspaces[0].role, 'owner');
  assert.equal(r.json.workspaces[0].name, 'Alice & Co <b>', 'names are data, returned as given (the pages escape them)');
  assert.match(a.setCookie, /sy_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  assert.doesNotMatch(a.setCookie, /Secure/, 'not Secure unless --cookie-secure');
  assert.match(r.json.csrf_token, /^[0-9a-f]{32}$/);
  const me = await a.call('/api/auth/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.id, r.json.id);
  assert.equal(me.json.csrf_token, r.json.csrf_token, 'one CSRF token per session');
  // the same email again (any case) is a conflict
  assertErr(await new User(st.open).signup('ALICE@example.com', PW_A), 409, 'conflict');
  // validation names the field
  for (const [body, param] of [
    [{ email: 'not-an-email', password: PW_A }, 'email'],
    [{ email: 'x@y.z', password: 'short' }, 'password'],
    [{ email: 'x@y.z', password: 'p'.repeat(300) }, 'password'],
    [{ email: 'x@y.z', password: PW_A, role: 'owner' }, 'role'],
    [{ email: 'x@y.z', password: 12345678901 }, 'password'],
  ]) {
    const res = await new User(st.open).call('/api/auth/signup', { method: 'POST', body });
    assertErr(res, 400);
    assert.equal(res.json.error.param, param, res.text);
  }
  st.alice = a;
  st.aliceWs = r.json.workspaces[0].id;
});

test('unsafe requests need the session CSRF token and a same-origin (or no) Origin; a cross-site form post is refused', async () => {
  const a = st.alice;
  const ws = st.aliceWs;
  const keyBody = { name: 'k1', allowed_models: ['*'] };
  assertErr(await a.call(`/api/workspaces/${ws}/keys`, { method: 'POST', body: keyBody, csrf: false }), 403, 'forbidden');
  const wrong = a.csrf.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const saved = a.csrf;
  a.csrf = wrong;
  assertErr(await a.call(`/api/workspaces/${ws}/keys`, { method: 'POST', body: keyBody }), 403, 'forbidden');
  a.csrf = saved;
  assertErr(await a.call(`/api/workspaces/${ws}/keys`, { method: 'POST', body: keyBody, origin: 'https://evil.example' }), 403, 'forbidden');
  // a cross-site HTML form can only send text/plain or form encodings: log-in and sign-up refuse them
  const form = await new User(st.open).call('/api/auth/login', { method: 'POST', body: `{"email":"alice@example.com","password":"${PW_A}"}`, contentType: 'text/plain' });
  assertErr(form, 400);
  assert.equal(form.headers['set-cookie'], undefined, 'no session from a form post');
  assertErr(await new User(st.open).call('/api/auth/login', { method: 'POST', body: { email: 'alice@example.com', password: PW_A }, origin: 'https://evil.example' }), 403, 'forbidden');
  // nothing was created by the refusals
  const keys = await st.open.api(`/api/workspaces/${ws}/keys`);
  assert.equal(keys.json.data.length, 0, keys.text);
  // with the token and our own origin it works; the secret is shown once
  const r = await a.call(`/api/workspaces/${ws}/keys`, { method: 'POST', body: keyBody, origin: st.open.base });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.key, /^sk-sy-/);
  st.aliceKey = r.json.id;
  const again = await a.call(`/api/keys/${st.aliceKey}`);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.key, undefined, 'the secret is never shown again');
});

test('another workspace is unreachable by id guessing: every id-bearing route answers 404 and changes nothing (G4)', async () => {
  const b = new User(st.open);
  const r = await b.signup('bob@example.com', PW_B, { workspace_name: 'Bob' });
  assert.equal(r.status, 201, r.text);
  const bobWs = r.json.workspaces[0].id;
  const ws = st.aliceWs;
  const key = st.aliceKey;
  const before = {
    key: (await st.open.api(`/api/keys/${key}`)).json,
    keys: (await st.open.api(`/api/workspaces/${ws}/keys`)).json,
    ws: (await st.open.api(`/api/workspaces/${ws}`)).json,
    balance: (await st.open.api(`/api/workspaces/${ws}/balance`)).json,
  };
  const routes = [
    ['GET', `/api/workspaces/${ws}`],
    ['GET', `/api/workspaces/${ws}/keys`],
    ['POST', `/api/workspaces/${ws}/keys`, { name: 'evil', allowed_models: ['*'] }],
    ['GET', `/api/workspaces/${ws}/balance`],
    ['GET', `/api/workspaces/${ws}/ledger`],
    ['GET', `/api/workspaces/${ws}/usage`],
    ['GET', `/api/workspaces/${ws}/usage/records`],
    ['GET', `/api/workspaces/${ws}/usage/savings`],
    ['POST', `/api/workspaces/${ws}/checkout`, { amount_usd: '10.00', success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' }],
    ['POST', `/api/workspaces/${ws}/invites`, { role: 'owner' }],
    ['GET', `/api/keys/${key}`],
    ['PATCH', `/api/keys/${key}`, { name: 'pwned' }],
    ['POST', `/api/keys/${key}/revoke`, {}],
    ['POST', `/api/keys/${key}/rotate`, {}],
    // ids that exist nowhere answer the same
    ['GET', '/api/workspaces/ws_does_not_exist/balance'],
    ['GET', '/api/keys/key_does_not_exist'],
  ];
  for (const [method, p, body] of routes) {
    const res = await b.call(p, { method, body });
    assertErr(res, 404, 'not_found');
    assert.doesNotMatch(res.text, new RegExp(ws), `${method} ${p}: no trace of the other workspace`);
  }
  assert.deepEqual((await st.open.api(`/api/keys/${key}`)).json, before.key, 'the key is unchanged');
  assert.deepEqual((await st.open.api(`/api/workspaces/${ws}/keys`)).json, before.keys, 'no key was added');
  assert.deepEqual((await st.open.api(`/api/workspaces/${ws}`)).json, before.ws);
  assert.deepEqual((await st.open.api(`/api/workspaces/${ws}/balance`)).json, before.balance);
  // Bob's own workspace works for Bob
  assert.equal((await b.call(`/api/workspaces/${bobWs}/balance`)).status, 200);
  st.bob = b;
});

test('a session cannot call operator routes (403), and cannot read other sessions\u2019 data through them (G5)', async () => {
  const a = st.alice;
  const ws = st.aliceWs;
  const opRoutes = [
    ['GET', '/api/workspaces'],
    ['POST', '/api/workspaces', { id: 'ws_mine', name: 'x' }],
    ['PATCH', `/api/workspaces/${ws}`, { rpm: 1 }],
    ['POST', `/api/workspaces/${ws}/disable`, {}],
    ['POST', `/api/workspaces/${ws}/credits`, { amount_usd: '1000000', ref: 'grant:me' }],
    ['GET', '/api/ledger/check'],
    ['GET', '/api/nodes'],
    ['GET', '/api/snapshot/version'],
    ['POST', '/api/catalog/reload', {}],
    ['POST', '/api/catalog/import', {}],
    ['GET', '/api/catalog/status'],
    ['PATCH', '/api/models/m-ok', { input_per_m: '0' }],
    ['PUT', '/api/aliases/cheap', { model: 'm-ok' }],
    ['DELETE', '/api/aliases/cheap'],
  ];
  const bal = (await st.open.api(`/api/workspaces/${ws}/balance`)).json.balance_nano;
  for (const [method, p, body] of opRoutes) assertErr(await a.call(p, { method, body }), 403, 'forbidden');
  assert.equal((await st.open.api(`/api/workspaces/${ws}/balance`)).json.balance_nano, bal, 'no credit granted');
  assert.equal((await st.open.api(`/api/workspaces/${ws}`)).json.active, true, 'not disabled');
  // what a session may read: the catalog
  const models = await a.call('/api/models');
  assert.equal(models.status, 200, models.text);
  assert.ok(models.json.data.length > 0);
  // the operator token cannot use session-only routes
  assertErr(await st.open.api('/api/auth/me'), 403, 'forbidden');
});

test('log-out ends the session; a fixed (attacker-chosen) cookie is never adopted; no password or hash in any answer or log', async () => {
  const a = st.alice;
  const old = a.cookie;
  const out = await a.call('/api/auth/logout', { method: 'POST', body: {} });
  assert.equal(out.status, 200, out.text);
  assert.match(a.setCookie, /sy_session=; .*Max-Age=0/);
  assertErr(await a.call('/api/auth/me', { cookie: old }), 401, 'invalid_api_key');
  // session fixation: the attacker plants a cookie value, the victim logs in with it set
  const planted = 'a'.repeat(64);
  const v = new User(st.open);
  v.cookie = planted;
  const r = await v.login('alice@example.com', PW_A);
  assert.equal(r.status, 200, r.text);
  assert.notEqual(v.cookie, planted, 'a fresh session id is issued at log-in');
  assertErr(await v.call('/api/auth/me', { cookie: planted }), 401);
  assert.equal((await v.call('/api/auth/me')).status, 200);
  // never a password or its hash
  for (const res of [r, await v.call('/api/auth/me')]) assert.doesNotMatch(res.text, /scrypt|pw_hash|correct horse/);
  const log = st.open.proc.stderr;
  assert.doesNotMatch(log, /scrypt\$|correct horse|another long passphrase/, 'no password or hash in the log');
  assert.doesNotMatch(log, new RegExp(v.cookie), 'no session secret in the log');
  // the database keeps only hashes of sessions
  const db = fs.readFileSync(st.open.db);
  assert.equal(db.includes(Buffer.from(v.cookie)), false, 'session secret not in the database');
  assert.equal(db.includes(Buffer.from('correct horse')), false, 'password not in the database');
});

test('failed log-ins are limited per email: the 11th attempt is 429 with retry-after even with the right password; other accounts unaffected', async () => {
  for (let i = 0; i < 10; i++) assertErr(await new User(st.open).login('bob@example.com', `wrong password ${i}`), 401, 'invalid_api_key');
  const blocked = await new User(st.open).login('bob@example.com', PW_B);
  assertErr(blocked, 429, 'rate_limited');
  assert.ok(Number(blocked.headers['retry-after']) > 0, 'retry-after');
  assert.equal(blocked.headers['set-cookie'], undefined);
  assert.equal((await new User(st.open).login('alice@example.com', PW_A)).status, 200, 'another account still logs in');
  // unknown emails cost the same as wrong passwords and say the same
  const u = await new User(st.open).login('nobody@example.com', PW_A);
  assertErr(u, 401, 'invalid_api_key');
  assert.equal(u.json.error.message, 'wrong email or password');
});

test('invitation-only sign-up: the operator invites the first owner, owners invite members with one-time codes, roles hold', async () => {
  const cp = st.invite;
  assertErr(await new User(cp).signup('eve@example.com', PW_A), 403, 'forbidden');
  // bootstrap: the operator makes a workspace and an owner invitation for it
  assert.equal((await cp.api('/api/workspaces', { method: 'POST', body: { id: 'ws_inv', name: 'Invited' } })).status, 201);
  assertErr(await cp.api('/api/workspaces/ws_nowhere/invites', { method: 'POST', body: { role: 'owner' } }), 404, 'not_found');
  const boot = await cp.api('/api/workspaces/ws_inv/invites', { method: 'POST', body: { role: 'owner' } });
  assert.equal(boot.status, 201, boot.text);
  assert.match(boot.json.invite, /^[0-9a-f]{64}$/);
  const erin = new User(cp);
  const e = await erin.signup('erin@example.com', PW_A, { invite: boot.json.invite });
  assert.equal(e.status, 201, e.text);
  assert.deepEqual(e.json.workspaces.map((w) => [w.id, w.role]), [['ws_inv', 'owner']]);
  assert.match(erin.setCookie, /; Max-Age=2; Secure$/, '--session-ttl-s 2 --cookie-secure');
  // one-time: the code does not work twice
  const again = await new User(cp).signup('dave@example.com', PW_B, { invite: boot.json.invite });
  assertErr(again, 404);
  assert.equal(again.json.error.param, 'invite');
  // the owner invites a member
  const inv = await erin.call('/api/workspaces/ws_inv/invites', { method: 'POST', body: { role: 'member' } });
  assert.equal(inv.status, 201, inv.text);
  const carol = new User(cp);
  const c = await carol.signup('carol@example.com', PW_B, { invite: inv.json.invite });
  assert.equal(c.status, 201, c.text);
  assert.deepEqual(c.json.workspaces.map((w) => [w.id, w.role]), [['ws_inv', 'member']]);
  // a member reads and makes keys, but neither invites nor buys credits
  assert.equal((await carol.call('/api/workspaces/ws_inv/keys')).status, 200);
  assert.equal((await carol.call('/api/workspaces/ws_inv/keys', { method: 'POST', body: { name: 'c', allowed_models: ['*'] } })).status, 201);
  assertErr(await carol.call('/api/workspaces/ws_inv/invites', { method: 'POST', body: {} }), 403, 'forbidden');
  assertErr(await carol.call('/api/workspaces/ws_inv/checkout', { method: 'POST', body: { amount_usd: '10.00' } }), 403, 'forbidden');
  // a code of another instance means nothing here
  st.alice = new User(st.open);
  assert.equal((await st.alice.login('alice@example.com', PW_A)).status, 200);
  const foreign = await st.alice.call(`/api/workspaces/${st.aliceWs}/invites`, { method: 'POST', body: {} });
  assert.equal(foreign.status, 201, foreign.text);
  assertErr(await new User(cp).signup('frank@example.com', PW_B, { invite: foreign.json.invite }), 404, 'not_found');
  // a logged-in user accepts an invitation to a second workspace
  const inv2 = await st.alice.call(`/api/workspaces/${st.aliceWs}/invites`, { method: 'POST', body: { role: 'owner' } });
  const dora = new User(st.open);
  assert.equal((await dora.signup('dora@example.com', PW_B)).status, 201);
  const acc = await dora.call('/api/auth/accept-invite', { method: 'POST', body: { invite: inv2.json.invite } });
  assert.equal(acc.status, 200, acc.text);
  assert.ok(acc.json.workspaces.some((w) => w.id === st.aliceWs && w.role === 'owner'), acc.text);
  assert.equal(acc.json.workspaces.length, 2);
  st.erin = erin;
  await checkLedger(st.open);
  await checkLedger(cp);
});

test('a stolen session stops working when it expires (--session-ttl-s 2)', async () => {
  const u = new User(st.invite);
  assert.equal((await u.login('erin@example.com', PW_A)).status, 200);
  const stolen = u.cookie;
  assert.equal((await u.call('/api/auth/me', { cookie: stolen })).status, 200);
  await sleep(2500);
  assertErr(await u.call('/api/auth/me', { cookie: stolen }), 401, 'invalid_api_key');
  assertErr(await u.call('/api/workspaces/ws_inv/keys', { cookie: stolen }), 401, 'invalid_api_key');
});

test('the operator logs in to the dashboard with the token: an operator session (CSRF like any), GET /api/config', async () => {
  const op = new User(st.open);
  assertErr(await op.call('/api/auth/operator', { method: 'POST', body: { token: 'not-the-token' } }), 401, 'invalid_api_key');
  assertErr(await op.call('/api/auth/operator', { method: 'POST', body: { token: st.open.token }, contentType: 'text/plain' }), 400);
  const r = await op.call('/api/auth/operator', { method: 'POST', body: { token: st.open.token } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.operator, true);
  assert.match(op.setCookie, /sy_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict/);
  const me = await op.call('/api/auth/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.operator, true);
  // operator routes with the cookie: reads, and writes with the CSRF token only
  const list = await op.call('/api/workspaces');
  assert.equal(list.status, 200, list.text);
  assert.ok(list.json.data.some((w) => w.id === st.aliceWs));
  assertErr(await op.call('/api/workspaces', { method: 'POST', body: { id: 'ws_op_made' }, csrf: false }), 403, 'forbidden');
  assert.equal((await op.call('/api/workspaces', { method: 'POST', body: { id: 'ws_op_made' } })).status, 201);
  const cfg = await op.call('/api/config');
  assert.equal(cfg.status, 200, cfg.text);
  assert.deepEqual(cfg.json, { api_base_url: null, signup: 'open', checkout: false, operator: true });
  // a user's config says what the pages need, and that it is not the operator
  const u = new User(st.open);
  assert.equal((await u.login('alice@example.com', PW_A)).status, 200);
  assert.equal((await u.call('/api/config')).json.operator, false);
  // the operator user cannot log in with a password
  assertErr(await new User(st.open).login('operator', '!'), 400);
  // log-out ends it
  const old = op.cookie;
  assert.equal((await op.call('/api/auth/logout', { method: 'POST', body: {} })).status, 200);
  assertErr(await op.call('/api/workspaces', { cookie: old }), 401);
});
