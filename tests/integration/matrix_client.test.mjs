// The reliability matrix, client and billing rows (issue 13), through the real stack: a control
// plane on a SQLite file, bus-mode data planes with spools, the mock. Each row has its own
// prepaid workspace and ends with its usage records (the request log,
// GET /api/workspaces/{id}/usage/records), their ledger debits and checkLedger's invariants.
//
// Rows: D6 a price change while a stream runs (the request keeps the price it started with),
// D9 the official SDK's automatic retries after gateway 5xx/429 and its own timeouts (each
// gateway request billed once, failures before acceptance billed 0), F1 bodies that must be
// refused (malformed JSON, trailing garbage, NaN, duplicate "model") with nothing forwarded or
// billed, H1 SIGTERM under 150 open streams (drain deadline, an error event and a usage record
// for each stream cut).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';

import { OpenAI, makeTempDir, startMock, startCp, startBusDp, stopAll, checkLedger, slack, sleep, waitFor, sseEvents, assertOpenAIError, httpRequest } from './lib/harness.mjs';
import { model, provider, costNano, settledRecords, assertBilled, workspaceOnNode, usdNano, debits, dpMetrics, usageRecords } from './lib/matrix.mjs';

const CREDIT = '10';
const MESSAGES = [{ role: 'user', content: 'tell me something' }];
const H1_STREAMS = 150;
const H1_DRAIN_MS = 1500;

let tmp, mock, cp, dp;
const procs = []; // every data plane started here (stopped at the end if still running)
const okSeen = {};

before(async () => {
  tmp = makeTempDir('sy-matrix-cl-');
  mock = await startMock({ dir: tmp.dir, threads: 2 });
  const m = model;
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 5000, idle: 3000, total: 30000 },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
      routing: { breaker: { failures: 100 } },
      providers: [provider('mock', mock.baseURL)],
      models: [
        m('m-ok', 'mock'),
        m('m-dear', 'mock-dear', { input_per_m: '30.00', output_per_m: '60.00' }),
        m('m-price', 'mock+chunks=30+delay_ms=100'),
        m('m-flaky', 'mock+fail_first=2+tag=d9a'),
        m('m-flaky-stream', 'mock+fail_first=2+status=503+tag=d9b'),
        m('m-flaky-429', 'mock+fail_first=1+status=429+retry_after=1+tag=d9c'),
        m('m-slow-first', 'mock+ttft_ms=4000'),
        m('m-long', 'mock+chunks=200+delay_ms=50'),
      ],
      workspaces: [],
      keys: [],
    },
  });
  dp = await node('main');
});

after(async () => {
  await stopAll([...procs.filter((p) => p.running), cp?.proc, mock?.proc], tmp);
});

/** A bus-mode node with its own spool (the same `id` again: the same spool and node id). */
async function node(id, args = []) {
  const d = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'sk-matrix-client' }, name: `switchyard-dp-${id}-${procs.length}`, args: ['--spool-dir', path.join(tmp.dir, `spool-${id}`), '--node-id', `matrix-${id}`, ...args] });
  procs.push(d.proc);
  return d;
}

const post = (key, body, { url = dp.url, headers = {} } = {}) =>
  httpRequest(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body });

// -------------------------------------------------------------------------------------- D6

