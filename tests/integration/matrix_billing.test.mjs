// The reliability matrix's money-under-outage rows (issue 13) as tests, on real processes:
//   E14  the control plane is down (killed with -9) when a Stripe webhook event arrives: the
//        delivery fails, the sender retries after the restart (a fresh signature, as Stripe
//        signs every attempt), the workspace is credited exactly once, and replays — the old
//        signature, a new one, twenty at once — change nothing; the same with a control plane
//        frozen (SIGSTOP) while the delivery times out;
//   D4   the control plane killed with -9 five times during usage ingestion (a bus-mode node
//        with a spool under continuous traffic from the official SDK, plain and streamed): after
//        each kill `switchyard-cp --check-db` (PRAGMA integrity_check, foreign keys, ledger
//        invariants) is clean; at the end every request the client saw succeed has exactly one
//        usage record with outcome ok, and checkLedger holds (each record debited once).
// (D3, kill -9 of the data plane under traffic, is kill9.test.mjs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Stripe from 'stripe';
import { OpenAI, makeTempDir, startMock, startCp, restartCp, startBusDp, waitFor, slack, sleep, httpRequest, parseMetrics, balanceNano, ledgerEntries, checkLedger, prepaidWorkspace, stopAll, CP_BIN, childEnv } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const WEBHOOK_SECRET = 'whsec_' + crypto.randomBytes(24).toString('hex');
const stripe = new Stripe('sk_test_' + crypto.randomBytes(12).toString('hex'));
const NANO_PER_CENT = 10000000n;
const KILLS = 5;

let tmp, mock, cp, dp;
const paid = []; // sessions paid in E14 ({ id, amount_cents }), for checkLedger
const dead = []; // control planes killed on purpose (their exit is not a failure)

before(async () => {
  tmp = makeTempDir('sy-matrix-bill-');
  mock = await startMock({ dir: tmp.dir });
  const m = (id, upstream) => ({ id, provider: 'mock', upstream, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] });
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 30000 },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 1 },
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [m('m-fast', 'mock'), m('m-stream', 'mock+chunks=5+delay_ms=10')],
      workspaces: [{ id: 'ws_pay', active: true }],
      keys: [],
    },
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
  });
});

after(async () => {
  await stopAll([dp?.proc, cp?.proc, mock?.proc], tmp);
});

function checkDb() {
  const r = spawnSync(CP_BIN, ['--check-db', cp.db], { env: childEnv(), encoding: 'utf8', timeout: slack(30000) });
  assert.equal(r.status, 0, `--check-db: exit ${r.status}\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^integrity ok$/m);
}

async function killCp() {
  cp.proc.signalProc('SIGKILL');
  assert.ok(await cp.proc.waitExit(slack(5000)), 'the control plane died on SIGKILL');
  assert.equal(cp.proc.signal, 'SIGKILL');
  assert.doesNotMatch(cp.proc.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, cp.proc.stderrTail());
  dead.push(cp.proc);
}

// ---------------------------------------------------------------------------------- E14

function checkoutEvent(session, ws, cents) {
  const object = { id: session, object: 'checkout.session', mode: 'payment', payment_status: 'paid', amount_total: cents, currency: 'usd', payment_intent: `pi_${session}`, client_reference_id: ws, metadata: {} };
  return JSON.stringify({ id: `evt_${crypto.randomBytes(8).toString('hex')}`, object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), type: 'checkout.session.completed', data: { object } });
}
const sign = (payload) => stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
const deliver = (payload, header = sign(payload), opts = {}) => httpRequest(`${cp.base}/stripe/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload, ...opts });

