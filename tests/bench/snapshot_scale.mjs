#!/usr/bin/env node
// Snapshot scale benchmark: a catalog of 1,000 models (one provider) and 100,000 keys.
//   - switchyard-cp start-up with that catalog: spawn -> /healthz 200, and spawn -> the
//     "catalog loaded" log line;
//   - the packed snapshot's size (the data plane's --cache-dir copy) and a bus-mode data
//     plane's spawn -> /readyz 200 (connect, fetch, unpack, build);
//   - bytes per key: VmRSS of that data plane minus VmRSS of an idle bus-mode data plane with
//     no snapshot, / 100,000;
//   - wrk for SCALE_SECONDS against the data plane (mock provider) without version changes, then
//     the same while the control plane's version is bumped every 100 ms (one key revoked per
//     100 ms through the admin API), so the node fetches and swaps a 100k-key snapshot ~10x/s.
//
//   node tests/bench/snapshot_scale.mjs          # BUILD_DIR defaults to /work/main/build
// Env: BUILD_DIR, SCALE_KEYS (100000), SCALE_MODELS (1000), SCALE_SECONDS (10), SCALE_CONNS (16),
// SCALE_BUMP_MS (100), SCALE_KEEP=1 keeps the temp dir. Exit 0 done, 2 error.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

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
const KEEP = process.env.SCALE_KEEP === '1';
const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const LOAD_KEY = 'sk-sy-' + crypto.randomBytes(32).toString('hex');

for (const b of [MOCK_BIN, CP_BIN, DP_BIN]) {
  if (!fs.existsSync(b)) {
    console.error(`snapshot_scale: missing ${b} (build first, or set BUILD_DIR)`);
    process.exit(2);
  }
}

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-scale-'));
const procs = [];
let cleaned = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(name, bin, args, env = {}) {
  const t0 = performance.now();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const log = fs.createWriteStream(path.join(tmpDir, `${name}.log`));
  const p = { name, child, t0, exited: false, out: '', marks: {} };
  const onData = (d) => {
    log.write(d);
    p.out += d.toString();
    if (p.out.length > 1 << 20) p.out = p.out.slice(-(1 << 19));
    if (!p.marks.catalog && /catalog loaded/.test(p.out)) p.marks.catalog = performance.now();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('exit', (code, signal) => Object.assign(p, { exited: true, code, signal }));
  procs.push(p);
  return p;
}

async function stopAll() {
  if (cleaned) return;
  cleaned = true;
  const live = procs.filter((p) => !p.exited).reverse();
  for (const p of live) p.child.kill('SIGTERM');
  const t0 = Date.now();
  while (live.some((p) => !p.exited) && Date.now() - t0 < 5000) await sleep(20);
  for (const p of live) if (!p.exited) p.child.kill('SIGKILL');
  if (KEEP) console.log(`work dir kept: ${tmpDir}`);
  else fs.rmSync(tmpDir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await stopAll();
    process.exit(130);
  });
}

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

async function waitFor(fn, { timeout = Number(process.env.SCALE_WAIT_S || 600) * 1000, interval = 5, what }) {
  const t0 = performance.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() - t0 > timeout) throw new Error(`timed out waiting for ${what}`);
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

function vmRSS(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
}

