// Metrics, end to end: a real control plane and a bus-mode data plane in front of the mock.
// Traffic through the official `openai` SDK (a chat, a stream with usage, an error), usage
// records from the node plus a batch sent (and resent) on the bus by hand, a Stripe webhook
// (signed with the `stripe` package) and its replay. Both /metrics texts must pass Debian's
// `promtool check metrics` with no lint problem, and the values must have moved exactly as
// the traffic says: tokens and cost per model equal what the mock reported, TTFB observations
// equal the proxied requests, the webhook counted one credit and one replay, the resent batch
// counted its duplicates, the ledger counted its entries by kind. No label may carry an id, a
// workspace or a key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import protobuf from 'protobufjs';
import Stripe from 'stripe';
import { OpenAI, REPO, makeTempDir, waitFor, slack, httpRequest, startMock, startCp, startBusDp, parseMetrics, prepaidWorkspace, stopAll } from './lib/harness.mjs';
import { spRequest } from './lib/sp.mjs';

const WEBHOOK_SECRET = 'whsec_' + crypto.randomBytes(24).toString('hex');
const UPSTREAM_KEY = 'sk-upstream-' + crypto.randomBytes(8).toString('hex');
const stripe = new Stripe('sk_test_' + crypto.randomBytes(12).toString('hex'));
const root = new protobuf.Root().loadSync(path.join(REPO, 'proto', 'bus.proto'), { keepCase: true });
const BusRequest = root.lookupType('switchyard.BusRequest');
const UsageAck = root.lookupType('switchyard.UsageAck');
const WS = 'ws_metrics_canary';
let tmp, mock, cp, dp, key;

before(async () => {
  tmp = makeTempDir('sy-metrics-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({
    dir: tmp.dir,
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
    catalog: {
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.50', output_per_m: '6.00', context_window: 128000, capabilities: ['chat'] }],
      workspaces: [],
      keys: [],
    },
  });
  key = await prepaidWorkspace(cp, WS, '10');
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY } });
  // the node serves the key once the snapshot that carries it arrived
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'key known to the node' });
});

after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

/** `promtool check metrics` on `text`: must exit 0 and print nothing (no lint problem). */
function promtoolCheck(text, what) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error && r.error.code === 'ENOENT') assert.fail('promtool is not installed: run scripts/deps.sh (Debian package "prometheus" ships /usr/bin/promtool)');
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `promtool check metrics (${what}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
  assert.equal((r.stdout + r.stderr).trim(), '', `promtool check metrics (${what}) printed problems`);
}

async function scrape(base) {
  const r = await httpRequest(`${base}/metrics`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return { text: r.text, m: parseMetrics(r.text) };
}
const get = (m, k) => m.get(k) ?? 0;

function usageRecord(id) {
  return { id, workspace: WS, key_id: 'key_by_hand', model: 'm-ok', provider: 'mock', tokens_in: 10, tokens_out: 5, cost_nano: 45000, latency_ms: 50, ttft_ms: 0, outcome: 'ok', streamed: false, estimated: false, node: 'by-hand', created_ms: Date.now() };
}
async function sendBatch(batch) {
  const buf = Buffer.from(BusRequest.encode(BusRequest.fromObject({ usage: batch })).finish());
  const { body } = await spRequest(cp.repUrl, buf);
  return UsageAck.toObject(UsageAck.decode(body), { defaults: true });
}

function checkoutEvent(id, session, cents) {
  const object = { id: session, object: 'checkout.session', mode: 'payment', payment_status: 'paid', amount_total: cents, currency: 'usd', payment_intent: `pi_${session}`, client_reference_id: WS, metadata: {} };
  return JSON.stringify({ id, object: 'event', type: 'checkout.session.completed', created: Math.floor(Date.now() / 1000), data: { object } });
}
async function webhook(payload) {
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
  return httpRequest(`${cp.base}/stripe/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload });
}

