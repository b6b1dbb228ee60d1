// Crash safety of the control plane's store: switchyard-cp is killed with SIGKILL in the middle
// of a burst of concurrent admin writes (8 loops creating workspaces and keys and revoking
// keys), at three different moments. After each kill:
//   - `switchyard-cp --check-db` on the file exits 0 and prints `integrity ok`
//     (PRAGMA integrity_check + foreign_key_check);
//   - a control plane restarted on the same database lists every workspace and key the API had
//     answered 201 for before the kill, every acknowledged revocation is still revoked, every
//     listed key belongs to a listed workspace, and the snapshot version is >= the highest
//     version any acknowledged answer reported (revocations and GET /api/snapshot/version);
//   - the restarted control plane stops cleanly on SIGTERM (exit 0, no sanitizer report).
// The database carries over from round to round, so later rounds re-check earlier rounds' data.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_DIR, REPO, Proc, childEnv, makeTempDir, waitFor, slack, sleep, httpRequest, CP_BIN } from './lib/harness.mjs';

const TOKEN = 'op-' + crypto.randomBytes(16).toString('hex');
const DEMO = path.join(REPO, 'deploy', 'demo.json');
const LOOPS = 8;
const KILL_AFTER_MS = [120, 300, 700]; // three moments into the burst, after its first acknowledged write (scaled by slack())
const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error:/;

const tmp = makeTempDir('sy-cpcrash-');
const dbFile = path.join(tmp.dir, 'cp.sqlite');
let current = null; // the control plane running now (killed on failure by after())

after(async () => {
  try {
    if (current && current.running) {
      current.signalProc('SIGKILL');
      await current.waitExit(5000);
    }
  } finally {
    tmp.cleanup();
  }
});

async function startCp(name) {
  const portFile = path.join(tmp.dir, `${name}.port`);
  fs.rmSync(portFile, { force: true });
  const p = new Proc(name, CP_BIN, ['--db', dbFile, '--catalog', DEMO, '--listen', '127.0.0.1:0', '--port-file', portFile], {
    env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: TOKEN },
  });
  current = p;
  const port = await waitFor(() => (!p.running ? Promise.reject(new Error(`${name} exited: ${p.describeExit()}\n${p.stderrTail()}`)) : fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()), {
    timeout: slack(10000),
    what: `${name} port file`,
  });
  p.base = `http://127.0.0.1:${port}`;
  return p;
}

function api(cp, p, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return httpRequest(cp.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), timeout: slack(5000) });
}

/** One writer loop; records only what the API acknowledged. Ends when the process is gone. */
async function writer(cp, round, loop, acked) {
  let n = 0;
  let lastKey = null;
  while (cp.running && !acked.stop) {
    try {
      const ws = `ws_r${round}_l${loop}_${n++}`;
      let r = await api(cp, '/api/workspaces', { method: 'POST', body: { id: ws, name: `crash ${round}/${loop}` } });
      assert.equal(r.status, 201, r.text);
      acked.workspaces.add(ws);
      for (const target of [ws, 'ws_demo']) {
        r = await api(cp, `/api/workspaces/${target}/keys`, { method: 'POST', body: { name: `k${n}`, allowed_models: ['*'] } });
        assert.equal(r.status, 201, r.text);
        acked.keys.set(r.json.id, target);
        if (target === ws) lastKey = r.json.id;
      }
      if (lastKey && n % 2 === 0) {
        r = await api(cp, `/api/keys/${lastKey}/revoke`, { method: 'POST' });
        assert.equal(r.status, 200, r.text);
        acked.revoked.add(lastKey);
        acked.maxVersion = Math.max(acked.maxVersion, r.json.version);
      }
      r = await api(cp, '/api/snapshot/version');
      assert.equal(r.status, 200, r.text);
      acked.maxVersion = Math.max(acked.maxVersion, r.json.version);
    } catch (e) {
      if (e instanceof assert.AssertionError && cp.running) throw e; // a wrong answer from a live process
      return; // connection refused/reset: the kill landed; anything in flight is unacknowledged
    }
  }
}

