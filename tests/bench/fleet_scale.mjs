#!/usr/bin/env node
// Fleet-scale propagation benchmark (issue 17, point 4): FLEET_NODES real switchyard-dp processes
// (--threads 1, bus mode, loopback) following one switchyard-cp.
//
//   1. key revocation: FLEET_REVOKES keys, revoked one at a time through the admin API; per
//      revocation the time from the API's answer to the first 401 on the LAST of the nodes.
//   2. balance exhaustion: a workspace with credit; a usage batch (sent on the bus's REP socket,
//      as a node would, one record costing the whole balance) takes it to zero; per trial the time
//      from the batch's ack (the commit) to the first 402 on the last node. Then a credit through
//      the admin API tops it up again and the time to the first 200 on the last node is the top-up.
//   3. a snapshot of FLEET_KEYS keys: the catalog file gains that many keys and
//      POST /api/catalog/reload imports them (one version); time from the API's answer to every
//      node serving a probe key of that import, the control plane's CPU time and peak RSS (VmHWM,
//      reset through /proc/PID/clear_refs first) meanwhile, the nodes' RSS before and after.
//   4. key revocation again, FLEET_BIG_REVOKES keys, with those keys in the table.
//   5. balance exhaustion again, FLEET_BIG_BALANCE trials, with those keys in the table.
// Parts 4 and 5 travel as delta updates (docs/controlplane.md, "Delta updates"): each part prints
// how many deltas and whole snapshots the nodes applied meanwhile
// (switchyard_snapshot_bus_updates_total{kind}).
// Prints p50/p90/p99/max per part and PASS/FAIL for the p99 targets (FLEET_TARGET_MS, 100).
//
// Probing: one keep-alive connection per node, one request in flight per node, a new one at
// most every FLEET_POLL_MS (3) ms — and, once an event is older than 20 * FLEET_POLL_MS, every
// elapsed/20 ms, so a slow event costs the nodes at most ~5 % of its time in probes. Revocation
// and the big snapshot probe `GET /v1/models/m-ok` (auth and admission, no upstream); the balance
// probe is a 1-token chat to the mock (the balance is checked after routing). A recorded time is
// when the deciding answer ARRIVED; the resolution line gives, per event, arrival of the deciding
// answer minus the send of the previous probe to that node (the change happened in between).
//
//   node tests/bench/fleet_scale.mjs               # BUILD_DIR defaults to <repo>/build
// Env: BUILD_DIR, FLEET_NODES (50), FLEET_KEYS (100000), FLEET_REVOKES (100), FLEET_BALANCE (100:
// exhaustion trials), FLEET_BIG_REVOKES (100), FLEET_BIG_BALANCE (100), FLEET_POLL_MS (3), FLEET_TARGET_MS (100),
// FLEET_EVENT_TIMEOUT_MS (30000: one event), FLEET_PHASE_S (600: cap on one phase's trials),
// FLEET_DEADLINE_S (3000: whole run), FLEET_KEEP=1 keeps the temp dir (logs), FLEET_CP_LOG_LEVEL (warn: the
// control plane's --log-level; info logs every build, live-node count and health change),
// FLEET_DP_LOG_LEVEL (warn: the nodes'; info logs every snapshot and delta applied, with its times).
// Exit 0 all PASS, 1 a FAIL, 2 error.
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
import { usageBatchRequest as pbUsageBatch, parseUsageAck } from '../integration/lib/pb.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_DIR = path.resolve(process.env.BUILD_DIR || path.join(REPO, 'build'));
const MOCK_BIN = path.join(BUILD_DIR, 'tests', 'mockllm', 'switchyard-mockllm');
const CP_BIN = path.join(BUILD_DIR, 'controlplane', 'switchyard-cp');
const DP_BIN = path.join(BUILD_DIR, 'dataplane', 'switchyard-dp');
const envNum = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : Number(process.env[k]));
const N_NODES = envNum('FLEET_NODES', 50);
const N_KEYS = envNum('FLEET_KEYS', 100000);
const N_REVOKES = envNum('FLEET_REVOKES', 100);
const N_BALANCE = envNum('FLEET_BALANCE', 100);
const N_BIG_REVOKES = envNum('FLEET_BIG_REVOKES', 100);
const N_BIG_BALANCE = envNum('FLEET_BIG_BALANCE', 100);
const POLL_MS = envNum('FLEET_POLL_MS', 3);
const TARGET_MS = envNum('FLEET_TARGET_MS', 100);
const EVENT_TIMEOUT_MS = envNum('FLEET_EVENT_TIMEOUT_MS', 30000);
const PHASE_S = envNum('FLEET_PHASE_S', 600);
const DEADLINE_S = envNum('FLEET_DEADLINE_S', 3000);
const KEEP = process.env.FLEET_KEEP === '1';
const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const CHAT_BODY = JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
const T0 = performance.now();

