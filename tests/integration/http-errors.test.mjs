// Raw HTTP: malformed and hostile requests get an OpenAI-shaped JSON error with the right status,
// and never reach the upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, httpRequest, postRaw, assertOpenAIError } from './lib/harness.mjs';

const s = useStack();
const MESSAGES = [{ role: 'user', content: 'hi' }];
const CHAT = '/v1/chat/completions';
const post = (body, opts = {}) => postRaw(s.dp, CHAT, body, { key: s.keys.main.key, ...opts });
const json = (o) => JSON.stringify(o);

/** Asserts that the mock saw no new request while `fn` ran. */
async function noUpstream(fn) {
  const before = (await s.mock.stats()).requests;
  const r = await fn();
  const after = (await s.mock.stats()).requests;
  assert.equal(after, before, 'the request must not reach the upstream');
  return r;
}

test('malformed JSON -> 400 invalid_request_error', async () => {
  const bodies = [
    '{"model": "m-ok", "messages": [',
    '{"model": "m-ok", "messages": [{"role":"user","content":"hi"}]} trailing',
    '{"model": "m-ok", "messages": [{"role":"user","content":"hi"}],}',
    "{'model': 'm-ok'}",
    '{"model": "m-ok" "messages": []}',
    '',
    'null',
    '[]',
    '"just a string"',
    '42',
  ];
  for (const b of bodies) {
    const r = await noUpstream(() => post(b));
    assertOpenAIError(r, { status: 400, type: 'invalid_request_error', code: 'invalid_request_error' }, `body ${JSON.stringify(b)}`);
  }
});

test('wrong field types -> 400 naming the field', async () => {
  const cases = [
    [{ model: 5, messages: MESSAGES }, 'model'],
    [{ model: null, messages: MESSAGES }, 'model'],
    [{ model: ['m-ok'], messages: MESSAGES }, 'model'],
    [{ model: 'm-ok', messages: 'x' }, 'messages'],
    [{ model: 'm-ok', messages: { role: 'user' } }, 'messages'],
    [{ model: 'm-ok', messages: MESSAGES, stream: 'yes' }, 'stream'],
    [{ model: 'm-ok', messages: MESSAGES, stream: 1 }, 'stream'],
    [{ model: 'm-ok', messages: MESSAGES, temperature: '0.5' }, 'temperature'],
    [{ model: 'm-ok', messages: MESSAGES, tools: {} }, 'tools'],
    [{ model: 'm-ok', messages: MESSAGES, response_format: 'json' }, 'response_format'],
    [{ model: 'm-ok', messages: MESSAGES, stream_options: true }, 'stream_options'],
    [{ model: 'm-ok', messages: MESSAGES, models: 'm-ok2' }, 'models'],
  ];
  for (const [body, param] of cases) {
    const r = await noUpstream(() => post(json(body)));
    assertOpenAIError(r, { status: 400, type: 'invalid_request_error', param }, json(body));
  }
});

test('missing or empty required fields -> 400 naming the field', async () => {
  const cases = [
    [{ messages: MESSAGES }, 'model'],
    [{ model: '', messages: MESSAGES }, 'model'],
    [{ model: 'm-ok' }, 'messages'],
    [{ model: 'm-ok', messages: [] }, 'messages'],
    [{}, 'model'],
  ];
  for (const [body, param] of cases) {
    const r = await noUpstream(() => post(json(body)));
    assertOpenAIError(r, { status: 400, param }, json(body));
  }
  // malformed messages
  for (const messages of [[1], ['hi'], [{ content: 'no role' }], [{ role: 'wizard', content: 'x' }], [{ role: 'user', content: 5 }]]) {
    const r = await noUpstream(() => post(json({ model: 'm-ok', messages })));
    assertOpenAIError(r, { status: 400 }, json(messages));
    assert.match(r.json.error.param ?? '', /^messages/, `param names messages: ${r.text}`);
  }
  // embeddings
  for (const [body, param] of [
    [{ model: 'm-embed' }, 'input'],
    [{ model: 'm-embed', input: [] }, 'input'],
    [{ model: 'm-embed', input: 5 }, 'input'],
    [{ input: 'x' }, 'model'],
  ]) {
    const r = await noUpstream(() => postRaw(s.dp, '/v1/embeddings', json(body), { key: s.keys.main.key }));
    assertOpenAIError(r, { status: 400, param }, json(body));
  }
});

