// The control plane's own stall must not look like the fleet dying (cp_bus.c, check_live_nodes).
// A control plane and two bus-mode data planes; the live-node count settles at 2. Then the control
// plane is frozen (SIGSTOP) for longer than the live window (3 s): the nodes' heartbeats wait in
// its REP queue unrecorded. Before the fix, the first live-node check after SIGCONT counted 0
// live nodes (a versioned write: every node refetched the snapshot), and the queued heartbeats
// put it back to 2 (another). At 100,000 keys x 50 nodes (tests/bench/fleet_scale.mjs) one
// snapshot build is such a stall, so the count flapped and the fleet never converged. Now the
// count is held after a stall; a node that really stops still drops out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir, startMock, startCp, startBusDp, catalog, closedPort, waitFor, slack, sleep, parseMetrics, httpRequest, stopAll } from './lib/harness.mjs';

let tmp, mock, cp;
const dps = [];

before(async () => {
  tmp = makeTempDir('sy-bus-stall-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({ dir: tmp.dir, catalog: { ...catalog({ mockPort: mock.port, deadPort: await closedPort() }), workspaces: [], keys: [] } });
  for (const id of ['stall-a', 'stall-b']) dps.push(await startBusDp({ dir: tmp.dir, cp, args: ['--node-id', id], env: { MOCK_KEY: 'mock-key' } }));
});

after(() => stopAll([...dps.map((d) => d.proc), cp?.proc, mock], tmp));

const liveNodes = async () => parseMetrics((await httpRequest(`${cp.base}/metrics`)).text).get('switchyard_cp_bus_live_nodes');
const version = async () => (await cp.api('/api/snapshot/version')).json.version;

test('a frozen control plane does not count its nodes dead, a stopped node still drops out', async () => {
  await waitFor(async () => (await liveNodes()) === 2, { timeout: slack(8000), what: 'live nodes = 2' });
  // quiet: both nodes counted (the count's own versioned writes are over)
  let v0 = await version();
  await waitFor(
    async () => {
      await sleep(slack(1200));
      const v = await version();
      const quiet = v === v0;
      v0 = v;
      return quiet;
    },
    { timeout: slack(15000), interval: 0, what: 'a quiet snapshot version' },
  );

  const logAt = cp.proc.stderr.length;
  cp.proc.signalProc('SIGSTOP');
  try {
    await sleep(4500); // > CP_LIVE_NODE_MS (3 s): every heartbeat of the window is queued
  } finally {
    cp.proc.signalProc('SIGCONT');
  }
  // the queued heartbeats are served, live-node checks run every 250 ms; give them time to misfire
  await sleep(slack(2500));
  assert.equal(await liveNodes(), 2, 'live nodes after the stall');
  assert.equal(await version(), v0, `no versioned write after the stall (the live-node count must not flap)\n${cp.proc.stderrTail()}`);
  assert.doesNotMatch(cp.proc.stderr.slice(logAt), /live nodes changed/);
  assert.match(cp.proc.stderr.slice(logAt), /msg="bus thread stalled; live-node count held" stalled_ms=\d+/);

  // the hold is bounded: a node that really stops is dropped (a versioned write) within the
  // live window plus the hold
  await dps[1].proc.stop();
  await waitFor(async () => (await liveNodes()) === 1, { timeout: slack(10000), what: 'live nodes = 1 after a node stopped' });
  await waitFor(async () => (await version()) > v0, { timeout: slack(3000), what: 'the drop written as a new version' });
  assert.match(cp.proc.stderr.slice(logAt), /msg="live nodes changed" from=2 to=1/);
});