test('E14: the control plane is down when a Stripe event arrives — the retry after the restart credits once, replays change nothing', async () => {
  const cents = 2500;
  const session = 'cs_e14_down';
  const payload = checkoutEvent(session, 'ws_pay', cents);
  const firstHeader = sign(payload);
  const b0 = await balanceNano(cp, 'ws_pay');
  const downBase = cp.base;
  await killCp();
  // the sender's delivery fails: nothing listens (Stripe marks the attempt failed and retries later)
  await assert.rejects(httpRequest(`${downBase}/stripe/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': firstHeader }, body: payload, timeout: slack(3000) }), /ECONNREFUSED|socket hang up|ECONNRESET/);
  checkDb();
  cp = await restartCp(cp);
  assert.equal(await balanceNano(cp, 'ws_pay'), b0, 'nothing credited while it was down');
  // the retry (Stripe signs every attempt anew)
  let r = await deliver(payload);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'credited', r.text);
  const credited = b0 + BigInt(cents) * NANO_PER_CENT;
  assert.equal(await balanceNano(cp, 'ws_pay'), credited);
  // replays: the first attempt's signature (still within the tolerance), a fresh one, twenty at once
  r = await deliver(payload, firstHeader);
  assert.equal(r.status, 200, r.text);
  assert.notEqual(r.json.outcome, 'credited', r.text);
  const burst = await Promise.all(Array.from({ length: 20 }, () => deliver(payload)));
  for (const x of burst) {
    assert.equal(x.status, 200, x.text);
    assert.notEqual(x.json.outcome, 'credited', x.text);
  }
  assert.equal(await balanceNano(cp, 'ws_pay'), credited, 'replays change nothing');
  assert.equal((await ledgerEntries(cp, 'ws_pay')).filter((e) => e.ref === `stripe:${session}`).length, 1);
  paid.push({ id: session, amount_cents: cents });
  await checkLedger(cp, { paidSessions: { ws_pay: paid } });
});

test('E14: the control plane frozen while the delivery times out — the retry credits exactly once whether or not the frozen delivery was applied', async () => {
  const cents = 1234;
  const session = 'cs_e14_frozen';
  const payload = checkoutEvent(session, 'ws_pay', cents);
  const b0 = await balanceNano(cp, 'ws_pay');
  cp.proc.signalProc('SIGSTOP');
  try {
    await assert.rejects(deliver(payload, sign(payload), { timeout: 800 }), /timeout/);
  } finally {
    cp.proc.signalProc('SIGCONT');
  }
  await sleep(slack(300));
  const applied = (await balanceNano(cp, 'ws_pay')) !== b0; // the frozen attempt may or may not have been read
  const r = await deliver(payload);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, applied ? 'replay' : 'credited', `${r.text} (frozen delivery applied: ${applied})`);
  for (let i = 0; i < 3; i++) assert.equal((await deliver(payload)).status, 200);
  assert.equal(await balanceNano(cp, 'ws_pay'), b0 + BigInt(cents) * NANO_PER_CENT, 'credited exactly once');
  console.log(`# E14 frozen: the timed-out delivery was ${applied ? '' : 'not '}applied when the control plane resumed; the retry answered ${r.json.outcome}`);
  paid.push({ id: session, amount_cents: cents });
  await checkLedger(cp, { paidSessions: { ws_pay: paid } });
});

// ----------------------------------------------------------------------------------- D4

function rows(ws) {
  const r = spawnSync('sqlite3', ['-readonly', '-json', cp.db, `SELECT id, tokens_in, outcome FROM usage WHERE workspace_id = '${ws}'`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

test(`D4: the control plane killed with -9 ${KILLS} times during usage ingestion — --check-db clean each time, every client-visible success billed exactly once`, async () => {
  const WS = 'ws_d4';
  const key = await prepaidWorkspace(cp, WS, '1000');
  const spool = path.join(tmp.dir, 'spool-d4');
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, args: ['--spool-dir', spool, '--node-id', 'd4-node'] });
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'the key on the node' });

  let next = 0; // request n has a prompt of n + 1 words: the mock's prompt_tokens (words + 3) names it
  let running = true;
  const seen = new Map(); // tokens_in -> request number, for every success the client saw
  let failed = 0;
  const client = async () => {
    const openai = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(10000) });
    while (running) {
      const n = next++;
      const stream = n % 3 === 1;
      const content = Array.from({ length: n + 1 }, (_, i) => `w${i}`).join(' ');
      try {
        if (stream) {
          const s = await openai.chat.completions.create({ model: 'm-stream', stream: true, messages: [{ role: 'user', content }] });
          let done = false;
          for await (const c of s) if (c.choices?.[0]?.finish_reason) done = true;
          if (done) seen.set(n + 4, n);
          else failed++;
        } else {
          const c = await openai.chat.completions.create({ model: 'm-fast', messages: [{ role: 'user', content }] });
          if (c.usage?.prompt_tokens === n + 4) seen.set(n + 4, n);
          else failed++;
        }
      } catch {
        failed++;
      }
    }
  };
  const clients = Array.from({ length: 5 }, client);
  for (let k = 0; k < KILLS; k++) {
    // kill once usage is flowing again (the node resent its spool to the last restart)
    await sleep(300 + Math.floor(Math.random() * 600));
    await killCp();
    checkDb(); // the file as the kill left it: integrity, foreign keys, ledger invariants
    await sleep(Math.floor(Math.random() * 300)); // traffic goes on; records wait in the spool
    cp = await restartCp(cp, { name: `switchyard-cp-${k + 2}` });
  }
  await sleep(500);
  running = false;
  await Promise.all(clients);
  await waitFor(async () => parseMetrics((await httpRequest(`${dp.url}/metrics`)).text).get('switchyard_usage_records_pending') === 0, { timeout: slack(20000), what: 'nothing pending on the node' });
  await waitFor(async () => Number((await cp.api(`/api/workspaces/${WS}/usage?from=0`)).json.total.requests) >= seen.size, { timeout: slack(10000), what: 'every record ingested' });
  await sleep(300);

  const recs = rows(WS);
  const byTokens = new Map();
  for (const r of recs) byTokens.set(r.tokens_in, [...(byTokens.get(r.tokens_in) ?? []), r]);
  const lost = [];
  for (const [tin, n] of seen) {
    const l = byTokens.get(tin) ?? [];
    if (l.length !== 1 || l[0].outcome !== 'ok') lost.push(`request ${n}: ${JSON.stringify(l)}`);
  }
  for (const [tin, l] of byTokens) {
    assert.ok(tin >= 4 && tin < next + 4, `a record for a request never sent: ${JSON.stringify(l)}`);
    assert.equal(l.length, 1, `one record per request: ${JSON.stringify(l)}`);
  }
  console.log(`# D4: ${KILLS} kills of the control plane, ${next} requests, ${seen.size} seen succeed, ${failed} failed, ${recs.length} usage records`);
  assert.ok(seen.size >= 40, `enough traffic: ${seen.size} successes`);
  assert.deepEqual(lost, [], 'each client-visible success: exactly one record, outcome ok');
  await checkLedger(cp, { okRequests: { [WS]: recs.filter((r) => r.outcome === 'ok').length }, paidSessions: { ws_pay: paid } });
  assert.equal(recs.filter((r) => r.outcome === 'ok').length, seen.size, 'no ok record without a client-visible success (the node was never killed)');
  const t = (await cp.api(`/api/workspaces/${WS}/usage?from=0`)).json.total;
  assert.equal(Number(t.requests), recs.length, 'usage totals = the records');
  const debits = (await ledgerEntries(cp, WS)).filter((e) => e.kind === 'debit');
  // one debit per workspace per usage batch; its note counts the records it charges
  assert.equal(debits.reduce((n, e) => n + Number(/^(\d+) requests? /.exec(e.note)[1]), 0), recs.length, 'every record charged by exactly one debit');
  assert.equal(-debits.reduce((s, e) => s + BigInt(e.amount_nano), 0n), BigInt(t.cost_nano), 'debits = the records’ cost');
  await cp.proc.stop();
  checkDb();
});