for (const b of [MOCK_BIN, CP_BIN, DP_BIN]) {
  if (!fs.existsSync(b)) {
    console.error(`fleet_scale: missing ${b} (build first, or set BUILD_DIR)`);
    process.exit(2);
  }
}
if (!(N_NODES >= 1 && N_KEYS >= 0 && N_REVOKES >= 0 && N_BALANCE >= 0 && N_BIG_REVOKES >= 0 && POLL_MS > 0)) {
  console.error('fleet_scale: FLEET_NODES >= 1, counts >= 0, FLEET_POLL_MS > 0');
  process.exit(2);
}

const progress = (m) => process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1).padStart(7)}s] ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-fleet-'));
const procs = [];
let cleanedUp = false;

// ------------------------------------------------------------------ processes and cleanup

function start(name, bin, args, env = {}, { stdout = false } = {}) {
  const fd = fs.openSync(path.join(tmpDir, `${name}.log`), 'a');
  const child = spawn(bin, args, { stdio: ['ignore', stdout ? 'pipe' : fd, fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  const p = { name, child, pid: child.pid, logFile: path.join(tmpDir, `${name}.log`), exited: false, code: null, signal: null, out: '' };
  if (stdout)
    child.stdout.on('data', (d) => {
      p.out += d.toString();
      if (p.out.length > 65536) p.out = p.out.slice(-32768);
    });
  child.on('error', (e) => Object.assign(p, { exited: true, code: -1, signal: String(e) }));
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
  while (live.some((p) => !p.exited) && Date.now() - t0 < 5000) await sleep(20);
  for (const p of live) if (!p.exited) p.child.kill('SIGKILL');
  if (!KEEP) fs.rmSync(tmpDir, { recursive: true, force: true });
  else console.error(`work dir kept: ${tmpDir}`);
}

process.on('exit', () => {
  for (const p of procs) if (!p.exited) try { p.child.kill('SIGKILL'); } catch {}
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => {
    console.error(`\nfleet_scale: ${sig}, stopping`);
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
    { timeout: 20000, what: `${p.name} port file` },
  );
}

// /proc: CPU seconds (utime + stime) and memory of a process we started
const CLK_TCK = 100;
function cpuSec(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}
function statusKiB(pid, field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : NaN;
}
function resetPeak(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS (Linux >= 4.0)
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ HTTP with keep-alive

// A probe (a request to a node, not to the control plane's API) that meets a keep-alive
// connection the node closed while idle ("socket hang up", ECONNRESET) is sent once more on a
// fresh connection; a probe changes nothing the measurement depends on.
async function request(agent, url, opts = {}) {
  try {
    return await request1(agent, url, opts);
  } catch (e) {
    if (agent === cpAgent || !(e.code === 'ECONNRESET' || /socket hang up/.test(e.message))) throw e;
    return request1(agent, url, opts);
  }
}

function request1(agent, url, { method = 'GET', headers = {}, body, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString(), t: performance.now() }));
      res.on('error', reject);
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`timeout ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

let cpBase;
const cpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
async function api(p, method = 'GET', body, timeout = 120000) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await request(cpAgent, cpBase + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), timeout });
  try {
    r.json = JSON.parse(r.text);
  } catch {}
  return r;
}
async function apiOk(p, method, body, want) {
  const r = await api(p, method, body);
  if (r.status !== want) throw new Error(`${method} ${p}: ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

const probeModels = (node, key) => request(node.agent, `${node.url}/v1/models/m-ok`, { headers: { authorization: `Bearer ${key}` } });
const probeChat = (node, key) =>
  request(node.agent, `${node.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: CHAT_BODY,
  });

// Polls one node with probe(node) until it answers `want`. One request in flight; the next one
// POLL_MS after the previous was sent, or elapsed/20 once the event is older than 20 * POLL_MS.
async function pollUntil(node, probe, want, since, stats) {
  let prevSent = null;
  let polls = 0;
  for (;;) {
    polls++;
    const sent = performance.now();
    let r;
    try {
      r = await probe(node);
    } catch (e) {
      checkAlive(node.proc);
      stats.others[e.code || e.message] = (stats.others[e.code || e.message] || 0) + 1;
      r = { status: 0, t: performance.now() };
    }
    stats.rtt.push(r.t - sent);
    stats.polls++;
    if (r.status === want) return { t: r.t, gap: prevSent === null ? r.t - since : r.t - prevSent, polls };
    if (r.status !== 0 && r.status !== 200 && r.status !== want) stats.others[r.status] = (stats.others[r.status] || 0) + 1;
    if (r.t - since > EVENT_TIMEOUT_MS) return { t: null, gap: NaN, polls };
    prevSent = sent;
    const interval = Math.max(POLL_MS, (performance.now() - since) / 20);
    const wait = interval - (performance.now() - sent);
    if (wait > 0) await sleep(wait);
  }
}

function newStats() {
  return { rtt: [], polls: 0, others: {}, firstPoll: 0, events: 0, gaps: [], lastNode: {}, fails: 0, all: [] };
}

// One event: polls every node until `want`; returns max over nodes of (arrival - since), or null.
async function fleetWait(nodes, probe, want, since, stats) {
  const res = await Promise.all(nodes.map((n) => pollUntil(n, probe, want, since, stats)));
  stats.events++;
  stats.reached = res.filter((x) => x.t !== null).length;
  if (res.some((x) => x.t === null)) {
    stats.fails++;
    return null;
  }
  let worst = 0;
  res.forEach((x, i) => {
    if (x.polls === 1) stats.firstPoll++;
    if (x.t > res[worst].t) worst = i;
  });
  stats.gaps.push(res[worst].gap);
  stats.lastNode[nodes[worst].name] = (stats.lastNode[nodes[worst].name] || 0) + 1;
  const ms = res[worst].t - since;
  stats.all.push(ms);
  return ms;
}

// Node-side propagation: once every node answers the new way, each node's
// switchyard_config_built_timestamp_seconds is when it built (and right after put in use) the
// snapshot it serves; the latest of them minus the wall-clock time the change was SENT (before
// the control plane committed it: conservative) is how long the change took to reach the last
// node — without the prober's own delay. A node that took a later version meanwhile reports a
// later time (conservative again).
async function nodeSide(nodes, sentWall, xs) {
  const ts = await Promise.all(nodes.map(async (n) => {
    const r = await request(n.agent, `${n.url}/metrics`, {});
    const m = /^switchyard_config_built_timestamp_seconds ([\d.]+)$/m.exec(r.text || '');
    return m ? Math.round(Number(m[1]) * 1000) : NaN;
  }));
  if (ts.some((t) => !Number.isFinite(t))) return;
  xs.push(Math.max(...ts) - sentWall);
}

// Whole snapshots built and deltas applied, summed over the nodes.
async function busUpdates(nodes) {
  const per = await Promise.all(nodes.map(async (n) => {
    const r = await request(n.agent, `${n.url}/metrics`, {});
    const g = (k) => Number((new RegExp(`^switchyard_snapshot_bus_updates_total\\{kind="${k}"\\} (\\d+)$`, 'm').exec(r.text || '') || [])[1] || NaN);
    // pushed on PUB (docs/controlplane.md, "Delta updates"); 0 from a node without the counter
    const p = Number((/^switchyard_snapshot_bus_pushed_total\{result="applied"\} (\d+)$/m.exec(r.text || '') || [])[1] || 0);
    return { whole: g('whole'), delta: g('delta'), pushed: p };
  }));
  return per.reduce((a, b) => ({ whole: a.whole + b.whole, delta: a.delta + b.delta, pushed: a.pushed + b.pushed }), { whole: 0, delta: 0, pushed: 0 });
}
const updLine = (a, b) => `  updates applied by the ${N_NODES} nodes meanwhile: ${b.delta - a.delta} deltas (${b.pushed - a.pushed} of them pushed on PUB, the rest fetched), ${b.whole - a.whole} whole snapshots`;

// ------------------------------------------------------------------ statistics and output

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a').padStart(8);
function line(label, xs) {
  const s = [...xs].sort((a, b) => a - b);
  return `${label.padEnd(36)} n=${String(s.length).padStart(4)}  p50 ${f1(pct(s, 50))}  p90 ${f1(pct(s, 90))}  p99 ${f1(pct(s, 99))}  max ${f1(s[s.length - 1])}  ms`;
}
function probeLines(stats, nNodes) {
  const rtt = [...stats.rtt].sort((a, b) => a - b);
  const gaps = [...stats.gaps].sort((a, b) => a - b);
  const out = [
    `  prober: ${stats.polls} probes, round trip p50 ${pct(rtt, 50).toFixed(2)} / p99 ${pct(rtt, 99).toFixed(2)} ms; resolution of the last node's answer (its arrival - previous probe sent) p50 ${pct(gaps, 50).toFixed(1)} / p99 ${pct(gaps, 99).toFixed(1)} ms; first probe already decided ${stats.firstPoll}/${stats.events * nNodes}`,
  ];
  const top = Object.entries(stats.lastNode).sort((a, b) => b[1] - a[1]).slice(0, 3);
  if (top.length) out.push(`  last node to answer, most often: ${top.map(([n, c]) => `${n} ${c}x`).join(', ')}`);
  if (Object.keys(stats.others).length) out.push(`  other answers while probing: ${JSON.stringify(stats.others)}`);
  if (stats.fails) out.push(`  ${stats.fails} event(s) not seen on every node within ${EVENT_TIMEOUT_MS} ms (counted as failures)`);
  return out;
}

const summary = [];
const verdicts = [];
function verdict(name, stats, n) {
  const p99 = pct([...stats.all].sort((a, b) => a - b), 99);
  const pass = stats.fails === 0 && stats.all.length === n && n > 0 && p99 < TARGET_MS;
  verdicts.push(`${pass ? 'PASS' : 'FAIL'}: ${name} p99 ${Number.isFinite(p99) ? p99.toFixed(1) : 'n/a'} ms across ${N_NODES} nodes (target < ${TARGET_MS} ms, ${stats.all.length}/${n} measured)`);
  return pass;
}

// The target judged node-side (the change reached the node: it serves a snapshot that has it);
// every event must also have been confirmed by the prober on every node.
function verdictNode(name, xs, stats, n) {
  const p99 = pct([...xs].sort((a, b) => a - b), 99);
  const pass = stats.fails === 0 && stats.all.length === n && xs.length === n && n > 0 && p99 < TARGET_MS;
  verdicts.push(`${pass ? 'PASS' : 'FAIL'}: ${name} p99 ${Number.isFinite(p99) ? p99.toFixed(1) : 'n/a'} ms to the last of ${N_NODES} nodes, node-side (target < ${TARGET_MS} ms, ${xs.length}/${n} measured, every one confirmed by the prober)`);
  return pass;
}

// ------------------------------------------------------------------ usage batch, by hand (proto/bus.proto): tests/integration/lib/pb.mjs

const usageBatchRequest = (o) => pbUsageBatch({ ...o, node: 'fleet-bench' });

// ------------------------------------------------------------------ main

function catalogJson(mockPort, bigKeys) {
  return JSON.stringify({
    timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
    limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 1 },
    providers: [{ id: 'mock', kind: 'openai', base_url: `http://127.0.0.1:${mockPort}/v1`, api_key_env: 'MOCK_KEY' }],
    models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] }],
    workspaces: bigKeys ? bigKeys.workspaces : [],
    keys: bigKeys ? bigKeys.keys : [],
  });
}

