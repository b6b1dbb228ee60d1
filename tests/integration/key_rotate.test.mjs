// Key rotation (POST /api/keys/{id}/rotate) end to end: one control plane, two bus-mode data
// planes, the official openai SDK. A new secret for the same key id works on every node; the
// old one keeps working during its grace and is refused (401 invalid_api_key) on every node once
// the grace ends, with no further admin action; without a grace it is refused as quickly as a
// revocation. Usage stays with the key id; a revoked key cannot be rotated; the grace is
// bounded; neither secret ever appears in the database, the logs or a later answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { OpenAI, makeTempDir, waitFor, slack, sleep, httpRequest, startMock, startCp, startBusDp, stopAll, quietVersion, assertApiError } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
let tmp, mock, cp;
const dps = [];
const secrets = []; // every secret this file saw: searched for in the DB and logs at the end
const answers = []; // every admin answer after the one that showed a secret

function client(dp, apiKey) {
  return new OpenAI({ apiKey, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(20000) });
}

/** 200 or the SDK error's status (401 for an unknown or expired secret). */
async function status(dp, apiKey) {
  try {
    const r = await client(dp, apiKey).chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(r.choices.length > 0);
    return 200;
  } catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.status === undefined) throw e;
    if (e.status === 401) {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.code, 'invalid_api_key');
    }
    return e.status;
  }
}

async function onEveryNode(key, want, what, { timeout = slack(3000), interval = 10 } = {}) {
  await Promise.all(dps.map((d) => waitFor(async () => (await status(d, key)) === want, { timeout, interval, what: `${what} on ${d.proc.name}` })));
}

async function newKey(name) {
  const r = await cp.api('/api/workspaces/ws_rot/keys', { method: 'POST', body: { name, allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  secrets.push(r.json.key);
  return r.json;
}

async function rotate(id, body) {
  const r = await cp.api(`/api/keys/${id}/rotate`, { method: 'POST', body });
  if (r.status === 200) {
    assert.match(r.json.key, /^sk-sy-[0-9a-f]{64}$/);
    secrets.push(r.json.key);
  } else {
    answers.push(r.text);
  }
  return r;
}

before(async () => {
  tmp = makeTempDir('sy-keyrot-');
  mock = await startMock({ dir: tmp.dir });
  const catalog = {
    timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] }],
    workspaces: [{ id: 'ws_rot', active: true }],
    keys: [],
  };
  // a short balance refresh: usage of this file's requests reaches its versioned write quickly,
  // so quietVersion() windows are not crossed by a late refresh
  cp = await startCp({ dir: tmp.dir, catalog, args: ['--balance-refresh-ms', '200'] });
  for (let i = 0; i < 2; i++) dps.push(await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, name: `switchyard-dp-${i}` }));
  const c = await cp.api('/api/workspaces/ws_rot/credits', { method: 'POST', body: { amount_usd: '100', reference: 'it-ws_rot' } });
  assert.equal(c.status, 201, c.text);
});

after(() => stopAll([...dps.map((d) => d.proc), cp?.proc, mock?.proc], tmp));

/** What a node asks about a secret without a model call (so without usage, balance refreshes
 * and the snapshots they bring): 200, or 401 for an unknown or expired secret. */
async function authStatus(dp, apiKey) {
  try {
    const page = await client(dp, apiKey).models.list();
    assert.ok(page.data.some((m) => m.id === 'm-ok'));
    return 200;
  } catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.status === undefined) throw e;
    if (e.status === 401) assert.equal(e.code, 'invalid_api_key');
    return e.status;
  }
}

async function nodeVersion(dp) {
  const m = (await httpRequest(`${dp.url}/metrics`)).text.match(/^switchyard_config_version (\d+)$/m);
  assert.ok(m, 'switchyard_config_version missing');
  return Number(m[1]);
}

