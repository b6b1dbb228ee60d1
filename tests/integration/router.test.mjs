// The router end to end: failover across providers (three mock processes "a", "b", "c", so the
// mock that logged a request shows who served it), every candidate failing, the per-thread
// circuit breaker and the 429 cool-down, failures before and after the first content byte of a
// stream, strategy:cost on the shipped catalog (deploy/catalog.json, every provider rewritten
// to a loopback mock), the model forms (auto, strategy:, industry:, route, override tags) and
// the X-Switchyard-Task / -Difficulty headers.
//
// Three data planes:
//   main     own catalog, 2 threads; breakers effectively off (failures 100) so every test
//            sees the plain failover walk
//   breaker  own catalog, 1 thread (breakers are per thread: with one thread their state is
//            deterministic), routing.breaker {failures 2, cooldown_ms 800}
//   deploy   deploy/catalog.json with base_urls and api_key_env rewritten
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { OpenAI, REPO, makeTempDir, startMock, startDp, makeKey, postRaw, requestId, sseEvents, assertOpenAIError, slack, sleep, waitFor, stopAll } from './lib/harness.mjs';

const TIMEOUTS = { connect: 500, first_byte: 800, idle: 800, total: 10000 };
const TASKS = ['code', 'math', 'reasoning', 'writing', 'extraction', 'summarization', 'translation', 'research', 'chat'];
const DIFFICULTIES = ['easy', 'medium', 'hard'];
const CHAT = '/v1/chat/completions';
const MESSAGES = [{ role: 'user', content: 'tell me something' }];
/** The mock's default answer (8 units). */
const MOCK_TEXT = 'mock reply alpha bravo charlie delta echo foxtrot ';

const EASY_PROMPT = 'What is the capital of France?';
const HARD_CODE_PROMPT =
  'Implement a lock-free multi-producer multi-consumer queue in C11 using atomics, with ABA protection via ' +
  'tagged pointers or hazard pointers, a bounded ring-buffer variant, and a benchmark harness with pthreads that ' +
  'measures throughput and tail latency under contention. Explain the memory ordering of every atomic operation ' +
  'and prove the queue is linearizable.';

const tag = crypto.randomBytes(4).toString('hex'); // fresh fail_first counters per run

const st = { tmp: null, mocks: {}, main: null, brk: null, deploy: null, keys: {}, deployCatalog: null };

// ------------------------------------------------------------------------------- set-up

const model = (id, provider, upstream, extra = {}) => ({
  id,
  provider,
  upstream,
  input_per_m: '1.00',
  output_per_m: '2.00',
  context_window: 128000,
  capabilities: ['chat', 'tools', 'json'],
  ...extra,
});

function ownConfig(routing, keys) {
  const p = (id) => ({ id, kind: 'openai', base_url: `${st.mocks[id].url}/v1`, api_key_env: 'MOCK_KEY' });
  return {
    timeouts_ms: { ...TIMEOUTS },
    limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
    routing,
    providers: [p('a'), p('b'), p('c')],
    models: [
      model('p-500', 'a', 'mock+status=500'),
      model('p-429', 'a', 'mock+status=429+retry_after=7'),
      model('p-429x', 'a', 'mock-x+status=429+retry_after=2'),
      model('p-hang', 'a', 'mock+hang=1'),
      model('p-reset', 'a', 'mock+reset_after=2+chunks=6'),
      model('p-preamble', 'a', 'mock+reset_after=0'), // role chunk, then the connection breaks
      model('b-500', 'b', 'mock+status=500'),
      model('b-429', 'b', 'mock-b+status=429+retry_after=3'),
      model('b-hang', 'b', 'mock+hang=1'),
      model('c-500', 'c', 'mock+status=500'),
      model('f-b', 'b', 'mock-b'),
      model('f-c', 'c', 'mock-c'),
      // the breaker's subjects: fail the first N requests, then recover (the mock's counter
      // is per exact upstream name, so each model has its own)
      model('flaky2', 'a', `mock+fail_first=2+tag=${tag}1`),
      model('flaky3', 'a', `mock+fail_first=3+tag=${tag}2`),
      model('rl1', 'a', `mock+fail_first=1+status=429+retry_after=1+tag=${tag}3`),
      // only for the 503 test: chat without vision, in scope of the "novision" key
      model('plain', 'c', 'mock-plain', { capabilities: ['chat'] }),
    ],
    workspaces: [{ id: 'ws', active: true }],
    keys,
  };
}

before(async () => {
  st.tmp = makeTempDir('sy-router-');
  const dir = st.tmp.dir;
  for (const id of ['a', 'b', 'c']) st.mocks[id] = await startMock({ dir });
  st.keys = { main: makeKey(), novision: makeKey(), scoped: makeKey() };
  const ownKeys = [
    { id: 'key_main', sha256: st.keys.main.sha256, workspace: 'ws', allowed_models: ['*'] },
    { id: 'key_novision', sha256: st.keys.novision.sha256, workspace: 'ws', allowed_models: ['plain'] },
  ];
  const upstreamKey = `sk-upstream-${crypto.randomBytes(8).toString('hex')}`;
  st.main = await startDp({ dir, config: ownConfig({ breaker: { failures: 100 } }, ownKeys), upstreamKey, threads: 2 });
  st.brk = await startDp({ dir, config: ownConfig({ breaker: { failures: 2, cooldown_ms: 800 } }, ownKeys), upstreamKey, threads: 1 });

  // the shipped catalog, with nothing leaving loopback
  const cat = JSON.parse(fs.readFileSync(path.join(REPO, 'deploy', 'catalog.json'), 'utf8'));
  const route = { openai: 'a', anthropic: 'b', google: 'c', deepseek: 'a', selfhosted: 'b' };
  for (const p of cat.providers) {
    assert.ok(route[p.id], `deploy catalog provider ${p.id} is mapped to a mock`);
    p.base_url = `${st.mocks[route[p.id]].url}/v1`;
    p.api_key_env = 'MOCK_KEY';
  }
  cat.timeouts_ms = { ...TIMEOUTS };
  // the shipped catalog's industry tiers (legal, healthcare, finance) are used as they are
  cat.workspaces = [{ id: 'ws', active: true }];
  cat.keys = [
    { id: 'key_main', sha256: st.keys.main.sha256, workspace: 'ws', allowed_models: ['*'] },
    { id: 'key_scoped', sha256: st.keys.scoped.sha256, workspace: 'ws', allowed_models: ['gpt-5-nano', 'gpt-4o-mini', 'llama-3.1-8b', 'gemini-2.5-flash-lite'] },
  ];
  st.deployCatalog = cat;
  st.providerMock = route;
  st.deploy = await startDp({ dir, config: cat, upstreamKey, threads: 2 });
});

after(() => stopAll([st.main, st.brk, st.deploy, ...Object.values(st.mocks)], st.tmp));

