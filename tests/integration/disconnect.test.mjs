// A client that goes away must cancel the upstream transfer at once (it is what we pay for).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, OpenAI, requestId, slack, waitFor, httpRequest, parseMetrics } from './lib/harness.mjs';

// A long first-byte timeout, so that only the client's departure can explain a prompt cancel.
const s = useStack({
  mutateConfig: (c) => {
    c.timeouts_ms.first_byte = 8000;
  },
});
const MESSAGES = [{ role: 'user', content: 'a long story please' }];

/** Waits for the mock's `closed` event of the upstream request that carried `rid`. */
async function upstreamClosed(rid, timeout) {
  const req = await s.mock.waitForRequest(rid);
  return s.mock.waitForEvent((e) => e.event === 'closed' && e.id === req.id, { timeout, what: `mock 'closed' for ${req.id} (${rid})` });
}

test('client aborts a slow stream after 2 chunks -> the upstream connection is closed within 1 s', async () => {
  const rid = requestId('abort');
  const statsBefore = await s.mock.stats();
  const ac = new AbortController();
  const stream = await s.client().chat.completions.create({ model: 'm-slow', messages: MESSAGES, stream: true }, { signal: ac.signal, headers: { 'x-request-id': rid } });
  let n = 0;
  let aborted = null;
  try {
    for await (const c of stream) {
      void c;
      if (++n === 2) {
        aborted = Date.now();
        ac.abort(); // the SDK ends the iteration quietly (or throws APIUserAbortError)
      }
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `abort error, got ${e}`);
  }
  assert.equal(n, 2, 'read exactly 2 chunks');
  assert.ok(aborted);

  const closed = await upstreamClosed(rid, slack(1500));
  const delay = closed.ts_ms - aborted;
  assert.ok(delay <= slack(1000), `the mock saw the close ${delay} ms after the client aborted (<= 1000)`);
  assert.ok(closed.after_chunks < 50, `the upstream stream was cut early (after ${closed.after_chunks} chunks)`);

  const stats = await s.mock.stats();
  assert.ok(stats.closed > statsBefore.closed, 'mock stats count the closed connection');
  await waitFor(async () => (await s.mock.stats()).in_flight === 0, { what: 'mock in_flight back to 0' });
  // and the gateway's stream gauge goes back to 0
  await waitFor(
    async () => {
      const m = parseMetrics((await httpRequest(`${s.dp.url}/metrics`)).text);
      return m.get('switchyard_inflight_streams') === 0;
    },
    { what: 'switchyard_inflight_streams back to 0' },
  );
});

test('many aborted streams leave nothing behind: in-flight gauges return to 0 and the gateway still serves', async () => {
  const ids = [];
  const base = await s.mock.stats();
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const rid = requestId(`many${i}`);
      ids.push(rid);
      const ac = new AbortController();
      const stream = await s.client().chat.completions.create({ model: 'm-slow', messages: MESSAGES, stream: true }, { signal: ac.signal, headers: { 'x-request-id': rid } });
      try {
        let n = 0;
        for await (const c of stream) {
          void c;
          if (++n === 1 + (i % 3)) ac.abort();
        }
      } catch (e) {
        assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `abort error, got ${e}`);
      }
    }),
  );
  for (const rid of ids) await upstreamClosed(rid, slack(2000));
  await waitFor(async () => (await s.mock.stats()).in_flight <= base.in_flight, { what: 'mock in_flight back to where it was' });
  await waitFor(
    async () => {
      const m = parseMetrics((await httpRequest(`${s.dp.url}/metrics`)).text);
      return m.get('switchyard_inflight_streams') === 0 && m.get('switchyard_inflight_requests') <= 1;
    },
    { what: 'gateway in-flight gauges back to 0' },
  );
  const ok = await s.client().chat.completions.create({ model: 'm-ok', messages: MESSAGES });
  assert.equal(ok.object, 'chat.completion');
});

test('client aborts a non-streamed request mid-generation -> the upstream is cancelled within 1 s', async () => {
  // m-slow non-streamed: the mock answers after 50 x 100 ms; the client gives up after 300 ms.
  const rid = requestId('abort-ns');
  const ac = new AbortController();
  const p = s.client().chat.completions.create({ model: 'm-slow', messages: MESSAGES }, { signal: ac.signal, headers: { 'x-request-id': rid } });
  await s.mock.waitForRequest(rid);
  await new Promise((r) => setTimeout(r, 300));
  const aborted = Date.now();
  ac.abort();
  await assert.rejects(p);
  // h2o 2.2.5 stops reading a connection while a request is processed: the gateway must watch
  // the socket itself, or the upstream runs on until a timeout (first_byte here is 8 s).
  const closed = await upstreamClosed(rid, slack(3000));
  const delay = closed.ts_ms - aborted;
  assert.ok(delay <= slack(1000), `the mock saw the close ${delay} ms after the client aborted (<= 1000)`);
});

test('client gives up while the upstream hangs before the first byte -> upstream cancelled within 1 s', async () => {
  const rid = requestId('abort-hang');
  const ac = new AbortController();
  const p = s.client().chat.completions.create({ model: 'm-hang', messages: MESSAGES, stream: true }, { signal: ac.signal, headers: { 'x-request-id': rid } });
  await s.mock.waitForRequest(rid);
  await new Promise((r) => setTimeout(r, 200));
  const aborted = Date.now();
  ac.abort();
  await assert.rejects(p);
  // same as above, before the upstream's first byte (not the first-byte timeout: 8 s here)
  const closed = await upstreamClosed(rid, slack(3000));
  const delay = closed.ts_ms - aborted;
  assert.ok(delay <= slack(1000), `the mock saw the close ${delay} ms after the client aborted (<= 1000)`);
});

