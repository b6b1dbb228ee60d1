// Upstream faults, one mock scenario at a time: failover before the first byte, error events
// after it, timeouts, and what the client finally sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, OpenAI, requestId, slack, sseEvents, postRaw } from './lib/harness.mjs';

const s = useStack();
const MESSAGES = [{ role: 'user', content: 'tell me something' }];
const T = () => s.config.timeouts_ms;

const chatRaw = (model, extra = {}, opts = {}) =>
  s
    .client()
    .chat.completions.create({ model, messages: MESSAGES, ...extra }, opts)
    .withResponse();

/** Upstream requests the mock logged for one client request id, in arrival order. */
const upstreamCalls = (rid) => s.mock.requests().filter((e) => e.headers?.['x-request-id'] === rid);

/** Streams with the SDK, timing every chunk; returns { chunks, times, error, t0 }. */
async function streamTimed(model, extra = {}, opts = {}) {
  const t0 = Date.now();
  const { data: stream, response } = await s
    .client()
    .chat.completions.create({ model, messages: MESSAGES, stream: true, ...extra }, opts)
    .withResponse();
  const chunks = [];
  const times = [];
  let error = null;
  try {
    for await (const c of stream) {
      chunks.push(c);
      times.push(Date.now());
    }
  } catch (e) {
    error = e;
  }
  return { chunks, times, error, t0, tEnd: Date.now(), response };
}
const contentOf = (chunks) => chunks.filter((c) => c.choices[0]?.delta?.content).map((c) => c.choices[0].delta.content);

/** Raw SSE events of a streamed request, to see exactly how the stream ends. */
async function rawStream(model, extra = {}) {
  const r = await fetch(`${s.dp.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: MESSAGES, stream: true, ...extra }),
  });
  const events = [];
  let bodyError = null;
  try {
    for await (const ev of sseEvents(r.body)) events.push(ev);
  } catch (e) {
    bodyError = e;
  }
  return { status: r.status, headers: r.headers, events, bodyError };
}

/** Asserts a stream that delivered `n` content chunks and then ended with an OpenAI error event. */
function assertErrorEventEnd(raw, { n, code }) {
  assert.equal(raw.status, 200);
  assert.equal(raw.bodyError, null, `the HTTP response ends cleanly (chunked terminator), got ${raw.bodyError}`);
  assert.ok(raw.events.length > 0);
  const last = raw.events.at(-1);
  assert.ok(!last.incomplete, 'the last event is complete');
  assert.notEqual(last.data, '[DONE]', 'a failed stream must not end with [DONE]');
  const err = JSON.parse(last.data).error;
  assert.ok(err, `last event is an error event: ${last.data}`);
  assert.equal(typeof err.message, 'string');
  assert.equal(typeof err.type, 'string');
  if (code) assert.equal(err.code, code, last.data);
  const content = raw.events
    .slice(0, -1)
    .map((e) => JSON.parse(e.data))
    .filter((o) => o.choices?.[0]?.delta?.content);
  assert.equal(content.length, n, `${n} content chunks before the error`);
  assert.ok(!raw.events.some((e) => e.data === '[DONE]'), 'no [DONE] anywhere');
}

// ------------------------------------------------------------------ failover before any byte

test('primary 500 with a fallback -> 200 from the fallback, attempts 2', async () => {
  const rid = requestId('f500');
  const { data, response } = await chatRaw('m-500', { models: ['m-fallback'] }, { headers: { 'x-request-id': rid } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(response.headers.get('x-switchyard-provider'), 'backup');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(data.routing.selected, 'm-fallback');
  assert.ok(data.choices[0].message.content.length > 0);
  const calls = upstreamCalls(rid);
  assert.deepEqual(
    calls.map((c) => c.body.model),
    ['mock+status=500', 'mock-fallback'],
  );
  // the cost is the fallback's price ($0.10 / $0.20 per million)
  const cost = Number(response.headers.get('x-switchyard-cost'));
  const expect = (data.usage.prompt_tokens * 0.1 + data.usage.completion_tokens * 0.2) / 1e6;
  assert.ok(Math.abs(cost - expect) < 1e-9, `cost ${cost} is the fallback's ${expect}`);
});

