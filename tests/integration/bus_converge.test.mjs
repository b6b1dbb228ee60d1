// Convergence of data planes with the control plane over the bus, in the awkward orders.
//   (a) a node started BEFORE the control plane (its bus URLs point at ports nothing listens on
//       yet) is not ready (503); the control plane then starts on those ports, the node becomes
//       ready and serves a key created through the admin API, without a restart.
//   (b) a control plane started with --bus-drop-notices (test-only fault: no PUB notices at
//       all): a key created through the API still reaches a node within 2.5 s, by the node's
//       one-second safety-net fetch alone. The measured time is printed.
//   (c) a node whose cache file is garbage rejects it at start (logs it, waits for the control
//       plane, switchyard_snapshot_rejected_total{reason="corrupt"} >= 1), then applies the
//       bus snapshot once the control plane answers (switchyard_snapshot_applied_total{source="bus"} >= 1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, DP_BIN, Proc, childEnv, makeTempDir, waitFor, slack, sleep, httpRequest, startMock, closedPort, CP_BIN, readPort, chatStatus } from './lib/harness.mjs';

const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');

let tmp, mock, catalogFile;
let seq = 0;
const procs = []; // every process started, stopped (and checked) in `after`

async function busUrls() {
  return { pub: `tcp://127.0.0.1:${await closedPort()}`, rep: `tcp://127.0.0.1:${await closedPort()}` };
}

async function startCp(bus, extra = []) {
  const n = seq++;
  const portFile = path.join(tmp.dir, `cp-${n}.port`);
  const args = ['--db', path.join(tmp.dir, `cp-${n}.sqlite`), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--bus-pub', bus.pub, '--bus-rep', bus.rep, '--port-file', portFile, ...extra];
  const proc = new Proc(`switchyard-cp-${n}`, CP_BIN, args, { env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: TOKEN } });
  procs.push(proc);
  const base = `http://127.0.0.1:${await readPort(portFile, proc)}`;
  const api = (p, { method = 'GET', body } = {}) => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return httpRequest(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  return { proc, api };
}

async function startDp(bus, cacheDir) {
  const n = seq++;
  const portFile = path.join(tmp.dir, `dp-${n}.port`);
  const args = ['--control-plane-sub', bus.pub, '--control-plane-req', bus.rep, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', '2', '--drain-ms', '2000'];
  if (cacheDir) args.push('--cache-dir', cacheDir);
  const proc = new Proc(`switchyard-dp-${n}`, DP_BIN, args, { env: { ...childEnv(), MOCK_KEY: UPSTREAM_KEY } });
  procs.push(proc);
  return { proc, url: `http://127.0.0.1:${await readPort(portFile, proc)}` };
}

const readyz = async (d) => (await httpRequest(`${d.url}/readyz`)).status;

async function metric(d, name, label) {
  const r = await httpRequest(`${d.url}/metrics`);
  assert.equal(r.status, 200, `${d.proc.name} /metrics`);
  const re = new RegExp(`^${name}\\{${label.replace(/"/g, '\\"')}\\} (\\d+)$`, 'm');
  const m = r.text.match(re);
  assert.ok(m, `${name}{${label}} missing from ${d.proc.name} /metrics:\n${r.text}`);
  return Number(m[1]);
}

async function createKey(api, ws) {
  let r = await api('/api/workspaces', { method: 'POST', body: { id: ws, name: ws } });
  assert.equal(r.status, 201, r.text);
  // a prepaid workspace needs credit before priced models serve it (docs/admission.md, reservations)
  r = await api(`/api/workspaces/${ws}/credits`, { method: 'POST', body: { amount_usd: '100', reference: `it-${ws}` } });
  assert.equal(r.status, 201, r.text);
  r = await api(`/api/workspaces/${ws}/keys`, { method: 'POST', body: { name: 'k', allowed_models: ['*'], expires_at: 0 } });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.key, /^sk-sy-/);
  return r.json.key;
}

before(async () => {
  tmp = makeTempDir('sy-bus-converge-');
  mock = await startMock({ dir: tmp.dir });
  catalogFile = path.join(tmp.dir, 'catalog.json');
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({
      timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
      providers: [{ id: 'mock', kind: 'openai', base_url: `${mock.baseURL}`, api_key_env: 'MOCK_KEY' }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] }],
      workspaces: [],
      keys: [],
    }),
  );
});

