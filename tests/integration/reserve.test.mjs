// Reservations against the prepaid balance (docs/admission.md, "Balances and budgets"): one
// control plane, one bus-mode data plane, the mock. Before an upstream call the node reserves
// the request's worst case (input bytes/4 × input price + max_tokens × output price, the most
// expensive candidate), so 50 concurrent $0.10-worst-case requests against a $1 balance admit
// at most 10 and the balance never goes negative; every reservation is released however the
// request ends (upstream 500, client gone), so the open gauge returns to 0 and a workspace
// that spends cents is never refused; the OpenAI SDK raises a 402 and does not retry it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAI, makeTempDir, waitFor, slack, httpRequest, startMock, startCp, startBusDp, parseMetrics, balanceNano, prepaidWorkspace, stopAll } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-rsv';
let tmp, mock, cp, dp;
const keys = {};

async function metrics() {
  return parseMetrics((await httpRequest(`${dp.url}/metrics`)).text);
}
async function metric(name) {
  return (await metrics()).get(name);
}

function chat(key, body, opts = {}) {
  return httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
    ...opts,
  });
}

before(async () => {
  tmp = makeTempDir('sy-rsv-');
  mock = await startMock({ dir: tmp.dir });
  const model = (id, upstream, input, output, extra = {}) => ({
    id, provider: 'mock', upstream, input_per_m: input, output_per_m: output, context_window: 8000, capabilities: ['chat'], ...extra,
  });
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 20000 },
      routing: { breaker: { failures: 100 } },
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [
        // worst case with max_tokens 1000: 1000 × $100/M = $0.10 (input free)
        model('m-dear', 'mock+ttft_ms=600', '0', '100', { context_window: 128000 }),
        model('m-cheap', 'mock', '0.01', '0.01'),
        model('m-500', 'mock+status=500', '0.01', '0.01'),
        model('m-slow', 'mock+ttft_ms=1500', '0.01', '0.01'),
      ],
      workspaces: [],
      keys: [],
    },
  });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, threads: 2 });
  keys.a = await prepaidWorkspace(cp, 'ws_rsv_a', '1.00');
  keys.b = await prepaidWorkspace(cp, 'ws_rsv_b', '1.00');
  keys.broke = await prepaidWorkspace(cp, 'ws_rsv_c', null);
  // the node has the keys and the credited balances — on every loop thread (several in a row)
  for (const k of [keys.a, keys.b])
    await waitFor(async () => {
      for (let i = 0; i < 6; i++) if ((await chat(k, { model: 'm-cheap', max_tokens: 5 })).status !== 200) return false;
      return true;
    }, { timeout: slack(8000), what: 'credited key served' });
});

after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

test('50 concurrent $0.10-worst-case requests against $1 on one node: at most 10 admitted, balance stays >= 0', async () => {
  const rs = await Promise.all(Array.from({ length: 50 }, () => chat(keys.a, { model: 'm-dear', max_tokens: 1000 })));
  const ok = rs.filter((r) => r.status === 200).length;
  const refused = rs.filter((r) => r.status === 402);
  assert.equal(ok + refused.length, 50, `statuses: ${rs.map((r) => r.status)}`);
  // one node: reservations are exact, so no tolerance is needed; the warm-up request spent
  // a few nano-USD, which may cost the tenth slot
  assert.ok(ok <= 10 && ok >= 9, `admitted ${ok}`);
  for (const r of refused) {
    assert.equal(r.json.error.code, 'insufficient_quota');
    assert.equal(r.json.error.type, 'insufficient_quota');
    assert.equal(r.headers['x-should-retry'], 'false');
    assert.match(r.json.error.message, /^Insufficient prepaid balance\. Current balance: \$\d+\.\d{6}[.,]/);
  }
  const m = await metrics();
  assert.ok(m.get('switchyard_reserve_refused_total{reason="insufficient_quota_balance"}') >= refused.length);
  assert.equal(m.get('switchyard_reserve_open'), 0);
  // a single request larger than everything left gets its own message
  const big = await chat(keys.a, { model: 'm-dear', max_tokens: 20000 });
  assert.equal(big.status, 402, big.text);
  assert.match(big.json.error.message, /worst case \(\$2\.000000\) exceeds the remaining balance/);
  // the ledger: the records of the admitted requests arrive; the balance never went negative
  await waitFor(async () => (await balanceNano(cp, 'ws_rsv_a')) < 1_000_000_000n - 1000n, { timeout: slack(10000), what: 'usage debited' });
  assert.ok((await balanceNano(cp, 'ws_rsv_a')) >= 0n);
});

