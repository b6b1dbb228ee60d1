#!/usr/bin/env node
// Usage ingestion benchmark: issue 17's target "usage ingestion >= 50,000 records/s sustained into
// the ledger, every record applied once — checked by the ledger invariants afterwards".
//
// Starts switchyard-cp (temp SQLite on disk, plain bus on loopback) with INGEST_WORKSPACES
// workspaces, each granted $1,000,000, then sends INGEST_RECORDS usage records as UsageBatch
// messages of 1,000 records on the REP socket — exactly what data planes send (protobufjs encodes
// from proto/bus.proto; every batch is encoded before the clock starts, so the encoder is not
// measured) — from INGEST_SENDERS concurrent senders, as that many nodes would. Records: ids as
// data planes mint them (dp_usage_mint_id: "u" + a random boot id + thread + a sequence, so one
// node's ids ascend), batch b from node b % INGEST_NODES; INGEST_WORKSPACES workspaces with
// INGEST_KEYS / INGEST_WORKSPACES keys each, 6 models, 4 tasks, 3 % errors, created over the last
// hour. Workspaces, their keys and models are drawn Zipf-like (s = INGEST_SKEW, default 1: the
// busiest of 200 workspaces sends ~17 % of the traffic, as real tenants do); INGEST_SKEW=0 draws
// uniformly — the worst case for the per-day rollup, where nearly every record is its own group.
// Then every INGEST_REPLAY-th batch is sent again (a node that lost an ack): each must come back
// with applied 0 and all its records counted as duplicates.
//
// Prints records/s over the whole run and per fifth of it (the rate as the database grows), the
// control plane's CPU seconds and peak RSS, and then checks, PASS/FAIL:
//   - records/s over the whole run >= INGEST_TARGET (default 50,000);
//   - /api/ledger/check finds no problem (balances = sum of entries, chains, every usage record
//     has exactly its debit, the daily rollup adds up);
//   - per workspace: balance = grant - the sum of the costs this script sent (exactly, in nano-USD)
//     and the usage summary counts exactly the records sent (replays applied once).
//
//   SY_BUILD_DIR=build node tests/bench/ingest.mjs
//   INGEST_RECORDS=1000000 INGEST_SENDERS=50 SY_BUILD_DIR=build node tests/bench/ingest.mjs
//
// Exit 0 PASS, 1 FAIL, 2 error. BENCH_KEEP=1 keeps the temp dir (database, logs).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.SY_BUILD_DIR ??= path.join(here, '..', '..', 'build');
const { makeTempDir, startCp, closedPort, REPO } = await import('../integration/lib/harness.mjs');
const { spRequest } = await import('../integration/lib/sp.mjs');
const protobuf = createRequire(path.join(here, '..', 'integration', 'package.json'))('protobufjs');

const N_RECORDS = Number(process.env.INGEST_RECORDS || 500000);
const N_WS = Number(process.env.INGEST_WORKSPACES || 200);
const N_KEYS = Number(process.env.INGEST_KEYS || 2000);
const SENDERS = Number(process.env.INGEST_SENDERS || 50);
const NODES = Number(process.env.INGEST_NODES || 50);
const REPLAY = Number(process.env.INGEST_REPLAY || 20);
const TARGET = Number(process.env.INGEST_TARGET || 50000);
const SKEW = Number(process.env.INGEST_SKEW ?? 1);
const KEYS_PER_WS = Math.max(1, Math.round(N_KEYS / N_WS));

/** A sampler of 0..n-1 with P(i) proportional to 1 / (i + 1)^SKEW (uniform when SKEW is 0). */
function zipf(n) {
  const w = Array.from({ length: n }, (_, i) => 1 / Math.pow(i + 1, SKEW));
  const cdf = [];
  let acc = 0;
  for (const x of w) cdf.push((acc += x));
  return () => {
    const u = Math.random() * acc;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
const BATCH = 1000;
const GRANT_NANO = 1000000n * 1000000000n;

const root = new protobuf.Root().loadSync(path.join(REPO, 'proto', 'bus.proto'), { keepCase: true });
const BusRequest = root.lookupType('switchyard.BusRequest');
const UsageAck = root.lookupType('switchyard.UsageAck');

function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100 Hz)
}
function ioWritten(pid) { // bytes the process handed to write()/pwrite() (wchar) and the fsync count proxy
  const t = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(t.match(/wchar: (\d+)/)[1]);
}
function hwmMiB(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)[1]) / 1024;
}