// ------------------------------------------------------------------------------ helpers

/** Chat requests a mock logged for one client request id. */
const calls = (mockId, rid) => st.mocks[mockId].requests().filter((e) => e.path === CHAT && e.headers?.['x-request-id'] === rid);
/** The mock's final log line (done) for one of its request ids ("mock-7"). */
const doneOf = (mockId, id) => st.mocks[mockId].events().find((e) => e.event === 'done' && e.id === id);

/** Non-streamed chat through the SDK; resolves with { data, response, rid }. */
async function chat(dp, body, { key = st.keys.main.key, rid = requestId('rt') } = {}) {
  const { data, response } = await dp
    .client(key)
    .chat.completions.create({ messages: MESSAGES, ...body }, { headers: { 'x-request-id': rid } })
    .withResponse();
  return { data, response, rid, h: (n) => response.headers.get(n) };
}

/** A streamed chat with raw SSE events (to see exactly what the client gets). */
async function rawStream(dp, body, { key = st.keys.main.key, rid = requestId('rs') } = {}) {
  const r = await fetch(`${dp.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': rid },
    body: JSON.stringify({ messages: MESSAGES, stream: true, ...body }),
  });
  const events = [];
  let bodyError = null;
  try {
    for await (const ev of sseEvents(r.body)) events.push(ev);
  } catch (e) {
    bodyError = e;
  }
  const json = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  return { status: r.status, headers: r.headers, events, json, bodyError, rid };
}
const contentOf = (chunks) => chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');

function assertRouting(data, { selected, objective, attempts, failover } = {}) {
  const ro = data.routing;
  assert.ok(ro && typeof ro === 'object', `non-streamed answer carries "routing": ${JSON.stringify(data).slice(0, 300)}`);
  if (selected !== undefined) assert.equal(ro.selected, selected, JSON.stringify(ro));
  if (objective !== undefined) assert.equal(ro.objective, objective, JSON.stringify(ro));
  assert.equal(typeof ro.candidates_considered, 'number', JSON.stringify(ro));
  assert.ok(ro.candidates_considered >= 1, JSON.stringify(ro));
  assert.equal(typeof ro.reason, 'string');
  if (attempts !== undefined) assert.equal(ro.attempts, attempts, JSON.stringify(ro));
  if (failover === true) assert.match(ro.reason, /failover/, JSON.stringify(ro));
  if (failover === false) assert.doesNotMatch(ro.reason, /failover/, JSON.stringify(ro));
  return ro;
}

function assertServedBy(res, { model: m, provider, attempts }) {
  assert.equal(res.h('x-switchyard-model'), m, 'x-switchyard-model');
  assert.equal(res.h('x-switchyard-provider'), provider, 'x-switchyard-provider');
  assert.equal(res.h('x-switchyard-attempts'), String(attempts), 'x-switchyard-attempts');
}

const catModel = (id) => st.deployCatalog.models.find((m) => m.id === id);
const isChat = (m) => m.capabilities.includes('chat');

// ------------------------------------------------------------- 1. failover before any byte

test('failover: primary 500 -> the next candidate (another provider) serves, attempts 2', async () => {
  const r = await chat(st.main, { model: 'p-500', models: ['f-b'] });
  assert.equal(r.response.status, 200);
  assertServedBy(r, { model: 'f-b', provider: 'b', attempts: 2 });
  const ro = assertRouting(r.data, { selected: 'f-b', objective: 'explicit', attempts: 2, failover: true });
  assert.deepEqual(ro.candidates, ['p-500', 'f-b']);
  assert.equal(ro.candidates_considered, 2);
  assert.equal(r.data.choices[0].message.content, MOCK_TEXT);
  const [ca] = calls('a', r.rid);
  const [cb] = calls('b', r.rid);
  assert.equal(calls('a', r.rid).length, 1, 'mock a saw the first attempt once');
  assert.equal(ca.body.model, 'mock+status=500');
  assert.equal(doneOf('a', ca.id)?.status, 500);
  assert.equal(calls('b', r.rid).length, 1, 'mock b served the second attempt');
  assert.equal(cb.body.model, 'mock-b');
  assert.equal(calls('c', r.rid).length, 0);
});

test('failover: primary 429 with retry-after -> the next candidate serves', async () => {
  const r = await chat(st.main, { model: 'p-429', models: ['f-c'] });
  assertServedBy(r, { model: 'f-c', provider: 'c', attempts: 2 });
  assertRouting(r.data, { selected: 'f-c', attempts: 2, failover: true });
  assert.equal(calls('a', r.rid).length, 1);
  assert.equal(doneOf('a', calls('a', r.rid)[0].id)?.status, 429);
  assert.equal(calls('c', r.rid).length, 1);
});

test('failover: primary hangs -> first-byte timeout, then the next candidate serves', async () => {
  const t0 = Date.now();
  const r = await chat(st.main, { model: 'p-hang', models: ['f-b'] });
  const took = Date.now() - t0;
  assertServedBy(r, { model: 'f-b', provider: 'b', attempts: 2 });
  assertRouting(r.data, { selected: 'f-b', attempts: 2, failover: true });
  assert.ok(took >= TIMEOUTS.first_byte - 50, `waited for the first-byte timeout (${took} ms)`);
  assert.ok(took < TIMEOUTS.first_byte + slack(1500), `then failed over promptly (${took} ms)`);
  const [ca] = calls('a', r.rid);
  assert.ok(ca, 'mock a saw the hung attempt');
  // the gateway gave up on the hung request: the mock notices the client leaving
  await st.mocks.a.waitForEvent((e) => e.event === 'closed' && e.id === ca.id, { what: 'mock a: the hung request was abandoned' });
  assert.equal(calls('b', r.rid).length, 1);
});

test('failover: primary resets mid-body (non-stream) -> the next candidate serves', async () => {
  const r = await chat(st.main, { model: 'p-reset', models: ['f-c'] });
  assertServedBy(r, { model: 'f-c', provider: 'c', attempts: 2 });
  assertRouting(r.data, { selected: 'f-c', attempts: 2, failover: true });
  assert.equal(r.data.choices[0].message.content, MOCK_TEXT, 'the answer is the fallback one, whole');
  assert.equal(doneOf('a', calls('a', r.rid)[0].id)?.outcome, 'reset');
  assert.equal(calls('c', r.rid).length, 1);
});

test('failover: a chain across three providers (500, 500, then c) -> attempts 3', async () => {
  const r = await chat(st.main, { model: 'p-500', models: ['b-500', 'f-c'] });
  assertServedBy(r, { model: 'f-c', provider: 'c', attempts: 3 });
  assertRouting(r.data, { selected: 'f-c', attempts: 3, failover: true });
  assert.deepEqual(
    ['a', 'b', 'c'].map((m) => calls(m, r.rid).length),
    [1, 1, 1],
  );
});

test('failover: route.fallbacks is walked like models', async () => {
  const r = await chat(st.main, { model: 'p-500', route: { fallbacks: ['f-b'] } });
  assertServedBy(r, { model: 'f-b', provider: 'b', attempts: 2 });
  assertRouting(r.data, { selected: 'f-b', failover: true });
  const up = calls('b', r.rid)[0].body;
  assert.ok(!('route' in up) && !('models' in up), 'the gateway extensions are not forwarded upstream');
});

test('a served first attempt says attempts 1 and no failover in the reason', async () => {
  const r = await chat(st.main, { model: 'f-b', models: ['f-c'] });
  assertServedBy(r, { model: 'f-b', provider: 'b', attempts: 1 });
  const ro = assertRouting(r.data, { selected: 'f-b', objective: 'explicit', attempts: 1, failover: false });
  assert.equal(ro.reason, 'requested model');
  assert.equal(calls('c', r.rid).length, 0, 'the fallback is not touched');
});

// ---------------------------------------------------------- 2. every candidate failing

// docs/errors.md (and DESIGN's table): the LAST candidate's failure decides — 502 upstream_error
// (5xx, reset), 504 upstream_timeout, 429 rate_limited when every candidate answered 429;
// 503 no_provider_available only when no candidate could even be tried.
test('every candidate answers 5xx -> 502 upstream_error (SDK: InternalServerError), all three tried', async () => {
  const rid = requestId('all5xx');
  await assert.rejects(
    st.main
      .client(st.keys.main.key)
      .chat.completions.create({ model: 'p-500', models: ['b-500', 'c-500'], messages: MESSAGES }, { headers: { 'x-request-id': rid } }),
    (e) => {
      assert.ok(e instanceof OpenAI.APIError, `${e.constructor.name}`);
      assert.equal(e.status, 502, e.message);
      assert.equal(e.code, 'upstream_error');
      assert.match(e.message, /c-500/, 'the message names the last model tried');
      return true;
    },
  );
  assert.deepEqual(
    ['a', 'b', 'c'].map((m) => calls(m, rid).length),
    [1, 1, 1],
  );
  // streamed: nothing was sent yet, so it is the same JSON error, not an SSE stream
  const raw = await postRaw(st.main, CHAT, { model: 'p-500', models: ['b-500'], messages: MESSAGES, stream: true }, { key: st.keys.main.key });
  assertOpenAIError(raw, { status: 502, code: 'upstream_error' }, 'streamed, all failed');
});

test('every candidate times out -> 504 upstream_timeout', async () => {
  const t0 = Date.now();
  const raw = await postRaw(st.main, CHAT, { model: 'p-hang', models: ['b-hang'], messages: MESSAGES }, { key: st.keys.main.key });
  const took = Date.now() - t0;
  assertOpenAIError(raw, { status: 504, code: 'upstream_timeout' }, 'all hung');
  assert.ok(took >= 2 * TIMEOUTS.first_byte - 100, `two first-byte timeouts (${took} ms)`);
});

test('every candidate answers 429 -> 429 rate_limited with the last retry-after', async () => {
  const raw = await postRaw(st.main, CHAT, { model: 'p-429x', models: ['b-429'], messages: MESSAGES }, { key: st.keys.main.key });
  assertOpenAIError(raw, { status: 429, code: 'rate_limited' }, 'all 429');
  assert.equal(raw.headers['retry-after'], '3');
});

test('no candidate can be tried -> 503 no_provider_available (SDK: APIError 503)', async () => {
  // auto with an image: the only model in the key's scope has no vision
  const rid = requestId('noprov');
  await assert.rejects(
    st.main.client(st.keys.novision.key).chat.completions.create(
      {
        model: 'auto',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'what is in this picture?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
      },
      { headers: { 'x-request-id': rid } },
    ),
    (e) => {
      assert.ok(e instanceof OpenAI.APIError, `${e.constructor.name}`);
      assert.equal(e.status, 503, e.message);
      assert.equal(e.code, 'no_provider_available');
      assert.match(e.message, /capability/, 'the message says what was missing');
      return true;
    },
  );
  for (const m of ['a', 'b', 'c']) assert.equal(calls(m, rid).length, 0, `mock ${m} saw nothing`);
});

// ------------------------------------------------------------------------ 3. the breaker

test('breaker: 2 failures open it, the open breaker is skipped, the half-open trial closes it', async () => {
  const body = { model: 'flaky2', models: ['f-b'] };
  // two failures: each failed over to b
  for (let i = 1; i <= 2; i++) {
    const r = await chat(st.brk, body);
    assertServedBy(r, { model: 'f-b', provider: 'b', attempts: 2 });
    assert.equal(calls('a', r.rid).length, 1, `failure ${i} reached mock a`);
    assert.equal(doneOf('a', calls('a', r.rid)[0].id)?.status, 500);
  }
  const tOpen = Date.now();
  // open: straight to the fallback, mock a sees nothing
  for (let i = 0; i < 2; i++) {
    const r = await chat(st.brk, body);
    assertServedBy(r, { model: 'f-b', provider: 'b', attempts: 1 });
    assertRouting(r.data, { selected: 'f-b', attempts: 1, failover: false });
    assert.equal(calls('a', r.rid).length, 0, 'the open breaker keeps the request away from mock a');
    assert.equal(calls('b', r.rid).length, 1);
  }
  assert.ok(Date.now() - tOpen < 700, `the open-state requests ran within the cooldown (${Date.now() - tOpen} ms); machine too slow for this check`);
  // cooldown over: the half-open trial goes to a, which has recovered (fail_first=2)
  await sleep(Math.max(0, tOpen + 800 + slack(150) - Date.now()));
  const trial = await chat(st.brk, body);
  assertServedBy(trial, { model: 'flaky2', provider: 'a', attempts: 1 });
  const [ta] = calls('a', trial.rid);
  assert.ok(ta, 'the trial reached mock a');
  assert.equal(doneOf('a', ta.id)?.outcome, 'ok');
  assert.equal(calls('b', trial.rid).length, 0);
  // closed again: the primary serves every request
  for (let i = 0; i < 3; i++) {
    const r = await chat(st.brk, body);
    assertServedBy(r, { model: 'flaky2', provider: 'a', attempts: 1 });
    assert.equal(calls('b', r.rid).length, 0);
  }
});

test('breaker: a failed half-open trial re-opens it for twice the cooldown', async () => {
  const body = { model: 'flaky3', models: ['f-b'] };
  for (let i = 0; i < 2; i++) assertServedBy(await chat(st.brk, body), { model: 'f-b', provider: 'b', attempts: 2 });
  const tOpen = Date.now();
  await sleep(Math.max(0, tOpen + 800 + slack(150) - Date.now()));
  // the trial: a fails a third time, b serves
  const trial = await chat(st.brk, body);
  const tReopen = Date.now();
  assertServedBy(trial, { model: 'f-b', provider: 'b', attempts: 2 });
  assert.equal(calls('a', trial.rid).length, 1, 'the trial went to mock a');
  // 1 cooldown (800 ms) later it is still open: the second open period is 1600 ms
  await sleep(Math.max(0, tReopen + 1000 - Date.now()));
  const still = await chat(st.brk, body);
  assert.ok(Date.now() - tReopen < 1500, `checked inside the doubled cooldown (${Date.now() - tReopen} ms)`);
  assertServedBy(still, { model: 'f-b', provider: 'b', attempts: 1 });
  assert.equal(calls('a', still.rid).length, 0, 'still open after one cooldown: the cooldown doubled');
  await sleep(Math.max(0, tReopen + 1600 + slack(150) - Date.now()));
  const ok = await chat(st.brk, body);
  assertServedBy(ok, { model: 'flaky3', provider: 'a', attempts: 1 });
});

test('breaker: a 429 with retry-after: 1 cools the model for about a second', async () => {
  const body = { model: 'rl1', models: ['f-c'] };
  const first = await chat(st.brk, body);
  const t429 = Date.now();
  assertServedBy(first, { model: 'f-c', provider: 'c', attempts: 2 });
  assert.equal(doneOf('a', calls('a', first.rid)[0].id)?.status, 429);
  // cooling: the model is skipped (one failure is below the breaker's 2, so this is the
  // retry-after cool-down, not the breaker)
  const cooled = await chat(st.brk, body);
  assertServedBy(cooled, { model: 'f-c', provider: 'c', attempts: 1 });
  assert.equal(calls('a', cooled.rid).length, 0, 'no request to the cooling model');
  await sleep(300);
  const cooled2 = await chat(st.brk, body);
  assert.ok(Date.now() - t429 < 950, `checked inside the second (${Date.now() - t429} ms)`);
  assertServedBy(cooled2, { model: 'f-c', provider: 'c', attempts: 1 });
  assert.equal(calls('a', cooled2.rid).length, 0);
  // a second later the model is back (and has recovered)
  await sleep(Math.max(0, t429 + 1000 + slack(150) - Date.now()));
  const back = await chat(st.brk, body);
  assertServedBy(back, { model: 'rl1', provider: 'a', attempts: 1 });
  assert.equal(calls('a', back.rid).length, 1);
});

// A half-open breaker lets exactly one trial through (dp_breaker.h). Whatever way that trial
// ends, the breaker must learn something or give the trial back: otherwise the model is
// skipped for good on that thread (dp_route_next only falls back to an open model when every
// candidate is open, so with a healthy fallback the recovered model is never seen again).
// Each case gets its own one-thread data plane so a stuck breaker cannot leak into other tests.
async function trialDp(stickyUpstream) {
  const t = `${tag}-${crypto.randomBytes(3).toString('hex')}`;
  const cfg = ownConfig({ breaker: { failures: 2, cooldown_ms: 800 } }, [{ id: 'key_main', sha256: st.keys.main.sha256, workspace: 'ws', allowed_models: ['*'] }]);
  cfg.models.push(model('gone', 'a', `mock+fail_first=2+ttft_ms=300+tag=${t}`), model('sticky', 'a', stickyUpstream));
  const dp = await startDp({ dir: st.tmp.dir, config: cfg, upstreamKey: 'sk-upstream-trial', threads: 1 });
  dp.reloadWith = async (mutate) => {
    const n = (dp.proc.stderr.match(/config reloaded/g) ?? []).length;
    mutate(cfg);
    dp.writeConfig(cfg);
    dp.reload();
    await waitFor(() => (dp.proc.stderr.match(/config reloaded/g) ?? []).length > n, { what: 'the "config reloaded" log line' });
  };
  return dp;
}

test('breaker: a half-open trial abandoned by its client does not park the model for good', async () => {
  const dp = await trialDp('mock');
  try {
    const body = { model: 'gone', models: ['f-b'] };
    for (let i = 0; i < 2; i++) assertServedBy(await chat(dp, body), { model: 'f-b', provider: 'b', attempts: 2 });
    const tOpen = Date.now();
    await sleep(Math.max(0, tOpen + 800 + slack(150) - Date.now()));
    // the trial: mock a holds it for 300 ms (ttft); the client leaves after 100 ms
    const rid = requestId('abandon');
    const ac = new AbortController();
    const p = fetch(`${dp.baseURL}/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${st.keys.main.key}`, 'content-type': 'application/json', 'x-request-id': rid },
      body: JSON.stringify({ ...body, messages: MESSAGES }),
    }).then(
      (r) => r.arrayBuffer(),
      (e) => e,
    );
    const trial = await st.mocks.a.waitForEvent((e) => e.event === 'request' && e.headers?.['x-request-id'] === rid, { what: 'the trial at mock a' });
    ac.abort();
    await p;
    await st.mocks.a.waitForEvent((e) => e.event === 'closed' && e.id === trial.id, { what: 'the gateway to drop the abandoned trial' });
    // mock a has recovered (fail_first=2 is used up). Within another cooldown the gateway
    // must try it again.
    await sleep(800 + slack(150));
    const r = await chat(dp, body);
    assert.equal(
      r.h('x-switchyard-model'),
      'gone',
      `the recovered model is tried again after the abandoned trial (served by ${r.h('x-switchyard-model')}, attempts ${r.h('x-switchyard-attempts')}, mock a saw ${calls('a', r.rid).length} request(s))`,
    );
    assertServedBy(r, { model: 'gone', provider: 'a', attempts: 1 });
  } finally {
    await dp.stop();
  }
});

test('breaker: a half-open trial answered with a 4xx about the request does not park the model for good', async () => {
  const dp = await trialDp(`mock+status=500+tag=${tag}s`);
  try {
    const body = { model: 'sticky', models: ['f-b'] };
    for (let i = 0; i < 2; i++) assertServedBy(await chat(dp, body), { model: 'f-b', provider: 'b', attempts: 2 });
    const tOpen = Date.now();
    // the provider now rejects the request itself (the catalog id, and so its breaker, stays)
    await dp.reloadWith((c) => (c.models.find((m) => m.id === 'sticky').upstream = `mock+status=400+tag=${tag}s`));
    await sleep(Math.max(0, tOpen + 800 + slack(150) - Date.now()));
    const trial = await postRaw(dp, CHAT, { ...body, messages: MESSAGES }, { key: st.keys.main.key });
    assertOpenAIError(trial, { status: 400, type: 'invalid_request_error' }, 'the trial: the provider rejected the request, passed through');
    // the provider is fine again; within another cooldown the gateway must try it
    await dp.reloadWith((c) => (c.models.find((m) => m.id === 'sticky').upstream = `mock-healthy+tag=${tag}s`));
    await sleep(800 + slack(150));
    const r = await chat(dp, body);
    assert.equal(
      r.h('x-switchyard-model'),
      'sticky',
      `the model is tried again after a trial that got a 4xx (served by ${r.h('x-switchyard-model')}, attempts ${r.h('x-switchyard-attempts')}, mock a saw ${calls('a', r.rid).length} request(s))`,
    );
    assertServedBy(r, { model: 'sticky', provider: 'a', attempts: 1 });
  } finally {
    await dp.stop();
  }
});

// ---------------------------------------------------------------- 4. streams and failures

test('stream: content then a reset -> error event at the end, no second provider', async () => {
  const raw = await rawStream(st.main, { model: 'p-reset', models: ['f-b'] });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('x-switchyard-model'), 'p-reset');
  assert.equal(raw.headers.get('x-switchyard-attempts'), '1');
  assert.equal(raw.bodyError, null, `the response itself ends cleanly: ${raw.bodyError}`);
  const last = raw.events.at(-1);
  assert.ok(!last.incomplete);
  assert.notEqual(last.data, '[DONE]');
  const err = JSON.parse(last.data).error;
  assert.ok(err, `ends with data: {"error":…}, got ${last.data}`);
  assert.equal(err.code, 'upstream_error');
  assert.equal(typeof err.message, 'string');
  assert.equal(contentOf(raw.json), 'mock reply ', 'exactly the 2 units mock a sent, nothing from anyone else');
  assert.ok(!raw.events.some((e) => e.data === '[DONE]'));
  assert.equal(raw.json.filter((c) => c.choices?.[0]?.delta?.role).length, 1, 'one beginning');
  assert.equal(calls('a', raw.rid).length, 1);
  assert.equal(doneOf('a', calls('a', raw.rid)[0].id)?.outcome, 'reset');
  assert.equal(calls('b', raw.rid).length, 0, 'no failover after content reached the client');

  // the SDK raises an APIError at the end of the same stream
  const stream = await st.main.client(st.keys.main.key).chat.completions.create({ model: 'p-reset', models: ['f-b'], messages: MESSAGES, stream: true });
  let text = '';
  await assert.rejects(
    (async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    })(),
    (e) => e instanceof OpenAI.APIError,
  );
  assert.equal(text, 'mock reply ');
});

test('stream: failure right after the role chunk -> replaced invisibly by the next candidate', async () => {
  const raw = await rawStream(st.main, { model: 'p-preamble', models: ['f-b'] });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('x-switchyard-model'), 'f-b');
  assert.equal(raw.headers.get('x-switchyard-provider'), 'b');
  assert.equal(raw.headers.get('x-switchyard-attempts'), '2');
  assert.equal(raw.bodyError, null);
  assert.equal(raw.events.at(-1).data, '[DONE]', 'a clean end');
  assert.ok(!raw.json.some((c) => c.error), 'no error event');
  const roles = raw.json.filter((c) => c.choices?.[0]?.delta?.role);
  assert.equal(roles.length, 1, `exactly one role chunk: ${raw.events.map((e) => e.data).join(' | ')}`);
  assert.equal(raw.json.indexOf(roles[0]), 0, 'and it comes first');
  assert.equal(contentOf(raw.json), MOCK_TEXT, "the fallback's whole answer");
  // mock a sent its role chunk and broke; every chunk the client got is mock b's
  const [ca] = calls('a', raw.rid);
  const [cb] = calls('b', raw.rid);
  assert.ok(ca && cb, 'both mocks saw the request');
  const da = doneOf('a', ca.id);
  assert.equal(da?.outcome, 'reset');
  assert.equal(da?.chunks, 0, 'mock a failed before any content unit');
  const bId = `chatcmpl-${cb.id.replace('-', '')}`;
  assert.ok(
    raw.json.every((c) => c.id === bId),
    `every chunk is from mock b (${bId}): ${[...new Set(raw.json.map((c) => c.id))]}`,
  );

  // the SDK sees an ordinary stream
  const stream = await st.main.client(st.keys.main.key).chat.completions.create({ model: 'p-preamble', models: ['f-b'], messages: MESSAGES, stream: true });
  let text = '';
  let roleChunks = 0;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.role) roleChunks++;
    text += c.choices[0]?.delta?.content ?? '';
  }
  assert.equal(roleChunks, 1);
  assert.equal(text, MOCK_TEXT);
});

// -------------------------------------------------------- 5. strategy:cost on the real catalog

/** What the cost objective must pick (dp_route.c): the cheapest of the models whose quality for
 * the task clears the bar for the difficulty (estimated cost of this request; ties: higher
 * quality). Returns the set of models that tie for cheapest. */
function cheapestClearing(task, difficulty, promptBytes) {
  const bar = { easy: 0.6, medium: 0.75, hard: 0.85 }[difficulty]; // the catalog has no routing.quality_bar
  const inTok = Math.floor(promptBytes / 4) + 1;
  const cost = (m) => inTok * Number(m.input_per_m) + 500 * Number(m.output_per_m);
  const ok = st.deployCatalog.models.filter((m) => isChat(m) && (m.quality?.[task] ?? 0) >= bar - 1e-9);
  assert.ok(ok.length > 0, `some model clears the ${difficulty} bar for ${task}`);
  const min = Math.min(...ok.map(cost));
  const cheapest = ok.filter((m) => cost(m) - min < 1e-6);
  const q = Math.max(...cheapest.map((m) => m.quality[task]));
  return { bar, winners: cheapest.filter((m) => m.quality[task] === q).map((m) => m.id), ok };
}

test('strategy:cost, easy question -> a cheap model that clears the bar, reason "cheapest"', async () => {
  const messages = [{ role: 'user', content: EASY_PROMPT }];
  const r = await chat(st.deploy, { model: 'strategy:cost', messages });
  assert.equal(r.h('x-switchyard-difficulty'), 'easy');
  const task = r.h('x-switchyard-task');
  assert.ok(TASKS.includes(task), task);
  const ro = assertRouting(r.data, { objective: 'cost', attempts: 1 });
  assert.match(ro.reason, /cheapest/);
  const sel = catModel(ro.selected);
  assert.ok(sel, `selected ${ro.selected} is a catalog model`);
  assert.ok(sel.tiers.includes('cheap'), `${sel.id} is tagged cheap (tiers ${sel.tiers})`);
  const { bar, winners } = cheapestClearing(task, 'easy', JSON.stringify(messages).length);
  assert.ok(sel.quality[task] >= bar, `${sel.id} clears the easy bar for ${task}`);
  assert.ok(winners.includes(sel.id), `${sel.id} is the cheapest that clears the bar (expected one of ${winners})`);
  assert.equal(ro.candidates_considered, st.deployCatalog.models.length);
  // served by the mock standing in for that model's provider, under its upstream name
  assert.equal(r.h('x-switchyard-model'), sel.id);
  assert.equal(r.h('x-switchyard-provider'), sel.provider);
  const [up] = calls(st.providerMock[sel.provider], r.rid);
  assert.ok(up, `the ${sel.provider} mock served it`);
  assert.equal(up.body.model, sel.upstream);
});

test('strategy:cost, hard systems-programming task -> code/hard, a model that clears the hard bar', async () => {
  const messages = [{ role: 'user', content: HARD_CODE_PROMPT }];
  const r = await chat(st.deploy, { model: 'strategy:cost', messages });
  assert.equal(r.h('x-switchyard-task'), 'code');
  assert.equal(r.h('x-switchyard-difficulty'), 'hard');
  const ro = assertRouting(r.data, { objective: 'cost' });
  assert.equal(ro.task, 'code');
  assert.equal(ro.difficulty, 'hard');
  assert.match(ro.reason, /cheapest/);
  const sel = catModel(ro.selected);
  const { bar, winners } = cheapestClearing('code', 'hard', JSON.stringify(messages).length);
  assert.ok(sel.quality.code >= bar, `${sel.id} code quality ${sel.quality.code} clears the hard bar ${bar}`);
  assert.ok(winners.includes(sel.id), `the cheapest model clearing the bar: expected one of ${winners}, got ${sel.id}`);
  // strictly stronger than what the easy question got: nothing below the bar
  assert.ok(!sel.tiers.includes('local'), 'the free local models do not clear the hard code bar');
  assert.equal(calls(st.providerMock[sel.provider], r.rid)[0]?.body.model, sel.upstream);
});

test('strategy:quality, the same hard task -> the strongest code model (>= 0.9)', async () => {
  const r = await chat(st.deploy, { model: 'strategy:quality', messages: [{ role: 'user', content: HARD_CODE_PROMPT }] });
  assert.equal(r.h('x-switchyard-task'), 'code');
  assert.equal(r.h('x-switchyard-difficulty'), 'hard');
  const ro = assertRouting(r.data, { objective: 'quality' });
  assert.match(ro.reason, /highest code quality/);
  const sel = catModel(ro.selected);
  const best = Math.max(...st.deployCatalog.models.filter(isChat).map((m) => m.quality.code));
  assert.ok(sel.quality.code >= 0.9, `${sel.id}: code quality ${sel.quality.code}`);
  assert.equal(sel.quality.code, best, 'the highest code quality in the catalog');
  // ties (0.95: gpt-5-codex, claude-sonnet-4-5, claude-opus-4-1) go to the cheapest
  assert.equal(sel.id, 'gpt-5-codex');
  assert.equal(r.h('x-switchyard-provider'), 'openai');
});

// ---------------------------------------------------------------------- 6. model forms

test('auto: balanced objective over the whole catalog, served through the chosen provider', async () => {
  const r = await chat(st.deploy, { model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
  const ro = assertRouting(r.data, { objective: 'balanced', attempts: 1 });
  assert.match(ro.reason, /^auto: best \w+ quality per dollar/);
  assert.equal(ro.candidates_considered, st.deployCatalog.models.length);
  assert.ok(ro.candidates.length >= 1 && ro.candidates.length <= 5, JSON.stringify(ro.candidates));
  for (const id of ro.candidates) assert.ok(isChat(catModel(id)), `${id} serves chat (no embedding model among the candidates)`);
  const sel = catModel(ro.selected);
  assert.equal(calls(st.providerMock[sel.provider], r.rid)[0]?.body.model, sel.upstream);
});

test('industry:<tag> and metadata.industry pick among the models with that tier', async () => {
  const tagged = st.deployCatalog.models.filter((m) => m.tiers.includes('healthcare')).map((m) => m.id);
  const a = await chat(st.deploy, { model: 'industry:healthcare', messages: [{ role: 'user', content: 'Summarize the contraindications of ibuprofen.' }] });
  const roA = assertRouting(a.data, { objective: 'balanced' });
  assert.ok(tagged.includes(roA.selected), `${roA.selected} is tagged healthcare`);
  assert.ok(
    roA.candidates.every((c) => tagged.includes(c)),
    `${roA.candidates}`,
  );
  assert.equal(roA.candidates_considered, tagged.length);
  assert.match(roA.reason, /^industry: /);

  const b = await chat(st.deploy, { model: 'auto', metadata: { industry: 'healthcare' }, messages: [{ role: 'user', content: 'Summarize the contraindications of ibuprofen.' }] });
  const roB = assertRouting(b.data);
  assert.equal(roB.selected, roA.selected, 'metadata.industry is the same as industry:');
  assert.deepEqual(roB.candidates, roA.candidates);
  // metadata is an OpenAI field: forwarded as it is to an OpenAI-dialect upstream (the tier's
  // selection may be an Anthropic or Gemini model, whose dialect has no such field: then the
  // tier's OpenAI model is asked explicitly)
  const kindOf = (id) => st.deployCatalog.providers.find((p) => p.id === catModel(id).provider).kind;
  const oai = kindOf(roB.selected) === 'openai' ? roB.selected : tagged.find((id) => kindOf(id) === 'openai');
  assert.ok(oai, `an OpenAI-dialect model is tagged healthcare (${tagged})`);
  const bo = oai === roB.selected ? b : await chat(st.deploy, { model: oai, metadata: { industry: 'healthcare' }, messages: [{ role: 'user', content: 'Summarize the contraindications of ibuprofen.' }] });
  assert.deepEqual(calls(st.providerMock[catModel(oai).provider], bo.rid)[0]?.body.metadata, { industry: 'healthcare' });

  // an industry no model is tagged for: plain auto, and the reason says so
  const c = await chat(st.deploy, { model: 'industry:aerospace', messages: [{ role: 'user', content: 'hi' }] });
  const roC = assertRouting(c.data);
  assert.match(roC.reason, /no model tagged for the industry; auto/);
  assert.equal(roC.candidates_considered, st.deployCatalog.models.length);
});

test('the shipped catalog has the industries docs/routing.md names, listed as industry: forms', async () => {
  for (const ind of ['legal', 'healthcare', 'finance']) {
    const tagged = st.deployCatalog.models.filter((m) => isChat(m) && m.tiers.includes(ind));
    assert.ok(tagged.length >= 2, `${ind}: ${tagged.map((m) => m.id)}`);
  }
  const r = await fetch(`${st.deploy.baseURL}/models`, { headers: { authorization: `Bearer ${st.keys.main.key}` } });
  assert.equal(r.status, 200);
  const ids = (await r.json()).data.map((m) => m.id);
  for (const ind of ['legal', 'healthcare', 'finance']) assert.ok(ids.includes(`industry:${ind}`), `industry:${ind} listed`);
  const f = await chat(st.deploy, { model: 'industry:finance', messages: [{ role: 'user', content: 'Explain what a bond duration of 7 years means.' }] });
  const ro = assertRouting(f.data);
  assert.ok(catModel(ro.selected).tiers.includes('finance'), `${ro.selected} is tagged finance`);
  assert.match(ro.reason, /^industry: /);
});

test('override tags keep their promise on the shipped catalog: @cheap cheapest, @fast fastest, @opus/@think most capable', async () => {
  const text = 'Implement a B-tree with deletion in Rust and prove the height bound.';
  // @cheap: the cheapest model of the cheap tier that can serve the request, whatever its quality
  const c = await chat(st.deploy, { model: 'auto', messages: [{ role: 'user', content: `@cheap ${text}` }] });
  const roC = assertRouting(c.data, { objective: 'cost' });
  assert.equal(roC.tag, '@cheap');
  const inTok = Math.floor(JSON.stringify([{ role: 'user', content: text }]).length / 4) + 1;
  const cost = (m) => inTok * Number(m.input_per_m) + 500 * Number(m.output_per_m);
  const cheapTier = st.deployCatalog.models.filter((m) => isChat(m) && m.tiers.includes('cheap'));
  const min = Math.min(...cheapTier.map(cost));
  assert.ok(cost(catModel(roC.selected)) - min < 1e-6, `${roC.selected} is the cheapest of the cheap tier (${cheapTier.map((m) => m.id)})`);
  assert.match(roC.reason, /^tag @cheap -> tier cheap: cheapest of \d+ eligible models, whatever their quality/);
  assert.equal(calls(st.providerMock[catModel(roC.selected).provider], c.rid)[0]?.body.messages.at(-1).content, text, 'the tag is gone');

  // @fast: the latency objective within the fast tier
  const f = await chat(st.deploy, { model: 'auto', messages: [{ role: 'user', content: `${text} @fast` }] });
  const roF = assertRouting(f.data, { objective: 'latency' });
  assert.ok(catModel(roF.selected).tiers.includes('fast'), `${roF.selected} is in the fast tier`);
  for (const id of roF.candidates) assert.ok(catModel(id).tiers.includes('fast'), `${id} is in the fast tier`);

  // @opus and @think: the highest quality for the task within the tier, whatever the form's objective
  for (const tag of ['@opus', '@think']) {
    const t = await chat(st.deploy, { model: 'strategy:cost', messages: [{ role: 'user', content: `${tag} ${text}` }] });
    const ro = assertRouting(t.data, { objective: 'quality' });
    const tier = tag.slice(1);
    const task = t.h('x-switchyard-task');
    const best = Math.max(...st.deployCatalog.models.filter((m) => isChat(m) && m.tiers.includes(tier)).map((m) => m.quality[task]));
    assert.equal(catModel(ro.selected).quality[task], best, `${tag}: ${ro.selected} has the best ${task} quality of tier ${tier}`);
  }
});

test('routing carries the classifier\'s confidence, and the reason says when routing leaned to a harder difficulty', async () => {
  const r = await chat(st.deploy, { model: 'strategy:cost', messages: [{ role: 'user', content: HARD_CODE_PROMPT }] });
  const ro = assertRouting(r.data);
  assert.ok(ro.confidence && typeof ro.confidence === 'object', JSON.stringify(ro));
  for (const k of ['task', 'difficulty']) assert.ok(ro.confidence[k] > 0 && ro.confidence[k] <= 1, `confidence.${k} = ${ro.confidence[k]}`);
  assert.ok(ro.confidence.task > 0.5, 'a clear code request is classified confidently');
  // existing fields are all still there
  for (const k of ['selected', 'provider', 'objective', 'candidates_considered', 'candidates', 'task', 'difficulty', 'attempts', 'reason'])
    assert.ok(k in ro, `routing.${k}`);
  if (ro.confidence.difficulty_leaned) assert.match(ro.reason, /difficulty uncertain \(\w+ [0-9.]+, harder [0-9.]+\): routed as \w+/);
  else assert.doesNotMatch(ro.reason, /uncertain/);
});

test('route object: objective + task_class + fallbacks', async () => {
  const r = await chat(st.deploy, {
    model: 'auto',
    route: { objective: 'quality', task_class: 'math', fallbacks: ['gpt-4o-mini'] },
    messages: [{ role: 'user', content: 'Write a haiku about autumn leaves.' }],
  });
  assert.equal(r.h('x-switchyard-task'), 'math', 'route.task_class overrides the classifier');
  const ro = assertRouting(r.data, { objective: 'quality' });
  const bestMath = Math.max(...st.deployCatalog.models.filter(isChat).map((m) => m.quality.math));
  assert.equal(catModel(ro.selected).quality.math, bestMath);
  assert.equal(ro.candidates.at(-1), 'gpt-4o-mini', 'route.fallbacks come after the auto picks');
  const up = calls(st.providerMock[catModel(ro.selected).provider], r.rid)[0]?.body;
  assert.ok(up && !('route' in up), 'route is not forwarded');

  // route.objective never turns an explicit model into auto
  const e = await chat(st.deploy, { model: 'gpt-5-nano', route: { objective: 'quality' }, messages: [{ role: 'user', content: 'hi' }] });
  const roE = assertRouting(e.data, { selected: 'gpt-5-nano', objective: 'explicit' });
  assert.deepEqual(roE.candidates, ['gpt-5-nano']);
});

test('@think override tag: a think-tier model, and the tag is stripped before forwarding', async () => {
  const text = '@think prove that there are infinitely many primes';
  const r = await chat(st.deploy, { model: 'auto', messages: [{ role: 'user', content: text }] });
  const ro = assertRouting(r.data);
  assert.equal(ro.tag, '@think');
  assert.match(ro.reason, /^tag @think -> tier think/);
  const sel = catModel(ro.selected);
  assert.ok(sel.tiers.includes('think'), `${sel.id} is a think model (tiers ${sel.tiers})`);
  for (const c of ro.candidates) assert.ok(catModel(c).tiers.includes('think'), `${c} is in the think tier`);
  const up = calls(st.providerMock[sel.provider], r.rid)[0];
  assert.ok(up, `the ${sel.provider} mock got the request`);
  assert.equal(up.body.model, sel.upstream);
  assert.equal(up.body.messages.at(-1).content, 'prove that there are infinitely many primes', 'the tag is gone');

  // content parts, tag at the end, earlier messages untouched
  const parts = await chat(st.deploy, {
    model: 'auto',
    messages: [
      { role: 'system', content: 'You are terse. @think is a word here.' },
      { role: 'user', content: [{ type: 'text', text: 'Is 2^61-1 a prime number? @think' }] },
    ],
  });
  const roP = assertRouting(parts.data);
  assert.equal(roP.tag, '@think');
  assert.ok(catModel(roP.selected).tiers.includes('think'));
  const upP = calls(st.providerMock[catModel(roP.selected).provider], parts.rid)[0].body;
  assert.deepEqual(upP.messages[1].content, [{ type: 'text', text: 'Is 2^61-1 a prime number?' }]);
  assert.equal(upP.messages[0].content, 'You are terse. @think is a word here.', 'only the last user message is rewritten');
});

test('precedence: tag + explicit model -> the tag wins, the explicit model is the first fallback', async () => {
  const r = await chat(st.deploy, {
    model: 'gpt-4o-mini',
    models: ['gpt-5-nano'],
    messages: [{ role: 'user', content: '@think prove that there are infinitely many primes' }],
  });
  const ro = assertRouting(r.data, { objective: 'quality' });
  assert.equal(ro.tag, '@think');
  assert.ok(catModel(ro.selected).tiers.includes('think'), `${ro.selected} is a think model`);
  assert.notEqual(r.h('x-switchyard-model'), 'gpt-4o-mini');
  const i = ro.candidates.indexOf('gpt-4o-mini');
  assert.ok(i > 0, `the explicit model is among the candidates, after the tag's: ${ro.candidates}`);
  assert.ok(
    ro.candidates.slice(0, i).every((c) => catModel(c).tiers.includes('think')),
    `${ro.candidates}`,
  );
  assert.equal(ro.candidates[i + 1], 'gpt-5-nano', '`models` come after it');
  assert.equal(ro.candidates.length, i + 2);
  const up = calls(st.providerMock[catModel(ro.selected).provider], r.rid)[0].body;
  assert.equal(up.messages[0].content, 'prove that there are infinitely many primes');
});

