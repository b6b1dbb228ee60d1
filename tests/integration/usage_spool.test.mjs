// Usage records from the data plane to the control plane (docs/billing.md, "Data plane"):
// one record per upstream attempt, spooled to disk (length-prefixed, CRC'd frames, fsynced),
// sent as UsageBatch over the bus, acknowledged position persisted, resent after a restart.
// Real processes: switchyard-cp, switchyard-dp (bus mode, --spool-dir), switchyard-mockllm.
// Every test uses its own workspace, so the control plane's per-workspace usage totals are
// exactly that test's records; tokens are compared with what the mock says it billed.
//   1. non-streamed and streamed requests: one record each, tokens = the mock's, exact costs
//   2. an answer without provider usage: estimated
//   3. a client that leaves mid-stream: one record, client_disconnect, estimated
//   4. the control plane frozen (SIGSTOP) then stopped (SIGTERM) under traffic, restarted:
//      every record arrives once
//   5. a data plane killed with -9 (and its spool given a torn tail): the next one on the same
//      spool sends what was spooled, once
//   6. a spool that cannot be written (RLIMIT_FSIZE via prlimit): records held in memory, past
//      --spool-mem-max new /v1 requests get 503 not_ready; writable again: served, all arrive
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTempDir, startCp, restartCp, startBusDp, startMock, waitFor, slack, sleep, httpRequest, parseMetrics, CP_BIN, childEnv, checkLedger } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:/;
const HAVE_SQLITE = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' }).status === 0;
const HAVE_PRLIMIT = spawnSync('prlimit', ['--version'], { encoding: 'utf8' }).status === 0;
// prices: $1 and $2 per million tokens = 1000 and 2000 nano-USD per token, so cost is exact
const IN_NANO = 1000n;
const OUT_NANO = 2000n;

let tmp, mock, cp, dp;
const keys = {}; // workspace -> API key
const procs = []; // data planes started here (stopped in after)
const killed = new Set();

const WORKSPACES = ['ws_basic', 'ws_est', 'ws_disc', 'ws_out', 'ws_kill', 'ws_full'];

function catalog() {
  const m = (id, upstream) => ({ id, provider: 'mock', upstream, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] });
  return {
    timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 30000 },
    limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [m('m-ok', 'mock'), m('m-nousage', 'mock+no_usage=1'), m('m-slow', 'mock+delay_ms=100+chunks=40')],
    workspaces: WORKSPACES.map((id) => ({ id, active: true })),
    keys: [],
  };
}

async function chat(url, ws, { model = 'm-ok', stream = false, words = 3, signal } = {}) {
  const content = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys[ws]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content }] }),
    signal,
  });
  const text = await r.text();
  return { status: r.status, text };
}

async function usage(ws) {
  const r = await cp.api(`/api/workspaces/${ws}/usage?from=0`);
  assert.equal(r.status, 200, r.text);
  return r.json.total ?? { requests: 0, errors: 0, tokens_in: 0, tokens_out: 0, cost_nano: 0 };
}

async function waitUsage(ws, n, timeout = slack(20000)) {
  return waitFor(
    async () => {
      const t = await usage(ws);
      return Number(t.requests) >= n ? t : null;
    },
    { timeout, interval: 100, what: `${n} usage records for ${ws}` },
  );
}

async function invariants() {
  const r = await cp.api('/api/ledger/check');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true, problems: [] }, r.text);
}

