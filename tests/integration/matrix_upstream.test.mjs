// The reliability matrix, upstream rows (issue 13): each row drives its fault through the real
// stack — a control plane on a SQLite file, a bus-mode data plane with a spool, the mock (and a
// small node upstream for garbage answers) — asserts what the client sees AND what is billed:
// one usage record per upstream attempt read back from the request log
// (GET /api/workspaces/{id}/usage/records: outcome, tokens, cost, estimated), one ledger debit
// of -cost per record, and checkLedger's invariants. Each row has its own prepaid workspace, so
// its records are exactly its own.
//
// Rows: A1 upstream 500 before any byte, A5 connect timeout (blackhole), A6 first-byte timeout
// after the request was sent, A7 stall mid-stream, A8 truncated SSE, A9 non-JSON / wrong
// content-type / garbage 200, A11 a 10 MB SSE line and a huge body, A14 every upstream 500 under
// load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';

import { OpenAI, makeTempDir, startMock, startCp, startBusDp, stopAll, checkLedger, closedPort, requestId, slack, sseEvents, assertOpenAIError, httpRequest } from './lib/harness.mjs';
import { model, provider, costNano, settledRecords, assertBilled, workspaceOnNode, memoryKiB, accessLine, usdNano } from './lib/matrix.mjs';

const T = { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 };
const MAX_ATTEMPTS = 3;
const CREDIT = '10';
const MESSAGES = [{ role: 'user', content: 'tell me something' }];
const MiB = 1024 * 1024;

let tmp, mock, junk, cp, dp;
const okSeen = {}; // workspace -> successful requests the client saw (for checkLedger)

// An OpenAI-compatible upstream that answers 200 with things that are not a chat completion.
// The upstream model name picks the answer.
const JUNK = {
  html: { type: 'text/html; charset=utf-8', body: '<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>We will be back soon</h1></body></html>' },
  garbage: { type: 'application/octet-stream', body: crypto.randomBytes(2048) },
  empty: { type: 'application/json', body: '' },
  notchat: { type: 'application/json', body: '{"status":"ok","detail":"the load balancer says hello"}' },
  error200: { type: 'application/json', body: '{"error":{"message":"quota exceeded on the upstream account","type":"server_error","code":"quota"}}' },
  // an event stream whose first event is an error (nothing relayed yet: the next candidate may serve)
  sseerror: { type: 'text/event-stream', body: 'data: {"error":{"message":"overloaded, try later","type":"server_error","code":null}}\n\n' },
  sseerrordone: { type: 'text/event-stream', body: 'data: {"error":{"message":"overloaded, try later","type":"server_error","code":null}}\n\ndata: [DONE]\n\n' },
};
function startJunk() {
  const srv = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      let name = 'html';
      try {
        name = JSON.parse(Buffer.concat(parts).toString()).model;
      } catch {
        /* html */
      }
      const a = JUNK[name] ?? JUNK.html;
      srv.calls.push(name);
      res.writeHead(200, { 'content-type': a.type, 'content-length': Buffer.byteLength(a.body) });
      res.end(a.body);
    });
  });
  srv.calls = [];
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

