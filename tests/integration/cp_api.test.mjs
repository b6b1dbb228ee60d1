// The control plane's admin API (switchyard-cp): operator-token auth, workspaces, API keys
// (shown once, stored only as SHA-256), revocation, validation errors, clean SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, REPO, Proc, childEnv, makeTempDir, waitFor, slack, httpRequest, CP_BIN, assertApiError as assertError } from './lib/harness.mjs';

const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const DEMO = path.join(REPO, 'deploy', 'demo.json');

let tmp, cp, base, dbFile;

function api(p, { method = 'GET', body, token = TOKEN, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  return httpRequest(base + p, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
}

async function version() {
  const r = await api('/api/snapshot/version');
  assert.equal(r.status, 200, r.text);
  return r.json.version;
}

before(async () => {
  tmp = makeTempDir('sy-cpapi-');
  dbFile = path.join(tmp.dir, 'cp.sqlite');
  const portFile = path.join(tmp.dir, 'port');
  const link = path.join(tmp.dir, 'sy-cp-under-test');
  fs.symlinkSync(CP_BIN, link);
  cp = new Proc('switchyard-cp', link, ['--db', dbFile, '--catalog', DEMO, '--listen', '127.0.0.1:0', '--port-file', portFile], {
    env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  });
  const port = await waitFor(() => fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim(), { timeout: slack(10000), what: 'port file' });
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  try {
    if (cp) await cp.stop();
  } finally {
    tmp?.cleanup();
  }
});

test('refuses to start without an operator token', async () => {
  const env = childEnv();
  delete env.SWITCHYARD_OPERATOR_TOKEN;
  const p = new Proc('cp-no-token', CP_BIN, ['--db', path.join(tmp.dir, 'other.sqlite'), '--catalog', DEMO, '--listen', '127.0.0.1:0'], { env });
  p.stopping = true; // it is expected to end by itself
  assert.ok(await p.waitExit(slack(10000)), 'did not exit');
  assert.notEqual(p.code, 0);
  assert.match(p.stderr, /SWITCHYARD_OPERATOR_TOKEN/);
  assert.doesNotMatch(p.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/);
});

test('healthz needs no auth', async () => {
  const r = await api('/healthz', { token: null });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ok' });
});

test('every /api request needs the operator token', async () => {
  for (const [p, method] of [['/api/workspaces', 'GET'], ['/api/snapshot/version', 'GET'], ['/api/workspaces', 'POST'], ['/api/keys/key_demo/revoke', 'POST'], ['/api/nope', 'GET']]) {
    assertError(await api(p, { method, token: null }), 401, { code: 'invalid_api_key' });
    assertError(await api(p, { method, token: TOKEN + 'x' }), 401, { code: 'invalid_api_key' });
    assertError(await api(p, { method, token: TOKEN.slice(0, -1) }), 401, { code: 'invalid_api_key' });
    assertError(await api(p, { method, token: null, headers: { authorization: `Basic ${TOKEN}` } }), 401);
  }
});

test('workspaces, keys shown once, revocation', async () => {
  const v0 = await version();
  assert.ok(v0 >= 1, 'the catalog load bumps the version');

  let r = await api('/api/workspaces', { method: 'POST', body: { id: 'ws_it', name: 'Integration' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.id, 'ws_it');
  assert.equal(r.json.name, 'Integration');
  assert.equal(r.json.active, true);
  const v1 = await version();
  assert.ok(v1 > v0);

  r = await api('/api/workspaces');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.data.map((w) => w.id).sort(), ['ws_demo', 'ws_it']);

  r = await api('/api/workspaces/ws_it/keys', { method: 'POST', body: { name: 'ci', allowed_models: ['demo-fast', 'demo-smart'], expires_at: 0 } });
  assert.equal(r.status, 201, r.text);
  const created = r.json;
  assert.match(created.key, /^sk-sy-[0-9a-f]{64}$/);
  assert.equal(created.prefix, created.key.slice(0, 10) + '…');
  assert.equal(created.name, 'ci');
  assert.deepEqual(created.allowed_models, ['demo-fast', 'demo-smart']);
  assert.equal(created.revoked, false);
  assert.ok(!('sha256' in created));
  const v2 = await version();
  assert.ok(v2 > v1, 'creating a key bumps the version');

  // a second key is different
  r = await api('/api/workspaces/ws_it/keys', { method: 'POST', body: { allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  assert.notEqual(r.json.key, created.key);
  assert.notEqual(r.json.id, created.id);

  // the list never carries key material
  r = await api('/api/workspaces/ws_it/keys');
  assert.equal(r.status, 200);
  assert.equal(r.json.data.length, 2);
  assert.ok(!r.text.includes(created.key), 'key in the list');
  assert.ok(!r.text.includes(created.key.slice(10)), 'key body in the list');
  const listed = r.json.data.find((k) => k.id === created.id);
  assert.equal(listed.prefix, created.prefix);
  for (const k of r.json.data) {
    assert.ok(!('key' in k) && !('sha256' in k), JSON.stringify(k));
  }

  // the database holds the SHA-256, never the key (checkpointed or still in the WAL)
  const sha = crypto.createHash('sha256').update(created.key).digest();
  const files = [dbFile, dbFile + '-wal'].filter((f) => fs.existsSync(f));
  const bytes = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  assert.equal(bytes.indexOf(Buffer.from(created.key)), -1, 'the key is in the database');
  assert.equal(bytes.indexOf(Buffer.from(created.key.slice(10))), -1, 'the key body is in the database');
  assert.notEqual(bytes.indexOf(sha), -1, "the key's SHA-256 is not in the database");

  // revoke
  r = await api(`/api/keys/${created.id}/revoke`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  const v3 = await version();
  assert.ok(v3 > v2, 'revoking bumps the version');
  r = await api('/api/workspaces/ws_it/keys');
  assert.equal(r.json.data.find((k) => k.id === created.id).revoked, true);

  // disable the workspace
  r = await api('/api/workspaces/ws_it/disable', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  assert.ok((await version()) > v3);
  r = await api('/api/workspaces');
  assert.equal(r.json.data.find((w) => w.id === 'ws_it').active, false);
});

test('validation errors are 400 with param; unknown ids are 404', async () => {
  const v = await version();
  const post = (p, body) => api(p, { method: 'POST', body });
  assertError(await post('/api/workspaces', 'not json'), 400);
  assertError(await post('/api/workspaces', '[1]'), 400);
  assertError(await post('/api/workspaces', {}), 400, { param: 'id' });
  assertError(await post('/api/workspaces', { id: 5 }), 400, { param: 'id' });
  assertError(await post('/api/workspaces', { id: 'has space' }), 400, { param: 'id' });
  assertError(await post('/api/workspaces', { id: 'a/b' }), 400, { param: 'id' });
  assertError(await post('/api/workspaces', { id: 'x'.repeat(129) }), 400, { param: 'id' });
  assertError(await post('/api/workspaces', { id: 'ws_ok', name: 7 }), 400, { param: 'name' });
  assertError(await post('/api/workspaces', { id: 'ws_ok', extra: 1 }), 400, { param: 'extra' });
  assertError(await post('/api/workspaces', { id: 'ws_demo' }), 400, { param: 'id' }); // exists

  const keys = '/api/workspaces/ws_demo/keys';
  assertError(await post(keys, {}), 400, { param: 'allowed_models' });
  assertError(await post(keys, { allowed_models: [] }), 400, { param: 'allowed_models' });
  assertError(await post(keys, { allowed_models: 'demo-fast' }), 400, { param: 'allowed_models' });
  assertError(await post(keys, { allowed_models: [1] }), 400, { param: 'allowed_models' });
  assertError(await post(keys, { allowed_models: ['no-such-model'] }), 400, { param: 'allowed_models' });
  assertError(await post(keys, { allowed_models: ['*'], name: {} }), 400, { param: 'name' });
  assertError(await post(keys, { allowed_models: ['*'], expires_at: 'soon' }), 400, { param: 'expires_at' });
  assertError(await post(keys, { allowed_models: ['*'], expires_at: -1 }), 400, { param: 'expires_at' });
  assertError(await post(keys, { allowed_models: ['*'], expires_at: 1.5 }), 400, { param: 'expires_at' });
  assertError(await post(keys, { allowed_models: ['*'], expires_at: 1000 }), 400, { param: 'expires_at' }); // past
  assertError(await post(keys, { allowed_models: ['*'], key: 'sk-sy-mine' }), 400, { param: 'key' });

  assertError(await post('/api/workspaces/nope/keys', { allowed_models: ['*'] }), 404, { code: 'not_found' });
  assertError(await api('/api/workspaces/nope/keys'), 404, { code: 'not_found' });
  assertError(await post('/api/workspaces/nope/disable'), 404, { code: 'not_found' });
  assertError(await post('/api/keys/nope/revoke'), 404, { code: 'not_found' });
  assertError(await api('/api/nothing-here'), 404);
  assertError(await api('/api/workspaces', { method: 'DELETE' }), 405);
  assertError(await post('/api/workspaces', 'x'.repeat(200 * 1024)), 413);

  assert.equal(await version(), v, 'failed requests do not bump the version');

  // a future expiry is accepted
  const r = await post(keys, { allowed_models: ['*'], expires_at: Math.floor(Date.now() / 1000) + 3600 });
  assert.equal(r.status, 201, r.text);
});

test('SIGTERM exits 0 without sanitizer output', async () => {
  await cp.stop(); // SIGTERM, then asserts exit code 0 and no sanitizer report in stderr
  assert.equal(cp.code, 0);
  assert.match(cp.stderr, /stopped/);
});
