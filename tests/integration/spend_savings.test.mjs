// What routing saved (GET /api/workspaces/{id}/usage/savings, controlplane/cp_spend.h): routed
// requests ("auto", "strategy:…", "industry:…") priced again on the strongest model the
// workspace used, per task, against what was billed — recomputed here from the request log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { OpenAI, makeTempDir, startMock, startCp, startBusDp, stopAll, checkLedger, slack } from './lib/harness.mjs';
import { model, provider, settledRecords, workspaceOnNode } from './lib/matrix.mjs';

const TASKS = ['code', 'math', 'reasoning', 'writing', 'extraction', 'summarization', 'translation', 'research', 'chat'];
const q = (v) => Object.fromEntries(TASKS.map((t) => [t, v]));
const PRICES = { cheap: ['0.10', '0.40'], strong: ['5.00', '15.00'] };

let tmp, mock, cp, dp;
before(async () => {
  tmp = makeTempDir('sy-spend-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      providers: [provider('mock', mock.baseURL)],
      models: [
        model('cheap', 'mock-cheap', { input_per_m: PRICES.cheap[0], output_per_m: PRICES.cheap[1], quality: q(0.8) }),
        model('strong', 'mock-strong', { input_per_m: PRICES.strong[0], output_per_m: PRICES.strong[1], quality: q(0.97) }),
      ],
      workspaces: [],
      keys: [],
    },
  });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'sk-spend' }, args: ['--spool-dir', path.join(tmp.dir, 'spool'), '--node-id', 'spend'] });
});
after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

const perToken = (usd) => {
  const [w, f = ''] = usd.split('.');
  return BigInt(w) * 1000n + BigInt((f + '000').slice(0, 3));
};
const cost = (tin, tout, [i, o]) => BigInt(tin) * perToken(i) + BigInt(tout) * perToken(o);

test('savings: routed requests priced on the strongest model the workspace used, per task; explicit requests not counted', async () => {
  const key = await workspaceOnNode(cp, dp.url, 'ws_spend', '10.00');
  const sdk = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(20000) });
  const prompts = ['hi there, how are you today?', 'translate "good morning" into French', 'write a haiku about the sea'];
  for (const content of prompts) await sdk.chat.completions.create({ model: 'strategy:cost', messages: [{ role: 'user', content }] });
  await sdk.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hello again' }] });
  // explicit choices: the strongest model, once (so the workspace "used" it), and the cheap one
  await sdk.chat.completions.create({ model: 'strong', messages: [{ role: 'user', content: 'explain quicksort' }] });
  await sdk.chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] });
  const recs = await settledRecords(cp, [dp.url], 'ws_spend', 6);
  const routed = recs.filter((r) => r.model_asked === 'auto' || r.model_asked.startsWith('strategy:'));
  assert.equal(routed.length, 4, JSON.stringify(recs.map((r) => [r.model_asked, r.model])));
  assert.ok(routed.filter((r) => r.model_asked === 'strategy:cost').every((r) => r.model === 'cheap'), 'strategy:cost picked the cheap model');

  // the expected figures, from the request log
  const byTask = new Map();
  for (const r of routed) {
    const t = byTask.get(r.task) ?? { requests: 0, tin: 0, tout: 0, cost: 0n };
    t.requests++;
    t.tin += r.tokens_in;
    t.tout += r.tokens_out;
    t.cost += BigInt(r.cost_nano);
    byTask.set(r.task, t);
  }
  const res = await cp.api('/api/workspaces/ws_spend/usage/savings');
  assert.equal(res.status, 200, res.text);
  const s = res.json;
  assert.equal(s.routed_requests, 4);
  assert.equal(s.by_task.length, byTask.size);
  let base = 0n;
  let billed = 0n;
  for (const row of s.by_task) {
    const t = byTask.get(row.task);
    assert.ok(t, `task ${row.task}`);
    assert.equal(row.baseline_model, 'strong', 'the strongest model the workspace used');
    assert.equal(row.requests, t.requests);
    assert.equal(BigInt(row.cost_nano), t.cost);
    assert.equal(BigInt(row.baseline_nano), cost(t.tin, t.tout, PRICES.strong));
    assert.equal(BigInt(row.saved_nano), BigInt(row.baseline_nano) - t.cost);
    assert.ok(BigInt(row.saved_nano) > 0n, 'cheaper than the strongest model');
    base += BigInt(row.baseline_nano);
    billed += t.cost;
  }
  assert.equal(BigInt(s.baseline_nano), base);
  assert.equal(BigInt(s.cost_nano), billed);
  assert.equal(BigInt(s.saved_nano), base - billed);
  assert.match(s.saved_usd, /^\d+\.\d{9}$/, 'exact decimal USD');

  // a period without requests, bad bounds, an unknown workspace
  const empty = await cp.api(`/api/workspaces/ws_spend/usage/savings?from=0&to=1000`);
  assert.equal(empty.json.routed_requests, 0);
  assert.equal(empty.json.saved_usd, '0.000000000');
  assert.equal((await cp.api('/api/workspaces/ws_spend/usage/savings?from=5&to=5')).status, 400);
  assert.equal((await cp.api('/api/workspaces/ws_nobody/usage/savings')).status, 404);
  // each key shows what it spent, when it was last used, and what is left of a budget
  const keys = (await cp.api('/api/workspaces/ws_spend/keys')).json.data;
  assert.equal(keys.length, 1);
  const spent = recs.reduce((a, r) => a + BigInt(r.cost_nano), 0n);
  const nanoOf = (usd) => BigInt(usd.replace('.', ''));
  assert.equal(nanoOf(keys[0].spent_usd), spent);
  assert.equal(keys[0].last_used_ms, Math.max(...recs.map((r) => r.created_ms)));
  assert.equal(keys[0].budget_left_usd, null, 'no budget');
  const withBudget = await cp.api(`/api/keys/${keys[0].id}`, { method: 'PATCH', body: { budget_usd: '1.00' } });
  assert.equal(withBudget.status, 200, withBudget.text);
  assert.equal(nanoOf(withBudget.json.budget_left_usd), 1000000000n - spent);
  await checkLedger(cp, { okRequests: { ws_spend: 6 } });
});

test('a workspace that only used the cheap model saved nothing against itself', async () => {
  const key = await workspaceOnNode(cp, dp.url, 'ws_thrift', '1.00');
  const sdk = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(20000) });
  await sdk.chat.completions.create({ model: 'strategy:cost', messages: [{ role: 'user', content: 'hi' }] });
  await settledRecords(cp, [dp.url], 'ws_thrift', 1);
  const s = (await cp.api('/api/workspaces/ws_thrift/usage/savings')).json;
  assert.equal(s.routed_requests, 1);
  assert.equal(s.by_task[0].baseline_model, 'cheap');
  assert.equal(s.saved_nano, 0);
});