test('rotation with a grace: both secrets work on every node, the old one stops by itself when the grace ends', async () => {
  const k = await newKey('graceful');
  const oldKey = k.key;
  await onEveryNode(oldKey, 200, 'the new key');
  await quietVersion(cp); // the usage of those requests has reached its snapshot

  const GRACE_S = Math.max(2, Math.round(slack(2000) / 1000)); // 2 s (6 s under the sanitizers)
  const r = await rotate(k.id, { grace_seconds: GRACE_S });
  const tRotate = Date.now();
  assert.equal(r.status, 200, r.text);
  const fresh = r.json.key;
  assert.notEqual(fresh, oldKey);
  assert.equal(r.json.id, k.id, 'the same key id');
  assert.equal(r.json.workspace_id, 'ws_rot');
  assert.equal(r.json.prefix, fresh.slice(0, 10) + '\u2026', "the prefix is the new secret's");
  assert.equal(r.json.previous_prefix, k.prefix);
  assert.ok(Math.abs(r.json.previous_valid_until_ms - (tRotate + GRACE_S * 1000)) < 2000, r.text);
  assert.equal(r.json.revoked, false);
  const { version } = (await cp.api('/api/snapshot/version')).json;

  // the new secret on every node; the old one still works there (within the grace). Model
  // listings authenticate like model calls but record no usage, so no snapshot follows.
  await Promise.all(dps.map((d) => waitFor(async () => (await authStatus(d, fresh)) === 200, { timeout: slack(3000), interval: 10, what: `the rotated secret on ${d.proc.name}` })));
  for (const d of dps) assert.equal(await authStatus(d, oldKey), 200, `the old secret within its grace on ${d.proc.name}`);
  assert.ok(Date.now() - tRotate < GRACE_S * 1000, `checked within the grace (${Date.now() - tRotate} ms after the rotation)`);
  for (const d of dps) assert.equal(await nodeVersion(d), version, `${d.proc.name} serves the rotation's snapshot`);

  // the key's public view: new prefix, no secret
  const g = await cp.api(`/api/keys/${k.id}`);
  assert.equal(g.status, 200, g.text);
  answers.push(g.text);
  assert.equal(g.json.prefix, r.json.prefix);
  assert.equal(g.json.key, undefined);

  // the grace ends: 401 on every node with no admin action and no new snapshot (each node
  // checks the wall clock against the snapshot's end of grace)
  const wait = r.json.previous_valid_until_ms - Date.now();
  if (wait > 0) await sleep(wait);
  await Promise.all(dps.map((d) => waitFor(async () => (await authStatus(d, oldKey)) === 401, { timeout: slack(1000), interval: 10, what: `the old secret refused after its grace on ${d.proc.name}` })));
  const late = Date.now() - r.json.previous_valid_until_ms;
  console.log(`old secret refused on both nodes ${late} ms after its grace ended`);
  for (const d of dps) assert.equal(await nodeVersion(d), version, `${d.proc.name} refused it from the same snapshot that let it in`);
  for (const d of dps) assert.equal(await status(d, oldKey), 401, `a model call with the old secret on ${d.proc.name}`);
  for (const d of dps) assert.equal(await status(d, fresh), 200, `the new secret after the grace on ${d.proc.name}`);

  // usage, and so spend and budgets, stay with the key id: both secrets' model calls are one key's
  await waitFor(
    async () => {
      const u = await cp.api('/api/workspaces/ws_rot/usage?from=0&group_by=key');
      const row = u.json.data.find((x) => x.key_id === k.id);
      return row && row.requests >= 4 ? u.json : null;
    },
    { timeout: slack(5000), what: 'usage of both secrets under the one key id' },
  );
});

test('rotation without a grace: the old secret is refused on every node as quickly as a revocation', async () => {
  const k = await newKey('immediate');
  await onEveryNode(k.key, 200, 'the new key');
  const r = await rotate(k.id, undefined); // no body at all: grace 0
  assert.equal(r.status, 200, r.text);
  const t0 = performance.now();
  assert.equal(r.json.previous_prefix, null);
  assert.equal(r.json.previous_valid_until_ms, null);
  await onEveryNode(k.key, 401, 'the replaced secret', { interval: 5 });
  const ms = performance.now() - t0;
  console.log(`replaced secret refused on both nodes ${ms.toFixed(1)} ms after the API's answer`);
  assert.ok(ms < 1000, `took ${ms.toFixed(1)} ms`);
  await onEveryNode(r.json.key, 200, 'the rotated secret');

  // {"grace_seconds": 0} is the same
  const r2 = await rotate(k.id, { grace_seconds: 0 });
  assert.equal(r2.status, 200, r2.text);
  await onEveryNode(r.json.key, 401, 'the second replaced secret');
  await onEveryNode(r2.json.key, 200, 'the second rotated secret');
});

test('scope, budget and limits stay with the key id: a rate limit used up by the old secret holds for the new one', async () => {
  const k = await newKey('limited');
  let r = await cp.api(`/api/keys/${k.id}`, { method: 'PATCH', body: { rpm: 1, budget_usd: '5.50', tpm: 100000 } });
  assert.equal(r.status, 200, r.text);
  answers.push(r.text);
  const patched = r.json;
  const node = dps[0];
  // rpm 1 is one request a minute on every node whatever the fleet size: once the node has the
  // limit, the old secret uses it up
  await waitFor(async () => (await status(node, k.key)) === 429, { timeout: slack(3000), what: 'the rpm limit on the node' });
  r = await rotate(k.id, {});
  assert.equal(r.status, 200, r.text);
  for (const f of ['budget_usd', 'rpm', 'tpm', 'allowed_models', 'name', 'workspace_id', 'created_at', 'expires_at', 'revoked']) assert.deepEqual(r.json[f], patched[f], f);
  assert.equal(r.json.budget_usd, '5.500000000');
  assert.equal(r.json.rpm, 1);
  let st;
  await waitFor(async () => (st = await status(node, r.json.key)) !== 401, { timeout: slack(3000), what: 'the new secret on the node' });
  assert.equal(st, 429, 'the new secret starts from the key\'s used-up rate limit, not a fresh one');
});

