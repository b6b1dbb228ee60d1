// Money through the API and Stripe, end to end on a real switchyard-cp: the webhook (signed with
// the official `stripe` package's generateTestHeaderString) credits once — in sequence, with 20
// concurrent replays, through both checkout paths — refuses every bad signature with 400 and no
// write, debits refund deltas once, answers 413 to oversized bodies; admin grants are
// idempotent by reference; the ledger pages; checkout sessions go to a fake Stripe API in node
// that checks the form. Every test ends with the ledger invariants (GET /api/ledger/check).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import Stripe from 'stripe';
import { makeTempDir, httpRequest, startCp, closedPort, CP_BIN, childEnv, assertApiError as assertError, checkLedger } from './lib/harness.mjs';

const WEBHOOK_SECRET = 'whsec_' + crypto.randomBytes(24).toString('hex');
const STRIPE_KEY = 'sk_test_' + crypto.randomBytes(24).toString('hex');
const stripe = new Stripe(STRIPE_KEY);
let tmp, cp, fake;
const answers = []; // every API body the tests saw, searched for secrets at the end

async function api(p, opts) {
  const r = await cp.api(p, opts);
  answers.push(r.text);
  return r;
}

async function balance(ws) {
  const r = await api(`/api/workspaces/${ws}/balance`);
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json.balance_usd, 'string');
  return BigInt(r.text.match(/"balance_nano":(-?\d+)/)[1]); // exact, past 2^53 too
}

async function version() {
  const r = await api('/api/snapshot/version');
  return r.json.version;
}

async function ledger(ws, q = '') {
  const r = await api(`/api/workspaces/${ws}/ledger${q}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function invariants() {
  const r = await api('/api/ledger/check');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true, problems: [] }, r.text);
}

const NANO_PER_CENT = 10000000n;

function checkoutEvent({ id = 'evt_' + crypto.randomBytes(8).toString('hex'), type = 'checkout.session.completed', session, ws, cents, paid = 'paid', currency = 'usd', metadataOnly = false }) {
  const object = { id: session, object: 'checkout.session', mode: 'payment', payment_status: paid, amount_total: cents, currency, payment_intent: `pi_${session}`, metadata: {} };
  if (metadataOnly) object.metadata.workspace_id = ws;
  else object.client_reference_id = ws;
  return JSON.stringify({ id, object: 'event', api_version: '2024-06-20', created: Math.floor(Date.now() / 1000), type, data: { object } });
}

function refundEvent({ id = 'evt_' + crypto.randomBytes(8).toString('hex'), charge, refunded, pi, ws }) {
  const object = { id: charge, object: 'charge', amount: 5000, amount_refunded: refunded, currency: 'usd', payment_intent: pi, metadata: ws ? { workspace_id: ws } : {} };
  return JSON.stringify({ id, object: 'event', type: 'charge.refunded', data: { object } });
}

function sign(payload, { secret = WEBHOOK_SECRET, timestamp } = {}) {
  return stripe.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp !== undefined ? { timestamp } : {}) });
}

async function webhook(payload, header = sign(payload), extra = {}) {
  const headers = { 'content-type': 'application/json', ...extra };
  if (header !== null) headers['stripe-signature'] = header;
  const r = await httpRequest(`${cp.base}/stripe/webhook`, { method: 'POST', headers, body: payload });
  answers.push(r.text);
  return r;
}

/** A fake Stripe API: records each request and answers with `fake.reply`. */
async function startFakeStripe() {
  const f = { requests: [], reply: null };
  f.srv = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      f.requests.push({ method: req.method, url: req.url, headers: req.headers, raw, form: new URLSearchParams(raw) });
      const { status, body, delayMs = 0 } = f.reply ?? { status: 200, body: {} };
      setTimeout(() => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }, delayMs);
    });
  });
  await new Promise((r) => f.srv.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${f.srv.address().port}`;
  return f;
}

before(async () => {
  tmp = makeTempDir('sy-stripe-');
  fake = await startFakeStripe();
  const dead = await closedPort();
  const catalog = {
    providers: [{ id: 'p', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: { interval_ms: 0 } }],
    models: [{ id: 'm', provider: 'p', upstream: 'm', input_per_m: '1', output_per_m: '2' }],
    workspaces: [
      { id: 'ws_a', active: true },
      { id: 'ws_b', active: true },
      { id: 'ws_c', active: true },
      { id: 'ws_d', active: true },
    ],
    keys: [],
  };
  cp = await startCp({
    dir: tmp.dir,
    catalog,
    bus: false,
    args: ['--stripe-api-base', fake.url, '--stripe-timeout-ms', '1500'],
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_SECRET_KEY: STRIPE_KEY },
  });
});

