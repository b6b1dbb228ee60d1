// Usage ingestion on the bus, from node over a raw nng REQ socket (lib/sp.mjs) with messages
// encoded by protobufjs from proto/bus.proto itself: a batch is applied once (debited to the
// ledger as usage:<id>), replayed in sequence and concurrently it is still counted once, one
// invalid record refuses the whole batch with nothing written, over-cap batches are refused;
// the dashboard's usage queries return what was ingested. Every test ends with the ledger
// invariants, and --check-db runs them on the file at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import protobuf from 'protobufjs';
import { makeTempDir, startCp, closedPort, CP_BIN, REPO, childEnv, quietVersion, waitFor, slack, sleep, balanceNano } from './lib/harness.mjs';
import { spRequest } from './lib/sp.mjs';

// keepCase: the field names as in the .proto (snake_case), like the C side
const root = new protobuf.Root().loadSync(path.join(REPO, 'proto', 'bus.proto'), { keepCase: true });
const BusRequest = root.lookupType('switchyard.BusRequest');
const UsageAck = root.lookupType('switchyard.UsageAck');
let tmp, cp;

async function send(batch) {
  const buf = Buffer.from(BusRequest.encode(BusRequest.fromObject({ usage: batch })).finish());
  const { body } = await spRequest(cp.repUrl, buf);
  return UsageAck.toObject(UsageAck.decode(body), { defaults: true });
}

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0); // 2024-05-01 12:00 UTC
let seq = 0;
function record(over = {}) {
  seq++;
  return {
    id: `req_${crypto.randomBytes(6).toString('hex')}_${seq}`,
    workspace: 'ws_u',
    key_id: 'key_1',
    model: 'm-ok',
    provider: 'mock',
    tokens_in: 100,
    tokens_out: 50,
    cost_nano: 1500,
    latency_ms: 120,
    ttft_ms: 40,
    outcome: 'ok',
    streamed: false,
    estimated: false,
    node: 'dp-test',
    created_ms: T0,
    ...over,
  };
}
const batchOf = (records, id = 'b-' + crypto.randomBytes(4).toString('hex')) => ({ node_id: 'dp-test', batch_id: id, records });

