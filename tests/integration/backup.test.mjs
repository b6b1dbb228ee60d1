// Backup and restore of the control plane (issue 17, point 3; docs/deploying.md): a backup
// taken with `switchyard-cp --backup FILE --db DB` while the control plane ingests usage under
// SDK traffic is one consistent snapshot that passes --check-db; restored in place of the
// database (the control plane stopped), the service starts on it, the ledger invariants hold,
// and billing carries on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { OpenAI, CP_BIN, chatStatus, httpRequest, parseMetrics, makeTempDir, startMock, startCp, restartCp, startBusDp, stopAll, checkLedger, childEnv, catalog, closedPort, prepaidWorkspace, balanceNano, sleep, slack, waitFor } from './lib/harness.mjs';

let tmp, mock, cp, dp;
before(async () => {
  tmp = makeTempDir('sy-backup-');
  mock = await startMock({ dir: tmp.dir });
  const cat = catalog({ mockPort: mock.port, deadPort: await closedPort() });
  cat.keys = [];
  cp = await startCp({ dir: tmp.dir, catalog: cat });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'sk-backup' }, args: ['--spool-dir', path.join(tmp.dir, 'spool'), '--node-id', 'backup'] });
});
after(() => stopAll([dp?.proc, cp?.proc, mock?.proc], tmp));

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(CP_BIN, args, { env: childEnv() });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const usageCount = async (ws) => Number((await cp.api(`/api/workspaces/${ws}/usage`)).json.total.requests);

test('a backup taken under load is consistent; restored, the control plane serves from it with the ledger invariants holding', async () => {
  const key = await prepaidWorkspace(cp, 'ws_bak', '10.00');
  const client = new OpenAI({ apiKey: key, baseURL: `${dp.url}/v1`, maxRetries: 0, timeout: slack(20000) });
  await waitFor(async () => (await client.models.list().then(() => true, () => false)), { timeout: slack(5000), what: 'the key on the node' });
  let stop = false;
  let ok = 0;
  const load = (async () => {
    while (!stop) {
      await Promise.all(Array.from({ length: 4 }, () => client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'hello' }] }).then(() => ok++)));
    }
  })();
  await sleep(slack(800));
  const file = path.join(tmp.dir, 'backup.sqlite');
  const b = await run(['--backup', file, '--db', cp.db]);
  await sleep(slack(500));
  stop = true;
  await load;
  assert.equal(b.code, 0, `${b.out}${b.err}`);
  assert.match(b.out, /integrity ok/, 'the copy passes the same check as --check-db');
  assert.ok(ok > 0);
  assert.equal(fs.existsSync(`${file}.tmp`), false, 'no temporary file left');
  // the copy is a plain file on its own (no WAL beside it needed)
  const check = spawnSync(CP_BIN, ['--check-db', file], { encoding: 'utf8', env: childEnv() });
  assert.equal(check.status, 0, check.stdout + check.stderr);

  // everything the live service has now, before the restore
  await waitFor(async () => (await usageCount('ws_bak')) === ok, { timeout: slack(10000), what: 'every success recorded' });
  await checkLedger(cp, { okRequests: { ws_bak: ok } });
  const liveRecords = await usageCount('ws_bak');

  // a key made after the backup: the node serves it until the restore
  const lateKey = await prepaidWorkspace(cp, 'ws_late', '1.00');
  await waitFor(async () => (await chatStatus(dp.url, lateKey)) === 200, { timeout: slack(5000), what: 'the late key on the node' });
  const served = Number((await httpRequest(`${dp.url}/metrics`)).text.match(/^switchyard_config_version (\d+)$/m)[1]);
  // the late key's usage acknowledged before the restore (a batch mixing a record of a workspace
  // the restored state does not know with ws_bak's would be refused whole)
  await waitFor(async () => parseMetrics((await httpRequest(`${dp.url}/metrics`)).text).get('switchyard_usage_records_pending') === 0, { timeout: slack(10000), what: 'the node has no usage pending' });

  // restore: stop the control plane, --restore (checks the copy, puts it in place of the database
  // with the WAL removed, raises the version above anything served), start again
  await cp.proc.stop();
  const r = await run(['--restore', file, '--db', cp.db]);
  assert.equal(r.code, 0, `${r.out}${r.err}`);
  const v = Number(/snapshot version (\d+)/.exec(r.out)[1]);
  assert.ok(v > served, `the restored version ${v} is above the one the node serves (${served})`);
  assert.equal(fs.existsSync(`${cp.db}-wal`), false);
  cp = await restartCp(cp);
  // the node takes the restored state: the late key is gone (the old one works: billing carries
  // on below — not probed here, its debit would race the ledger walk)
  await waitFor(async () => (await chatStatus(dp.url, lateKey)) === 401, { timeout: slack(5000), what: 'the node on the restored state' });
  const restored = await usageCount('ws_bak');
  assert.ok(restored >= 0 && restored <= liveRecords, `the backup holds what was there when it was taken (${restored} of ${liveRecords})`);
  await checkLedger(cp); // credits - debits = balance, refs once, every record its debit, the rollup
  // billing carries on from the restored state: one more request, one more debit
  const bal0 = await balanceNano(cp, 'ws_bak');
  await waitFor(async () => (await client.chat.completions.create({ model: 'm-ok', messages: [{ role: 'user', content: 'after' }] }).then(() => true, () => false)), { timeout: slack(10000), what: 'a request after the restore' });
  await waitFor(async () => (await balanceNano(cp, 'ws_bak')) < bal0, { timeout: slack(10000), what: 'the debit after the restore' });
  await checkLedger(cp);
});