after(async () => {
  try {
    await cp?.proc.stop();
    // --check-db runs the ledger invariants on the file too
    const r = spawnSync(CP_BIN, ['--check-db', cp.db], { encoding: 'utf8', env: childEnv() });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /integrity ok/);
    // secrets: never in the logs, the database or any answer
    let dbBytes = Buffer.alloc(0);
    for (const f of [cp.db, `${cp.db}-wal`]) if (fs.existsSync(f)) dbBytes = Buffer.concat([dbBytes, fs.readFileSync(f)]);
    for (const secret of [WEBHOOK_SECRET, STRIPE_KEY, WEBHOOK_SECRET.slice(6), STRIPE_KEY.slice(8)]) {
      assert.ok(!cp.proc.stderr.includes(secret) && !cp.proc.stdout.includes(secret), 'a secret in the control plane log');
      assert.ok(!dbBytes.includes(Buffer.from(secret)), 'a secret in the database');
      assert.ok(!answers.some((a) => a.includes(secret)), 'a secret in an API answer');
    }
  } finally {
    await new Promise((r) => fake?.srv.close(r));
    tmp?.cleanup();
  }
});

test('a paid checkout credits once: in sequence, replayed, and with 20 concurrent deliveries', async () => {
  const b0 = await balance('ws_a');
  const payload = checkoutEvent({ session: 'cs_test_once', ws: 'ws_a', cents: 1250 });
  let r = await webhook(payload);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'credited');
  assert.equal(await balance('ws_a'), b0 + 1250n * NANO_PER_CENT);
  r = await webhook(payload, sign(payload)); // the same event again, freshly signed
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'replay');

  const payload2 = checkoutEvent({ session: 'cs_test_concurrent', ws: 'ws_a', cents: 700 });
  const header = sign(payload2);
  const rs = await Promise.all(Array.from({ length: 20 }, () => webhook(payload2, header)));
  for (const x of rs) assert.equal(x.status, 200, x.text);
  assert.equal(rs.filter((x) => x.json.outcome === 'credited').length, 1, rs.map((x) => x.text).join('\n'));
  assert.equal(await balance('ws_a'), b0 + 1950n * NANO_PER_CENT);

  const page = await ledger('ws_a');
  const refs = page.data.map((e) => e.ref);
  assert.equal(refs.filter((x) => x === 'stripe:cs_test_once').length, 1);
  assert.equal(refs.filter((x) => x === 'stripe:cs_test_concurrent').length, 1);
  const e = page.data.find((x) => x.ref === 'stripe:cs_test_concurrent');
  assert.equal(e.kind, 'credit');
  assert.equal(e.amount_usd, '7.000000000');
  await invariants();
  await checkLedger(cp, { paidSessions: { ws_a: [{ id: 'cs_test_once', amount_cents: 1250 }, { id: 'cs_test_concurrent', amount_cents: 700 }] } });
});

test('bad signatures are 400 and write nothing', async () => {
  const b0 = await balance('ws_b');
  const v0 = await version();
  const payload = checkoutEvent({ session: 'cs_test_bad', ws: 'ws_b', cents: 5000 });
  const now = Math.floor(Date.now() / 1000);
  const good = sign(payload);
  const v1 = good.match(/v1=([0-9a-f]{64})/)[1];
  const cases = {
    'wrong secret': sign(payload, { secret: 'whsec_wrong' }),
    'altered body': sign(payload.replace('5000', '9000')),
    'stale timestamp': sign(payload, { timestamp: now - 400 }),
    'timestamp from the future': sign(payload, { timestamp: now + 400 }),
    'no v1 (v0 only)': `t=${now},v0=${v1}`,
    'no v1 at all': `t=${now}`,
    'malformed: garbage': 'garbage',
    'malformed: no t': `v1=${v1}`,
    'malformed: short v1': `t=${now},v1=${v1.slice(2)}`,
    'malformed: empty element': `t=${now},,v1=${v1}`,
    'malformed: empty': '',
    absent: null,
  };
  for (const [what, header] of Object.entries(cases)) {
    const r = await webhook(payload, header); // 'altered body': signed over other bytes than sent
    assertError(r, 400, { code: 'invalid_request_error' });
    assert.ok(!r.text.includes(WEBHOOK_SECRET), what);
  }
  // and the other way round: a genuine signature, the body altered in transit
  assertError(await webhook(payload.replace('5000', '9000'), good), 400);
  assert.equal(await version(), v0, 'no write of any kind');
  assert.equal(await balance('ws_b'), b0);
  // and then the genuine one still works: nothing was recorded by the refusals
  const r = await webhook(payload);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'credited');
  assert.equal(await balance('ws_b'), b0 + 5000n * NANO_PER_CENT);
  await invariants();
});

