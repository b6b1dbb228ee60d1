// The reliability matrix's security rows (issue 13) as tests, on one control plane (plain bus),
// a bus-mode data plane, the mock, and two prepaid workspaces ws_a and ws_b:
//   G1  key brute force: 10,000 random keys from one client — 20 × 401 (the default
//       --auth-fail-limit), then 429 with retry-after (OpenAI shape; Anthropic's on
//       /v1/messages), a valid key from the same address still served, other clients
//       unaffected, connections spread over loop threads bounded by threads × limit, wrong keys
//       that nearly match and wrong keys that do not take the same time, the block ends with
//       its window;
//   G4  BOLA: ws_a's paths with ws_b's ids (nested, traversal, cursors, references) — 404 or
//       400, ws_b's state unchanged;
//   G5  every admin route (enumerated, and checked against cp_api.c's router) with no token, an
//       API key, a wrong token, a token in the query string — 401, nothing changes;
//   G7  a key in the query string — 401, and the key is in no log;
//   F9  SQL injection through ids, query parameters and bodies — 400/404, tables intact;
//   RFC 9112 two Content-Length headers (or Content-Length with Transfer-Encoding) — 400 and a
//       closed connection on both services, nothing billed, the smuggled request never runs;
//   C8  a foreign process on the plain bus (junk bytes, a wrong SP protocol, an unparsable
//       request) — nothing written, the control plane keeps serving.
// Every successful model call is counted and the file ends with checkLedger: each one billed
// exactly once, refused requests never.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTempDir, startMock, startCp, startBusDp, waitFor, slack, sleep, quietVersion, balanceNano, ledgerEntries, checkLedger, assertOpenAIError, parseMetrics, stopAll, REPO, CP_BIN, childEnv } from './lib/harness.mjs';
import { spRequest, fetchRequest } from './lib/sp.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const WEBHOOK_SECRET = 'whsec_' + crypto.randomBytes(16).toString('hex');
const LIMIT = 20; // switchyard-dp's default --auth-fail-limit
const WINDOW_S = 10; // and --auth-fail-window
const THREADS = 2;
const BRUTE = Number(process.env.SY_BRUTE_KEYS || 10000);

let tmp, mock, cp, dp, dpNoLimit;
const key = {}; // workspace -> API key (secret)
const keyId = {}; // workspace -> key id
const ok = { ws_a: 0, ws_b: 0 }; // successful model calls (each must be billed once)
let blockedUntil = 0; // when 127.0.0.1's failed-auth window ends (ms, wall clock)
const agents = [];

// ------------------------------------------------------------------------------ helpers

/** One HTTP request with node:http; `agent` (keep-alive) or `localAddress` picks the client. */
function req(base, p, { method = 'GET', headers = {}, body, agent, localAddress, timeout = slack(15000) } = {}) {
  const u = new URL(base);
  const b = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const h = { ...headers };
  if (b !== undefined) {
    h['content-type'] ??= 'application/json';
    h['content-length'] = Buffer.byteLength(b);
  }
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const r = http.request({ host: u.hostname, port: u.port, path: p, method, headers: h, agent: agent ?? false, localAddress, timeout }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, ns: Number(process.hrtime.bigint() - t0), localPort: res.socket?.localPort });
      });
    });
    r.on('timeout', () => r.destroy(new Error(`timeout: ${method} ${p}`)));
    r.on('error', reject);
    r.end(b);
  });
}

/** A keep-alive client holding one connection from `localAddress`. */
function client(localAddress) {
  const a = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
  agents.push(a);
  return a;
}

const chatBody = (content = 'hi') => ({ model: 'm-ok', messages: [{ role: 'user', content }] });
const randomKey = () => `sk-sy-${crypto.randomBytes(32).toString('hex')}`;
const chat = (k, opts = {}) => req(dp.url, '/v1/chat/completions', { method: 'POST', headers: { authorization: `Bearer ${k}` }, body: chatBody(opts.content), ...opts });

const dpPort = () => Number(new URL(dp.url).port);

async function dpMetrics(d = dp) {
  const r = await req(d.url, '/metrics');
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

/** Everything a test must not change about a workspace, read through the API. */
async function wsState(ws) {
  const g = async (p) => {
    const r = await cp.api(p);
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    return r.json;
  };
  const keys = (await g(`/api/workspaces/${ws}/keys`)).data;
  return {
    ws: await g(`/api/workspaces/${ws}`),
    keys,
    keyViews: await Promise.all(keys.map((k) => g(`/api/keys/${k.id}`))),
    balance: String(await balanceNano(cp, ws)),
    ledger: await ledgerEntries(cp, ws),
    usage: (await g(`/api/workspaces/${ws}/usage?from=0&group_by=key`)).data,
  };
}

/** Raw bytes to host:port; resolves { text, closed } after the peer closes or `waitMs`. */
function raw(port, bytes, { waitMs = slack(1500) } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const parts = [];
    let closed = false;
    const done = () => resolve({ text: Buffer.concat(parts).toString('latin1'), closed });
    const t = setTimeout(() => {
      s.destroy();
      done();
    }, waitMs);
    s.on('data', (d) => parts.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      clearTimeout(t);
      done();
    });
    s.write(bytes);
  });
}