test('D6 a price change while a stream runs: the request is billed at the price it started with, the next one at the new price', async () => {
  const ws = 'ws_d6';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const res = await fetch(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-price', messages: MESSAGES, stream: true, stream_options: { include_usage: true } }),
  });
  assert.equal(res.status, 200);
  const it = sseEvents(res.body);
  const events = [(await it.next()).value];

  // the new price, while the stream runs (30 chunks, 100 ms apart)
  const patch = await cp.api('/api/models/m-price', { method: 'PATCH', body: { input_per_m: '10.00', output_per_m: '20.00' } });
  assert.equal(patch.status, 200, patch.text);
  const version = (await cp.api('/api/snapshot/version')).json.version;
  await waitFor(async () => (await dpMetrics(dp.url)).get('switchyard_config_version') >= version, { timeout: slack(3000), what: `the node on snapshot ${version}` });
  // the new snapshot landed while the answer was still being generated
  const up = await mock.waitForRequest(res.headers.get('x-request-id'));
  assert.ok(!mock.events().some((e) => e.event === 'done' && e.id === up.id), 'the upstream answer is still under way');
  for (;;) {
    const n = await it.next();
    if (n.done) break;
    events.push(n.value);
  }
  assert.equal(events.at(-1).data, '[DONE]');
  const usageChunk = JSON.parse(events.at(-2).data);
  const u = usageChunk.usage;
  assert.ok(u, `the usage chunk: ${events.at(-2).data}`);
  const old = costNano(u.prompt_tokens, u.completion_tokens, '1.00', '2.00');
  assert.equal(usdNano(u.cost), old, `usage.cost is at the old price (${u.cost})`);

  // the next request: the new price (max_tokens 1: one unit, not 3 s of generation)
  const r = await post(key, JSON.stringify({ model: 'm-price', messages: MESSAGES, max_tokens: 1 }));
  assert.equal(r.status, 200, r.text);
  const fresh = costNano(r.json.usage.prompt_tokens, r.json.usage.completion_tokens, '10.00', '20.00');
  assert.equal(usdNano(r.headers['x-switchyard-cost']), fresh, 'x-switchyard-cost at the new price');

  const recs = await settledRecords(cp, [dp.url], ws, 2);
  const streamed = recs.find((x) => x.streamed);
  const plain = recs.find((x) => !x.streamed);
  assert.equal(streamed.outcome, 'ok');
  assert.equal(streamed.tokens_in, u.prompt_tokens);
  assert.equal(streamed.tokens_out, u.completion_tokens);
  assert.equal(BigInt(streamed.cost_nano), old, 'the record of the stream: the price version captured at its start');
  assert.equal(BigInt(plain.cost_nano), fresh, 'the later request: the new price');
  assert.notEqual(old, fresh);
  assert.equal(await assertBilled(cp, ws, recs, CREDIT), old + fresh);
  okSeen[ws] = 2;
});

// -------------------------------------------------------------------------------------- D9

