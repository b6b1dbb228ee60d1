// Rate limits across a fleet (docs/admission.md): one control plane, two bus-mode data planes,
// the mock. A key at 60 requests/minute gets ~60 across BOTH nodes (30 each: the share is
// ceil(60 / live nodes), burst = the share), not 120; every 429 is OpenAI-shaped with
// retry-after and the SDK raises RateLimitError; every response carries the x-ratelimit-*
// headers; with one node stopped the live-node count drops, the version is bumped and the
// other node gets the whole limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAI, makeTempDir, waitFor, slack, httpRequest, startMock, startCp, startBusDp, parseMetrics, stopAll } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-rl';
const LIMIT = 60;
let tmp, mock, cp;
const dps = [];
const keys = {};

const SHORT = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
const LONG = ['requests', 'tokens'].flatMap((k) => [`x-ratelimit-limit-${k}`, `x-ratelimit-remaining-${k}`, `x-ratelimit-reset-${k}`]);

function assertRateHeaders(headers, ctx) {
  for (const h of [...SHORT, ...LONG]) assert.ok(headers[h] !== undefined && headers[h] !== '', `${ctx}: header ${h} missing`);
}

async function metric(dp, name) {
  const r = await httpRequest(`${dp.url}/metrics`);
  const m = parseMetrics(r.text);
  return m.get(name);
}

function chat(dp, key, extra = {}) {
  return httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16, ...extra }),
  });
}

/** `n` concurrent requests to `dp` with `key`; returns the responses. */
function blast(dp, key, n) {
  return Promise.all(Array.from({ length: n }, () => chat(dp, key)));
}

async function createKey(name, patch) {
  const r = await cp.api('/api/workspaces/ws_rl/keys', { method: 'POST', body: { name, allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  if (patch) {
    const p = await cp.api(`/api/keys/${r.json.id}`, { method: 'PATCH', body: patch });
    assert.equal(p.status, 200, p.text);
  }
  return r.json.key;
}

before(async () => {
  tmp = makeTempDir('sy-rl-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '0', output_per_m: '0', context_window: 128000, capabilities: ['chat'] }],
      workspaces: [],
      keys: [],
    },
  });
  for (let i = 0; i < 2; i++) dps.push(await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, name: `switchyard-dp-${i}` }));
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id: 'ws_rl', name: 'rl' } });
  assert.equal(r.status, 201, r.text);
  keys.a = await createKey('a', { rpm: LIMIT });
  keys.b = await createKey('b', { rpm: LIMIT });
  keys.free = await createKey('free');
  keys.tok = await createKey('tok', { rpm: 1000, tpm: 100000 });
  // both nodes serve the keys (a models listing only looks: it charges nothing) and divide by 2
  for (const dp of dps) {
    await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${keys.tok}` } })).status === 200, { timeout: slack(5000), what: 'keys on both nodes' });
    await waitFor(async () => (await metric(dp, 'switchyard_ratelimit_live_nodes')) === 2, { timeout: slack(8000), what: 'live_nodes = 2 on both nodes' });
  }
});

after(() => stopAll([...dps.map((d) => d.proc), cp?.proc, mock?.proc], tmp));

let some429;

test('60 rpm across two nodes admits ~60 (30 per node), not 120; every 429 is well-formed', async () => {
  const t0 = Date.now();
  const [r0, r1] = await Promise.all(dps.map((dp) => blast(dp, keys.a, 100)));
  const elapsed = Date.now() - t0;
  const ok = [r0, r1].map((rs) => rs.filter((r) => r.status === 200).length);
  const total = ok[0] + ok[1];
  // bound (docs/admission.md): ceil(60/2) per node at once, plus what each node's share
  // refills while the burst runs (one request per 2 s per node)
  const refill = 2 * (Math.floor(elapsed / 2000) + 1);
  console.log(`# admitted ${ok[0]} + ${ok[1]} = ${total} of 200 in ${elapsed} ms (bound ${LIMIT} + ${refill})`);
  for (const n of ok) assert.ok(n >= 30, `a node admitted ${n} < its share 30`);
  assert.ok(total <= LIMIT + refill, `admitted ${total} > ${LIMIT} + ${refill}`);
  for (const r of [...r0, ...r1]) {
    assertRateHeaders(r.headers, `status ${r.status}`);
    assert.equal(r.headers['x-ratelimit-limit'], String(LIMIT));
    if (r.status === 200) continue;
    assert.equal(r.status, 429, r.text);
    assert.match(r.headers['retry-after'] ?? '', /^[1-9][0-9]*$/, 'retry-after in whole seconds');
    assert.ok(Number(r.headers['retry-after']) <= 2, `retry-after ${r.headers['retry-after']} > one refill period`);
    assert.match(r.headers['content-type'], /application\/json/);
    const e = r.json?.error;
    assert.ok(e, r.text);
    assert.equal(e.code, 'rate_limited');
    assert.equal(e.type, 'rate_limit_error');
    assert.ok('param' in e && typeof e.message === 'string' && e.message.length > 0);
    assert.equal(r.headers['x-ratelimit-remaining'], '0');
    some429 = r;
  }
  assert.ok(some429, 'no 429 seen');
  for (const dp of dps) assert.ok((await metric(dp, 'switchyard_ratelimit_refused_total{reason="rate_limited_requests"}')) > 0);
});

