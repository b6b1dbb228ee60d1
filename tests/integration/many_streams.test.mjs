// Fault matrix B6: 500 concurrent SSE streams through one data plane. A control plane, a
// bus-mode data plane (2 loop threads, a spool directory), the mock, a prepaid workspace.
// 500 clients open a stream each at once (raw HTTP, one connection per stream, no keep-alive)
// on a model whose answer takes ~4.5 s (30 chunks, 150 ms apart), so all 500 are open together:
// the data plane's inflight-streams gauge and the mock's in-flight count both reach 500. Then:
//   - every stream finishes with its finish chunk, its usage chunk and [DONE];
//   - no descriptor leaks: every non-TCP descriptor (files, pipes, epoll, eventfd) is back to its
//     exact count from before, no client connection is left, the bus connections are the same,
//     and the only extra sockets are libcurl's idle keep-alive connections to the mock, bounded
//     by CURLMOPT_MAXCONNECTS (512 per loop thread);
//   - billing: exactly one usage record per stream with outcome ok and the mock's token counts,
//     the balance is the credit minus exactly 500 × the stream's price, and checkLedger holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { TIME_SCALE, makeTempDir, startMock, startCp, startBusDp, prepaidWorkspace, checkLedger, balanceNano, waitFor, slack, sleep, httpRequest, parseMetrics, fdCensus, fdCount, rssKiB, spawnSyncChecked, stopAll } from './lib/harness.mjs';

const N = 500;
const WS = 'ws_streams';
const CHUNKS = 30;
// prompt "hi": the mock counts 3 + 1 words = 4 prompt tokens; 30 completion tokens
const PRICE_NANO = 4n * 1000n + BigInt(CHUNKS) * 2000n; // $1/M in, $2/M out
let tmp, mock, cp, dp, key;

function catalog() {
  return {
    timeouts_ms: { connect: 2000, first_byte: 20000, idle: 20000, total: 120000 },
    limits: { max_attempts: 1, max_inflight: 2 * N }, // the default follows RLIMIT_NOFILE; this test wants 500 in flight whatever it is
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [
      { id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] },
      // ~4.5 s per stream (x3 under ASan): long enough for all 500 to be open at once
      { id: 'm-long', provider: 'mock', upstream: `mock+chunks=${CHUNKS}+delay_ms=${Math.round(150 * TIME_SCALE)}`, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] },
    ],
    workspaces: [],
    keys: [],
  };
}

