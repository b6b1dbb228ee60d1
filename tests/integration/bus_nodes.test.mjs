// Data-plane heartbeats: a control plane and two data planes (--node-id a, --node-id b).
// Every node sends BusRequest{heartbeat} each second; the control plane records it in
// dp_nodes without bumping the snapshot version, and GET /api/nodes lists the nodes with the
// version each one serves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, DP_BIN, Proc, childEnv, makeTempDir, waitFor, slack, sleep, httpRequest, closedPort, CP_BIN, readPort, stopAll } from './lib/harness.mjs';

const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const NODE_IDS = ['a', 'b'];

let tmp, cp, cpBase;
const dps = [];

function api(p, { method = 'GET', body, token = TOKEN } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return httpRequest(cpBase + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function version() {
  const r = await api('/api/snapshot/version');
  assert.equal(r.status, 200, r.text);
  return r.json.version;
}

async function nodes() {
  const r = await api('/api/nodes');
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.json.nodes), r.text);
  return Object.fromEntries(r.json.nodes.map((n) => [n.id, n]));
}

// Resolves once both nodes are listed serving version v (re-read every 50 ms).
async function bothAt(v, timeout) {
  return waitFor(
    async () => {
      const ns = await nodes();
      return NODE_IDS.every((id) => ns[id] && ns[id].snapshot_version === v) ? ns : null;
    },
    { timeout, interval: 50, what: `nodes ${NODE_IDS.join(', ')} reporting snapshot version ${v}` },
  );
}

before(async () => {
  tmp = makeTempDir('sy-bus-nodes-');
  const catalogFile = path.join(tmp.dir, 'catalog.json');
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({
      timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
      providers: [{ id: 'mock', kind: 'openai', base_url: `http://127.0.0.1:${await closedPort()}`, api_key_env: 'MOCK_KEY' }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] }],
      workspaces: [],
      keys: [],
    }),
  );
  const pubUrl = `tcp://127.0.0.1:${await closedPort()}`;
  const repUrl = `tcp://127.0.0.1:${await closedPort()}`;
  const cpPortFile = path.join(tmp.dir, 'cp.port');
  cp = new Proc('switchyard-cp', CP_BIN, ['--db', path.join(tmp.dir, 'cp.sqlite'), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--port-file', cpPortFile, '--bus-pub', pubUrl, '--bus-rep', repUrl], {
    env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  });
  cpBase = `http://127.0.0.1:${await readPort(cpPortFile, cp)}`;
  for (const id of NODE_IDS) {
    const portFile = path.join(tmp.dir, `dp-${id}.port`);
    const proc = new Proc(`switchyard-dp-${id}`, DP_BIN, ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--node-id', id, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', '2', '--drain-ms', '2000'], {
      env: { ...childEnv(), MOCK_KEY: 'unused' },
    });
    dps.push({ proc, url: null });
    dps[dps.length - 1].url = `http://127.0.0.1:${await readPort(portFile, proc)}`;
  }
});

after(() => stopAll([...dps.map((d) => d.proc), cp], tmp));

test('GET /api/nodes lists both nodes at the current snapshot version within 3 s', async () => {
  // the version moves while the nodes join (the live-node count is a versioned write,
  // docs/admission.md): wait for both nodes to report whatever is current
  let v = 0;
  const ns = await waitFor(
    async () => {
      v = await version();
      const n = await nodes();
      return NODE_IDS.every((id) => n[id] && n[id].snapshot_version === v) ? n : null;
    },
    { timeout: slack(3000), interval: 50, what: 'both nodes at the current version' },
  );
  assert.ok(v > 0, `version ${v}`);
  for (const id of NODE_IDS) {
    const n = ns[id];
    assert.equal(n.build, 'switchyard-dp/0.1');
    assert.equal(typeof n.last_seen_ms, 'number');
    assert.ok(Math.abs(n.last_seen_ms - Date.now()) < slack(5000), `last_seen_ms ${n.last_seen_ms} vs now ${Date.now()}`);
    assert.equal(typeof n.age_ms, 'number');
    assert.ok(n.age_ms >= 0 && n.age_ms < slack(3000), `age_ms ${n.age_ms}`);
    assert.deepEqual(Object.keys(n).sort(), ['age_ms', 'build', 'id', 'last_seen_ms', 'snapshot_version']);
  }
});

test('after a write both nodes report the new version within 3 s', async () => {
  const before = await version();
  const r = await api('/api/workspaces', { method: 'POST', body: { id: 'ws_nodes', name: 'nodes' } });
  assert.equal(r.status, 201, r.text);
  const v = await version();
  assert.ok(v > before, `version ${before} -> ${v}`);
  const t0 = performance.now();
  await bothAt(v, slack(3000));
  console.log(`both nodes reported version ${v} after ${(performance.now() - t0).toFixed(1)} ms`);
});

test('heartbeats do not change the snapshot version', async () => {
  const v = await version();
  const seen0 = await nodes();
  await sleep(2500); // at least two heartbeats from each node
  const seen1 = await nodes();
  for (const id of NODE_IDS) assert.ok(seen1[id].last_seen_ms > seen0[id].last_seen_ms, `${id} heartbeat recorded`);
  assert.equal(await version(), v);
});

test('GET /api/nodes needs the operator token', async () => {
  let r = await api('/api/nodes', { token: null });
  assert.equal(r.status, 401, r.text);
  r = await api('/api/nodes', { token: 'wrong' });
  assert.equal(r.status, 401, r.text);
  r = await api('/api/nodes', { method: 'POST', body: {} });
  assert.equal(r.status, 405, r.text);
});