test('D9 the SDK retries after gateway 502/429 and after its own timeout: each gateway request billed once, only the ones with tokens billed above 0', async () => {
  const ws = 'ws_d9';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const client = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 3, timeout: slack(20000) });
  const upstream = (name) => mock.requests().filter((e) => e.body?.model === name);
  const billed = (name) => mock.events().filter((e) => e.event === 'billed' && e.model === name);

  // 1. two upstream 500s: the gateway answers 502 twice (one candidate), the SDK's third try succeeds
  const a = await client.chat.completions.create({ model: 'm-flaky', messages: MESSAGES });
  assert.ok(a.choices[0].message.content.length > 0);
  assert.equal(upstream('mock+fail_first=2+tag=d9a').length, 3);

  // 2. a stream refused twice before it started (503 upstream -> 502 JSON): the SDK retries it
  const stream = await client.chat.completions.create({ model: 'm-flaky-stream', messages: MESSAGES, stream: true, stream_options: { include_usage: true } });
  let bUsage = null;
  let text = '';
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    if (c.usage) bUsage = c.usage;
  }
  assert.equal(text.split(' ').filter(Boolean).length, 8);
  assert.equal(upstream('mock+fail_first=2+status=503+tag=d9b').length, 3);

  // 3. a 429 with retry-after: 1 from the provider: the gateway passes it on, the SDK waits, retries
  const t0 = Date.now();
  const c = await client.chat.completions.create({ model: 'm-flaky-429', messages: MESSAGES });
  assert.ok(Date.now() - t0 >= 900, 'the SDK honoured retry-after');
  assert.equal(upstream('mock+fail_first=1+status=429+retry_after=1+tag=d9c').length, 2);

  // 4. the SDK's own timeout (400 ms) on an upstream that takes 4 s: 3 tries, each one given up by
  // the client; the gateway cancels each upstream request
  const impatient = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 2, timeout: 400 });
  await assert.rejects(impatient.chat.completions.create({ model: 'm-slow-first', messages: MESSAGES }), (e) => e instanceof OpenAI.APIConnectionTimeoutError);
  await waitFor(() => upstream('mock+ttft_ms=4000').length === 3, { what: 'three tries upstream' });
  for (const q of upstream('mock+ttft_ms=4000')) await mock.waitForEvent((e) => e.event === 'closed' && e.id === q.id, { timeout: slack(3000), what: `the gateway closed ${q.id}` });

  const recs = await settledRecords(cp, [dp.url], ws, 3 + 3 + 2 + 3);
  const of = (id) => recs.filter((x) => x.model === id);
  const zero = (rec, outcome) => {
    assert.equal(rec.outcome, outcome, JSON.stringify(rec));
    assert.equal(rec.tokens_in + rec.tokens_out, 0, JSON.stringify(rec));
    assert.equal(rec.cost_nano, 0, JSON.stringify(rec));
  };
  const served = (id, usage) => {
    const ok = of(id).filter((x) => x.outcome === 'ok');
    assert.equal(ok.length, 1, `${id}: one served request`);
    assert.equal(ok[0].tokens_in, usage.prompt_tokens);
    assert.equal(ok[0].tokens_out, usage.completion_tokens);
    assert.equal(BigInt(ok[0].cost_nano), costNano(usage.prompt_tokens, usage.completion_tokens, '1.00', '2.00'));
  };
  assert.deepEqual(of('m-flaky').map((x) => x.outcome).sort(), ['ok', 'upstream_error', 'upstream_error']);
  of('m-flaky').filter((x) => x.outcome !== 'ok').forEach((x) => zero(x, 'upstream_error'));
  served('m-flaky', a.usage);
  assert.deepEqual(of('m-flaky-stream').map((x) => x.outcome).sort(), ['ok', 'upstream_error', 'upstream_error']);
  of('m-flaky-stream').filter((x) => x.outcome !== 'ok').forEach((x) => zero(x, 'upstream_error'));
  served('m-flaky-stream', bUsage);
  assert.deepEqual(of('m-flaky-429').map((x) => x.outcome).sort(), ['ok', 'upstream_rate_limited']);
  zero(of('m-flaky-429').find((x) => x.outcome !== 'ok'), 'upstream_rate_limited');
  served('m-flaky-429', c.usage);
  assert.equal(of('m-slow-first').length, 3);
  of('m-slow-first').forEach((x) => zero(x, 'client_disconnect'));

  // what the provider charged (the mock's billed events) is exactly what was billed: one record
  // per generated answer, the same tokens
  for (const [name, id] of [
    ['mock+fail_first=2+tag=d9a', 'm-flaky'],
    ['mock+fail_first=2+status=503+tag=d9b', 'm-flaky-stream'],
    ['mock+fail_first=1+status=429+retry_after=1+tag=d9c', 'm-flaky-429'],
    ['mock+ttft_ms=4000', 'm-slow-first'],
  ]) {
    const charged = billed(name);
    const paid = of(id).filter((x) => x.cost_nano > 0);
    assert.equal(paid.length, charged.length, `${id}: records billed above 0 = answers the provider generated`);
    for (let k = 0; k < charged.length; k++) {
      assert.equal(paid[k].tokens_in, charged[k].prompt_tokens);
      assert.equal(paid[k].tokens_out, charged[k].completion_tokens);
    }
  }
  await assertBilled(cp, ws, recs, CREDIT);
  const money = recs.filter((r) => BigInt(r.cost_nano) !== 0n);
  assert.equal(money.length, 3, 'three records billed above 0: the three answers');
  okSeen[ws] = 3;
});

// -------------------------------------------------------------------------------------- F1

