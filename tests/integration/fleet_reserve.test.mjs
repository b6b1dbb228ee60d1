// Reservations across a fleet (docs/admission.md, "Balances and budgets: reservations"): one
// control plane, TWO bus-mode data planes, the mock. Each node reserves a request's worst case
// against its SHARE of the workspace balance (1/live nodes while the workspace has spent
// nothing in the last 60 s, demand-weighted otherwise), so a burst spread over both nodes admits
// no more than the balance pays for; a request without max_tokens reserves at most 4096 output
// tokens, so ordinary traffic is never refused; the batch that takes a balance to zero reaches
// every node within one snapshot fetch; refusals are 402 insufficient_quota, which the OpenAI
// SDK does not retry. Every test ends with no open reservation on either node and a ledger
// whose balance equals credits − debits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { OpenAI, makeTempDir, waitFor, slack, sleep, httpRequest, startMock, startCp, startBusDp, parseMetrics, checkLedger, requestId, balanceNano, ledgerEntries, prepaidWorkspace, stopAll } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-fleet-rsv';
const USD = 1_000_000_000; // nano-USD per dollar
let tmp, mock, cp;
const dps = [];
const keys = {};
const warmOk = {}; // successful warm-up requests per workspace (their usage records are outcome ok)

const REFUSED = ['balance', 'share', 'budget'].map((r) => `switchyard_reserve_refused_total{reason="insufficient_quota_${r}"}`);

async function metrics(dp) {
  const r = await httpRequest(`${dp.url}/metrics`);
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}
const refusedTotal = (m) => REFUSED.reduce((a, n) => a + (m.get(n) || 0), 0);

function chat(dp, key, body, { headers = {}, ...opts } = {}) {
  return httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
    ...opts,
  });
}

/** Credits and debits of `ws` from its ledger, as BigInt nano-USD (debits positive). */
async function ledgerSums(ws) {
  let credits = 0n;
  let debits = 0n;
  for (const e of await ledgerEntries(cp, ws)) {
    const a = BigInt(e.amount_nano);
    if (a >= 0n) credits += a;
    else debits -= a;
  }
  return { credits, debits };
}

/** Waits until every node holds no reservation and has handed all its usage records over. */
async function settleFleet(what) {
  for (const [i, dp] of dps.entries()) {
    await waitFor(async () => {
      const m = await metrics(dp);
      return m.get('switchyard_reserve_open') === 0 && m.get('switchyard_usage_records_pending') === 0;
    }, { timeout: slack(10000), what: `${what}: node ${i + 1} open reservations = 0 and usage pending = 0` });
  }
}

/** Asserts a refusal: 402 insufficient_quota, x-should-retry false, and a message matching `re`. */
function assertRefusal(r, re, ctx) {
  assert.equal(r.status, 402, `${ctx}: ${r.text}`);
  assert.match(r.headers['content-type'] ?? '', /application\/json/, ctx);
  assert.equal(r.json?.error?.code, 'insufficient_quota', `${ctx}: ${r.text}`);
  assert.equal(r.json.error.type, 'insufficient_quota', `${ctx}: ${r.text}`);
  assert.equal(r.headers['x-should-retry'], 'false', `${ctx}: x-should-retry`);
  assert.match(r.json.error.message, re, `${ctx}: ${r.text}`);
}