test('parameter ranges: temperature, top_p, max_tokens, n, penalties', async () => {
  const cases = [
    ['temperature', 3],
    ['temperature', -1],
    ['top_p', 2],
    ['top_p', -0.5],
    ['max_tokens', 0],
    ['max_tokens', -1],
    ['max_tokens', 1.5],
    ['max_completion_tokens', 0],
    ['n', 0],
    ['presence_penalty', 3],
    ['frequency_penalty', -3],
  ];
  for (const [param, value] of cases) {
    const r = await noUpstream(() => post(json({ model: 'm-ok', messages: MESSAGES, [param]: value })));
    assertOpenAIError(r, { status: 400, type: 'invalid_request_error', param }, `${param}=${value}`);
  }
  // the edges themselves are fine
  for (const [param, value] of [
    ['temperature', 0],
    ['temperature', 2],
    ['top_p', 1],
    ['max_tokens', 1],
  ]) {
    const r = await post(json({ model: 'm-ok', messages: MESSAGES, [param]: value }));
    assert.equal(r.status, 200, `${param}=${value} is valid: ${r.text}`);
  }
});

const BIG = json({ model: 'm-ok', messages: [{ role: 'user', content: 'a'.repeat(10 * 1024 * 1024) }] });
const LIMIT = 4 * 1024 * 1024;
const HUGE = String(300 * 1024 * 1024); // announced only: beyond any read-ahead cap

test('10 MB body -> 413 request_too_large as JSON (content-length, Expect: 100-continue, chunked)', async () => {
  const r = await noUpstream(() => post(BIG));
  assertOpenAIError(r, { status: 413, code: 'request_too_large', type: 'invalid_request_error' }, 'content-length');

  // curl's default for big bodies
  const re = await noUpstream(() => post(BIG, { expectContinue: true }));
  assertOpenAIError(re, { status: 413, code: 'request_too_large' }, 'expect 100-continue');

  const rc = await noUpstream(() => post(BIG, { chunked: true }));
  assertOpenAIError(rc, { status: 413, code: 'request_too_large' }, 'chunked');

  // just over the 4 MiB default limit is refused too
  const over = json({ model: 'm-ok', messages: [{ role: 'user', content: 'b'.repeat(LIMIT) }] });
  assertOpenAIError(await noUpstream(() => post(over)), { status: 413, code: 'request_too_large' }, '4 MiB + envelope');

  // and the gateway is still healthy afterwards
  const ok = await post(json({ model: 'm-ok', messages: MESSAGES }));
  assert.equal(ok.status, 200);
});

test('an announced 300 MB body is refused at once with a JSON 413, without reading it', async () => {
  // the client sends only the headers and waits: the answer must not depend on the body
  const r = await noUpstream(() => post(null, { headers: { 'content-length': HUGE }, end: false, timeout: 5000 }));
  assertOpenAIError(r, { status: 413, code: 'request_too_large' }, 'content-length 300 MB');
  const re = await noUpstream(() => post(null, { headers: { 'content-length': HUGE }, expectContinue: true, timeout: 5000 }));
  assertOpenAIError(re, { status: 413, code: 'request_too_large' }, '300 MB with expect 100-continue');
});

test('the SDK sending a 10 MB body always gets the 413, never a connection reset', async () => {
  const outcomes = [];
  for (let i = 0; i < 5; i++) {
    try {
      await s.client().chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'a'.repeat(10 * 1024 * 1024) }] });
      outcomes.push('200');
    } catch (e) {
      outcomes.push(`${e.constructor.name}:${e.status}:${e.code}`);
    }
  }
  assert.deepEqual(outcomes, Array(5).fill('APIError:413:request_too_large'));
});

test('413 answers carry x-request-id and CORS headers like every other response', async () => {
  for (const [what, r] of [
    ['10 MB body', await post(BIG, { headers: { origin: 'https://app.example' } })],
    ['announced 300 MB', await post(null, { headers: { 'content-length': HUGE, origin: 'https://app.example' }, end: false, timeout: 5000 })],
  ]) {
    assert.equal(r.status, 413, what);
    assert.match(r.headers['x-request-id'] ?? '', /^[A-Za-z0-9._:-]{1,64}$/, `${what}: x-request-id (headers: ${JSON.stringify(r.headers)})`);
    assert.ok(r.headers['access-control-allow-origin'], `${what}: access-control-allow-origin`);
  }
});

test('a 3 MB body under the limit is forwarded whole', async () => {
  const content = 'word '.repeat(600 * 1024);
  const r = await post(json({ model: 'm-ok', messages: [{ role: 'user', content }] }), { headers: { 'x-request-id': 'it-big-under-limit' } });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const up = await s.mock.waitForRequest('it-big-under-limit');
  assert.equal(up.body.messages[0].content.length, content.length);
});