before(async () => {
  tmp = makeTempDir('sy-matrix-up-');
  mock = await startMock({ dir: tmp.dir, threads: 2, args: ['--blackhole'] });
  assert.ok(mock.blackholePort, 'the mock opened a blackhole port');
  junk = await startJunk();
  const m = model;
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      timeouts_ms: { ...T },
      limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: MAX_ATTEMPTS },
      // the rows test the failover walk itself; breakers that learned from an earlier row would
      // change it (router.test.mjs tests them)
      routing: { breaker: { failures: 100 } },
      providers: [
        provider('mock', mock.baseURL),
        provider('backup', `${mock.baseURL}/`),
        provider('blackhole', `http://127.0.0.1:${mock.blackholePort}/v1`),
        provider('junk', `http://127.0.0.1:${junk.address().port}/v1`),
        provider('dead', `http://127.0.0.1:${await closedPort()}/v1`),
      ],
      models: [
        m('m-ok', 'mock'),
        m('m-fallback', 'mock-fallback', { provider: 'backup', input_per_m: '0.50', output_per_m: '1.50' }),
        m('m-500', 'mock+status=500'),
        m('m-503', 'mock+status=503'),
        m('m-500b', 'mock-b+status=500'),
        m('m-503b', 'mock-b+status=503'),
        m('m-blackhole', 'mock', { provider: 'blackhole' }),
        m('m-hang', 'mock+hang=1'),
        m('m-stall', 'mock+stall_after=2+chunks=6', { input_per_m: '3.00', output_per_m: '7.00' }),
        m('m-trunc', 'mock+truncate_after=2+chunks=6', { input_per_m: '3.00', output_per_m: '7.00' }),
        ...Object.keys(JUNK).map((k) => m(`m-${k}`, k, { provider: 'junk' })),
        m('m-huge', `mock+chunks=4+huge_line=${10 * MiB}`),
        m('m-huge-first', `mock+chunks=1+huge_line=${10 * MiB}`),
        m('m-huge-body', `mock+chunks=4+huge_line=${40 * MiB}`),
      ],
      workspaces: [],
      keys: [],
    },
  });
  // a small ASan quarantine (as body_limit.test.mjs): A11 measures the node's peak RSS, which
  // the default 256 MB of freed-but-held blocks would swamp
  const asanOptions = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4'].filter(Boolean).join(':');
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'sk-matrix-upstream', ASAN_OPTIONS: asanOptions }, args: ['--spool-dir', path.join(tmp.dir, 'spool'), '--node-id', 'matrix-up'] });
});

after(async () => {
  await stopAll([dp?.proc, cp?.proc, mock?.proc], tmp);
  await new Promise((resolve) => (junk ? junk.close(resolve) : resolve()));
});

const sdk = (key, opts = {}) => new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(20000), ...opts });
const upstreamCalls = (rid) => mock.requests().filter((e) => e.headers?.['x-request-id'] === rid);
const priceOf = (id) => {
  const c = { 'm-fallback': ['0.50', '1.50'], 'm-stall': ['3.00', '7.00'], 'm-trunc': ['3.00', '7.00'] };
  return c[id] ?? ['1.00', '2.00'];
};

/** Raw streamed request: status, headers and SSE events. */
async function rawStream(key, body, headers = {}) {
  const r = await fetch(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: MESSAGES, stream: true, ...body }),
  });
  const events = [];
  let bodyError = null;
  const t0 = Date.now();
  const times = [];
  try {
    for await (const ev of sseEvents(r.body)) {
      events.push(ev);
      times.push(Date.now());
    }
  } catch (e) {
    bodyError = e;
  }
  const content = events
    .filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data))
    .filter((o) => o.choices?.[0]?.delta?.content)
    .map((o) => o.choices[0].delta.content);
  return { status: r.status, headers: r.headers, events, bodyError, content, t0, times, tEnd: Date.now() };
}

/** A stream that relayed content and then ended with one OpenAI error event (no [DONE]). */
function assertErrorEnd(raw, code) {
  assert.equal(raw.status, 200);
  assert.equal(raw.bodyError, null, `the response ends cleanly (chunked terminator), got ${raw.bodyError}`);
  const last = raw.events.at(-1);
  assert.ok(last && !last.incomplete, 'the last event is complete');
  assert.ok(!raw.events.some((e) => e.data === '[DONE]'), 'no [DONE]');
  const err = JSON.parse(last.data).error;
  assert.ok(err, `ends with an error event: ${last.data}`);
  assert.equal(err.code, code, last.data);
  assert.equal(typeof err.message, 'string');
  return err;
}

/**
 * The records of one model, in the order they were minted for that model. (Across models the
 * request log's order is ingestion order, which need not be minting order: a served answer's
 * record goes through the thread's usage ring, a failed attempt's through the queue.)
 */