// The big table: N_KEYS keys over N_KEYS/10 workspaces (at least one). The first
// N_BIG_REVOKES + 1 keys have secrets this script knows (probe + revocations); the rest random.
function bigTable() {
  const nws = Math.max(1, Math.floor(N_KEYS / 10));
  const workspaces = [];
  for (let i = 0; i < nws; i++) workspaces.push({ id: `ws_big_${i}`, name: `big ${i}`, active: true });
  const keys = [];
  const known = [];
  for (let i = 0; i < N_KEYS; i++) {
    const id = `key_big_${String(i).padStart(6, '0')}`;
    let sha;
    if (i <= N_BIG_REVOKES) {
      const secret = 'sk-sy-' + crypto.randomBytes(24).toString('hex');
      sha = crypto.createHash('sha256').update(secret).digest('hex');
      known.push({ id, key: secret });
    } else sha = crypto.randomBytes(32).toString('hex');
    keys.push({ id, name: `b${i}`, sha256: sha, workspace: `ws_big_${i % nws}`, allowed_models: ['*'] });
  }
  return { workspaces, keys, known };
}

async function nodeVersions() {
  const r = await apiOk('/api/nodes', 'GET', undefined, 200);
  return new Map(r.json.nodes.map((n) => [n.id, n.snapshot_version]));
}