test('primary 429 with retry-after and a fallback -> fallback', async () => {
  const rid = requestId('f429');
  const { data, response } = await chatRaw('m-429', { models: ['m-fallback'] }, { headers: { 'x-request-id': rid } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(data.routing.selected, 'm-fallback');
  assert.equal(upstreamCalls(rid).length, 2);
});

test('primary connection refused with a fallback -> fallback, quickly', async () => {
  const t0 = Date.now();
  const { data, response } = await chatRaw('m-dead', { models: ['m-fallback'] });
  const took = Date.now() - t0;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(data.routing.selected, 'm-fallback');
  assert.ok(took < T().connect, `refused is not a timeout (${took} ms)`);
});

test('connection refused on the only candidate -> 502 upstream_error', async () => {
  await assert.rejects(chatRaw('m-dead'), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name} ${e.status}`);
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_error');
    return true;
  });
});

test('primary hangs with a fallback -> fallback after the first-byte timeout', async () => {
  const t0 = Date.now();
  const { response } = await chatRaw('m-hang', { models: ['m-fallback'] });
  const took = Date.now() - t0;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.ok(took >= T().first_byte - 100, `waited for the first-byte timeout (${took} ms)`);
  assert.ok(took < T().first_byte + slack(1500), `then failed over promptly (${took} ms)`);
});

test('malformed JSON body (non-stream): failover with a fallback, else 502', async () => {
  const { response, data } = await chatRaw('m-malformed', { models: ['m-fallback'] });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(data.routing.selected, 'm-fallback');
  await assert.rejects(chatRaw('m-malformed'), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name} ${e.status}`);
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_error');
    return true;
  });
});

test('non-stream answer cut by a reset: failover with a fallback, else 502', async () => {
  const { response } = await chatRaw('m-reset', { models: ['m-fallback'] });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-fallback');
  await assert.rejects(chatRaw('m-reset'), (e) => e instanceof OpenAI.InternalServerError && e.status === 502 && e.code === 'upstream_error');
});

