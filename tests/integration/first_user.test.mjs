// What a first real user meets (issue 11, points 4 and 6): the seeds' request shapes
// (route.objective "quality-per-dollar", the routing forms in /v1/models), the access log that
// names unknown paths, failed failover attempts and the tokens billed for a cut stream, and the
// demo catalog whose `auto` never spends its first attempt on the failing demo-flaky model.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { useStack, startDp, stopAll, makeTempDir, requestId, waitFor, slack, OpenAI, REPO, httpRequest } from './lib/harness.mjs';

const s = useStack({
  mutateConfig: (c) => {
    c.models.find((m) => m.id === 'm-ok2').tiers = ['legal'];
    c.models.find((m) => m.id === 'm-ok').quality = { chat: 0.9, code: 0.9, math: 0.9, reasoning: 0.9, writing: 0.9, research: 0.9 };
    c.models.find((m) => m.id === 'm-fallback').quality = { chat: 0.8, code: 0.8, math: 0.8, reasoning: 0.8, writing: 0.8, research: 0.8 };
  },
});

const MESSAGES = [{ role: 'user', content: 'Hello there, how are you today?' }];

/** The access line of request `rid` (waits for it: it is written when the request ends). */
async function accessLine(rid) {
  return waitFor(() => s.dp.proc.stderr.split('\n').find((l) => l.includes('msg=access') && l.includes(`id=${rid} `)), {
    what: `the access line of ${rid}`,
  });
}

test('route.objective "quality-per-dollar" is the balanced objective, in the route object and as strategy:', async () => {
  const client = s.client();
  const a = await client.chat.completions.create({ model: 'auto', messages: MESSAGES, route: { objective: 'quality-per-dollar' } });
  const b = await client.chat.completions.create({ model: 'auto', messages: MESSAGES, route: { objective: 'balanced' } });
  const c = await client.chat.completions.create({ model: 'strategy:quality-per-dollar', messages: MESSAGES });
  for (const x of [a, b, c]) assert.equal(x.routing.objective, 'balanced');
  assert.equal(a.routing.selected, b.routing.selected);
  assert.equal(c.routing.selected, b.routing.selected);
  // still a closed list: a misspelt objective is a 400 naming the new spelling
  const err = await client.chat.completions.create({ model: 'auto', messages: MESSAGES, route: { objective: 'quality_per_dollar' } }).catch((e) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.param, 'route.objective');
  assert.match(err.message, /quality-per-dollar/);
});

test('/v1/models lists the routing forms the key can use; each can be retrieved and used', async () => {
  const client = s.client();
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const id of ['auto', 'strategy:balanced', 'strategy:quality-per-dollar', 'strategy:cost', 'strategy:quality', 'strategy:latency', 'industry:legal'])
    assert.ok(ids.includes(id), `${id} listed: ${ids.join(' ')}`);
  assert.ok(ids.includes('m-ok'), 'catalog models are still listed');
  assert.ok(!ids.includes('industry:cheap'), 'a tier an override tag points at (@cheap) is not an industry');
  assert.equal(new Set(ids).size, ids.length, 'each id once');

  // the SDK percent-encodes the ':' of a form; the gateway answers it
  for (const id of ['auto', 'strategy:cost', 'industry:legal']) {
    const m = await client.models.retrieve(id);
    assert.equal(m.id, id);
    assert.equal(m.owned_by, 'switchyard');
    assert.ok(m.routing && typeof m.routing.objective === 'string', JSON.stringify(m));
  }
  const nope = await client.models.retrieve('industry:nope').catch((e) => e);
  assert.equal(nope.status, 404);
  // an id taken from the list works as a model
  const r = await client.chat.completions.create({ model: 'industry:legal', messages: MESSAGES });
  assert.equal(r.model.length > 0, true);
  assert.equal(r.routing.selected, 'm-ok2', 'industry:legal routes within its tier');

  // a key scoped to one model still sees the forms (auto routes within its scope) ...
  const scoped = [];
  for await (const m of s.client(s.keys.scoped.key).models.list()) scoped.push(m.id);
  assert.ok(scoped.includes('auto') && scoped.includes('m-ok'), scoped.join(' '));
  assert.ok(!scoped.includes('industry:legal'), 'no industry the key has no model in');
  const sa = await s.client(s.keys.scoped.key).chat.completions.create({ model: 'auto', messages: MESSAGES });
  assert.equal(sa.routing.selected, 'm-ok');
});

