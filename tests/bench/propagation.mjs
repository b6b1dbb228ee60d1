#!/usr/bin/env node
// Key propagation benchmark: the control-plane issue's target "propagation time from the
// API's answer to the first 401 on every node, over 100 keys, p99 under 250 ms on loopback".
//
// Starts the mock provider, switchyard-cp (temp SQLite, small catalog pointing at the mock,
// nng bus on loopback) and two switchyard-dp in bus mode (--threads 1). Creates one workspace
// and N keys through the admin API, measuring creation -> first 200 on both nodes; then
// revokes each key in turn, measuring the API's answer -> first 401 on both nodes (max of the
// two). Prints p50/p90/p99/max and PASS/FAIL for the revocation p99.
//
//   node tests/bench/propagation.mjs            # BUILD_DIR defaults to /work/main/build
//   BUILD_DIR=/tmp/prop-build node tests/bench/propagation.mjs
//
// Env: BUILD_DIR, PROP_KEYS (100), PROP_POLL_MS (2: one request per node every 2 ms at most),
// PROP_TARGET_MS (250), PROP_KEY_TIMEOUT_MS (3000: give up on one key), PROP_DEADLINE_S (110:
// whole run), PROP_KEEP=1 keeps the temp dir (logs). Exit 0 PASS, 1 FAIL, 2 error.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const BUILD_DIR = path.resolve(process.env.BUILD_DIR || '/work/main/build');
const MOCK_BIN = path.join(BUILD_DIR, 'tests', 'mockllm', 'switchyard-mockllm');
const CP_BIN = path.join(BUILD_DIR, 'controlplane', 'switchyard-cp');
const DP_BIN = path.join(BUILD_DIR, 'dataplane', 'switchyard-dp');
const N_KEYS = Number(process.env.PROP_KEYS || 100);
const POLL_MS = Number(process.env.PROP_POLL_MS || 2);
const TARGET_MS = Number(process.env.PROP_TARGET_MS || 250);
const KEY_TIMEOUT_MS = Number(process.env.PROP_KEY_TIMEOUT_MS || 3000);
const DEADLINE_S = Number(process.env.PROP_DEADLINE_S || 110);
const KEEP = process.env.PROP_KEEP === '1';
const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const CHAT_BODY = JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

for (const b of [MOCK_BIN, CP_BIN, DP_BIN]) {
  if (!fs.existsSync(b)) {
    console.error(`propagation: missing ${b} (build first, or set BUILD_DIR)`);
    process.exit(2);
  }
}

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-prop-'));
const procs = [];
let cleanedUp = false;

// ------------------------------------------------------------------ processes and cleanup