before(async () => {
  tmp = makeTempDir('sy-frsv-');
  mock = await startMock({ dir: tmp.dir, threads: 2 });
  const model = (id, upstream, input, output, extra = {}) => ({
    id, provider: 'mock', upstream, input_per_m: input, output_per_m: output, context_window: 128000, capabilities: ['chat'], ...extra,
  });
  cp = await startCp({
    dir: tmp.dir,
    args: ['--balance-refresh-ms', '300'],
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 2500, idle: 2500, total: 20000 },
      routing: { breaker: { failures: 100 } },
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [
        model('m-free', 'mock', '0', '0'), // warm-up: costs nothing, so shares start at exactly 1/2
        // (a) worst case with max_tokens 1000: 1000 × $100/M = $0.10 (input free); the mock
        // holds each one for 1 s so that the whole burst is in flight at once
        model('m-dear', 'mock+ttft_ms=1000', '0', '100'),
        model('m-cheap', 'mock', '0.01', '0.01'),
        model('m-500', 'mock+status=500', '0.01', '0.01'),
        model('m-wait', 'mock+ttft_ms=1500', '0.01', '0.01'), // clients give up before the answer
        model('m-hang', 'mock+hang=1', '0.01', '0.01'), // upstream first-byte timeout → 504
        // (b) realistic prices and a big context window: without max_tokens the reservation
        // is min(400000 − input, 4096) output tokens ≈ $0.041, not the window ($4)
        model('m-real', 'mock', '1.25', '10', { context_window: 400000 }),
        model('m-real-500', 'mock+status=500', '1.25', '10', { context_window: 400000 }),
        model('m-real-wait', 'mock+ttft_ms=1500', '1.25', '10', { context_window: 400000 }),
        // (c) reserves 4096 × $20/M ≈ $0.082, really costs 60,000 × $20/M = $1.20
        model('m-huge', 'mock+ttft_ms=600+chunks=60000', '0.01', '20', { context_window: 400000 }),
      ],
      workspaces: [],
      keys: [],
    },
  });
  for (let i = 0; i < 2; i++) dps.push(await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, threads: 2, name: `switchyard-dp-${i + 1}` }));
  keys.burst = await prepaidWorkspace(cp, 'ws_fr_burst', '1.00');
  keys.mixed = await prepaidWorkspace(cp, 'ws_fr_mixed', '5.00');
  keys.zero = await prepaidWorkspace(cp, 'ws_fr_zero', '0.50');
  keys.broke = await prepaidWorkspace(cp, 'ws_fr_broke', null);
  // every node serves every key on every loop thread (several in a row), with a free model so
  // that no workspace has spent anything yet
  for (const dp of dps) {
    for (const [ws, k] of [['ws_fr_burst', keys.burst], ['ws_fr_mixed', keys.mixed], ['ws_fr_zero', keys.zero]])
      await waitFor(async () => {
        for (let i = 0; i < 6; i++) {
          if ((await chat(dp, k, { model: 'm-free', max_tokens: 5 })).status !== 200) return false;
          warmOk[ws] = (warmOk[ws] || 0) + 1;
        }
        return true;
      }, { timeout: slack(8000), what: 'key served on every node' });
    await waitFor(async () => {
      for (let i = 0; i < 6; i++) if ((await chat(dp, keys.broke, { model: 'm-cheap', max_tokens: 5 })).status !== 402) return false;
      return true;
    }, { timeout: slack(8000), what: 'broke key refused on every node' });
  }
  // both nodes divide by 2 (the share's divisor is the snapshot's live-node count)
  for (const dp of dps)
    await waitFor(async () => (await metrics(dp)).get('switchyard_ratelimit_live_nodes') === 2, { timeout: slack(8000), what: 'live_nodes = 2 on both nodes' });
  // nothing spent yet: each node's share is one half, none weighted
  for (const dp of dps) {
    const m = await metrics(dp);
    assert.equal(m.get('switchyard_reserve_share_ppm'), 500000);
    assert.equal(m.get('switchyard_reserve_weighted_workspaces'), 0);
  }
});

after(() => stopAll([...dps.map((d) => d.proc), cp?.proc, mock?.proc], tmp));