test('failures and client disconnects release their reservations; cents of spend are never refused', async () => {
  const before = await metrics();
  const released0 = before.get('switchyard_reserve_released_nano_total');
  const jobs = [];
  for (let i = 0; i < 200; i++) {
    const kind = i % 4;
    if (kind === 0) jobs.push(chat(keys.b, { model: 'm-cheap', max_tokens: 50 }));
    else if (kind === 1) jobs.push(chat(keys.b, { model: 'm-500', max_tokens: 50 }));
    else if (kind === 2) jobs.push(chat(keys.b, { model: 'm-slow', max_tokens: 50 }, { timeout: 150 }).catch(() => ({ status: 'gone' })));
    else jobs.push(chat(keys.b, { model: 'm-cheap', stream: true })); // no max_tokens: limits.reserve_output_tokens (4096) within the window
  }
  const rs = await Promise.all(jobs);
  const by = {};
  for (const r of rs) by[r.status] = (by[r.status] || 0) + 1;
  assert.equal(by[402] || 0, 0, JSON.stringify(by));
  assert.equal(by[200], 100, JSON.stringify(by));
  assert.equal(by[502], 50, JSON.stringify(by));
  assert.equal(by.gone, 50, JSON.stringify(by));
  // the disconnected requests end on the node a little later
  await waitFor(async () => (await metric('switchyard_reserve_open')) === 0, { timeout: slack(5000), what: 'open reservations = 0' });
  const after = await metrics();
  assert.equal(after.get('switchyard_reserve_reserved_nano_total') - before.get('switchyard_reserve_reserved_nano_total'),
    after.get('switchyard_reserve_released_nano_total') - released0);
});

test('a key budget is reserved against too: 402 insufficient_quota_budget while the workspace has money', async () => {
  let r = await cp.api('/api/workspaces/ws_rsv_b/keys', { method: 'POST', body: { name: 'budgeted', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  const key = r.json.key;
  const p = await cp.api(`/api/keys/${r.json.id}`, { method: 'PATCH', body: { budget_usd: '0.25' } });
  assert.equal(p.status, 200, p.text);
  // the budget is on every loop thread: a $0.30 worst case is refused several times in a row
  await waitFor(async () => {
    for (let i = 0; i < 6; i++) if ((await chat(key, { model: 'm-dear', max_tokens: 3000 })).status !== 402) return false;
    return true;
  }, { timeout: slack(5000), what: 'the budget on the node' });
  const b0 = (await metric('switchyard_reserve_refused_total{reason="insufficient_quota_budget"}')) || 0;
  // $0.25 of budget: two $0.10 worst cases fit, the third would overspend — refused
  const rs = await Promise.all(Array.from({ length: 6 }, () => chat(key, { model: 'm-dear', max_tokens: 1000 })));
  const ok = rs.filter((x) => x.status === 200).length;
  assert.equal(ok, 2, rs.map((x) => x.status).join(','));
  for (const x of rs.filter((y) => y.status !== 200)) {
    assert.equal(x.status, 402);
    assert.equal(x.json.error.code, 'insufficient_quota');
    assert.match(x.json.error.message, /^Key budget exhausted\. Remaining budget: \$\d+\.\d{6}/);
  }
  assert.equal(await metric('switchyard_reserve_refused_total{reason="insufficient_quota_budget"}'), b0 + 4);
  await waitFor(async () => (await metric('switchyard_reserve_open')) === 0, { timeout: slack(3000), what: 'open reservations = 0' });
});

test('the OpenAI SDK surfaces 402 insufficient_quota and does not retry it', async () => {
  const refused0 = (await metric('switchyard_reserve_refused_total{reason="insufficient_quota_balance"}')) || 0;
  const seen0 = mock.requests().length;
  const client = new OpenAI({ apiKey: keys.broke, baseURL: `${dp.url}/v1` }); // maxRetries: the default
  await waitFor(async () => (await chat(keys.broke, { model: 'm-cheap', max_tokens: 5 })).status === 402, { timeout: slack(5000), what: 'key served' });
  const refused1 = await metric('switchyard_reserve_refused_total{reason="insufficient_quota_balance"}');
  let err;
  try {
    await client.chat.completions.create({ model: 'm-cheap', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 402);
  assert.equal(err.code, 'insufficient_quota');
  assert.match(err.message, /Insufficient prepaid balance\. Current balance: \$-?0\.0000\d\d\. Add credits to continue\./);
  // exactly one more refusal at the node: the SDK did not retry; the mock saw nothing
  assert.equal(await metric('switchyard_reserve_refused_total{reason="insufficient_quota_balance"}'), refused1 + 1);
  assert.ok(refused1 > refused0);
  assert.equal(mock.requests().length, seen0);
});