const balance = (ws = 'ws_u') => balanceNano(cp, ws);
async function version() {
  return (await cp.api('/api/snapshot/version')).json.version;
}
async function usage(q = '') {
  const r = await cp.api(`/api/workspaces/ws_u/usage${q}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}
async function invariants() {
  const r = await cp.api('/api/ledger/check');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true, problems: [] }, r.text);
}

before(async () => {
  tmp = makeTempDir('sy-usage-');
  const dead = await closedPort();
  cp = await startCp({
    dir: tmp.dir,
    args: ['--balance-refresh-ms', '300'],
    catalog: {
      providers: [{ id: 'mock', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: { interval_ms: 0 } }],
      models: [{ id: 'm-ok', provider: 'mock', upstream: 'm', input_per_m: '1', output_per_m: '2' }],
      workspaces: [
        { id: 'ws_u', active: true },
        { id: 'ws_v', active: true },
      ],
      keys: [],
    },
  });
  const r = await cp.api('/api/workspaces/ws_u/credits', { method: 'POST', body: { amount_usd: '10', reference: 'seed' } });
  assert.equal(r.status, 201, r.text);
});

after(async () => {
  try {
    await cp?.proc.stop();
    const r = spawnSync(CP_BIN, ['--check-db', cp.db], { encoding: 'utf8', env: childEnv() });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    tmp?.cleanup();
  }
});

test('a batch is applied once: ack after commit, replays in sequence and concurrently count nothing', async () => {
  const b0 = await balance();
  const v0 = await version();
  const recs = [record(), record({ cost_nano: 2500, tokens_in: 7, model: 'm-two' }), record({ cost_nano: 0, outcome: 'client_disconnect', streamed: true, estimated: true })];
  const batch = batchOf(recs);
  let ack = await send(batch);
  assert.deepEqual(ack, { batch_id: batch.batch_id, applied: 3, duplicates: 0, error: '', retry: false, bad_record: -1, param: '' });
  assert.equal(await balance(), b0 - 4000n);
  // a debit that exhausts nothing is committed quietly; the fleet's balances follow within the
  // refresh period (one versioned write for any number of batches)
  await waitFor(async () => (await version()) > v0, { timeout: slack(3000), what: 'the balance refresh' });

  const v1 = await quietVersion(cp);
  ack = await send(batch);
  assert.equal(ack.applied, 0);
  assert.equal(ack.duplicates, 3);
  assert.equal(ack.error, '');
  assert.equal(await version(), v1, 'a pure replay writes nothing');

  // a fresh batch sent 10 times at once: applied once in total
  const fresh = batchOf(Array.from({ length: 50 }, () => record({ cost_nano: 10 })));
  const acks = await Promise.all(Array.from({ length: 10 }, () => send(fresh)));
  for (const a of acks) assert.equal(a.error, '', JSON.stringify(a));
  assert.equal(acks.reduce((n, a) => n + a.applied, 0), 50);
  assert.equal(acks.reduce((n, a) => n + a.duplicates, 0), 450);
  assert.equal(await balance(), b0 - 4500n);

  // a batch that repeats an id inside itself, mixed with old ids
  ack = await send(batchOf([recs[0], record({ id: 'dup_in_batch', cost_nano: 1 }), record({ id: 'dup_in_batch', cost_nano: 1 })]));
  assert.equal(ack.applied, 1);
  assert.equal(ack.duplicates, 2);
  assert.equal(await balance(), b0 - 4501n);

  const led = (await cp.api('/api/workspaces/ws_u/ledger?limit=500')).json.data;
  // one debit per workspace per batch, named after the batch's first new record of it
  assert.equal(led.filter((e) => e.ref === `usage:${recs[0].id}`).length, 1);
  assert.equal(led.find((e) => e.ref === `usage:${recs[0].id}`).amount_usd, '-0.000004000');
  assert.match(led.find((e) => e.ref === `usage:${recs[0].id}`).note, /^3 requests \(batch /);
  assert.equal(led.filter((e) => e.ref === `usage:${recs[1].id}` || e.ref === `usage:${recs[2].id}`).length, 0);
  await invariants();
});

test('one invalid record refuses the whole batch and nothing is written', async () => {
  const b0 = await balance();
  const v0 = await quietVersion(cp);
  const u0 = (await usage()).total.requests;
  const bad = [
    [{ workspace: 'ws_nobody' }, 'workspace'],
    [{ tokens_in: -1 }, 'tokens_in'],
    [{ tokens_out: 2 ** 41 }, 'tokens_out'],
    [{ cost_nano: -5 }, 'cost_nano'],
    [{ latency_ms: -1 }, 'latency_ms'],
    [{ id: '' }, 'id'],
    [{ id: 'has space' }, 'id'],
    [{ id: 'x'.repeat(129) }, 'id'],
    [{ key_id: '' }, 'key_id'],
    [{ model: 'a/b' }, 'model'],
    [{ outcome: 'OK!' }, 'outcome'],
    [{ created_ms: 0 }, 'created_ms'],
    [{ tokens_in: 10, cache_read_tokens: 11 }, 'cache_read_tokens'],
    [{ tokens_in: 10, cache_read_tokens: 6, cache_write_tokens: 5 }, 'cache_write_tokens'],
    [{ cache_write_tokens: -1 }, 'cache_write_tokens'],
    [{ request_id: 'a\nb' }, 'request_id'],
    [{ request_id: 'r'.repeat(65) }, 'request_id'],
    [{ attempt: -1 }, 'attempt'],
    [{ model_asked: 'm'.repeat(129) }, 'model_asked'],
    [{ model_asked: 'tab\there' }, 'model_asked'],
    [{ task: 'Code!' }, 'task'],
    [{ difficulty: 'x'.repeat(9) }, 'difficulty'],
  ];
  for (const [over, param] of bad) {
    const ack = await send(batchOf([record(), record(), record(over)]));
    assert.notEqual(ack.error, '', JSON.stringify(over));
    assert.equal(ack.bad_record, 2, JSON.stringify(ack));
    assert.equal(ack.param, param, JSON.stringify(ack));
    assert.equal(ack.retry, false);
    assert.equal(ack.applied, 0);
  }
  // caps: records and bytes
  let ack = await send(batchOf(Array.from({ length: 1001 }, () => record())));
  assert.match(ack.error, /1000 records/);
  assert.equal(ack.retry, false);
  // (1000 records of maximal valid fields stay under 1 MiB: the byte cap guards the parser first)
  // between the cap (1 MiB) and what the socket accepts (1 MiB + 16 KiB): an answer to act on
  ack = await send(batchOf([record({ model: 'm'.repeat(1050000) })]));
  assert.match(ack.error, /1 MiB/);
  assert.equal(ack.bad_record, -1);
  assert.equal(await balance(), b0);
  assert.equal(await version(), v0);
  assert.equal((await usage()).total.requests, u0);
  await invariants();
});

test('usage queries: totals, by day, model and key, time bounds; exact decimal cost', async () => {
  const day2 = Date.UTC(2024, 4, 2, 8, 0, 0);
  const v = (o) => record({ workspace: 'ws_v', ...o });
  const ack = await send(
    batchOf([
      v({ model: 'm-a', key_id: 'key_x', tokens_in: 1000, tokens_out: 10, cost_nano: 123456789, cache_read_tokens: 100, cache_write_tokens: 50 }),
      v({ model: 'm-a', key_id: 'key_y', tokens_in: 2000, tokens_out: 20, cost_nano: 1 }),
      v({ model: 'm-b', key_id: 'key_x', tokens_in: 5, tokens_out: 5, cost_nano: 1000000000, created_ms: day2, outcome: 'upstream_error' }),
    ]),
  );
  assert.equal(ack.applied, 3, JSON.stringify(ack));
  const get = async (q) => {
    const r = await cp.api(`/api/workspaces/ws_v/usage${q}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  let u = await get('');
  assert.deepEqual(u.total, { requests: 3, errors: 1, tokens_in: 3005, tokens_out: 35, cost_nano: 1123456790, cost_usd: '1.123456790', cache_read_tokens: 100, cache_write_tokens: 50 });
  assert.deepEqual(u.data, []);
  u = await get('?group_by=day');
  assert.deepEqual(u.data.map((d) => [d.day, d.requests, d.cost_usd]), [['2024-05-01', 2, '0.123456790'], ['2024-05-02', 1, '1.000000000']]);
  u = await get('?group_by=model');
  assert.deepEqual(u.data.map((d) => [d.model, d.tokens_in, d.tokens_out, d.cache_read_tokens, d.cache_write_tokens]), [['m-a', 3000, 30, 100, 50], ['m-b', 5, 5, 0, 0]]);
  u = await get('?group_by=key');
  assert.deepEqual(u.data.map((d) => [d.key_id, d.requests, d.cost_nano]), [['key_x', 2, 1123456789], ['key_y', 1, 1]]);
  u = await get('?from=2024-05-02&group_by=day');
  assert.deepEqual(u.data.map((d) => d.day), ['2024-05-02']);
  u = await get(`?from=${T0}&to=${T0 + 1}`);
  assert.equal(u.total.requests, 2);
  u = await get('?to=2024-05-01');
  assert.equal(u.total.requests, 0);
  assert.equal(u.total.cost_usd, '0.000000000');
  for (const q of ['?group_by=week', '?from=yesterday', '?from=2024-13-45', '?from=10&to=5']) {
    const r = await cp.api(`/api/workspaces/ws_v/usage${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.json.error.code, 'invalid_request_error');
  }
  assert.equal((await cp.api('/api/workspaces/ws_nobody/usage')).status, 404);
  assert.equal((await cp.api('/api/workspaces/ws_v/usage', { token: null })).status, 401);
  assert.equal(await balance('ws_v'), -1123456790n, 'usage may take a balance below zero');
  await invariants();
});

test('ingestion and admin grants at the same time (two writers, two store handles) keep the ledger consistent', async () => {
  const b0 = await balance();
  const work = [];
  for (let i = 0; i < 10; i++) {
    work.push(send(batchOf(Array.from({ length: 20 }, () => record({ cost_nano: 3 })))));
    work.push(cp.api('/api/workspaces/ws_u/credits', { method: 'POST', body: { amount_usd: '0.000000100', reference: `mix-${i}` } }));
  }
  const rs = await Promise.all(work);
  for (let i = 0; i < rs.length; i += 2) {
    assert.equal(rs[i].applied, 20, JSON.stringify(rs[i]));
    assert.equal(rs[i + 1].status, 201, rs[i + 1].text);
  }
  assert.equal(await balance(), b0 - 10n * 20n * 3n + 10n * 100n);
  await invariants();
});

test('the WAL is checkpointed in the background, not in the commits of the writers', async () => {
  // writers checkpoint themselves only past 16,384 WAL pages (64 MiB); this writes far less, so
  // the database file grows only if the control plane's checkpointer thread copies pages back
  const size = () => fs.statSync(cp.db).size;
  await waitFor(async () => { // settle: what was written so far is checkpointed
    const a = size();
    await sleep(300);
    return size() === a;
  }, { timeout: slack(5000), what: 'a settled database file' });
  const s0 = size();
  for (let i = 0; i < 4; i++) {
    const ack = await send(batchOf(Array.from({ length: 250 }, () => record({ cost_nano: 1, created_ms: T0 + i }))));
    assert.equal(ack.applied, 250, JSON.stringify(ack));
  }
  await waitFor(async () => size() > s0, { timeout: slack(3000), what: 'the database file to grow (a background checkpoint)' });
  await invariants();
});

test('a batch that exhausts a balance is a versioned write at once; others wait for the refresh', async () => {
  // its own control plane with a refresh period far longer than the test: any bump seen here is
  // the batch's own
  const cp2 = await startCp({
    dir: tmp.dir,
    name: 'switchyard-cp-refresh',
    args: ['--balance-refresh-ms', '600000'],
    catalog: { providers: [], models: [], workspaces: [{ id: 'ws_w', active: true }], keys: [] },
  });
  try {
    let r = await cp2.api('/api/workspaces/ws_w/credits', { method: 'POST', body: { amount_usd: '0.000001', reference: 'tiny' } });
    assert.equal(r.status, 201, r.text);
    const ver = async () => (await cp2.api('/api/snapshot/version')).json.version;
    const send2 = async (batch) => {
      const buf = Buffer.from(BusRequest.encode(BusRequest.fromObject({ usage: batch })).finish());
      const { body } = await spRequest(cp2.repUrl, buf);
      return UsageAck.toObject(UsageAck.decode(body), { defaults: true });
    };
    let v0 = await quietVersion(cp2);
    let ack = await send2(batchOf([record({ workspace: 'ws_w', cost_nano: 400 })]));
    assert.equal(ack.applied, 1, JSON.stringify(ack));
    await sleep(slack(300));
    assert.equal(await ver(), v0, 'a debit that exhausts nothing is not a versioned write');
    ack = await send2(batchOf([record({ workspace: 'ws_w', cost_nano: 1500 })]));
    assert.equal(ack.applied, 1, JSON.stringify(ack));
    assert.ok((await ver()) > v0, 'the fleet must learn at once that ws_w ran out');
    r = await cp2.api('/api/workspaces/ws_w/balance');
    assert.equal(r.status, 200, r.text);
    assert.equal(BigInt(r.json.balance_nano), 1000n - 1900n);
  } finally {
    await cp2.proc.stop();
  }
});

test('long periods read the per-day rollup: every period (whole days, partial edge days, within one day, open-ended) sums as the records do', async () => {
  const r0 = await cp.api('/api/workspaces', { method: 'POST', body: { id: 'ws_roll', name: 'roll' } });
  assert.equal(r0.status, 201, r0.text);
  const DAY = 86400000;
  const D0 = Date.UTC(2024, 5, 1); // 2024-06-01 00:00 UTC
  // 60 records over 5 days at uneven times, 3 models, 2 keys, some errors, some routed
  let x = 7;
  const rnd = (n) => ((x = (x * 1103515245 + 12345) % 2147483648), x % n);
  const recs = Array.from({ length: 60 }, (_, i) =>
    record({ workspace: 'ws_roll', created_ms: D0 + rnd(5 * DAY), model: ['m-a', 'm-b', 'm-c'][i % 3], key_id: i % 2 ? 'key_p' : 'key_q', tokens_in: 1 + rnd(1000), tokens_out: rnd(500), cost_nano: rnd(1000000), outcome: i % 7 === 0 ? 'upstream_error' : 'ok', model_asked: i % 4 === 0 ? 'auto' : 'm-a', task: ['chat', 'code'][i % 2] }),
  );
  assert.equal((await send(batchOf(recs))).applied, 60);
  // the same batch again: nothing counted twice, in the records or in the rollup
  assert.equal((await send(batchOf(recs))).duplicates, 60);
  const expect = (from, to, key) => {
    const m = new Map();
    for (const r of recs.filter((r) => r.created_ms >= from && r.created_ms < to)) {
      const k = key(r);
      const t = m.get(k) ?? { requests: 0, errors: 0, tokens_in: 0, tokens_out: 0, cost_nano: 0 };
      t.requests++;
      t.errors += r.outcome === 'ok' ? 0 : 1;
      t.tokens_in += r.tokens_in;
      t.tokens_out += r.tokens_out;
      t.cost_nano += r.cost_nano;
      m.set(k, t);
    }
    return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  };
  const pick = (d) => ({ requests: d.requests, errors: d.errors, tokens_in: d.tokens_in, tokens_out: d.tokens_out, cost_nano: d.cost_nano });
  const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
  const periods = [
    [D0, D0 + 5 * DAY],                     // whole days only
    [D0 + 3600000, D0 + 4 * DAY + 7200000], // partial first and last day
    [D0 + DAY + 1000, D0 + DAY + 50000000], // inside one day
    [D0 + DAY - 1, D0 + DAY + 1],           // across one midnight, no whole day
    [0, Date.UTC(2100, 0, 1)],              // open-ended (as far as the API takes)
    [D0 + 2 * DAY, D0 + 3 * DAY],           // exactly one day
  ];
  for (const [from, to] of periods) {
    const q = (g) => cp.api(`/api/workspaces/ws_roll/usage?from=${from}&to=${to}${g ? `&group_by=${g}` : ''}`);
    const tr = await q('');
    assert.equal(tr.status, 200, `${from}..${to}: ${tr.text}`);
    const tot = tr.json.total;
    const all = expect(from, to, () => '');
    assert.deepEqual(pick(tot), all.length ? all[0][1] : { requests: 0, errors: 0, tokens_in: 0, tokens_out: 0, cost_nano: 0 }, `total ${from}..${to}`);
    for (const [g, field, key] of [['day', 'day', (r) => dayOf(r.created_ms)], ['model', 'model', (r) => r.model], ['key', 'key_id', (r) => r.key_id]]) {
      const got = (await q(g)).json.data.map((d) => [d[field], pick(d)]);
      assert.deepEqual(got, expect(from, to, key), `group_by=${g} ${from}..${to}`);
    }
  }
  const chk = await cp.api('/api/ledger/check');
  assert.deepEqual(chk.json, { ok: true, problems: [] }, 'the rollup adds up to the records (the ledger check compares them)');
});

test('the request log (GET /api/workspaces/{id}/usage/records): each record with its fields, newest first, paged; errors', async () => {
  const r0 = await cp.api('/api/workspaces', { method: 'POST', body: { id: 'ws_log', name: 'log' } });
  assert.equal(r0.status, 201, r0.text);
  const recs = Array.from({ length: 7 }, (_, i) =>
    record({ workspace: 'ws_log', tokens_in: 10 + i, tokens_out: i, cost_nano: 1000 * i, outcome: i % 3 === 0 ? 'upstream_error' : 'ok', streamed: i % 2 === 1, estimated: i === 5, cache_read_tokens: i === 6 ? 4 : 0, ttft_ms: i, key_id: i < 4 ? 'key_1' : 'key_2', model: i === 2 ? 'm-other' : 'm-ok', request_id: i === 1 || i === 2 ? 'req_two_attempts' : '', created_ms: T0 + i * 1000 }),
  );
  const ack = await send(batchOf(recs));
  assert.equal(ack.applied, 7, JSON.stringify(ack));
  const page = async (q) => {
    const r = await cp.api(`/api/workspaces/ws_log/usage/records${q}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  let p = await page('?limit=3');
  assert.equal(p.object, 'list');
  assert.equal(p.has_more, true);
  assert.deepEqual(p.data.map((d) => d.id), [recs[6].id, recs[5].id, recs[4].id]);
  const seen = [...p.data];
  while (p.has_more) {
    p = await page(`?limit=3&before=${p.next_before}`);
    seen.push(...p.data);
  }
  assert.equal(p.next_before, null);
  assert.deepEqual(seen.map((d) => d.id), recs.map((x) => x.id).reverse());
  const five = seen.find((d) => d.id === recs[5].id);
  assert.deepEqual(
    { ...five, received_ms: 0 },
    {
      id: recs[5].id,
      key_id: 'key_2',
      model: 'm-ok',
      provider: 'mock',
      outcome: 'ok',
      tokens_in: 15,
      tokens_out: 5,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      cost_nano: 5000,
      cost_usd: '0.000005000',
      latency_ms: 120,
      ttft_ms: 5,
      streamed: true,
      estimated: true,
      node: 'dp-test',
      created_ms: T0 + 5000,
      received_ms: 0,
      // a record without the request-log fields (an older node): empty, not refused
      request_id: '',
      attempt: 0,
      model_asked: '',
      task: '',
      difficulty: '',
    },
  );
  assert.ok(five.received_ms > 0);
  assert.equal(seen.find((d) => d.id === recs[6].id).cache_read_tokens, 4);
  assert.deepEqual((await page('')).data.length, 7, 'default page: 50');
  // filters: a key, a model, an outcome, a request, a period — and combined
  const ids = async (q) => (await page(q)).data.map((d) => d.id);
  const want = (pred) => recs.map((x, i) => [x, i]).filter(([, i]) => pred(i)).map(([x]) => x.id).reverse();
  assert.deepEqual(await ids('?key=key_2'), want((i) => i >= 4));
  assert.deepEqual(await ids('?model=m-other'), want((i) => i === 2));
  assert.deepEqual(await ids('?outcome=upstream_error'), want((i) => i % 3 === 0));
  assert.deepEqual(await ids('?request_id=req_two_attempts'), want((i) => i === 1 || i === 2));
  assert.deepEqual(await ids(`?from=${T0 + 2000}&to=${T0 + 5000}`), want((i) => i >= 2 && i < 5));
  assert.deepEqual(await ids('?key=key_2&outcome=ok&limit=1'), want((i) => i >= 4 && i % 3 !== 0).slice(0, 1));
  assert.deepEqual(await ids('?key=nobody'), []);
  for (const q of ['?key=', '?model=', '?outcome=ok&outcome=ok', `?key=${'k'.repeat(129)}`, '?from=10&to=5']) {
    const r = await cp.api(`/api/workspaces/ws_log/usage/records${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
  }
  for (const q of ['?limit=0', '?limit=501', '?limit=x', '?before=-1', '?before=abc']) {
    const r = await cp.api(`/api/workspaces/ws_log/usage/records${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
  }
  assert.equal((await cp.api('/api/workspaces/ws_nobody/usage/records')).status, 404);
  assert.equal((await cp.api('/api/workspaces/ws_log/usage/records', { token: null })).status, 401);
  assert.equal((await cp.api('/api/workspaces/ws_log/usage/records', { method: 'POST', body: {} })).status, 405);
  await invariants();
});
