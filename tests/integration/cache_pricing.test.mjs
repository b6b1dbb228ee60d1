// Catalog cache prices and the provider stream_usage switch (docs/billing.md, "Cost";
// docs/config.md). One control plane, one bus-mode data plane, the mock:
//   - an Anthropic-dialect model (`claude-mock+cache=100`: the mock reports 100 cache-read and
//     50 cache-write tokens) with cache_read_per_m / cache_write_per_m, and the same upstream
//     without cache prices: the official openai SDK (chat completions, plain and streamed) and
//     @anthropic-ai/sdk (/v1/messages, plain and streamed) see the cache counts; the ledger
//     debit of each request is exactly (prompt - cache) x input + cache_read x read price +
//     cache_write x write price + completion x output (without cache prices: prompt x input +
//     completion x output), and so are x-switchyard-cost and usage.cost; the usage records
//     carry the cache counts (GET /api/workspaces/{id}/usage sums them);
//   - GET /api/models and GET /v1/models show the cache prices (only when set); PATCH
//     changes and clears them, marks them edited (a re-import conflicts on them) and billing
//     follows the edit;
//   - a provider with "stream_usage": false: the upstream request of a stream carries no
//     stream_options the gateway added (the mock's logged body), the stream works, the record
//     and the access line say estimated; a normal provider still asks for include_usage.
// Ends with checkLedger.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import Anthropic from '@anthropic-ai/sdk';
import { OpenAI, makeTempDir, waitFor, slack, httpRequest, startMock, startCp, startBusDp, checkLedger, ledgerEntries, prepaidWorkspace, requestId, parseMetrics } from './lib/harness.mjs';

const HAVE_SQLITE = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' }).status === 0;
const TEXT = 'mock reply alpha bravo charlie delta echo foxtrot ';
const WS = 'ws_cache';

// nano-USD per token (every price is a whole number of nano-USD per token, so no rounding)
const IN = 3000n; // input_per_m "3"
const OUT = 15000n; // output_per_m "15"
const READ = 300n; // cache_read_per_m "0.3"
const WRITE = 3750n; // cache_write_per_m "3.75"
const READ_EDITED = 500n; // PATCHed to "0.5"
const CACHE_READ = 100n; // the mock's cache=100
const CACHE_WRITE = 50n; // ... and N/2 cache-creation tokens

let tmp, mock, cp, dp, key;
let okRequests = 0;

const claude = (id, extra = {}) => ({ id, provider: 'anth', upstream: 'claude-mock+cache=100', input_per_m: '3', output_per_m: '15', context_window: 200000, capabilities: ['chat', 'tools'], ...extra });
const gpt = (id, provider, upstream) => ({ id, provider, upstream, input_per_m: '3', output_per_m: '15', context_window: 128000, capabilities: ['chat'] });

before(async () => {
  tmp = makeTempDir('sy-cache-');
  mock = await startMock({ dir: tmp.dir });
  const catalog = {
    timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 20000 },
    providers: [
      { id: 'anth', kind: 'anthropic', base_url: `http://127.0.0.1:${mock.port}/v1`, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
      { id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
      { id: 'nsu', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', stream_usage: false, probe: { interval_ms: 0 } },
      { id: 'gem', kind: 'gemini', base_url: `http://127.0.0.1:${mock.port}/v1beta`, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
    ],
    models: [
      claude('claude-cache', { cache_read_per_m: '0.3', cache_write_per_m: '3.75' }),
      claude('claude-plain'),
      gpt('gpt-nu', 'mock', 'gpt-mock+no_usage=1'),
      gpt('gpt-nsu', 'nsu', 'gpt-mock+no_usage=1'),
      gpt('gpt-ok', 'mock', 'gpt-mock'),
      gpt('gem-ok', 'gem', 'gemini-mock'),
    ],
    workspaces: [],
    keys: [],
  };
  cp = await startCp({ dir: tmp.dir, catalog, args: ['--balance-refresh-ms', '200'] });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'mock-cache-key' } });
  key = await prepaidWorkspace(cp, WS, '1000');
  await waitFor(async () => (await dpModel('claude-cache')) !== null, { timeout: slack(5000), what: 'the node knows the key' });
});

after(async () => {
  try {
    await dp?.proc.stop();
    if (cp?.proc.running) await cp.proc.stop();
    await mock?.stop();
  } finally {
    tmp?.cleanup();
  }
});

const openai = () => new OpenAI({ baseURL: `${dp.url}/v1`, apiKey: key, maxRetries: 0, timeout: slack(20000) });
const anthropic = () => new Anthropic({ apiKey: key, baseURL: dp.url, maxRetries: 0, timeout: slack(20000) });
const MESSAGES = [{ role: 'user', content: 'Say hello.' }];

