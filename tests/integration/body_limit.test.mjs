// Bodies over the limit get a 413 the client can read (a lingering close, docs/dataplane.md):
// the official SDK (Node fetch) posting 20 MB, a chunked upload, the Stripe webhook at 2 MB;
// h2o's entity cap follows the snapshot's limit on reload; a flood of 200 oversized requests
// in parallel leaves the data plane's RSS flat (nothing is buffered).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { useStack, startCp, makeTempDir, stopAll, closedPort, slack, waitFor, OpenAI, SANITIZED } from './lib/harness.mjs';

const LIMIT = 1024 * 1024; // this file's limits.max_body_bytes
// Under ASan the quarantine keeps freed memory resident (256 MB by default), which would hide
// what the process really holds: a small one keeps the RSS check meaningful there too.
const asanOptions = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4'].filter(Boolean).join(':');
const s = useStack({ mutateConfig: (c) => (c.limits.max_body_bytes = LIMIT), dpOpts: { env: { ASAN_OPTIONS: asanOptions } } });

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(m[1]);
}

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/json', ...headers } });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: JSON.parse(text) };
}

function assert413(r, ctx) {
  assert.equal(r.status, 413, `${ctx}: ${r.text}`);
  assert.equal(r.json.error.code, 'request_too_large', ctx);
  assert.equal(r.json.error.type, 'invalid_request_error', ctx);
  assert.match(r.headers.get('content-type'), /^application\/json/, ctx);
}

test('the openai SDK posting 20 MB gets the 413 JSON error, not "fetch failed"', async () => {
  const client = s.client();
  for (const size of [20e6, LIMIT + 100]) {
    const err = await client.chat.completions
      .create({ model: 'm-ok', messages: [{ role: 'user', content: 'x'.repeat(size) }] })
      .then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.APIError, `size ${size}: ${err}`);
    assert.equal(err.status, 413, `size ${size}: ${err.message} ${err.cause?.code ?? ''}`);
    assert.equal(err.code, 'request_too_large');
    assert.ok(err.headers?.get?.('x-request-id') ?? err.headers?.['x-request-id'], 'h2o-made errors carry a request id too');
  }
  // the node is fine afterwards, and a body just under the limit is still served
  const ok = await client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'y'.repeat(LIMIT - 4096) }] });
  assert.equal(ok.object, 'chat.completion');
});

test('a chunked upload over the limit gets the 413 JSON error while the client is still sending', async () => {
  const piece = new Uint8Array(1 << 20).fill(0x61);
  let sent = 0;
  const body = new ReadableStream({
    pull(ctl) {
      if (sent >= 24) return ctl.close();
      sent++;
      ctl.enqueue(piece);
    },
  });
  const r = await post(`${s.dp.baseURL}/chat/completions`, body, { authorization: `Bearer ${s.keys.main.key}` });
  assert413(r, 'chunked 24 MB');
});

test('200 oversized requests in parallel: every one gets its 413, RSS stays flat', async () => {
  const url = `${s.dp.baseURL}/chat/completions`;
  const big = Buffer.alloc(LIMIT * 2, 0x62); // 2 MiB each, 400 MiB in all
  const headers = { authorization: `Bearer ${s.keys.main.key}` };
  // warm up (thread buffers, allocator arenas), then measure
  for (let i = 0; i < 4; i++) assert413(await post(url, big, headers), 'warm-up');
  const before = rssKiB(s.dp.proc.pid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssKiB(s.dp.proc.pid));
  }, 20);
  let results;
  const t0 = Date.now();
  try {
    results = await Promise.all(Array.from({ length: 200 }, () => post(url, big, headers).catch((e) => ({ error: e }))));
  } finally {
    clearInterval(sampler);
  }
  console.log(`flood: ${Date.now() - t0} ms`);
  const failed = results.filter((r) => r.error || r.status !== 413);
  assert.equal(failed.length, 0, `not a 413: ${failed.slice(0, 3).map((r) => r.error?.cause?.code ?? r.error?.message ?? r.status).join(', ')}`);
  for (const r of results) assert413(r, 'flood');
  // a body buffered per request would be 400 MiB; allow allocator noise (more under ASan)
  const growth = (peak - before) / 1024;
  const allowed = SANITIZED ? 32 : 16; // measured: under 1 MiB (normal), 3 MiB (ASan, small quarantine)
  console.log(`RSS growth ${growth.toFixed(1)} MiB`);
  assert.ok(growth < allowed, `RSS grew by ${growth.toFixed(1)} MiB during the flood (before ${(before / 1024).toFixed(1)} MiB, peak ${(peak / 1024).toFixed(1)} MiB)`);
  // no lingering connection is left behind: the fd count returns to its baseline
  const fds = () => fs.readdirSync(`/proc/${s.dp.proc.pid}/fd`).length;
  const t1 = Date.now();
  await waitFor(() => fds() < 64, { timeout: slack(12000), what: `lingering descriptors closed (now ${fds()})` });
  console.log(`descriptors back to baseline after ${Date.now() - t1} ms`);
});

test('the entity cap follows the config: after a reload to 512 KiB, 700 KB is refused without being read', async () => {
  const cfg = structuredClone(s.config);
  cfg.limits.max_body_bytes = 512 * 1024;
  s.dp.writeConfig(cfg);
  s.dp.reload();
  const url = `${s.dp.baseURL}/chat/completions`;
  const headers = { authorization: `Bearer ${s.keys.main.key}` };
  const body = JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'z'.repeat(700e3) }] });
  // h2o's own refusal (no body read) closes the connection after the answer; the handler's
  // (body read, over the limit) would keep it alive
  await waitFor(
    async () => {
      const r = await post(url, body, headers);
      assert413(r, '700 KB after reload');
      return r.headers.get('connection') === 'close';
    },
    { timeout: slack(5000), what: 'the 512 KiB cap applied by h2o' },
  );
  const small = await post(url, JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] }), headers);
  assert.equal(small.status, 200, small.text);
  s.dp.writeConfig(s.config);
  s.dp.reload();
});

// ----------------------------------------------------------------- the control plane's webhook

const cpTmp = makeTempDir('sy-413-cp-');
let cp;
after(() => stopAll([cp?.proc], cpTmp));

test('a 2 MB Stripe webhook body gets the 413 JSON error, and the control plane stays healthy', async () => {
  const dead = await closedPort();
  cp = await startCp({
    dir: cpTmp.dir,
    catalog: {
      providers: [{ id: 'p', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: { interval_ms: 0 } }],
      models: [{ id: 'm', provider: 'p', upstream: 'm', input_per_m: '1', output_per_m: '2' }],
      workspaces: [{ id: 'ws', active: true }],
      keys: [],
    },
    bus: false,
    env: { STRIPE_WEBHOOK_SECRET: 'whsec_test_413' },
  });
  const payload = JSON.stringify({ id: 'evt_big', type: 'checkout.session.completed', data: { object: { pad: 'x'.repeat(2e6) } } });
  const r = await post(`${cp.base}/stripe/webhook`, payload, { 'stripe-signature': 't=1,v1=00' });
  assert413(r, 'webhook 2 MB');
  for (let i = 0; i < 3; i++) assert413(await post(`${cp.base}/stripe/webhook`, payload, { 'stripe-signature': 't=1,v1=00' }), `webhook again ${i}`);
  const h = await fetch(`${cp.base}/healthz`);
  assert.equal(h.status, 200);
});
