// TLS termination: the data plane serves HTTPS with --tls-cert/--tls-key; the official SDK (in
// a child node process trusting the test CA through NODE_EXTRA_CA_CERTS) works over it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import tls from 'node:tls';
import { startMock, startDp, makeTempDir, standardKeys, catalog, closedPort, makeSelfSignedCert, httpRequest, INTEGRATION_DIR, slack } from './lib/harness.mjs';

let tmp, mock, dp, keys, cert, cfg;

before(async () => {
  tmp = makeTempDir();
  cert = makeSelfSignedCert(tmp.dir);
  mock = await startMock({ dir: tmp.dir });
  cfg = catalog({ mockPort: mock.port, deadPort: await closedPort() });
  const k = standardKeys();
  cfg.keys = k.entries;
  keys = k.keys;
  dp = await startDp({ dir: tmp.dir, config: cfg, upstreamKey: 'sk-up-tls', tls: cert });
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

/** Runs an ES module snippet in a fresh node process (cwd: tests/integration, so 'openai' resolves). */
function runNode(code, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: INTEGRATION_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => child.kill('SIGKILL'), slack(20000));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

const SDK_SCRIPT = `
import OpenAI from 'openai';
const client = new OpenAI({ apiKey: process.env.SY_KEY, baseURL: process.env.SY_BASE_URL, maxRetries: 0 });
const out = {};
const { data, response } = await client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hello over tls' }] }).withResponse();
out.status = response.status;
out.model = response.headers.get('x-switchyard-model');
out.content = data.choices[0].message.content;
out.usage = data.usage;
const chunks = [];
for await (const c of await client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }], stream: true })) chunks.push(c);
out.streamText = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
out.finish = chunks.at(-1).choices[0].finish_reason;
out.models = (await client.models.list()).data.filter((m) => m.owned_by !== 'switchyard').length; // catalog entries, not the routing forms
try { await new OpenAI({ apiKey: 'sk-wrong-wrong-wrong', baseURL: process.env.SY_BASE_URL, maxRetries: 0 }).models.list(); } catch (e) { out.wrongKey = [e.constructor.name, e.status, e.code]; }
console.log(JSON.stringify(out));
`;

test('the SDK completes chat, a stream and models.list over HTTPS (CA via NODE_EXTRA_CA_CERTS)', async () => {
  assert.ok(dp.baseURL.startsWith('https://'));
  const r = await runNode(SDK_SCRIPT, { NODE_EXTRA_CA_CERTS: cert.cert, SY_KEY: keys.main.key, SY_BASE_URL: dp.baseURL });
  assert.equal(r.code, 0, `child failed: ${r.err}`);
  const out = JSON.parse(r.out.trim().split('\n').at(-1));
  assert.equal(out.status, 200);
  assert.equal(out.model, 'm-ok');
  assert.ok(out.content.length > 0);
  assert.ok(out.usage.total_tokens > 0);
  assert.ok(out.streamText.length > 0);
  assert.equal(out.streamText, out.content, 'the mock answers the same text streamed or not');
  assert.equal(out.finish, 'stop');
  assert.equal(out.models, cfg.models.length);
  assert.deepEqual(out.wrongKey, ['AuthenticationError', 401, 'invalid_api_key']);
});

test('without trusting the CA the SDK refuses the certificate', async () => {
  const r = await runNode(
    `import OpenAI from 'openai';
     try { await new OpenAI({ apiKey: 'x'.repeat(20), baseURL: process.env.SY_BASE_URL, maxRetries: 0 }).models.list(); console.log('connected'); }
     catch (e) { console.log(e.constructor.name + ' ' + String(e.cause?.code ?? e.cause?.cause?.code ?? '')); }`,
    { SY_BASE_URL: dp.baseURL, NODE_EXTRA_CA_CERTS: '' },
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /APIConnectionError/, r.out);
});

test('raw HTTPS: errors are JSON, and plain HTTP on the TLS port is not served', async () => {
  const res = await httpRequest(`${dp.url}/v1/chat/completions`, { method: 'POST', ca: cert.certPem, headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 401);
  assert.equal(res.json.error.code, 'invalid_api_key');
  const ok = await httpRequest(`${dp.url}/healthz`, { ca: cert.certPem });
  assert.equal(ok.status, 200);

  let plain;
  try {
    plain = await httpRequest(`http://127.0.0.1:${dp.port}/healthz`, { timeout: slack(3000) });
  } catch (e) {
    plain = e;
  }
  assert.ok(plain instanceof Error || plain.status !== 200, `plain HTTP must not get a 200 from the TLS listener (got ${plain.status})`);
});

test('TLS listener negotiates HTTP/1.1 (no h2: Debian h2o 2.2.5 lacks the rapid-reset fix)', async () => {
  const proto = await new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: dp.port, ca: cert.certPem, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(sock.alpnProtocol);
      sock.end();
    });
    sock.on('error', reject);
  });
  assert.notEqual(proto, 'h2', `ALPN picked ${proto}`);
});