test('rotating twice keeps at most one old secret: the newest and the one it replaced', async () => {
  const k = await newKey('twice');
  await onEveryNode(k.key, 200, 'the new key');
  const a = await rotate(k.id, { grace_seconds: 600 });
  assert.equal(a.status, 200, a.text);
  await onEveryNode(a.json.key, 200, 'the first rotation');
  const b = await rotate(k.id, { grace_seconds: 600 });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.previous_prefix, a.json.prefix);
  await onEveryNode(k.key, 401, 'the original secret (two rotations ago)');
  for (const d of dps) {
    assert.equal(await status(d, b.json.key), 200);
    assert.equal(await status(d, a.json.key), 200, 'the previous secret, within its grace');
  }
});

test('a revoked key stays revoked: rotating it is refused, and its grace secret dies with it', async () => {
  const k = await newKey('doomed');
  const a = await rotate(k.id, { grace_seconds: 600 });
  assert.equal(a.status, 200, a.text);
  await onEveryNode(k.key, 200, 'the old secret in its grace');
  await onEveryNode(a.json.key, 200, 'the new secret');
  let r = await cp.api(`/api/keys/${k.id}/revoke`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  await onEveryNode(a.json.key, 401, 'the revoked key (new secret)');
  await onEveryNode(k.key, 401, 'the revoked key (old secret, grace not over)');

  const v = await quietVersion(cp);
  r = await rotate(k.id, { grace_seconds: 60 });
  assertApiError(r, 400, { code: 'invalid_request_error' });
  assert.match(r.json.error.message, /revoked/);
  assert.equal((await cp.api('/api/snapshot/version')).json.version, v, 'a refused rotation writes nothing');
  const g = await cp.api(`/api/keys/${k.id}`);
  assert.equal(g.json.revoked, true);
  assert.equal(g.json.prefix, a.json.prefix);
  answers.push(g.text);
  for (const d of dps) assert.equal(await status(d, a.json.key), 401);
});

test('validation: unknown key 404, grace bounds 0..604800 (7 days), unknown fields, bad JSON, operator token', async () => {
  const k = await newKey('validated');
  const v = await quietVersion(cp);
  assertApiError(await rotate('key_nowhere', {}), 404, { code: 'not_found' });
  for (const bad of [-1, 604801, 1.5, '10', true, 1e300]) {
    assertApiError(await rotate(k.id, { grace_seconds: bad }), 400, { code: 'invalid_request_error', param: 'grace_seconds' });
  }
  assertApiError(await rotate(k.id, { grace: 10 }), 400, { param: 'grace' });
  assertApiError(await rotate(k.id, '{"grace_seconds":'), 400, { code: 'invalid_request_error' });
  assertApiError(await rotate(k.id, '[]'), 400, { code: 'invalid_request_error' });
  let r = await cp.api(`/api/keys/${k.id}/rotate`, { method: 'POST', body: { grace_seconds: 10 }, token: null });
  assertApiError(r, 401, { code: 'invalid_api_key' });
  r = await cp.api(`/api/keys/${k.id}/rotate`, { method: 'POST', body: { grace_seconds: 10 }, token: 'op-wrong' });
  assertApiError(r, 401, { code: 'invalid_api_key' });
  r = await cp.api(`/api/keys/${k.id}/rotate`, { method: 'GET' });
  assertApiError(r, 405);
  answers.push(r.text);
  assert.equal((await cp.api('/api/snapshot/version')).json.version, v, 'nothing was written');
  for (const d of dps) assert.equal(await status(d, k.key), 200, 'the key still works with its only secret');

  r = await rotate(k.id, { grace_seconds: 604800 });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.previous_valid_until_ms - Date.now() > 604790000, r.text);
  r = await rotate(k.id, { grace_seconds: null }); // null = the default, no grace
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.previous_valid_until_ms, null);
});

test('no secret in clear: database and WAL, both services\' logs, later answers, /metrics', async () => {
  assert.ok(secrets.length >= 10, `secrets seen: ${secrets.length}`);
  const r = await cp.api('/api/workspaces/ws_rot/keys');
  assert.equal(r.status, 200, r.text);
  answers.push(r.text);
  for (const k of r.json.data) assert.equal(k.key, undefined, 'a listing shows no secret');
  for (const d of dps) answers.push((await httpRequest(`${d.url}/metrics`)).text);
  const dbBytes = Buffer.concat([cp.db, cp.db + '-wal'].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
  const places = {
    'later answers': answers.join('\n'),
    'control-plane log': cp.proc.stdout + cp.proc.stderr,
    'mock provider log (what went upstream)': fs.readFileSync(mock.logFile, 'utf8'),
  };
  for (const d of dps) places[`${d.proc.name} log`] = d.proc.stdout + d.proc.stderr;
  for (const key of secrets) {
    const body = key.slice(10); // what the display prefix does not show
    for (const [where, text] of Object.entries(places)) {
      assert.ok(!text.includes(body), `a secret is in the ${where}`);
    }
    assert.equal(dbBytes.indexOf(Buffer.from(key)), -1, 'a secret is in the database');
    assert.equal(dbBytes.indexOf(Buffer.from(body)), -1, "a secret's hidden part is in the database");
  }
  assert.match(cp.proc.stderr, /msg="key rotated"/, 'the control plane logs rotations (so the search above looked at a real log)');
});