test('burst over two nodes: $1 admits at most ten $0.10 worst cases (five per node share); failures and disconnects release', async () => {
  const ws = 'ws_fr_burst';
  assert.equal(await balanceNano(cp, ws), BigInt(USD), 'the warm-up was free');
  const m0 = await Promise.all(dps.map(metrics));
  // 50 clients released together, alternating nodes: 40 × $0.10 worst case, and in the same
  // burst 4 upstream 500s, 3 clients that leave while the mock waits, 3 upstream timeouts
  const kinds = [];
  for (let i = 0; i < 50; i++) kinds.push(i < 40 ? 'dear' : i < 44 ? 'e500' : i < 47 ? 'gone' : 'hang');
  // interleave the failing kinds with the dear ones (same burst, not at its end)
  for (let i = 0; i < kinds.length; i += 5) {
    const j = 40 + Math.floor(i / 5);
    if (j < 50) [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  const t0 = Date.now();
  const rs = await Promise.all(
    kinds.map((kind, i) => {
      const dp = dps[i % 2];
      const tag = { node: i % 2, kind };
      if (kind === 'dear') return chat(dp, keys.burst, { model: 'm-dear', max_tokens: 1000 }).then((r) => ({ ...tag, r }));
      if (kind === 'e500') return chat(dp, keys.burst, { model: 'm-500', max_tokens: 50 }).then((r) => ({ ...tag, r }));
      if (kind === 'hang') return chat(dp, keys.burst, { model: 'm-hang', max_tokens: 50 }).then((r) => ({ ...tag, r }));
      return chat(dp, keys.burst, { model: 'm-wait', max_tokens: 50 }, { timeout: 300 }).then(
        (r) => ({ ...tag, r }),
        () => ({ ...tag, r: { status: 'gone' } }),
      );
    }),
  );
  const elapsed = Date.now() - t0;
  const dear = [0, 1].map((n) => rs.filter((x) => x.kind === 'dear' && x.node === n));
  const admitted = dear.map((l) => l.filter((x) => x.r.status === 200).length);
  const total = admitted[0] + admitted[1];
  const others = {};
  for (const x of rs.filter((y) => y.kind !== 'dear')) others[`${x.kind}:${x.r.status}`] = (others[`${x.kind}:${x.r.status}`] || 0) + 1;
  console.log(`# burst of 50 in ${elapsed} ms: $0.10 worst cases admitted node1 ${admitted[0]} + node2 ${admitted[1]} = ${total} of 40 (bound 10, 5 per node); others ${JSON.stringify(others)}`);
  // every $0.10 request is admitted or refused, nothing else; with $1 − own spend left on
  // each node, a refusal is the share's: "… This node's share of it is …"
  for (const x of rs.filter((y) => y.kind === 'dear')) if (x.r.status !== 200) assertRefusal(x.r, /^Insufficient prepaid balance\. Current balance: \$\d+\.\d{6}\. This node's share/, `node ${x.node + 1} dear`);
  // the bound: shares of $0.50 per node (no spend in the last 60 s, 2 live nodes) hold five
  // $0.10 worst cases each; the escape hatch (nothing open on the node) cannot apply mid-burst.
  // At least 4 per node: the cheap requests of the same burst reserve a few nano-USD.
  for (const [n, a] of admitted.entries()) assert.ok(a <= 5 && a >= 4, `node ${n + 1} admitted ${a} $0.10 requests (share $0.50: 4..5)`);
  assert.ok(total <= 10 && total >= 8, `admitted ${total} (bound 10)`);
  // the other kinds ended their own way — or were refused (the share was full when they came)
  const want = { e500: 502, hang: 504, gone: 'gone' };
  for (const x of rs.filter((y) => y.kind !== 'dear')) {
    if (x.r.status === 402) assertRefusal(x.r, /^Insufficient prepaid balance\. Current balance: \$\d+\.\d{6}\. This node's share/, `node ${x.node + 1} ${x.kind}`);
    else assert.equal(x.r.status, want[x.kind], `${x.kind} on node ${x.node + 1}: ${x.r.text ?? ''}`);
  }
  // every reservation is released, on both nodes
  await settleFleet('after the burst');
  const m1 = await Promise.all(dps.map(metrics));
  for (let n = 0; n < 2; n++) {
    const d = (name) => (m1[n].get(name) || 0) - (m0[n].get(name) || 0);
    const reserved = d('switchyard_reserve_reserved_nano_total');
    const released = d('switchyard_reserve_released_nano_total');
    console.log(`# node ${n + 1}: reserved ${reserved} nano, released ${released}, settled ${d('switchyard_reserve_settled_nano_total')}, refused ${refusedTotal(m1[n]) - refusedTotal(m0[n])} (share ${d(REFUSED[1])})`);
    assert.equal(reserved, released, `node ${n + 1}: reserved − released`);
    assert.ok(reserved >= admitted[n] * 0.1 * USD, `node ${n + 1}: reserved ${reserved} < ${admitted[n]} × $0.10`);
    const refusedHere = rs.filter((x) => x.node === n && x.r.status === 402).length;
    assert.equal(refusedTotal(m1[n]) - refusedTotal(m0[n]), refusedHere, `node ${n + 1}: refusal counters vs 402s seen`);
    // the whole balance ($1 − the node's own reservations ≥ $0.50) had room for every refused
    // request: each refusal is counted as the share's
    assert.ok(refusedHere > 0, `node ${n + 1} refused nothing`);
    assert.equal(d(REFUSED[1]), refusedHere, `node ${n + 1}: refusals with reason insufficient_quota_share`);
  }
  // the ledger: every admitted answer was debited (8 tokens × $100/M each); never below zero
  const bal = await balanceNano(cp, ws);
  const { credits, debits } = await ledgerSums(ws);
  console.log(`# ledger: balance ${bal} nano = ${credits} − ${debits}`);
  assert.equal(credits, BigInt(USD));
  assert.equal(bal, credits - debits);
  assert.ok(bal >= 0n, `balance ${bal} < 0`);
  // (the cheap requests of the burst cost at most a few hundred nano-USD each)
  assert.ok(debits >= BigInt(total) * 800_000n && debits <= BigInt(total) * 800_000n + 10_000n, `debited ${debits} vs ${total} answers × 800,000 nano`);
  await checkLedger(cp, { okRequests: { [ws]: warmOk[ws] + total } });
});

test('1,000 mixed requests over both nodes are never refused; every reservation is released', async () => {
  const ws = 'ws_fr_mixed';
  const m0 = await Promise.all(dps.map(metrics));
  const bal0 = await balanceNano(cp, ws);
  const KINDS = ['plain', 'stream', 'nomax', 'nomax-stream', 'e500', 'gone'];
  const N = 1000;
  const CONCURRENCY = 40;
  const one = (i) => {
    const dp = dps[i % 2];
    const kind = KINDS[Math.floor(i / 2) % KINDS.length];
    const go = (body, opts) => chat(dp, keys.mixed, body, opts).then((r) => ({ kind, node: i % 2, r }));
    switch (kind) {
      case 'plain':
        return go({ model: 'm-real', max_tokens: 50 });
      case 'stream':
        return go({ model: 'm-real', max_tokens: 50, stream: true, stream_options: { include_usage: true } });
      case 'nomax': // reserves min(400000 − input, 4096) × $10/M ≈ $0.041
        return go({ model: 'm-real' });
      case 'nomax-stream':
        return go({ model: 'm-real', stream: true });
      case 'e500':
        return go({ model: 'm-real-500' });
      default: // the client leaves while the mock waits for its first token
        return chat(dp, keys.mixed, { model: 'm-real-wait', max_tokens: 50 }, { timeout: 150 }).then(
          (r) => ({ kind, node: i % 2, r }),
          () => ({ kind, node: i % 2, r: { status: 'gone' } }),
        );
    }
  };
  const results = new Array(N);
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        results[i] = await one(i);
      }
    }),
  );
  const elapsed = Date.now() - t0;
  const by = {};
  const want = {};
  const expect = { plain: 200, stream: 200, nomax: 200, 'nomax-stream': 200, e500: 502, gone: 'gone' };
  for (const x of results) {
    by[x.r.status] = (by[x.r.status] || 0) + 1;
    want[expect[x.kind]] = (want[expect[x.kind]] || 0) + 1;
  }
  console.log(`# 1000 mixed requests (${CONCURRENCY} in flight) in ${elapsed} ms: ${JSON.stringify(by)}`);
  const refused = results.filter((x) => x.r.status === 402);
  assert.equal(refused.length, 0, `402s: ${refused.slice(0, 3).map((x) => `${x.kind} node ${x.node + 1}: ${x.r.text}`).join(' | ')}`);
  assert.deepEqual(by, want, 'status counts');
  for (const x of results) {
    if (x.r.status !== 200) continue;
    if (x.kind.includes('stream')) assert.match(x.r.text, /data: \[DONE\]/, `${x.kind}: a complete stream`);
    else assert.equal(x.r.json?.object, 'chat.completion', `${x.kind}: ${x.r.text.slice(0, 200)}`);
  }
  await settleFleet('after 1000 requests');
  const m1 = await Promise.all(dps.map(metrics));
  for (let n = 0; n < 2; n++) {
    const d = (name) => (m1[n].get(name) || 0) - (m0[n].get(name) || 0);
    console.log(`# node ${n + 1}: reserved ${d('switchyard_reserve_reserved_nano_total')} nano, released ${d('switchyard_reserve_released_nano_total')}, settled ${d('switchyard_reserve_settled_nano_total')}`);
    assert.equal(d('switchyard_reserve_reserved_nano_total'), d('switchyard_reserve_released_nano_total'), `node ${n + 1}: reserved == released`);
    assert.equal(refusedTotal(m1[n]) - refusedTotal(m0[n]), 0, `node ${n + 1}: refusal counters moved`);
    // a request without max_tokens reserves ≈ $0.041, not the window ($4): ~334 of them per node
    assert.ok(d('switchyard_reserve_reserved_nano_total') < 334 * 0.05 * USD, `node ${n + 1}: reserved ${d('switchyard_reserve_reserved_nano_total')}`);
  }
  const bal = await balanceNano(cp, ws);
  const spent = bal0 - bal;
  console.log(`# spent ${Number(spent) / USD} USD of $5`);
  assert.ok(spent > 0n && spent < BigInt(0.5 * USD), `spent ${spent} nano`);
  // the spend reached the control plane: the next balance refresh weighs the shares by it
  for (const [i, dp] of dps.entries())
    await waitFor(async () => (await metrics(dp)).get('switchyard_reserve_weighted_workspaces') >= 1, { timeout: slack(5000), what: `node ${i + 1}: weighted shares` });
  await checkLedger(cp, { okRequests: { [ws]: warmOk[ws] + by[200] } });
});

