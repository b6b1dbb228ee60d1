#!/usr/bin/env node
// Snapshot scale benchmark: a catalog of 1,000 models (one provider) and 100,000 keys.
//   - switchyard-cp start-up with that catalog: spawn -> "catalog loaded" log line, -> /healthz 200;
//   - cp snapshot build: SCALE_FETCHES snapshot requests sent by this script itself over the bus
//     (a minimal nng REQ client on the SP/TCP wire protocol), each timed request -> whole reply,
//     plus the control plane's CPU time per request from /proc (no data plane attached yet);
//   - dp apply: a bus-mode data plane at --log-level info (no load on it) reports per applied
//     snapshot fetch_ms / unpack_ms / build_ms (dp_bus.c's "snapshot applied" line); the start
//     (spawn -> /readyz 200) and SCALE_APPLIES single version bumps (API answer -> the node's
//     switchyard_config_version at that version);
//   - bytes per key: VmRSS of that data plane with the snapshot minus VmRSS of an idle bus-mode
//     data plane with no snapshot, / keys;
//   - throughput: a second data plane (--log-level warn, so no access log) under wrk for
//     SCALE_SECONDS, without version changes and while one key is revoked every SCALE_BUMP_MS
//     through the admin API (the node fetches and swaps a whole snapshot each time), interleaved
//     for SCALE_ROUNDS rounds (the order alternates per round); medians and the ratio.
// Progress lines go to stderr ("[  12.3s] ..."), the summary block to stdout.
//
//   node tests/bench/snapshot_scale.mjs          # BUILD_DIR defaults to /work/main/build
// Env: BUILD_DIR, SCALE_KEYS (100000), SCALE_MODELS (1000), SCALE_SECONDS (10), SCALE_CONNS (16),
// SCALE_BUMP_MS (100), SCALE_ROUNDS (3), SCALE_FETCHES (5), SCALE_APPLIES (5), SCALE_WAIT_S (180),
// SCALE_DEADLINE_S (1200), SCALE_LOAD_CACHE=0 (load node without --cache-dir), SCALE_KEEP=1 keeps the temp dir. Exit 0 done, 2 error.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { spRequest } from '../integration/lib/sp.mjs';

const BUILD_DIR = path.resolve(process.env.BUILD_DIR || '/work/main/build');
const MOCK_BIN = path.join(BUILD_DIR, 'tests', 'mockllm', 'switchyard-mockllm');
const CP_BIN = path.join(BUILD_DIR, 'controlplane', 'switchyard-cp');
const DP_BIN = path.join(BUILD_DIR, 'dataplane', 'switchyard-dp');
const LUA = path.join(path.dirname(fileURLToPath(import.meta.url)), 'snapshot_scale.lua');
const N_KEYS = Number(process.env.SCALE_KEYS || 100000);
const N_MODELS = Number(process.env.SCALE_MODELS || 1000);
const SECONDS = Number(process.env.SCALE_SECONDS || 10);
const CONNS = Number(process.env.SCALE_CONNS || 16);
const BUMP_MS = Number(process.env.SCALE_BUMP_MS || 100);
const ROUNDS = Number(process.env.SCALE_ROUNDS || 3);
const FETCHES = Number(process.env.SCALE_FETCHES || 5);
const APPLIES = Number(process.env.SCALE_APPLIES || 5);
const WAIT_MS = Number(process.env.SCALE_WAIT_S || 180) * 1000;
const KEEP = process.env.SCALE_KEEP === '1';
const LOAD_CACHE = process.env.SCALE_LOAD_CACHE !== '0'; // 0: the load node runs without --cache-dir (no write+fsync per apply)
const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const LOAD_KEY = 'sk-sy-' + crypto.randomBytes(32).toString('hex');
const T_START = performance.now();