test('a chain of failures walks the list in order: 500, refused, then the fallback', async () => {
  const rid = requestId('chain');
  const { response, data } = await chatRaw('m-500', { models: ['m-dead', 'm-fallback'] }, { headers: { 'x-request-id': rid } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-switchyard-attempts'), '3');
  assert.equal(data.routing.selected, 'm-fallback');
  assert.deepEqual(
    upstreamCalls(rid).map((c) => c.body.model),
    ['mock+status=500', 'mock-fallback'],
  );
});

test('limits.max_attempts (3) caps the walk: the 4th candidate is never tried', async () => {
  const rid = requestId('cap');
  await assert.rejects(chatRaw('m-500', { models: ['m-503', 'm-dead', 'm-fallback'] }, { headers: { 'x-request-id': rid } }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name} ${e.status}`);
    assert.equal(e.status, 502);
    return true;
  });
  const models = upstreamCalls(rid).map((c) => c.body.model);
  assert.deepEqual(models, ['mock+status=500', 'mock+status=503']);
});

test('streamed request: failover before the first byte is invisible to the client', async () => {
  const r = await streamTimed('m-500', { models: ['m-fallback'] });
  assert.equal(r.error, null, `stream completed: ${r.error}`);
  assert.equal(r.response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.equal(r.response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(contentOf(r.chunks).length, 8);
  assert.equal(r.chunks.at(-1).choices[0].finish_reason, 'stop');

  const h = await streamTimed('m-hang', { models: ['m-fallback'] });
  assert.equal(h.error, null);
  assert.equal(h.response.headers.get('x-switchyard-model'), 'm-fallback');
  assert.ok(h.times[0] - h.t0 >= T().first_byte - 100, 'first chunk after the first-byte timeout');
});

// -------------------------------------------------------------- faults after the first byte

test('stream stall_after=2 -> 2 content chunks, then an error event after the idle timeout', async () => {
  const rid = requestId('stall');
  const r = await streamTimed('m-stall', { models: ['m-fallback'] }, { headers: { 'x-request-id': rid } });
  assert.deepEqual(contentOf(r.chunks), ['mock ', 'reply ']);
  assert.ok(r.error, 'the SDK iterator throws');
  assert.ok(r.error instanceof OpenAI.APIError, `APIError, got ${r.error.constructor.name}: ${r.error.message}`);
  const silent = r.tEnd - r.times.at(-1);
  assert.ok(silent >= T().idle - 100, `ended by the idle timeout (${silent} ms of silence)`);
  assert.ok(silent < T().idle + slack(1500), `within idle + slack (${silent} ms)`);
  // after the first byte there is no failover: the fallback would repeat the answer
  assert.deepEqual(
    upstreamCalls(rid).map((c) => c.body.model),
    ['mock+stall_after=2+chunks=6'],
  );

  const raw = await rawStream('m-stall');
  assertErrorEventEnd(raw, { n: 2, code: 'upstream_timeout' });
});

test('stream reset_after=2 -> 2 content chunks, then an error event', async () => {
  const r = await streamTimed('m-reset');
  assert.deepEqual(contentOf(r.chunks), ['mock ', 'reply ']);
  assert.ok(r.error instanceof OpenAI.APIError, `APIError, got ${r.error?.constructor.name}: ${r.error?.message}`);
  assertErrorEventEnd(await rawStream('m-reset'), { n: 2, code: 'upstream_error' });
});

test('stream truncate_after=2 (clean close, no [DONE]) -> error event, never a silent clean end', async () => {
  const r = await streamTimed('m-trunc');
  assert.deepEqual(contentOf(r.chunks), ['mock ', 'reply ']);
  assert.ok(r.error instanceof OpenAI.APIError, `APIError, got ${r.error?.constructor.name}: ${r.error?.message}`);
  assertErrorEventEnd(await rawStream('m-trunc'), { n: 2, code: 'upstream_error' });
});

test('stream with a malformed event mid-way -> error event after the good chunks', async () => {
  const r = await streamTimed('m-malformed');
  assert.equal(contentOf(r.chunks).length, 8, 'all good chunks before the bad event were relayed');
  assert.ok(r.error instanceof OpenAI.APIError, `APIError, got ${r.error?.constructor.name}: ${r.error?.message}`);
  const raw = await rawStream('m-malformed');
  assert.equal(raw.bodyError, null);
  const last = JSON.parse(raw.events.at(-1).data);
  assert.ok(last.error, 'ends with an error event');
  for (const ev of raw.events) assert.doesNotThrow(() => JSON.parse(ev.data), 'the malformed event itself is not relayed');
});

// -------------------------------------------------------------------------- benign variants

test('no_usage=1 -> still 200 (non-stream and stream)', async () => {
  const { data, response } = await chatRaw('m-nousage');
  assert.equal(response.status, 200);
  assert.equal(data.choices[0].message.content.split(' ').filter(Boolean).length, 8);
  assert.ok(data.usage == null, 'no usage invented in the body');
  assert.match(response.headers.get('x-switchyard-cost') ?? '', /^\d+(\.\d+)?$/);

  const r = await streamTimed('m-nousage', { stream_options: { include_usage: true } });
  assert.equal(r.error, null);
  assert.equal(contentOf(r.chunks).length, 8);
  assert.equal(r.chunks.at(-1).choices[0]?.finish_reason ?? r.chunks.at(-2).choices[0]?.finish_reason, 'stop');
});

test('ttft_ms=300: streaming works, first chunk after ~300 ms', async () => {
  const r = await streamTimed('m-ttft');
  assert.equal(r.error, null);
  assert.equal(contentOf(r.chunks).length, 8);
  const ttft = r.times[0] - r.t0;
  assert.ok(ttft >= 280, `first chunk after the provider's ttft (${ttft} ms)`);
  assert.ok(ttft < 300 + slack(1000), `not much later (${ttft} ms)`);
  assert.equal(r.chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('delay_ms=80 between chunks: chunks are relayed as they come, not buffered', async () => {
  const r = await streamTimed('m-delay');
  assert.equal(r.error, null);
  const content = r.chunks.map((c, i) => ({ c, t: r.times[i] })).filter((x) => x.c.choices[0]?.delta?.content);
  assert.equal(content.length, 5);
  const spread = content.at(-1).t - content[0].t;
  assert.ok(spread >= 4 * 80 * 0.8, `content chunks spread over time (${spread} ms for 4 gaps of 80 ms)`);
  const gaps = content.slice(1).map((x, i) => x.t - content[i].t);
  assert.ok(gaps.filter((g) => g >= 40).length >= 3, `chunks arrive one by one, not batched (gaps ${gaps.join(', ')} ms)`);
  // non-streamed, the same scenario is one answer after the generation time
  const t0 = Date.now();
  const { data } = await chatRaw('m-delay');
  assert.equal(data.choices[0].message.content, content.map((x) => x.c.choices[0].delta.content).join(''));
  assert.ok(Date.now() - t0 >= 5 * 80 - 20);
});

// ----------------------------------------------------------- upstream errors, no fallback left

test('upstream status errors without a fallback map to the documented statuses', async () => {
  const k = s.keys.main.key;
  const call = (model) => postRaw(s.dp, '/v1/chat/completions', { model, messages: MESSAGES }, { key: k });
  // 5xx -> 502 upstream_error
  for (const m of ['m-500', 'm-503']) {
    const r = await call(m);
    assert.equal(r.status, 502, `${m}: ${r.text}`);
    assert.equal(r.json.error.code, 'upstream_error');
    assert.equal(r.json.error.type, 'upstream_error');
  }
  // 429 on the only candidate -> 429 rate_limited with the provider's retry-after
  const rl = await call('m-429');
  assert.equal(rl.status, 429, rl.text);
  assert.equal(rl.json.error.code, 'rate_limited');
  assert.equal(rl.headers['retry-after'], '7');
  // 400 about the request itself -> 400 with the provider's words
  const bad = await call('m-400');
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.error.type, 'invalid_request_error');
  assert.match(bad.json.error.message, /mock/i, 'the provider message is passed on');
  // 404 from the provider -> 404 model_not_found
  const nf = await call('m-404');
  assert.equal(nf.status, 404, nf.text);
  assert.equal(nf.json.error.code, 'model_not_found');
  // 401 from the provider is the gateway's credential problem, not the client's key: 502
  const un = await call('m-401');
  assert.equal(un.status, 502, `upstream 401 must not look like a bad client key: ${un.text}`);
  assert.equal(un.json.error.code, 'upstream_error');
  for (const r of [rl, bad, nf, un]) assert.match(r.headers['content-type'], /^application\/json/);
});

// The idle timeout also bounds the silence inside a non-streamed body: without it, an upstream
// that stalls after its headers holds the client until timeouts_ms.total (10 min by default).
test('non-streamed answer that stalls mid-body -> 504 upstream_timeout after the idle timeout', async () => {
  const t0 = Date.now();
  const client = s.client(undefined, { timeout: T().idle + slack(3000) });
  await assert.rejects(client.chat.completions.create({ model: 'm-stall', messages: MESSAGES }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, `InternalServerError 504, got ${e.constructor.name} ${e.status ?? ''} after ${Date.now() - t0} ms`);
    assert.equal(e.status, 504);
    assert.equal(e.code, 'upstream_timeout');
    return true;
  });
});
