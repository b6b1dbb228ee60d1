// The rest of the admin API, end to end with a data plane following the control plane:
// key scope and limit edits (GET/PATCH /api/keys/{id}), workspace rate limits, name and active
// flag (GET/PATCH /api/workspaces/{id}, enforced by the node), the catalog (GET /api/providers,
// GET/PATCH /api/models[/{id}], POST /api/catalog/reload and SIGHUP), the operator token on
// every endpoint, and a canary key that must never appear in clear after its creation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { makeTempDir, waitFor, slack, httpRequest, startMock, startCp, startBusDp, quietVersion, assertApiError as assertError } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
let tmp, mock, cp, dp, catalog;

async function version() {
  const r = await cp.api('/api/snapshot/version');
  assert.equal(r.status, 200, r.text);
  return r.json.version;
}

async function chat(key, model) {
  const r = await fetch(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await r.text();
  return { status: r.status, text };
}

async function dpModel(id) {
  const r = await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${keyForModels}` } });
  assert.equal(r.status, 200, r.text);
  return r.json.data.find((m) => m.id === id);
}
let keyForModels;

before(async () => {
  tmp = makeTempDir('sy-cpadmin-');
  mock = await startMock({ dir: tmp.dir });
  catalog = {
    timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [
      { id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] },
      { id: 'm-two', provider: 'mock', upstream: 'mock', input_per_m: '0.50', output_per_m: '1.50', context_window: 64000, capabilities: ['chat', 'tools'], tiers: ['cheap'], quality: { code: 0.7, chat: 0.9 } },
    ],
    workspaces: [{ id: 'ws_a', active: true }],
    keys: [],
  };
  // a short balance refresh: the usage of this file's own chat requests reaches a versioned
  // write quickly, so quietVersion() windows are not crossed by a late refresh
  cp = await startCp({ dir: tmp.dir, catalog, args: ['--balance-refresh-ms', '200'] });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY } });
  // a prepaid workspace needs credit before priced models serve it (docs/admission.md, reservations)
  const c = await cp.api('/api/workspaces/ws_a/credits', { method: 'POST', body: { amount_usd: '100', reference: 'it-ws_a' } });
  assert.equal(c.status, 201, c.text);
  const r = await cp.api('/api/workspaces/ws_a/keys', { method: 'POST', body: { name: 'models reader', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  keyForModels = r.json.key;
  await waitFor(async () => (await chat(keyForModels, 'm-ok')).status === 200, { timeout: slack(3000), what: 'the reader key on the node' });
});

after(async () => {
  try {
    await dp?.proc.stop();
    await cp?.proc.stop();
    await mock?.stop();
  } finally {
    tmp?.cleanup();
  }
});

const ENDPOINTS = [
  ['GET', '/api/keys/key_x'],
  ['PATCH', '/api/keys/key_x'],
  ['GET', '/api/providers'],
  ['GET', '/api/models'],
  ['GET', '/api/models/m-ok'],
  ['PATCH', '/api/models/m-ok'],
  ['POST', '/api/catalog/reload'],
  ['GET', '/api/nodes'],
  ['GET', '/api/snapshot/version'],
  ['GET', '/api/workspaces'],
  ['POST', '/api/workspaces'],
  ['POST', '/api/workspaces/ws_a/disable'],
  ['GET', '/api/workspaces/ws_a'],
  ['PATCH', '/api/workspaces/ws_a'],
  ['GET', '/api/workspaces/ws_a/keys'],
  ['POST', '/api/workspaces/ws_a/keys'],
  ['POST', '/api/keys/key_x/revoke'],
];

test('every endpoint refuses a missing, wrong or non-bearer operator token and changes nothing', async () => {
  const v = await quietVersion(cp);
  for (const [method, p] of ENDPOINTS) {
    const body = method === 'GET' ? undefined : { name: 'x', allowed_models: ['*'], id: 'ws_new', input_per_m: '9.99' };
    assertError(await cp.api(p, { method, body, token: null }), 401, { code: 'invalid_api_key' });
    assertError(await cp.api(p, { method, body, token: cp.token + 'x' }), 401, { code: 'invalid_api_key' });
    assertError(await cp.api(p, { method, body, token: null, headers: { authorization: `Basic ${cp.token}` } }), 401, { code: 'invalid_api_key' });
  }
  assert.equal(await version(), v);
  const ws = await cp.api('/api/workspaces');
  assert.equal(ws.json.data.find((w) => w.id === 'ws_a').active, true);
});

test('wrong methods are 405 on every new endpoint', async () => {
  for (const [method, p] of [['DELETE', '/api/keys/key_x'], ['POST', '/api/keys/key_x'], ['DELETE', '/api/workspaces/ws_a'], ['POST', '/api/workspaces/ws_a'], ['PUT', '/api/workspaces/ws_a'], ['POST', '/api/providers'], ['PATCH', '/api/models'], ['DELETE', '/api/models/m-ok'], ['GET', '/api/catalog/reload']]) {
    assertError(await cp.api(p, { method }), 405);
  }
});

test('a key: read, scope widened and narrowed on the node, limits set and cleared', async () => {
  let r = await cp.api('/api/workspaces/ws_a/keys', { method: 'POST', body: { name: 'scoped', allowed_models: ['m-ok'] } });
  assert.equal(r.status, 201, r.text);
  const { id, key } = r.json;
  assert.equal(r.json.budget_usd, null);
  assert.equal(r.json.rpm, null);
  assert.equal(r.json.tpm, null);
  await waitFor(async () => (await chat(key, 'm-ok')).status === 200, { timeout: slack(3000), what: 'the new key on the node' });
  let c = await chat(key, 'm-two');
  assert.equal(c.status, 403, c.text);
  assert.match(c.text, /model_not_allowed/);

  r = await cp.api(`/api/keys/${id}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, id);
  assert.deepEqual(r.json.allowed_models, ['m-ok']);
  assert.ok(!('key' in r.json) && !('sha256' in r.json), r.text);

  const v0 = await version();
  r = await cp.api(`/api/keys/${id}`, { method: 'PATCH', body: { allowed_models: ['m-ok', 'mock/m-two'], name: 'wider', budget_usd: '5.5', rpm: 60, tpm: 100000 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.allowed_models, ['m-ok', 'mock/m-two']);
  assert.equal(r.json.name, 'wider');
  assert.equal(r.json.budget_usd, '5.500000000');
  assert.equal(r.json.rpm, 60);
  assert.equal(r.json.tpm, 100000);
  assert.ok((await version()) > v0, 'an edit bumps the version');
  await waitFor(async () => (await chat(key, 'm-two')).status === 200, { timeout: slack(3000), what: 'the widened scope on the node' });

  // fields not named keep their value; null clears a limit
  r = await cp.api(`/api/keys/${id}`, { method: 'PATCH', body: { budget_usd: null, allowed_models: ['m-two'] } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.budget_usd, null);
  assert.equal(r.json.rpm, 60);
  assert.equal(r.json.name, 'wider');
  await waitFor(async () => (await chat(key, 'm-ok')).status === 403, { timeout: slack(3000), what: 'the narrowed scope on the node' });
  assert.equal((await chat(key, 'm-two')).status, 200);

  const exp = Math.floor(Date.now() / 1000) + 3600;
  r = await cp.api(`/api/keys/${id}`, { method: 'PATCH', body: { expires_at: exp, rpm: null } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.expires_at, exp);
  assert.equal(r.json.rpm, null);

  // a revoked key cannot be edited back to life
  r = await cp.api(`/api/keys/${id}/revoke`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  const v1 = await quietVersion(cp);
  assertError(await cp.api(`/api/keys/${id}`, { method: 'PATCH', body: { name: 'again' } }), 400);
  assert.equal(await version(), v1);
  await waitFor(async () => (await chat(key, 'm-two')).status === 401, { timeout: slack(3000), what: 'revocation on the node' });
});

test('key edits: validation errors name the field, unknown ids are 404, nothing changes', async () => {
  const r = await cp.api('/api/workspaces/ws_a/keys', { method: 'POST', body: { allowed_models: ['m-ok'] } });
  assert.equal(r.status, 201, r.text);
  const p = `/api/keys/${r.json.id}`;
  const before = (await cp.api(p)).json;
  const v = await quietVersion(cp);
  const patch = (body) => cp.api(p, { method: 'PATCH', body });
  assertError(await patch('not json'), 400);
  assertError(await patch('[]'), 400);
  assertError(await patch({}), 400);
  assertError(await patch({ key: 'sk-sy-mine' }), 400, { param: 'key' });
  assertError(await patch({ name: 7 }), 400, { param: 'name' });
  assertError(await patch({ allowed_models: [] }), 400, { param: 'allowed_models' });
  assertError(await patch({ allowed_models: ['no-such-model'] }), 400, { param: 'allowed_models' });
  assertError(await patch({ allowed_models: [''] }), 400, { param: 'allowed_models' });
  for (const b of [5, '-1', '0', 'abc', '1e3', '0.0000000001', {}]) assertError(await patch({ budget_usd: b }), 400, { param: 'budget_usd' });
  for (const n of [0, -1, 1.5, '60', 1e10, true]) assertError(await patch({ rpm: n }), 400, { param: 'rpm' });
  for (const n of [0, 4294967296, 'many']) assertError(await patch({ tpm: n }), 400, { param: 'tpm' });
  assertError(await patch({ expires_at: 1000 }), 400, { param: 'expires_at' });
  assertError(await patch({ expires_at: 'tomorrow' }), 400, { param: 'expires_at' });
  // a valid field next to an invalid one: the whole request is refused
  assertError(await patch({ name: 'ok', rpm: -5 }), 400, { param: 'rpm' });
  assert.equal(await version(), v, 'refused edits do not bump the version');
  assert.deepEqual((await cp.api(p)).json, before);

  assertError(await cp.api('/api/keys/key_nope'), 404, { code: 'not_found' });
  assertError(await cp.api('/api/keys/key_nope', { method: 'PATCH', body: { name: 'x' } }), 404, { code: 'not_found' });
});

/** A chat request with its headers (the node's x-ratelimit-* and retry-after). */
function chatH(key) {
  return httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 }),
  });
}