async function dpModel(id) {
  const r = await httpRequest(`${dp.url}/v1/models/${id}`, { headers: { authorization: `Bearer ${key}` } });
  return r.status === 200 ? r.json : null;
}

/** nano-USD (BigInt) as the gateway writes USD: 9 fractional digits. */
const usd = (n) => `${n / 1000000000n}.${String(n % 1000000000n).padStart(9, '0')}`;

/** Cost of a request with cache prices: the prompt count includes the cache counts. */
const cachedCost = (prompt, completion, read = READ) =>
  (BigInt(prompt) - CACHE_READ - CACHE_WRITE) * IN + CACHE_READ * read + CACHE_WRITE * WRITE + BigInt(completion) * OUT;

/** Waits until the node has no usage record pending and the ledger has `n` debits; the newest. */
async function newestDebit(n) {
  await waitFor(async () => {
    const m = parseMetrics((await httpRequest(`${dp.url}/metrics`)).text);
    return m.get('switchyard_usage_records_pending') === 0;
  }, { timeout: slack(10000), what: 'usage records acknowledged' });
  let debits;
  await waitFor(async () => {
    debits = (await ledgerEntries(cp, WS)).filter((e) => e.kind === 'debit');
    return debits.length >= n;
  }, { timeout: slack(10000), what: `${n} debits in the ledger` });
  assert.equal(debits.length, n, 'one debit per request');
  return -BigInt(debits[0].amount_nano);
}
let debitsSeen = 0;
async function assertDebit(expected, ctx) {
  const d = await newestDebit(++debitsSeen);
  assert.equal(d, expected, `${ctx}: debit ${d} != ${expected}`);
}