function sqlite(sql) {
  const r = spawnSync('sqlite3', ['-readonly', '-json', cp.db, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

async function waitBilled() {
  for (const ws of Object.keys(ok)) {
    await waitFor(
      async () => {
        const t = (await cp.api(`/api/workspaces/${ws}/usage?from=0`)).json.total;
        return Number(t.requests) === ok[ws];
      },
      { timeout: slack(10000), what: `${ok[ws]} usage records for ${ws}` },
    );
  }
}

// -------------------------------------------------------------------------------- setup

before(async () => {
  tmp = makeTempDir('sy-matrix-sec-');
  mock = await startMock({ dir: tmp.dir });
  const m = { id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] };
  cp = await startCp({
    dir: tmp.dir,
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 30000 },
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [m, { ...m, id: 'm-two' }],
      workspaces: [],
      keys: [],
    },
    args: ['--balance-refresh-ms', '200'],
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
  });
  for (const ws of ['ws_a', 'ws_b']) {
    let r = await cp.api('/api/workspaces', { method: 'POST', body: { id: ws, name: ws } });
    assert.equal(r.status, 201, r.text);
    r = await cp.api(`/api/workspaces/${ws}/credits`, { method: 'POST', body: { amount_usd: '10', reference: `it-${ws}` } });
    assert.equal(r.status, 201, r.text);
    r = await cp.api(`/api/workspaces/${ws}/keys`, { method: 'POST', body: { name: `${ws} key`, allowed_models: ['*'] } });
    assert.equal(r.status, 201, r.text);
    key[ws] = r.json.key;
    keyId[ws] = r.json.id;
  }
  dp = await startBusDp({ dir: tmp.dir, cp, threads: THREADS, env: { MOCK_KEY: UPSTREAM_KEY } });
  for (const ws of ['ws_a', 'ws_b']) {
    await waitFor(async () => (await req(dp.url, '/v1/models', { headers: { authorization: `Bearer ${key[ws]}` }, localAddress: '127.0.0.9' })).status === 200, { timeout: slack(5000), what: `${ws}'s key on the node` });
    const r = await chat(key[ws], { localAddress: '127.0.0.9' });
    assert.equal(r.status, 200, r.text);
    ok[ws]++;
  }
});

after(async () => {
  for (const a of agents) a.destroy();
  await stopAll([dp?.proc, dpNoLimit?.proc, cp?.proc, mock?.proc], tmp);
});

// ----------------------------------------------------------------------------------- G1

test(`G1: up to ${BRUTE} random keys from one client — ${LIMIT} × 401, then 429 (retry-after, OpenAI and Anthropic shapes); a valid key still works; other clients unaffected`, async () => {
  const m0 = await dpMetrics();
  const mockBefore = mock.requests().length;
  const a = client('127.0.0.1');
  const statuses = [];
  const ports = new Set();
  let first429 = null;
  const t0 = Date.now();
  // all of them inside one 10 s window (the count restarts with the next): at most BRUTE keys
  // or 8 s of guessing, whichever ends first — 10,000 on a normal build, fewer under ASan
  let sent = 0;
  for (let i = 0; i < BRUTE && (i < LIMIT + 1 || Date.now() - t0 < (WINDOW_S - 2) * 1000); i++, sent++) {
    const r = await chat(randomKey(), { agent: a });
    statuses.push(r.status);
    ports.add(r.localPort);
    if (i < LIMIT) assertOpenAIError(r, { status: 401, code: 'invalid_api_key', type: 'invalid_request_error' }, `wrong key #${i + 1}`);
    if (r.status === 429 && first429 === null) {
      first429 = r;
      blockedUntil = Date.now() + Number(r.headers['retry-after']) * 1000;
    }
  }
  const ms = Date.now() - t0;
  assert.ok(sent >= 1000, `at least 1,000 wrong keys within the window (sent ${sent} in ${ms} ms)`);
  assert.equal(ports.size, 1, 'the client kept one connection (one loop thread): the count is exact');
  assert.deepEqual(statuses.slice(0, LIMIT), Array(LIMIT).fill(401), 'the first 20 wrong keys: 401');
  const rest = statuses.slice(LIMIT);
  assert.deepEqual([...new Set(rest)], [429], `every later wrong key: 429 (${rest.filter((s) => s !== 429).length} were not)`);
  const e = assertOpenAIError(first429, { status: 429, code: 'rate_limited', type: 'rate_limit_error' });
  assert.match(e.message, /invalid API key/);
  assert.equal(first429.headers['retry-after'], String(WINDOW_S), 'retry-after: the rest of the 10 s window, in seconds');
  assert.equal(first429.headers['x-should-retry'], 'false', 'the SDKs are told a retry with the same key cannot succeed');
  console.log(`# G1: ${sent} wrong keys in ${ms} ms (${((ms * 1000) / sent).toFixed(0)} µs each): ${LIMIT} × 401, ${rest.length} × 429`);

  // the other entry points count the same way and answer in their own dialect
  let r = await req(dp.url, '/v1/messages', { method: 'POST', agent: a, headers: { 'x-api-key': randomKey(), 'anthropic-version': '2023-06-01' }, body: { model: 'm-ok', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json?.type, 'error', r.text);
  assert.equal(r.json?.error?.type, 'rate_limit_error', r.text);
  assert.match(r.json.error.message, /invalid API key/);
  assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= WINDOW_S, `retry-after ${r.headers['retry-after']}`);
  r = await req(dp.url, '/v1/models', { agent: a, headers: { authorization: `Bearer ${randomKey()}` } });
  assertOpenAIError(r, { status: 429, code: 'rate_limited' }, 'GET /v1/models');
  // no key at all, or not a Bearer credential, is not a guess: still 401
  assertOpenAIError(await chat(undefined, { agent: a, headers: {} }), { status: 401, code: 'invalid_api_key' }, 'no key');
  assertOpenAIError(await req(dp.url, '/v1/chat/completions', { method: 'POST', agent: a, headers: { authorization: `Basic ${key.ws_a}` }, body: chatBody() }), { status: 401, code: 'invalid_api_key' }, 'Basic');

  // during the block the valid key from the same address (same connection) is served and billed
  r = await chat(key.ws_a, { agent: a, content: 'valid during the block' });
  assert.equal(r.status, 200, r.text);
  ok.ws_a++;
  // another client: its wrong keys are its own (401), its valid key works
  const other = client('127.0.0.2');
  assertOpenAIError(await chat(randomKey(), { agent: other }), { status: 401, code: 'invalid_api_key' }, 'another client');
  r = await chat(key.ws_b, { agent: other });
  assert.equal(r.status, 200, r.text);
  ok.ws_b++;

  // nothing of it reached the provider but the two valid calls
  assert.equal(mock.requests().length - mockBefore, 2, 'only the valid requests went upstream');
  const m1 = await dpMetrics();
  const d = (n) => (m1.get(n) ?? 0) - (m0.get(n) ?? 0);
  assert.equal(d('switchyard_auth_failures_total'), sent + 3, 'every wrong key counted (the brute force + messages + models + the other client)');
  assert.equal(d('switchyard_auth_throttled_total'), sent - LIMIT + 2);
  assert.equal(d('switchyard_auth_blocked_clients_total'), 1);
  assert.equal(m1.get('switchyard_auth_fail_limit'), LIMIT);
  const lines = dp.proc.stderr.split('\n').filter((l) => l.includes('failed authentications over the limit'));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /level=warn .*client=127\.0\.0\.1 limit=20 retry_after_s=10/);
  assert.match(dp.proc.stderr, /status=429 end=auth_throttled/, 'the access log names why');
});