test('auto never picks outside the key scope', async () => {
  const scope = ['gpt-5-nano', 'gpt-4o-mini', 'llama-3.1-8b', 'gemini-2.5-flash-lite'];
  const cases = [
    { model: 'auto', content: HARD_CODE_PROMPT },
    { model: 'strategy:quality', content: HARD_CODE_PROMPT },
    { model: 'strategy:cost', content: EASY_PROMPT },
    { model: 'industry:healthcare', content: 'Summarize the contraindications of ibuprofen.' },
    { model: 'auto', content: '@think prove that there are infinitely many primes' },
  ];
  for (const c of cases) {
    const r = await chat(st.deploy, { model: c.model, messages: [{ role: 'user', content: c.content }] }, { key: st.keys.scoped.key });
    const ro = assertRouting(r.data);
    assert.ok(scope.includes(ro.selected), `${c.model}: selected ${ro.selected} is in scope`);
    for (const id of ro.candidates) assert.ok(scope.includes(id), `${c.model}: candidate ${id} is in scope`);
    assert.ok(scope.includes(r.h('x-switchyard-model')));
  }
  // and an explicit model outside it is refused before any upstream call
  const raw = await postRaw(st.deploy, CHAT, { model: 'gpt-5', messages: MESSAGES }, { key: st.keys.scoped.key });
  assertOpenAIError(raw, { status: 403, code: 'model_not_allowed' });
});