test('100k-deep nesting -> 400 (no crash); 65 levels -> 400; 20 levels are fine', async () => {
  const deep = '{"model":"m-ok","messages":[{"role":"user","content":"hi"}],"metadata":' + '['.repeat(100000) + ']'.repeat(100000) + '}';
  const r = await noUpstream(() => post(deep));
  assertOpenAIError(r, { status: 400 }, '100k-deep');
  const unbalanced = '{"model":"m-ok","messages":' + '['.repeat(100000);
  assertOpenAIError(await noUpstream(() => post(unbalanced)), { status: 400 }, '100k-deep unbalanced');
  const objs = '{"model":"m-ok","messages":[{"role":"user","content":"hi"}],"x":' + '{"a":'.repeat(65) + '1' + '}'.repeat(65) + '}';
  assertOpenAIError(await noUpstream(() => post(objs)), { status: 400 }, '65 levels');
  const fine = '{"model":"m-ok","messages":[{"role":"user","content":"hi"}],"x":' + '{"a":'.repeat(20) + '1' + '}'.repeat(20) + '}';
  const ok = await post(fine);
  assert.equal(ok.status, 200, ok.text);
});

test('invalid UTF-8 inside a JSON string -> 400', async () => {
  const seqs = [Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xe2, 0x82])];
  for (const bad of seqs) {
    const body = Buffer.concat([Buffer.from('{"model":"m-ok","messages":[{"role":"user","content":"he'), bad, Buffer.from('llo"}]}')]);
    const r = await noUpstream(() => post(body));
    assertOpenAIError(r, { status: 400, type: 'invalid_request_error' }, `bytes ${bad.toString('hex')}`);
  }
  // valid multi-byte UTF-8 and escapes pass
  const ok = await post(Buffer.from(json({ model: 'm-ok', messages: [{ role: 'user', content: 'héllo wörld — 日本語 😀 \u0001' }] })));
  assert.equal(ok.status, 200, ok.text);
});

test('CR/LF in the model name -> 400 param model', async () => {
  for (const model of ['m-ok\r\nX-Injected: 1', 'm-ok\n', '\rm-ok', 'm-ok\r']) {
    const r = await noUpstream(() => post(json({ model, messages: MESSAGES })));
    assertOpenAIError(r, { status: 400, param: 'model' }, JSON.stringify(model));
  }
  const r = await noUpstream(() => post(json({ model: 'm-ok', models: ['m-ok2\r\nX: y'], messages: MESSAGES })));
  assertOpenAIError(r, { status: 400, param: 'models' }, 'CR/LF in a fallback');
});

// cJSON stores strings NUL-terminated, so "m-ok\u0000junk" would read as "m-ok": such a name must
// be refused, not routed.
test('NUL (\\u0000) in the model name -> 400 param model, not a silently truncated name', async () => {
  for (const model of ['m-ok\u0000', 'm-ok\u0000junk']) {
    const r = await noUpstream(() => post(json({ model, messages: MESSAGES })));
    assertOpenAIError(r, { status: 400, param: 'model' }, JSON.stringify(model));
  }
});

test('unknown path -> 404, wrong method -> 405, both JSON', async () => {
  const auth = { authorization: `Bearer ${s.keys.main.key}` };
  for (const p of ['/', '/v2/chat/completions', '/v1/chat/completions/extra', '/v1/completions', '/v1/nope']) {
    const r = await httpRequest(s.dp.url + p, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: json({ model: 'm-ok', messages: MESSAGES }) });
    assertOpenAIError(r, { status: 404, code: 'not_found' }, `POST ${p}`);
  }
  assertOpenAIError(await httpRequest(`${s.dp.url}/nothing/here`, { headers: auth }), { status: 404 }, 'GET /nothing/here');

  for (const [method, p] of [
    ['GET', CHAT],
    ['PUT', CHAT],
    ['DELETE', CHAT],
    ['GET', '/v1/embeddings'],
    ['POST', '/v1/models'],
    ['DELETE', '/v1/models/m-ok'],
  ]) {
    const r = await httpRequest(s.dp.url + p, { method, headers: auth, body: method === 'GET' ? undefined : '' });
    assertOpenAIError(r, { status: 405, code: 'method_not_allowed' }, `${method} ${p}`);
  }
});

test('content-type is not required to be exact, but the body must be JSON', async () => {
  const r = await postRaw(s.dp, CHAT, json({ model: 'm-ok', messages: MESSAGES }), { key: s.keys.main.key, headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(r.status, 200, r.text);
  const form = await postRaw(s.dp, CHAT, 'model=m-ok&messages=hi', { key: s.keys.main.key, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assertOpenAIError(form, { status: 400 }, 'form body');
});