test(`G1: a client spreading its guesses over many connections gets at most threads × ${LIMIT} answers of 401`, async () => {
  const conns = Array.from({ length: 8 }, () => client('127.0.0.3'));
  const counts = { 401: 0, 429: 0 };
  await Promise.all(
    conns.map(async (a) => {
      for (let i = 0; i < 40; i++) {
        const r = await chat(randomKey(), { agent: a });
        counts[r.status] = (counts[r.status] ?? 0) + 1;
      }
    }),
  );
  assert.deepEqual(Object.keys(counts).sort(), ['401', '429'], JSON.stringify(counts));
  assert.ok(counts[401] >= LIMIT && counts[401] <= THREADS * LIMIT, `401s: ${counts[401]} (bound ${THREADS} × ${LIMIT})`);
  assert.equal(counts[401] + counts[429], 320);
  console.log(`# G1: 8 connections × 40 wrong keys: ${counts[401]} × 401, ${counts[429]} × 429`);
});

test('G1: a wrong key that nearly matches a real one and an unrelated wrong key take the same time (limit off: --auth-fail-limit 0)', async () => {
  dpNoLimit = await startBusDp({ dir: tmp.dir, cp, threads: 1, args: ['--auth-fail-limit', '0'], env: { MOCK_KEY: UPSTREAM_KEY }, name: 'switchyard-dp-nolimit' });
  const a = client('127.0.0.1');
  const real = key.ws_a;
  const flip = (s, i) => s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);
  const kinds = {
    near: () => flip(real, real.length - 1), // all but the last character right
    far: randomKey, // same length and shape, nothing in common
  };
  const t = { near: [], far: [] };
  const get = (k) => req(dpNoLimit.url, '/v1/models', { agent: a, headers: { authorization: `Bearer ${k}` } });
  for (let i = 0; i < 200; i++) await get(kinds[i % 2 ? 'near' : 'far']()); // warm-up
  for (let i = 0; i < 1500; i++) {
    const order = i % 2 ? ['near', 'far'] : ['far', 'near'];
    for (const k of order) {
      const r = await get(kinds[k]());
      assert.equal(r.status, 401, r.text); // limit off: never 429
      t[k].push(r.ns);
    }
  }
  const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1] / 1000;
  const mn = med(t.near);
  const mf = med(t.far);
  console.log(`# G1 timing: median near-miss ${mn.toFixed(1)} µs, unrelated ${mf.toFixed(1)} µs (1500 each, interleaved)`);
  assert.ok(Math.abs(mn - mf) <= Math.max(0.25 * Math.min(mn, mf), 50), `medians ${mn.toFixed(1)} vs ${mf.toFixed(1)} µs`);
  const m = await dpMetrics(dpNoLimit);
  assert.equal(m.get('switchyard_auth_fail_limit'), 0);
  assert.equal(m.get('switchyard_auth_throttled_total'), 0);
  // the comparison is constant-time (SHA-256 of the presented key, then sy_ct_equal): checked in the source
  const src = fs.readFileSync(path.join(REPO, 'dataplane', 'dp_snapshot.c'), 'utf8');
  const def = 'static const dp_key_t *find_current(const dp_snapshot_t *s, const uint8_t sha256[SY_SHA256_LEN])\n{';
  assert.ok(src.includes(def), 'find_current is defined in dp_snapshot.c');
  const fc = src.slice(src.indexOf(def), src.indexOf('\n}\n', src.indexOf(def)));
  assert.match(fc, /sy_ct_equal\(k->sha256, sha256, SY_SHA256_LEN\)/);
  assert.doesNotMatch(fc, /memcmp/);
});

// ----------------------------------------------------------------------------------- G7

