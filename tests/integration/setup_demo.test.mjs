// scripts/setup.sh, the README's first command, brings up the whole product (issue 17, point 1):
// the control plane with the dashboard and the bus, two data-plane nodes, the mock, the demo
// workspace with credit, the demo key and a dashboard login — and prints them. Run here with
// SY_SETUP_NO_BUILD=1 on the suite's build, on free ports and a temporary state directory:
// the printed key works with the openai SDK on both nodes, the printed login logs in to the
// dashboard's API, a second run restarts without crediting twice, and `stop` stops everything.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { OpenAI, REPO, BUILD_DIR, makeTempDir, closedPort, childEnv, httpRequest, slack, SANITIZER_RE } from './lib/harness.mjs';

const tmp = makeTempDir('sy-setup-');
const varDir = path.join(tmp.dir, 'var');
let env = null;

async function ports() {
  const names = ['SY_DP1_PORT', 'SY_DP2_PORT', 'SY_CP_PORT', 'SY_BUS_PUB_PORT', 'SY_BUS_REP_PORT', 'SY_MOCK_PORT'];
  const out = {};
  for (const n of names) out[n] = String(await closedPort());
  return out;
}

function setup(arg) {
  const r = spawnSync(path.join(REPO, 'scripts', 'setup.sh'), arg ? [arg] : [], { env, encoding: 'utf8', timeout: slack(60000) });
  assert.equal(r.status, 0, `setup.sh ${arg ?? ''}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const pids = () => ['dp1', 'dp2', 'cp', 'mock'].map((p) => path.join(varDir, `${p}.pid`)).filter((f) => fs.existsSync(f)).map((f) => Number(fs.readFileSync(f, 'utf8')));
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

after(() => {
  if (env) spawnSync(path.join(REPO, 'scripts', 'setup.sh'), ['stop'], { env });
  tmp.cleanup();
});

test('scripts/setup.sh starts the whole system and prints a key that works on both nodes and a dashboard login', async () => {
  env = { ...childEnv(), ...(await ports()), SY_SETUP_NO_BUILD: '1', SY_BUILD_DIR: BUILD_DIR, SY_VAR_DIR: varDir };
  const out = setup();
  const api = [...out.matchAll(/http:\/\/127\.0\.0\.1:(\d+)\/v1/g)].map((m) => Number(m[1]));
  assert.deepEqual([...new Set(api)], [Number(env.SY_DP1_PORT), Number(env.SY_DP2_PORT)], out);
  const key = out.match(/API key:\s+(sk-sy-\S+)/)[1];
  const [, dash, email, password] = out.match(/Dashboard:\s+(http:\/\/\S+)\s+log in as (\S+) \/ (\S+)/);
  assert.equal(dash, `http://127.0.0.1:${env.SY_CP_PORT}/`);

  // the printed key, with the official SDK, on both data-plane nodes (auto routing)
  for (const port of [env.SY_DP1_PORT, env.SY_DP2_PORT]) {
    const client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeout: slack(20000) });
    const r = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Hello!' }] });
    assert.ok(r.choices[0].message.content.length > 0);
    const s = await client.chat.completions.create({ model: 'demo-fast', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0, 'streamed');
  }

  // the printed login reaches the dashboard: the page and the API, the demo workspace as owner
  const page = await httpRequest(dash);
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  const login = await httpRequest(`${dash}api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  assert.equal(login.status, 200, login.text);
  assert.deepEqual(login.json.workspaces.map((w) => [w.id, w.role]), [['ws_demo', 'owner']]);
  const cookie = login.headers['set-cookie'].toString().match(/sy_session=[0-9a-f]+/)[0];
  const bal = await httpRequest(`${dash}api/workspaces/ws_demo/balance`, { headers: { cookie } });
  assert.equal(bal.status, 200, bal.text);
  assert.ok(BigInt(bal.json.balance_nano) > 24n * 10n ** 9n && BigInt(bal.json.balance_nano) < 25n * 10n ** 9n, `$25 of credit less the requests: ${bal.text}`);
  const cfg = await httpRequest(`${dash}api/config`, { headers: { cookie } });
  assert.equal(cfg.json.api_base_url, `http://127.0.0.1:${env.SY_DP1_PORT}/v1`);

  // a second run restarts everything on the same database: the credit is not granted twice
  const before = bal.json.balance_nano;
  const out2 = setup();
  assert.match(out2, /log in as demo@switchyard\.local \/ \S+/);
  const bal2 = await httpRequest(`${dash}api/workspaces/ws_demo/balance`, { headers: { authorization: `Bearer ${fs.readFileSync(path.join(varDir, 'operator-token'), 'utf8')}` } });
  assert.equal(bal2.json.balance_nano, before, 'one $25 grant (reference demo-credit), however many runs');
  const again = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${env.SY_DP2_PORT}/v1`, maxRetries: 0, timeout: slack(20000) });
  assert.ok((await again.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Hi' }] })).choices.length);

  // stop stops all four processes; nothing in the logs from the sanitizers
  const running = pids();
  assert.equal(running.length, 4);
  setup('stop');
  for (const pid of running) assert.equal(alive(pid), false, `process ${pid} stopped`);
  for (const log of ['cp.log', 'dp1.log', 'dp2.log', 'mock.log']) assert.doesNotMatch(fs.readFileSync(path.join(varDir, log), 'utf8'), SANITIZER_RE, log);
  const secret = fs.statSync(path.join(varDir, 'operator-token'));
  assert.equal(secret.mode & 0o077, 0, 'the operator token is readable by its owner only');
});