test('the openai SDK surfaces RateLimitError with retry-after', async () => {
  const client = new OpenAI({ apiKey: keys.a, baseURL: `${dps[0].url}/v1`, maxRetries: 0 });
  await assert.rejects(
    () => client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'rate_limited');
      assert.ok(Number(e.headers?.get?.('retry-after') ?? e.headers?.['retry-after']) >= 1);
      return true;
    },
  );
});

test('x-ratelimit-* headers on every response: 200, streamed, 401, 404, 429, models, unlimited', async () => {
  const dp = dps[0];
  let r = await chat(dp, keys.tok);
  assert.equal(r.status, 200, r.text);
  assertRateHeaders(r.headers, '200');
  assert.equal(r.headers['x-ratelimit-limit'], '1000');
  assert.equal(r.headers['x-ratelimit-limit-tokens'], '100000');
  assert.ok(Number(r.headers['x-ratelimit-remaining-tokens']) < 50000, 'tokens charged from the estimate (share 50000)');
  assert.match(r.headers['x-ratelimit-reset-requests'], /^[0-9.]+(ms|s)$|^[0-9]+m[0-9]+s$/);
  r = await chat(dp, keys.tok, { stream: true });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /text\/event-stream/);
  assertRateHeaders(r.headers, 'stream');
  assert.equal(r.headers['x-ratelimit-limit-requests'], '1000');
  r = await chat(dp, 'sk-sy-nope');
  assert.equal(r.status, 401);
  assertRateHeaders(r.headers, '401');
  assert.equal(r.headers['x-ratelimit-limit'], 'unlimited');
  r = await httpRequest(`${dp.url}/v1/nowhere`);
  assert.equal(r.status, 404);
  assertRateHeaders(r.headers, '404');
  assertRateHeaders(some429.headers, '429');
  r = await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${keys.b}` } });
  assert.equal(r.status, 200);
  assertRateHeaders(r.headers, 'models');
  assert.equal(r.headers['x-ratelimit-remaining'], '30', 'a listing looks without charging: the full share');
  r = await chat(dp, keys.free);
  assert.equal(r.status, 200);
  assertRateHeaders(r.headers, 'no limit');
  assert.equal(r.headers['x-ratelimit-limit'], 'unlimited');
  assert.equal(r.headers['x-ratelimit-remaining-tokens'], 'unlimited');
  assert.equal(r.headers['access-control-expose-headers'], undefined, 'no Origin: no CORS headers');
  // a browser (it sends Origin) may read them
  const b = await httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys.free}`, 'content-type': 'application/json', origin: 'https://app.example' },
    body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 }),
  });
  assert.equal(b.status, 200);
  assert.match(b.headers['access-control-expose-headers'], /x-ratelimit-remaining-tokens/);
});

test('one node stopped: live nodes drop, version bumps, the other node admits the whole limit', async () => {
  const { json: before } = await cp.api('/api/snapshot/version');
  const t0 = Date.now();
  await dps[1].proc.stop();
  await waitFor(async () => (await metric(dps[0], 'switchyard_ratelimit_live_nodes')) === 1, { timeout: slack(10000), interval: 100, what: 'live_nodes = 1 on the remaining node' });
  const took = Date.now() - t0;
  const { json: after } = await cp.api('/api/snapshot/version');
  assert.ok(after.version > before.version, 'the live-node change is a versioned write');
  const t1 = Date.now();
  const rs = await blast(dps[0], keys.b, 100);
  const elapsed = Date.now() - t1;
  const ok = rs.filter((r) => r.status === 200).length;
  console.log(`# rebalanced ${took} ms after the stop; one node admitted ${ok} of 100 in ${elapsed} ms`);
  assert.ok(ok >= LIMIT, `admitted ${ok} < ${LIMIT}: the share did not grow`);
  assert.ok(ok <= LIMIT + Math.floor(elapsed / 1000) + 1, `admitted ${ok}: above the bound`);
  assert.ok(took < slack(8000), `rebalancing took ${took} ms`);
});