test('F1 malformed JSON, trailing garbage, NaN, duplicate "model": 400, nothing forwarded, nothing billed', async () => {
  const ws = 'ws_f1';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const msgs = '"messages":[{"role":"user","content":"hi"}]';
  const bodies = [
    ['truncated', `{"model":"m-ok",${msgs}`],
    ['cut inside a string', '{"model":"m-ok","messages":[{"role":"user","content":"h'],
    ['trailing garbage', `{"model":"m-ok",${msgs}} trailing`],
    ['a second document', `{"model":"m-ok",${msgs}}{"model":"m-dear",${msgs}}`],
    ['trailing comma', `{"model":"m-ok",${msgs},}`],
    ['NaN', `{"model":"m-ok","temperature":NaN,${msgs}}`],
    ['Infinity', `{"model":"m-ok","max_tokens":Infinity,${msgs}}`],
    ['-Infinity', `{"model":"m-ok","temperature":-Infinity,${msgs}}`],
    ['single quotes', `{'model':'m-ok',${msgs}}`],
    ['a comment', `{"model":"m-ok",/* x */${msgs}}`],
    ['duplicate model, cheap first', `{"model":"m-ok","model":"m-dear",${msgs}}`],
    ['duplicate model, dear first', `{"model":"m-dear",${msgs},"model":"m-ok"}`],
    ['duplicate model, escaped spelling', `{"model":"m-ok","mod\\u0065l":"m-dear",${msgs}}`],
    ['duplicate model, streamed', `{"model":"m-ok","stream":true,"model":"m-dear",${msgs}}`],
    ['duplicate stream', `{"model":"m-ok","stream":false,"stream":true,${msgs}}`],
    ['not an object', `[{"model":"m-ok",${msgs}}]`],
    ['empty', ''],
  ];
  const mockBefore = (await mock.stats()).requests;
  const minted = async () => (await dpMetrics(dp.url)).get('switchyard_usage_records_total{stage="minted"}');
  const mintedBefore = await minted();
  for (const [what, body] of bodies) {
    const r = await post(key, body);
    assertOpenAIError(r, { status: 400, type: 'invalid_request_error' }, what);
  }
  assert.equal((await mock.stats()).requests, mockBefore, 'the upstream saw none of them');
  assert.equal(await minted(), mintedBefore, 'no usage record was made for any of them');
  await sleep(200);
  assert.deepEqual(await usageRecords(cp, ws), []);
  assert.deepEqual(await debits(cp, ws), [], 'no ledger row');

  // the key and the workspace work: one valid request, billed once
  const ok = await post(key, `{"model":"m-ok",${msgs}}`);
  assert.equal(ok.status, 200, ok.text);
  const recs = await settledRecords(cp, [dp.url], ws, 1);
  assert.equal(recs[0].model, 'm-ok');
  assert.equal(recs[0].outcome, 'ok');
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 1;
});

// -------------------------------------------------------------------------------------- H1

/** A new TCP connection during the drain: 'refused', 'answered <status>', … */
function probeNewConnection(port, wait) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const t = setTimeout(() => done('no answer'), wait);
    const done = (v) => {
      clearTimeout(t);
      sock.destroy();
      resolve(v);
    };
    sock.on('connect', () => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    sock.on('data', (d) => {
      data += d;
      const m = data.match(/^HTTP\/1\.\d (\d{3})/);
      if (m) done(`answered ${m[1]}`);
    });
    sock.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code === 'ECONNRESET' ? 'reset' : `error ${e.code}`));
    sock.on('end', () => done('closed'));
  });
}

