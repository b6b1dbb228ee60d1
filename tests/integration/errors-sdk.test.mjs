// Every gateway error reaches the official SDK as the matching error class (maxRetries: 0),
// with the status, code and param of the error table (common/sy_error.h).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, OpenAI, slack, requestId } from './lib/harness.mjs';

const s = useStack();
const MESSAGES = [{ role: 'user', content: 'hi' }];

/** Runs `fn`, expects it to reject with `cls`, checks status/code/param/type. Returns the error. */
async function expectError(fn, cls, { status, code, param, type } = {}) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${cls.name}, but the call succeeded`);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name} status=${err?.status} ${err?.message}`);
  assert.ok(err instanceof OpenAI.APIError);
  if (status !== undefined) assert.equal(err.status, status);
  if (code !== undefined) assert.equal(err.code, code, `code (${err.message})`);
  if (param !== undefined) assert.equal(err.param, param, `param (${err.message})`);
  if (type !== undefined) assert.equal(err.type, type, `type (${err.message})`);
  assert.equal(typeof err.error?.message, 'string', 'the error body has a message');
  assert.ok(err.error.message.length > 0);
  assert.ok(err.headers?.get('x-request-id'), 'x-request-id on the error');
  assert.match(err.headers.get('content-type') ?? '', /^application\/json/);
  return err;
}

const chat = (client, model = 'm-ok', extra = {}) => client.chat.completions.create({ model, messages: MESSAGES, ...extra });

test('missing key -> AuthenticationError 401 invalid_api_key', async () => {
  // the SDK refuses to run without a key, so remove its Authorization header explicitly
  const noKey = s.dp.client('unused', { defaultHeaders: { Authorization: null } });
  await expectError(() => chat(noKey), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
  // also on the models endpoints
  await expectError(() => noKey.models.list(), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
});

test('wrong key -> AuthenticationError 401 invalid_api_key (message does not echo the key)', async () => {
  const wrong = 'sk-sy-test-this-key-does-not-exist-0123456789';
  const e = await expectError(() => chat(s.dp.client(wrong)), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
  assert.ok(!e.message.includes(wrong), 'the presented key is not echoed');
  await expectError(() => chat(s.dp.client('short')), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
  await expectError(() => chat(s.dp.client(`${s.keys.main.key}x`)), OpenAI.AuthenticationError, { status: 401 });
  await expectError(() => s.dp.client(wrong).embeddings.create({ model: 'm-embed', input: 'x' }), OpenAI.AuthenticationError, { status: 401 });
});

test('revoked key -> AuthenticationError 401 invalid_api_key', async () => {
  await expectError(() => chat(s.client(s.keys.revoked.key)), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
  await expectError(() => s.client(s.keys.revoked.key).models.list(), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
});

test('expired key -> AuthenticationError 401 invalid_api_key; a key expiring tomorrow works', async () => {
  await expectError(() => chat(s.client(s.keys.expired.key)), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
  const ok = await chat(s.client(s.keys.future.key));
  assert.equal(ok.object, 'chat.completion');
});

test('model outside the key scope -> PermissionDeniedError 403 model_not_allowed', async () => {
  await expectError(() => chat(s.client(s.keys.scoped.key), 'm-secret'), OpenAI.PermissionDeniedError, { status: 403, code: 'model_not_allowed' });
  // also when only a fallback is outside the scope
  await expectError(() => chat(s.client(s.keys.scoped.key), 'm-ok', { models: ['m-secret'] }), OpenAI.PermissionDeniedError, { status: 403, code: 'model_not_allowed' });
  // the scoped key still works for its own model
  const ok = await chat(s.client(s.keys.scoped.key), 'm-ok');
  assert.equal(ok.object, 'chat.completion');
});

test('deactivated workspace -> PermissionDeniedError 403 account_disabled', async () => {
  await expectError(() => chat(s.client(s.keys.disabled.key)), OpenAI.PermissionDeniedError, { status: 403, code: 'account_disabled' });
  // the models listing answers the same admission errors as a model call
  await expectError(() => s.client(s.keys.disabled.key).models.list(), OpenAI.PermissionDeniedError, { status: 403, code: 'account_disabled' });
});

test('unknown model -> NotFoundError 404 model_not_found', async () => {
  await expectError(() => chat(s.client(), 'no-such-model'), OpenAI.NotFoundError, { status: 404, code: 'model_not_found', param: 'model' });
  await expectError(() => chat(s.client(), 'm-ok', { models: ['no-such-fallback'] }), OpenAI.NotFoundError, { status: 404, code: 'model_not_found' });
  await expectError(() => s.client().embeddings.create({ model: 'no-such-model', input: 'x' }), OpenAI.NotFoundError, { status: 404, code: 'model_not_found' });
});

test('bad temperature -> BadRequestError 400 with param "temperature"', async () => {
  for (const t of [5, -0.1, 2.01]) {
    await expectError(() => chat(s.client(), 'm-ok', { temperature: t }), OpenAI.BadRequestError, { status: 400, param: 'temperature', type: 'invalid_request_error' });
  }
  const ok = await chat(s.client(), 'm-ok', { temperature: 2 });
  assert.equal(ok.object, 'chat.completion', 'temperature 2 is allowed');
});

test('all candidates answer 429 -> RateLimitError 429 rate_limited with retry-after', async () => {
  const rid = requestId('all429');
  const e = await expectError(() => s.client().chat.completions.create({ model: 'm-429', models: ['m-429b'], messages: MESSAGES }, { headers: { 'x-request-id': rid } }), OpenAI.RateLimitError, {
    status: 429,
    code: 'rate_limited',
    type: 'rate_limit_error',
  });
  assert.equal(e.headers.get('retry-after'), '3', "retry-after is the last upstream's");
  const calls = s.mock.requests().filter((r) => r.headers?.['x-request-id'] === rid);
  assert.deepEqual(
    calls.map((c) => c.body.model),
    ['mock+status=429+retry_after=7', 'mock-b+status=429+retry_after=3'],
    'both candidates were tried, in order',
  );
});

test('upstream 500 on the only candidate -> InternalServerError 502 upstream_error', async () => {
  await expectError(() => chat(s.client(), 'm-500'), OpenAI.InternalServerError, { status: 502, code: 'upstream_error' });
  await expectError(() => chat(s.client(), 'm-503'), OpenAI.InternalServerError, { status: 502, code: 'upstream_error' });
});

test('upstream hangs -> InternalServerError 504 upstream_timeout after the first-byte timeout', async () => {
  const t0 = Date.now();
  await expectError(() => chat(s.client(), 'm-hang'), OpenAI.InternalServerError, { status: 504, code: 'upstream_timeout' });
  const took = Date.now() - t0;
  const fb = s.config.timeouts_ms.first_byte;
  assert.ok(took >= fb - 100, `waited for the first-byte timeout (${took} ms >= ${fb})`);
  assert.ok(took < fb + slack(2000), `but not much longer (${took} ms)`);
});

test('errors from streamed requests are plain JSON errors before the stream starts', async () => {
  await expectError(() => chat(s.client(), 'm-500', { stream: true }), OpenAI.InternalServerError, { status: 502, code: 'upstream_error' });
  await expectError(() => chat(s.client(), 'no-such-model', { stream: true }), OpenAI.NotFoundError, { status: 404 });
  await expectError(() => chat(s.dp.client('sk-wrong-wrong-wrong'), 'm-ok', { stream: true }), OpenAI.AuthenticationError, { status: 401 });
});