// Waits until every node's heartbeat reports at least `version` (quiet moments between phases).
async function fleetAt(nodes, version, timeout = 120000) {
  await waitFor(
    async () => {
      for (const n of nodes) checkAlive(n.proc);
      const m = await nodeVersions();
      return nodes.every((n) => (m.get(n.id) ?? 0) >= version);
    },
    { timeout, interval: 100, what: `all ${nodes.length} nodes at version ${version}` },
  );
}

const curVersion = async () => (await apiOk('/api/snapshot/version', 'GET', undefined, 200)).json.version;

async function main() {
  progress(`fleet_scale: ${N_NODES} nodes, ${N_KEYS} keys, BUILD_DIR=${BUILD_DIR}, work dir ${tmpDir}`);
  const mock = start('mockllm', MOCK_BIN, ['--listen', '127.0.0.1:0', '--threads', '1'], {}, { stdout: true });
  const mockPort = await waitFor(
    () => {
      checkAlive(mock);
      const m = mock.out.match(/listening 127\.0\.0\.1:(\d+)/);
      return m ? Number(m[1]) : null;
    },
    { timeout: 10000, what: 'mock listening line' },
  );
  const catalogFile = path.join(tmpDir, 'catalog.json');
  fs.writeFileSync(catalogFile, catalogJson(mockPort, null));

  const pubUrl = `tcp://127.0.0.1:${await freePort()}`;
  const repUrl = `tcp://127.0.0.1:${await freePort()}`;
  const cpPortFile = path.join(tmpDir, 'cp.port');
  const cp = start(
    'switchyard-cp',
    CP_BIN,
    ['--db', path.join(tmpDir, 'cp.sqlite'), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--port-file', cpPortFile, '--bus-pub', pubUrl, '--bus-rep', repUrl, '--log-level', process.env.FLEET_CP_LOG_LEVEL || 'warn'],
    { SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  );
  cpBase = `http://127.0.0.1:${await readPortFile(cpPortFile, cp)}`;

  // ---- the fleet
  const nodes = [];
  for (let i = 0; i < N_NODES; i++) {
    const name = `dp-${String(i + 1).padStart(2, '0')}`;
    const portFile = path.join(tmpDir, `${name}.port`);
    const proc = start(
      name,
      DP_BIN,
      ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', '1', '--log-level', process.env.FLEET_DP_LOG_LEVEL || 'warn', '--node-id', `fleet-${name}`, '--classifier', 'none'],
      { MOCK_KEY: UPSTREAM_KEY },
    );
    nodes.push({ name, id: `fleet-${name}`, proc, portFile });
  }
  for (const n of nodes) {
    n.url = `http://127.0.0.1:${await readPortFile(n.portFile, n.proc)}`;
    n.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }
  for (const n of nodes)
    await waitFor(
      async () => {
        checkAlive(n.proc);
        try {
          return (await request(n.agent, `${n.url}/readyz`)).status === 200;
        } catch {
          return false;
        }
      },
      { timeout: 30000, what: `${n.name} /readyz = 200` },
    );
  // every node heartbeats, so the live-node count (a versioned write) settles at N_NODES
  await waitFor(async () => (await nodeVersions()).size >= N_NODES, { timeout: 30000, interval: 100, what: 'every node in /api/nodes' });
  progress(`fleet up: ${N_NODES} nodes ready`);

  // ---- workspaces and keys for parts 1 and 2 (one versioned write each)
  await apiOk('/api/workspaces', 'POST', { id: 'ws_fleet', name: 'fleet' }, 201);
  await apiOk('/api/workspaces/ws_fleet/credits', 'POST', { amount_usd: '1000', reference: 'fleet-seed' }, 201);
  await apiOk('/api/workspaces', 'POST', { id: 'ws_bal', name: 'balance' }, 201);
  await apiOk('/api/workspaces/ws_bal/credits', 'POST', { amount_usd: '1', reference: 'bal-seed' }, 201);
  const balKey = (await apiOk('/api/workspaces/ws_bal/keys', 'POST', { name: 'bal', allowed_models: ['*'], expires_at: 0 }, 201)).json;
  const keys = [];
  for (let i = 0; i < N_REVOKES; i++) {
    const r = await apiOk('/api/workspaces/ws_fleet/keys', 'POST', { name: `k${i}`, allowed_models: ['*'], expires_at: 0 }, 201);
    keys.push({ id: r.json.id, key: r.json.key });
  }
  await fleetAt(nodes, await curVersion());
  await sleep(1200); // live-node churn from start-up is over; let the fleet be quiet
  await fleetAt(nodes, await curVersion());
  const rssSmall = nodes.map((n) => statusKiB(n.proc.pid, 'VmRSS'));
  const cpRssSmall = statusKiB(cp.pid, 'VmRSS');
  progress(`${N_REVOKES} keys on every node; part 1: revocations`);

  const out = (s) => summary.push(s);
  out(`switchyard fleet_scale: ${N_NODES} data planes (switchyard-dp --threads 1, bus mode) + 1 control plane, loopback, ${os.cpus().length} CPUs; probe every ${POLL_MS} ms per node (elapsed/20 once slower)`);
  out('');

  // ---- part 1: revocation, small table
  const rev = newStats();
  const revNode = [];
  const upd1 = await busUpdates(nodes);
  let t1 = performance.now();
  for (let i = 0; i < keys.length && performance.now() - t1 < PHASE_S * 1000; i++) {
    const sent = Date.now();
    const r = await apiOk(`/api/keys/${keys[i].id}/revoke`, 'POST', undefined, 200);
    if ((await fleetWait(nodes, (n) => probeModels(n, keys[i].key), 401, r.t, rev)) !== null) await nodeSide(nodes, sent, revNode);
  }
  out(`1. key revocation (API answer -> first 401 on the last of ${N_NODES} nodes), ${N_REVOKES} keys in the table`);
  out(line('  revocation, all nodes (node-side)', revNode));
  out(line('  revocation, seen by the prober', rev.all));
  for (const l of probeLines(rev, N_NODES)) out(l);
  out(updLine(upd1, await busUpdates(nodes)));
  const pass1 = verdictNode('revocation', revNode, rev, N_REVOKES);
  progress(`part 1 done: ${rev.all.length} revocations`);

  // ---- part 2: balance exhaustion and top-up
  const exh = newStats();
  const exhNode = [];
  const topup = newStats();
  const upd2 = await busUpdates(nodes);
  // first: the seed credit reached every node
  await fleetWait(nodes, (n) => probeChat(n, balKey.key), 200, performance.now(), newStats());
  t1 = performance.now();
  for (let i = 0; i < N_BALANCE && performance.now() - t1 < PHASE_S * 1000; i++) {
    const bal = (await apiOk('/api/workspaces/ws_bal/balance', 'GET', undefined, 200)).json.balance_nano;
    if (!(bal > 0)) throw new Error(`ws_bal balance ${bal} before trial ${i}`);
    const sentX = Date.now();
    const sp = await spRequest(repUrl, usageBatchRequest({ id: `fleet-exhaust-${i}-${crypto.randomBytes(4).toString('hex')}`, workspace: 'ws_bal', keyId: balKey.id, costNano: bal }), { timeoutMs: 10000 });
    const tAck = performance.now();
    const ack = parseUsageAck(sp.body);
    if (ack.error || ack.applied !== 1) throw new Error(`usage batch ${i}: ${JSON.stringify(ack)}`);
    if ((await fleetWait(nodes, (n) => probeChat(n, balKey.key), 402, tAck, exh)) !== null) await nodeSide(nodes, sentX, exhNode);
    const c = await apiOk('/api/workspaces/ws_bal/credits', 'POST', { amount_usd: '1', reference: `bal-topup-${i}` }, 201);
    await fleetWait(nodes, (n) => probeChat(n, balKey.key), 200, c.t, topup);
  }
  out('');
  out(`2. balance exhaustion (usage batch ack -> first 402 on the last node; the batch takes the balance to 0)`);
  out(line('  exhaustion, all nodes (node-side)', exhNode));
  out(line('  exhaustion, seen by the prober', exh.all));
  for (const l of probeLines(exh, N_NODES)) out(l);
  out(line('  top-up (credit API answer -> 200)', topup.all));
  out(updLine(upd2, await busUpdates(nodes)));
  const pass2 = verdictNode('balance exhaustion', exhNode, exh, N_BALANCE);
  progress(`part 2 done: ${exh.all.length} exhaustions`);

  // ---- part 3: a snapshot of N_KEYS keys
  let pass3 = true;
  let pass4 = true;
  if (N_KEYS > 0) {
    progress(`part 3: writing ${N_KEYS} keys into the catalog file`);
    const big = bigTable();
    fs.writeFileSync(catalogFile, catalogJson(mockPort, big));
    const catBytes = fs.statSync(catalogFile).size;
    await fleetAt(nodes, await curVersion());
    await sleep(500);
    const probeKey = big.known[0].key;
    const cpCpu0 = cpuSec(cp.pid);
    const dpCpu0 = nodes.reduce((a, n) => a + cpuSec(n.proc.pid), 0);
    const peakReset = resetPeak(cp.pid);
    const cpHwm0 = statusKiB(cp.pid, 'VmHWM');
    let cpRssMax = 0;
    const sampler = setInterval(() => {
      try {
        cpRssMax = Math.max(cpRssMax, statusKiB(cp.pid, 'VmRSS'));
      } catch {}
    }, 10);
    const tReq = performance.now();
    const r = await api('/api/catalog/reload', 'POST', undefined, 600000);
    if (r.status !== 200) throw new Error(`catalog reload: ${r.status} ${r.text.slice(0, 300)}`);
    const tApi = r.t;
    const importMs = tApi - tReq;
    const snap = newStats();
    const allMs = await fleetWait(nodes, (n) => probeModels(n, probeKey), 200, tApi, snap);
    const cpCpu = cpuSec(cp.pid) - cpCpu0;
    const dpCpu = nodes.reduce((a, n) => a + cpuSec(n.proc.pid), 0) - dpCpu0;
    clearInterval(sampler);
    const cpHwm = statusKiB(cp.pid, 'VmHWM');
    const vNow = await curVersion();
    const versions = await nodeVersions();
    const atImport = nodes.filter((n) => (versions.get(n.id) ?? 0) >= r.json.version).length;
    if (allMs !== null) await sleep(1500); // old tables freed by the reapers
    const rssBig = nodes.map((n) => statusKiB(n.proc.pid, 'VmRSS'));
    const med = (xs) => pct([...xs].sort((a, b) => a - b), 50);
    const mx = (xs) => Math.max(...xs);
    out('');
    out(`3. a snapshot of ${N_KEYS} keys (${big.workspaces.length} workspaces; catalog file ${(catBytes / 1048576).toFixed(1)} MiB) through POST /api/catalog/reload (one version, ${r.json.version})`);
    out(`  import (request -> API answer)       ${importMs.toFixed(0)} ms`);
    out(`  API answer -> all ${N_NODES} nodes serve it ${allMs === null ? `NOT within ${EVENT_TIMEOUT_MS} ms: ${snap.reached}/${N_NODES} nodes served the probe key; heartbeats: ${atImport}/${N_NODES} at version >= ${r.json.version}, control plane now at ${vNow}` : allMs.toFixed(0) + ' ms'} (probe resolution ${snap.gaps.length ? snap.gaps[0].toFixed(1) : 'n/a'} ms)`);
    out(`  control plane: CPU ${(cpCpu * 1000).toFixed(0)} ms (user+sys, request -> all nodes), peak RSS ${peakReset ? (cpHwm / 1024).toFixed(1) + ' MiB (VmHWM, reset before)' : 'n/a'}, sampled max ${(cpRssMax / 1024).toFixed(1)} MiB, before ${(cpRssSmall / 1024).toFixed(1)} MiB`);
    out(`  data planes: CPU ${(dpCpu * 1000).toFixed(0)} ms over all ${N_NODES} (${((dpCpu * 1000) / N_NODES).toFixed(0)} ms each); RSS median ${(med(rssBig) / 1024).toFixed(1)} MiB, max ${(mx(rssBig) / 1024).toFixed(1)} MiB (before: median ${(med(rssSmall) / 1024).toFixed(1)} MiB) -> ${(((med(rssBig) - med(rssSmall)) * 1024) / Math.max(1, N_KEYS)).toFixed(0)} B per key; fleet total ${(rssBig.reduce((a, b) => a + b, 0) / 1048576).toFixed(2)} GiB`);
    void cpHwm0;
    pass3 = allMs !== null;
    verdicts.push(`${pass3 ? 'INFO' : 'FAIL'}: ${N_KEYS}-key snapshot on all ${N_NODES} nodes ${allMs === null ? 'timed out' : `in ${allMs.toFixed(0)} ms`} (no target in the issue: time and resources printed)`);
    progress(`part 3 done: ${allMs === null ? 'timed out' : allMs.toFixed(0) + ' ms'}; part 4: revocations with ${N_KEYS} keys`);
    if (allMs === null) {
      out('');
      out(`4. key revocation with ${N_KEYS} keys in the table: not measured (the fleet did not converge on the big table)`);
      verdicts.push(`FAIL: revocation with ${N_KEYS} keys not measured: the fleet did not converge`);
      for (const p of procs) checkAlive(p);
      console.log(summary.join('\n'));
      console.log('');
      console.log(verdicts.join('\n'));
      return 1;
    }

    // ---- part 4: revocation with the big table
    const big4 = newStats();
    const big4Node = [];
    const upd4 = await busUpdates(nodes);
    const cpCpu4 = cpuSec(cp.pid);
    t1 = performance.now();
    let n4 = 0;
    for (let i = 1; i <= N_BIG_REVOKES && performance.now() - t1 < PHASE_S * 1000; i++) {
      const k = big.known[i];
      const sent = Date.now();
      const rr = await apiOk(`/api/keys/${k.id}/revoke`, 'POST', undefined, 200);
      if ((await fleetWait(nodes, (n) => probeModels(n, k.key), 401, rr.t, big4)) !== null) await nodeSide(nodes, sent, big4Node);
      n4++;
      if (i % 10 === 0) progress(`  ${i} big-table revocations, last ${big4.all[big4.all.length - 1]?.toFixed(1)} ms`);
    }
    const cpCpuPer = n4 ? ((cpuSec(cp.pid) - cpCpu4) * 1000) / n4 : NaN;
    out('');
    out(`4. key revocation with ${N_KEYS} keys in the table (API answer -> first 401 on the last node)`);
    out(line('  revocation, all nodes (node-side)', big4Node));
    out(line('  revocation, seen by the prober', big4.all));
    for (const l of probeLines(big4, N_NODES)) out(l);
    out(`  control plane CPU per revocation ${cpCpuPer.toFixed(0)} ms; ${n4 < N_BIG_REVOKES ? `stopped after ${n4} of ${N_BIG_REVOKES} (FLEET_PHASE_S ${PHASE_S} s)` : ''}`);
    out(updLine(upd4, await busUpdates(nodes)));
    pass4 = verdictNode(`revocation with ${N_KEYS} keys`, big4Node, big4, N_BIG_REVOKES);

    // ---- part 5: balance exhaustion with the big table
    const exh5 = newStats();
    const exh5Node = [];
    const top5 = newStats();
    const upd5 = await busUpdates(nodes);
    await fleetWait(nodes, (n) => probeChat(n, balKey.key), 200, performance.now(), newStats());
    t1 = performance.now();
    for (let i = 0; i < N_BIG_BALANCE && performance.now() - t1 < PHASE_S * 1000; i++) {
      const bal = (await apiOk('/api/workspaces/ws_bal/balance', 'GET', undefined, 200)).json.balance_nano;
      if (!(bal > 0)) throw new Error(`ws_bal balance ${bal} before big-table trial ${i}`);
      const sentX = Date.now();
      const sp = await spRequest(repUrl, usageBatchRequest({ id: `fleet-big-exhaust-${i}-${crypto.randomBytes(4).toString('hex')}`, workspace: 'ws_bal', keyId: balKey.id, costNano: bal }), { timeoutMs: 10000 });
      const tAck = performance.now();
      const ack = parseUsageAck(sp.body);
      if (ack.error || ack.applied !== 1) throw new Error(`usage batch ${i}: ${JSON.stringify(ack)}`);
      if ((await fleetWait(nodes, (n) => probeChat(n, balKey.key), 402, tAck, exh5)) !== null) await nodeSide(nodes, sentX, exh5Node);
      const c = await apiOk('/api/workspaces/ws_bal/credits', 'POST', { amount_usd: '1', reference: `bal-big-topup-${i}` }, 201);
      await fleetWait(nodes, (n) => probeChat(n, balKey.key), 200, c.t, top5);
    }
    out('');
    out(`5. balance exhaustion with ${N_KEYS} keys in the table (usage batch ack -> first 402 on the last node)`);
    out(line('  exhaustion, all nodes (node-side)', exh5Node));
    out(line('  exhaustion, seen by the prober', exh5.all));
    for (const l of probeLines(exh5, N_NODES)) out(l);
    out(line('  top-up (credit API answer -> 200)', top5.all));
    out(updLine(upd5, await busUpdates(nodes)));
    pass4 = verdictNode(`balance exhaustion with ${N_KEYS} keys`, exh5Node, exh5, N_BIG_BALANCE) && pass4;
  }

  for (const p of procs) checkAlive(p);
  console.log(summary.join('\n'));
  console.log('');
  console.log(verdicts.join('\n'));
  return pass1 && pass2 && pass3 && pass4 ? 0 : 1;
}

const deadline = setTimeout(async () => {
  console.error(`fleet_scale: run exceeded ${DEADLINE_S} s, stopping`);
  if (summary.length) console.log(summary.join('\n') + '\n' + verdicts.join('\n'));
  await stopAll();
  process.exit(2);
}, DEADLINE_S * 1000);

let code = 2;
try {
  code = await main();
} catch (e) {
  console.error(`fleet_scale: ${e.stack || e}`);
  if (summary.length) console.log(summary.join('\n') + '\n' + verdicts.join('\n'));
  code = 2;
} finally {
  clearTimeout(deadline);
  cpAgent.destroy();
  await stopAll();
}
process.exit(code);