const ofModel = (recs, id) => recs.filter((r) => r.model === id);

/** The record of a failed attempt that delivered nothing: its outcome, 0 tokens, cost 0. */
function assertZeroRecord(rec, modelId, outcome) {
  assert.equal(rec.model, modelId, JSON.stringify(rec));
  assert.equal(rec.outcome, outcome, JSON.stringify(rec));
  assert.equal(rec.tokens_in, 0, JSON.stringify(rec));
  assert.equal(rec.tokens_out, 0, JSON.stringify(rec));
  assert.equal(rec.cost_nano, 0, JSON.stringify(rec));
  assert.equal(rec.estimated, false, JSON.stringify(rec));
}

/** The record of a served attempt: ok, the provider's counts, cost at the model's price. */
function assertOkRecord(rec, modelId, usage) {
  assert.equal(rec.model, modelId, JSON.stringify(rec));
  assert.equal(rec.outcome, 'ok', JSON.stringify(rec));
  assert.equal(rec.tokens_in, usage.prompt_tokens, JSON.stringify(rec));
  assert.equal(rec.tokens_out, usage.completion_tokens, JSON.stringify(rec));
  assert.equal(rec.estimated, false);
  const [i, o] = priceOf(modelId);
  assert.equal(BigInt(rec.cost_nano), costNano(rec.tokens_in, rec.tokens_out, i, o), `cost of ${JSON.stringify(rec)}`);
}

/** A cut stream's record: billed what was streamed (estimated: the usage chunk never came). */
function assertPartialRecord(rec, modelId, outcome, contentBytes) {
  assert.equal(rec.model, modelId, JSON.stringify(rec));
  assert.equal(rec.outcome, outcome, JSON.stringify(rec));
  assert.equal(rec.streamed, true);
  assert.equal(rec.estimated, true, `partial: estimated (no provider usage): ${JSON.stringify(rec)}`);
  assert.equal(rec.tokens_out, Math.ceil(contentBytes / 4), `tokens_out = the ${contentBytes} content bytes relayed / 4: ${JSON.stringify(rec)}`);
  assert.ok(rec.tokens_in > 0, 'the prompt is estimated from the upstream body');
  const [i, o] = priceOf(modelId);
  assert.equal(BigInt(rec.cost_nano), costNano(rec.tokens_in, rec.tokens_out, i, o), `cost of ${JSON.stringify(rec)}`);
  assert.ok(rec.cost_nano > 0, 'streamed tokens are billed');
}

// ------------------------------------------------------------------------------------- A1