/** The usage rows of a workspace, straight from the control plane's SQLite file (read-only). */
function rows(ws) {
  const r = spawnSync('sqlite3', ['-readonly', '-json', cp.db, `SELECT id, model, tokens_in, tokens_out, cost_nano, outcome, streamed, estimated, ttft_ms, latency_ms, node FROM usage WHERE workspace_id = '${ws}' ORDER BY created_ms`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

/** The mock's billed events whose model matches, after log position `from`. */
function billed(from, model = 'mock') {
  return mock.events().slice(from).filter((e) => e.event === 'billed' && e.model === model);
}

function assertCost(t) {
  assert.equal(BigInt(t.cost_nano), BigInt(t.tokens_in) * IN_NANO + BigInt(t.tokens_out) * OUT_NANO, `cost of ${JSON.stringify(t)}`);
}

async function metrics(url) {
  const r = await httpRequest(`${url}/metrics`);
  assert.equal(r.status, 200);
  return parseMetrics(r.text);
}

function metric(m, name) {
  const v = m.get(name);
  return v === undefined ? undefined : Number(v);
}

async function startDp(spoolDir, extra = []) {
  const d = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, args: ['--spool-dir', spoolDir, ...extra] });
  procs.push(d.proc);
  return d;
}

async function keyWorks(url, ws) {
  // GET /v1/models authenticates without an upstream call, so it mints no usage record
  await waitFor(async () => (await httpRequest(`${url}/v1/models`, { headers: { authorization: `Bearer ${keys[ws]}` } })).status === 200, { timeout: slack(5000), what: `the ${ws} key on the data plane` });
}

before(async () => {
  tmp = makeTempDir('sy-usage-spool-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({ dir: tmp.dir, catalog: catalog() });
  for (const ws of WORKSPACES) {
    // a prepaid workspace needs credit before priced models serve it (docs/admission.md, reservations)
    const c = await cp.api(`/api/workspaces/${ws}/credits`, { method: 'POST', body: { amount_usd: '100', reference: `it-${ws}` } });
    assert.equal(c.status, 201, c.text);
    const r = await cp.api(`/api/workspaces/${ws}/keys`, { method: 'POST', body: { name: 'k', allowed_models: ['*'], expires_at: 0 } });
    assert.equal(r.status, 201, r.text);
    keys[ws] = r.json.key;
  }
  dp = await startDp(path.join(tmp.dir, 'spool-main'));
  for (const ws of WORKSPACES) await keyWorks(dp.url, ws);
});

after(async () => {
  let ok = false;
  try {
    const errors = [];
    for (const p of [...procs, cp?.proc, mock?.proc].filter(Boolean)) {
      try {
        if (killed.has(p)) {
          assert.equal(p.signal, 'SIGKILL', p.describeExit());
          assert.doesNotMatch(p.stderr, SANITIZER_RE, p.stderrTail());
        } else {
          if (p.running) p.signalProc('SIGCONT');
          await p.stop();
        }
      } catch (e) {
        errors.push(e);
      }
    }
    if (cp) {
      const r = spawnSync(CP_BIN, ['--check-db', cp.db], { encoding: 'utf8', env: childEnv() });
      if (r.status !== 0) errors.push(new Error(`--check-db: ${r.stdout}${r.stderr}`));
    }
    if (errors.length) throw new Error(errors.map((e) => e.message).join('\n\n'));
    ok = true;
  } finally {
    if (ok) tmp?.cleanup();
    else if (tmp) console.log(`kept ${tmp.dir} for inspection`);
  }
});

test('non-streamed and streamed requests: one record each, tokens as the provider billed, exact cost', async () => {
  const from = mock.events().length;
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await chat(dp.url, 'ws_basic', { words: 2 + i }));
  for (let i = 0; i < 4; i++) results.push(await chat(dp.url, 'ws_basic', { stream: true, words: 5 + i }));
  for (const r of results) assert.equal(r.status, 200, r.text);
  const t = await waitUsage('ws_basic', 8);
  await sleep(300); // nothing more may arrive
  const t2 = await usage('ws_basic');
  assert.equal(Number(t2.requests), 8, 'exactly one record per request');
  assert.equal(Number(t2.errors), 0);
  const b = billed(from);
  assert.equal(b.length, 8, 'the mock billed 8 answers');
  assert.equal(Number(t.tokens_in), b.reduce((s, e) => s + e.prompt_tokens, 0));
  assert.equal(Number(t.tokens_out), b.reduce((s, e) => s + e.completion_tokens, 0));
  assertCost(t);
  if (HAVE_SQLITE) {
    const rs = rows('ws_basic');
    assert.equal(rs.length, 8);
    assert.equal(new Set(rs.map((r) => r.id)).size, 8);
    for (const r of rs) {
      assert.match(r.id, /^u[0-9a-f]{38}$/);
      assert.equal(r.outcome, 'ok');
      assert.equal(r.estimated, 0);
      assert.equal(r.model, 'm-ok');
      assertCost(r);
    }
    assert.equal(rs.filter((r) => r.streamed === 1).length, 4);
    for (const r of rs.filter((r) => r.streamed === 1)) assert.ok(r.ttft_ms >= 0 && r.latency_ms >= r.ttft_ms, JSON.stringify(r));
  }
  const m = await metrics(dp.url);
  assert.ok(metric(m, 'switchyard_usage_records_total{stage="acked"}') >= 8, JSON.stringify(m));
  assert.ok(metric(m, 'switchyard_usage_records_total{stage="spooled"}') >= 8);
  assert.equal(metric(m, 'switchyard_usage_refusing'), 0);
  await invariants();
});

test('an answer without provider usage is metered from an estimate and marked estimated', async () => {
  assert.equal((await chat(dp.url, 'ws_est', { model: 'm-nousage' })).status, 200);
  assert.equal((await chat(dp.url, 'ws_est', { model: 'm-nousage', stream: true })).status, 200);
  const t = await waitUsage('ws_est', 2);
  assert.equal(Number(t.errors), 0);
  assert.ok(Number(t.tokens_in) > 0 && Number(t.tokens_out) > 0, JSON.stringify(t));
  assertCost(t);
  if (HAVE_SQLITE) for (const r of rows('ws_est')) assert.equal(r.estimated, 1, JSON.stringify(r));
});

test('a client that leaves mid-stream: one record, client_disconnect, what was generated so far', async () => {
  const from = mock.events().length;
  const ac = new AbortController();
  const r = await fetch(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys.ws_disc}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-slow', stream: true, messages: [{ role: 'user', content: 'tell me a long story' }] }),
    signal: ac.signal,
  });
  assert.equal(r.status, 200);
  const reader = r.body.getReader();
  let seen = '';
  while ((seen.match(/"content":"[^"]+"/g) || []).length < 4) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'the stream ended early');
    seen += Buffer.from(value).toString('utf8');
  }
  ac.abort();
  await reader.cancel().catch(() => {});
  // the upstream is cancelled: the mock sees its client leave
  await waitFor(() => mock.events().slice(from).find((e) => e.event === 'closed'), { timeout: slack(3000), what: 'the mock to see the cancel' });
  const t = await waitUsage('ws_disc', 1);
  await sleep(300);
  const t2 = await usage('ws_disc');
  assert.equal(Number(t2.requests), 1);
  assert.equal(Number(t2.errors), 1, 'outcome is not ok');
  assert.ok(Number(t.tokens_out) >= 1 && Number(t.tokens_out) < 40, JSON.stringify(t));
  assert.ok(Number(t.tokens_in) >= 1);
  assertCost(t);
  assert.equal(billed(from, 'mock+delay_ms=100+chunks=40').length, 0, 'the mock billed nothing complete');
  if (HAVE_SQLITE) {
    const [row] = rows('ws_disc');
    assert.equal(row.outcome, 'client_disconnect');
    assert.equal(row.estimated, 1);
    assert.equal(row.streamed, 1);
  }
});