const tmp = makeTempDir('sy-bench-ingest-');
let cp;
let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};
try {
  const dead = await closedPort();
  const models = ['m-small', 'm-mid', 'm-large', 'm-code', 'm-fast', 'm-embed'];
  const wsIds = Array.from({ length: N_WS }, (_, i) => `ws_${i}`);
  cp = await startCp({
    dir: tmp.dir,
    args: ['--log-level', 'warn'],
    catalog: {
      providers: [{ id: 'p', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: { interval_ms: 0 } }],
      models: models.map((id) => ({ id, provider: 'p', upstream: id, input_per_m: '1.25', output_per_m: '5' })),
      workspaces: wsIds.map((id) => ({ id, active: true })),
      keys: [],
    },
  });
  for (const ws of wsIds) {
    const r = await cp.api(`/api/workspaces/${ws}/credits`, { method: 'POST', body: { amount_usd: '1000000', reference: `bench-${ws}` } });
    if (r.status !== 200 && r.status !== 201) throw new Error(`credit ${ws}: ${r.status} ${r.text}`);
  }

  // every batch encoded before the clock starts
  const spent = new Map(wsIds.map((w) => [w, 0n]));
  const count = new Map(wsIds.map((w) => [w, 0]));
  const now = Date.now();
  const batches = [];
  const boots = Array.from({ length: NODES }, () => crypto.randomBytes(8).toString('hex'));
  const seqs = new Array(NODES).fill(0);
  const pickWs = zipf(N_WS);
  const pickKey = zipf(KEYS_PER_WS);
  const pickModel = zipf(models.length);
  for (let made = 0, b = 0; made < N_RECORDS; b++) {
    const node = b % NODES;
    const records = [];
    for (let i = 0; i < BATCH && made < N_RECORDS; i++, made++) {
      const w = pickWs();
      const ws = wsIds[w];
      const cost = 1000 + crypto.randomInt(2000000);
      spent.set(ws, spent.get(ws) + BigInt(cost));
      count.set(ws, count.get(ws) + 1);
      const failover = made % 33 === 0;
      records.push({
        id: `u${boots[node]}${(made % 2).toString(16).padStart(2, '0')}${(++seqs[node]).toString(16).padStart(12, '0')}`,
        workspace: ws,
        key_id: `key_${w}_${pickKey()}`,
        model: models[pickModel()],
        provider: 'p',
        tokens_in: 200 + (made % 900),
        tokens_out: 50 + (made % 400),
        cost_nano: cost,
        latency_ms: 100 + (made % 1500),
        ttft_ms: made % 2 ? 40 + (made % 300) : 0,
        outcome: failover ? 'upstream_error' : 'ok',
        streamed: made % 2 === 1,
        estimated: false,
        node: `dp-${node}`,
        created_ms: now - 3600000 + Math.floor((made / N_RECORDS) * 3600000),
        request_id: `req-${made.toString(16).padStart(12, '0')}`,
        attempt: 1,
        model_asked: made % 3 === 0 ? 'auto' : 'direct',
        task: ['code', 'chat', 'math', 'writing'][made % 4],
        difficulty: ['easy', 'medium', 'hard'][made % 3],
      });
    }
    batches.push({ n: records.length, buf: Buffer.from(BusRequest.encode(BusRequest.fromObject({ usage: { node_id: `dp-${node}`, batch_id: `bench-${b}`, records } })).finish()) });
  }
  console.log(`${N_RECORDS} records in ${batches.length} batches from ${NODES} nodes, ${N_WS} workspaces x ${KEYS_PER_WS} keys, skew ${SKEW}, ${SENDERS} senders; encoded ${(batches.reduce((a, b) => a + b.buf.length, 0) / 1e6).toFixed(1)} MB; control plane pid ${cp.proc.pid}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  async function send(buf) {
    for (let tries = 0; ; tries++) {
      const { body } = await spRequest(cp.repUrl, buf, { timeoutMs: 60000 });
      const ack = UsageAck.toObject(UsageAck.decode(body), { defaults: true });
      if (ack.error && ack.retry && tries < 20) continue; // "busy": a node would retry
      if (ack.error) throw new Error(`batch refused: ${ack.error} (record ${ack.bad_record}, ${ack.param})`);
      return ack;
    }
  }

  const cpu0 = cpuSeconds(cp.proc.pid);
  const w0 = ioWritten(cp.proc.pid);
  const t0 = performance.now();
  const fifth = Math.ceil(batches.length / 5);
  const doneAt = new Array(batches.length);
  let next = 0;
  let applied = 0;
  await Promise.all(Array.from({ length: SENDERS }, async () => {
    while (next < batches.length) {
      const i = next++;
      const ack = await send(batches[i].buf);
      if (ack.applied !== batches[i].n) throw new Error(`batch ${i} applied ${ack.applied} of ${batches[i].n}`);
      applied += ack.applied;
      doneAt[i] = performance.now();
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cp.proc.pid) - cpu0;
  const written = ioWritten(cp.proc.pid) - w0;
  const rate = applied / secs;
  console.log(`ingested ${applied} records in ${secs.toFixed(2)} s: ${Math.round(rate)} records/s; control plane CPU ${cpu.toFixed(2)} s (${(cpu * 1e6 / applied).toFixed(1)} us/record), peak RSS ${hwmMiB(cp.proc.pid).toFixed(0)} MiB, ${(written / applied / 1024).toFixed(1)} KiB written per record; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // batches complete out of order (several senders): fifths of the run by completion time
  const done = doneAt.map((t, i) => ({ t, n: batches[i].n })).sort((x, y) => x.t - y.t);
  const parts = [];
  let prevT = t0;
  for (let p = 0; p < 5; p++) {
    const slice = done.slice(p * fifth, (p + 1) * fifth);
    if (slice.length === 0) break;
    const end = slice.at(-1).t;
    parts.push(Math.round(slice.reduce((a, x) => a + x.n, 0) / ((end - prevT) / 1000)));
    prevT = end;
  }
  console.log(`records/s by fifth of the run (as the database grows): ${parts.join(' / ')}`);

  // replays: applied 0, every record a duplicate
  let replayed = 0;
  for (let i = 0; REPLAY > 0 && i < batches.length; i += REPLAY) {
    const ack = await send(batches[i].buf);
    if (ack.applied !== 0 || ack.duplicates !== batches[i].n) throw new Error(`replay of batch ${i}: applied ${ack.applied}, duplicates ${ack.duplicates}`);
    replayed++;
  }
  console.log(`replayed ${replayed} batches: every record a duplicate, none applied`);

  check(rate >= TARGET, `${Math.round(rate)} records/s >= ${TARGET}`);
  const lc = await cp.api('/api/ledger/check');
  check(lc.status === 200 && lc.json.ok === true && lc.json.problems.length === 0, `ledger invariants (${lc.text.slice(0, 200)})`);
  let bad = 0;
  for (const ws of wsIds) {
    const b = await cp.api(`/api/workspaces/${ws}/balance`);
    const bal = BigInt(b.text.match(/"balance_nano":(-?\d+)/)[1]);
    const u = await cp.api(`/api/workspaces/${ws}/usage`);
    const reqs = u.json?.total?.requests ?? u.json?.requests;
    if (bal !== GRANT_NANO - spent.get(ws) || reqs !== count.get(ws)) {
      if (bad++ < 5) console.log(`  ${ws}: balance ${bal}, expected ${GRANT_NANO - spent.get(ws)}; records ${reqs}, sent ${count.get(ws)}`);
    }
  }
  check(bad === 0, `every workspace: balance = grant - costs sent, records = sent (${N_WS - bad}/${N_WS})`);
} catch (e) {
  console.error(`ingest bench: ${e.stack || e}`);
  process.exitCode = 2;
} finally {
  if (process.env.INGEST_LOG) fs.writeFileSync(process.env.INGEST_LOG, cp?.proc?.stderr ?? "");
  if (cp?.proc?.running) await cp.proc.stop();
  if (process.env.BENCH_KEEP === '1') console.log(`kept ${tmp.dir}`);
  else tmp.cleanup?.();
}
if (process.exitCode === undefined) process.exitCode = failed ? 1 : 0;
