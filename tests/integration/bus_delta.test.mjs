// Delta updates over the bus (docs/controlplane.md, "Delta updates"): when only keys and
// workspaces changed since a node's version, the control plane answers its fetch with a small
// delta that the node applies on top of the snapshot it serves, instead of the whole table.
//   - a revocation and a balance exhaustion reach the nodes by delta
//     (switchyard_snapshot_bus_updates_total{kind="delta"} grows, kind="whole" does not);
//   - a node stopped (SIGSTOP) while several versions go by, and a node started late, converge
//     to the right answers;
//   - a delta is only ever served for the exact base (version AND created_at_ms) — asked on the
//     bus by hand (a node's own refusal of another base is tests/unit/test_delta.c);
//   - a change of models falls back to the whole snapshot;
//   - the patched snapshot equals the whole build of the same database;
//   - a node with --cache-dir keeps the deltas on disk over its cached snapshot, and a node booted
//     from that cache alone serves what only a delta carried;
//   - with 20,000 keys in the table a revocation still arrives by delta, fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { makeTempDir, waitFor, slack, sleep, httpRequest, startMock, startCp, restartCp, startBusDp, chatStatus, parseMetrics, quietVersion, balanceNano } from './lib/harness.mjs';
import { spRequest } from './lib/sp.mjs';
import { fStr, fInt, eachField, varints, usageBatchRequest } from './lib/pb.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
let tmp, mock, cp;
const nodes = [];

function catalog(extra = {}) {
  return {
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1', output_per_m: '2' }],
    workspaces: [],
    keys: [],
    ...extra,
  };
}

async function metrics(d) {
  const r = await httpRequest(`${d.url}/metrics`);
  assert.equal(r.status, 200);
  return parseMetrics(r.text);
}
async function updates(d) {
  const m = await metrics(d);
  return {
    whole: m.get('switchyard_snapshot_bus_updates_total{kind="whole"}'),
    delta: m.get('switchyard_snapshot_bus_updates_total{kind="delta"}'),
    wrongBase: m.get('switchyard_snapshot_deltas_refused_total{reason="wrong_base"}'),
    invalid: m.get('switchyard_snapshot_deltas_refused_total{reason="invalid"}'),
    version: m.get('switchyard_config_version'),
  };
}
async function cpFetches(answer) {
  const r = await cp.api('/metrics');
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text).get(`switchyard_cp_bus_fetches_total{answer="${answer}"}`);
}

// GET /v1/models/m-ok: authentication and admission, no upstream
async function modelStatus(d, key, model = 'm-ok') {
  const r = await httpRequest(`${d.url}/v1/models/${model}`, { headers: { authorization: `Bearer ${key}` } });
  return r.status;
}