test('G7: a key in the query string (?api_key=, ?key=, …) is not accepted, and no log holds it', async () => {
  const k = key.ws_a;
  const c = client('127.0.0.4');
  for (const q of ['api_key', 'key', 'api-key', 'access_token', 'token', 'authorization']) {
    const qs = `?${q}=${encodeURIComponent(k)}`;
    assertOpenAIError(await req(dp.url, `/v1/chat/completions${qs}`, { method: 'POST', agent: c, body: chatBody() }), { status: 401, code: 'invalid_api_key' }, `chat ${q}`);
    assertOpenAIError(await req(dp.url, `/v1/models${qs}`, { agent: c }), { status: 401, code: 'invalid_api_key' }, `models ${q}`);
    const r = await req(dp.url, `/v1/messages${qs}`, { method: 'POST', agent: c, headers: { 'anthropic-version': '2023-06-01' }, body: { model: 'm-ok', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json?.error?.type, 'authentication_error', r.text);
    assertOpenAIError(await req(dp.url, `/v1/nothing-here${qs}`, { agent: c }), { status: 404, code: 'not_found' }, `unknown path ${q}`);
    // the operator token in the query string is not accepted by the admin API either
    const a = await req(cp.base, `/api/workspaces?${q}=${encodeURIComponent(cp.token)}`);
    assert.equal(a.status, 401, a.text);
  }
  await sleep(200);
  const secret = k.slice('sk-sy-'.length);
  const logs = { dp: dp.proc.stderr + dp.proc.stdout, cp: cp.proc.stderr + cp.proc.stdout, mock: fs.readFileSync(mock.logFile, 'utf8') };
  for (const [name, text] of Object.entries(logs)) {
    assert.ok(!text.includes(secret), `the key's secret part is in the ${name} log`);
    assert.ok(!text.includes(encodeURIComponent(k).slice(12)), `the key (encoded) is in the ${name} log`);
    assert.ok(!text.includes(cp.token.slice(3)), `the operator token is in the ${name} log`);
  }
  assert.match(logs.dp, /ep=unknown method=GET path="\/v1\/nothing-here" status=404/, 'the unknown path is logged without its query');
});

// ----------------------------------------------------------------------------------- G4

test("G4 (BOLA): ws_a's paths with ws_b's ids — 404 (or 400 for a reused reference), ws_b unchanged", async () => {
  await waitBilled(); // earlier calls' usage (and debits) have landed: the state read next is settled
  const bEntries = await ledgerEntries(cp, 'ws_b');
  const bEntry = bEntries[0].id;
  const bRef = bEntries.find((e) => e.ref.startsWith('grant:')).ref.slice('grant:'.length);
  const before = { a: await wsState('ws_a'), b: await wsState('ws_b') };
  const KB = keyId.ws_b;
  const body = { name: 'x', allowed_models: ['*'], amount_usd: '100', reference: 'bola', active: false, budget_usd: '0.01', rpm: 1 };
  const notFound = [
    // ws_a's workspace path with ws_b's resources nested under it (no such routes)
    ['GET', `/api/workspaces/ws_a/keys/${KB}`],
    ['PATCH', `/api/workspaces/ws_a/keys/${KB}`, { name: 'stolen', rpm: 1 }],
    ['POST', `/api/workspaces/ws_a/keys/${KB}/revoke`],
    ['POST', `/api/workspaces/ws_a/keys/${KB}/rotate`],
    ['GET', `/api/workspaces/ws_a/ledger/${bEntry}`],
    ['GET', `/api/workspaces/ws_a/usage/${KB}`],
    ['GET', '/api/workspaces/ws_a/balance/ws_b'],
    ['POST', '/api/workspaces/ws_a/credits/ws_b', { amount_usd: '100', reference: 'bola-nested' }],
    ['POST', '/api/workspaces/ws_a/disable/ws_b'],
    ['GET', '/api/workspaces/ws_a/ws_b'],
    ['GET', `/api/keys/${keyId.ws_a}/${KB}`],
    // ws_a's path that walks into ws_b (h2o would resolve these; the control plane refuses them)
    ['GET', '/api/workspaces/ws_a/../ws_b/balance'],
    ['GET', '/api/workspaces/ws_a/..%2Fws_b/balance'],
    ['GET', '/api/workspaces/ws_a%2F..%2Fws_b/keys'],
    ['GET', '/api/workspaces/ws_a/%2e%2e/ws_b/ledger'],
    ['GET', '/api/workspaces/ws_a/%2E./ws_b/usage'],
    ['POST', '/api/workspaces/ws_a/../ws_b/credits', { amount_usd: '100', reference: 'bola-walk' }],
    ['POST', '/api/workspaces/ws_a/..%2fws_b/disable'],
    ['PATCH', '/api/workspaces/ws_a/..%2Fws_b', { active: false }],
    ['POST', '/api/workspaces/ws_a/..%2Fws_b/keys', { name: 'planted', allowed_models: ['*'] }],
    ['PATCH', `/api/workspaces/ws_a/..%2F..%2Fkeys/${KB}`, { name: 'stolen' }],
    ['POST', `/api/workspaces/ws_a/..%2F..%2Fkeys/${KB}/revoke`],
    ['GET', `/api/workspaces/ws_a%5C..%5Cws_b/balance`],
  ];
  for (const [method, p, b] of notFound) {
    const r = await req(cp.base, p, { method, headers: { authorization: `Bearer ${cp.token}` }, body: method === 'GET' ? undefined : (b ?? body) });
    assertOpenAIError(r, { status: 404, code: 'not_found', requestId: false }, `${method} ${p}`);
    assert.ok(!r.text.includes('ws_b') || /not found|no such/.test(r.json.error.message), `${method} ${p} leaked: ${r.text}`);
  }
  // references to ws_b from ws_a's routes
  let r = await cp.api(`/api/workspaces/ws_a/ledger?before=${bEntry + 1}&limit=500`);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.data.every((e) => e.workspace === 'ws_a' && !bEntries.some((x) => x.id === e.id)), `ws_a's ledger cursor showed ws_b's entries: ${r.text}`);
  r = await cp.api('/api/workspaces/ws_a/usage?from=0&group_by=key');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data.map((x) => x.key_id), [keyId.ws_a], r.text);
  // ws_b's grant reference reused on ws_a: refused (references are global idempotency keys), nothing written, nothing of ws_b shown
  r = await cp.api('/api/workspaces/ws_a/credits', { method: 'POST', body: { amount_usd: '10', reference: bRef } });
  assertOpenAIError(r, { status: 400, param: 'reference', requestId: false });
  const shown = r.text.replaceAll(bRef, '<the reference sent>');
  assert.ok(!shown.includes('ws_b') && !shown.includes(`entry ${bEntry}`), `the refusal shows ws_b's entry: ${r.text}`);
  // no body field moves a resource to another workspace
  for (const [method, p, b, param] of [
    ['POST', '/api/workspaces/ws_a/keys', { name: 'x', allowed_models: ['*'], workspace_id: 'ws_b' }, 'workspace_id'],
    ['POST', '/api/workspaces/ws_a/keys', { name: 'x', allowed_models: ['*'], workspace: 'ws_b' }, 'workspace'],
    ['PATCH', `/api/keys/${KB}`, { workspace_id: 'ws_a' }, 'workspace_id'],
    ['PATCH', '/api/workspaces/ws_a', { id: 'ws_b' }, 'id'],
    ['POST', '/api/workspaces/ws_a/credits', { amount_usd: '1', reference: 'bola-ws', workspace: 'ws_b' }, 'workspace'],
  ]) {
    assertOpenAIError(await cp.api(p, { method, body: b }), { status: 400, param, requestId: false }, `${method} ${p} ${JSON.stringify(b)}`);
  }
  const afterB = await wsState('ws_b');
  assert.deepEqual(afterB, before.b, "ws_b's workspace, keys, balance, ledger and usage are unchanged");
  assert.deepEqual(await wsState('ws_a'), before.a, "ws_a's too (every attempt was refused)");
  // and ws_b's key still works and is billed
  r = await chat(key.ws_b, { localAddress: '127.0.0.5' });
  assert.equal(r.status, 200, r.text);
  ok.ws_b++;
});

