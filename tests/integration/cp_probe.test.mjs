// Active health probes: the control plane probes every provider with libcurl, moves health
// with hysteresis (healthy / degraded / down), stores it, and publishes it in the snapshot, so
// a data plane's GET /v1/models shows it. A provider that stops answering goes degraded, then
// down; when it answers again it comes back through degraded to healthy. Probes that change
// nothing do not bump the snapshot version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { makeTempDir, waitFor, slack, sleep, httpRequest, startMock, closedPort, startCaptureUpstream, startCp, startBusDp } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const CAP_KEY = 'cap-' + crypto.randomBytes(8).toString('hex');
let tmp, mock, cap, cp, dp, readerKey;

const PROBE = { interval_ms: 150, timeout_ms: 400 };

async function providers() {
  const r = await cp.api('/api/providers');
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.data.map((p) => [p.id, p]));
}

async function dpHealth(model) {
  const r = await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${readerKey}` } });
  assert.equal(r.status, 200, r.text);
  return r.json.data.find((m) => m.id === model)?.health;
}

/** The health transitions the control plane logged for one provider, in order. */
function transitions(provider) {
  const out = [];
  for (const line of cp.proc.stderr.split('\n')) {
    const m = line.match(/msg="provider health" provider=(\S+) from=(\w+) to=(\w+)/);
    if (m && m[1] === provider) out.push(`${m[2]}>${m[3]}`);
  }
  return out;
}

before(async () => {
  tmp = makeTempDir('sy-probe-');
  mock = await startMock({ dir: tmp.dir });
  cap = await startCaptureUpstream();
  const dead = await closedPort();
  cp = await startCp({
    dir: tmp.dir,
    args: ['--probe-rise', '2', '--probe-fall', '3'],
    env: { CAP_KEY },
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
      providers: [
        { id: 'up', kind: 'openai', base_url: mock.baseURL + '/', api_key_env: 'MOCK_KEY', probe: PROBE },
        { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: PROBE },
        { id: 'wrongpath', kind: 'openai', base_url: mock.baseURL, probe: { ...PROBE, path: '/nope' } },
        { id: 'cap', kind: 'openai', base_url: `http://127.0.0.1:${cap.port}/v1`, api_key_env: 'CAP_KEY', probe: PROBE },
        { id: 'off', kind: 'openai', base_url: mock.baseURL, probe: { interval_ms: 0 } },
      ],
      models: [
        { id: 'm-up', provider: 'up', upstream: 'mock', input_per_m: '1', output_per_m: '2' },
        { id: 'm-dead', provider: 'dead', upstream: 'mock', input_per_m: '1', output_per_m: '2' },
        { id: 'm-off', provider: 'off', upstream: 'mock', input_per_m: '1', output_per_m: '2' },
      ],
      workspaces: [{ id: 'ws', active: true }],
      keys: [],
    },
  });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY } });
  const r = await cp.api('/api/workspaces/ws/keys', { method: 'POST', body: { allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  readerKey = r.json.key;
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${readerKey}` } })).status === 200, { timeout: slack(3000), what: 'the key on the node' });
});

after(async () => {
  try {
    mock?.proc.signalProc('SIGCONT');
    await dp?.proc.stop();
    await cp?.proc.stop();
    await mock?.stop();
    await cap?.close();
  } finally {
    tmp?.cleanup();
  }
});

test('each provider gets the health its probes earn; the node shows it in /v1/models', async () => {
  await waitFor(
    async () => {
      const p = await providers();
      return p.up.health === 'healthy' && p.dead.health === 'down' && p.wrongpath.health === 'down' && p.cap.health === 'healthy';
    },
    { timeout: slack(5000), what: 'up/cap healthy, dead/wrongpath down' },
  );
  const p = await providers();
  assert.equal(p.off.health, 'unknown', 'a provider with probing off is never probed');
  assert.equal(p.off.last_probe.at_ms, 0);
  assert.match(p.dead.last_probe.error, /connect|refused/i);
  assert.equal(p.wrongpath.last_probe.error, 'HTTP 404');
  assert.equal(p.up.last_probe.error, '');
  assert.ok(p.up.last_probe.at_ms > Date.now() - slack(5000));
  // unknown -> degraded on the first failure, then down after three in a row
  assert.deepEqual(transitions('dead'), ['unknown>degraded', 'degraded>down']);
  assert.deepEqual(transitions('up'), ['unknown>healthy']);

  // the probe carries the provider's credential (from the environment variable the catalog names)
  const probes = cap.requests.filter((r) => r.path === '/v1/models');
  assert.ok(probes.length >= 1, 'the capture upstream saw no probe');
  assert.equal(probes[0].method, 'GET');
  assert.equal(probes[0].headers.authorization, `Bearer ${CAP_KEY}`);

  await waitFor(async () => (await dpHealth('m-up')) === 'healthy' && (await dpHealth('m-dead')) === 'down', { timeout: slack(3000), what: 'health on the node' });
  assert.equal(await dpHealth('m-off'), 'unknown');
});

test('settled probes do not bump the snapshot version', async () => {
  const v0 = (await cp.api('/api/snapshot/version')).json.version;
  const seen0 = (await providers()).up.last_probe.at_ms;
  await sleep(slack(1000));
  const seen1 = (await providers()).up.last_probe.at_ms;
  assert.ok(seen1 > seen0, 'probes kept running');
  assert.equal((await cp.api('/api/snapshot/version')).json.version, v0);
});

test('a provider that stops answering goes degraded then down, and comes back through degraded', async () => {
  mock.proc.signalProc('SIGSTOP'); // accepts connections (kernel backlog) but never answers: timeouts
  try {
    await waitFor(async () => (await providers()).up.health === 'down', { timeout: slack(8000), what: 'up goes down' });
    // the API can answer before the log line has come through the stderr pipe: wait for it
    await waitFor(() => transitions('up').length >= 3, { timeout: slack(2000), what: 'the transition log lines' });
    assert.deepEqual(transitions('up'), ['unknown>healthy', 'healthy>degraded', 'degraded>down']);
    assert.match((await providers()).up.last_probe.error, /timeout|timed out/i);
    await waitFor(async () => (await dpHealth('m-up')) === 'down', { timeout: slack(3000), what: 'down on the node' });
  } finally {
    mock.proc.signalProc('SIGCONT');
  }
  await waitFor(async () => (await providers()).up.health === 'healthy', { timeout: slack(8000), what: 'up healthy again' });
  await waitFor(() => transitions('up').length >= 5, { timeout: slack(2000), what: 'the transition log lines' });
  assert.deepEqual(transitions('up'), ['unknown>healthy', 'healthy>degraded', 'degraded>down', 'down>degraded', 'degraded>healthy']);
  await waitFor(async () => (await dpHealth('m-up')) === 'healthy', { timeout: slack(3000), what: 'healthy on the node' });
});

test('a catalog reload that turns probing off stops the probes', async () => {
  // The prober re-reads the provider list every second: switch 'cap' off and its probes stop.
  const cat = JSON.parse((await import('node:fs')).readFileSync(cp.catalogFile, 'utf8'));
  cat.providers.find((p) => p.id === 'cap').probe = { interval_ms: 0 };
  (await import('node:fs')).writeFileSync(cp.catalogFile, JSON.stringify(cat));
  const r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  await sleep(slack(1300)); // one provider-list refresh
  const n = cap.requests.length;
  await sleep(slack(800));
  assert.equal(cap.requests.length, n, 'probes continued after being switched off');
  assert.equal((await providers()).cap.probe.interval_ms, 0);
});