async function newKey(ws) {
  const r = await cp.api(`/api/workspaces/${ws}/keys`, { method: 'POST', body: { name: 'k', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  return { id: r.json.id, key: r.json.key };
}
async function newWorkspace(id, usd) {
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id, name: id } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api(`/api/workspaces/${id}/credits`, { method: 'POST', body: { amount_usd: usd, reference: `it-${id}` } });
  assert.equal(r.status, 201, r.text);
}

// ---- bus messages by hand (proto/bus.proto), as a node would send them: lib/pb.mjs
const usageBatch = (o) => usageBatchRequest({ ...o, node: 'it-delta' });
// BusRequest.fetch{have_version, delta_ok, have_created_at_ms}
function fetchDelta(have, created) {
  return fStr(1, Buffer.concat([fInt(1, have), fInt(2, 1), fInt(3, created)]));
}
// the packed key (6) and workspace (5) rows of a packed Snapshot, as hex strings
function rows(buf) {
  const out = { 5: [], 6: [] };
  eachField(buf, (no, v) => {
    if ((no === 5 || no === 6) && Buffer.isBuffer(v)) out[no].push(v.toString('hex'));
  });
  return { ws: out[5].sort(), keys: out[6].sort() };
}
// varints(buf): the top-level varint fields of a packed Snapshot / SnapshotDelta (version 1,
// created_at_ms 2, from 20, from_created 23)

before(async () => {
  tmp = makeTempDir('sy-delta-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({ dir: tmp.dir, catalog: catalog() });
  for (let i = 0; i < 2; i++) nodes.push(await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, name: `dp-${i}`, threads: 1 }));
});

after(async () => {
  try {
    for (const d of nodes) {
      try {
        process.kill(d.proc.pid, 'SIGCONT');
      } catch {}
      if (d.proc.running) await d.proc.stop();
    }
    if (cp?.proc.running) await cp.proc.stop();
    await mock?.stop();
  } finally {
    tmp?.cleanup();
  }
});

async function fleetAt(version, list = nodes) {
  await waitFor(async () => {
    for (const d of list) if ((await updates(d)).version < version) return false;
    return true;
  }, { timeout: slack(5000), what: `nodes at version ${version}` });
}

test('a revocation and a balance exhaustion arrive by delta, not by a whole snapshot', async () => {
  await newWorkspace('ws_rev', '10');
  const k = await newKey('ws_rev');
  await newWorkspace('ws_bal', '1');
  const bk = await newKey('ws_bal');
  await fleetAt(await quietVersion(cp));
  for (const d of nodes) {
    assert.equal(await modelStatus(d, k.key), 200);
    assert.equal(await chatStatus(d.url, bk.key), 200);
  }
  const before = await Promise.all(nodes.map(updates));
  const cpDelta0 = await cpFetches('delta');
  const pushed0 = parseMetrics((await cp.api('/metrics')).text).get('switchyard_cp_bus_publishes_total{kind="delta"}');

  let r = await cp.api(`/api/keys/${k.id}/revoke`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  const t0 = performance.now();
  for (const d of nodes) await waitFor(async () => (await modelStatus(d, k.key)) === 401, { timeout: slack(3000), interval: 5, what: 'the revoked key refused' });
  console.log(`revocation reached both nodes in ${(performance.now() - t0).toFixed(1)} ms`);

  // exhaustion: one usage record costing the whole remaining balance
  const bal = await balanceNano(cp, 'ws_bal');
  assert.ok(bal > 0n);
  const sp = await spRequest(cp.repUrl, usageBatch({ id: `it-delta-${crypto.randomBytes(4).toString('hex')}`, workspace: 'ws_bal', keyId: bk.id, costNano: bal }));
  assert.ok(sp.body.length > 0);
  assert.ok((await balanceNano(cp, 'ws_bal')) <= 0n);
  for (const d of nodes) await waitFor(async () => (await chatStatus(d.url, bk.key)) === 402, { timeout: slack(3000), interval: 5, what: 'the exhausted workspace refused' });
  // the other workspace's key is untouched, the revoked one stays revoked
  for (const d of nodes) assert.equal(await modelStatus(d, k.key), 401);

  const after = await Promise.all(nodes.map(updates));
  for (let i = 0; i < nodes.length; i++) {
    assert.ok(after[i].delta >= before[i].delta + 2, `node ${i}: deltas ${before[i].delta} -> ${after[i].delta}`);
    assert.equal(after[i].whole, before[i].whole, `node ${i}: no whole snapshot was built`);
    assert.equal(after[i].invalid, 0);
  }
  // by fetch, or pushed on PUB (bus_push.test.mjs): either way the control plane made the deltas
  const pushed = parseMetrics((await cp.api('/metrics')).text).get('switchyard_cp_bus_publishes_total{kind="delta"}');
  assert.ok((await cpFetches('delta')) + pushed >= cpDelta0 + pushed0 + 2);
});

test('a node stopped while versions go by, and a node started late, converge to the right answers', async () => {
  await newWorkspace('ws_miss', '10');
  const a = await newKey('ws_miss');
  const b = await newKey('ws_miss');
  await fleetAt(await quietVersion(cp));
  const d = nodes[1];
  const before = await updates(d);
  process.kill(d.proc.pid, 'SIGSTOP');
  try {
    // three versions the stopped node misses: a revocation, a new key, a new workspace with a key
    assert.equal((await cp.api(`/api/keys/${a.id}/revoke`, { method: 'POST' })).status, 200);
    const c = await newKey('ws_miss');
    await newWorkspace('ws_miss2', '5');
    const e = await newKey('ws_miss2');
    await sleep(slack(300));
    process.kill(d.proc.pid, 'SIGCONT');
    const want = [[a.key, 401], [b.key, 200], [c.key, 200], [e.key, 200]];
    await waitFor(async () => {
      for (const [key, st] of want) if ((await modelStatus(d, key)) !== st) return false;
      return true;
    }, { timeout: slack(4000), what: 'the resumed node serving the new state' });
    const after = await updates(d);
    assert.ok(after.delta > before.delta, 'the resumed node caught up by a (composed) delta');
    assert.equal(after.whole, before.whole);

    // a node started now gets the whole snapshot and then follows by deltas
    const late = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, name: 'dp-late', threads: 1 });
    nodes.push(late);
    for (const [key, st] of want) assert.equal(await modelStatus(late, key), st);
    assert.ok((await updates(late)).whole >= 1);
    await fleetAt(await quietVersion(cp)); // the live-node count changed: a whole snapshot for everyone
    const l0 = await updates(late);
    assert.equal((await cp.api(`/api/keys/${b.id}/revoke`, { method: 'POST' })).status, 200);
    for (const n of nodes) await waitFor(async () => (await modelStatus(n, b.key)) === 401, { timeout: slack(3000), interval: 5, what: 'b revoked everywhere' });
    assert.ok((await updates(late)).delta > l0.delta, 'the late node follows by delta');
  } finally {
    process.kill(d.proc.pid, 'SIGCONT');
  }
});

