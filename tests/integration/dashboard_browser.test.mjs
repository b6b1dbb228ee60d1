// The dashboard in a real browser (Debian's chromium driven by playwright-core, headless):
// issue 14's acceptance path — sign up, create a key (its secret read from the page), call
// /v1/chat/completions with the official `openai` SDK, the request on the Requests page with
// its routing decision, "Add credits" creating a Checkout Session on a fake Stripe, a signed
// webhook crediting, the balance on Credits changing by exactly that, revoking the key in the
// page and the SDK getting 401 — plus the Playground streaming through the data plane, the
// Operator page, a screenshot of every page, phone-width and keyboard checks, names and prompts
// carrying <script>/<img onerror> rendered inert everywhere, and forged cross-site POSTs (from
// another origin of the same site, and from another site) refused with nothing changed.
//
// Deployment under test: one origin in front (a small node reverse proxy, "the front door"):
// /v1/* to the data plane, everything else to the control plane — the dashboard's CSP allows
// connections to its own origin only (connect-src 'self'), so the Playground reaches the data
// plane at the same origin (--public-api-url is the front door's /v1).
//
// Screenshots go to $SY_SCREENSHOT_DIR (default: <tmpdir>/sy-dashboard-screenshots); with
// SY_UPDATE_SCREENSHOTS=1 they are also copied to docs/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { chromium } from 'playwright-core';
import { REPO, OpenAI, makeTempDir, startMock, startCp, startBusDp, closedPort, catalog, stopAll, slack, sleep, waitFor, httpRequest, balanceNano, checkLedger } from './lib/harness.mjs';

const CHROMIUM = process.env.SY_CHROMIUM || '/usr/bin/chromium';
const OUT = process.env.SY_SCREENSHOT_DIR || path.join(os.tmpdir(), 'sy-dashboard-screenshots');
const DOCS_SHOTS = path.join(REPO, 'docs', 'screenshots');
const WEBHOOK_SECRET = 'whsec_' + crypto.randomBytes(16).toString('hex');
const STRIPE_KEY = 'sk_test_' + crypto.randomBytes(16).toString('hex');
const PASSWORD = 'correct horse battery staple';
// names and prompts that would run code if any page built HTML from them
const XSS_WS = 'Acme <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2;alert(2)">';
const XSS_KEY = 'prod "><svg onload=alert(3)><img src=x onerror=alert(4)>';
const XSS_PROMPT = 'Write a Python function that merges two sorted lists <script>alert(5)</script><img src=x onerror=alert(6)>';
const XSS_NOTE = 'welcome <img src=x onerror=alert(7)>';

const st = { dialogs: [], pageErrors: [], shots: [] };

// ------------------------------------------------------------------------------ fixtures

