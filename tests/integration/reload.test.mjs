// SIGHUP re-reads the config file: good files replace the snapshot whole (keys, catalog), bad
// files are rejected and the running snapshot stays; streams in flight are not disturbed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMock, startDp, makeTempDir, makeKey, catalog, closedPort, waitFor, slack, httpRequest, postRaw, parseMetrics, OpenAI, sseEvents } from './lib/harness.mjs';

let tmp, mock, dp, baseCfg;
const keyA = makeKey();
const keyB = makeKey();
const MESSAGES = [{ role: 'user', content: 'hi' }];

const withKeys = (keys, mutate) => {
  const c = structuredClone(baseCfg);
  c.keys = keys.map(([id, k, extra]) => ({ id, sha256: k.sha256, workspace: 'ws_main', ...extra }));
  if (mutate) mutate(c);
  return c;
};

/** Status of a chat call with `key` (raw fetch: no SDK error handling in the way). */
async function chatStatus(key, model = 'm-ok') {
  const r = await fetch(`${dp.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: MESSAGES }),
  });
  await r.arrayBuffer();
  return r.status;
}
const configVersion = async () => parseMetrics((await httpRequest(`${dp.url}/metrics`)).text).get('switchyard_config_version');
const rejections = () => (dp.proc.stderr.match(/config reload rejected/g) ?? []).length;

/** Writes `cfg`, sends SIGHUP and waits until `check` holds. */
async function reloadAndWait(cfg, check, what) {
  dp.writeConfig(cfg);
  dp.reload();
  await waitFor(check, { timeout: slack(3000), what });
}

/** Writes a bad file, sends SIGHUP, and waits for the rejection to be logged. */
async function reloadBad(content) {
  const n = rejections();
  dp.writeConfig(content);
  dp.reload();
  await waitFor(() => rejections() > n, { timeout: slack(3000), what: 'the "config reload rejected" log line' });
  assert.ok(dp.proc.running, 'the data plane is still running');
}

before(async () => {
  tmp = makeTempDir();
  mock = await startMock({ dir: tmp.dir });
  baseCfg = catalog({ mockPort: mock.port, deadPort: await closedPort() });
  dp = await startDp({ dir: tmp.dir, config: withKeys([['key_a', keyA]]), upstreamKey: 'sk-up-reload' });
});
after(async () => {
  const errs = [];
  for (const p of [dp, mock]) {
    try {
      await p?.stop();
    } catch (e) {
      errs.push(e.message);
    }
  }
  if (errs.length) throw new Error(errs.join('\n'));
  tmp?.cleanup();
});

test('SIGHUP: a new key works after the reload, a removed key stops working', async () => {
  assert.equal(await chatStatus(keyA.key), 200);
  assert.equal(await chatStatus(keyB.key), 401);
  assert.equal(await configVersion(), 1);

  await reloadAndWait(withKeys([['key_b', keyB]]), async () => (await chatStatus(keyB.key)) === 200, 'the new key to work');
  assert.equal(await chatStatus(keyA.key), 401, 'the key that left the file is gone');
  assert.equal(await configVersion(), 2);
  assert.ok(!dp.proc.stderr.includes(keyB.key) && !dp.proc.stderr.includes(keyA.key), 'keys never appear in the log');
});

test('SIGHUP with a broken config: rejected, the running snapshot and its keys stay', async () => {
  const version = await configVersion();
  await reloadBad('{ "providers": [ this is not json');
  assert.equal(await chatStatus(keyB.key), 200, 'old key still works after a broken file');
  assert.equal(await configVersion(), version, 'config version unchanged');

  // valid JSON that fails validation: a model pointing to an unknown provider
  await reloadBad(JSON.stringify(withKeys([['key_a', keyA]], (c) => c.models.push({ id: 'm-x', provider: 'nope', upstream: 'x' }))));
  assert.equal(await chatStatus(keyB.key), 200);
  assert.equal(await chatStatus(keyA.key), 401, 'nothing of the rejected file was applied');

  // ill-typed field inside an entry
  await reloadBad(JSON.stringify(withKeys([['key_a', keyA, { revoked: 'yes' }]])));
  // duplicate key hash
  await reloadBad(JSON.stringify(withKeys([['key_a', keyA], ['key_a2', keyA]])));
  // empty file
  await reloadBad('');
  assert.equal(await chatStatus(keyB.key), 200);
  assert.equal(await configVersion(), version);

  // and a good file afterwards is accepted again
  await reloadAndWait(withKeys([['key_a', keyA], ['key_b', keyB]]), async () => (await chatStatus(keyA.key)) === 200, 'key A back');
  assert.equal(await chatStatus(keyB.key), 200);
  assert.equal(await configVersion(), version + 1);
});

test('SIGHUP applies catalog changes and revocations', async () => {
  // m-ok now points at a failing upstream, a new model appears, key B is revoked
  await reloadAndWait(
    withKeys([['key_a', keyA], ['key_b', keyB, { revoked: true }]], (c) => {
      c.models.find((m) => m.id === 'm-ok').upstream = 'mock+status=500';
      c.models.push({ id: 'm-new', provider: 'mock', upstream: 'mock-new', input_per_m: '3', output_per_m: '4', context_window: 1000 });
    }),
    async () => (await chatStatus(keyB.key)) === 401,
    'key B revoked',
  );
  assert.equal(await chatStatus(keyA.key, 'm-ok'), 502, 'the new upstream of m-ok is used');
  assert.equal(await chatStatus(keyA.key, 'm-new'), 200);
  const m = await dp.client(keyA.key).models.retrieve('m-new');
  assert.equal(m.context_window, 1000);
  assert.equal(Number(m.input_per_m), 3);
  await assert.rejects(dp.client(keyB.key).models.list(), OpenAI.AuthenticationError);
});

test('a stream in flight during a reload completes on the snapshot it started with', async () => {
  await reloadAndWait(withKeys([['key_a', keyA]], (c) => c.models.push({ id: 'm-stream', provider: 'mock', upstream: 'mock+chunks=10+delay_ms=60' })), async () => (await chatStatus(keyA.key, 'm-stream')) === 200, 'm-stream');
  const r = await fetch(`${dp.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keyA.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-stream', messages: MESSAGES, stream: true }),
  });
  assert.equal(r.status, 200);
  const events = [];
  let reloaded = false;
  for await (const ev of sseEvents(r.body)) {
    events.push(ev);
    if (events.length === 3 && !reloaded) {
      reloaded = true;
      // the model and the key both disappear from the new snapshot
      dp.writeConfig(withKeys([['key_b', keyB]]));
      dp.reload();
    }
  }
  assert.ok(reloaded);
  assert.equal(events.at(-1).data, '[DONE]', 'the stream ends normally');
  assert.equal(events.filter((e) => e.data !== '[DONE]' && JSON.parse(e.data).choices?.[0]?.delta?.content).length, 10);
  await waitFor(async () => (await chatStatus(keyA.key, 'm-stream')) === 401, { what: 'the new snapshot to be in force' });
  assert.equal(await chatStatus(keyB.key), 200);
});