async function metrics() {
  const r = await httpRequest(`${dp.url}/metrics`);
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

/** One stream on its own connection; resolves { status, events, done, finish, usage }. */
function stream(model = 'm-long') {
  return new Promise((resolve, reject) => {
    const req = http.request(`${dp.url}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', connection: 'close' },
      timeout: slack(60000),
    });
    req.on('timeout', () => req.destroy(new Error('stream timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      let buf = '';
      const out = { status: res.statusCode, events: 0, done: false, finish: null, usage: null, first: null };
      res.setEncoding('utf8');
      res.on('data', (d) => {
        out.first ??= Date.now();
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = ev.replace(/^data: /, '');
          out.events++;
          if (data === '[DONE]') {
            out.done = true;
            continue;
          }
          try {
            const j = JSON.parse(data);
            if (j.choices?.[0]?.finish_reason) out.finish = j.choices[0].finish_reason;
            if (j.usage) out.usage = j.usage;
          } catch {
            out.bad = ev;
          }
        }
      });
      res.on('end', () => resolve(out));
      res.on('error', reject);
    });
    req.end(JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] }));
  });
}

before(async () => {
  tmp = makeTempDir('sy-streams-');
  mock = await startMock({ dir: tmp.dir, threads: 2 });
  cp = await startCp({ dir: tmp.dir, catalog: catalog() });
  key = await prepaidWorkspace(cp, WS, '100');
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'mock-streams' }, threads: 2, args: ['--spool-dir', path.join(tmp.dir, 'spool')] });
  // 500 client sockets + 500 upstream ones: make sure the node may hold them (root may raise it)
  if (Number(fs.readFileSync(`/proc/${dp.proc.pid}/limits`, 'utf8').match(/Max open files\s+(\d+)/)[1]) < 4 * N) {
    spawnSyncChecked('prlimit', ['--pid', String(dp.proc.pid), `--nofile=${4 * N}:${4 * N}`]);
  }
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'the key on the node' });
});

after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

test(`${N} concurrent SSE streams: all finish, no descriptor leaks, one usage record each`, async () => {
  const credit = await balanceNano(cp, WS);
  // classes of the node's TCP sockets
  const classify = ({ localPort, remotePort, state }) => {
    if (state === 0x0a) return 'listen';
    if (localPort === dp.port) return 'client';
    if (remotePort === mock.port) return 'upstream';
    return 'bus';
  };
  // warm-up: one stream through each loop thread's curl handle (not billed: a cheap model, counted below)
  const warm = await Promise.all([stream('m-ok'), stream('m-ok')]);
  for (const w of warm) assert.ok(w.status === 200 && w.done, JSON.stringify(w));
  await waitFor(() => (fdCensus(dp.proc.pid, classify).sockets.client ?? 0) === 0, { what: 'warm-up client connections closed' });
  const spoolDir = path.join(tmp.dir, 'spool');
  const spoolFds = () => {
    let n = 0;
    for (const fd of fs.readdirSync(`/proc/${dp.proc.pid}/fd`)) {
      try {
        if (fs.readlinkSync(`/proc/${dp.proc.pid}/fd/${fd}`).startsWith(spoolDir + '/')) n++;
      } catch {
        /* closed meanwhile */
      }
    }
    return n;
  };
  const base = fdCensus(dp.proc.pid, classify);
  const baseSpool = spoolFds();
  const links = () => fs.readdirSync(`/proc/${dp.proc.pid}/fd`).map((fd) => { try { return fs.readlinkSync(`/proc/${dp.proc.pid}/fd/${fd}`); } catch { return ''; } }).filter((l) => !l.startsWith('socket:')).sort();
  const baseLinks = links();
  const rss0 = rssKiB(dp.proc.pid);

  const t0 = Date.now();
  const all = Array.from({ length: N }, () => stream());
  // all 500 open at once, on the node and at the mock
  let mockInFlight = 0;
  const peak = await waitFor(
    async () => {
      const m = await metrics();
      if (m.get('switchyard_inflight_streams') !== N) return null;
      mockInFlight = (await mock.stats()).in_flight;
      return m;
    },
    { timeout: slack(20000), interval: 50, what: `${N} streams in flight on the node` },
  );
  const fdsPeak = fdCount(dp.proc.pid);
  const rssPeak = rssKiB(dp.proc.pid);
  const results = await Promise.all(all);
  const elapsed = Date.now() - t0;

  assert.equal(peak.get('switchyard_inflight_streams'), N);
  assert.equal(mockInFlight, N, 'the mock served all streams at once');
  assert.ok(fdsPeak >= base.total + 2 * N - 10, `descriptors at the peak: ${fdsPeak} (base ${base.total})`);
  const bad = results.filter((r) => !(r.status === 200 && r.done && r.finish === 'stop' && r.usage?.prompt_tokens === 4 && r.usage?.completion_tokens === CHUNKS && !r.bad));
  assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of ${N} streams did not finish properly`);

  // descriptors: clients gone, everything but curl's idle upstream connections back to the base
  await waitFor(() => (fdCensus(dp.proc.pid, classify).sockets.client ?? 0) === 0, { timeout: slack(5000), what: 'no client connection left on the node' });
  await waitFor(async () => (await metrics()).get('switchyard_inflight_requests') === 1, { what: 'nothing in flight but the scrape' });
  // (the spooler opens acked.tmp for a moment after each acknowledged batch: census until quiet)
  // The spool's own files are not leaks: 500 records can move the spool to a new segment file,
  // which the spooler keeps open (docs/billing.md). They are counted apart, bounded by the
  // segment files on disk; every other non-TCP descriptor must be back to its exact count.
  const nonSpool = (c, sp) => c.other - sp;
  let end, endSpool;
  await waitFor(() => nonSpool((end = fdCensus(dp.proc.pid, classify)), (endSpool = spoolFds())) === nonSpool(base, baseSpool), { timeout: slack(3000), what: 'non-TCP descriptors back to the base' }).catch(() => {});
  assert.equal(nonSpool(end, endSpool), nonSpool(base, baseSpool), `non-TCP descriptors besides the spool's: ${JSON.stringify(base)} (spool ${baseSpool}) -> ${JSON.stringify(end)} (spool ${endSpool}); non-socket links ${JSON.stringify(baseLinks)} -> ${JSON.stringify(links())}`);
  assert.ok(endSpool <= fs.readdirSync(spoolDir).length, `spool descriptors (${endSpool}) within the spool's files`);
  assert.equal(end.sockets.listen, base.sockets.listen, 'listening sockets');
  assert.equal(end.sockets.bus ?? 0, base.sockets.bus ?? 0, 'bus connections');
  assert.ok((end.sockets.upstream ?? 0) <= 2 * 512, `idle upstream connections within curl's cache bound: ${end.sockets.upstream}`);
  assert.equal(end.total, base.total - (base.sockets.upstream ?? 0) + (end.sockets.upstream ?? 0) + (endSpool - baseSpool), `every descriptor accounted for (spool ${baseSpool} -> ${endSpool}): ${JSON.stringify(end)}`);

  // billing: one record per stream (plus the two warm-ups), exact tokens and price
  const warmPrice = 4n * 1000n + 8n * 2000n;
  const t = await waitFor(
    async () => {
      const u = (await cp.api(`/api/workspaces/${WS}/usage?from=0&group_by=model`)).json;
      return Number(u.total?.requests ?? 0) >= N + 2 ? u : null;
    },
    { timeout: slack(20000), interval: 100, what: `${N + 2} usage records` },
  );
  const long = t.data.find((d) => d.model === 'm-long');
  assert.equal(Number(long.requests), N, 'one record per stream');
  assert.equal(Number(long.errors), 0, 'every record ok');
  assert.equal(Number(long.tokens_in), 4 * N);
  assert.equal(Number(long.tokens_out), CHUNKS * N);
  assert.equal(BigInt(long.cost_nano), BigInt(N) * PRICE_NANO);
  await sleep(300); // nothing more may arrive
  assert.equal(Number((await cp.api(`/api/workspaces/${WS}/usage?from=0`)).json.total.requests), N + 2, 'no extra records');
  assert.equal(await balanceNano(cp, WS), credit - BigInt(N) * PRICE_NANO - 2n * warmPrice, 'balance = credit - 500 streams - 2 warm-ups');
  assert.equal((await metrics()).get('switchyard_reserve_open'), 0, 'no reservation left open');
  await checkLedger(cp, { okRequests: { [WS]: N + 2 } });
  console.log(
    `many_streams: ${N} streams in ${elapsed} ms; node descriptors ${base.total} -> peak ${fdsPeak} -> ${end.total} ` +
      `(${end.sockets.upstream ?? 0} idle upstream keep-alive, non-TCP ${base.other} -> ${end.other}); RSS ${rss0} -> ${rssPeak} KiB at the peak ` +
      `(${Math.round((rssPeak - rss0) / N)} KiB per stream), ${rssKiB(dp.proc.pid)} KiB after`,
  );
});