/** The node's rate-limit headers for `key` from GET /v1/models, which looks without charging. */
async function dpLimits(key) {
  const r = await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200, r.text);
  return { requests: r.headers['x-ratelimit-limit'], tokens: r.headers['x-ratelimit-limit-tokens'] };
}

test('a workspace: GET shows its limits, PATCH sets rpm/tpm and the node enforces them, null and 0 clear them', async () => {
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id: 'ws_lim', name: 'limits' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.rpm, null);
  assert.equal(r.json.tpm, null);
  r = await cp.api('/api/workspaces/ws_lim/credits', { method: 'POST', body: { amount_usd: '100', reference: 'it-ws_lim' } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api('/api/workspaces/ws_lim/keys', { method: 'POST', body: { name: 'lim', allowed_models: ['m-ok'] } });
  assert.equal(r.status, 201, r.text);
  const key = r.json.key;
  await waitFor(async () => (await chatH(key)).status === 200, { timeout: slack(3000), what: 'the ws_lim key on the node' });
  assert.deepEqual(await dpLimits(key), { requests: 'unlimited', tokens: 'unlimited' });

  r = await cp.api('/api/workspaces/ws_lim');
  assert.equal(r.status, 200, r.text);
  const created_at = r.json.created_at;
  assert.deepEqual(r.json, { id: 'ws_lim', name: 'limits', active: true, created_at, rpm: null, tpm: null });

  // set: the answer is the workspace as GET shows it, and the version moves
  const v0 = await version();
  r = await cp.api('/api/workspaces/ws_lim', { method: 'PATCH', body: { rpm: 3, tpm: 500000 } });
  assert.equal(r.status, 200, r.text);
  const set = { id: 'ws_lim', name: 'limits', active: true, created_at, rpm: 3, tpm: 500000 };
  assert.deepEqual(r.json, set);
  assert.ok((await version()) > v0, 'a workspace edit bumps the version');
  assert.deepEqual((await cp.api('/api/workspaces/ws_lim')).json, set);
  assert.deepEqual((await cp.api('/api/workspaces')).json.data.find((w) => w.id === 'ws_lim'), set);
  assert.match(cp.proc.stderr, /msg="workspace updated" id=ws_lim version=\d+/);

  // the node: 3 requests in quick succession pass, the 4th is 429 with retry-after
  await waitFor(async () => (await dpLimits(key)).requests === '3', { timeout: slack(3000), what: 'workspace rpm 3 on the node' });
  assert.equal((await dpLimits(key)).tokens, '500000');
  for (let i = 0; i < 3; i++) {
    const c = await chatH(key);
    assert.equal(c.status, 200, `request ${i + 1}: ${c.text}`);
    assert.equal(c.headers['x-ratelimit-limit'], '3');
    assert.equal(c.headers['x-ratelimit-remaining'], String(2 - i));
  }
  let c = await chatH(key);
  assert.equal(c.status, 429, c.text);
  assert.equal(c.json?.error?.code, 'rate_limited', c.text);
  assert.match(c.headers['retry-after'] ?? '', /^[1-9][0-9]*$/, 'retry-after in whole seconds');
  assert.equal(c.headers['x-ratelimit-limit'], '3');

  // null clears one limit and keeps the other
  r = await cp.api('/api/workspaces/ws_lim', { method: 'PATCH', body: { rpm: null } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ...set, rpm: null });
  await waitFor(async () => (await dpLimits(key)).requests === 'unlimited', { timeout: slack(3000), what: 'workspace rpm cleared on the node' });
  assert.equal((await dpLimits(key)).tokens, '500000');
  for (let i = 0; i < 5; i++) assert.equal((c = await chatH(key)).status, 200, c.text);

  // 0 clears too (stored as no limit, like a 0 in the catalog file)
  r = await cp.api('/api/workspaces/ws_lim', { method: 'PATCH', body: { rpm: 3 } });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await dpLimits(key)).requests === '3', { timeout: slack(3000), what: 'workspace rpm 3 again on the node' });
  r = await cp.api('/api/workspaces/ws_lim', { method: 'PATCH', body: { rpm: 0, tpm: 0 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ...set, rpm: null, tpm: null });
  await waitFor(async () => (await dpLimits(key)).requests === 'unlimited', { timeout: slack(3000), what: 'workspace rpm 0 on the node' });
  assert.equal((await dpLimits(key)).tokens, 'unlimited');
  for (let i = 0; i < 5; i++) {
    c = await chatH(key);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.headers['x-ratelimit-limit'], 'unlimited');
  }

  // name and active: a deactivated workspace's keys are refused on the node, reactivation restores them
  r = await cp.api('/api/workspaces/ws_lim', { method: 'PATCH', body: { name: 'renamed', active: false } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ...set, name: 'renamed', active: false, rpm: null, tpm: null });
  await waitFor(async () => (await chatH(key)).status === 403, { timeout: slack(3000), what: 'the deactivated workspace refused on the node' });
  r = await cp.api('/api/workspaces/ws_lim', { method: 'PATCH', body: { active: true } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'renamed', 'unnamed fields keep their value');
  assert.equal(r.json.active, true);
  await waitFor(async () => (await chatH(key)).status === 200, { timeout: slack(3000), what: 'the reactivated workspace on the node' });
});