test('many reloads under load: no errors, no crash', async () => {
  const cfgs = [withKeys([['key_b', keyB]]), withKeys([['key_b', keyB], ['key_a', keyA]])];
  let stop = false;
  const statuses = [];
  const load = (async () => {
    while (!stop) statuses.push(await chatStatus(keyB.key));
  })();
  for (let i = 0; i < 20; i++) {
    dp.writeConfig(cfgs[i % 2]);
    dp.reload();
    await new Promise((r) => setTimeout(r, 25));
  }
  stop = true;
  await load;
  assert.ok(statuses.length > 0);
  assert.deepEqual([...new Set(statuses)], [200], 'key B valid in every snapshot: always 200');
  assert.ok(dp.proc.running);
});

// docs/dataplane.md: h2o enforces the start-up limit before reading a body; a reload may lower
// limits.max_body_bytes (checked per request), raising it above the start-up value needs a restart.
test('SIGHUP can lower limits.max_body_bytes, and restore it', async () => {
  const body = (n) => JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'y'.repeat(n) }] });
  const small = body(2000);
  const three = body(3 * 1024 * 1024);
  await reloadAndWait(
    withKeys([['key_a', keyA]], (c) => {
      c.limits.max_body_bytes = 1000;
    }),
    async () => (await postRaw(dp, '/v1/chat/completions', small, { key: keyA.key })).status === 413,
    'the 1000-byte limit',
  );
  const r1 = await postRaw(dp, '/v1/chat/completions', small, { key: keyA.key });
  assert.equal(r1.status, 413);
  assert.match(r1.headers['content-type'], /^application\/json/);
  assert.equal(r1.json?.error?.code, 'request_too_large');
  assert.ok(r1.headers['x-request-id']);
  assert.equal((await postRaw(dp, '/v1/chat/completions', JSON.stringify({ model: 'm-ok', messages: MESSAGES }), { key: keyA.key })).status, 200, 'small bodies still pass');

  await reloadAndWait(
    withKeys([['key_a', keyA]], (c) => {
      c.limits.max_body_bytes = 4 * 1024 * 1024;
    }),
    async () => (await postRaw(dp, '/v1/chat/completions', small, { key: keyA.key })).status === 200,
    'the 4 MiB limit again',
  );
  const r2 = await postRaw(dp, '/v1/chat/completions', three, { key: keyA.key });
  assert.equal(r2.status, 200, `3 MiB under the restored limit (got ${r2.status} ${r2.text.slice(0, 200)})`);
});
