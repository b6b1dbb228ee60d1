// A node's heartbeats do not wait behind its snapshot fetches (dp_bus.c, hb_main).
// A bus-mode data plane dials the control plane's REP socket through an SP proxy in this file
// (REQ0 from the node, one spRequest per message to the real control plane), which can hold
// fetch answers back — what a whole snapshot of 100,000 keys sent to 50 nodes at once looks
// like to one node. Heartbeats still pass. Before the fix the node heartbeated on the same
// thread and socket as its fetches: with every fetch waiting out its 2 s timeout the heartbeats
// came ~3 s apart, past the control plane's 3 s live window, so a busy node looked dead, the
// live-node count moved (a versioned write) and the whole table went to every node again
// (tests/bench/fleet_scale.mjs: the count flapped 50 -> 8 -> 32 -> 50 after a 100,000-key
// import). Now: one heartbeat a second, fetches held or not, and the node stays live.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { makeTempDir, startMock, startCp, startBusDp, catalog, closedPort, waitFor, slack, sleep, parseMetrics, httpRequest, stopAll } from './lib/harness.mjs';
import { spRequest } from './lib/sp.mjs';

let tmp, mock, cp, dp, proxy;
const seen = []; // { kind, at } of every request the node sent through the proxy
let holdFetches = false;

// BusRequest's first tag: fetch = 1, heartbeat = 2, usage = 3 (proto/bus.proto)
const kindOf = (body) => ({ 0x0a: 'fetch', 0x12: 'heartbeat', 0x1a: 'usage' })[body[0]] || 'other';

// An SP REP0 endpoint (the node's REQ0 dials it) relaying each request to `target` (the control
// plane's REP URL). A held fetch is never answered: the node's request times out.
function startProxy(target) {
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let greeted = false;
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!greeted) {
        if (buf.length < 8) return;
        sock.write(Buffer.from([0, 0x53, 0x50, 0, 0x00, 0x31, 0, 0])); // REP0
        buf = buf.subarray(8);
        greeted = true;
      }
      while (buf.length >= 8) {
        const len = Number(buf.readBigUInt64BE(0));
        if (buf.length < 8 + len) break;
        const msg = buf.subarray(8, 8 + len);
        buf = buf.subarray(8 + len);
        const id = msg.subarray(0, 4); // the REQ's request id (a direct peer: no backtrace)
        const body = Buffer.from(msg.subarray(4));
        const kind = kindOf(body);
        seen.push({ kind, at: performance.now() });
        if (kind === 'fetch' && holdFetches) continue;
        spRequest(target, body, { timeoutMs: 5000 }).then(
          (r) => {
            const head = Buffer.alloc(8);
            head.writeBigUInt64BE(BigInt(4 + r.body.length));
            if (!sock.destroyed) sock.write(Buffer.concat([head, id, r.body]));
          },
          () => {},
        );
      }
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ server, url: `tcp://127.0.0.1:${server.address().port}` })));
}

before(async () => {
  tmp = makeTempDir('sy-bus-hb-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({ dir: tmp.dir, catalog: { ...catalog({ mockPort: mock.port, deadPort: await closedPort() }), workspaces: [], keys: [] } });
  proxy = await startProxy(cp.repUrl);
  dp = await startBusDp({ dir: tmp.dir, cp: { ...cp, repUrl: proxy.url }, args: ['--node-id', 'hb-node'], env: { MOCK_KEY: 'mock-key' } });
});

after(async () => {
  await stopAll([dp?.proc, cp?.proc, mock], tmp);
  proxy?.server.close();
});

const liveNodes = async () => parseMetrics((await httpRequest(`${cp.base}/metrics`)).text).get('switchyard_cp_bus_live_nodes');

// the largest gap between consecutive heartbeats sent in [from, to), and how many there were
function heartbeatGaps(from, to) {
  const at = seen.filter((s) => s.kind === 'heartbeat' && s.at >= from && s.at < to).map((s) => s.at);
  let max = 0;
  for (let i = 1; i < at.length; i++) max = Math.max(max, at[i] - at[i - 1]);
  return { n: at.length, max };
}

test('heartbeats keep coming once a second while every snapshot fetch is held', async () => {
  await waitFor(async () => (await liveNodes()) === 1, { timeout: slack(8000), what: 'live nodes = 1' });
  const t0 = performance.now();
  await sleep(3000);
  const free = heartbeatGaps(t0, performance.now());
  assert.ok(free.n >= 2, `heartbeats with fetches answered: ${free.n}`);

  holdFetches = true;
  const t1 = performance.now();
  await sleep(7000); // the node's safety-net fetch runs every second: each one waits its 2 s out
  const t2 = performance.now();
  holdFetches = false;
  const fetches = seen.filter((s) => s.kind === 'fetch' && s.at >= t1 && s.at < t2).length;
  assert.ok(fetches >= 2, `the node kept fetching (and waiting) meanwhile: ${fetches} fetches`);
  const held = heartbeatGaps(t1, t2);
  // once a second (1,000 ms + a 50 ms tick); a heartbeat behind a held fetch came ~3,000 ms after
  // the one before (a 1 s wait for the safety-net fetch + its 2 s timeout). Under the sanitizers
  // a little more room, still below 3 s.
  const sanitized = process.env.SY_SANITIZE === '1';
  assert.ok(held.n >= (sanitized ? 4 : 5), `heartbeats while fetches were held: ${held.n} in 7 s`);
  assert.ok(held.max < (sanitized ? 2400 : 1700), `largest gap between heartbeats while fetches were held: ${held.max.toFixed(0)} ms`);
  assert.equal(await liveNodes(), 1, 'the node stayed live');
  assert.doesNotMatch(cp.proc.stderr, /live nodes changed" from=1 to=0/);

  // and the node recovers its fetches once they are answered again
  const t3 = performance.now();
  await waitFor(() => seen.some((s) => s.kind === 'fetch' && s.at > t3), { timeout: slack(5000), what: 'a fetch after the hold' });
  assert.equal((await httpRequest(`${dp.url}/readyz`)).status, 200);
});