test('A1 upstream 500 before any byte: failover, success to the client, the failed attempt billed 0, one debit', async () => {
  const ws = 'ws_a1';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const rid = requestId('a1');
  const { data, response } = await sdk(key).chat.completions.create({ model: 'm-500', models: ['m-fallback'], messages: MESSAGES }, { headers: { 'x-request-id': rid } }).withResponse();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.deepEqual(upstreamCalls(rid).map((c) => c.body.model), ['mock+status=500', 'mock-fallback']);
  const [i, o] = priceOf('m-fallback');
  const cost = costNano(data.usage.prompt_tokens, data.usage.completion_tokens, i, o);
  assert.equal(usdNano(response.headers.get('x-switchyard-cost')), cost, 'x-switchyard-cost is the served attempt alone');

  // every candidate fails: at most max_attempts attempts, 502, nothing billed
  const rid2 = requestId('a1all');
  const r = await httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': rid2 },
    body: JSON.stringify({ model: 'm-500', models: ['m-503', 'm-500b', 'm-503b'], messages: MESSAGES }),
  });
  assertOpenAIError(r, { status: 502, code: 'upstream_error', type: 'upstream_error' });
  assert.equal(upstreamCalls(rid2).length, MAX_ATTEMPTS, `limits.max_attempts (${MAX_ATTEMPTS}) bounds the walk`);

  const recs = await settledRecords(cp, [dp.url], ws, 2 + MAX_ATTEMPTS);
  assert.equal(ofModel(recs, 'm-500').length, 2);
  for (const id of ['m-500', 'm-503', 'm-500b']) for (const rec of ofModel(recs, id)) assertZeroRecord(rec, id, 'upstream_error');
  assert.equal(ofModel(recs, 'm-503b').length, 0, 'the 4th candidate was never tried');
  assertOkRecord(ofModel(recs, 'm-fallback')[0], 'm-fallback', data.usage);
  // the request log: each attempt names its request, its number and what the client asked for
  const served = recs.filter((x) => x.request_id === rid).sort((a, b) => a.attempt - b.attempt);
  assert.deepEqual(served.map((x) => [x.attempt, x.model, x.model_asked, x.outcome]), [
    [1, 'm-500', 'm-500', 'upstream_error'],
    [2, 'm-fallback', 'm-500', 'ok'],
  ]);
  for (const x of served) {
    // a named model is not classified by default (routing.classify "routed"): the record says so
    // by an empty task, not a made-up one (the auto path's task reaches the log in dashboard_browser)
    assert.equal(x.task, '', 'a named model: not classified');
    assert.equal(x.difficulty, '');
  }
  assert.deepEqual(recs.filter((x) => x.request_id === rid2).map((x) => x.attempt).sort(), [1, 2, 3]);
  const sum = await assertBilled(cp, ws, recs, CREDIT);
  assert.equal(sum, cost);
  // every attempt has its record (docs/billing.md: each charged by its batch's debit); the
  // request's money is ONE record — the failed attempts' records cost 0
  const money = recs.filter((r) => BigInt(r.cost_nano) !== 0n);
  assert.equal(money.length, 1, `one record billed above 0, the served attempt: ${JSON.stringify(money)}`);
  assert.equal(BigInt(money[0].cost_nano), cost);
  okSeen[ws] = 1;
});

// ------------------------------------------------------------------------------------- A5

test('A5 connect timeout (blackhole): the connect timeout fires, failover; alone: 504; both attempts billed 0', async () => {
  const ws = 'ws_a5';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const rid = requestId('a5');
  const t0 = Date.now();
  const { data, response } = await sdk(key).chat.completions.create({ model: 'm-blackhole', models: ['m-fallback'], messages: MESSAGES }, { headers: { 'x-request-id': rid } }).withResponse();
  const took = Date.now() - t0;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.ok(took >= T.connect - 100, `waited for the connect timeout (${took} ms)`);
  assert.ok(took < T.connect + slack(1500), `then failed over promptly (${took} ms)`);
  assert.deepEqual(upstreamCalls(rid).map((c) => c.body.model), ['mock-fallback'], 'the blackhole never saw a byte');
  assert.match(await accessLine(dp.proc, rid), / failed=blackhole\/m-blackhole:timeout /);

  // the only candidate: 504 upstream_timeout, in about the connect timeout
  const t1 = Date.now();
  const r = await httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-blackhole', messages: MESSAGES }),
  });
  assertOpenAIError(r, { status: 504, code: 'upstream_timeout' });
  assert.ok(Date.now() - t1 < T.connect + slack(1500), `${Date.now() - t1} ms`);

  const recs = await settledRecords(cp, [dp.url], ws, 3);
  assert.equal(ofModel(recs, 'm-blackhole').length, 2);
  for (const rec of ofModel(recs, 'm-blackhole')) assertZeroRecord(rec, 'm-blackhole', 'upstream_timeout');
  assertOkRecord(ofModel(recs, 'm-fallback')[0], 'm-fallback', data.usage);
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 1;
});

// ------------------------------------------------------------------------------------- A6