function progress(msg) {
  process.stderr.write(`[${((performance.now() - T_START) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

for (const b of [MOCK_BIN, CP_BIN, DP_BIN]) {
  if (!fs.existsSync(b)) {
    console.error(`snapshot_scale: missing ${b} (build first, or set BUILD_DIR)`);
    process.exit(2);
  }
}
if (N_KEYS < 2 || N_MODELS < 1 || ROUNDS < 1 || FETCHES < 1 || APPLIES < 1) {
  console.error('snapshot_scale: SCALE_KEYS >= 2, SCALE_MODELS/ROUNDS/FETCHES/APPLIES >= 1');
  process.exit(2);
}

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-scale-'));
const procs = []; // every child process this script started (servers and wrk)
let cleaned = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(name, bin, args, env = {}) {
  const t0 = performance.now();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const log = fs.createWriteStream(path.join(tmpDir, `${name}.log`));
  const p = { name, child, t0, exited: false, out: '', marks: {}, applied: [] };
  let partial = '';
  const onData = (d) => {
    log.write(d);
    const s = d.toString();
    p.out += s;
    if (p.out.length > 1 << 20) p.out = p.out.slice(-(1 << 19));
    if (!p.marks.catalog && /catalog loaded/.test(p.out)) p.marks.catalog = performance.now();
    // dp_bus.c: msg="snapshot applied" source=bus version=.. keys=.. bytes=.. fetch_ms=.. unpack_ms=.. build_ms=.. free_ms=..
    const lines = (partial + s).split('\n');
    partial = lines.pop();
    for (const l of lines) {
      const m = l.match(/snapshot applied" source=bus version=(\d+).*?bytes=(\d+) fetch_ms=([\d.]+) unpack_ms=([\d.]+) build_ms=([\d.]+) free_ms=([\d.]+)/);
      if (m) {
        const [version, bytes, fetch, unpack, build, free] = m.slice(1).map(Number);
        p.applied.push({ at: performance.now(), version, bytes, fetch, unpack, build, free });
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('error', (e) => Object.assign(p, { exited: true, code: -1, signal: String(e) }));
  child.on('exit', (code, signal) => Object.assign(p, { exited: true, code, signal }));
  procs.push(p);
  return p;
}

async function stop(p) {
  if (p.exited) return;
  p.child.kill('SIGTERM');
  const t0 = Date.now();
  while (!p.exited && Date.now() - t0 < 5000) await sleep(20);
  if (!p.exited) p.child.kill('SIGKILL');
  while (!p.exited && Date.now() - t0 < 7000) await sleep(20);
}

async function stopAll() {
  if (cleaned) return;
  cleaned = true;
  const live = procs.filter((p) => !p.exited).reverse();
  for (const p of live) p.child.kill('SIGTERM');
  const t0 = Date.now();
  while (live.some((p) => !p.exited) && Date.now() - t0 < 5000) await sleep(20);
  for (const p of live) if (!p.exited) p.child.kill('SIGKILL');
  if (KEEP) console.error(`work dir kept: ${tmpDir}`);
  else fs.rmSync(tmpDir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => {
    progress(`${sig}: stopping`);
    await stopAll();
    process.exit(130);
  });
}
// last resort (an uncaught exception, process.exit from elsewhere): nothing survives the script
process.on('exit', () => {
  for (const p of procs) if (!p.exited) try { p.child.kill('SIGKILL'); } catch {}
});

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function checkAlive(p) {
  if (p.exited) throw new Error(`${p.name} exited (code ${p.code}, signal ${p.signal}):\n${p.out.slice(-3000)}`);
}

// Polls fn until truthy; says on stderr every 10 s what it is still waiting for.
async function waitFor(fn, { timeout = WAIT_MS, interval = 5, what }) {
  const t0 = performance.now();
  let said = t0;
  for (;;) {
    const v = await fn();
    if (v) return v;
    const now = performance.now();
    if (now - t0 > timeout) throw new Error(`timed out after ${(timeout / 1000).toFixed(0)} s waiting for ${what}`);
    if (now - said >= 10000) {
      progress(`  still waiting for ${what} (${((now - t0) / 1000).toFixed(0)} s)`);
      said = now;
    }
    await sleep(interval);
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}
async function statusOf(url) {
  try {
    return (await request(url)).status;
  } catch {
    return 0;
  }
}

async function portFile(file, p) {
  return waitFor(
    () => {
      checkAlive(p);
      return fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim();
    },
    { what: `${p.name} port file` },
  );
}

function procStatus(pid, field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return Number(m[1]) * 1024;
}
const vmRSS = (pid) => procStatus(pid, 'VmRSS');

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime, in clock ticks (100/s)
}

// One whole-snapshot fetch (an empty request: switchyard-cp answers it with the full snapshot).
async function busFetch(url) {
  const r = await spRequest(url, Buffer.alloc(0), { timeoutMs: WAIT_MS });
  return { ms: r.ms, bytes: r.body.length };
}

function wrk(url, label) {
  return new Promise((resolve, reject) => {
    const c = spawn('wrk', ['-t1', `-c${CONNS}`, `-d${SECONDS}s`, '-s', LUA, `${url}/v1/chat/completions`], {
      env: { ...process.env, SCALE_KEY: LOAD_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = { name: `wrk-${label}`, child: c, exited: false };
    procs.push(p);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', () => {
      p.exited = true;
      fs.writeFileSync(path.join(tmpDir, `wrk-${label}.txt`), out);
      const m = out.match(/SCALE requests=(\d+) duration_us=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+)/);
      if (!m) return reject(new Error(`wrk ${label}: no SCALE line:\n${out}`));
      const [requests, dur, errors, p50, p99] = m.slice(1).map(Number);
      resolve({ requests, rps: requests / (dur / 1e6), errors, p50, p99 });
    });
  });
}

async function metric(url, re) {
  const r = await request(`${url}/metrics`);
  const m = r.text.match(re);
  return m ? Number(m[1]) : 0;
}

const mb = (b) => (b / 1048576).toFixed(1) + ' MiB';
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const pct = (a, q) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN;
};
const stats = (a, d = 0) => `median ${median(a).toFixed(d)}, min ${Math.min(...a).toFixed(d)}, max ${Math.max(...a).toFixed(d)} (n=${a.length})`;
const appliedRe = /switchyard_snapshot_applied_total\{source="bus"\}\s+(\d+)/;
const versionRe = /^switchyard_config_version\s+(\d+)/m;

async function main() {
  progress(`start: ${N_MODELS} models, ${N_KEYS} keys, BUILD_DIR=${BUILD_DIR}, work dir ${tmpDir}`);
  // ---- mock provider
  const mock = start('mockllm', MOCK_BIN, ['--listen', '127.0.0.1:0', '--threads', '1']);
  const mockPort = await waitFor(
    () => {
      checkAlive(mock);
      const m = mock.out.match(/listening 127\.0\.0\.1:(\d+)/);
      return m ? Number(m[1]) : null;
    },
    { what: 'mock listening line' },
  );
  progress(`mock up on 127.0.0.1:${mockPort}`);

  // ---- the catalog
  const tGen = performance.now();
  const models = [];
  for (let i = 0; i < N_MODELS; i++) {
    models.push({ id: `m-${i}`, provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] });
  }
  const keys = [{ id: 'key_load', name: 'load', sha256: crypto.createHash('sha256').update(LOAD_KEY).digest('hex'), workspace: 'ws_scale', allowed_models: ['*'] }];
  for (let i = 1; i < N_KEYS; i++) {
    keys.push({ id: `key_${String(i).padStart(6, '0')}`, name: `k${i}`, sha256: crypto.randomBytes(32).toString('hex'), workspace: 'ws_scale', allowed_models: ['*'] });
  }
  const catalogFile = path.join(tmpDir, 'catalog.json');
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({
      timeouts_ms: { connect: 1000, first_byte: 5000, idle: 5000, total: 20000 },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 1 },
      providers: [{ id: 'mock', kind: 'openai', base_url: `http://127.0.0.1:${mockPort}/v1`, api_key_env: 'MOCK_KEY' }],
      models,
      workspaces: [{ id: 'ws_scale', active: true }],
      keys,
    }),
  );
  const catalogBytes = fs.statSync(catalogFile).size;
  const genMs = performance.now() - tGen;
  progress(`catalog written: ${mb(catalogBytes)} in ${genMs.toFixed(0)} ms`);

  // ---- control plane start-up
  const pubUrl = `tcp://127.0.0.1:${await freePort()}`;
  const repUrl = `tcp://127.0.0.1:${await freePort()}`;
  const cpPortFile = path.join(tmpDir, 'cp.port');
  const cp = start(
    'switchyard-cp',
    CP_BIN,
    ['--db', path.join(tmpDir, 'cp.sqlite'), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--port-file', cpPortFile, '--bus-pub', pubUrl, '--bus-rep', repUrl, '--log-level', 'info'],
    { SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  );
  const cpBase = `http://127.0.0.1:${await portFile(cpPortFile, cp)}`;
  await waitFor(
    async () => {
      checkAlive(cp);
      return (await statusOf(`${cpBase}/healthz`)) === 200;
    },
    { what: 'cp /healthz' },
  );
  const cpHealthMs = performance.now() - cp.t0;
  const cpLogMs = cp.marks.catalog ? cp.marks.catalog - cp.t0 : NaN;
  progress(`cp up: "catalog loaded" after ${cpLogMs.toFixed(0)} ms, /healthz 200 after ${cpHealthMs.toFixed(0)} ms`);
  const api = (p, method = 'GET', body) =>
    request(cpBase + p, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  {
    // prepaid: the load key's workspace needs a balance, else every request is a 402
    const c = await api('/api/workspaces/ws_scale/credits', 'POST', { amount_usd: '100000', reference: 'bench-seed' });
    if (c.status !== 201) throw new Error(`credit ws_scale: ${c.status} ${c.text ?? ''}`);
  }

  // ---- cp snapshot build, timed from a bus client of our own (no data plane attached yet)
  const fetchMs = [];
  let snapBytes = 0;
  const cpu0 = cpuTicks(cp.child.pid);
  for (let i = 0; i < FETCHES; i++) {
    const f = await busFetch(repUrl);
    fetchMs.push(f.ms);
    snapBytes = f.bytes;
    progress(`  cp snapshot fetch ${i + 1}/${FETCHES}: ${f.ms.toFixed(1)} ms, ${f.bytes} bytes`);
  }
  const cpCpuPerFetchMs = ((cpuTicks(cp.child.pid) - cpu0) * 10) / FETCHES;

  // ---- an idle bus-mode data plane (no control plane on its URLs): the RSS baseline
  const idleDir = path.join(tmpDir, 'idle');
  fs.mkdirSync(idleDir);
  const idle = start(
    'dp-idle',
    DP_BIN,
    ['--control-plane-sub', `tcp://127.0.0.1:${await freePort()}`, '--control-plane-req', `tcp://127.0.0.1:${await freePort()}`, '--listen', '127.0.0.1:0', '--port-file', path.join(idleDir, 'port'), '--threads', '1', '--log-level', 'warn'],
    { MOCK_KEY: UPSTREAM_KEY },
  );
  const idleUrl = `http://127.0.0.1:${await portFile(path.join(idleDir, 'port'), idle)}`;
  const idleReady = await statusOf(`${idleUrl}/readyz`);
  if (idleReady !== 503) throw new Error(`idle dp /readyz: ${idleReady}, expected 503 (no snapshot)`);
  await sleep(300);
  const rssBefore = vmRSS(idle.child.pid);
  await stop(idle);
  progress(`idle dp VmRSS ${mb(rssBefore)}`);

  // ---- data plane A (info log, no load): start, apply timings, memory
  const cacheDir = path.join(tmpDir, 'dp-cache'); // switchyard-dp does not create it
  fs.mkdirSync(cacheDir);
  const aPortFile = path.join(tmpDir, 'dp-apply.port');
  const dpA = start(
    'dp-apply',
    DP_BIN,
    ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--cache-dir', cacheDir, '--listen', '127.0.0.1:0', '--port-file', aPortFile, '--threads', '1', '--log-level', 'info'],
    { MOCK_KEY: UPSTREAM_KEY },
  );
  const aUrl = `http://127.0.0.1:${await portFile(aPortFile, dpA)}`;
  await waitFor(
    async () => {
      checkAlive(dpA);
      return (await statusOf(`${aUrl}/readyz`)) === 200;
    },
    { interval: 2, what: 'dp-apply /readyz 200 (first snapshot applied)' },
  );
  const dpReadyMs = performance.now() - dpA.t0;
  const snapFile = path.join(cacheDir, 'snapshot.pb');
  await waitFor(() => fs.existsSync(snapFile), { what: 'cached snapshot' });
  const cacheBytes = fs.statSync(snapFile).size;
  const first = dpA.applied[0];
  progress(`dp-apply ready after ${dpReadyMs.toFixed(0)} ms` + (first ? `: fetch ${first.fetch} ms, unpack ${first.unpack} ms, build ${first.build} ms, free ${first.free} ms` : ' (no "snapshot applied" timing line seen: is dp_bus.c the timed version?)'));
  await sleep(500);
  const rssAfter = vmRSS(dpA.child.pid);

  // single version bumps, one at a time: API answer -> the node serving that version
  let nextKey = 1;
  const revokeNext = () => api(`/api/keys/key_${String(nextKey++).padStart(6, '0')}/revoke`, 'POST');
  const bumpMs = [];
  for (let i = 0; i < APPLIES; i++) {
    const r = await revokeNext();
    if (r.status !== 200) throw new Error(`revoke: ${r.status} ${r.text}`);
    const tBump = performance.now();
    const want = r.json.version;
    await waitFor(async () => (await metric(aUrl, versionRe)) >= want, { interval: 1, what: `dp-apply at version ${want}` });
    bumpMs.push(performance.now() - tBump);
    progress(`  bump ${i + 1}/${APPLIES}: version ${want} served after ${bumpMs.at(-1).toFixed(0)} ms`);
    await sleep(300);
  }
  const rssAfterBumps = vmRSS(dpA.child.pid);
  const hwmA = procStatus(dpA.child.pid, 'VmHWM');
  // idle cost of a node with nothing changing: the one-second safety-net fetch (cp side)
  const cpIdle0 = cpuTicks(cp.child.pid);
  const aIdle0 = cpuTicks(dpA.child.pid);
  const tIdle = performance.now();
  await sleep(5000);
  const idleSec = (performance.now() - tIdle) / 1000;
  const cpIdlePct = (cpuTicks(cp.child.pid) - cpIdle0) / idleSec; // ticks/s = % of one core
  const dpIdlePct = (cpuTicks(dpA.child.pid) - aIdle0) / idleSec;
  const applies = dpA.applied.slice();
  await stop(dpA);
  progress(`dp-apply stopped; ${applies.length} applies timed; nothing changing: cp ${cpIdlePct.toFixed(0)}% of a core, dp ${dpIdlePct.toFixed(0)}%`);

  // ---- data plane B (warn log): throughput without and with swapping
  const bPortFile = path.join(tmpDir, 'dp.port');
  const dp = start(
    'dp',
    DP_BIN,
    ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, ...(LOAD_CACHE ? ['--cache-dir', cacheDir] : []), '--listen', '127.0.0.1:0', '--port-file', bPortFile, '--threads', '1', '--log-level', 'warn'],
    { MOCK_KEY: UPSTREAM_KEY },
  );
  const dpUrl = `http://127.0.0.1:${await portFile(bPortFile, dp)}`;
  const cpVersion = (await api('/api/snapshot/version')).json?.version;
  await waitFor(
    async () => {
      checkAlive(dp);
      return (await statusOf(`${dpUrl}/readyz`)) === 200 && (cpVersion === undefined || (await metric(dpUrl, versionRe)) >= cpVersion);
    },
    { interval: 2, what: 'dp /readyz 200 at the cp version' },
  );
  const probe = await request(`${dpUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${LOAD_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-0', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  });
  if (probe.status !== 200) throw new Error(`probe request: ${probe.status} ${probe.text}`);
  progress(`dp ready (${LOAD_CACHE ? 'with' : 'without'} --cache-dir), probe 200; ${ROUNDS} rounds of wrk -t1 -c${CONNS} ${SECONDS}s, steady and swapping (bump every ${BUMP_MS} ms)`);

  const steadyRuns = [];
  const swapRuns = [];
  async function steadyRun(r) {
    const v0 = await metric(dpUrl, versionRe);
    const a0 = await metric(dpUrl, appliedRe);
    const cpu0c = cpuTicks(cp.child.pid);
    const cpu0d = cpuTicks(dp.child.pid);
    const t0 = performance.now();
    const res = await wrk(dpUrl, `steady-${r}`);
    const sec = (performance.now() - t0) / 1000;
    res.cpPct = (cpuTicks(cp.child.pid) - cpu0c) / sec;
    res.dpPct = (cpuTicks(dp.child.pid) - cpu0d) / sec;
    res.applied = (await metric(dpUrl, appliedRe)) - a0;
    res.versions = `${v0} -> ${await metric(dpUrl, versionRe)}`;
    steadyRuns.push(res);
    progress(`  round ${r} steady:   ${res.rps.toFixed(0)} req/s, p99 ${(res.p99 / 1000).toFixed(2)} ms, errors ${res.errors}, version ${res.versions}; cp ${res.cpPct.toFixed(0)}%, dp ${res.dpPct.toFixed(0)}% of a core`);
  }
  async function swapRun(r) {
    const a0 = await metric(dpUrl, appliedRe);
    const cpu0c = cpuTicks(cp.child.pid);
    const cpu0d = cpuTicks(dp.child.pid);
    let bumps = 0;
    let bumpErrors = 0;
    let halt = false;
    const bumper = (async () => {
      let next = performance.now();
      while (!halt) {
        next += BUMP_MS;
        try {
          const rr = await revokeNext();
          if (rr.status === 200) bumps++;
          else bumpErrors++;
        } catch {
          bumpErrors++;
        }
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
    const t0 = performance.now();
    let res;
    try {
      res = await wrk(dpUrl, `swapping-${r}`);
    } finally {
      halt = true;
      await bumper;
    }
    const sec = (performance.now() - t0) / 1000;
    res.cpPct = (cpuTicks(cp.child.pid) - cpu0c) / sec;
    res.dpPct = (cpuTicks(dp.child.pid) - cpu0d) / sec;
    res.applied = (await metric(dpUrl, appliedRe)) - a0; // read at once: the applies during the run
    res.bumps = bumps;
    res.bumpErrors = bumpErrors;
    swapRuns.push(res);
    progress(`  round ${r} swapping: ${res.rps.toFixed(0)} req/s, p99 ${(res.p99 / 1000).toFixed(2)} ms, errors ${res.errors}, ${bumps} bumps (${bumpErrors} failed), ${res.applied} applied; cp ${res.cpPct.toFixed(0)}%, dp ${res.dpPct.toFixed(0)}% of a core`);
    // let the node catch up before the next steady run
    const want = (await api('/api/snapshot/version')).json?.version;
    if (want !== undefined) await waitFor(async () => (await metric(dpUrl, versionRe)) >= want, { what: `dp at version ${want} after swapping` });
    await sleep(1000);
  }
  for (let r = 1; r <= ROUNDS; r++) {
    if (r % 2) {
      await steadyRun(r);
      await swapRun(r);
    } else {
      await swapRun(r);
      await steadyRun(r);
    }
  }
  const rssSwap = vmRSS(dp.child.pid);
  const hwm = procStatus(dp.child.pid, 'VmHWM');

  const ratios = steadyRuns.map((s, i) => swapRuns[i].rps / s.rps);
  const perKey = (rssAfter - rssBefore) / N_KEYS;
  const col = (k, d = 1) => stats(applies.map((a) => a[k]), d);
  const m = (runs, k) => median(runs.map((x) => x[k]));
  console.log(
    [
      '',
      `==== snapshot scale summary (${new Date().toISOString()}, ${os.cpus().length} CPUs, load avg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}) ====`,
      `catalog                ${N_MODELS} models, ${N_KEYS} keys, ${mb(catalogBytes)} JSON (written in ${genMs.toFixed(0)} ms)`,
      `cp start-up            spawn -> "catalog loaded" log ${cpLogMs.toFixed(0)} ms; spawn -> /healthz 200 ${cpHealthMs.toFixed(0)} ms`,
      `snapshot               ${mb(snapBytes)} packed (${snapBytes} B, ${(snapBytes / N_KEYS).toFixed(1)} B/key incl. models); cache file ${cacheBytes} B`,
      `cp snapshot build      bus request -> whole reply (build+pack+send, loopback) ms: ${stats(fetchMs, 1)}; cp CPU ${cpCpuPerFetchMs.toFixed(0)} ms/request`,
      `dp apply               per applied snapshot (dp_bus.c log, node idle) ms: fetch ${col('fetch')}`,
      `                       unpack ${col('unpack')}; build ${col('build')}; free pb ${col('free')}`,
      `                       fetch+unpack+build: ${stats(applies.map((a) => a.fetch + a.unpack + a.build), 1)}`,
      `dp bus start           spawn -> /readyz 200 ${dpReadyMs.toFixed(0)} ms (connect + fetch + unpack + build)`,
      `one version bump       API answer -> dp serving it, ms: ${stats(bumpMs, 0)}`,
      `dp VmRSS               idle (no snapshot) ${mb(rssBefore)}, with snapshot ${mb(rssAfter)} -> ${perKey.toFixed(0)} B/key; after ${APPLIES} bumps ${mb(rssAfterBumps)} (VmHWM ${mb(hwmA)})`,
      `                       load node after the swap runs ${mb(rssSwap)} (VmHWM ${mb(hwm)})`,
      `nothing changing       cp ${cpIdlePct.toFixed(0)}% of a core, dp ${dpIdlePct.toFixed(0)}% (the dp's one-second safety-net fetch, answered "unchanged")`,
      ...steadyRuns.map((s, i) => {
        const w = swapRuns[i];
        return `round ${i + 1}                steady ${s.rps.toFixed(0)} req/s (p99 ${(s.p99 / 1000).toFixed(2)} ms, err ${s.errors}, cp ${s.cpPct.toFixed(0)}%, dp ${s.dpPct.toFixed(0)}%); swapping ${w.rps.toFixed(0)} req/s (p99 ${(w.p99 / 1000).toFixed(2)} ms, err ${w.errors}; ${w.bumps} bumps, ${w.applied} applied, cp ${w.cpPct.toFixed(0)}%, dp ${w.dpPct.toFixed(0)}%); ratio ${ratios[i].toFixed(3)}`;
      }),
      `load, no swapping      median ${m(steadyRuns, 'rps').toFixed(0)} req/s, p50 ${(m(steadyRuns, 'p50') / 1000).toFixed(2)} ms, p99 ${(m(steadyRuns, 'p99') / 1000).toFixed(2)} ms, errors ${steadyRuns.reduce((a, x) => a + x.errors, 0)}`,
      `load, swapping         median ${m(swapRuns, 'rps').toFixed(0)} req/s, p50 ${(m(swapRuns, 'p50') / 1000).toFixed(2)} ms, p99 ${(m(swapRuns, 'p99') / 1000).toFixed(2)} ms, errors ${swapRuns.reduce((a, x) => a + x.errors, 0)}; median ${m(swapRuns, 'applied')} snapshots applied per ${SECONDS} s (${m(swapRuns, 'bumps')} bumps)`,
      `swapping/steady req/s  ${median(ratios).toFixed(3)} (median of per-round ratios; ratio of medians ${(m(swapRuns, 'rps') / m(steadyRuns, 'rps')).toFixed(3)})`,
      '================================',
    ].join('\n'),
  );
}

let code = 0;
const deadline = setTimeout(async () => {
  console.error('snapshot_scale: whole-run deadline (SCALE_DEADLINE_S) passed');
  for (const p of procs) if (p.out !== undefined) console.error(`--- ${p.name} (tail) ---\n${p.out.slice(-1500)}`);
  await stopAll();
  process.exit(2);
}, Number(process.env.SCALE_DEADLINE_S || 1200) * 1000);
try {
  await main();
} catch (e) {
  console.error(`snapshot_scale: ${e.stack || e}`);
  for (const p of procs) if (p.out !== undefined) console.error(`--- ${p.name} (tail) ---\n${p.out.slice(-1500)}`);
  code = 2;
}
clearTimeout(deadline);
agent.destroy();
await stopAll();
progress(`done (exit ${code})`);
process.exit(code);