test(`H1 SIGTERM (twice) under ${H1_STREAMS} open streams: new connections refused, streams cut at the drain deadline with an error event, a usage record each, ledger consistent`, async () => {
  const ws = 'ws_h1';
  const h = await node('h1', ['--drain-ms', String(H1_DRAIN_MS)]);
  const port = Number(new URL(h.url).port);
  const key = await workspaceOnNode(cp, h.url, ws, CREDIT);

  const streams = [];
  let started = 0;
  const open = (i) =>
    (async () => {
      const s = { i, events: [], content: '', bodyError: null, firstContent: null, tEnd: 0 };
      streams.push(s);
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm-long', messages: MESSAGES, stream: true }),
      });
      s.status = res.status;
      try {
        for await (const ev of sseEvents(res.body)) {
          s.events.push(ev);
          if (ev.data === '[DONE]') continue;
          const o = JSON.parse(ev.data);
          const c = o.choices?.[0]?.delta?.content;
          if (c) {
            s.content += c;
            if (!s.firstContent) {
              s.firstContent = Date.now();
              started++;
            }
          }
        }
      } catch (e) {
        s.bodyError = e;
      }
      s.tEnd = Date.now();
      return s;
    })();
  const all = Promise.all(Array.from({ length: H1_STREAMS }, (_, i) => open(i)));
  await waitFor(() => started === H1_STREAMS, { timeout: slack(15000), interval: 50, what: `${H1_STREAMS} streams under way (${started})` });

  const tSig = Date.now();
  h.proc.signalProc('SIGTERM');
  // once the node says it drains, its listener is shut down (a loaded machine may take a while
  // to schedule the main thread: the signal alone proves nothing yet)
  await waitFor(() => /msg="draining"/.test(h.proc.stderr), { timeout: slack(2000), what: 'the node draining' });
  await sleep(50);
  const probe = await probeNewConnection(port, 300);
  // an impatient operator (or a second Ctrl-C): a second SIGTERM during the drain changes
  // nothing — the deadline stands, the node still exits 0 (SIGKILL is the way to cut it short)
  h.proc.child.kill('SIGTERM');
  await all;

  // refused; or reset, when it reached the accept queue just before the listener was shut down
  // (a loaded machine); or a 503 shutting_down — never served, never left hanging
  assert.ok(['refused', 'reset', 'answered 503'].includes(probe), `a new connection during the drain: ${probe}`);
  for (const s of streams) {
    assert.equal(s.status, 200);
    assert.equal(s.bodyError, null, `stream ${s.i} ended cleanly`);
    const last = s.events.at(-1);
    assert.ok(!s.events.some((e) => e.data === '[DONE]'), `stream ${s.i}: a 10 s stream cannot finish in the drain`);
    const err = JSON.parse(last.data).error;
    assert.ok(err, `stream ${s.i} ends with an error event: ${last.data}`);
    assert.equal(err.code, 'shutting_down');
    const cut = s.tEnd - tSig;
    assert.ok(cut >= H1_DRAIN_MS - 100, `stream ${s.i} ran to the drain deadline (${cut} ms)`);
    assert.ok(cut < H1_DRAIN_MS + slack(2000), `and was cut then (${cut} ms)`);
    assert.ok(s.content.length > 0);
  }
  assert.ok(await h.proc.waitExit(slack(5000)), 'the node exits after the drain');
  h.proc.assertClean();
  const lastCut = Math.max(...streams.map((s) => s.tEnd)) - tSig;
  console.log(`H1: ${H1_STREAMS} streams cut ${H1_DRAIN_MS} ms drain; last cut at +${lastCut} ms; probe: ${probe}`);

  // what the stopping node could not hand over waits in its spool: the next start delivers it
  const h2 = await node('h1');
  const recs = await settledRecords(cp, [h2.url], ws, H1_STREAMS, { timeout: slack(20000) });
  for (const rec of recs) {
    assert.equal(rec.outcome, 'shutdown', JSON.stringify(rec));
    assert.equal(rec.streamed, true);
    assert.equal(rec.estimated, true, 'cut before the usage chunk: estimated');
    assert.ok(rec.tokens_in > 0 && rec.tokens_out > 0, JSON.stringify(rec));
    assert.equal(BigInt(rec.cost_nano), costNano(rec.tokens_in, rec.tokens_out, '1.00', '2.00'));
  }
  // each stream's record bills what that stream received (~4 bytes per token)
  const want = streams.map((s) => Math.ceil(Buffer.byteLength(s.content) / 4)).sort((x, y) => x - y);
  const got = recs.map((r) => r.tokens_out).sort((x, y) => x - y);
  assert.deepEqual(got, want, 'tokens_out of the records = the content each stream received / 4');
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 0;
});

test('the ledger after every row: invariants, one ok record per success seen', async () => {
  await checkLedger(cp, { okRequests: okSeen });
});
