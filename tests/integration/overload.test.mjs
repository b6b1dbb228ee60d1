// Fault matrix H2: load at twice a node's capacity (docs/dataplane.md, "Overload"). A control
// plane, a bus-mode data plane with limits.max_inflight = 20, the mock answering after 1 s, a
// prepaid workspace whose key has a (high) rate limit so that the rate limiter counts every
// request that reaches it. What bounds the node is the in-flight cap: past it a model request
// gets 503 `overloaded` with `retry-after: 1` at once, before authentication, rate limits,
// reservation or any upstream work, and is billed nothing.
//   1. 20 slow requests fill the cap; 20 more (chat, stream, the Anthropic dialect, the SDK) are
//      refused in milliseconds with the dialect's error shape; the mock, the rate limiter and
//      the reservations saw only the 20; /healthz and /metrics still answer; the admitted 20
//      succeed.
//   2. 8 s of arrivals at 40 requests/s (twice what 20 slots of 1 s serve; ASan: 3 s and 13/s), half streamed: the
//      excess gets fast 503s (p99 far below the served requests' latency), served latency does
//      not collapse (p99 within 1 s + slack of the upstream's 1 s), RSS stays bounded.
//   Both end with exact billing: one usage record per served request, none for a refusal,
//   checkLedger.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { OpenAI, TIME_SCALE, makeTempDir, startMock, startCp, startBusDp, checkLedger, waitFor, slack, sleep, httpRequest, parseMetrics, rssKiB, assertOpenAIError, stopAll } from './lib/harness.mjs';

const CAP = 20;
const UPSTREAM_MS = Math.round(1000 * TIME_SCALE); // x3 under ASan: the same 2x ratio, refusals still small next to it
const WS = 'ws_load';
let tmp, mock, cp, dp, key;
let served = 0; // requests the client saw succeed, for checkLedger