test('a delta is served only from the exact base the node names; others get the whole snapshot', async () => {
  await newWorkspace('ws_base', '10');
  const v0 = await quietVersion(cp);
  // the exact base: version and created_at_ms as the control plane built it
  const whole0 = await spRequest(cp.repUrl, fStr(1, fInt(1, 0)));
  const s0 = varints(whole0.body);
  assert.equal(s0[1], v0);
  await newKey('ws_base');
  const v1 = await quietVersion(cp);
  assert.ok(v1 > v0);
  let r = await spRequest(cp.repUrl, fetchDelta(v0, s0[2]));
  assert.equal(r.body.subarray(0, 5).toString(), 'delta', 'the exact base gets a delta');
  const dv = varints(r.body.subarray(5));
  assert.equal(dv[1], v1);
  assert.equal(dv[20], v0);
  assert.equal(dv[23], s0[2]);
  assert.ok(r.body.length < 1024, `a one-key delta is small (${r.body.length} bytes)`);
  // the same version with another created_at_ms (another state of version v0: a restored database)
  r = await spRequest(cp.repUrl, fetchDelta(v0, s0[2] - 1));
  assert.notEqual(r.body.subarray(0, 5).toString(), 'delta');
  assert.equal(varints(r.body)[1], v1, 'the whole snapshot instead');
  // a version the control plane never built
  r = await spRequest(cp.repUrl, fetchDelta(1, 12345));
  assert.notEqual(r.body.subarray(0, 5).toString(), 'delta');
  // a node that does not ask for deltas never gets one
  r = await spRequest(cp.repUrl, fStr(1, fInt(1, v0)));
  assert.equal(varints(r.body)[1], v1);
  for (const d of nodes) assert.equal((await updates(d)).wrongBase, 0, 'the nodes never received a delta for another base');
});

test('a change of models falls back to the whole snapshot', async () => {
  await newWorkspace('ws_models', '10');
  const k = await newKey('ws_models');
  await fleetAt(await quietVersion(cp));
  for (const d of nodes) assert.equal(await modelStatus(d, k.key, 'm-two'), 404);
  const before = await Promise.all(nodes.map(updates));
  const cat = catalog();
  cat.models.push({ id: 'm-two', provider: 'mock', upstream: 'mock', input_per_m: '1', output_per_m: '2' });
  fs.writeFileSync(cp.catalogFile, JSON.stringify(cat));
  const r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  for (const d of nodes) await waitFor(async () => (await modelStatus(d, k.key, 'm-two')) === 200, { timeout: slack(3000), what: 'the new model on the node' });
  const after = await Promise.all(nodes.map(updates));
  for (let i = 0; i < nodes.length; i++) assert.ok(after[i].whole > before[i].whole, `node ${i} built the whole snapshot`);
  // and the keys that came by deltas before are all still right on the new base
  for (const d of nodes) assert.equal(await modelStatus(d, k.key), 200);
});

