// Operational endpoints: /healthz, /readyz, /metrics (names, types, and counts that move).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, httpRequest, parseMetrics, postRaw, waitFor } from './lib/harness.mjs';

const s = useStack();
const MESSAGES = [{ role: 'user', content: 'hi' }];

const scrape = async () => {
  const r = await httpRequest(`${s.dp.url}/metrics`);
  assert.equal(r.status, 200);
  return { text: r.text, m: parseMetrics(r.text), headers: r.headers };
};
const chat = (model, extra = {}) => postRaw(s.dp, '/v1/chat/completions', { model, messages: MESSAGES, ...extra }, { key: s.keys.main.key });
const get = (m, k) => m.get(k) ?? 0;

test('/healthz and /readyz answer 200 JSON without a key', async () => {
  for (const p of ['/healthz', '/readyz']) {
    const r = await httpRequest(s.dp.url + p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.equal(typeof r.json.status, 'string');
    assert.ok(r.headers['x-request-id']);
  }
  const head = await httpRequest(`${s.dp.url}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('/metrics exposes the documented families in Prometheus text format', async () => {
  const { text, headers } = await scrape();
  assert.match(headers['content-type'], /^text\/plain/);
  for (const [name, type] of [
    ['switchyard_requests_total', 'counter'],
    ['switchyard_request_duration_seconds', 'histogram'],
    ['switchyard_gateway_overhead_seconds', 'histogram'],
    ['switchyard_upstream_errors_total', 'counter'],
    ['switchyard_inflight_streams', 'gauge'],
    ['switchyard_config_version', 'gauge'],
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `# TYPE ${name} ${type}`);
  }
  assert.match(text, /^switchyard_request_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
  assert.match(text, /^switchyard_gateway_overhead_seconds_bucket\{le="[^"]+"\} \d+$/m);
  assert.match(text, /^switchyard_upstream_errors_total\{kind="[a-z_0-9]+"\} \d+$/m);
  assert.match(text, /^switchyard_inflight_streams \d+$/m);
  const { m } = await scrape();
  assert.equal(m.get('switchyard_config_version'), 1);
  // every sample line parses as "name{labels} number"
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? -?[0-9.eE+-]+$/, `sample line: ${line}`);
  }
});

test('counts move after requests: requests_total, durations, upstream errors', async () => {
  const before = (await scrape()).m;
  for (let i = 0; i < 3; i++) assert.equal((await chat('m-ok')).status, 200);
  assert.equal((await chat('m-500')).status, 502);
  assert.equal((await chat('m-429', { models: ['m-fallback'] })).status, 200);
  assert.equal((await chat('m-dead', { models: ['m-fallback'] })).status, 200);
  assert.equal((await chat('nope')).status, 404);
  await new Promise((r) => setTimeout(r, 50));
  const after = (await scrape()).m;

  const ok = 'switchyard_requests_total{status="200",model="m-ok",provider="mock"}';
  assert.equal(get(after, ok) - get(before, ok), 3, ok);
  const e502 = 'switchyard_requests_total{status="502",model="m-500",provider="mock"}';
  assert.equal(get(after, e502) - get(before, e502), 1, e502);
  const fb = 'switchyard_requests_total{status="200",model="m-fallback",provider="backup"}';
  assert.equal(get(after, fb) - get(before, fb), 2, `${fb} (failovers are counted under the model that served)`);
  const n404 = [...after.entries()].filter(([k]) => k.startsWith('switchyard_requests_total{status="404"')).reduce((a, [, v]) => a + v, 0);
  const b404 = [...before.entries()].filter(([k]) => k.startsWith('switchyard_requests_total{status="404"')).reduce((a, [, v]) => a + v, 0);
  assert.ok(n404 - b404 >= 1, '404s are counted');

  for (const [kind, n] of [
    ['status_5xx', 1],
    ['status_429', 1],
    ['connect', 1],
  ]) {
    const k = `switchyard_upstream_errors_total{kind="${kind}"}`;
    assert.equal(get(after, k) - get(before, k), n, k);
  }
  for (const h of ['switchyard_request_duration_seconds', 'switchyard_gateway_overhead_seconds']) {
    const d = get(after, `${h}_count`) - get(before, `${h}_count`);
    assert.ok(d >= 7, `${h}_count grew by ${d}`);
    assert.ok(get(after, `${h}_sum`) >= get(before, `${h}_sum`));
    assert.equal(get(after, `${h}_bucket{le="+Inf"}`), get(after, `${h}_count`), `${h}: +Inf bucket = count`);
    // buckets are cumulative
    const buckets = [...after.entries()].filter(([k]) => k.startsWith(`${h}_bucket{`)).map(([, v]) => v);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], `${h} buckets are cumulative`);
  }
  // the gateway's own overhead is far below the request duration for upstream-bound requests
  const ovh = get(after, 'switchyard_gateway_overhead_seconds_sum') - get(before, 'switchyard_gateway_overhead_seconds_sum');
  const dur = get(after, 'switchyard_request_duration_seconds_sum') - get(before, 'switchyard_request_duration_seconds_sum');
  assert.ok(ovh <= dur, `overhead ${ovh} <= duration ${dur}`);
});

test('switchyard_inflight_streams counts a stream while it runs', async () => {
  const ac = new AbortController();
  const res = await fetch(`${s.dp.baseURL}/chat/completions`, {
    method: 'POST',
    signal: ac.signal,
    headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-slow', messages: MESSAGES, stream: true }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  await reader.read();
  const during = (await scrape()).m;
  assert.equal(during.get('switchyard_inflight_streams'), 1);
  ac.abort();
  await reader.cancel().catch(() => {});
  await waitFor(async () => (await scrape()).m.get('switchyard_inflight_streams') === 0, { what: 'inflight_streams back to 0' });
});

test('request text never becomes a metric label', async () => {
  const evil = 'evil-model-name-xyz';
  assert.equal((await chat(evil)).status, 404);
  assert.equal((await chat('m-ok', { models: ['another-evil-fallback'] })).status, 404);
  const { text } = await scrape();
  assert.ok(!text.includes(evil) && !text.includes('another-evil-fallback'), 'unknown model names are not labels');
});
