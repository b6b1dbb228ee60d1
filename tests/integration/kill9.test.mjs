// kill -9 of a data plane under traffic (docs/billing.md, "Data plane": "kill -9 and power
// loss"): no request the client saw succeed may go unbilled. A control plane, a bus-mode data
// plane with --spool-dir and a fixed --node-id, the mock, a prepaid workspace. Several clients
// (the official openai SDK, no retries; streamed and non-streamed requests) run while the test
// kill -9's the node at random moments, restarting it each time on the same spool directory and
// node id. Every request carries a prompt of a distinct length, so the mock's prompt_tokens
// (3 + words) — and hence the usage record's tokens_in — names the request. At the end, once the
// last node has handed everything over: every request the client saw succeed has exactly one
// usage record, with outcome ok, and the ledger's invariants hold. (Records of requests that
// were cut by a kill after their record was made are fine: the provider generated them.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { OpenAI, makeTempDir, waitFor, slack, sleep, startMock, startCp, startBusDp, parseMetrics, httpRequest, checkLedger, prepaidWorkspace, stopAll } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-kill9';
const WS = 'ws_kill9';
const NODE_ID = 'kill9-node';
const KILLS = Number(process.env.KILL9_KILLS || 6);
const CLIENTS = 6;
const HAVE_SQLITE = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' }).status === 0;

let tmp, mock, cp, dp, key, spool;
const procs = [];

function catalog() {
  const m = (id, upstream) => ({ id, provider: 'mock', upstream, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] });
  return {
    timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 30000 },
    limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 1 },
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [m('m-fast', 'mock'), m('m-wait', 'mock+ttft_ms=20'), m('m-stream', 'mock+chunks=6+delay_ms=10')],
    workspaces: [],
    keys: [],
  };
}

async function startNode() {
  const d = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY }, threads: 2, args: ['--spool-dir', spool, '--node-id', NODE_ID], name: `switchyard-dp-${procs.length + 1}` });
  procs.push(d.proc);
  return d;
}

async function metrics(url) {
  const r = await httpRequest(`${url}/metrics`);
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

function rows() {
  const r = spawnSync('sqlite3', ['-readonly', '-json', cp.db, `SELECT id, tokens_in, outcome, streamed FROM usage WHERE workspace_id = '${WS}'`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

before(async () => {
  tmp = makeTempDir('sy-kill9-');
  spool = path.join(tmp.dir, 'spool');
  mock = await startMock({ dir: tmp.dir, threads: 2 });
  cp = await startCp({ dir: tmp.dir, catalog: catalog() });
  key = await prepaidWorkspace(cp, WS, '1000');
  dp = await startNode();
  await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'the key on the node' });
});

after(async () => {
  await stopAll([...procs.filter((p) => p.running), cp?.proc, mock?.proc].filter(Boolean), tmp);
});

test(`kill -9 of the data plane ${KILLS} times under traffic: every request the client saw succeed is billed exactly once`, { skip: !HAVE_SQLITE && 'sqlite3 CLI not installed' }, async () => {
  let next = 0; // each request: a prompt of `next + 1` distinct words, so tokens_in = next + 4
  let running = true;
  const seen = new Map(); // tokens_in -> { rid, stream } of requests the client saw succeed
  let failed = 0;
  const client = async () => {
    while (running) {
      const n = next++;
      const words = n + 1;
      const stream = n % 2 === 1;
      const model = stream ? 'm-stream' : n % 4 === 0 ? 'm-fast' : 'm-wait';
      const content = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
      const openai = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(10000) });
      try {
        const { data, response } = await openai.chat.completions.create({ model, stream, messages: [{ role: 'user', content }] }).withResponse();
        const rid = response.headers.get('x-request-id');
        let finished = false;
        if (stream) {
          for await (const chunk of data) if (chunk.choices?.[0]?.finish_reason) finished = true;
        } else {
          finished = data.choices?.[0]?.finish_reason != null && data.usage?.prompt_tokens === words + 3;
        }
        if (finished) seen.set(words + 3, { rid, stream, n });
        else failed++;
      } catch {
        failed++; // the node died under it (or was not up yet): not a success the client saw
        await sleep(20);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);
  for (let k = 0; k < KILLS; k++) {
    await sleep(400 + Math.floor(Math.random() * 900));
    dp.proc.signalProc('SIGKILL');
    assert.ok(await dp.proc.waitExit(slack(5000)), 'node killed');
    assert.equal(dp.proc.signal, 'SIGKILL');
    dp = await startNode();
  }
  await sleep(800);
  running = false;
  await Promise.all(clients);
  // the last node hands everything over (what the killed ones left in the spool included)
  await waitFor(async () => (await metrics(dp.url)).get('switchyard_usage_records_pending') === 0, { timeout: slack(20000), what: 'nothing pending on the last node' });
  await sleep(300);

  const recs = rows();
  const byTokens = new Map();
  for (const r of recs) {
    const l = byTokens.get(r.tokens_in) ?? [];
    l.push(r);
    byTokens.set(r.tokens_in, l);
  }
  const lost = [];
  const wrong = [];
  for (const [tin, s] of seen) {
    const l = byTokens.get(tin) ?? [];
    const ok = l.filter((r) => r.outcome === 'ok');
    if (l.length === 0) lost.push(`${s.rid} (n=${s.n}, ${s.stream ? 'stream' : 'plain'})`);
    else if (ok.length !== 1 || l.length !== 1) wrong.push(`${s.rid}: ${JSON.stringify(l)}`);
  }
  // every record belongs to a request that was sent, one record per request at most
  for (const [tin, l] of byTokens) {
    assert.ok(tin >= 4 && tin < next + 4, `record for a request never sent: ${JSON.stringify(l)}`);
    assert.equal(l.length, 1, `one record per request: ${JSON.stringify(l)}`);
  }
  const okRecords = recs.filter((r) => r.outcome === 'ok').length;
  console.log(`kill9: ${KILLS} kills, ${next} requests, ${seen.size} seen succeed, ${failed} failed, ${recs.length} usage records (${okRecords} ok), ${lost.length} successes unbilled`);
  assert.ok(seen.size >= 50, `enough traffic: ${seen.size} successes`);
  assert.deepEqual(lost, [], `${lost.length} of ${seen.size} client-visible successes have no usage record`);
  assert.deepEqual(wrong, [], 'each client-visible success: exactly one record, outcome ok');
  await checkLedger(cp);
  const t = (await cp.api(`/api/workspaces/${WS}/usage?from=0`)).json.total;
  assert.equal(Number(t.requests), recs.length, 'usage totals = the records');
});