test('a snapshot patched write by write equals the whole build of the same data', async () => {
  // writes of every kind that touch key and workspace rows, each patched into the next version
  const patched0 = parseMetrics((await cp.api('/metrics')).text).get('switchyard_cp_snapshot_patched_total');
  const v0 = await quietVersion(cp);
  await newWorkspace('ws_patch', '10');
  const a = await newKey('ws_patch');
  const b = await newKey('ws_patch');
  const c = await newKey('ws_patch');
  assert.equal((await cp.api(`/api/keys/${a.id}/revoke`, { method: 'POST' })).status, 200);
  assert.equal((await cp.api(`/api/keys/${b.id}/rotate`, { method: 'POST', body: { grace_seconds: 600 } })).status, 200);
  assert.equal((await cp.api(`/api/keys/${c.id}`, { method: 'PATCH', body: { budget_usd: '3', rpm: 7, allowed_models: ['m-ok'] } })).status, 200);
  assert.equal((await cp.api('/api/workspaces/ws_patch', { method: 'PATCH', body: { rpm: 50 } })).status, 200);
  assert.equal((await cp.api('/api/workspaces/ws_patch/credits', { method: 'POST', body: { amount_usd: '2', reference: 'it-patch-2' } })).status, 201);
  const sp = await spRequest(cp.repUrl, usageBatch({ id: `it-patch-${crypto.randomBytes(4).toString('hex')}`, workspace: 'ws_patch', keyId: c.id, costNano: 12345 }));
  assert.ok(sp.body.length > 0);
  await newWorkspace('ws_patch_off', '1');
  assert.equal((await cp.api('/api/workspaces/ws_patch_off/disable', { method: 'POST' })).status, 200);
  const v = await quietVersion(cp);
  const patched = await spRequest(cp.repUrl, fStr(1, fInt(1, 0)));
  assert.equal(varints(patched.body)[1], v);
  const patchedN = parseMetrics((await cp.api('/metrics')).text).get('switchyard_cp_snapshot_patched_total') - patched0;
  console.log(`${v - v0} versions, ${patchedN} built by patching`);
  assert.ok(patchedN >= 5, `versions were patched, not built whole (${patchedN} of ${v - v0})`);
  for (const d of nodes) await waitFor(async () => (await updates(d)).version >= v, { timeout: slack(5000), what: 'nodes at the last version' });
  // a restarted control plane builds its first version whole, from the database
  await cp.proc.stop();
  cp = await restartCp(cp);
  const whole = await spRequest(cp.repUrl, fStr(1, fInt(1, 0)));
  assert.equal(varints(whole.body)[1], v, 'no write in between');
  const p = rows(patched.body), w = rows(whole.body);
  assert.equal(p.keys.length, w.keys.length);
  assert.equal(p.ws.length, w.ws.length);
  assert.deepEqual(p.keys, w.keys, 'every key row byte for byte');
  assert.deepEqual(p.ws, w.ws, 'every workspace row byte for byte');
  // and the nodes, which followed by deltas, answer like the data: a revoked, b's old secret
  // still inside its rotation grace, c allowed
  for (const d of nodes) {
    assert.equal(await modelStatus(d, a.key), 401);
    assert.equal(await modelStatus(d, b.key), 200, 'the rotated key within its grace');
    assert.equal(await modelStatus(d, c.key), 200);
  }
});