test('a request to an unknown path is logged like any other (without its query string)', async () => {
  const rid = requestId('unknown');
  const r = await httpRequest(`${s.dp.url}/v1/nothing-here?api_key=sk-canary-in-query`, { headers: { 'x-request-id': rid } });
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'not_found');
  const line = await accessLine(rid);
  assert.match(line, /ep=unknown method=GET path="\/v1\/nothing-here" status=404/);
  assert.ok(!s.dp.proc.stderr.includes('sk-canary-in-query'), 'a key in the query string never reaches the log');
});

test('failed failover attempts are named in the access log: provider/model:why', async () => {
  const rid = requestId('failover');
  const r = await s.client().chat.completions.create({ model: 'm-500', models: ['m-dead', 'm-ok'], messages: MESSAGES }, { headers: { 'x-request-id': rid } });
  assert.equal(r.routing.selected, 'm-ok');
  const line = await accessLine(rid);
  assert.match(line, / status=200 end=ok model=m-ok provider=mock /);
  assert.match(line, / attempts=3 failed=mock\/m-500:http_500,dead\/m-dead:connect /);
  // a request whose attempts all fail names each of them too
  const rid2 = requestId('allfail');
  const e = await s.client().chat.completions.create({ model: 'm-503', models: ['m-500'], messages: MESSAGES }, { headers: { 'x-request-id': rid2 } }).catch((x) => x);
  assert.equal(e.status, 502);
  assert.match(await accessLine(rid2), / attempts=2 failed=mock\/m-503:http_503,mock\/m-500:http_500 /);
});

test('a stream reset mid-way logs the tokens and cost it was billed (an estimate: no provider usage arrived)', async () => {
  const rid = requestId('reset');
  const stream = await s.client().chat.completions.create({ model: 'm-reset', messages: MESSAGES, stream: true }, { headers: { 'x-request-id': rid } });
  let text = '';
  let failed = null;
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  } catch (e) {
    failed = e;
  }
  assert.ok(text.length > 0, 'content arrived before the reset');
  assert.ok(failed, 'the client saw the stream fail');
  const line = await accessLine(rid);
  const m = line.match(/ tokens_in=(\d+) tokens_out=(\d+) usage=(\w+) cost_usd=([\d.]+) /);
  assert.ok(m, line);
  const [tin, tout, usage, cost] = [Number(m[1]), Number(m[2]), m[3], Number(m[4])];
  assert.equal(usage, 'estimated');
  assert.ok(tin > 0 && tout > 0, line);
  // tokens_out is the relayed content at ~4 bytes per token; cost at m-reset's $1 / $2 per million
  assert.equal(tout, Math.ceil(Buffer.byteLength(text) / 4));
  assert.ok(Math.abs(cost - (tin * 1 + tout * 2) / 1e6) < 1e-9, `cost ${cost} for ${tin}/${tout}`);
});

// ----------------------------------------------------------------- the demo catalog

const demoTmp = makeTempDir('sy-demo-');
let demo;
after(() => stopAll([demo], demoTmp));

test("the demo's auto never spends its first attempt on demo-flaky; naming demo-flaky shows failover", async () => {
  const cfg = JSON.parse(fs.readFileSync(path.join(REPO, 'deploy', 'demo.json'), 'utf8'));
  for (const p of cfg.providers) p.base_url = `http://127.0.0.1:${s.mock.port}/v1`;
  demo = await startDp({ dir: demoTmp.dir, config: cfg, env: { DEMO_UPSTREAM_KEY: 'demo-upstream-secret' } });
  const client = new OpenAI({ apiKey: 'sk-sy-demo-0000000000000000', baseURL: demo.baseURL, maxRetries: 0, timeout: slack(20000) });
  const prompts = [
    'Hello!',
    'Write a Python function that merges two sorted lists.',
    'Translate "good morning, how are you?" into French.',
    'Prove that the square root of 2 is irrational, with a rigorous argument.',
    'Summarize in one line: the meeting moved the launch to May because QA found two blockers.',
    'What causes the seasons on Earth?',
  ];
  for (const p of prompts) {
    for (const model of ['auto', 'strategy:cost', 'strategy:balanced']) {
      const rid = requestId('demo');
      const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: p }] }, { headers: { 'x-request-id': rid } })
        .withResponse();
      assert.equal(response.headers.get('x-switchyard-attempts'), '1', `${model} "${p}": ${data.routing.reason}`);
      assert.notEqual(data.routing.selected, 'demo-flaky');
      const up = await s.mock.waitForRequest(rid);
      assert.ok(!String(up.body.model).includes('status=503'), `the flaky upstream was tried for "${p}"`);
    }
  }
  const { data, response } = await client.chat.completions
    .create({ model: 'demo-flaky', models: ['demo-fast'], messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  assert.equal(data.routing.selected, 'demo-fast');
});
