// The fleet bus: a control plane (switchyard-cp --bus-pub/--bus-rep) and two data planes
// following it (switchyard-dp --control-plane-sub/--control-plane-req, no config file).
// A key created through the admin API starts working on both nodes; a revocation reaches
// both within 1 s; everything stops cleanly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fetchRequest, spRequest } from './lib/sp.mjs';
import { BUILD_DIR, DP_BIN, Proc, childEnv, makeTempDir, waitFor, slack, httpRequest, startMock, closedPort, CP_BIN, readPort, chatStatus, stopAll } from './lib/harness.mjs';

const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');

let tmp, mock, cp, cpBase, busRep;
const dps = [];

function api(p, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return httpRequest(cpBase + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

before(async () => {
  tmp = makeTempDir('sy-bus-');
  mock = await startMock({ dir: tmp.dir });
  const catalogFile = path.join(tmp.dir, 'catalog.json');
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
  const pubUrl = `tcp://127.0.0.1:${await closedPort()}`;
  const repUrl = `tcp://127.0.0.1:${await closedPort()}`;
  busRep = repUrl;
  const cpPortFile = path.join(tmp.dir, 'cp.port');
  cp = new Proc('switchyard-cp', CP_BIN, ['--db', path.join(tmp.dir, 'cp.sqlite'), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--port-file', cpPortFile, '--bus-pub', pubUrl, '--bus-rep', repUrl], {
    env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  });
  cpBase = `http://127.0.0.1:${await readPort(cpPortFile, cp)}`;
  for (let i = 0; i < 2; i++) {
    const portFile = path.join(tmp.dir, `dp-${i}.port`);
    const proc = new Proc(`switchyard-dp-${i}`, DP_BIN, ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', '2', '--drain-ms', '2000'], {
      env: { ...childEnv(), MOCK_KEY: UPSTREAM_KEY },
    });
    dps.push({ proc, url: null });
    dps[i].url = `http://127.0.0.1:${await readPort(portFile, proc)}`;
  }
  for (const d of dps) {
    await waitFor(async () => (await httpRequest(`${d.url}/readyz`)).status === 200, { timeout: slack(10000), what: `${d.proc.name} /readyz = 200` });
  }
});

after(() => stopAll([...dps.map((d) => d.proc), cp, mock?.proc], tmp));

test('a key created through the API works on both nodes; its revocation reaches both within 1 s', async () => {
  let r = await api('/api/workspaces', { method: 'POST', body: { id: 'ws_bus', name: 'bus' } });
  assert.equal(r.status, 201, r.text);
  // a prepaid workspace needs credit before priced models serve it (docs/admission.md, reservations)
  r = await api('/api/workspaces/ws_bus/credits', { method: 'POST', body: { amount_usd: '100', reference: 'it-ws_bus' } });
  assert.equal(r.status, 201, r.text);
  r = await api('/api/workspaces/ws_bus/keys', { method: 'POST', body: { name: 'k', allowed_models: ['*'], expires_at: 0 } });
  assert.equal(r.status, 201, r.text);
  const key = r.json.key;
  const keyId = r.json.id;
  assert.match(key, /^sk-sy-/);
  assert.ok(keyId, r.text);

  const t0 = performance.now();
  for (const d of dps) {
    await waitFor(async () => (await chatStatus(d.url, key)) === 200, { timeout: slack(2000), interval: 10, what: `the new key to work on ${d.proc.name}` });
  }
  console.log(`key usable on both nodes after ${(performance.now() - t0).toFixed(1)} ms`);

  r = await api(`/api/keys/${keyId}/revoke`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  const t1 = performance.now();
  await Promise.all(dps.map((d) => waitFor(async () => (await chatStatus(d.url, key)) === 401, { timeout: slack(3000), interval: 5, what: `revocation on ${d.proc.name}` })));
  const ms = performance.now() - t1;
  console.log(`revocation reached both nodes in ${ms.toFixed(1)} ms`);
  assert.ok(ms < 1000, `revocation took ${ms.toFixed(1)} ms`);
});

test('a fetch from a node that is current is answered "unchanged", not with the whole table', async () => {
  const { version } = (await api('/api/snapshot/version')).json;
  let r = await spRequest(busRep, fetchRequest(version));
  assert.equal(r.body.toString(), 'unchanged');
  r = await spRequest(busRep, fetchRequest(version - 1));
  assert.ok(r.body.length > 9, 'an older node gets the snapshot');
  assert.notEqual(r.body.toString(), 'unchanged');
  const full = await spRequest(busRep, Buffer.alloc(0)); // an old-style empty request: the snapshot
  assert.deepEqual(full.body, r.body, 'the same version is served from the same packed bytes');
  r = await spRequest(busRep, fetchRequest(0)); // a node with nothing yet
  assert.deepEqual(r.body, full.body);
});