test('--backup needs --db and a database that exists; a failed backup leaves nothing', async () => {
  const missing = await run(['--backup', path.join(tmp.dir, 'x.sqlite'), '--db', path.join(tmp.dir, 'nope', 'none.sqlite')]);
  assert.equal(missing.code, 1, missing.err);
  assert.equal(fs.existsSync(path.join(tmp.dir, 'x.sqlite')), false);
  const usage = await run(['--backup', path.join(tmp.dir, 'y.sqlite')]);
  assert.equal(usage.code, 2);
});

test('--restore refuses a missing, junk or empty file with the database untouched; without --db it is a usage error', async () => {
  // the database a refused restore must leave alone: a consistent copy of the live one
  const target = path.join(tmp.dir, 'target.sqlite');
  const b = await run(['--backup', target, '--db', cp.db]);
  assert.equal(b.code, 0, `${b.out}${b.err}`);
  const digest = () => crypto.createHash('sha256').update(fs.readFileSync(target)).digest('hex');
  const before = digest();
  const junk = path.join(tmp.dir, 'junk.sqlite');
  fs.writeFileSync(junk, Buffer.concat([Buffer.from('not a database\n'), crypto.randomBytes(8192)]));
  const empty = path.join(tmp.dir, 'empty.sqlite'); // a backup truncated to nothing
  fs.writeFileSync(empty, '');
  for (const [what, src] of [['missing', path.join(tmp.dir, 'no-such-backup.sqlite')], ['junk', junk], ['empty', empty]]) {
    const r = await run(['--restore', src, '--db', target]);
    assert.equal(r.code, 1, `${what}: ${r.out}${r.err}`);
    assert.match(r.err, /is not a clean backup; nothing restored/, what);
    assert.equal(digest(), before, `${what}: the database is byte for byte as it was`);
    assert.equal(fs.existsSync(`${target}.tmp`), false, `${what}: no temporary copy left`);
  }
  assert.equal(fs.existsSync(path.join(tmp.dir, 'no-such-backup.sqlite')), false, 'the missing backup was not created by the check');
  assert.equal(fs.statSync(empty).size, 0, 'the empty file was not turned into a database by the check');
  // still a database that passes the ledger check, with the workspaces it had
  const check = spawnSync(CP_BIN, ['--check-db', target], { encoding: 'utf8', env: childEnv() });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.equal(digest(), before);
  const noDb = await run(['--restore', junk]);
  assert.equal(noDb.code, 2, noDb.err);
  assert.match(noDb.err, /usage: switchyard-cp/);
});