function checkDb() {
  const r = spawnSync(CP_BIN, ['--check-db', dbFile], { env: childEnv(), encoding: 'utf8', timeout: slack(30000) });
  assert.equal(r.error, undefined, String(r.error));
  assert.doesNotMatch(r.stderr, SANITIZER_RE, r.stderr);
  assert.equal(r.status, 0, `--check-db exit ${r.status} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^integrity ok$/m);
  return r.stdout.trim();
}

// Acknowledged state across all rounds (the database carries over).
const all = { workspaces: new Set(['ws_demo']), keys: new Map([['key_demo', 'ws_demo']]), revoked: new Set(), maxVersion: 0 };

for (const [round, killAfter] of KILL_AFTER_MS.entries()) {
  test(`kill -9 ${killAfter} ms into a write burst (round ${round + 1})`, { timeout: slack(120000) }, async () => {
    // a clean --check-db refuses a database that does not exist rather than creating one
    if (round === 0) {
      const r = spawnSync(CP_BIN, ['--check-db', dbFile], { env: childEnv(), encoding: 'utf8' });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.ok(!fs.existsSync(dbFile), '--check-db created the database');
    }

    const victim = await startCp(`cp-victim-${round + 1}`);
    const acked = { workspaces: new Set(), keys: new Map(), revoked: new Set(), maxVersion: 0, stop: false };
    const loops = Array.from({ length: LOOPS }, (_, i) => writer(victim, round + 1, i, acked));
    // the moment is counted from the first acknowledged write, so a loaded machine that is slow
    // to start the burst still kills it mid-way
    await waitFor(() => acked.keys.size > 0 || !victim.running, { timeout: slack(10000), what: 'the first acknowledged write' });
    await sleep(slack(killAfter));
    const before = { ws: acked.workspaces.size, keys: acked.keys.size };
    assert.ok(victim.running, `the control plane ended before the kill: ${victim.describeExit()}\n${victim.stderrTail()}`);
    victim.signalProc('SIGKILL');
    assert.ok(await victim.waitExit(slack(5000)), 'did not die on SIGKILL');
    acked.stop = true;
    await Promise.all(loops);
    // the killed process: ended by the signal, no sanitizer report (bookkeeping done here, not by stop())
    assert.equal(victim.signal, 'SIGKILL', victim.describeExit());
    assert.doesNotMatch(victim.stderr, SANITIZER_RE, victim.stderrTail());
    assert.ok(before.keys > 0, `no write was acknowledged within ${killAfter} ms (the burst never started)`);

    for (const w of acked.workspaces) all.workspaces.add(w);
    for (const [k, w] of acked.keys) all.keys.set(k, w);
    for (const k of acked.revoked) all.revoked.add(k);
    all.maxVersion = Math.max(all.maxVersion, acked.maxVersion);

    const verdict = checkDb();

    const cp = await startCp(`cp-restarted-${round + 1}`);
    let r = await api(cp, '/api/snapshot/version');
    assert.equal(r.status, 200, r.text);
    const version = r.json.version;
    assert.ok(version >= all.maxVersion, `snapshot version ${version} < highest acknowledged ${all.maxVersion}`);

    r = await api(cp, '/api/workspaces');
    assert.equal(r.status, 200, r.text);
    const listedWs = new Set(r.json.data.map((w) => w.id));
    for (const w of all.workspaces) assert.ok(listedWs.has(w), `acknowledged workspace ${w} lost`);

    const listedKeys = new Map();
    for (const w of listedWs) {
      r = await api(cp, `/api/workspaces/${encodeURIComponent(w)}/keys`);
      assert.equal(r.status, 200, r.text);
      for (const k of r.json.data) {
        assert.equal(k.workspace_id, w, `key ${k.id} listed under ${w}`);
        assert.ok(listedWs.has(k.workspace_id), `key ${k.id} belongs to a missing workspace ${k.workspace_id}`);
        listedKeys.set(k.id, k);
      }
    }
    for (const [k, w] of all.keys) {
      assert.ok(listedKeys.has(k), `acknowledged key ${k} (workspace ${w}) lost`);
      assert.equal(listedKeys.get(k).workspace_id, w);
    }
    for (const k of all.revoked) assert.equal(listedKeys.get(k).revoked, true, `acknowledged revocation of ${k} lost`);

    await cp.stop(); // SIGTERM: exit 0, no sanitizer output
    assert.equal(cp.code, 0);
    current = null;
    console.log(
      `# round ${round + 1}: killed after ${killAfter} ms with ${before.ws} workspaces / ${before.keys} keys acknowledged ` +
        `(${acked.workspaces.size}/${acked.keys.size}/${acked.revoked.size} revoked at the end); ${verdict}; ` +
        `restarted: version ${version} >= ${all.maxVersion}, ${listedWs.size} workspaces, ${listedKeys.size} keys listed (${all.keys.size} acknowledged in total)`,
    );
  });
}