function catalog() {
  const m = (id, upstream) => ({ id, provider: 'mock', upstream, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] });
  return {
    timeouts_ms: { connect: 1000, first_byte: 5000, idle: 5000, total: 30000 },
    limits: { max_attempts: 1, max_inflight: CAP },
    providers: [
      { id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
      { id: 'anth', kind: 'anthropic', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
    ],
    models: [m('m-slow', `mock+ttft_ms=${UPSTREAM_MS}`), m('m-slow-stream', `mock+ttft_ms=${UPSTREAM_MS}+chunks=4`)],
    workspaces: [],
    keys: [],
  };
}

async function metrics() {
  const r = await httpRequest(`${dp.url}/metrics`);
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

/** One request; resolves { status, ms, headers, text, json, ok } (ok: a complete answer). */
async function call({ stream = false, dialect = 'openai' } = {}) {
  const t0 = performance.now();
  const anth = dialect === 'anthropic';
  const r = await httpRequest(`${dp.url}${anth ? '/v1/messages' : '/v1/chat/completions'}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: stream ? 'm-slow-stream' : 'm-slow', stream, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }),
    timeout: slack(20000),
  });
  const ms = performance.now() - t0;
  let ok = false;
  if (r.status === 200) ok = stream ? /data: \[DONE\]\n\n$/.test(r.text) : anth ? r.json?.type === 'message' : !!r.json?.choices?.[0]?.message;
  return { ...r, ms, ok };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

async function usageTotal() {
  const r = await cp.api(`/api/workspaces/${WS}/usage?from=0`);
  assert.equal(r.status, 200, r.text);
  return r.json.total ?? { requests: 0, errors: 0 };
}

/** Waits for the usage records of `n` served requests, then checks there is not one more. */
async function billedExactly(n) {
  await waitFor(async () => Number((await usageTotal()).requests) >= n, { timeout: slack(20000), interval: 100, what: `${n} usage records` });
  await waitFor(async () => (await metrics()).get('switchyard_usage_records_pending') === 0, { timeout: slack(10000), what: 'nothing pending on the node' });
  const t = await usageTotal();
  assert.equal(Number(t.requests), n, 'one usage record per served request, none for a refusal');
  assert.equal(Number(t.errors), 0);
  await checkLedger(cp, { okRequests: { [WS]: n } });
}

before(async () => {
  tmp = makeTempDir('sy-overload-');
  mock = await startMock({ dir: tmp.dir, threads: 2 });
  cp = await startCp({ dir: tmp.dir, catalog: catalog() });
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id: WS, name: WS } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api(`/api/workspaces/${WS}/credits`, { method: 'POST', body: { amount_usd: '100', reference: 'it-load' } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api(`/api/workspaces/${WS}/keys`, { method: 'POST', body: { name: 'k', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  key = r.json.key;
  const p = await cp.api(`/api/keys/${r.json.id}`, { method: 'PATCH', body: { rpm: 100000 } });
  assert.equal(p.status, 200, p.text);
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'mock-load' }, threads: 2, args: ['--spool-dir', path.join(tmp.dir, 'spool')] });
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).headers['x-ratelimit-limit'] === '100000', { timeout: slack(5000), what: 'the key and its rate limit on the node' });
  await waitFor(async () => (await metrics()).get('switchyard_inflight_limit') === CAP, { what: `switchyard_inflight_limit = ${CAP}` });
});

after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

test(`${CAP} requests fill the cap; the excess gets 503 overloaded at once, before any admission or upstream work`, async () => {
  // what one admitted request reserves (same max_tokens; a streamed body is a byte shorter)
  const reservePer = {};
  let m0, m1;
  for (const stream of [false, true]) {
    m0 = await metrics();
    const one = await call({ stream });
    assert.ok(one.ok, one.text);
    served++;
    m1 = await metrics();
    reservePer[stream] = m1.get('switchyard_reserve_reserved_nano_total') - m0.get('switchyard_reserve_reserved_nano_total');
    assert.ok(reservePer[stream] > 0, 'a request reserves its worst case');
  }

  m0 = await metrics();
  const mock0 = (await mock.stats()).requests;
  const admitted = Array.from({ length: CAP }, (_, i) => call({ stream: i % 2 === 1 }));
  await waitFor(async () => (await metrics()).get('switchyard_inflight_admitted') === CAP, { what: `${CAP} requests past the gate` });

  // the excess: every dialect and shape, all refused before anything else happens
  const excess = await Promise.all(Array.from({ length: CAP - 4 }, (_, i) => call({ stream: i % 2 === 1 })));
  const anth = await call({ dialect: 'anthropic' });
  const t0 = performance.now();
  const sdkErr = await new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'm-slow', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  const sdkMs = performance.now() - t0;
  const noKey = await httpRequest(`${dp.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const health = await httpRequest(`${dp.url}/healthz`);
  const during = await metrics();

  for (const r of excess) {
    assertOpenAIError(r, { status: 503, code: 'overloaded', type: 'server_error' }, 'past the cap');
    assert.equal(r.headers['retry-after'], '1', 'retry-after on the refusal');
    assert.ok(r.ms < slack(300), `refused in ${r.ms.toFixed(1)} ms`);
  }
  assert.equal(anth.status, 503, anth.text);
  assert.equal(anth.json?.type, 'error', anth.text);
  assert.equal(anth.json?.error?.type, 'overloaded_error', 'the Anthropic dialect says overloaded_error');
  assert.equal(anth.headers['retry-after'], '1');
  assert.ok(sdkErr instanceof OpenAI.APIError && sdkErr.status === 503, `the SDK raises a 503: ${sdkErr}`);
  assert.equal(sdkErr.code, 'overloaded');
  assert.ok(sdkMs < slack(300), `SDK refused in ${sdkMs.toFixed(1)} ms`);
  assertOpenAIError(noKey, { status: 503, code: 'overloaded' }, 'the cap comes before authentication: no work for a keyless request either');
  assert.equal(health.status, 200, '/healthz answers at the cap');
  assert.equal(during.get('switchyard_inflight_admitted'), CAP);

  const done = await Promise.all(admitted);
  for (const r of done) assert.ok(r.ok && r.ms >= UPSTREAM_MS - 50, `admitted request: ${r.status} in ${r.ms} ms ${r.text.slice(0, 200)}`);
  served += done.length;

  m1 = await metrics();
  const refused = CAP - 4 + 3;
  const d = (k) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
  assert.equal(d('switchyard_overload_refused_total'), refused, 'every refusal counted');
  assert.equal((await mock.stats()).requests - mock0, CAP, 'only the admitted requests reached the upstream');
  assert.equal(d('switchyard_ratelimit_admitted_total'), CAP, 'refused requests never reached the rate limiter (they consume no rate-limit tokens)');
  assert.equal(d('switchyard_reserve_reserved_nano_total'), (CAP / 2) * (reservePer[false] + reservePer[true]), 'refused requests reserved nothing');
  assert.equal(m1.get('switchyard_reserve_open'), 0);
  await waitFor(async () => (await metrics()).get('switchyard_inflight_admitted') === 0, { what: 'the gate empty again' });
  assert.equal(d('switchyard_requests_total{status="503",model="",provider=""}'), refused, 'refusals are counted as 503s with no model');
  console.log(`overload burst: ${CAP} admitted in ${pct(done.map((r) => r.ms), 50).toFixed(0)} ms (median); ${refused} refused in p50 ${pct(excess.map((r) => r.ms), 50).toFixed(1)} ms, max ${Math.max(...excess.map((r) => r.ms)).toFixed(1)} ms`);
  await billedExactly(served);
});

test('8 s at twice the capacity (arrivals at 2 x cap / upstream latency): fast 503s, no latency collapse, bounded RSS, exact billing', async () => {
  const RATE = (2 * CAP * 1000) / UPSTREAM_MS; // arrivals per second
  const SECONDS = 8;
  const rss0 = rssKiB(dp.proc.pid);
  let rssMax = rss0;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssKiB(dp.proc.pid))), 200);
  const mock0 = (await mock.stats()).requests;
  const m0 = await metrics();
  const jobs = [];
  const start = performance.now();
  for (let i = 0; i < RATE * SECONDS; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    jobs.push(call({ stream: i % 2 === 1 }));
  }
  const res = await Promise.all(jobs);
  clearInterval(sampler);
  const m1 = await metrics();
  const ok = res.filter((r) => r.ok);
  const refused = res.filter((r) => r.status === 503);
  const other = res.filter((r) => !r.ok && r.status !== 503);
  assert.deepEqual(other.map((r) => `${r.status} ${r.text.slice(0, 120)}`), [], 'every request either served or refused with 503');
  for (const r of refused) {
    assert.equal(r.json?.error?.code, 'overloaded', r.text);
    assert.equal(r.headers['retry-after'], '1');
  }
  const okP = [50, 99].map((p) => pct(ok.map((r) => r.ms), p));
  const refP = [50, 99].map((p) => pct(refused.map((r) => r.ms), p));
  const cap = m1.get('switchyard_inflight_limit');
  const refusedMetric = m1.get('switchyard_overload_refused_total') - m0.get('switchyard_overload_refused_total');
  console.log(
    `overload 2x: ${res.length} arrivals in ${SECONDS} s, ${ok.length} served (p50 ${okP[0].toFixed(0)} ms, p99 ${okP[1].toFixed(0)} ms), ` +
      `${refused.length} refused (p50 ${refP[0].toFixed(1)} ms, p99 ${refP[1].toFixed(1)} ms); RSS ${rss0} -> max ${rssMax} KiB`,
  );
  // about half served: the cap admits CAP per upstream round trip
  assert.ok(ok.length >= 0.35 * res.length && ok.length <= 0.65 * res.length, `served ${ok.length} of ${res.length}`);
  assert.equal(refusedMetric, refused.length, 'every refusal counted');
  assert.equal(cap, CAP);
  assert.ok(refP[1] < slack(100), `refusals are fast: p99 ${refP[1]} ms`);
  assert.ok(refP[1] * 5 < okP[0], 'refusals take a fraction of a served request');
  assert.ok(okP[1] < UPSTREAM_MS + slack(1000), `served latency does not collapse: p99 ${okP[1]} ms`);
  assert.ok(rssMax - rss0 < 32 * 1024, `RSS bounded: +${rssMax - rss0} KiB`);
  assert.equal((await mock.stats()).requests - mock0, ok.length, 'only served requests reached the upstream');
  served += ok.length;
  await billedExactly(served);
});
