// Versions only move forward. A control plane restored from an older database backup offers
// an older snapshot: every node refuses it (counted as reason="stale" in
// switchyard_snapshot_rejected_total), keeps the snapshot it has, and goes on serving the keys
// that only the newer state knows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { makeTempDir, waitFor, slack, sleep, httpRequest, startMock, startCp, restartCp, startBusDp, chatStatus } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
let tmp, mock, cp, dp;

async function metric(name, label) {
  const r = await httpRequest(`${dp.url}/metrics`);
  assert.equal(r.status, 200);
  const m = r.text.match(new RegExp(`^${name}\\{${label.replace(/"/g, '\\"')}\\} (\\d+)$`, 'm'));
  assert.ok(m, `${name}{${label}} missing:\n${r.text}`);
  return Number(m[1]);
}

async function newKey(ws) {
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id: ws } });
  assert.equal(r.status, 201, r.text);
  // a prepaid workspace needs credit before priced models serve it (docs/admission.md, reservations)
  r = await cp.api(`/api/workspaces/${ws}/credits`, { method: 'POST', body: { amount_usd: '100', reference: `it-${ws}` } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api(`/api/workspaces/${ws}/keys`, { method: 'POST', body: { allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  return r.json.key;
}

before(async () => {
  tmp = makeTempDir('sy-stale-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1', output_per_m: '2' }],
      workspaces: [],
      keys: [],
    },
  });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY } });
});

after(async () => {
  try {
    await dp?.proc.stop();
    if (cp?.proc.running) await cp.proc.stop();
    await mock?.stop();
  } finally {
    tmp?.cleanup();
  }
});

test('an older snapshot from a restored control plane is refused; the node keeps the newer one', async () => {
  const oldKey = await newKey('ws_old');
  await waitFor(async () => (await chatStatus(dp.url, oldKey)) === 200, { timeout: slack(3000), what: 'the first key on the node' });
  await cp.proc.stop(); // a clean stop checkpoints the WAL into the main file
  const backup = cp.db + '.backup';
  fs.copyFileSync(cp.db, backup);

  cp = await restartCp(cp);
  const newKeyValue = await newKey('ws_new');
  const { version: newVersion } = (await cp.api('/api/snapshot/version')).json;
  await waitFor(async () => (await chatStatus(dp.url, newKeyValue)) === 200, { timeout: slack(3000), what: 'the newer key on the node' });
  const staleBefore = await metric('switchyard_snapshot_rejected_total', 'reason="stale"');

  // restore the backup: the control plane comes back with an older version
  await cp.proc.stop();
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(cp.db + suffix, { force: true });
  fs.copyFileSync(backup, cp.db);
  cp = await restartCp(cp, { name: 'switchyard-cp-restored' });
  const { version: restored } = (await cp.api('/api/snapshot/version')).json;
  // (the restored control plane applies nothing of its unchanged catalog file at start)
  assert.ok(restored < newVersion, `restored version ${restored} should be older than ${newVersion}`);

  await waitFor(async () => (await metric('switchyard_snapshot_rejected_total', 'reason="stale"')) > staleBefore, { timeout: slack(4000), what: 'a stale snapshot counted' });
  assert.match(dp.proc.stderr, /older than the running one; ignored.*version=\d+ current=\d+/);
  const cfg = (await httpRequest(`${dp.url}/metrics`)).text.match(/^switchyard_config_version (\d+)$/m);
  assert.ok(cfg, 'switchyard_config_version missing');
  // (>=: the usage records of the requests above are debited to the ledger, which bumps the version)
  assert.ok(Number(cfg[1]) >= newVersion && Number(cfg[1]) > restored, `the node still serves the newer snapshot (${cfg[1]} vs ${newVersion})`);
  await sleep(slack(1200)); // a periodic fetch or two later: still refused
  assert.equal(await chatStatus(dp.url, newKeyValue), 200, 'a key only the newer snapshot knows still works');
  assert.equal(await chatStatus(dp.url, oldKey), 200);
});