/** The fake Stripe API: creates Checkout Sessions and serves their (fake) payment page. */
async function startFakeStripe() {
  const f = { sessions: [] };
  f.srv = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/checkout/sessions') {
        const form = new URLSearchParams(Buffer.concat(parts).toString('utf8'));
        const id = `cs_test_${crypto.randomBytes(6).toString('hex')}`;
        const s = { id, form, cents: Number(form.get('line_items[0][price_data][unit_amount]')), ws: form.get('client_reference_id'), auth: req.headers.authorization };
        f.sessions.push(s);
        const b = JSON.stringify({ id, object: 'checkout.session', url: `${f.url}/pay/${id}` });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
        return res.end(b);
      }
      if (req.method === 'GET' && req.url.startsWith('/pay/')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end('<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>');
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise((r) => f.srv.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${f.srv.address().port}`;
  return f;
}

/** One origin for the browser: /v1/* to the data plane, everything else to the control plane. */
async function startFrontDoor(port, cpBase, dpBase) {
  const srv = http.createServer((req, res) => {
    const target = new URL(req.url.startsWith('/v1/') || req.url === '/v1' ? dpBase : cpBase);
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { srv, url: `http://127.0.0.1:${port}` };
}

/** Pages of another origin that try to change things on the dashboard's behalf. */
async function startEvil() {
  const e = { pages: new Map() };
  e.srv = http.createServer((req, res) => {
    const html = e.pages.get(req.url.split('?')[0]);
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html ?? '');
  });
  await new Promise((r) => e.srv.listen(0, '127.0.0.1', r));
  e.port = e.srv.address().port;
  return e;
}

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  st.tmp = makeTempDir('sy-dash-browser-');
  st.mock = await startMock({ dir: st.tmp.dir });
  st.stripe = await startFakeStripe();
  const cat = catalog({ mockPort: st.mock.port, deadPort: await closedPort() });
  delete cat.keys;
  cat.models.find((m) => m.id === 'm-ok').quality = { code: 0.9, chat: 0.85 };
  cat.models.find((m) => m.id === 'm-ok2').quality = { code: 0.7, chat: 0.7 };
  st.cat = cat;
  const dpPort = await closedPort();
  const frontPort = await closedPort();
  st.cp = await startCp({
    dir: st.tmp.dir,
    catalog: cat,
    args: ['--web-dir', path.join(REPO, 'web'), '--signup', 'open', '--public-api-url', `http://127.0.0.1:${frontPort}/v1`, '--stripe-api-base', st.stripe.url, '--balance-refresh-ms', '300'],
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_SECRET_KEY: STRIPE_KEY },
  });
  st.dp = await startBusDp({ dir: st.tmp.dir, cp: st.cp, env: { MOCK_KEY: 'sk-upstream-test' }, args: ['--listen', `127.0.0.1:${dpPort}`, '--node-id', 'dp-browser'] });
  st.front = await startFrontDoor(frontPort, st.cp.base, st.dp.url);
  st.web = st.front.url;
  st.evil = await startEvil();
  st.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // evil.test is another site on this machine (tests talk only to 127.0.0.1)
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--host-resolver-rules=MAP evil.test 127.0.0.1'],
  });
  st.ctx = await newContext();
  st.page = await st.ctx.newPage();
});

after(async () => {
  await st.browser?.close();
  for (const s of [st.front?.srv, st.evil?.srv, st.stripe?.srv]) if (s) await new Promise((r) => s.close(r));
  await stopAll([st.dp?.proc, st.cp?.proc, st.mock], st.tmp);
});

async function newContext(opts = {}) {
  const ctx = await st.browser.newContext({ viewport: { width: 1280, height: 900 }, ...opts });
  ctx.setDefaultTimeout(slack(20000));
  ctx.on('page', watch);
  return ctx;
}