test('a balance taken to zero: every node refuses within one usage send + one snapshot fetch', async () => {
  const ws = 'ws_fr_zero';
  const huge = requestId('huge');
  // the expensive request first: it reserves ≈ $0.082 (4096 output tokens assumed) against a
  // $0.50 balance and is admitted; the mock holds it 600 ms, then answers 60,000 tokens ($1.20)
  const bigP = chat(dps[0], keys.zero, { model: 'm-huge' }, { headers: { 'x-request-id': huge }, timeout: slack(20000) }).then((r) => ({ r, t: performance.now() }));
  await Promise.race([
    mock.waitForRequest(huge),
    bigP.then((b) => assert.equal(b.r.status, 200, `the expensive request: ${b.r.text.slice(0, 500)}`)),
  ]);
  // a poller per node: a tiny request every ~10 ms, recording the time of each answer
  const polls = [[], []];
  let stop = false;
  const pollers = dps.map(async (dp, n) => {
    while (!stop) {
      const r = await chat(dp, keys.zero, { model: 'm-cheap', max_tokens: 1 });
      polls[n].push({ t: performance.now(), wall: Date.now(), status: r.status, r });
      await sleep(10);
    }
  });
  let big;
  try {
    big = await bigP;
    assert.equal(big.r.status, 200, big.r.text.slice(0, 500));
    assert.equal(big.r.json.usage.completion_tokens, 60000);
    const t0 = big.t;
    // stop once both nodes have refused, or after the deadline
    await waitFor(() => polls.every((p) => p.some((x) => x.status === 402)), { timeout: slack(5000), interval: 10, what: 'both nodes refusing' }).catch(() => {});
    await sleep(50);
    stop = true;
    await Promise.all(pollers);
    const took = polls.map((p) => {
      const first = p.find((x) => x.status === 402);
      return first ? Math.round(first.t - t0) : null;
    });
    console.log(`# time to refuse after exhaustion: node1 ${took[0]} ms, node2 ${took[1]} ms (polls: ${polls[0].length}, ${polls[1].length})`);
    // the part after the control plane knew: from its "exhausted" log line (written right after
    // the usage commit, before the version is published) to each node's first refusal
    const lines = [...cp.proc.stderr.matchAll(/ts=(\S+) level=\S+ msg="balance or budget exhausted"/g)];
    assert.ok(lines.length > 0, 'the control plane logged no exhaustion');
    const known = Date.parse(lines[lines.length - 1][1]);
    const fromCp = polls.map((p) => p.find((x) => x.status === 402)?.wall - known);
    console.log(`# after the control plane's commit: node1 ${fromCp[0]} ms, node2 ${fromCp[1]} ms`);
    for (const [n, p] of polls.entries()) {
      // the node served the workspace until the balance ran out, then refused it for good
      assert.ok(p.some((x) => x.status === 200), `node ${n + 1}: no poll succeeded before exhaustion`);
      const i = p.findIndex((x) => x.status === 402);
      assert.ok(i >= 0, `node ${n + 1}: never refused the exhausted workspace`);
      for (const x of p.slice(0, i)) assert.equal(x.status, 200, `node ${n + 1} before exhaustion: ${x.r.text}`);
      for (const x of p.slice(i)) assertRefusal(x.r, /^Insufficient prepaid balance\. Current balance: \$/, `node ${n + 1} after exhaustion`);
      assert.ok(took[n] < slack(2000), `node ${n + 1} refused ${took[n]} ms after the balance ran out`);
    }
  } finally {
    stop = true;
    await Promise.all(pollers);
  }
  // the ledger: negative by the overrun of the one request the balance could not pay for
  await settleFleet('after exhaustion');
  const bal = await balanceNano(cp, ws);
  const { credits, debits } = await ledgerSums(ws);
  console.log(`# ledger: balance ${Number(bal) / USD} USD = ${Number(credits) / USD} − ${Number(debits) / USD}`);
  assert.equal(bal, credits - debits);
  assert.ok(bal < 0n, `balance ${bal} is not negative`);
  // $0.50 − $1.20 − the pollers' and the huge request's input (a few micro-USD)
  assert.ok(bal <= -700_000_000n && bal > -701_000_000n, `balance ${bal} vs −$0.70 overrun`);
  const polled = polls.flat().filter((x) => x.status === 200).length;
  await checkLedger(cp, { okRequests: { [ws]: warmOk[ws] + 1 + polled } });
});

test('refusal shape on both nodes: the OpenAI SDK raises 402 insufficient_quota and does not retry', async () => {
  for (const [n, dp] of dps.entries()) {
    const client = new OpenAI({ apiKey: keys.broke, baseURL: `${dp.url}/v1` }); // maxRetries: the default (2)
    const refused0 = refusedTotal(await metrics(dp));
    const seen0 = mock.requests().length;
    let err;
    try {
      await client.chat.completions.create({ model: 'm-cheap', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OpenAI.APIError, `node ${n + 1}: ${err}`);
    assert.equal(err.status, 402, `node ${n + 1}`);
    assert.equal(err.code, 'insufficient_quota', `node ${n + 1}`);
    assert.equal(err.type, 'insufficient_quota', `node ${n + 1}`);
    assert.match(err.message, /^402 Insufficient prepaid balance\. Current balance: \$-?\d+\.\d{6}\. Add credits to continue\./, `node ${n + 1}`);
    // exactly one refusal at the node per call: the SDK did not retry; nothing went upstream
    assert.equal(refusedTotal(await metrics(dp)), refused0 + 1, `node ${n + 1}: refusals counted`);
    assert.equal(mock.requests().length, seen0, `node ${n + 1}: the mock saw a request`);
  }
});