// ------------------------------------------------------------ 7. task / difficulty headers

test('x-switchyard-task and x-switchyard-difficulty: auto always; a named model only with routing.classify "all"', async () => {
  const check = (h, ctx) => {
    assert.ok(TASKS.includes(h('x-switchyard-task')), `${ctx}: x-switchyard-task ${h('x-switchyard-task')}`);
    assert.ok(DIFFICULTIES.includes(h('x-switchyard-difficulty')), `${ctx}: x-switchyard-difficulty ${h('x-switchyard-difficulty')}`);
  };
  // the default ("routed"): a named model is not classified, so nothing claims a task
  const n = await chat(st.main, { model: 'f-b' });
  assert.equal(n.response.status, 200);
  assert.equal(n.h('x-switchyard-task'), null, 'named model, default classify: no task header');
  assert.equal(n.h('x-switchyard-difficulty'), null);
  assert.equal(n.data.routing.task, undefined);
  assert.equal(n.data.routing.difficulty, undefined);
  const ns = await rawStream(st.main, { model: 'f-b' });
  assert.equal(ns.status, 200);
  assert.equal(ns.headers.get('x-switchyard-task'), null);
  // route.task_class names the task without classifying: no difficulty is made up
  const tc = await chat(st.main, { model: 'f-b', route: { task_class: 'math' } });
  assert.equal(tc.h('x-switchyard-task'), 'math');
  assert.equal(tc.h('x-switchyard-difficulty'), null);
  assert.equal(tc.data.routing.task, 'math');
  assert.equal(tc.data.routing.difficulty, undefined);

  // routing.classify "all": named models are classified too
  const cfg = ownConfig({ classify: 'all' }, [{ id: 'key_main', sha256: st.keys.main.sha256, workspace: 'ws', allowed_models: ['*'] }]);
  const all = await startDp({ dir: st.tmp.dir, config: cfg, upstreamKey: 'sk-upstream-classify', threads: 1 });
  try {
    const a = await chat(all, { model: 'f-b' });
    check(a.h, 'explicit, classify all, non-stream');
    assert.equal(a.data.routing.task, a.h('x-switchyard-task'));
    assert.equal(a.data.routing.difficulty, a.h('x-switchyard-difficulty'));
    const s = await rawStream(all, { model: 'f-b' });
    assert.equal(s.status, 200);
    check((k) => s.headers.get(k), 'explicit, classify all, stream');
    const code = await chat(all, { model: 'f-b', messages: [{ role: 'user', content: HARD_CODE_PROMPT }] });
    assert.equal(code.h('x-switchyard-task'), 'code');
    assert.equal(code.h('x-switchyard-difficulty'), 'hard');
  } finally {
    await stopAll([all]);
  }
  // anything else is refused when the catalog is loaded
  const bad = ownConfig({ classify: 'sometimes' }, []);
  await assert.rejects(startDp({ dir: st.tmp.dir, config: bad, upstreamKey: 'sk-upstream-classify', threads: 1 }), /classify/);

  const h = await chat(st.deploy, { model: 'auto', messages: [{ role: 'user', content: HARD_CODE_PROMPT }] });
  assert.equal(h.h('x-switchyard-task'), 'code');
  assert.equal(h.h('x-switchyard-difficulty'), 'hard');
  const hs = await rawStream(st.deploy, { model: 'auto', messages: [{ role: 'user', content: HARD_CODE_PROMPT }] });
  assert.equal(hs.headers.get('x-switchyard-task'), 'code');
  assert.equal(hs.headers.get('x-switchyard-difficulty'), 'hard');
  // browsers (they send Origin) may read them
  const br = await fetch(`${st.deploy.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${st.keys.main.key}`, 'content-type': 'application/json', origin: 'https://app.example' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: HARD_CODE_PROMPT }] }),
  });
  assert.equal(br.status, 200);
  await br.text();
  const expose = br.headers.get('access-control-expose-headers') ?? '';
  assert.match(expose, /x-switchyard-task/);
  assert.match(expose, /x-switchyard-difficulty/);
});