function wrk(url, label) {
  return new Promise((resolve, reject) => {
    const c = spawn('wrk', ['-t1', `-c${CONNS}`, `-d${SECONDS}s`, '-s', LUA, `${url}/v1/chat/completions`], {
      env: { ...process.env, SCALE_KEY: LOAD_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', () => {
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

async function main() {
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
  const api = (p, method = 'GET', body) =>
    request(cpBase + p, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

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
  await statusOf(`${idleUrl}/readyz`);
  await sleep(300);
  const rssBefore = vmRSS(idle.child.pid);
  idle.child.kill('SIGTERM');

  // ---- the measured data plane: spawn -> /readyz 200
  const cacheDir = path.join(tmpDir, 'dp-cache');
  const dpPortFile = path.join(tmpDir, 'dp.port');
  const dp = start(
    'dp',
    DP_BIN,
    ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--cache-dir', cacheDir, '--listen', '127.0.0.1:0', '--port-file', dpPortFile, '--threads', '1', '--log-level', 'warn'],
    { MOCK_KEY: UPSTREAM_KEY },
  );
  const dpUrl = `http://127.0.0.1:${await portFile(dpPortFile, dp)}`;
  await waitFor(
    async () => {
      checkAlive(dp);
      return (await statusOf(`${dpUrl}/readyz`)) === 200;
    },
    { interval: 2, what: 'dp /readyz' },
  );
  const dpReadyMs = performance.now() - dp.t0;
  const snapFile = path.join(cacheDir, 'snapshot.pb');
  await waitFor(() => fs.existsSync(snapFile), { what: 'cached snapshot' });
  const snapBytes = fs.statSync(snapFile).size;
  await sleep(500);
  const rssAfter = vmRSS(dp.child.pid);

  // one request must succeed before measuring
  const probe = await request(`${dpUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${LOAD_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-0', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  });
  if (probe.status !== 200) throw new Error(`probe request: ${probe.status} ${probe.text}`);

  // time one fetch+build by itself: a version bump -> the node applies it
  const appliedRe = /switchyard_snapshot_applied_total\{source="bus"\}\s+(\d+)/;
  const versionRe = /^switchyard_config_version\s+(\d+)/m;
  let r = await api('/api/keys/key_000001/revoke', 'POST');
  if (r.status !== 200) throw new Error(`revoke: ${r.status} ${r.text}`);
  const tBump = performance.now();
  const want = r.json.version;
  await waitFor(async () => (await metric(dpUrl, versionRe)) >= want, { interval: 1, what: 'dp at the bumped version' });
  const oneSwapMs = performance.now() - tBump;

  console.log(`switchyard snapshot scale: ${N_MODELS} models, ${N_KEYS} keys; wrk -t1 -c${CONNS} ${SECONDS}s per run ...`);
  // ---- load without swapping
  const v0 = await metric(dpUrl, versionRe);
  const steady = await wrk(dpUrl, 'steady');
  const vSteady = await metric(dpUrl, versionRe);

  // ---- load while the version moves every BUMP_MS
  const applied0 = await metric(dpUrl, appliedRe);
  const cpuCp0 = cpuTicks(cp.child.pid);
  let bumps = 0;
  let bumpErrors = 0;
  let stop = false;
  const bumper = (async () => {
    let next = performance.now();
    let i = 2;
    while (!stop) {
      next += BUMP_MS;
      try {
        const rr = await api(`/api/keys/key_${String(i++).padStart(6, '0')}/revoke`, 'POST');
        if (rr.status === 200) bumps++;
        else bumpErrors++;
      } catch {
        bumpErrors++;
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  const swapping = await wrk(dpUrl, 'swapping');
  stop = true;
  await bumper;
  const cpuCp = cpuTicks(cp.child.pid) - cpuCp0;
  await sleep(1500);
  const applied = (await metric(dpUrl, appliedRe)) - applied0;
  const rssSwap = vmRSS(dp.child.pid);
  const hwm = Number(fs.readFileSync(`/proc/${dp.child.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)[1]) * 1024;

  const perKey = (rssAfter - rssBefore) / N_KEYS;
  console.log(
    [
      '',
      '==== snapshot scale summary ====',
      `catalog                ${N_MODELS} models, ${N_KEYS} keys, ${mb(catalogBytes)} JSON (written in ${genMs.toFixed(0)} ms)`,
      `cp start-up            spawn -> "catalog loaded" log ${cpLogMs.toFixed(0)} ms; spawn -> /healthz 200 ${cpHealthMs.toFixed(0)} ms`,
      `snapshot               ${mb(snapBytes)} packed (${(snapBytes / N_KEYS).toFixed(1)} B/key incl. models)`,
      `dp bus start           spawn -> /readyz 200 ${dpReadyMs.toFixed(0)} ms (connect + fetch + unpack + build)`,
      `one version bump       API answer -> dp serving it ${oneSwapMs.toFixed(0)} ms`,
      `dp VmRSS               idle ${mb(rssBefore)}, with snapshot ${mb(rssAfter)} -> ${perKey.toFixed(0)} B/key; after the swap run ${mb(rssSwap)} (VmHWM ${mb(hwm)})`,
      `load, no swapping      ${steady.rps.toFixed(0)} req/s, p50 ${(steady.p50 / 1000).toFixed(2)} ms, p99 ${(steady.p99 / 1000).toFixed(2)} ms, errors ${steady.errors} (version ${v0} -> ${vSteady})`,
      `load, swapping         ${swapping.rps.toFixed(0)} req/s, p50 ${(swapping.p50 / 1000).toFixed(2)} ms, p99 ${(swapping.p99 / 1000).toFixed(2)} ms, errors ${swapping.errors}`,
      `                       ${bumps} version bumps every ${BUMP_MS} ms (${bumpErrors} failed), ${applied} snapshots applied by the dp; cp CPU ${(cpuCp * 10).toFixed(0)} ms`,
      `swapping/steady req/s  ${(swapping.rps / steady.rps).toFixed(3)}`,
      '================================',
    ].join('\n'),
  );
}

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime, in clock ticks (100/s)
}

let code = 0;
const deadline = setTimeout(async () => {
  console.error('snapshot_scale: whole-run deadline (SCALE_DEADLINE_S) passed');
  await stopAll();
  process.exit(2);
}, Number(process.env.SCALE_DEADLINE_S || 1200) * 1000);
try {
  await main();
} catch (e) {
  console.error(`snapshot_scale: ${e.stack || e}`);
  for (const p of procs) console.error(`--- ${p.name} (tail) ---\n${p.out.slice(-1500)}`);
  code = 2;
}
clearTimeout(deadline);
agent.destroy();
await stopAll();
process.exit(code);