test('two v1 signatures, one valid: credited', async () => {
  const b0 = await balance('ws_b');
  const payload = checkoutEvent({ session: 'cs_test_roll', ws: 'ws_b', cents: 300 });
  const t = Math.floor(Date.now() / 1000);
  const old = sign(payload, { secret: 'whsec_old_secret', timestamp: t }).match(/v1=([0-9a-f]{64})/)[1];
  const cur = sign(payload, { timestamp: t }).match(/v1=([0-9a-f]{64})/)[1];
  const r = await webhook(payload, `t=${t},v1=${old},v1=${cur},v0=${old}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'credited');
  assert.equal(await balance('ws_b'), b0 + 300n * NANO_PER_CENT);
  await invariants();
});

test('unpaid checkout, then async_payment_succeeded: credited once; other events and currencies ignored', async () => {
  const b0 = await balance('ws_c');
  let r = await webhook(checkoutEvent({ session: 'cs_test_async', ws: 'ws_c', cents: 2000, paid: 'unpaid' }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'unpaid');
  assert.equal(await balance('ws_c'), b0);
  const ok = checkoutEvent({ type: 'checkout.session.async_payment_succeeded', session: 'cs_test_async', ws: 'ws_c', cents: 2000, metadataOnly: true });
  r = await webhook(ok);
  assert.equal(r.json.outcome, 'credited', r.text);
  r = await webhook(ok);
  assert.equal(r.json.outcome, 'replay', r.text);
  // a (hypothetical) second delivery path for the same session under another event id
  r = await webhook(checkoutEvent({ type: 'checkout.session.async_payment_succeeded', session: 'cs_test_async', ws: 'ws_c', cents: 2000 }));
  assert.equal(r.json.outcome, 'already_credited', r.text);
  assert.equal(await balance('ws_c'), b0 + 2000n * NANO_PER_CENT);

  r = await webhook(checkoutEvent({ session: 'cs_test_eur', ws: 'ws_c', cents: 2000, currency: 'eur' }));
  assert.equal(r.status, 200);
  assert.equal(r.json.outcome, 'currency');
  r = await webhook(checkoutEvent({ session: 'cs_test_nows', ws: 'ws_nobody', cents: 2000 }));
  assert.equal(r.status, 200, 'an unknown workspace is 200 (Stripe must not retry forever)');
  assert.equal(r.json.outcome, 'unknown_workspace');
  r = await webhook(JSON.stringify({ id: 'evt_other_' + crypto.randomBytes(4).toString('hex'), type: 'customer.created', data: { object: { id: 'cus_1' } } }));
  assert.equal(r.status, 200);
  assert.equal(r.json.outcome, 'ignored_type');
  r = await webhook('{"not":"an event"}');
  assertError(r, 400);
  assert.equal(await balance('ws_c'), b0 + 2000n * NANO_PER_CENT);
  assert.match(cp.proc.stderr, /outcome=unknown_workspace workspace=ws_nobody/);
  await invariants();
});

test('charge.refunded debits the growth of amount_refunded, once per event', async () => {
  let r = await webhook(checkoutEvent({ session: 'cs_test_refund', ws: 'ws_d', cents: 5000 }));
  assert.equal(r.json.outcome, 'credited', r.text);
  const b0 = await balance('ws_d');
  // no metadata on the charge: the workspace is found through the payment intent
  const first = refundEvent({ charge: 'ch_test_1', refunded: 300, pi: 'pi_cs_test_refund' });
  r = await webhook(first);
  assert.equal(r.json.outcome, 'refunded', r.text);
  assert.equal(await balance('ws_d'), b0 - 300n * NANO_PER_CENT);
  r = await webhook(first);
  assert.equal(r.json.outcome, 'replay');
  const second = refundEvent({ charge: 'ch_test_1', refunded: 800, pi: 'pi_cs_test_refund' });
  const rs = await Promise.all(Array.from({ length: 5 }, () => webhook(second)));
  assert.equal(rs.filter((x) => x.json?.outcome === 'refunded').length, 1);
  assert.equal(await balance('ws_d'), b0 - 800n * NANO_PER_CENT);
  // an older state of the charge arriving late changes nothing
  r = await webhook(refundEvent({ charge: 'ch_test_1', refunded: 500, pi: 'pi_cs_test_refund' }));
  assert.equal(r.json.outcome, 'no_new_refund');
  assert.equal(await balance('ws_d'), b0 - 800n * NANO_PER_CENT);
  const refunds = (await ledger('ws_d')).data.filter((e) => e.kind === 'refund');
  assert.deepEqual(refunds.map((e) => e.amount_usd), ['-5.000000000', '-3.000000000']);
  await invariants();
});

test('oversized bodies: 413 on the webhook over 256 KiB and on the API over its own limit, nothing written', async () => {
  const v0 = await version();
  const big = checkoutEvent({ session: 'cs_test_big', ws: 'ws_a', cents: 100 }).replace('"metadata":{}', `"metadata":{"pad":"${'x'.repeat(300 * 1024)}"}`);
  let r = await webhook(big);
  assertError(r, 413, { code: 'request_too_large' });
  // between the API's 64 KiB and the webhook's 256 KiB: the API still refuses
  r = await api('/api/workspaces/ws_a/credits', { method: 'POST', body: { amount_usd: '1', reference: 'big', note: 'x'.repeat(100 * 1024) } });
  assertError(r, 413, { code: 'request_too_large' });
  // a webhook body of 200 KiB is accepted
  const mid = checkoutEvent({ session: 'cs_test_mid', ws: 'ws_a', cents: 100 }).replace('"metadata":{}', `"metadata":{"pad":"${'x'.repeat(200 * 1024)}"}`);
  assert.equal(await version(), v0);
  r = await webhook(mid);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.outcome, 'credited');
  await invariants();
});

test('admin grants are idempotent by reference; the ledger pages', async () => {
  const b0 = await balance('ws_c');
  let r = await api('/api/workspaces/ws_c/credits', { method: 'POST', body: { amount_usd: '12.50', reference: 'promo-2024-001', note: 'welcome' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.duplicate, false);
  assert.equal(r.json.entry.kind, 'grant');
  assert.equal(r.json.entry.amount_usd, '12.500000000');
  const id = r.json.entry.id;
  r = await api('/api/workspaces/ws_c/credits', { method: 'POST', body: { amount_usd: '12.50', reference: 'promo-2024-001', note: 'welcome' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.duplicate, true);
  assert.equal(r.json.entry.id, id);
  r = await api('/api/workspaces/ws_c/credits', { method: 'POST', body: { amount_usd: '13', reference: 'promo-2024-001' } });
  assertError(r, 400, { param: 'reference' });
  const rs = await Promise.all(Array.from({ length: 10 }, () => api('/api/workspaces/ws_c/credits', { method: 'POST', body: { amount_usd: '1', reference: 'burst' } })));
  assert.equal(rs.filter((x) => x.status === 201).length, 1);
  assert.equal(await balance('ws_c'), b0 + 13500000000n);
  for (const [body, param] of [
    [{ amount_usd: '0', reference: 'z' }, 'amount_usd'],
    [{ amount_usd: '-1', reference: 'z' }, 'amount_usd'],
    [{ amount_usd: 5, reference: 'z' }, 'amount_usd'],
    [{ amount_usd: '1.0000000001', reference: 'z' }, 'amount_usd'],
    [{ amount_usd: '1' }, 'reference'],
    [{ amount_usd: '1', reference: 'has space' }, 'reference'],
    [{ amount_usd: '1', reference: 'z', extra: 1 }, 'extra'],
  ]) assertError(await api('/api/workspaces/ws_c/credits', { method: 'POST', body }), 400, { param });

  // paging: newest first, `before` walks back, every entry seen once
  const all = [];
  let q = '?limit=2';
  for (;;) {
    const page = await ledger('ws_c', q);
    all.push(...page.data);
    if (!page.has_more) break;
    q = `?limit=2&before=${page.next_before}`;
  }
  const ids = all.map((e) => e.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(BigInt(all[0].balance_after_nano), await balance('ws_c'));
  assertError(await api('/api/workspaces/ws_c/ledger?limit=0'), 400, { param: 'limit' });
  assertError(await api('/api/workspaces/ws_c/ledger?limit=x'), 400, { param: 'limit' });
  await invariants();
});

test('checkout: a form POST to the (fake) Stripe API, {id, url} back; Stripe errors are 502 without secrets', async () => {
  fake.reply = { status: 200, body: { id: 'cs_test_fake_1', object: 'checkout.session', url: 'https://checkout.stripe.com/c/pay/cs_test_fake_1' } };
  let r = await api('/api/workspaces/ws_a/checkout', { method: 'POST', body: { amount_usd: '12.50', success_url: 'https://example.com/ok?s={CHECKOUT_SESSION_ID}', cancel_url: 'https://example.com/cancel' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { id: 'cs_test_fake_1', url: 'https://checkout.stripe.com/c/pay/cs_test_fake_1' });
  const req = fake.requests.at(-1);
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/v1/checkout/sessions');
  assert.equal(req.headers.authorization, `Bearer ${STRIPE_KEY}`);
  assert.match(req.headers['content-type'], /application\/x-www-form-urlencoded/);
  const f = req.form;
  assert.equal(f.get('mode'), 'payment');
  assert.equal(f.get('line_items[0][price_data][currency]'), 'usd');
  assert.equal(f.get('line_items[0][price_data][unit_amount]'), '1250');
  assert.equal(f.get('line_items[0][quantity]'), '1');
  assert.equal(f.get('client_reference_id'), 'ws_a');
  assert.equal(f.get('metadata[workspace_id]'), 'ws_a');
  assert.equal(f.get('payment_intent_data[metadata][workspace_id]'), 'ws_a');
  assert.equal(f.get('success_url'), 'https://example.com/ok?s={CHECKOUT_SESSION_ID}');
  assert.equal(f.get('cancel_url'), 'https://example.com/cancel');

  fake.reply = { status: 401, body: { error: { type: 'invalid_request_error', code: 'api_key_invalid', message: `Invalid API Key provided: ${STRIPE_KEY}` } } };
  r = await api('/api/workspaces/ws_a/checkout', { method: 'POST', body: { amount_usd: '5', success_url: 'https://e.com/a', cancel_url: 'https://e.com/b' } });
  assertError(r, 502, { code: 'upstream_error' });
  fake.reply = { status: 200, body: { id: 'cs_late', url: 'https://x' }, delayMs: 3000 };
  r = await api('/api/workspaces/ws_a/checkout', { method: 'POST', body: { amount_usd: '5', success_url: 'https://e.com/a', cancel_url: 'https://e.com/b' } });
  assertError(r, 504, { code: 'upstream_timeout' });
  const n = fake.requests.length;
  for (const [body, param] of [
    [{ amount_usd: '0.49', success_url: 'https://e.com/a', cancel_url: 'https://e.com/b' }, 'amount_usd'],
    [{ amount_usd: '1.005', success_url: 'https://e.com/a', cancel_url: 'https://e.com/b' }, 'amount_usd'],
    [{ amount_usd: '1', success_url: 'ftp://e.com/a', cancel_url: 'https://e.com/b' }, 'success_url'],
    [{ amount_usd: '1', success_url: 'https://e.com/a' }, 'cancel_url'],
  ]) assertError(await api('/api/workspaces/ws_a/checkout', { method: 'POST', body }), 400, { param });
  assertError(await api('/api/workspaces/ws_nobody/checkout', { method: 'POST', body: { amount_usd: '1', success_url: 'https://e.com/a', cancel_url: 'https://e.com/b' } }), 404);
  assert.equal(fake.requests.length, n, 'invalid requests never reach Stripe');
  await invariants();
});

test('the new /api endpoints need the operator token (401) and know their workspaces (404); the webhook does not take the token', async () => {
  const ends = [
    ['GET', '/api/workspaces/ws_a/balance'],
    ['GET', '/api/workspaces/ws_a/ledger'],
    ['POST', '/api/workspaces/ws_a/credits'],
    ['GET', '/api/workspaces/ws_a/usage'],
    ['POST', '/api/workspaces/ws_a/checkout'],
    ['GET', '/api/ledger/check'],
  ];
  const v0 = await version();
  for (const [method, p] of ends) {
    const body = method === 'POST' ? { amount_usd: '1', reference: 'noauth' } : undefined;
    assertError(await api(p, { method, body, token: null }), 401, { code: 'invalid_api_key' });
    assertError(await api(p, { method, body, token: 'nope' }), 401, { code: 'invalid_api_key' });
  }
  assert.equal(await version(), v0);
  for (const [method, p] of ends.slice(0, 4)) {
    const body = method === 'POST' ? { amount_usd: '1', reference: 'nows' } : undefined;
    assertError(await api(p.replace('ws_a', 'ws_nobody'), { method, body }), 404, { code: 'not_found' });
  }
  assertError(await api('/api/workspaces/ws_a/balance', { method: 'POST' }), 405);
  assertError(await httpRequest(`${cp.base}/stripe/webhook`, { method: 'GET' }), 405);
  // the operator token is not a Stripe signature
  const payload = checkoutEvent({ session: 'cs_test_token', ws: 'ws_a', cents: 100 });
  assertError(await webhook(payload, null, { authorization: `Bearer ${cp.token}` }), 400);
  await invariants();
});