// ----------------------------------------------------------------------------------- G5

// Every route of the admin API (the table in controlplane/cp_routes.c), with ws_a's ids and bodies
// that would succeed with the operator token. The test below checks the list against the router.
function adminRoutes() {
  const catalogBody = { catalog: { providers: [], models: [], workspaces: [{ id: 'ws_planted', active: true }], keys: [] }, force: true };
  return [
    ['GET', '/api/snapshot/version'],
    ['GET', '/api/nodes'],
    ['GET', '/api/ledger/check'],
    ['GET', '/api/workspaces'],
    ['POST', '/api/workspaces', { id: 'ws_planted', name: 'planted' }],
    ['GET', '/api/workspaces/ws_a'],
    ['PATCH', '/api/workspaces/ws_a', { active: false }],
    ['POST', '/api/workspaces/ws_a/disable'],
    ['GET', '/api/workspaces/ws_a/keys'],
    ['POST', '/api/workspaces/ws_a/keys', { name: 'planted', allowed_models: ['*'] }],
    ['GET', '/api/workspaces/ws_a/balance'],
    ['GET', '/api/workspaces/ws_a/ledger'],
    ['POST', '/api/workspaces/ws_a/credits', { amount_usd: '1000', reference: 'g5-grant' }],
    ['GET', '/api/workspaces/ws_a/usage'],
    ['GET', '/api/workspaces/ws_a/usage/records'],
    ['GET', '/api/workspaces/ws_a/usage/savings'],
    ['POST', '/api/workspaces/ws_a/checkout', { amount_usd: '10.00', success_url: 'https://x.test/ok', cancel_url: 'https://x.test/no' }],
    ['POST', `/api/keys/${keyId.ws_a}/revoke`],
    ['POST', `/api/keys/${keyId.ws_a}/rotate`, { grace_seconds: 0 }],
    ['GET', `/api/keys/${keyId.ws_a}`],
    ['PATCH', `/api/keys/${keyId.ws_a}`, { rpm: 1 }],
    ['GET', '/api/providers'],
    ['GET', '/api/models'],
    ['GET', '/api/models/m-ok'],
    ['PATCH', '/api/models/m-ok', { input_per_m: '0', output_per_m: '0' }],
    ['POST', '/api/catalog/reload'],
    ['POST', '/api/catalog/import', catalogBody],
    ['GET', '/api/catalog/status'],
    ['GET', '/api/aliases'],
    ['GET', '/api/aliases/free'],
    ['PUT', '/api/aliases/free', { model: 'm-ok' }],
    ['DELETE', '/api/aliases/free'],
    ['GET', '/api/openapi.json'],
    ['GET', '/api/config'],
    ['POST', '/api/auth/logout'],
    ['GET', '/api/auth/me'],
    ['POST', '/api/auth/accept-invite', { invite: '0'.repeat(64) }],
    ['POST', '/api/workspaces/ws_a/invites', { role: 'owner' }],
    ['GET', '/api/no-such-thing'],
  ];
}