test('control plane frozen and then stopped under traffic: every record arrives once', async () => {
  const from = mock.events().length;
  let ok = 0;
  const fire = async (n) => {
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => chat(dp.url, 'ws_out', { stream: i % 2 === 1, words: 1 + (i % 5) })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    ok += n;
  };
  await fire(10);
  cp.proc.signalProc('SIGSTOP');
  try {
    for (let i = 0; i < 4; i++) {
      await fire(5);
      await sleep(400);
    }
  } finally {
    cp.proc.signalProc('SIGCONT');
  }
  await fire(5);
  await cp.proc.stop(); // SIGTERM: the control plane is gone for a while
  for (let i = 0; i < 4; i++) {
    await fire(5);
    await sleep(300);
  }
  const pending = metric(await metrics(dp.url), 'switchyard_usage_records_pending');
  assert.ok(pending >= 20, `records wait for the control plane (pending ${pending})`);
  cp = await restartCp(cp);
  const t = await waitUsage('ws_out', ok, slack(30000));
  await sleep(500);
  const t2 = await usage('ws_out');
  assert.equal(Number(t2.requests), ok, 'each record applied exactly once');
  const b = billed(from);
  assert.equal(b.length, ok);
  assert.equal(Number(t.tokens_in), b.reduce((s, e) => s + e.prompt_tokens, 0));
  assert.equal(Number(t.tokens_out), b.reduce((s, e) => s + e.completion_tokens, 0));
  assertCost(t2);
  await waitFor(async () => metric(await metrics(dp.url), 'switchyard_usage_records_pending') === 0, { timeout: slack(5000), what: 'nothing pending' });
  await invariants();
  await checkLedger(cp, { okRequests: { ws_out: ok } });
});

