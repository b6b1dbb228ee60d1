// The control plane's OpenAPI 3.1 document (web/openapi.json, served at GET /api/openapi.json):
// it validates against the OpenAPI 3.1 schema; its paths and methods are exactly the route table
// of controlplane/cp_routes.c (both directions), each operation naming who may call it as the
// table does and the matching security (operator token, session cookie + x-csrf-token on unsafe
// methods); and it describes the live API: every operation is called once on a running control
// plane (operator token, dashboard sessions, the bus for usage records, a fake Stripe) and each
// answer's status must be documented and its body must match the documented schema (ajv, JSON
// Schema 2020-12), including error answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import protobuf from 'protobufjs';
import Stripe from 'stripe';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { REPO, makeTempDir, startCp, closedPort, stopAll, httpRequest } from './lib/harness.mjs';
import { spRequest } from './lib/sp.mjs';

const DOC_FILE = path.join(REPO, 'web', 'openapi.json');
const doc = JSON.parse(fs.readFileSync(DOC_FILE, 'utf8'));

// who, as cp_routes.c names it → the document's x-switchyard-access
const WHO = {
  CP_WHO_ANYONE: 'anyone',
  CP_WHO_STRIPE: 'stripe',
  CP_WHO_PUBLIC: 'public',
  CP_WHO_SESSION: 'session',
  CP_WHO_USER: 'user',
  CP_WHO_MEMBER: 'member',
  CP_WHO_OWNER: 'owner',
  CP_WHO_OPERATOR: 'operator',
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function routeTable() {
  const src = fs.readFileSync(path.join(REPO, 'controlplane', 'cp_routes.c'), 'utf8');
  const table = [...src.matchAll(/\{"([A-Z]+)",\s*"(\/[^"]*)",\s*cp_h_\w+,\s*(CP_WHO_\w+)/g)].map((m) => ({ method: m[1].toLowerCase(), path: m[2].replace(/:id/g, '{id}'), who: m[3] }));
  assert.ok(table.length >= 40, `parsed ${table.length} routes from cp_routes.c`);
  return table;
}

test('web/openapi.json is a valid OpenAPI 3.1 document', async () => {
  const v = new Validator();
  const r = await v.validate(DOC_FILE);
  assert.deepEqual(r, { valid: true }, JSON.stringify(r.errors ?? r, null, 1)?.slice(0, 4000));
  assert.equal(v.version, '3.1');
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  // every $ref resolves inside the document
  const walk = (o) => {
    if (Array.isArray(o)) return o.forEach(walk);
    if (!o || typeof o !== 'object') return;
    if (typeof o.$ref === 'string') {
      assert.match(o.$ref, /^#\//, o.$ref);
      const target = o.$ref.slice(2).split('/').reduce((a, k) => a?.[k], doc);
      assert.ok(target, `unresolved ${o.$ref}`);
    }
    Object.values(o).forEach(walk);
  };
  walk(doc);
});

test('every route of cp_routes.c is documented, and every documented operation is a route, with who may call it', () => {
  const table = routeTable();
  const documented = [];
  for (const [p, item] of Object.entries(doc.paths)) for (const m of METHODS) if (item[m]) documented.push({ method: m, path: p, op: item[m] });
  for (const r of table) {
    const op = doc.paths[r.path]?.[r.method];
    assert.ok(op, `cp_routes.c has ${r.method.toUpperCase()} ${r.path}, which web/openapi.json does not document`);
    assert.equal(op['x-switchyard-access'], WHO[r.who], `${r.method.toUpperCase()} ${r.path}: access`);
  }
  for (const d of documented) assert.ok(table.some((r) => r.method === d.method && r.path === d.path), `web/openapi.json documents ${d.method.toUpperCase()} ${d.path}, which is not in cp_routes.c`);
  assert.equal(documented.length, table.length, 'one operation per route');
  const ids = documented.map((d) => d.op.operationId);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  for (const d of documented) {
    const who = d.op['x-switchyard-access'];
    const sec = JSON.stringify(d.op.security);
    const unsafe = d.method !== 'get';
    if (who === 'anyone' || who === 'public') assert.equal(sec, '[]', `${d.path}: no credential`);
    else if (who === 'stripe') assert.equal(sec, '[{"stripeSignature":[]}]', d.path);
    else if (who === 'session') assert.equal(sec, unsafe ? '[{"session":[],"csrfToken":[]}]' : '[{"session":[]}]', `${d.method} ${d.path}`);
    else assert.equal(sec, unsafe ? '[{"operatorToken":[]},{"session":[],"csrfToken":[]}]' : '[{"operatorToken":[]},{"session":[]}]', `${d.method} ${d.path}`);
    // path parameters are declared
    for (const name of [...d.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) assert.ok((d.op.parameters ?? []).some((p) => p.in === 'path' && p.name === name && p.required), `${d.path}: parameter ${name}`);
    assert.ok(d.op.responses && Object.keys(d.op.responses).some((s) => /^2\d\d$/.test(s)), `${d.path}: a success answer`);
    if (!['anyone', 'public', 'stripe'].includes(who)) assert.ok(d.op.responses['401'], `${d.method} ${d.path}: 401 documented`);
  }
  for (const s of ['operatorToken', 'session', 'csrfToken', 'stripeSignature']) assert.ok(doc.components.securitySchemes[s], s);
  assert.equal(doc.components.securitySchemes.session.in, 'cookie');
  assert.equal(doc.components.securitySchemes.session.name, 'sy_session');
  assert.equal(doc.components.securitySchemes.csrfToken.name, 'x-csrf-token');
});

// ------------------------------------------------------------------------ the live API

const WEBHOOK_SECRET = 'whsec_' + crypto.randomBytes(16).toString('hex');
const STRIPE_KEY = 'sk_test_' + crypto.randomBytes(16).toString('hex');
const st = { called: new Set() };

before(async () => {
  st.tmp = makeTempDir('sy-openapi-');
  st.fake = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const b = JSON.stringify({ id: 'cs_test_openapi', object: 'checkout.session', url: 'https://checkout.stripe.test/c/pay/cs_test_openapi' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    });
  });
  await new Promise((r) => st.fake.listen(0, '127.0.0.1', r));
  const dead = await closedPort();
  st.cp = await startCp({
    dir: st.tmp.dir,
    catalog: {
      providers: [{ id: 'p', kind: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, probe: { interval_ms: 0 } }],
      models: [
        { id: 'm-a', provider: 'p', upstream: 'a', input_per_m: '1.25', output_per_m: '5', capabilities: ['chat'], tiers: ['cheap'], quality: { chat: 0.8 } },
        { id: 'm-b', provider: 'p', upstream: 'b', input_per_m: '3', output_per_m: '15', cache_read_per_m: '0.3' },
      ],
      aliases: { 'alias-a': 'm-a' },
      workspaces: [],
      keys: [],
    },
    args: ['--web-dir', path.join(REPO, 'web'), '--signup', 'open', '--stripe-api-base', `http://127.0.0.1:${st.fake.address().port}`, '--public-api-url', 'http://127.0.0.1:9/v1'],
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_SECRET_KEY: STRIPE_KEY },
  });
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi.json');
  st.ajv = ajv;
});
after(async () => {
  await stopAll([st.cp?.proc], st.tmp);
  await new Promise((r) => st.fake?.close(r) ?? r());
});

/** The documented operation for `method` and a concrete `p` ("/api/keys/key_1/revoke"). */
function operationFor(method, p) {
  const segs = p.split('?')[0].split('/');
  for (const [tpl, item] of Object.entries(doc.paths)) {
    const t = tpl.split('/');
    if (t.length === segs.length && t.every((s, i) => /^\{\w+\}$/.test(s) || s === segs[i]) && item[method]) return { tpl, op: item[method] };
  }
  return null;
}

/**
 * Calls the API and checks the answer against the document: its status is documented for the
 * operation and its JSON body matches that response's schema. Returns the answer.
 */
async function call(method, p, { token = st.cp.token, session, body, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token && !session) h.authorization = `Bearer ${token}`;
  if (session) {
    h.cookie = `sy_session=${session.cookie}`;
    if (method !== 'GET') h['x-csrf-token'] = session.csrf;
  }
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await httpRequest(st.cp.base + p, { method, headers: h, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const found = operationFor(method.toLowerCase(), p);
  assert.ok(found, `${method} ${p}: not documented`);
  const resp = found.op.responses[String(r.status)];
  assert.ok(resp, `${method} ${p} answered ${r.status}, which ${found.tpl} does not document: ${r.text.slice(0, 300)}`);
  const ct = Object.keys(resp.content ?? {})[0];
  if (ct === 'application/json') {
    assert.match(r.headers['content-type'] ?? '', /application\/json/, `${method} ${p}`);
    const schema = resp.content[ct].schema;
    const validate = st.ajv.compile({ $ref: schema.$ref ? `openapi.json${schema.$ref}` : undefined, ...(schema.$ref ? {} : rewrite(schema)) });
    assert.ok(validate(JSON.parse(r.text)), `${method} ${p} ${r.status}: the body does not match the document: ${JSON.stringify(validate.errors, null, 1).slice(0, 1500)}\n${r.text.slice(0, 600)}`);
  } else if (ct) {
    assert.ok((r.headers['content-type'] ?? '').startsWith(ct), `${method} ${p}: ${r.headers['content-type']}`);
  }
  st.called.add(`${method.toLowerCase()} ${found.tpl}`);
  return r;
}

/** An inline schema's local $refs, made absolute against the registered document. */
function rewrite(schema) {
  return JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi.json#/'));
}

function sessionOf(r) {
  const sc = [].concat(r.headers['set-cookie'] ?? []).join('\n');
  const m = /sy_session=([0-9a-f]{64})/.exec(sc);
  assert.ok(m, `a session cookie: ${sc}`);
  return { cookie: m[1], csrf: r.json.csrf_token };
}

test('GET /api/openapi.json serves this document to the operator and to sessions, and nothing without a credential', async () => {
  const file = fs.readFileSync(DOC_FILE, 'utf8');
  const r = await call('GET', '/api/openapi.json');
  assert.equal(r.status, 200);
  assert.equal(r.text, file, 'the served document is web/openapi.json byte for byte');
  const su = await call('POST', '/api/auth/signup', { token: null, body: { email: 'doc@example.com', password: 'documented password' } });
  assert.equal(su.status, 201, su.text);
  const s = sessionOf(su);
  const r2 = await call('GET', '/api/openapi.json', { session: s });
  assert.equal(r2.status, 200);
  assert.deepEqual(JSON.parse(r2.text), doc);
  const anon = await httpRequest(`${st.cp.base}/api/openapi.json`);
  assert.equal(anon.status, 401, 'the API\'s shape is not given away without a credential');
});

test('every operation answers as documented (status and body schema), success and error answers alike', async () => {
  const cp = st.cp;
  // service
  assert.equal((await call('GET', '/healthz', { token: null })).status, 200);
  assert.equal((await call('GET', '/metrics', { token: null })).status, 200);
  assert.equal((await call('GET', '/api/snapshot/version')).status, 200);
  assert.equal((await call('GET', '/api/nodes')).status, 200);
  // accounts
  const a = await call('POST', '/api/auth/signup', { token: null, body: { email: 'owner@example.com', password: 'owner password 1', workspace_name: 'Docs <b>' } });
  assert.equal(a.status, 201, a.text);
  const owner = sessionOf(a);
  const ws = a.json.created.workspace;
  assert.equal((await call('POST', '/api/auth/signup', { token: null, body: { email: 'owner@example.com', password: 'owner password 1' } })).status, 409);
  assert.equal((await call('POST', '/api/auth/signup', { token: null, body: { email: 'nope', password: 'owner password 1' } })).status, 400);
  const li = await call('POST', '/api/auth/login', { token: null, body: { email: 'owner@example.com', password: 'owner password 1' } });
  assert.equal(li.status, 200, li.text);
  assert.equal((await call('POST', '/api/auth/login', { token: null, body: { email: 'owner@example.com', password: 'wrong password!' } })).status, 401);
  const op = await call('POST', '/api/auth/operator', { token: null, body: { token: cp.token } });
  assert.equal(op.status, 200, op.text);
  const opSession = sessionOf(op);
  assert.equal(op.json.operator, true);
  assert.equal((await call('POST', '/api/auth/operator', { token: null, body: { token: 'wrong' } })).status, 401);
  const cfg = await call('GET', '/api/config', { session: owner });
  assert.equal(cfg.status, 200);
  assert.equal(cfg.json.api_base_url, 'http://127.0.0.1:9/v1');
  assert.equal((await call('GET', '/api/config', { session: opSession })).json.operator, true);
  assert.equal((await call('GET', '/api/auth/me', { session: owner })).status, 200);
  assert.equal((await call('GET', '/api/auth/me', { session: opSession })).status, 200);
  const inv = await call('POST', `/api/workspaces/${ws}/invites`, { session: owner, body: { role: 'member' } });
  assert.equal(inv.status, 201, inv.text);
  const b = await call('POST', '/api/auth/signup', { token: null, body: { email: 'member@example.com', password: 'member password 1' } });
  const member = sessionOf(b);
  assert.equal((await call('POST', '/api/auth/accept-invite', { session: member, body: { invite: inv.json.invite } })).status, 200);
  assert.equal((await call('POST', '/api/auth/accept-invite', { session: member, body: { invite: inv.json.invite } })).status, 404, 'one use');
  assert.equal((await call('POST', `/api/workspaces/${ws}/invites`, { session: member, body: { role: 'owner' } })).status, 403, 'members cannot invite');
  // workspaces
  assert.equal((await call('GET', '/api/workspaces')).status, 200);
  assert.equal((await call('GET', '/api/workspaces', { session: owner })).status, 403);
  assert.equal((await call('POST', '/api/workspaces', { body: { id: 'ws_doc', name: 'doc' } })).status, 201);
  assert.equal((await call('POST', '/api/workspaces', { body: { id: 'bad id', name: 'doc' } })).status, 400);
  assert.equal((await call('GET', `/api/workspaces/${ws}`, { session: member })).status, 200);
  assert.equal((await call('GET', '/api/workspaces/ws_doc', { session: member })).status, 404, "another workspace's id");
  assert.equal((await call('PATCH', '/api/workspaces/ws_doc', { body: { rpm: 100, tpm: null } })).status, 200);
  assert.equal((await call('PATCH', '/api/workspaces/ws_doc', { body: { colour: 'red' } })).status, 400);
  assert.equal((await call('POST', '/api/workspaces/ws_doc/disable')).status, 200);
  assert.equal((await call('POST', '/api/workspaces/ws_none/disable')).status, 404);
  // keys
  const k = await call('POST', `/api/workspaces/${ws}/keys`, { session: member, body: { name: 'docs <script>', allowed_models: ['m-a'] } });
  assert.equal(k.status, 201, k.text);
  assert.equal((await call('POST', `/api/workspaces/${ws}/keys`, { session: member, body: { name: 'x', allowed_models: ['m-none'] } })).status, 400);
  assert.equal((await call('GET', `/api/workspaces/${ws}/keys`, { session: owner })).status, 200);
  assert.equal((await call('GET', `/api/keys/${k.json.id}`, { session: owner })).status, 200);
  assert.equal((await call('PATCH', `/api/keys/${k.json.id}`, { session: owner, body: { budget_usd: '5.25', rpm: 10, tpm: null } })).status, 200);
  assert.equal((await call('POST', `/api/keys/${k.json.id}/rotate`, { session: owner, body: { grace_seconds: 60 } })).status, 200);
  assert.equal((await call('POST', `/api/keys/${k.json.id}/revoke`, { session: owner })).status, 200);
  assert.equal((await call('PATCH', `/api/keys/${k.json.id}`, { body: { name: 'late' } })).status, 400, 'a revoked key cannot be edited');
  assert.equal((await call('GET', '/api/keys/key_none')).status, 404);
  // usage records through the bus, as a data plane sends them
  const root = new protobuf.Root().loadSync(path.join(REPO, 'proto', 'bus.proto'), { keepCase: true });
  const BusRequest = root.lookupType('switchyard.BusRequest');
  const UsageAck = root.lookupType('switchyard.UsageAck');
  const rec = (i, over = {}) => ({ id: `u-doc-${i}`, workspace: ws, key_id: k.json.id, model: 'm-a', provider: 'p', tokens_in: 120, tokens_out: 30, cost_nano: 300000, latency_ms: 80, ttft_ms: 20, outcome: 'ok', streamed: true, estimated: false, node: 'dp-doc', created_ms: Date.now(), request_id: 'req-doc-1', attempt: i, model_asked: 'auto', task: 'code', difficulty: 'hard', ...over });
  const { body } = await spRequest(cp.repUrl, Buffer.from(BusRequest.encode(BusRequest.fromObject({ usage: { node_id: 'dp-doc', batch_id: 'b-doc', records: [rec(1, { outcome: 'upstream_error', cost_nano: 0, tokens_in: 0, tokens_out: 0, model: 'm-b' }), rec(2)] } })).finish()));
  assert.equal(UsageAck.toObject(UsageAck.decode(body), { defaults: true }).applied, 2);
  // billing
  assert.equal((await call('POST', `/api/workspaces/${ws}/credits`, { body: { amount_usd: '10', reference: 'doc-grant', note: 'hello' } })).status, 201);
  assert.equal((await call('POST', `/api/workspaces/${ws}/credits`, { body: { amount_usd: '10', reference: 'doc-grant' } })).status, 200, 'idempotent');
  assert.equal((await call('POST', `/api/workspaces/${ws}/credits`, { session: owner, body: { amount_usd: '10', reference: 'self-grant' } })).status, 403, 'operator only');
  assert.equal((await call('GET', `/api/workspaces/${ws}/balance`, { session: member })).status, 200);
  const led = await call('GET', `/api/workspaces/${ws}/ledger?limit=1`, { session: member });
  assert.equal(led.status, 200);
  assert.equal(led.json.has_more, true);
  assert.equal((await call('GET', `/api/workspaces/${ws}/ledger?limit=0`)).status, 400);
  for (const g of ['', '&group_by=day', '&group_by=model', '&group_by=key']) assert.equal((await call('GET', `/api/workspaces/${ws}/usage?from=0${g}`, { session: member })).status, 200);
  assert.equal((await call('GET', `/api/workspaces/${ws}/usage?group_by=week`)).status, 400);
  const recs = await call('GET', `/api/workspaces/${ws}/usage/records?limit=1`, { session: member });
  assert.equal(recs.status, 200);
  assert.equal(recs.json.data[0].model_asked, 'auto');
  assert.equal((await call('GET', `/api/workspaces/${ws}/usage/records?limit=1&before=${recs.json.next_before}`, { session: member })).json.data[0].outcome, 'upstream_error');
  const failed = await call('GET', `/api/workspaces/${ws}/usage/records?outcome=upstream_error&key=${k.json.id}&model=m-b&request_id=req-doc-1&from=0&to=${Date.now() + 60000}`, { session: member });
  assert.deepEqual(failed.json.data.map((r) => r.attempt), [1], 'filters');
  assert.equal((await call('GET', `/api/workspaces/${ws}/usage/records?limit=5&limit=6`)).status, 400);
  const sav = await call('GET', `/api/workspaces/${ws}/usage/savings?from=0`, { session: member });
  assert.equal(sav.status, 200);
  assert.equal(sav.json.routed_requests, 1, 'the successful attempt of the auto request');
  assert.equal((await call('GET', `/api/workspaces/${ws}/usage/savings?from=5&to=1`)).status, 400);
  assert.equal((await call('GET', `/api/keys/${k.json.id}`)).json.last_used_ms !== null, true, 'last use from the log');
  const co = await call('POST', `/api/workspaces/${ws}/checkout`, { session: owner, body: { amount_usd: '20.00', success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' } });
  assert.equal(co.status, 200, co.text);
  assert.equal((await call('POST', `/api/workspaces/${ws}/checkout`, { session: member, body: { amount_usd: '20.00', success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' } })).status, 403);
  assert.equal((await call('POST', `/api/workspaces/${ws}/checkout`, { session: owner, body: { amount_usd: '0.10', success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' } })).status, 400);
  const stripe = new Stripe(STRIPE_KEY);
  const event = JSON.stringify({ id: 'evt_doc', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_test_openapi', object: 'checkout.session', payment_status: 'paid', amount_total: 2000, currency: 'usd', client_reference_id: ws, payment_intent: 'pi_doc', metadata: {} } } });
  const wh = await call('POST', '/stripe/webhook', { token: null, raw: event, headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: event, secret: WEBHOOK_SECRET }) } });
  assert.equal(wh.status, 200, wh.text);
  assert.equal(wh.json.outcome, 'credited');
  assert.equal((await call('POST', '/stripe/webhook', { token: null, raw: event, headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' } })).status, 400);
  const chk = await call('GET', '/api/ledger/check');
  assert.deepEqual(chk.json, { ok: true, problems: [] });
  // catalog
  assert.equal((await call('GET', '/api/providers', { session: member })).status, 200);
  assert.equal((await call('GET', '/api/models', { session: member })).status, 200);
  assert.equal((await call('GET', '/api/models/m-b', { session: member })).status, 200);
  assert.equal((await call('GET', '/api/models/m-none')).status, 404);
  assert.equal((await call('PATCH', '/api/models/m-a', { session: opSession, body: { output_per_m: '6' } })).status, 200, 'the operator session edits with its CSRF token');
  assert.equal((await call('PATCH', '/api/models/m-a', { session: member, body: { output_per_m: '0' } })).status, 403);
  assert.equal((await call('GET', '/api/catalog/status')).status, 200);
  assert.equal((await call('POST', '/api/catalog/reload')).status, 409, 'the edit above is protected');
  assert.equal((await call('POST', '/api/catalog/import?dry_run=true&force=true')).status, 200);
  assert.equal((await call('POST', '/api/catalog/import', { body: { catalog: { providers: 'x' } } })).status, 400);
  assert.equal((await call('GET', '/api/aliases', { session: member })).status, 200);
  assert.equal((await call('GET', '/api/aliases/alias-a', { session: member })).status, 200);
  assert.equal((await call('PUT', '/api/aliases/alias-b', { body: { model: 'm-b' } })).status, 201);
  assert.equal((await call('PUT', '/api/aliases/alias-b', { body: { model: 'm-a' } })).status, 200);
  assert.equal((await call('PUT', '/api/aliases/alias-c', { body: { model: 'm-none' } })).status, 400);
  assert.equal((await call('DELETE', '/api/aliases/alias-b')).status, 200);
  assert.equal((await call('DELETE', '/api/aliases/alias-b')).status, 404);
  // refusals of credentials are documented too
  assert.equal((await call('GET', `/api/workspaces/${ws}/balance`, { token: 'wrong' })).status, 401);
  assert.equal((await call('POST', `/api/workspaces/${ws}/keys`, { session: { ...member, csrf: '0'.repeat(32) }, body: { name: 'x', allowed_models: ['*'] } })).status, 403);
  assert.equal((await call('POST', '/api/auth/logout', { session: member })).status, 200);
  assert.equal((await call('GET', '/api/auth/me', { session: member })).status, 401, 'logged out');

  // every documented operation was exercised
  const all = [];
  for (const [p, item] of Object.entries(doc.paths)) for (const m of METHODS) if (item[m]) all.push(`${m} ${p}`);
  const missed = all.filter((x) => !st.called.has(x));
  assert.deepEqual(missed, [], 'operations this test did not call');
});
