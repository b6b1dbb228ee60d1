// Fault matrix H3: the data plane at its descriptor limit. A control plane, the mock, and a
// bus-mode data plane started under `prlimit --nofile=256:256`. The test opens 300 client
// connections (more than the node can hold), so accept(2) fails with EMFILE while the kernel
// keeps the rest in the listen backlog. Asserted:
//   - the default in-flight cap follows the limit: (256 - 64) / 2 = 96 (docs/dataplane.md);
//   - at the limit the node neither crashes nor spins: its CPU time over 2 s stays small (before
//     the fix each loop thread retried accept at once, ~2 s of CPU per second on two threads),
//     accept errors are counted (switchyard_accept_errors_total) and logged at most once per
//     10 s per thread;
//   - a connection opened before the limit is still served (/metrics; a model request gets an
//     answer: 200 over a cached upstream connection, or 502 when no descriptor is left for one);
//   - once the clients close, the node recovers by itself: descriptors back near the base,
//     fresh connections served;
//   - billing: every request the client saw succeed is billed once (checkLedger).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, startMock, startCp, startBusDp, prepaidWorkspace, checkLedger, waitFor, slack, sleep, httpRequest, parseMetrics, fdCount, cpuSeconds, stopAll } from './lib/harness.mjs';

const LIMIT = 256;
const WS = 'ws_fd';
let tmp, mock, cp, dp, key;
let served = 0;

function catalog() {
  return {
    timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 20000 },
    limits: { max_attempts: 1 },
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [{ id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] }],
    workspaces: [],
    keys: [],
  };
}

/** A request through `agent` (or a fresh connection); resolves { status, text }. */
function get(p, { agent = false, method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${dp.url}${p}`, { method, agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, timeout: slack(15000) });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${p}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.end(body);
  });
}
const chat = (opts = {}) => get('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] }), ...opts });

before(async () => {
  tmp = makeTempDir('sy-fdlimit-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({ dir: tmp.dir, catalog: catalog() });
  key = await prepaidWorkspace(cp, WS, '10');
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'mock-fd' }, threads: 2, args: ['--spool-dir', path.join(tmp.dir, 'spool')], wrap: ['prlimit', `--nofile=${LIMIT}:${LIMIT}`, '--'] });
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'the key on the node' });
});

after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

test(`at ${LIMIT} descriptors: no crash, no busy loop, connections already open still served, recovery when clients leave`, async () => {
  const limits = await import('node:fs').then((fs) => fs.readFileSync(`/proc/${dp.proc.pid}/limits`, 'utf8'));
  assert.match(limits, new RegExp(`Max open files\\s+${LIMIT}\\s+${LIMIT}`), 'the node runs under the limit');
  assert.equal(parseMetrics((await httpRequest(`${dp.url}/metrics`)).text).get('switchyard_inflight_limit'), (LIMIT - 64) / 2, 'default in-flight cap from RLIMIT_NOFILE');
  for (let i = 0; i < 4; i++) {
    const r = await chat();
    assert.equal(r.status, 200, r.text);
    served++;
  }
  const base = fdCount(dp.proc.pid);

  // one keep-alive connection opened before the limit, to look inside while at it
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  assert.equal((await get('/healthz', { agent })).status, 200);

  const socks = [];
  for (let i = 0; i < LIMIT + 44; i++) {
    const s = net.connect(dp.port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
  }
  await waitFor(() => fdCount(dp.proc.pid) >= LIMIT - 2, { timeout: slack(5000), what: `the node at ${LIMIT} descriptors` });
  const c0 = cpuSeconds(dp.proc.pid);
  await sleep(2000);
  const cpu = cpuSeconds(dp.proc.pid) - c0;
  const atLimit = fdCount(dp.proc.pid);

  const m = await get('/metrics', { agent });
  assert.equal(m.status, 200, 'a connection opened before the limit is still served');
  const acceptErrors = parseMetrics(m.text).get('switchyard_accept_errors_total');
  const r = await chat({ agent });
  assert.ok([200, 502].includes(r.status), `a model request at the limit gets an answer: ${r.status} ${r.text.slice(0, 200)}`);
  if (r.status === 200) served++;
  else assert.equal(JSON.parse(r.text).error.code, 'upstream_error', r.text);
  assert.ok(dp.proc.running, 'the node is alive');
  console.log(`fd_limit: base ${base} fds, ${atLimit} at the limit; CPU over 2 s at the limit ${cpu.toFixed(2)} s; accept errors ${acceptErrors}; request at the limit: ${r.status}`);
  assert.ok(atLimit <= LIMIT, `within the limit: ${atLimit}`);
  assert.ok(acceptErrors > 0, 'accept errors counted');
  assert.ok(cpu < slack(300) / 1000, `no busy loop at the limit: ${cpu.toFixed(2)} s of CPU in 2 s`);

  // the clients leave: the node takes the backlog (connections that are gone), then is itself again
  for (const s of socks) s.destroy();
  agent.destroy();
  await waitFor(() => fdCount(dp.proc.pid) <= base + 4, { timeout: slack(10000), what: `descriptors back near ${base} (now ${fdCount(dp.proc.pid)})` });
  const after = await Promise.all(Array.from({ length: 10 }, () => chat()));
  for (const a of after) assert.equal(a.status, 200, a.text);
  served += after.length;
  const warnings = dp.proc.stderr.match(/accept failed; not accepting/g) ?? [];
  assert.ok(warnings.length >= 1 && warnings.length <= 4, `accept failures logged, rate-limited: ${warnings.length} lines`);

  await waitFor(async () => parseMetrics((await httpRequest(`${dp.url}/metrics`)).text).get('switchyard_usage_records_pending') === 0, { timeout: slack(10000), what: 'usage handed over' });
  await waitFor(async () => Number((await cp.api(`/api/workspaces/${WS}/usage?from=0`)).json.total?.requests ?? 0) >= served, { timeout: slack(10000), what: `${served} usage records` });
  await checkLedger(cp, { okRequests: { [WS]: served } });
});
