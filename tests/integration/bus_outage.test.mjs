// Control-plane outages with the on-disk snapshot cache (switchyard-dp --cache-dir).
// One control plane, two data planes following it, each with its own cache directory.
//   (a) SIGSTOP the control plane: both nodes keep serving; SIGCONT.
//   (b) kill -9 the control plane; restart one node: it boots from its cache and serves.
//   (c) a node with an empty cache while the control plane is down: 503, never fail-open.
//   (d) the control plane returns (same DB, same bus ports); a revocation reaches every node
//       without restarts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, DP_BIN, Proc, childEnv, makeTempDir, waitFor, slack, sleep, httpRequest, startMock, closedPort, CP_BIN, readPort, chatStatus } from './lib/harness.mjs';

const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:/;

let tmp, mock, cp, cpBase, cpArgs, pubUrl, repUrl, catalogFile;
let cpSeq = 0;
let dpSeq = 0;
const dps = []; // every data plane ever started: { proc, url, cacheDir }
const cps = []; // every control plane ever started
const killedCps = new Set(); // control planes this test killed with SIGKILL on purpose

function api(p, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return httpRequest(cpBase + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function startCp() {
  const n = cpSeq++;
  const portFile = path.join(tmp.dir, `cp-${n}.port`);
  const proc = new Proc(`switchyard-cp-${n}`, CP_BIN, [...cpArgs, '--port-file', portFile], {
    env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  });
  cps.push(proc);
  cpBase = `http://127.0.0.1:${await readPort(portFile, proc)}`;
  return proc;
}

async function startDp(cacheDir) {
  const n = dpSeq++;
  const portFile = path.join(tmp.dir, `dp-${n}.port`);
  const proc = new Proc(
    `switchyard-dp-${n}`,
    DP_BIN,
    ['--control-plane-sub', pubUrl, '--control-plane-req', repUrl, '--cache-dir', cacheDir, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', '2', '--drain-ms', '2000'],
    { env: { ...childEnv(), MOCK_KEY: UPSTREAM_KEY } },
  );
  const d = { proc, url: null, cacheDir };
  dps.push(d);
  d.url = `http://127.0.0.1:${await readPort(portFile, proc)}`;
  return d;
}

const readyz = async (d) => (await httpRequest(`${d.url}/readyz`)).status;

before(async () => {
  tmp = makeTempDir('sy-bus-outage-');
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
  pubUrl = `tcp://127.0.0.1:${await closedPort()}`;
  repUrl = `tcp://127.0.0.1:${await closedPort()}`;
  cpArgs = ['--db', path.join(tmp.dir, 'cp.sqlite'), '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--bus-pub', pubUrl, '--bus-rep', repUrl];
  cp = await startCp();
  for (let i = 0; i < 2; i++) {
    const dir = path.join(tmp.dir, `cache-${i}`);
    fs.mkdirSync(dir);
    await startDp(dir);
  }
  for (const d of dps) await waitFor(async () => (await readyz(d)) === 200, { timeout: slack(10000), what: `${d.proc.name} /readyz = 200` });
});

after(async () => {
  let ok = false;
  try {
    const errors = [];
    for (const p of [...dps.map((d) => d.proc), ...cps, mock?.proc].filter(Boolean)) {
      try {
        if (killedCps.has(p)) {
          // killed with -9 on purpose: it must have ended by that signal, with no sanitizer report
          await p.waitExit(slack(5000));
          assert.equal(p.signal, 'SIGKILL', `${p.name}: ${p.describeExit()}`);
          assert.doesNotMatch(p.stderr, SANITIZER_RE, p.stderrTail());
        } else {
          if (p.running) p.signalProc('SIGCONT'); // never leave a stopped process behind
          await p.stop();
        }
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

test('nodes ride out control-plane outages from their snapshot caches and converge when it returns', async () => {
  let r = await api('/api/workspaces', { method: 'POST', body: { id: 'ws_out', name: 'outage' } });
  assert.equal(r.status, 201, r.text);
  // a prepaid workspace needs credit before priced models serve it (docs/admission.md, reservations)
  r = await api('/api/workspaces/ws_out/credits', { method: 'POST', body: { amount_usd: '100', reference: 'it-ws_out' } });
  assert.equal(r.status, 201, r.text);
  r = await api('/api/workspaces/ws_out/keys', { method: 'POST', body: { name: 'k', allowed_models: ['*'], expires_at: 0 } });
  assert.equal(r.status, 201, r.text);
  const key = r.json.key;
  const keyId = r.json.id;
  assert.match(key, /^sk-sy-/);
  const wrongKey = 'sk-sy-' + crypto.randomBytes(24).toString('hex');

  for (const d of dps) {
    await waitFor(async () => (await chatStatus(d.url, key)) === 200, { timeout: slack(3000), interval: 10, what: `the key to work on ${d.proc.name}` });
    // the cache is written after the snapshot is applied: wait until it holds this one
    await waitFor(() => fs.existsSync(path.join(d.cacheDir, 'snapshot.pb')), { timeout: slack(3000), what: `${d.proc.name} cache file` });
  }

  // (a) a frozen control plane: both nodes keep serving the key
  cp.signalProc('SIGSTOP');
  try {
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      for (const d of dps) assert.equal(await chatStatus(d.url, key), 200, `${d.proc.name} while the control plane is stopped`);
      await sleep(100);
    }
    for (const d of dps) assert.equal(await readyz(d), 200);
  } finally {
    cp.signalProc('SIGCONT');
  }

  // (b) kill -9 the control plane; restart one node: it boots from its cache
  killedCps.add(cp);
  cp.signalProc('SIGKILL');
  assert.ok(await cp.waitExit(slack(5000)), 'the control plane did not die on SIGKILL');
  const [d0, d1] = dps;
  await d1.proc.stop();
  assert.ok(fs.statSync(path.join(d1.cacheDir, 'snapshot.pb')).size > 0);
  assert.ok(!fs.existsSync(path.join(d1.cacheDir, 'snapshot.pb.tmp')), 'a temporary cache file was left behind');
  const d1b = await startDp(d1.cacheDir);
  await waitFor(async () => (await readyz(d1b)) === 200, { timeout: slack(5000), what: `${d1b.proc.name} ready from its cache` });
  assert.match(d1b.proc.stderr, /source=cache/, d1b.proc.stderrTail());
  assert.equal(await chatStatus(d1b.url, key), 200, 'the restarted node serves the cached key');
  assert.equal(await chatStatus(d1b.url, wrongKey), 401, 'a wrong key is still refused');
  assert.equal(await chatStatus(d0.url, key), 200, 'the untouched node still serves');

  // (c) an empty cache while the control plane is down: never fail-open
  const emptyDir = path.join(tmp.dir, 'cache-empty');
  fs.mkdirSync(emptyDir);
  const d2 = await startDp(emptyDir);
  await sleep(slack(500));
  assert.equal(await readyz(d2), 503, 'a node with nothing to serve must not be ready');
  assert.equal(await chatStatus(d2.url, key), 503, 'a node with nothing to serve must answer 503');
  assert.equal(await chatStatus(d2.url, wrongKey), 503);

  // (d) the control plane returns on the same DB and bus ports; a revocation converges
  cp = await startCp();
  const running = [d0, d1b, d2];
  await waitFor(async () => (await readyz(d2)) === 200, { timeout: slack(5000), what: `${d2.proc.name} ready once the control plane is back` });
  r = await api(`/api/keys/${keyId}/revoke`, { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  const t1 = performance.now();
  await Promise.all(running.map((d) => waitFor(async () => (await chatStatus(d.url, key)) === 401, { timeout: slack(3000), interval: 10, what: `revocation on ${d.proc.name}` })));
  const ms = performance.now() - t1;
  console.log(`revocation reached all three nodes in ${ms.toFixed(1)} ms after the control plane returned`);
  assert.ok(ms < slack(3000), `revocation took ${ms.toFixed(1)} ms`);
  for (const d of running) assert.equal(d.proc.running, true, `${d.proc.name} must not have restarted`);
});