after(async () => {
  let ok = false;
  try {
    const errors = [];
    // data planes first, then control planes, then the mock
    const order = [...procs.filter((p) => p.name.startsWith('switchyard-dp')), ...procs.filter((p) => p.name.startsWith('switchyard-cp')), mock?.proc].filter(Boolean);
    for (const p of order) {
      try {
        await p.stop();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw new Error(errors.map((e) => e.message).join('\n\n'));
    ok = true;
  } finally {
    if (ok) tmp?.cleanup();
    else if (tmp) console.log(`kept ${tmp.dir} for inspection`);
  }
});

test('(a)+(c) nodes started before the control plane, one with a corrupt cache, converge when it starts', async () => {
  const bus = await busUrls();
  // (a) a node with no cache at all
  const da = await startDp(bus, null);
  // (c) a node whose cache file is garbage
  const cacheDir = path.join(tmp.dir, 'cache-corrupt');
  fs.mkdirSync(cacheDir);
  fs.writeFileSync(path.join(cacheDir, 'snapshot.pb'), Buffer.concat([Buffer.from('not a snapshot '), Buffer.alloc(64, 0xff)]));
  const dc = await startDp(bus, cacheDir);

  await sleep(slack(500));
  for (const d of [da, dc]) {
    assert.equal(await readyz(d), 503, `${d.proc.name} has nothing to serve: not ready`);
    assert.equal(await chatStatus(d.url, 'sk-sy-' + crypto.randomBytes(24).toString('hex')), 503, `${d.proc.name} must not fail open`);
  }
  assert.match(dc.proc.stderr, /snapshot cache rejected; waiting for the control plane.*reason=corrupt/, dc.proc.stderrTail());
  assert.ok((await metric(dc, 'switchyard_snapshot_rejected_total', 'reason="corrupt"')) >= 1, 'corrupt cache counted');
  assert.equal(await metric(dc, 'switchyard_snapshot_applied_total', 'source="cache"'), 0);
  assert.equal(await metric(dc, 'switchyard_snapshot_applied_total', 'source="bus"'), 0);

  // the control plane comes up on the ports the nodes were already dialling
  const cp = await startCp(bus);
  for (const d of [da, dc]) await waitFor(async () => (await readyz(d)) === 200, { timeout: slack(5000), what: `${d.proc.name} ready once the control plane is up` });
  const key = await createKey(cp.api, 'ws_late');
  for (const d of [da, dc]) {
    await waitFor(async () => (await chatStatus(d.url, key)) === 200, { timeout: slack(3000), interval: 10, what: `the new key to work on ${d.proc.name}` });
    assert.equal(d.proc.running, true, `${d.proc.name} must not have restarted`);
  }
  assert.ok((await metric(dc, 'switchyard_snapshot_applied_total', 'source="bus"')) >= 1, 'bus snapshot counted');
  assert.ok((await metric(dc, 'switchyard_snapshot_rejected_total', 'reason="corrupt"')) >= 1);
  assert.ok((await metric(da, 'switchyard_snapshot_applied_total', 'source="bus"')) >= 1);
  // the node rewrote its cache with the good snapshot
  await waitFor(() => fs.statSync(path.join(cacheDir, 'snapshot.pb')).size > 79, { timeout: slack(3000), what: 'the cache rewritten' });
});

test('(b) with every notice dropped, the safety-net fetch still delivers a new key within 2.5 s', async () => {
  const bus = await busUrls();
  const cp = await startCp(bus, ['--bus-drop-notices']);
  // the warning is logged at start; the pipe may deliver it a moment after the port file appears
  await waitFor(() => /bus-drop-notices/.test(cp.proc.stderr), { timeout: slack(3000), what: 'the --bus-drop-notices warning' });
  const d = await startDp(bus, null);
  await waitFor(async () => (await readyz(d)) === 200, { timeout: slack(5000), what: `${d.proc.name} ready` });
  const before = await metric(d, 'switchyard_snapshot_applied_total', 'source="bus"');
  const key = await createKey(cp.api, 'ws_drop');
  const t1 = performance.now();
  await waitFor(async () => (await chatStatus(d.url, key)) === 200, { timeout: slack(5000), interval: 10, what: `the key to reach ${d.proc.name} without notices` });
  const ms = performance.now() - t1;
  console.log(`with --bus-drop-notices the new key reached the node in ${ms.toFixed(1)} ms (safety-net fetch only)`);
  assert.ok(ms < slack(2500), `convergence without notices took ${ms.toFixed(1)} ms`);
  assert.ok((await metric(d, 'switchyard_snapshot_applied_total', 'source="bus"')) > before);
});