function usageRecords(model) {
  const r = spawnSync('sqlite3', ['-readonly', '-json', cp.db, `SELECT tokens_in, tokens_out, cache_read_tokens, cache_write_tokens, cost_nano, estimated, outcome FROM usage WHERE model = '${model}' ORDER BY created_ms`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

test('the catalog cache prices show on the control plane and the node (only when set)', async () => {
  let r = await cp.api('/api/models/claude-cache');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.cache_read_per_m, '0.300000000');
  assert.equal(r.json.cache_write_per_m, '3.750000000');
  r = await cp.api('/api/models/claude-plain');
  assert.equal('cache_read_per_m' in r.json, false, r.text);
  assert.equal('cache_write_per_m' in r.json, false, r.text);
  const m = await dpModel('claude-cache');
  assert.equal(m.cache_read_per_m, '0.300000000');
  assert.equal(m.cache_write_per_m, '3.750000000');
  const plain = await dpModel('claude-plain');
  assert.equal('cache_read_per_m' in plain, false);
  assert.equal('cache_write_per_m' in plain, false);
  r = await cp.api('/api/providers');
  assert.equal(r.status, 200, r.text);
  const byId = Object.fromEntries((r.json.data ?? r.json).map((p) => [p.id, p]));
  assert.equal(byId.nsu.stream_usage, false);
  assert.equal(byId.mock.stream_usage, true);
  assert.equal(byId.anth.kind, 'anthropic');
});

test('openai SDK -> claude-cache: cached_tokens, x-switchyard-cost, usage.cost and the debit at cache prices', async () => {
  const { data, response } = await openai().chat.completions.create({ model: 'claude-cache', messages: MESSAGES }).withResponse();
  okRequests++;
  assert.equal(data.choices[0].message.content, TEXT);
  assert.equal(data.usage.prompt_tokens_details?.cached_tokens, 100);
  assert.ok(data.usage.prompt_tokens > 150, `prompt ${data.usage.prompt_tokens} includes 100 read + 50 written`);
  const want = cachedCost(data.usage.prompt_tokens, data.usage.completion_tokens);
  assert.equal(response.headers.get('x-switchyard-cost'), usd(want));
  await assertDebit(want, 'openai plain');
});

test('openai SDK stream with include_usage -> claude-cache: the usage chunk is priced the same way', async () => {
  const stream = await openai().chat.completions.create({ model: 'claude-cache', messages: MESSAGES, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    if (c.usage) usage = c.usage;
  }
  okRequests++;
  assert.equal(text, TEXT);
  assert.equal(usage.prompt_tokens_details?.cached_tokens, 100);
  const want = cachedCost(usage.prompt_tokens, usage.completion_tokens);
  assert.equal(usd(want), usage.cost.toFixed(9), 'usage.cost');
  await assertDebit(want, 'openai stream');
});

test('@anthropic-ai/sdk on /v1/messages -> claude-cache: cache counts as sent, debit at cache prices', async () => {
  const m = await anthropic().messages.create({ model: 'claude-cache', max_tokens: 200, messages: MESSAGES });
  okRequests++;
  assert.equal(m.content[0].text, TEXT);
  assert.equal(m.usage.cache_read_input_tokens, 100);
  assert.equal(m.usage.cache_creation_input_tokens, 50);
  // Anthropic's input_tokens is the uncached rest of the prompt
  const want = BigInt(m.usage.input_tokens) * IN + CACHE_READ * READ + CACHE_WRITE * WRITE + BigInt(m.usage.output_tokens) * OUT;
  assert.equal(want, cachedCost(m.usage.input_tokens + 150, m.usage.output_tokens));
  await assertDebit(want, 'anthropic plain');

  const stream = anthropic().messages.stream({ model: 'claude-cache', max_tokens: 200, messages: MESSAGES });
  let text = '';
  stream.on('text', (t) => (text += t));
  const final = await stream.finalMessage();
  okRequests++;
  assert.equal(text, TEXT);
  assert.equal(final.usage.cache_read_input_tokens, 100);
  assert.equal(final.usage.cache_creation_input_tokens, 50);
  await assertDebit(BigInt(final.usage.input_tokens) * IN + CACHE_READ * READ + CACHE_WRITE * WRITE + BigInt(final.usage.output_tokens) * OUT, 'anthropic stream');
});

test('without cache prices every prompt token is billed at the input price (as before)', async () => {
  const { data, response } = await openai().chat.completions.create({ model: 'claude-plain', messages: MESSAGES }).withResponse();
  okRequests++;
  assert.equal(data.usage.prompt_tokens_details?.cached_tokens, 100);
  const want = BigInt(data.usage.prompt_tokens) * IN + BigInt(data.usage.completion_tokens) * OUT;
  assert.equal(response.headers.get('x-switchyard-cost'), usd(want));
  await assertDebit(want, 'no cache prices');
});

test('usage records carry the cache counts; the usage API sums them', async () => {
  const r = await cp.api(`/api/workspaces/${WS}/usage?from=0&group_by=model`);
  assert.equal(r.status, 200, r.text);
  const by = Object.fromEntries(r.json.data.map((d) => [d.model, d]));
  assert.equal(by['claude-cache'].requests, 4);
  assert.equal(by['claude-cache'].cache_read_tokens, 400);
  assert.equal(by['claude-cache'].cache_write_tokens, 200);
  assert.equal(by['claude-plain'].cache_read_tokens, 100);
  assert.equal(by['claude-plain'].cache_write_tokens, 50);
  assert.equal(r.json.total.cache_read_tokens, 500);
  if (!HAVE_SQLITE) return;
  for (const u of usageRecords('claude-cache')) {
    assert.equal(u.cache_read_tokens, 100);
    assert.equal(u.cache_write_tokens, 50);
    assert.equal(BigInt(u.cost_nano), cachedCost(u.tokens_in, u.tokens_out), 'record cost = tokens x prices');
    assert.equal(u.estimated, 0);
  }
});

test('PATCH changes and clears cache prices, marks them edited (an import conflicts), billing follows', async () => {
  let r = await cp.api('/api/models/claude-cache', { method: 'PATCH', body: { cache_read_per_m: '0.5' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.cache_read_per_m, '0.500000000');
  assert.equal(r.json.cache_write_per_m, '3.750000000');
  r = await cp.api('/api/models/claude-cache', { method: 'PATCH', body: { cache_read_per_m: '-1' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error.param, 'cache_read_per_m');
  await waitFor(async () => (await dpModel('claude-cache'))?.cache_read_per_m === '0.500000000', { timeout: slack(5000), what: 'the node serves the edited price' });
  const { data } = await openai().chat.completions.create({ model: 'claude-cache', messages: MESSAGES }).withResponse();
  okRequests++;
  await assertDebit(cachedCost(data.usage.prompt_tokens, data.usage.completion_tokens, READ_EDITED), 'edited read price');

  r = await cp.api('/api/catalog/import', { method: 'POST' });
  assert.equal(r.status, 409, r.text);
  const c = r.json.conflicts.find((x) => x.id === 'claude-cache');
  assert.deepEqual(c.fields.map((f) => [f.field, f.db, f.file]), [['cache_read_per_m', '0.500000000', '0.300000000']]);

  // null clears a price: those tokens go back to the input price
  r = await cp.api('/api/models/claude-cache', { method: 'PATCH', body: { cache_write_per_m: null } });
  assert.equal(r.status, 200, r.text);
  assert.equal('cache_write_per_m' in r.json, false, r.text);
  await waitFor(async () => !('cache_write_per_m' in ((await dpModel('claude-cache')) ?? { cache_write_per_m: 1 })), { timeout: slack(5000), what: 'the node drops the write price' });
  const res = await openai().chat.completions.create({ model: 'claude-cache', messages: MESSAGES });
  okRequests++;
  const p = BigInt(res.usage.prompt_tokens);
  await assertDebit((p - CACHE_READ) * IN + CACHE_READ * READ_EDITED + BigInt(res.usage.completion_tokens) * OUT, 'write price cleared');

  r = await cp.api('/api/catalog/import', { method: 'POST', body: { force: true } });
  assert.equal(r.status, 200, r.text);
  r = await cp.api('/api/models/claude-cache');
  assert.equal(r.json.cache_read_per_m, '0.300000000');
  assert.equal(r.json.cache_write_per_m, '3.750000000');
});

test('stream_usage false: no stream_options added upstream, the stream works, the tokens are estimated', async () => {
  const rid = requestId('nsu');
  const stream = await openai().chat.completions.create({ model: 'gpt-nsu', messages: MESSAGES, stream: true }, { headers: { 'x-request-id': rid } });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  okRequests++;
  assert.equal(text, TEXT);
  const up = await mock.waitForRequest(rid);
  assert.equal(up.body.stream, true);
  assert.equal('stream_options' in up.body, false, `upstream body: ${JSON.stringify(up.body)}`);
  const line = await waitFor(() => dp.proc.stderr.split('\n').find((l) => l.includes('msg=access') && l.includes(`id=${rid} `)), { timeout: slack(5000), what: 'the access line' });
  assert.match(line, / usage=estimated /);
  const debit = await newestDebit(++debitsSeen);
  assert.ok(debit > 0n, 'an estimate is billed');
  if (HAVE_SQLITE) {
    const recs = usageRecords('gpt-nsu');
    assert.equal(recs.length, 1);
    assert.equal(recs[0].estimated, 1);
    assert.equal(recs[0].outcome, 'ok');
    assert.equal(BigInt(recs[0].cost_nano), debit);
  }

  // the client's own stream_options still go through
  const rid2 = requestId('nsu-own');
  const s2 = await openai().chat.completions.create({ model: 'gpt-nsu', messages: MESSAGES, stream: true, stream_options: { include_usage: true } }, { headers: { 'x-request-id': rid2 } });
  for await (const c of s2) void c;
  okRequests++;
  assert.deepEqual((await mock.waitForRequest(rid2)).body.stream_options, { include_usage: true });
  await newestDebit(++debitsSeen);

  // a provider without the switch still asks for usage on the client's behalf
  const rid3 = requestId('nu');
  const s3 = await openai().chat.completions.create({ model: 'gpt-nu', messages: MESSAGES, stream: true }, { headers: { 'x-request-id': rid3 } });
  for await (const c of s3) void c;
  okRequests++;
  assert.deepEqual((await mock.waitForRequest(rid3)).body.stream_options, { include_usage: true });
  await newestDebit(++debitsSeen);
});

test('every dialect pair is debited its provider\'s own token counts at the catalog price', async () => {
  // openai SDK (chat completions) and @anthropic-ai/sdk (/v1/messages) x an OpenAI-dialect and a
  // Gemini-dialect provider (the Anthropic dialect is covered above), plain and streamed
  for (const model of ['gpt-ok', 'gem-ok']) {
    const a = await openai().chat.completions.create({ model, messages: MESSAGES });
    okRequests++;
    assert.equal(a.choices[0].message.content, TEXT);
    await assertDebit(BigInt(a.usage.prompt_tokens) * IN + BigInt(a.usage.completion_tokens) * OUT, `openai SDK -> ${model}`);
    const stream = await openai().chat.completions.create({ model, messages: MESSAGES, stream: true, stream_options: { include_usage: true } });
    let usage = null;
    for await (const c of stream) if (c.usage) usage = c.usage;
    okRequests++;
    await assertDebit(BigInt(usage.prompt_tokens) * IN + BigInt(usage.completion_tokens) * OUT, `openai SDK stream -> ${model}`);
    const m = await anthropic().messages.create({ model, max_tokens: 100, messages: MESSAGES });
    okRequests++;
    assert.equal(m.content[0].text, TEXT);
    await assertDebit(BigInt(m.usage.input_tokens) * IN + BigInt(m.usage.output_tokens) * OUT, `anthropic SDK -> ${model}`);
    const final = await anthropic().messages.stream({ model, max_tokens: 100, messages: MESSAGES }).finalMessage();
    okRequests++;
    await assertDebit(BigInt(final.usage.input_tokens) * IN + BigInt(final.usage.output_tokens) * OUT, `anthropic SDK stream -> ${model}`);
    if (HAVE_SQLITE) {
      const recs = usageRecords(model);
      assert.equal(recs.length, 4, `${model}: one usage record per request`);
      for (const r of recs) assert.equal(r.estimated, 0, `${model}: the provider's own counts, not an estimate`);
    }
  }
});

test('the ledger is consistent', async () => {
  await checkLedger(cp, { okRequests: { [WS]: okRequests } });
});