test('both /metrics pass promtool and count the traffic, the usage, the webhook and the ledger', async () => {
  const dp0 = (await scrape(dp.url)).m;
  const cp0 = (await scrape(cp.base)).m;

  // --- traffic through the SDK: a chat, a stream with usage, an error before any upstream
  const client = new OpenAI({ baseURL: `${dp.url}/v1`, apiKey: key, maxRetries: 0 });
  const messages = [{ role: 'user', content: 'Count the tokens of this sentence, please.' }];
  const chat = await client.chat.completions.create({ model: 'm-ok', messages });
  assert.ok(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0);
  const stream = await client.chat.completions.create({ model: 'm-ok', messages, stream: true, stream_options: { include_usage: true } });
  let streamUsage = null;
  for await (const c of stream) if (c.usage) streamUsage = c.usage;
  assert.ok(streamUsage && streamUsage.prompt_tokens > 0, 'the stream ended with a usage chunk');
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages }), (e) => e instanceof OpenAI.APIError && e.status === 404);
  const prompt = chat.usage.prompt_tokens + streamUsage.prompt_tokens;
  const completion = chat.usage.completion_tokens + streamUsage.completion_tokens;

  // --- a usage batch by hand, then the same batch again (a node resending after a lost ack)
  const batch = { node_id: 'by-hand', batch_id: 'b-' + crypto.randomBytes(4).toString('hex'), records: [usageRecord(`req_hand_${crypto.randomBytes(6).toString('hex')}_1`), usageRecord(`req_hand_${crypto.randomBytes(6).toString('hex')}_2`)] };
  let ack = await sendBatch(batch);
  assert.equal(ack.applied, 2, JSON.stringify(ack));
  ack = await sendBatch(batch);
  assert.equal(ack.duplicates, 2, JSON.stringify(ack));

  // --- a Stripe webhook, then its replay
  const ev = checkoutEvent('evt_' + crypto.randomBytes(8).toString('hex'), 'cs_' + crypto.randomBytes(8).toString('hex'), 500);
  let r = await webhook(ev);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'credited');
  r = await webhook(ev);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'replay');

  // --- the data plane: the two proxied requests are metered when they end on the node
  const dpm = await waitFor(async () => {
    const { m } = await scrape(dp.url);
    const n = get(m, 'switchyard_time_to_first_byte_seconds_count{stream="false"}') + get(m, 'switchyard_time_to_first_byte_seconds_count{stream="true"}');
    return n - get(dp0, 'switchyard_time_to_first_byte_seconds_count{stream="false"}') - get(dp0, 'switchyard_time_to_first_byte_seconds_count{stream="true"}') >= 2 ? m : null;
  }, { timeout: slack(5000), what: 'two TTFB observations' });
  const delta = (k) => get(dpm, k) - get(dp0, k);
  assert.equal(delta('switchyard_time_to_first_byte_seconds_count{stream="false"}'), 1, 'TTFB: one non-streamed proxied request');
  assert.equal(delta('switchyard_time_to_first_byte_seconds_count{stream="true"}'), 1, 'TTFB: one stream');
  assert.equal(delta('switchyard_time_to_first_byte_seconds_bucket{stream="true",le="+Inf"}'), 1);
  assert.ok(delta('switchyard_time_to_first_byte_seconds_sum{stream="true"}') > 0);
  assert.equal(delta('switchyard_tokens_total{model="m-ok",provider="mock",type="prompt"}'), prompt, 'prompt tokens as the mock reported');
  assert.equal(delta('switchyard_tokens_total{model="m-ok",provider="mock",type="completion"}'), completion, 'completion tokens as the mock reported');
  // m-ok: $1.50 / $6.00 per million tokens = 1500 / 6000 nano-USD per token, exact integers
  assert.equal(delta('switchyard_cost_nano_usd_total{model="m-ok",provider="mock"}'), prompt * 1500 + completion * 6000);
  assert.equal(delta('switchyard_requests_total{status="404",model="",provider=""}'), 1, 'the error is counted');

  // --- the control plane: usage from the node arrives in its own time
  const cpm = await waitFor(async () => {
    const { m } = await scrape(cp.base);
    return get(m, 'switchyard_cp_usage_records_total{result="applied"}') - get(cp0, 'switchyard_cp_usage_records_total{result="applied"}') >= 4 ? m : null;
  }, { timeout: slack(10000), what: "the node's usage records at the control plane" });
  const cdelta = (k) => get(cpm, k) - get(cp0, k);
  assert.equal(cdelta('switchyard_cp_usage_records_total{result="applied"}'), 4, 'two from the node, two by hand');
  assert.ok(cdelta('switchyard_cp_usage_records_total{result="duplicate"}') >= 2, 'the resent batch counted its duplicates');
  assert.ok(cdelta('switchyard_cp_usage_batches_total{result="committed"}') >= 3);
  assert.equal(cdelta('switchyard_cp_usage_batches_total{result="refused"}'), 0);
  assert.equal(cdelta('switchyard_cp_stripe_webhooks_total{outcome="credited"}'), 1);
  assert.equal(cdelta('switchyard_cp_stripe_webhooks_total{outcome="replay"}'), 1);
  assert.equal(cdelta('switchyard_cp_ledger_entries_total{kind="credit"}'), 1, 'the webhook credit');
  // one debit per workspace per usage batch: one for the batch by hand, one or two for the node's
  // two records (sent together or apart)
  const debits = cdelta('switchyard_cp_ledger_entries_total{kind="debit"}');
  assert.ok(debits >= 2 && debits <= 3, `debits: ${debits}`);
  assert.equal(get(cpm, 'switchyard_cp_ledger_entries_total{kind="grant"}'), 1, 'the grant of the setup');
  assert.equal(cdelta('switchyard_cp_http_requests_total{route="/stripe/webhook",method="POST",status="200"}'), 2);
  assert.equal(get(cpm, 'switchyard_cp_http_requests_total{route="/api/workspaces/{id}/keys",method="POST",status="201"}'), 1);
  assert.equal(get(cpm, 'switchyard_cp_http_requests_total{route="/api/workspaces/{id}/credits",method="POST",status="201"}'), 1);
  assert.ok(get(cpm, 'switchyard_cp_snapshot_builds_total{result="ok"}') >= 1);
  assert.equal(get(cpm, 'switchyard_cp_snapshot_build_duration_seconds_count'), get(cpm, 'switchyard_cp_snapshot_builds_total{result="ok"}'));
  assert.ok(get(cpm, 'switchyard_cp_bus_heartbeats_total{result="recorded"}') >= 1);
  assert.ok(get(cpm, 'switchyard_cp_bus_fetches_total{answer="snapshot"}') >= 1);
  assert.equal(get(cpm, 'switchyard_cp_bus_live_nodes'), 1);

  // --- the texts: valid exposition, no lint problem, nothing identifying in a label
  const dpText = (await scrape(dp.url)).text;
  const cpText = (await scrape(cp.base)).text;
  promtoolCheck(dpText, 'data plane');
  promtoolCheck(cpText, 'control plane');
  for (const [what, text] of [['data plane', dpText], ['control plane', cpText]]) {
    assert.ok(!text.includes(WS), `${what}: a workspace id in the metrics`);
    assert.ok(!text.includes(key) && !text.includes(key.slice(6, 30)), `${what}: key material in the metrics`);
    assert.ok(!text.includes('evt_') && !text.includes('cs_') && !text.includes('req_hand'), `${what}: an event, session or record id in the metrics`);
  }
});