/** Every page is watched: a dialog (alert/confirm/prompt) or an uncaught error fails the test. */
function watch(page) {
  page.on('dialog', (d) => {
    st.dialogs.push(`${page.url()}: ${d.type()} ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => st.pageErrors.push(`${page.url()}: ${e.message}`));
}

/** Navigates (or waits after a click) until the page section has rendered. */
async function open(page, p) {
  await page.goto(st.web + p);
  await ready(page);
}
/** The page of the current URL has rendered (not the previous one, still on screen after a navigation). */
async function ready(page) {
  const name = new URL(page.url()).pathname.replace(/\/+$/, '').slice(1) || 'overview';
  await page.waitForSelector(`main section[data-ready][data-page="${name}"]`);
}

async function shot(page, name, { fullPage = true } = {}) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  st.shots.push(file);
  if (process.env.SY_UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(DOCS_SHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(DOCS_SHOTS, `${name}.png`));
  }
}

/**
 * Nothing injected ran or exists: no dialog, no page error, window.__pwned unset, the only
 * script the app's own, no <img> at all (the app draws none), no inline event handler anywhere.
 */
async function assertInert(page, where) {
  const s = await page.evaluate(() => ({
    pwned: window.__pwned ?? null,
    scripts: [...document.scripts].map((x) => x.getAttribute('src')),
    imgs: document.images.length,
    handlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).map((el) => el.outerHTML.slice(0, 80)),
    svgsOutsideCharts: [...document.querySelectorAll('svg')].filter((x) => !x.closest('.chart, .hbars') && !x.matches('.chart')).length,
  }));
  assert.equal(s.pwned, null, `${where}: injected code ran`);
  assert.deepEqual(s.scripts, ['/assets/app.js'], `${where}: scripts`);
  assert.equal(s.imgs, 0, `${where}: an <img> element exists`);
  assert.deepEqual(s.handlers, [], `${where}: inline handlers`);
  assert.equal(s.svgsOutsideCharts, 0, `${where}: an <svg> outside the charts`);
  assert.deepEqual(st.dialogs, [], `${where}: dialogs fired`);
  assert.deepEqual(st.pageErrors, [], `${where}: page errors`);
}

/** Every visible form control has a label (or aria-label); nothing scrolls sideways at this width. */
async function assertAccessibleLayout(page, where) {
  const r = await page.evaluate(() => {
    const unlabelled = [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML.slice(0, 100));
    return { unlabelled, overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth };
  });
  assert.deepEqual(r.unlabelled, [], `${where}: form fields without a label`);
  assert.ok(r.overflow <= 1, `${where}: the page scrolls sideways by ${r.overflow}px`);
}

const api = (p, opts) => st.cp.api(p, opts);

const usdNano = (s) => {
  const [, neg, i, f = ''] = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  const v = BigInt(i) * 1000000000n + BigInt(f.padEnd(9, '0'));
  return neg ? -v : v;
};

/** The pages' way of showing an exact amount: "$1,234.50", "$0.0015" (zeros past cents dropped). */
function humanUsd(s) {
  const [, neg, int, frac = ''] = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  let f = frac.replace(/0+$/, '');
  if (f.length < 2) f = f.padEnd(2, '0');
  return `${neg ? '−' : ''}$${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`;
}

function client(key) {
  return new OpenAI({ apiKey: key, baseURL: `${st.dp.url}/v1`, maxRetries: 0, timeout: slack(15000) });
}

// --------------------------------------------------------------------------------- tests

test('sign up in the browser, create a key there (the secret read from the page), and the openai SDK works with it', async () => {
  const page = st.page;
  await page.goto(st.web + '/keys');
  await page.waitForURL(/\/login\?next=%2Fkeys/);
  await ready(page);
  await assertAccessibleLayout(page, 'login');
  await shot(page, 'login');
  // first load: everything from this origin (no CDN: works offline), JS + CSS within 150 KB
  const loaded = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({ url: e.name, size: e.decodedBodySize, type: e.initiatorType })));
  assert.deepEqual(loaded.filter((r) => !r.url.startsWith(`${st.web}/`)), [], 'requests to other origins');
  const assets = loaded.filter((r) => /\/assets\/.*\.(js|css)$/.test(r.url));
  assert.deepEqual(assets.map((r) => new URL(r.url).pathname).sort(), ['/assets/app.css', '/assets/app.js']);
  const weight = assets.reduce((a, r) => a + r.size, 0);
  assert.equal(weight, fs.statSync(path.join(REPO, 'web', 'assets', 'app.js')).size + fs.statSync(path.join(REPO, 'web', 'assets', 'app.css')).size);
  assert.ok(weight <= 150 * 1024, `first load of JS + CSS: ${weight} bytes`);
  await page.click('a[href="/signup"]');
  await ready(page);
  await shot(page, 'signup');
  await page.fill('#signup-form input[name=email]', 'owner@example.com');
  await page.fill('#signup-form input[name=password]', PASSWORD);
  await page.fill('#signup-form input[name=workspace_name]', XSS_WS);
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(/\/keys$/);
  await ready(page);
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).json());
  assert.equal(me.email, 'owner@example.com');
  st.ws = me.workspaces[0].id;
  assert.equal(me.workspaces[0].name, XSS_WS);
  assert.equal(await page.locator('#ws-select option:checked').textContent(), XSS_WS, 'the workspace name is shown as text');
  // the cookie is HttpOnly: the page's script cannot read it
  assert.equal(await page.evaluate(() => document.cookie.includes('sy_session')), false);

  // the operator grants a starting credit (the usual free trial), so the first call is paid for
  const g = await api(`/api/workspaces/${st.ws}/credits`, { method: 'POST', body: { amount_usd: '1.00', reference: `trial-${st.ws}`, note: XSS_NOTE } });
  assert.equal(g.status, 201, g.text);

  // create a key with a budget, keyboard only: Tab to the name field, type, Enter submits
  await page.keyboard.press('Tab');
  let tabs = 0;
  while ((await page.evaluate(() => document.activeElement?.id)) !== 'key-name' && tabs++ < 60) await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'key-name', 'the key form is reachable by keyboard');
  await page.keyboard.type(XSS_KEY);
  await page.fill('#key-form input[name=budget_usd]', '0.75');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#new-secret');
  const secret = await page.inputValue('#new-secret');
  assert.match(secret, /^sk-sy-[0-9a-f]{64}$/);
  await page.waitForSelector('tr[data-key]');
  await shot(page, 'keys-new-secret');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'new-secret', 'focus moves to the new secret');
  await page.waitForSelector('tr[data-key]');
  const row = page.locator('tr[data-key]').first();
  assert.equal(await row.locator('.key-name').textContent(), XSS_KEY);
  assert.match(await row.textContent(), /\$0\.75 \(\$0\.75 left\)/, 'budget shown exactly');
  st.keyId = await row.getAttribute('data-key');
  const k = await api(`/api/keys/${st.keyId}`);
  assert.equal(k.json.name, XSS_KEY);
  assert.equal(k.json.budget_usd, '0.750000000');
  assert.deepEqual(k.json.allowed_models, ['*']);
  // the secret is shown once: a reload shows the key without it
  await open(page, '/keys');
  assert.equal(await page.locator('#new-secret').count(), 0);
  assert.equal((await page.content()).includes(secret), false, 'the secret is not on the page any more');
  await assertInert(page, 'keys');
  await assertAccessibleLayout(page, 'keys');
  await shot(page, 'keys');
  st.secret = secret;

  // the openai SDK with the key from the page (the node learns it over the bus)
  let res;
  await waitFor(
    async () => {
      try {
        res = await client(secret)
          .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: XSS_PROMPT }] })
          .withResponse();
        return true;
      } catch (e) {
        if (e.status === 401) return false;
        throw e;
      }
    },
    { timeout: slack(5000), what: 'the new key works on the data plane' },
  );
  assert.match(res.data.choices[0].message.content, /mock reply/);
  st.chat = { requestId: res.response.headers.get('x-request-id'), model: res.response.headers.get('x-switchyard-model'), provider: res.response.headers.get('x-switchyard-provider'), task: res.response.headers.get('x-switchyard-task'), difficulty: res.response.headers.get('x-switchyard-difficulty'), routing: res.data.routing };
  assert.ok(st.chat.requestId && st.chat.model && st.chat.task, JSON.stringify(st.chat));
});

test('the request appears on Requests with its routing decision (model asked, task, difficulty, served by, attempts)', async () => {
  const page = st.page;
  await open(page, '/requests');
  await waitFor(
    async () => {
      await page.click('#refresh');
      await page.waitForSelector('#older');
      return (await page.locator('tr[data-record]').count()) > 0;
    },
    { timeout: slack(8000), what: 'the request in the log' },
  );
  const rows = page.locator('tr[data-record]');
  assert.equal(await rows.count(), 1, 'one upstream attempt');
  const text = await rows.first().textContent();
  assert.ok(text.includes(XSS_KEY), 'the key by its name, as text');
  assert.ok(text.includes('auto'), 'model asked');
  assert.ok(text.includes(st.chat.model), 'model served');
  await assertInert(page, 'requests');
  await assertAccessibleLayout(page, 'requests');
  await shot(page, 'requests');
  // one request opens its whole routing decision
  await rows.first().click();
  const d = page.locator('#record-detail');
  await d.waitFor();
  const detail = await d.textContent();
  const rec = (await api(`/api/workspaces/${st.ws}/usage/records`)).json.data[0];
  assert.equal(rec.request_id, st.chat.requestId);
  for (const [label, want] of [
    ['Request id', st.chat.requestId],
    ['Model asked', 'auto'],
    ['Task', st.chat.task],
    ['Difficulty', st.chat.difficulty],
    ['Served by', `${st.chat.model} (${st.chat.provider})`],
    ['Attempts', '1'],
  ])
    assert.equal(await d.locator(`dt:text-is("${label}") + dd`).first().textContent(), want, `${label} in the detail`);
  assert.equal(rec.task, st.chat.task);
  assert.ok(detail.includes(rec.cost_usd), 'the exact cost');
  await shot(page, 'request-detail', { fullPage: false });
  await page.keyboard.press('Escape');
  await d.waitFor({ state: 'detached' });
  // a filter that matches nothing, then one that matches
  await page.selectOption('#filters select[name=outcome]', 'upstream_error');
  await page.click('#filters button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-record]').length === 0);
  await page.selectOption('#filters select[name=outcome]', 'ok');
  await page.fill('#filters input[name=request_id]', st.chat.requestId);
  await page.click('#filters button[type=submit]');
  await page.waitForSelector('tr[data-record]');
  assert.equal(await page.locator('tr[data-record]').count(), 1);
});

test('Add credits opens a Checkout Session on (fake) Stripe; the signed webhook credits; the balance on Credits changes by exactly that', async () => {
  const page = st.page;
  await open(page, '/credits');
  await waitFor(async () => (await balanceNano(st.cp, st.ws)) < 1000000000n, { what: 'the chat debited' });
  await open(page, '/credits');
  const before = await balanceNano(st.cp, st.ws);
  const shown = await page.locator('#balance .sub').textContent();
  assert.equal(shown, `exactly ${(await api(`/api/workspaces/${st.ws}/balance`)).json.balance_usd} USD`);
  await assertInert(page, 'credits');
  assert.ok((await page.textContent('main')).includes(XSS_NOTE), 'the grant note as text');
  await page.fill('#credit-amount', '25.00');
  await page.click('#checkout');
  await page.waitForURL(`${st.stripe.url}/pay/**`);
  assert.equal(await page.title(), 'Fake Stripe Checkout');
  assert.equal(st.stripe.sessions.length, 1);
  const s = st.stripe.sessions[0];
  assert.equal(s.cents, 2500);
  assert.equal(s.ws, st.ws);
  assert.equal(s.auth, `Bearer ${STRIPE_KEY}`);
  assert.equal(s.form.get('success_url'), `${st.web}/credits?checkout=success`);
  // Stripe confirms the payment: a signed webhook
  const event = JSON.stringify({ id: `evt_${crypto.randomBytes(6).toString('hex')}`, object: 'event', type: 'checkout.session.completed', data: { object: { id: s.id, object: 'checkout.session', payment_status: 'paid', amount_total: s.cents, currency: 'usd', client_reference_id: st.ws, payment_intent: `pi_${s.id}`, metadata: {} } } });
  const sig = new Stripe(STRIPE_KEY).webhooks.generateTestHeaderString({ payload: event, secret: WEBHOOK_SECRET });
  const wh = await httpRequest(`${st.cp.base}/stripe/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sig }, body: event });
  assert.equal(wh.status, 200, wh.text);
  assert.equal(wh.json.outcome, 'credited');
  // back from Stripe: the balance shown is the old one plus exactly 25.00
  await open(page, '/credits?checkout=success');
  await page.waitForSelector('#checkout-notice');
  const after = before + 25000000000n;
  assert.equal(await balanceNano(st.cp, st.ws), after);
  const usd = `${after / 1000000000n}.${(after % 1000000000n).toString().padStart(9, '0')}`;
  assert.equal(await page.locator('#balance .sub').textContent(), `exactly ${usd} USD`);
  assert.equal(await page.locator('#balance .value').textContent(), humanUsd(usd), 'the headline figure is the same exact amount');
  assert.ok((await page.locator('tr[data-kind="credit"]').count()) === 1, 'the credit in the ledger');
  // the key's budget: spent and left, exactly as the API has them
  const kv = (await api(`/api/keys/${st.keyId}`)).json;
  assert.ok(usdNano(kv.spent_usd) > 0n, 'the chat was debited to the key');
  assert.equal(usdNano(kv.budget_left_usd), 750000000n - usdNano(kv.spent_usd));
  const budgetRow = await page.locator(`tr[data-key="${st.keyId}"]`).textContent();
  assert.ok(budgetRow.includes(humanUsd(kv.spent_usd)) && budgetRow.includes(humanUsd(kv.budget_left_usd)), budgetRow);
  await assertInert(page, 'credits after payment');
  await assertAccessibleLayout(page, 'credits');
  await shot(page, 'credits');
  st.paid = [{ id: s.id, amount_cents: s.cents }];
});

test('Spend, Models and Overview render the workspace exactly; the Playground streams an answer through the data plane and shows its routing decision', async () => {
  const page = st.page;
  await open(page, '/spend');
  await page.waitForSelector('#chart-spend');
  const u = (await api(`/api/workspaces/${st.ws}/usage?from=${Date.now() - 40 * 86400000}`)).json.total;
  assert.equal(await page.locator('#spend-total .value').textContent(), humanUsd(u.cost_usd));
  assert.ok((await page.locator('#by-key').textContent()).includes(XSS_KEY));
  const sv = (await api(`/api/workspaces/${st.ws}/usage/savings?from=${Date.now() - 40 * 86400000}`)).json;
  assert.equal(sv.routed_requests, 1, 'the auto request');
  assert.equal(await page.locator('#auto-saved .value').textContent(), humanUsd(sv.saved_usd), 'saved by auto routing, exact');
  // the key's last use (from the request log) on the Keys page
  await open(page, '/keys');
  const lastUsed = (await api(`/api/keys/${st.keyId}`)).json.last_used_ms;
  assert.ok(lastUsed > 0);
  const d = new Date(lastUsed);
  const p2 = (n) => String(n).padStart(2, '0');
  const local = `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
  assert.ok((await page.locator(`tr[data-key="${st.keyId}"]`).textContent()).includes(local), `last used ${local} shown`);
  await open(page, '/spend');
  await assertInert(page, 'spend');
  await assertAccessibleLayout(page, 'spend');
  await shot(page, 'spend');
  await open(page, '/models');
  assert.equal(await page.locator('tr[data-model]').count(), st.cat.models.length);
  assert.match(await page.locator('tr[data-model="m-ok"]').textContent(), /\$1\.50.*\$6\.00/);
  await assertInert(page, 'models');
  await assertAccessibleLayout(page, 'models');
  await shot(page, 'models');
  await open(page, '/');
  await assertInert(page, 'overview');
  await assertAccessibleLayout(page, 'overview');
  await shot(page, 'overview');

  await open(page, '/playground');
  assert.equal(await page.inputValue('#pg-base'), `${st.web}/v1`, 'the data plane URL from GET /api/config');
  await page.fill('#pg-key', st.secret);
  await page.fill('#pg-model', 'auto');
  await page.fill('#pg-prompt', XSS_PROMPT);
  await page.click('#pg-send');
  await page.waitForSelector('#pg-decision');
  assert.equal(await page.textContent('#pg-answer'), 'mock reply alpha bravo charlie delta echo foxtrot ', 'the streamed answer, as text');
  const dec = page.locator('#pg-decision');
  const dd = async (label) => dec.locator(`dt:text-is("${label}") + dd`).first().textContent();
  assert.equal(await dd('Model'), st.chat.model);
  assert.equal(await dd('Task'), st.chat.task, 'the same prompt classifies the same');
  assert.equal(await dd('Attempts'), '1');
  assert.match(await dd('Request id'), /\S/);
  await assertInert(page, 'playground');
  await assertAccessibleLayout(page, 'playground');
  await shot(page, 'playground');
  // the invitation page (owners)
  await open(page, '/invite');
  await page.click('#invite-form button[type=submit]');
  await page.waitForSelector('#invite-link');
  assert.match(await page.inputValue('#invite-link'), new RegExp(`^${st.web}/invite#[0-9a-f]{64}$`));
  await assertInert(page, 'team');
  await shot(page, 'team');
});

test('every page is readable at phone width (390 px): no sideways scroll, every field labelled', async () => {
  const ctx = await newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await ctx.addCookies(await st.ctx.cookies());
  const page = await ctx.newPage();
  for (const p of ['/', '/keys', '/credits', '/requests', '/spend', '/models', '/playground', '/invite']) {
    await open(page, p);
    await assertAccessibleLayout(page, `phone ${p}`);
    await assertInert(page, `phone ${p}`);
  }
  await open(page, '/requests');
  await shot(page, 'phone-requests');
  await open(page, '/credits');
  await shot(page, 'phone-credits');
  await ctx.close();
});

test('forged cross-site POSTs — auto-submitted forms and fetches from another origin and from another site — are refused and change nothing', async () => {
  const keysBefore = (await api(`/api/workspaces/${st.ws}/keys`)).json.data;
  const balBefore = await balanceNano(st.cp, st.ws);
  const sessionsBefore = st.stripe.sessions.length;
  const target = st.web;
  const ws = st.ws;
  const jsonField = (o) => {
    // a text/plain form whose body reads as JSON: name = everything up to the last value
    const s = JSON.stringify({ ...o, pad: '' });
    return { name: s.slice(0, -2), value: '"}' };
  };
  const form = (action, fields, enctype = 'text/plain') =>
    `<form id=f method=POST action="${target}${action}" enctype="${enctype}">${fields.map((f) => `<input type=hidden name='${f.name.replace(/'/g, '&#39;')}' value='${f.value.replace(/'/g, '&#39;')}'>`).join('')}</form><script>addEventListener('load', () => setTimeout(() => document.getElementById('f').submit(), 50))</script>`;
  st.evil.pages.set('/key', form(`/api/workspaces/${ws}/keys`, [jsonField({ name: 'evil', allowed_models: ['*'] })]));
  st.evil.pages.set('/key-urlencoded', form(`/api/workspaces/${ws}/keys`, [{ name: 'name', value: 'evil' }], 'application/x-www-form-urlencoded'));
  st.evil.pages.set('/revoke', form(`/api/keys/${st.keyId}/revoke`, [{ name: 'x', value: 'y' }]));
  st.evil.pages.set('/checkout', form(`/api/workspaces/${ws}/checkout`, [jsonField({ amount_usd: '5000.00', success_url: 'https://evil.test/', cancel_url: 'https://evil.test/' })]));
  st.evil.pages.set('/logout', form('/api/auth/logout', [{ name: 'x', value: 'y' }]));
  st.evil.pages.set('/login', form('/api/auth/login', [jsonField({ email: 'attacker@example.com', password: 'attacker password' })]));
  st.evil.pages.set(
    '/fetch',
    `<script>
      const t = ${JSON.stringify(target)};
      const out = [];
      Promise.allSettled([
        fetch(t + '/api/workspaces/${ws}/keys', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"name":"evil-fetch","allowed_models":["*"]}' }).then((r) => out.push('no-cors:' + r.type)),
        fetch(t + '/api/workspaces/${ws}/keys', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{"name":"evil-cors","allowed_models":["*"]}' }).then((r) => out.push('cors:' + r.status), (e) => out.push('cors:blocked')),
        fetch(t + '/api/auth/me', { credentials: 'include' }).then((r) => r.text()).then((x) => out.push('read:' + x), (e) => out.push('read:blocked')),
      ]).then(() => { document.title = 'done'; window.out = out; });
    </script>`,
  );
  // the attacker creates an account of their own (for the log-in CSRF)
  const att = await httpRequest(`${st.cp.base}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'attacker@example.com', password: 'attacker password' }) });
  assert.equal(att.status, 201, att.text);
  // the victim's browser, logged in, visits the attacker's pages: on this site's other origin
  // (the SameSite=Strict cookie is sent; the CSRF token and Origin checks refuse) and on
  // another site (the cookie is not even sent)
  const sameSite = `http://127.0.0.1:${st.evil.port}`;
  const crossSite = `http://evil.test:${st.evil.port}`;
  for (const origin of [sameSite, crossSite]) {
    const page = await st.ctx.newPage();
    const answers = [];
    page.on('response', (r) => {
      if (r.url().startsWith(`${target}/api/`)) answers.push(r);
    });
    for (const p of ['/key', '/key-urlencoded', '/revoke', '/checkout', '/logout', '/login']) {
      answers.length = 0;
      await page.goto(origin + p);
      await page.waitForURL(`${target}/api/**`);
      await waitFor(() => answers.length > 0, { what: `the answer to ${p}` });
      const r = answers[0];
      const body = JSON.parse(await page.textContent('body'));
      // the same site sends the SameSite=Strict cookie: the CSRF/Origin check refuses (403);
      // another site's request carries no cookie at all (401); log-in takes JSON only (400)
      const want = p === '/login' ? [400, 'invalid_request_error'] : origin === sameSite ? [403, 'forbidden'] : [401, 'invalid_api_key'];
      assert.deepEqual([r.status(), body.error.code], want, `${origin}${p}: ${JSON.stringify(body)}`);
    }
    await page.goto(origin + '/fetch');
    await page.waitForFunction(() => document.title === 'done');
    const out = await page.evaluate(() => window.out);
    assert.ok(out.includes('no-cors:opaque'), `${origin}: ${out}`);
    assert.ok(out.includes('cors:blocked'), `${origin}: a credentialed JSON POST from another origin never gets through the preflight: ${out}`);
    assert.ok(out.includes('read:blocked'), `${origin}: the answer is not readable across origins: ${out}`);
    await page.close();
  }
  // nothing changed: same keys, none revoked, the same balance, no checkout, still logged in as the owner
  assert.deepEqual((await api(`/api/workspaces/${st.ws}/keys`)).json.data, keysBefore);
  assert.equal(await balanceNano(st.cp, st.ws), balBefore);
  assert.equal(st.stripe.sessions.length, sessionsBefore, 'no checkout session created');
  const me = await st.page.evaluate(async () => (await fetch('/api/auth/me')).json());
  assert.equal(me.email, 'owner@example.com', 'the victim is still logged in as themselves (no log-out, no log-in CSRF)');
});

test('the Operator page (operator log-in with the token): workspaces, nodes, provider health, catalog; names inert there too', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await open(page, '/login');
  await page.click('details summary');
  await page.fill('#operator-form input[name=token]', st.cp.token);
  await page.click('#operator-form button[type=submit]');
  await page.waitForURL(/\/operator$/);
  await ready(page);
  await page.waitForSelector(`tr[data-ws="${st.ws}"]`);
  assert.ok((await page.locator(`tr[data-ws="${st.ws}"]`).textContent()).includes(XSS_WS), 'the workspace name as text');
  assert.ok((await page.textContent('main')).includes('dp-browser'), 'the fleet node');
  assert.match(await page.textContent('main'), /mock/);
  assert.match(await page.textContent('main'), /The ledger invariants hold/);
  await assertInert(page, 'operator');
  await assertAccessibleLayout(page, 'operator');
  await shot(page, 'operator');
  // an operator edit through the page: a price change, with the session's CSRF token
  await page.click('tr[data-model="m-ok2"] button[data-act="edit-model"]');
  await page.fill('dialog input[name=output_per_m]', '2.5');
  await page.click('dialog button[type=submit]');
  await page.waitForSelector('dialog', { state: 'detached' });
  assert.equal((await api('/api/models/m-ok2')).json.output_per_m, '2.500000000');
  // the operator looks into the workspace like its owner would
  await page.click(`tr[data-ws="${st.ws}"] button[data-act="open"]`);
  await page.waitForURL(/\/credits$/);
  await ready(page);
  await assertInert(page, 'operator in the workspace');
  await ctx.close();
});

test('revoking the key on the Keys page: the SDK gets 401', async () => {
  const page = st.page;
  await open(page, '/keys');
  await page.click(`tr[data-key="${st.keyId}"] button[data-act="revoke"]`);
  await page.click('dialog button.danger');
  await page.waitForFunction((id) => document.querySelector(`tr[data-key="${id}"] .badge`)?.textContent === 'revoked', st.keyId);
  assert.equal((await api(`/api/keys/${st.keyId}`)).json.revoked, true);
  await waitFor(
    async () => {
      try {
        await client(st.secret).chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] });
        return false;
      } catch (e) {
        if (e.status === 401) return true;
        throw e;
      }
    },
    { timeout: slack(3000), what: 'the revoked key refused with 401' },
  );
  await assertInert(page, 'keys after revoke');
  // log out: the pages need a session again
  await page.click('#logout');
  await page.waitForURL(/\/login$/);
  await page.goto(st.web + '/requests');
  await page.waitForURL(/\/login\?next=%2Frequests$/);
  await ready(page);
  await checkLedger(st.cp, { paidSessions: { [st.ws]: st.paid } });
  assert.ok(st.shots.length >= 14, `screenshots: ${st.shots.length}`);
  console.log(`screenshots in ${OUT}`);
});