// docs/billing.md, "An attempt that timed out after its request was sent": the provider may
// have generated (and may bill the operator for) an answer we never received; the attempt is
// recorded (outcome upstream_timeout, the access log's failed=), the client is billed nothing for
// it, and failover is allowed — nothing reached the client, and the alternative (a 504) is worse
// for the user and still costs the operator the same.
test('A6 first-byte timeout after the request was sent: the attempt is recorded (upstream_timeout, 0), failover; alone: 504', async () => {
  const ws = 'ws_a6';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const rid = requestId('a6');
  const t0 = Date.now();
  const { data, response } = await sdk(key).chat.completions.create({ model: 'm-hang', models: ['m-fallback'], messages: MESSAGES }, { headers: { 'x-request-id': rid } }).withResponse();
  const took = Date.now() - t0;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.ok(took >= T.first_byte - 100 && took < T.first_byte + slack(1500), `after the first-byte timeout (${took} ms)`);
  const calls = upstreamCalls(rid);
  assert.deepEqual(calls.map((c) => c.body.model), ['mock+hang=1', 'mock-fallback'], 'the request WAS sent to the hanging upstream');
  // the gateway hung up on it (the provider sees the cancel)
  await mock.waitForEvent((e) => e.event === 'closed' && e.id === calls[0].id, { what: 'the hung request closed' });
  assert.match(await accessLine(dp.proc, rid), / failed=mock\/m-hang:timeout /);

  const r = await httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-hang', messages: MESSAGES, stream: true }),
  });
  assertOpenAIError(r, { status: 504, code: 'upstream_timeout' });

  const recs = await settledRecords(cp, [dp.url], ws, 3);
  const hung = ofModel(recs, 'm-hang');
  assert.equal(hung.length, 2);
  for (const rec of hung) assertZeroRecord(rec, 'm-hang', 'upstream_timeout');
  assert.deepEqual(hung.map((rec) => rec.streamed), [false, true]);
  assertOkRecord(ofModel(recs, 'm-fallback')[0], 'm-fallback', data.usage);
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 1;
});

// ------------------------------------------------------------------------------------- A7

test('A7 stall mid-stream: idle timeout, final error event, no retry, the streamed tokens billed', async () => {
  const ws = 'ws_a7';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const rid = requestId('a7');
  const raw = await rawStream(key, { model: 'm-stall', models: ['m-fallback'] }, { 'x-request-id': rid });
  assert.deepEqual(raw.content, ['mock ', 'reply ']);
  assertErrorEnd(raw, 'upstream_timeout');
  const silent = raw.tEnd - raw.times.at(-2);
  assert.ok(silent >= T.idle - 100 && silent < T.idle + slack(1500), `ended by the idle timeout (${silent} ms of silence)`);
  assert.deepEqual(upstreamCalls(rid).map((c) => c.body.model), ['mock+stall_after=2+chunks=6'], 'no retry after the first byte');

  const recs = await settledRecords(cp, [dp.url], ws, 1);
  assertPartialRecord(recs[0], 'm-stall', 'upstream_timeout', raw.content.join('').length);
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 0;
});

// ------------------------------------------------------------------------------------- A8

test('A8 truncated SSE (FIN without [DONE]): error event, usage estimated (partial); non-stream: failover, billed 0', async () => {
  const ws = 'ws_a8';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const raw = await rawStream(key, { model: 'm-trunc' });
  assert.deepEqual(raw.content, ['mock ', 'reply ']);
  assertErrorEnd(raw, 'upstream_error');

  // the non-streamed answer cut the same way is invalid JSON: nothing was sent yet, fail over
  const { data, response } = await sdk(key).chat.completions.create({ model: 'm-trunc', models: ['m-fallback'], messages: MESSAGES }).withResponse();
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');

  const recs = await settledRecords(cp, [dp.url], ws, 3);
  const [cut, whole] = ofModel(recs, 'm-trunc');
  assertPartialRecord(cut, 'm-trunc', 'upstream_error', raw.content.join('').length);
  assertZeroRecord(whole, 'm-trunc', 'upstream_error');
  assert.equal(whole.streamed, false);
  assertOkRecord(ofModel(recs, 'm-fallback')[0], 'm-fallback', data.usage);
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 1;
});