test('workspace edits: validation errors name the field, unknown ids are 404, no token is 401, nothing changes', async () => {
  const p = '/api/workspaces/ws_a';
  let r = await cp.api(p, { method: 'PATCH', body: { rpm: 120, tpm: 1000000 } });
  assert.equal(r.status, 200, r.text);
  const before = (await cp.api(p)).json;
  assert.equal(before.rpm, 120);
  const v = await quietVersion(cp);
  const patch = (body) => cp.api(p, { method: 'PATCH', body });
  assertError(await patch('not json'), 400);
  assertError(await patch('[]'), 400);
  assertError(await patch({}), 400);
  assertError(await patch({ id: 'ws_b' }), 400, { param: 'id' });
  assertError(await patch({ balance_usd: '5' }), 400, { param: 'balance_usd' });
  assertError(await patch({ rpm: 5, budget_usd: '1' }), 400, { param: 'budget_usd' });
  for (const n of [-1, 1.5, '60', 1e9 + 1, 1e10, true, {}]) assertError(await patch({ rpm: n }), 400, { param: 'rpm' });
  for (const n of [-5, 0.5, 4294967296, 'many', []]) assertError(await patch({ tpm: n }), 400, { param: 'tpm' });
  for (const a of ['yes', 1, null]) assertError(await patch({ active: a }), 400, { param: 'active' });
  assertError(await patch({ name: 7 }), 400, { param: 'name' });
  assertError(await patch({ name: 'x'.repeat(257) }), 400, { param: 'name' });
  // a valid field next to an invalid one: the whole request is refused
  assertError(await patch({ name: 'ok', rpm: -5 }), 400, { param: 'rpm' });
  assertError(await patch({ rpm: 10, tpm: -1 }), 400, { param: 'tpm' });
  // the operator token: missing, wrong or not Bearer is 401 and changes nothing
  for (const opts of [{ token: null }, { token: cp.token + 'x' }, { token: null, headers: { authorization: `Basic ${cp.token}` } }]) {
    assertError(await cp.api(p, { method: 'PATCH', body: { rpm: 1, name: 'hijacked' }, ...opts }), 401, { code: 'invalid_api_key' });
    assertError(await cp.api(p, opts), 401, { code: 'invalid_api_key' });
  }
  assert.equal(await version(), v, 'refused edits do not bump the version');
  assert.deepEqual((await cp.api(p)).json, before);

  // the limits at their maxima are accepted (the same maxima as a key's)
  r = await patch({ rpm: 1e9, tpm: 4294967295 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.rpm, 1e9);
  assert.equal(r.json.tpm, 4294967295);
  r = await patch({ rpm: null, tpm: null });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ...before, rpm: null, tpm: null });

  assertError(await cp.api('/api/workspaces/ws_nope'), 404, { code: 'not_found' });
  const v2 = await quietVersion(cp);
  assertError(await cp.api('/api/workspaces/ws_nope', { method: 'PATCH', body: { rpm: 5 } }), 404, { code: 'not_found' });
  assert.equal(await version(), v2, 'an unknown workspace bumps nothing');
  assert.equal((await cp.api('/api/workspaces')).json.data.find((w) => w.id === 'ws_nope'), undefined);
});