test('G5: the route list covers every route of the table in controlplane/cp_routes.c', () => {
  const src = fs.readFileSync(path.join(REPO, 'controlplane', 'cp_routes.c'), 'utf8');
  const table = [...src.matchAll(/\{"([A-Z]+)",\s*"(\/[^"]*)",\s*cp_h_\w+,\s*(CP_WHO_\w+)/g)].map((m) => ({ method: m[1], pattern: m[2], who: m[3] }));
  assert.ok(table.length >= 30, `parsed ${table.length} routes`);
  const routes = adminRoutes();
  const matches = (pattern, p) => {
    const a = pattern.split('/');
    const b = p.split('?')[0].split('/');
    return a.length === b.length && a.every((seg, i) => seg === ':id' || seg === b[i]);
  };
  for (const r of table) {
    // sign-up and log-in take no credential by design, like /healthz, /metrics and the
    // webhook (docs/dashboard.md, docs/controlplane.md)
    if (!r.pattern.startsWith('/api/') || r.who === 'CP_WHO_PUBLIC') continue;
    assert.ok(routes.some(([m, p]) => m === r.method && matches(r.pattern, p)), `cp_routes.c has ${r.method} ${r.pattern}, which this test does not try`);
  }
});

test('G5: every admin route refuses no token, an API key, a wrong token and a token in the query string (401); nothing changes', async () => {
  await waitBilled(); // earlier calls' usage (and debits) have landed: the state read next is settled
  const v0 = await quietVersion(cp);
  const before = { a: await wsState('ws_a'), b: await wsState('ws_b'), ws: (await cp.api('/api/workspaces')).json, models: (await cp.api('/api/models')).json, aliases: (await cp.api('/api/aliases')).json };
  const creds = [
    ['none', {}],
    ["ws_a's API key (Bearer)", { authorization: `Bearer ${key.ws_a}` }],
    ["ws_b's API key (x-api-key)", { 'x-api-key': key.ws_b }],
    ['a wrong token', { authorization: `Bearer ${cp.token}x` }],
    ['the token cut short', { authorization: `Bearer ${cp.token.slice(0, -1)}` }],
    ['the token in upper case', { authorization: `Bearer ${cp.token.toUpperCase()}` }],
    ['Basic with the token', { authorization: `Basic ${cp.token}` }],
    ['the token as x-api-key', { 'x-api-key': cp.token }],
    ['the token in the query string', {}, `token=${cp.token}`],
  ];
  let n = 0;
  for (const [method, p, b] of adminRoutes()) {
    for (const [what, headers, query] of creds) {
      const r = await req(cp.base, query ? `${p}${p.includes('?') ? '&' : '?'}${query}` : p, { method, headers, body: b });
      assertOpenAIError(r, { status: 401, code: 'invalid_api_key', requestId: false }, `${method} ${p} with ${what}`);
      assert.equal(r.headers['www-authenticate'], 'Bearer', `${method} ${p} with ${what}`);
      n++;
    }
  }
  // the Stripe webhook is authenticated by its signature only: the operator token or an API key does not credit
  const ev = JSON.stringify({ id: 'evt_g5', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_g5', object: 'checkout.session', mode: 'payment', payment_status: 'paid', amount_total: 100000, currency: 'usd', client_reference_id: 'ws_a', metadata: {} } } });
  for (const headers of [{ authorization: `Bearer ${cp.token}` }, { authorization: `Bearer ${key.ws_a}` }, { authorization: `Bearer ${cp.token}`, 'stripe-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }]) {
    const r = await req(cp.base, '/stripe/webhook', { method: 'POST', headers, body: ev });
    assertOpenAIError(r, { status: 400, requestId: false }, `webhook with ${JSON.stringify(Object.keys(headers))}`);
  }
  assert.equal(await quietVersion(cp), v0, 'no versioned write');
  assert.deepEqual({ a: await wsState('ws_a'), b: await wsState('ws_b'), ws: (await cp.api('/api/workspaces')).json, models: (await cp.api('/api/models')).json, aliases: (await cp.api('/api/aliases')).json }, before);
  console.log(`# G5: ${n} unauthorised admin requests over ${adminRoutes().length} routes, all 401`);
  // no workspace-scoped credential exists: an API key is never an admin credential (above)
});

// ----------------------------------------------------------------------------------- F9

const HOSTILE = [
  "' OR '1'='1",
  "x'; DROP TABLE workspaces;--",
  '1; DELETE FROM ledger',
  "ws_a' --",
  '") OR 1=1 --',
  '1 UNION SELECT sha256 FROM api_keys',
  "'; UPDATE balances SET balance_nano = 999999999999 WHERE '1'='1",
  'ws_a\' AND "1"="1',
];

test('F9: SQL injection through ids, query parameters and bodies — 400/404, stored literally where it is data, tables intact', async () => {
  await waitBilled(); // earlier calls' usage (and debits) have landed: the state read next is settled
  const tables = sqlite("SELECT type, name FROM sqlite_master WHERE type IN ('table','index','trigger') ORDER BY name");
  const count = () => sqlite('SELECT (SELECT COUNT(*) FROM workspaces) AS ws, (SELECT COUNT(*) FROM api_keys) AS keys, (SELECT COUNT(*) FROM ledger) AS ledger, (SELECT COUNT(*) FROM usage) AS usage, (SELECT COALESCE(SUM(balance_nano), 0) FROM balances) AS bal')[0];
  const c0 = count();
  const st0 = { a: await wsState('ws_a'), b: await wsState('ws_b') };
  let n = 0;
  const expect = async (method, p, b, allowed = [400, 404]) => {
    const r = await cp.api(p, { method, body: b });
    assert.ok(allowed.includes(r.status), `${method} ${p} ${b ? JSON.stringify(b) : ''}: ${r.status} ${r.text}`);
    assertOpenAIError(r, { requestId: false });
    n++;
    return r;
  };
  for (const h of HOSTILE) {
    const e = encodeURIComponent(h);
    for (const p of [`/api/workspaces/${e}`, `/api/workspaces/${e}/keys`, `/api/workspaces/${e}/balance`, `/api/workspaces/${e}/ledger`, `/api/workspaces/${e}/usage`, `/api/keys/${e}`, `/api/models/${e}`, `/api/aliases/${e}`]) await expect('GET', p);
    await expect('PATCH', `/api/workspaces/${e}`, { name: 'x' });
    await expect('POST', `/api/workspaces/${e}/disable`);
    await expect('POST', `/api/workspaces/${e}/keys`, { name: 'x', allowed_models: ['*'] });
    await expect('POST', `/api/workspaces/${e}/credits`, { amount_usd: '1', reference: `f9-${crypto.randomBytes(4).toString('hex')}` });
    await expect('PATCH', `/api/keys/${e}`, { rpm: 1 });
    await expect('POST', `/api/keys/${e}/revoke`);
    await expect('POST', `/api/keys/${e}/rotate`);
    await expect('PATCH', `/api/models/${e}`, { input_per_m: '0' });
    await expect('PUT', `/api/aliases/${e}`, { model: 'm-ok' });
    await expect('DELETE', `/api/aliases/${e}`);
    // query parameters: pagination, cursors, time bounds, grouping
    for (const q of ['limit', 'before']) await expect('GET', `/api/workspaces/ws_a/ledger?${q}=${e}`, undefined, [400]);
    for (const q of ['from', 'to', 'group_by']) await expect('GET', `/api/workspaces/ws_a/usage?${q}=${e}`, undefined, [400]);
    // body values that are ids or words: refused; values that are free text: stored as text
    await expect('POST', '/api/workspaces', { id: h, name: 'x' }, [400]);
    await expect('POST', '/api/workspaces/ws_a/keys', { name: 'x', allowed_models: [h] }, [400]);
    await expect('POST', '/api/workspaces/ws_a/credits', { amount_usd: h, reference: 'f9-amount' }, [400]);
    await expect('POST', '/api/workspaces/ws_a/credits', { amount_usd: '1', reference: h }, [400]);
    await expect('PATCH', '/api/models/m-ok', { upstream: h }, [400]);
    await expect('PATCH', `/api/keys/${keyId.ws_a}`, { budget_usd: h }, [400]);
    await expect('PATCH', `/api/keys/${keyId.ws_a}`, { expires_at: h }, [400]);
    await expect('PATCH', '/api/workspaces/ws_a', { rpm: h }, [400]);
    await expect('PUT', '/api/aliases/f9-alias', { model: h }, [400, 404]);
  }
  // pagination given twice, out of range, or as an expression: 400 (one value per field)
  for (const q of ['limit=1&limit=500', 'limit=0', 'limit=501', 'limit=1e3', 'limit=-1', 'limit=0x10', 'before=1&before=2', 'before=9223372036854775808', 'limit=%31']) await expect('GET', `/api/workspaces/ws_a/ledger?${q}`, undefined, [400]);
  for (const q of ['from=1&from=2', 'group_by=key&group_by=day', 'from=2024-13-01', 'to=0']) await expect('GET', `/api/workspaces/ws_a/usage?${q}`, undefined, [400]);
  // there is no sort parameter: the order is fixed in the SQL; unknown parameters are ignored
  const l0 = (await cp.api('/api/workspaces/ws_a/ledger')).json;
  for (const q of ['order_by=id;DROP%20TABLE%20ledger', 'sort=amount_nano%20DESC', 'order=1,(SELECT%201)']) assert.deepEqual((await cp.api(`/api/workspaces/ws_a/ledger?${q}`)).json, l0, q);

  assert.deepEqual(count(), c0, 'no row added, removed or changed in workspaces, api_keys, ledger, usage, balances');
  assert.deepEqual({ a: await wsState('ws_a'), b: await wsState('ws_b') }, st0);

  // hostile text where text is allowed (names, notes) is data: stored and shown byte for byte
  const ws = 'ws_sql';
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id: ws, name: HOSTILE[1] } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.name, HOSTILE[1]);
  // an id may hold a quote (ids are printable words): it is a value, found by exactly itself
  const quoted = "ws_q';--";
  r = await cp.api('/api/workspaces', { method: 'POST', body: { id: quoted, name: 'q' } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api(`/api/workspaces/${encodeURIComponent(quoted)}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, quoted);
  assert.equal((await cp.api(`/api/workspaces/${encodeURIComponent("ws_q'")}`)).status, 404);
  r = await cp.api(`/api/workspaces/${ws}/keys`, { method: 'POST', body: { name: HOSTILE[7], allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  assert.equal((await cp.api(`/api/keys/${r.json.id}`)).json.name, HOSTILE[7]);
  r = await cp.api(`/api/workspaces/${ws}/credits`, { method: 'POST', body: { amount_usd: '0.01', reference: 'f9-note', note: HOSTILE[2] } });
  assert.equal(r.status, 201, r.text);
  assert.equal((await ledgerEntries(cp, ws))[0].note, HOSTILE[2]);
  const c1 = count();
  assert.deepEqual({ ws: c1.ws, keys: c1.keys, ledger: c1.ledger, usage: c1.usage }, { ws: c0.ws + 2, keys: c0.keys + 1, ledger: c0.ledger + 1, usage: c0.usage });
  assert.equal(BigInt(c1.bal), BigInt(c0.bal) + 10000000n, 'balances: exactly the 0.01 credit');
  assert.deepEqual(sqlite("SELECT type, name FROM sqlite_master WHERE type IN ('table','index','trigger') ORDER BY name"), tables, 'the schema is intact');
  assert.deepEqual(sqlite('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  const chk = spawnSync(CP_BIN, ['--check-db', cp.db], { env: childEnv(), encoding: 'utf8' });
  assert.equal(chk.status, 0, chk.stdout + chk.stderr);
  console.log(`# F9: ${n} hostile requests refused (${HOSTILE.length} payloads); schema, rows and balances unchanged`);
});

// -------------------------------------------------------------------- RFC 9112: framing

test('two Content-Length headers (or Content-Length with Transfer-Encoding): 400, connection closed, nothing runs or is billed — data plane and control plane', async () => {
  const mockBefore = mock.requests().length;
  const bal = await balanceNano(cp, 'ws_a');
  const b = JSON.stringify(chatBody('smuggle'));
  const smuggled = `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key.ws_a}\r\n\r\n`;
  const head = (extra) => `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key.ws_a}\r\nContent-Type: application/json\r\n${extra}\r\n`;
  const chunked = `${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`;
  const cases = {
    'two different lengths': head(`Content-Length: ${b.length}\r\nContent-Length: ${b.length + smuggled.length}\r\n`) + b + smuggled,
    'two equal lengths': head(`Content-Length: ${b.length}\r\ncontent-length: ${b.length}\r\n`) + b + smuggled,
    'length then chunked': head(`Content-Length: ${b.length}\r\nTransfer-Encoding: chunked\r\n`) + chunked + smuggled,
    'chunked then length': head(`Transfer-Encoding: chunked\r\nContent-Length: 4\r\n`) + chunked + smuggled,
    'after an empty line': '\r\n' + head(`Content-Length: ${b.length}\r\nContent-Length: ${b.length + smuggled.length}\r\n`) + b + smuggled,
    'names in odd case': head(`CONTENT-LENGTH: ${b.length}\r\ncOnTeNt-LeNgTh: ${b.length + smuggled.length}\r\n`) + b + smuggled,
  };
  for (const [what, bytes] of Object.entries(cases)) {
    const r = await raw(dpPort(), bytes);
    assert.ok(r.closed, `${what}: the connection is closed`);
    const responses = r.text.match(/^HTTP\/1\.1 \d+/gm) ?? [];
    assert.deepEqual(responses, ['HTTP/1.1 400'], `${what}: one 400, the smuggled request never answered:\n${r.text}`);
    assert.match(r.text, /connection: close/i);
    const json = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));
    assert.equal(json.error.code, 'invalid_request_error', what);
    assert.match(json.error.message, /Content-Length/);
  }
  // control: the same request with one Content-Length is served (and billed)
  const good = await raw(dpPort(), head(`Content-Length: ${b.length}\r\nConnection: close\r\n`) + b);
  assert.match(good.text, /^HTTP\/1\.1 200/, good.text);
  ok.ws_a++;
  assert.equal(mock.requests().length - mockBefore, 1, 'only the control request reached the provider');

  // the control plane: a credit with two lengths is refused and writes nothing
  const cb = JSON.stringify({ amount_usd: '5', reference: 'two-lengths' });
  const cpHead = (extra) => `POST /api/workspaces/ws_a/credits HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${cp.token}\r\nContent-Type: application/json\r\n${extra}\r\n`;
  const cpPort = Number(new URL(cp.base).port);
  for (const bytes of [cpHead(`Content-Length: ${cb.length}\r\nContent-Length: ${cb.length + 5}\r\n`) + cb + 'xxxxx', cpHead(`Content-Length: ${cb.length}\r\nTransfer-Encoding: chunked\r\n`) + `${cb.length.toString(16)}\r\n${cb}\r\n0\r\n\r\n`]) {
    const r = await raw(cpPort, bytes);
    assert.ok(r.closed);
    assert.deepEqual(r.text.match(/^HTTP\/1\.1 \d+/gm), ['HTTP/1.1 400'], r.text);
    assert.match(r.text, /ambiguous request framing/);
  }
  const wh = await raw(cpPort, `POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x`);
  assert.deepEqual(wh.text.match(/^HTTP\/1\.1 \d+/gm), ['HTTP/1.1 400'], wh.text);
  await waitBilled();
  assert.equal((await ledgerEntries(cp, 'ws_a')).filter((e) => e.ref === 'grant:two-lengths').length, 0, 'no credit');
  assert.ok((await balanceNano(cp, 'ws_a')) < bal, 'only the control request was debited');
});

// ----------------------------------------------------------------------------------- C8

test('C8: a foreign process on the plain bus (junk, a wrong protocol, an unparsable request) writes nothing; the control plane keeps serving', async () => {
  await waitBilled(); // earlier calls' usage (and debits) have landed: the state read next is settled
  assert.match(cp.proc.stderr, /msg="bus is not authenticated: any local process can read snapshots and post usage"/, 'the plain bus warns at start');
  const nodes = async () => (await cp.api('/api/nodes')).json.nodes.map((x) => x.id).sort();
  const n0 = await nodes();
  const st0 = { a: await wsState('ws_a'), b: await wsState('ws_b') };
  const ports = [cp.repUrl, cp.pubUrl].map((u) => Number(u.split(':').pop()));
  for (const port of ports) {
    // junk that is not the SP protocol: the connection is dropped, nothing is answered
    for (const junk of [crypto.randomBytes(256), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from([0, 0x53, 0x50, 0, 0x00, 0x10, 0, 0, 0xff, 0xff])]) {
      const r = await raw(port, junk, { waitMs: slack(2000) });
      assert.ok(r.closed, `port ${port}: the bus closed a connection that sent ${junk.subarray(0, 12).toString('hex')}`);
      assert.ok(!/HTTP\/1\.1|switchyard/.test(r.text), `port ${port} answered junk: ${r.text.slice(0, 80)}`);
    }
  }
  // a REQ0 client whose request is not a BusRequest: it gets the snapshot (reading is what the
  // plain bus allows every local process, docs/controlplane.md), and nothing is written
  const { body } = await spRequest(cp.repUrl, Buffer.concat([Buffer.from([0x07]), crypto.randomBytes(63)]), { timeoutMs: slack(5000) }); // field 0, wire type 7: never a message
  assert.ok(body.length > 0);
  await sleep(slack(500));
  assert.deepEqual(await nodes(), n0, 'no node registered');
  assert.deepEqual({ a: await wsState('ws_a'), b: await wsState('ws_b') }, st0, 'nothing written');
  // the control plane still serves the API and the fleet: a new key reaches the node
  const r = await cp.api('/api/workspaces/ws_b/keys', { method: 'POST', body: { name: 'after junk', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  await waitFor(async () => (await chat(r.json.key, { localAddress: '127.0.0.6' })).status === 200, { timeout: slack(5000), what: 'a key created after the junk, served by the node' });
  ok.ws_b++;
  const { body: snap } = await spRequest(cp.repUrl, fetchRequest(0), { timeoutMs: slack(5000) });
  assert.ok(snap.length > 100, 'snapshots still served on the bus');
  assert.ok(cp.proc.running && dp.proc.running);
});

// -------------------------------------------------------------------------- G1 (end) + money

test('G1: the block ends with its window (a wrong key from 127.0.0.1 is 401 again); every success billed exactly once', async () => {
  assert.ok(blockedUntil > 0, 'the first G1 test ran');
  const a = client('127.0.0.1');
  // still inside the window: 429 (a fresh connection may land on the other thread: allow its own count)
  const wait = blockedUntil - Date.now();
  if (wait > 1500) {
    const r = await chat(randomKey(), { agent: a });
    assert.ok([401, 429].includes(r.status), r.text);
  }
  await sleep(Math.max(0, blockedUntil - Date.now()) + 300);
  // both threads' windows are over: the next wrong keys get 401 again
  const fresh = client('127.0.0.1');
  const r = await chat(randomKey(), { agent: fresh });
  assertOpenAIError(r, { status: 401, code: 'invalid_api_key' }, 'after the window');
  await waitBilled();
  await checkLedger(cp, { okRequests: ok });
  assert.deepEqual(sqlite("SELECT outcome, COUNT(*) AS n FROM usage WHERE workspace_id IN ('ws_a','ws_b') GROUP BY outcome"), [{ outcome: 'ok', n: ok.ws_a + ok.ws_b }], 'no usage record for any refused request');
});