// ------------------------------------------------------------------------------------- A9

test('A9 a 200 that is not a chat completion (HTML, garbage bytes, empty, another JSON, an error object, an error event first): 502 upstream_error, failover allowed, billed 0', async () => {
  const ws = 'ws_a9';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const names = Object.keys(JUNK);
  const post = (body) =>
    httpRequest(`${dp.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ messages: MESSAGES, ...body }) });
  let served = [];
  for (const n of names) {
    // alone: an OpenAI-shaped 502
    const r = await post({ model: `m-${n}` });
    assertOpenAIError(r, { status: 502, code: 'upstream_error', type: 'upstream_error' }, n);
    // streamed too (an upstream that answers a stream with a page): nothing sent yet, 502
    const s = await post({ model: `m-${n}`, stream: true });
    assertOpenAIError(s, { status: 502, code: 'upstream_error' }, `${n} stream`);
    if (n.startsWith('sseerror')) assert.match(s.json.error.message, /overloaded, try later/, 'the provider\'s words reach the client');
    // with a fallback: the client never notices
    const f = await post({ model: `m-${n}`, models: ['m-fallback'] });
    assert.equal(f.status, 200, `${n} with a fallback: ${f.text}`);
    assert.equal(f.headers['x-switchyard-model'], 'm-fallback');
    served.push(f.json.usage);
  }
  assert.equal(junk.calls.length, 3 * names.length);

  const recs = await settledRecords(cp, [dp.url], ws, 4 * names.length);
  for (const n of names) {
    const mine = ofModel(recs, `m-${n}`);
    assert.equal(mine.length, 3, n);
    for (const rec of mine) assertZeroRecord(rec, `m-${n}`, 'upstream_error');
  }
  const fb = ofModel(recs, 'm-fallback');
  assert.equal(fb.length, names.length);
  fb.forEach((rec, k) => assertOkRecord(rec, 'm-fallback', served[k]));
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = names.length;
});

// ------------------------------------------------------------------------------------ A11

test('A11 a 10 MB SSE line: the 1 MiB event cap aborts with an error event (failover before the first byte); a 40 MB body: 502; the node stays small', async () => {
  const ws = 'ws_a11';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const before = memoryKiB(dp.proc.pid);
  // after content was relayed: 3 chunks, then an error event; four at once (a node that buffered
  // the line would hold 40 MB)
  const raws = await Promise.all(Array.from({ length: 4 }, () => rawStream(key, { model: 'm-huge' })));
  for (const raw of raws) {
    assert.deepEqual(raw.content, ['mock ', 'reply ', 'alpha ']);
    const err = assertErrorEnd(raw, 'upstream_error');
    assert.match(err.message, /too large/);
  }
  const mid = memoryKiB(dp.proc.pid);
  const peakLines = (mid.hwm - before.hwm) / 1024;
  // the first event is the huge one: nothing sent yet, fail over
  const first = await rawStream(key, { model: 'm-huge-first', models: ['m-fallback'], stream_options: { include_usage: true } });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(first.events.at(-1).data, '[DONE]');
  const data = { usage: JSON.parse(first.events.at(-2).data).usage };
  // a non-streamed answer over the 32 MiB cap
  const r = await httpRequest(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-huge-body', messages: MESSAGES }),
  });
  assertOpenAIError(r, { status: 502, code: 'upstream_error' });
  assert.match(r.json.error.message, /upstream answer too large/);
  const after = memoryKiB(dp.proc.pid);
  const peak = (after.hwm - before.hwm) / 1024;
  console.log(`A11: VmRSS ${before.rss} -> ${mid.rss} -> ${after.rss} KiB; peak (VmHWM) +${peakLines.toFixed(1)} MiB after the 4 lines, +${peak.toFixed(1)} MiB after the 40 MB body`);
  // the caps: 1 MiB per SSE event (4 x 10 MB lines at once: a node that kept them would grow
  // by 40 MB), 32 MiB per non-streamed body
  assert.ok(peakLines < 16, `peak RSS grew ${peakLines.toFixed(1)} MiB over four 10 MB lines`);
  assert.ok(peak < 48, `peak RSS grew ${peak.toFixed(1)} MiB with a 40 MB body (cap 32 MiB)`);
  // (malloc may keep the freed 32 MiB buffer's pages for the next one: bounded, not returned)
  assert.ok(after.rss - before.rss < 48 * 1024, `RSS bounded (${before.rss} -> ${after.rss} KiB)`);

  const recs = await settledRecords(cp, [dp.url], ws, 4 + 2 + 1);
  const huge = ofModel(recs, 'm-huge');
  assert.equal(huge.length, 4);
  for (const rec of huge) assertPartialRecord(rec, 'm-huge', 'upstream_error', raws[0].content.join('').length);
  assertZeroRecord(ofModel(recs, 'm-huge-first')[0], 'm-huge-first', 'upstream_error');
  assertOkRecord(ofModel(recs, 'm-fallback')[0], 'm-fallback', data.usage);
  assertZeroRecord(ofModel(recs, 'm-huge-body')[0], 'm-huge-body', 'upstream_error');
  await assertBilled(cp, ws, recs, CREDIT);
  okSeen[ws] = 1;
});

// ------------------------------------------------------------------------------------ A14

test('A14 every upstream 500 under load: at most max_attempts per request upstream, fast 502s, nothing billed', async () => {
  const ws = 'ws_a14';
  const key = await workspaceOnNode(cp, dp.url, ws, CREDIT);
  const REQUESTS = 200;
  const CONC = 20;
  const before = (await mock.stats()).requests;
  const lat = [];
  let next = 0;
  const statuses = new Map();
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < REQUESTS) {
        next++;
        const t = Date.now();
        const r = await httpRequest(`${dp.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm-500', models: ['m-503', 'm-500b', 'm-503b'], messages: MESSAGES }),
        });
        lat.push(Date.now() - t);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 502) assert.equal(r.json?.error?.code, 'upstream_error');
      }
    }),
  );
  const wall = Date.now() - t0;
  const upstream = (await mock.stats()).requests - before;
  lat.sort((a, b) => a - b);
  const p50 = lat[Math.floor(lat.length / 2)];
  const p99 = lat[Math.floor(lat.length * 0.99)];
  console.log(`A14: ${REQUESTS} requests in ${wall} ms, ${upstream} upstream attempts, p50 ${p50} ms, p99 ${p99} ms`);
  assert.deepEqual([...statuses], [[502, REQUESTS]], 'every request is a 502');
  assert.ok(upstream <= MAX_ATTEMPTS * REQUESTS, `no retry storm: ${upstream} upstream attempts for ${REQUESTS} requests (<= ${MAX_ATTEMPTS} each)`);
  // (each thread's breakers open after 100 straight failures of a model; then a request tries
  // fewer candidates, never none)
  assert.ok(upstream >= REQUESTS, `every request was tried upstream at least once (${upstream})`);
  // fast: no request waited on a timeout (first byte: 1.5 s) or a retry
  assert.ok(p50 < slack(300), `fast 502s: p50 ${p50} ms`);
  assert.ok(p99 < slack(1400), `fast 502s: p99 ${p99} ms`);

  const recs = await settledRecords(cp, [dp.url], ws, upstream);
  for (const rec of recs) assertZeroRecord(rec, rec.model, 'upstream_error');
  assert.equal(await assertBilled(cp, ws, recs, CREDIT), 0n);
  okSeen[ws] = 0;
});

test('the ledger after every row: invariants, one ok record per success seen', async () => {
  await checkLedger(cp, { okRequests: okSeen });
});