function start(name, bin, args, env = {}) {
  const logFile = path.join(tmpDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  const p = { name, child, logFile, exited: false, code: null, signal: null, stdout: '' };
  child.stdout.on('data', (d) => {
    p.stdout += d.toString();
    if (p.stdout.length > 65536) p.stdout = p.stdout.slice(-32768);
  });
  child.on('exit', (code, signal) => Object.assign(p, { exited: true, code, signal }));
  procs.push(p);
  return p;
}

function logTail(p) {
  try {
    return fs.readFileSync(p.logFile, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

async function stopAll() {
  if (cleanedUp) return;
  cleanedUp = true;
  const live = procs.filter((p) => !p.exited).reverse();
  for (const p of live) p.child.kill('SIGTERM');
  const t0 = Date.now();
  while (live.some((p) => !p.exited) && Date.now() - t0 < 3000) await sleep(20);
  for (const p of live) if (!p.exited) p.child.kill('SIGKILL');
  if (!KEEP) fs.rmSync(tmpDir, { recursive: true, force: true });
  else console.log(`work dir kept: ${tmpDir}`);
}

// Last resort if the event loop is going away without stopAll having run.
process.on('exit', () => {
  for (const p of procs) if (!p.exited) try { p.child.kill('SIGKILL'); } catch {}
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => {
    console.error(`\npropagation: ${sig}, stopping`);
    await stopAll();
    process.exit(130);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitFor(fn, { timeout, interval = 10, what }) {
  const t0 = performance.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() - t0 > timeout) throw new Error(`timed out waiting for ${what}`);
    await sleep(interval);
  }
}

function checkAlive(p) {
  if (p.exited) throw new Error(`${p.name} exited (code ${p.code}, signal ${p.signal})\n${logTail(p)}`);
}

async function readPortFile(file, p) {
  return waitFor(
    () => {
      checkAlive(p);
      try {
        const m = fs.readFileSync(file, 'utf8').match(/^(\d+)\s*\n/);
        return m ? Number(m[1]) : null;
      } catch {
        return null;
      }
    },
    { timeout: 10000, what: `${p.name} port file` },
  );
}

// ------------------------------------------------------------------ HTTP with keep-alive

function request(agent, url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString(), t: performance.now() }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`timeout ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

let cpBase;
const cpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
async function api(p, method = 'GET', body) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await request(cpAgent, cpBase + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  try {
    r.json = JSON.parse(r.text);
  } catch {}
  return r;
}

function chat(node, key) {
  return request(node.agent, `${node.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: CHAT_BODY,
  });
}

// Poll one node with `key` (one request in flight, at most one every POLL_MS) until it
// answers `want`. Returns the time that answer arrived, or null after KEY_TIMEOUT_MS.
async function pollUntil(node, key, want, since) {
  const others = {};
  let polls = 0;
  for (;;) {
    polls++;
    const sent = performance.now();
    let r;
    try {
      r = await chat(node, key);
    } catch (e) {
      checkAlive(node.proc);
      others[e.code || e.message] = (others[e.code || e.message] || 0) + 1;
      r = { status: 0, t: performance.now() };
    }
    if (r.status === want) return { t: r.t, others, polls };
    if (r.status !== 200 && r.status !== 401) others[r.status] = (others[r.status] || 0) + 1;
    if (r.t - since > KEY_TIMEOUT_MS) return { t: null, others, polls };
    const wait = POLL_MS - (performance.now() - sent);
    if (wait > 0) await sleep(wait);
  }
}

// ------------------------------------------------------------------ statistics

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function summary(label, xs) {
  const s = [...xs].sort((a, b) => a - b);
  const f = (v) => v.toFixed(1).padStart(7);
  return `${label.padEnd(26)} n=${String(s.length).padStart(3)}  p50 ${f(pct(s, 50))}  p90 ${f(pct(s, 90))}  p99 ${f(pct(s, 99))}  max ${f(s[s.length - 1] ?? NaN)}  ms`;
}

// ------------------------------------------------------------------ main

async function main() {
  const mock = start('mockllm', MOCK_BIN, ['--listen', '127.0.0.1:0', '--threads', '1', '--log', path.join(tmpDir, 'mock-requests.log')]);
  const mockPort = await waitFor(
    () => {
      checkAlive(mock);
      const m = mock.stdout.match(/listening 127\.0\.0\.1:(\d+)/);
      return m ? Number(m[1]) : null;
    },
    { timeout: 10000, what: 'mock listening line' },
  );

  const catalogFile = path.join(tmpDir, 'catalog.json');
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({
      timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
      providers: [{ id: 'mock', kind: 'openai', base_url: `http://127.0.0.1:${mockPort}/v1`, api_key_env: 'MOCK_KEY' }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] }],
      workspaces: [],
      keys: [],
    }),
  );

  const pubUrl = `tcp://127.0.0.1:${await freePort()}`;
  const repUrl = `tcp://127.0.0.1:${await freePort()}`;
  const cpPortFile = path.join(tmpDir, 'cp.port');
  const cp = start(
    'switchyard-cp',
    CP_BIN,
    ['--db', path.join(tmpDir, 'cp.sqlite'), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--port-file', cpPortFile, '--bus-pub', pubUrl, '--bus-rep', repUrl, '--log-level', 'warn'],
    { SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  );
  cpBase = `http://127.0.0.1:${await readPortFile(cpPortFile, cp)}`;

  const nodes = [];
  for (let i = 0; i < 2; i++) {
    const portFile = path.join(tmpDir, `dp-${i + 1}.port`);
    const proc = start(
      `switchyard-dp-${i + 1}`,
      DP_BIN,
      ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', '1', '--log-level', 'warn'],
      { MOCK_KEY: UPSTREAM_KEY },
    );
    nodes.push({ name: `dp-${i + 1}`, proc, url: `http://127.0.0.1:${await readPortFile(portFile, proc)}`, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) });
  }
  for (const n of nodes) {
    await waitFor(
      async () => {
        checkAlive(n.proc);
        try {
          return (await request(n.agent, `${n.url}/readyz`)).status === 200;
        } catch {
          return false;
        }
      },
      { timeout: 10000, what: `${n.name} /readyz = 200` },
    );
  }

  let r = await api('/api/workspaces', 'POST', { id: 'ws_prop', name: 'propagation' });
  if (r.status !== 201) throw new Error(`create workspace: ${r.status} ${r.text}`);
  // prepaid: a workspace with no balance gets 402 (docs/admission.md)
  r = await api('/api/workspaces/ws_prop/credits', 'POST', { amount_usd: '1000', reference: 'bench-seed' });
  if (r.status !== 201) throw new Error(`credit workspace: ${r.status} ${r.text}`);

  console.log(`switchyard propagation benchmark: ${N_KEYS} keys, 2 data planes (--threads 1), poll every ${POLL_MS} ms per node, loopback`);

  // Creation: create each key, then poll both nodes until it answers 200 on both.
  const keys = [];
  const created = [];
  const createdPer = [[], []];
  let createFails = 0;
  for (let i = 0; i < N_KEYS; i++) {
    r = await api('/api/workspaces/ws_prop/keys', 'POST', { name: `k${i}`, allowed_models: ['*'], expires_at: 0 });
    if (r.status !== 201 || !r.json?.key || !r.json?.id) throw new Error(`create key ${i}: ${r.status} ${r.text}`);
    const tApi = r.t;
    const res = await Promise.all(nodes.map((n) => pollUntil(n, r.json.key, 200, tApi)));
    keys.push({ id: r.json.id, key: r.json.key });
    if (res.some((x) => x.t === null)) {
      createFails++;
      console.log(`  key ${i}: not 200 on every node within ${KEY_TIMEOUT_MS} ms (other answers: ${JSON.stringify(res.map((x) => x.others))})`);
      continue;
    }
    res.forEach((x, j) => createdPer[j].push(x.t - tApi));
    created.push(Math.max(...res.map((x) => x.t)) - tApi);
  }

  // Revocation: revoke each key in turn; API answer -> first 401 on both nodes.
  const revoked = [];
  const revokedPer = [[], []];
  let revokeFails = 0;
  const otherStatuses = {};
  let firstPollHits = 0;
  let pollsTotal = 0;
  for (let i = 0; i < keys.length; i++) {
    r = await api(`/api/keys/${keys[i].id}/revoke`, 'POST');
    if (r.status !== 200) throw new Error(`revoke key ${i}: ${r.status} ${r.text}`);
    const tApi = r.t;
    const res = await Promise.all(nodes.map((n) => pollUntil(n, keys[i].key, 401, tApi)));
    for (const x of res) for (const [k, v] of Object.entries(x.others)) otherStatuses[k] = (otherStatuses[k] || 0) + v;
    for (const x of res) {
      pollsTotal += x.polls;
      if (x.polls === 1) firstPollHits++;
    }
    if (res.some((x) => x.t === null)) {
      revokeFails++;
      console.log(`  key ${i}: still not 401 on every node after ${KEY_TIMEOUT_MS} ms`);
      continue;
    }
    res.forEach((x, j) => revokedPer[j].push(x.t - tApi));
    revoked.push(Math.max(...res.map((x) => x.t)) - tApi);
  }

  console.log('');
  console.log('creation   (API answer -> first 200)');
  console.log(summary('  both nodes (max)', created));
  nodes.forEach((n, j) => console.log(summary(`  ${n.name}`, createdPer[j])));
  if (createFails) console.log(`  ${createFails} key(s) timed out`);
  console.log('revocation (API answer -> first 401)');
  console.log(summary('  both nodes (max)', revoked));
  nodes.forEach((n, j) => console.log(summary(`  ${n.name}`, revokedPer[j])));
  if (revokeFails) console.log(`  ${revokeFails} key(s) timed out (counted as failure)`);
  console.log(`  polls per node per key: mean ${(pollsTotal / (2 * keys.length)).toFixed(1)}; first poll already 401: ${firstPollHits}/${2 * keys.length} (resolution floor, not a fault)`);
  if (Object.keys(otherStatuses).length) console.log(`  answers other than 200/401 while polling: ${JSON.stringify(otherStatuses)}`);

  for (const p of procs) checkAlive(p);
  const p99 = pct([...revoked].sort((a, b) => a - b), 99);
  const pass = revokeFails === 0 && revoked.length === N_KEYS && p99 < TARGET_MS;
  console.log('');
  console.log(`${pass ? 'PASS' : 'FAIL'}: revocation p99 ${p99.toFixed(1)} ms (target < ${TARGET_MS} ms, ${revoked.length}/${N_KEYS} keys measured)`);
  return pass ? 0 : 1;
}

const deadline = setTimeout(async () => {
  console.error(`propagation: run exceeded ${DEADLINE_S} s, stopping`);
  await stopAll();
  process.exit(2);
}, DEADLINE_S * 1000);

let code = 2;
try {
  code = await main();
} catch (e) {
  console.error(`propagation: ${e.stack || e}`);
  code = 2;
} finally {
  clearTimeout(deadline);
  cpAgent.destroy();
  await stopAll();
}
process.exit(code);