test('a node with a cache directory keeps the deltas it applied there, over the cached snapshot', async () => {
  const cacheDir = `${tmp.dir}/cache-delta`;
  fs.mkdirSync(cacheDir);
  const d = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, name: 'dp-cache', threads: 1, args: ['--cache-dir', cacheDir] });
  nodes.push(d);
  await fleetAt(await quietVersion(cp));
  const before = await updates(d);
  await newWorkspace('ws_cache', '10');
  const k = await newKey('ws_cache');
  await waitFor(async () => (await modelStatus(d, k.key)) === 200, { timeout: slack(3000), what: 'the key on the cached node' });
  const after = await updates(d);
  assert.ok(after.delta > before.delta, 'the key came by delta');
  assert.equal(after.whole, before.whole);
  // snapshot.pb: the whole snapshot the node built; delta.pb: the deltas since, merged, from its version
  const base = varints(fs.readFileSync(`${cacheDir}/snapshot.pb`));
  await waitFor(() => fs.existsSync(`${cacheDir}/delta.pb`) && varints(fs.readFileSync(`${cacheDir}/delta.pb`))[1] === after.version, { timeout: slack(2000), interval: 20, what: 'delta.pb at the version reached by deltas' });
  const dv = varints(fs.readFileSync(`${cacheDir}/delta.pb`));
  assert.equal(dv[20], base[1], 'the merged delta is over the cached snapshot');
  assert.equal(dv[23], base[2]);
  // a node booted from that cache alone (no control plane to ask: a bus URL nobody listens on)
  // serves the key that only the delta carried
  const deadCp = { pubUrl: 'tcp://127.0.0.1:9', repUrl: 'tcp://127.0.0.1:9', busAuth: null };
  const copy = `${tmp.dir}/cache-copy`;
  fs.cpSync(cacheDir, copy, { recursive: true });
  const boot = await startBusDp({ dir: tmp.dir, cp: deadCp, env: { MOCK_KEY: UPSTREAM_KEY }, name: 'dp-boot', threads: 1, args: ['--cache-dir', copy] });
  try {
    assert.equal(await modelStatus(boot, k.key), 200, 'the key from the cached delta');
    assert.equal((await updates(boot)).version, after.version);
  } finally {
    await boot.proc.stop();
  }
});

test('with 20,000 keys in the table a revocation arrives by delta, fast', async () => {
  const N = 20000;
  const cat = catalog();
  cat.models.push({ id: 'm-two', provider: 'mock', upstream: 'mock', input_per_m: '1', output_per_m: '2' });
  cat.workspaces = [];
  for (let i = 0; i < N / 10; i++) cat.workspaces.push({ id: `ws_big_${i}`, name: `big ${i}`, active: true });
  const known = [];
  cat.keys = [];
  for (let i = 0; i < N; i++) {
    let sha;
    const id = `key_big_${String(i).padStart(6, '0')}`;
    if (i < 4) {
      const secret = 'sk-sy-' + crypto.randomBytes(24).toString('hex');
      sha = crypto.createHash('sha256').update(secret).digest('hex');
      known.push({ id, key: secret });
    } else sha = crypto.randomBytes(32).toString('hex');
    cat.keys.push({ id, name: `b${i}`, sha256: sha, workspace: `ws_big_${i % (N / 10)}`, allowed_models: ['*'] });
  }
  const spare = known.pop(); // stays valid
  fs.writeFileSync(cp.catalogFile, JSON.stringify(cat));
  const r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  for (const d of nodes) await waitFor(async () => (await modelStatus(d, known[0].key)) === 200, { timeout: slack(20000), what: 'the big table on the node' });
  await fleetAt(await quietVersion(cp));
  // the big-table keys have no balance: admission is what GET /v1/models/{id} checks, not credit
  const before = await Promise.all(nodes.map(updates));
  const times = [];
  for (const k of known) {
    const rr = await cp.api(`/api/keys/${k.id}/revoke`, { method: 'POST' });
    assert.equal(rr.status, 200, rr.text);
    const t0 = performance.now();
    for (const d of nodes) await waitFor(async () => (await modelStatus(d, k.key)) === 401, { timeout: slack(3000), interval: 2, what: 'the revoked big-table key refused' });
    times.push(performance.now() - t0);
  }
  console.log(`20k keys: revocation reached all ${nodes.length} nodes in ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
  const after = await Promise.all(nodes.map(updates));
  for (let i = 0; i < nodes.length; i++) {
    assert.ok(after[i].delta >= before[i].delta + known.length, `node ${i}: every revocation by delta`);
    assert.equal(after[i].whole, before[i].whole, `node ${i}: no whole rebuild of 20,000 keys`);
  }
  for (const t of times) assert.ok(t < slack(1000), `a revocation took ${t.toFixed(1)} ms with 20,000 keys`);
  // the keys the deltas did not touch still work
  for (const d of nodes) assert.equal(await modelStatus(d, spare.key), 200);
});