test('catalog: providers and models are readable, a model edit reaches the node', async () => {
  let r = await cp.api('/api/providers');
  assert.equal(r.status, 200, r.text);
  const prov = r.json.data.find((x) => x.id === 'mock');
  assert.equal(prov.base_url, mock.baseURL);
  assert.equal(prov.api_key_env, 'MOCK_KEY');
  assert.equal(prov.health, 'unknown'); // probing is off for this provider
  assert.deepEqual(prov.probe, { path: '/models', interval_ms: 0, timeout_ms: 3000 });
  assert.ok(!r.text.includes(UPSTREAM_KEY));

  r = await cp.api('/api/models');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data.map((m) => m.id), ['m-ok', 'm-two']);
  r = await cp.api('/api/models/m-two');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, {
    id: 'm-two', provider: 'mock', upstream: 'mock', input_per_m: '0.500000000', output_per_m: '1.500000000', context_window: 64000,
    capabilities: ['chat', 'tools'], tiers: ['cheap'], quality: { code: 0.7, chat: 0.9 },
  });

  const v = await quietVersion(cp);
  r = await cp.api('/api/models/m-two', { method: 'PATCH', body: { input_per_m: '0.75', context_window: 32000, tiers: ['cheap', 'fast'], quality: { code: 0.8 } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.input_per_m, '0.750000000');
  assert.equal(r.json.output_per_m, '1.500000000', 'unnamed fields keep their value');
  assert.equal(r.json.context_window, 32000);
  assert.deepEqual(r.json.tiers, ['cheap', 'fast']);
  assert.deepEqual(r.json.quality, { code: 0.8 });
  assert.ok((await version()) > v);
  await waitFor(async () => (await dpModel('m-two'))?.input_per_m === '0.750000000', { timeout: slack(3000), what: 'the new price on the node' });
  assert.equal((await dpModel('m-two')).context_window, 32000);

  r = await cp.api('/api/models/m-two', { method: 'PATCH', body: { quality: null, capabilities: ['chat', 'json'] } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.quality, null);
  assert.deepEqual(r.json.capabilities, ['chat', 'json']);
});

test('catalog edits: validation errors name the field, unknown ids are 404, nothing changes', async () => {
  const before = (await cp.api('/api/models/m-ok')).json;
  const v = await quietVersion(cp);
  const patch = (body) => cp.api('/api/models/m-ok', { method: 'PATCH', body });
  assertError(await patch('nope'), 400);
  assertError(await patch({}), 400);
  assertError(await patch({ provider: 'other' }), 400, { param: 'provider' });
  for (const x of [1.5, '-1', 'free', '0.0000000001']) assertError(await patch({ input_per_m: x }), 400, { param: 'input_per_m' });
  assertError(await patch({ output_per_m: null }), 400, { param: 'output_per_m' });
  assertError(await patch({ context_window: -1 }), 400, { param: 'context_window' });
  assertError(await patch({ context_window: null }), 400, { param: 'context_window' });
  assertError(await patch({ context_window: 4294967296 }), 400, { param: 'context_window' });
  assertError(await patch({ capabilities: ['teleport'] }), 400, { param: 'capabilities' });
  assertError(await patch({ capabilities: 'chat' }), 400, { param: 'capabilities' });
  assertError(await patch({ tiers: [1] }), 400, { param: 'tiers' });
  assertError(await patch({ tiers: ['has space'] }), 400, { param: 'tiers' });
  assertError(await patch({ quality: { code: 2 } }), 400, { param: 'quality' });
  assertError(await patch({ quality: { poetry: 0.5 } }), 400, { param: 'quality' });
  assertError(await patch({ quality: [0.5] }), 400, { param: 'quality' });
  assertError(await patch({ upstream: 'a b' }), 400, { param: 'upstream' });
  assertError(await patch({ upstream: '' }), 400, { param: 'upstream' });
  assert.equal(await version(), v);
  assert.deepEqual((await cp.api('/api/models/m-ok')).json, before);
  assertError(await cp.api('/api/models/nope'), 404, { code: 'not_found' });
  assertError(await cp.api('/api/models/nope', { method: 'PATCH', body: { input_per_m: '1' } }), 404, { code: 'not_found' });
});

test('catalog reload on request and on SIGHUP; a bad file changes nothing', async () => {
  const edited = structuredClone(catalog);
  // m-two was edited through the API above: a reload of the original file would revert it, so it
  // is refused (409, docs/controlplane.md); a file that agrees with the edit imports
  let r0 = await cp.api('/api/catalog/reload', { method: 'POST' });
  assert.equal(r0.status, 409, r0.text);
  assert.deepEqual(r0.json.conflicts.map((c) => c.id), ['m-two']);
  const two = (await cp.api('/api/models/m-two')).json;
  Object.assign(edited.models[1], { input_per_m: two.input_per_m, output_per_m: two.output_per_m, context_window: two.context_window, capabilities: two.capabilities, tiers: two.tiers });
  delete edited.models[1].quality;
  edited.models.push({ id: 'm-three', provider: 'mock', upstream: 'mock', input_per_m: '3.00', output_per_m: '4.00', capabilities: ['chat'] });
  fs.writeFileSync(cp.catalogFile, JSON.stringify(edited));
  let r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  assert.ok((await version()) >= r.json.version); // (background writers may have moved it on since)
  assert.equal((await cp.api('/api/models/m-three')).json.input_per_m, '3.000000000');
  await waitFor(async () => (await chat(keyForModels, 'm-three')).status === 200, { timeout: slack(3000), what: 'm-three on the node' });

  const v = await quietVersion(cp);
  const models = (await cp.api('/api/models')).json;
  fs.writeFileSync(cp.catalogFile, '{"providers": [ {"id": "broken" ');
  r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assertError(r, 400);
  edited.models.push({ id: 'm-bad', provider: 'no-such-provider', upstream: 'x' });
  fs.writeFileSync(cp.catalogFile, JSON.stringify(edited));
  r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assertError(r, 400);
  assert.match(r.json.error.message, /m-bad.*no-such-provider|no-such-provider/);
  assert.equal(await version(), v, 'a rejected file does not bump the version');
  assert.deepEqual((await cp.api('/api/models')).json, models);

  edited.models.pop();
  edited.models.push({ id: 'm-four', provider: 'mock', upstream: 'mock', input_per_m: '0.01', output_per_m: '0.02' });
  fs.writeFileSync(cp.catalogFile, JSON.stringify(edited));
  cp.proc.signalProc('SIGHUP');
  await waitFor(async () => (await cp.api('/api/models/m-four')).status === 200, { timeout: slack(3000), what: 'm-four after SIGHUP' });
  await waitFor(async () => (await chat(keyForModels, 'm-four')).status === 200, { timeout: slack(3000), what: 'm-four on the node' });
});

test('a canary key never appears in clear after creation: database, logs, responses, upstream', async () => {
  let r = await cp.api('/api/workspaces/ws_a/keys', { method: 'POST', body: { name: 'canary', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  const { id, key } = r.json;
  const body = key.slice(10); // what the display prefix does not show
  await waitFor(async () => (await chat(key, 'm-ok')).status === 200, { timeout: slack(3000), what: 'the canary on the node' });
  assert.equal((await chat(key + 'x', 'm-ok')).status, 401);
  assert.equal((await chat(key.slice(0, -1), 'm-ok')).status, 401);
  const responses = [];
  for (const p of [`/api/keys/${id}`, '/api/workspaces/ws_a/keys', '/api/nodes', '/api/providers']) responses.push((await cp.api(p)).text);
  r = await cp.api(`/api/keys/${id}`, { method: 'PATCH', body: { name: 'canary, edited' } });
  responses.push(r.text);
  responses.push((await cp.api(`/api/keys/${id}/revoke`, { method: 'POST' })).text);
  await waitFor(async () => (await chat(key, 'm-ok')).status === 401, { timeout: slack(3000), what: 'the revoked canary refused' });
  responses.push((await chat(key, 'm-ok')).text);
  const metrics = await httpRequest(`${dp.url}/metrics`);
  responses.push(metrics.text);

  const dbBytes = Buffer.concat([cp.db, cp.db + '-wal'].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
  const places = {
    responses: responses.join('\n'),
    'control-plane log': cp.proc.stdout + cp.proc.stderr,
    'data-plane log': dp.proc.stdout + dp.proc.stderr,
    'mock provider log (what went upstream)': fs.readFileSync(mock.logFile, 'utf8'),
  };
  for (const [where, text] of Object.entries(places)) {
    assert.ok(!text.includes(key), `the canary key is in the ${where}`);
    assert.ok(!text.includes(body), `the canary key's secret part is in the ${where}`);
  }
  assert.equal(dbBytes.indexOf(Buffer.from(key)), -1, 'the canary key is in the database');
  assert.equal(dbBytes.indexOf(Buffer.from(body)), -1, "the canary key's secret part is in the database");
  assert.ok(cp.proc.stderr.includes(id), 'the control plane logs the key id (so the search above looked at a real log)');
});