test('a data plane killed with -9: the next one on its spool sends what was spooled, once', async () => {
  const spool = path.join(tmp.dir, 'spool-kill');
  const d1 = await startDp(spool);
  await keyWorks(d1.url, 'ws_kill');
  const from = mock.events().length;
  await cp.proc.stop(); // nothing can be acknowledged: everything stays in the spool
  const n = 12;
  for (let i = 0; i < n; i++) assert.equal((await chat(d1.url, 'ws_kill', { stream: i % 2 === 0 })).status, 200);
  await waitFor(async () => metric(await metrics(d1.url), 'switchyard_usage_records_total{stage="spooled"}') >= n, { timeout: slack(5000), what: 'records fsynced' });
  killed.add(d1.proc);
  d1.proc.stopping = true;
  d1.proc.signalProc('SIGKILL');
  await d1.proc.waitExit(slack(5000));
  // a crash in the middle of the next write: a torn frame at the end of the active segment
  const segs = fs.readdirSync(spool).filter((f) => /^seg-[0-9a-f]{16}\.usp$/.test(f)).sort();
  assert.ok(segs.length >= 1, fs.readdirSync(spool).join(','));
  fs.appendFileSync(path.join(spool, segs[segs.length - 1]), Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9]));
  cp = await restartCp(cp);
  const d2 = await startDp(spool);
  const t = await waitUsage('ws_kill', n);
  await sleep(500);
  const t2 = await usage('ws_kill');
  assert.equal(Number(t2.requests), n, 'spooled records applied once');
  const b = billed(from);
  assert.equal(b.length, n);
  assert.equal(Number(t.tokens_in), b.reduce((s, e) => s + e.prompt_tokens, 0));
  assert.equal(Number(t.tokens_out), b.reduce((s, e) => s + e.completion_tokens, 0));
  assertCost(t2);
  assert.match(d2.proc.stderr, /torn tail cut/);
  // once acknowledged, a restart sends nothing again
  await waitFor(async () => metric(await metrics(d2.url), 'switchyard_usage_records_pending') === 0, { timeout: slack(5000), what: 'nothing pending' });
  await d2.proc.stop();
  const d3 = await startDp(spool);
  await sleep(800);
  assert.equal(metric(await metrics(d3.url), 'switchyard_usage_records_total{stage="sent"}'), 0);
  assert.equal(Number((await usage('ws_kill')).requests), n);
  await invariants();
  await checkLedger(cp, { okRequests: { ws_kill: n } });
});

test('a spool that cannot be written: records held in memory, then 503 not_ready, then recovery; nothing lost', { skip: !HAVE_PRLIMIT && 'prlimit (util-linux) not installed' }, async () => {
  const spool = path.join(tmp.dir, 'spool-full');
  const d = await startDp(spool, ['--spool-mem-max', '5']);
  await keyWorks(d.url, 'ws_full');
  let ok = 0;
  for (let i = 0; i < 2; i++) {
    assert.equal((await chat(d.url, 'ws_full')).status, 200);
    ok++;
  }
  await waitFor(async () => metric(await metrics(d.url), 'switchyard_usage_records_total{stage="spooled"}') >= 2, { timeout: slack(5000), what: 'two records spooled' });
  await cp.proc.stop(); // records can only wait: on disk, or in memory
  const seg = fs.readdirSync(spool).filter((f) => f.endsWith('.usp') && f.startsWith('seg-')).sort().pop();
  const size = fs.statSync(path.join(spool, seg)).size;
  // RLIMIT_FSIZE at the segment's current size: every append fails with EFBIG (a full disk,
  // as far as the spooler can tell); root or not, a process may lower its soft limit
  const pr = (lim) => spawnSync('prlimit', ['--pid', String(d.proc.pid), `--fsize=${lim}:unlimited`], { encoding: 'utf8' });
  let r = pr(String(size));
  assert.equal(r.status, 0, r.stderr);
  try {
    let refused = 0;
    for (let i = 0; i < 12; i++) {
      const res = await chat(d.url, 'ws_full');
      if (res.status === 200) ok++;
      else {
        assert.equal(res.status, 503, res.text);
        assert.equal(JSON.parse(res.text).error.code, 'not_ready');
        refused++;
      }
      await sleep(60);
    }
    assert.ok(refused > 0, 'past the memory bound new requests are refused');
    assert.ok(ok - 2 >= 5, `records up to the bound were still served (${ok - 2})`);
    assert.equal((await httpRequest(`${d.url}/readyz`)).status, 503);
    const m = await metrics(d.url);
    assert.ok(metric(m, 'switchyard_usage_spool_write_errors_total') > 0);
    assert.equal(metric(m, 'switchyard_usage_refusing'), 1);
    assert.ok(metric(m, 'switchyard_usage_records_in_memory') >= 5);
  } finally {
    r = pr('unlimited');
    assert.equal(r.status, 0, r.stderr);
  }
  // the disk takes the records again: served again, nothing refused
  await waitFor(async () => (await httpRequest(`${d.url}/readyz`)).status === 200, { timeout: slack(5000), what: 'readyz 200 once the spool is writable' });
  const res = await chat(d.url, 'ws_full');
  assert.equal(res.status, 200, res.text);
  ok++;
  assert.equal(metric(await metrics(d.url), 'switchyard_usage_records_in_memory'), 0);
  cp = await restartCp(cp);
  await waitUsage('ws_full', ok);
  await sleep(500);
  const t = await usage('ws_full');
  assert.equal(Number(t.requests), ok, 'every served request billed once, none for refused ones');
  assertCost(t);
  await invariants();
});
