// The database is the catalog (docs/controlplane.md, "Catalog: the database is the truth"):
// a price edited through PATCH /api/models survives a control-plane restart with the same file,
// a node serves and bills it (official openai SDK, ledger debit from the edited price); a
// reload, SIGHUP or import that would revert the edit is refused with 409 naming the fields
// unless forced; a file changed on disk while the database has edits is not applied at start
// (a warning, GET /api/catalog/status says so) and its import reports the conflicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { OpenAI, makeTempDir, waitFor, slack, httpRequest, startMock, startCp, restartCp, startBusDp, ledgerEntries, quietVersion } from './lib/harness.mjs';

const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
let tmp, mock, cp, dp, catalog, key;

// Prices whose per-token cost is a whole number of nano-USD: 1000 USD per million = 1e6 nano per token.
const FILE_IN = '1000', FILE_OUT = '1000';
const EDIT_IN = '2000', EDIT_OUT = '4000';

before(async () => {
  tmp = makeTempDir('sy-cattruth-');
  mock = await startMock({ dir: tmp.dir });
  catalog = {
    timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
    providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
    models: [
      { id: 'm-a', provider: 'mock', upstream: 'mock', input_per_m: FILE_IN, output_per_m: FILE_OUT, context_window: 128000 },
      { id: 'm-b', provider: 'mock', upstream: 'mock', input_per_m: '1', output_per_m: '1', context_window: 128000 },
    ],
    aliases: { 'fast-a': 'm-a' },
    workspaces: [{ id: 'ws_t', active: true }],
    keys: [],
  };
  cp = await startCp({ dir: tmp.dir, catalog, args: ['--balance-refresh-ms', '200'] });
  dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: UPSTREAM_KEY } });
  let r = await cp.api('/api/workspaces/ws_t/credits', { method: 'POST', body: { amount_usd: '100000', reference: 'it-ws_t' } });
  assert.equal(r.status, 201, r.text);
  r = await cp.api('/api/workspaces/ws_t/keys', { method: 'POST', body: { name: 'k', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  key = r.json.key;
});

after(async () => {
  try {
    await dp?.proc.stop();
    if (cp?.proc.running) await cp.proc.stop();
    await mock?.stop();
  } finally {
    tmp?.cleanup();
  }
});

const client = () => new OpenAI({ baseURL: `${dp.url}/v1`, apiKey: key, maxRetries: 0 });
async function dpModel(id) {
  const r = await httpRequest(`${dp.url}/v1/models/${id}`, { headers: { authorization: `Bearer ${key}` } });
  return r.status === 200 ? r.json : null;
}
const status = async () => (await cp.api('/api/catalog/status')).json;

test('a fresh database imports the file once and records it', async () => {
  const s = await status();
  assert.equal(s.source_of_truth, 'database');
  assert.equal(s.last_import.source, 'start');
  assert.equal(s.file_matches_last_import, true);
  assert.deepEqual(s.edited_since_import, []);
  assert.equal(s.last_import.summary.counts.models.created, 2);
  assert.equal(s.last_import.summary.counts.aliases.created, 1);
  assert.match(cp.proc.stderr, /msg="catalog imported" source=start/);
});

test('an edited price survives a restart with the same file, and billing uses it', async () => {
  let r = await cp.api('/api/models/m-a', { method: 'PATCH', body: { input_per_m: EDIT_IN, output_per_m: EDIT_OUT } });
  assert.equal(r.status, 200, r.text);
  await cp.proc.stop();
  cp = await restartCp(cp, { name: 'switchyard-cp-2' });
  assert.match(cp.proc.stderr, /catalog file unchanged since the last import/);
  assert.doesNotMatch(cp.proc.stderr, /msg="catalog imported"/);
  r = await cp.api('/api/models/m-a');
  assert.equal(r.json.input_per_m, '2000.000000000', r.text);
  assert.equal(r.json.output_per_m, '4000.000000000');
  const s = await status();
  assert.deepEqual(s.edited_since_import.filter((e) => e.id === 'm-a').map((e) => e.field), ['input_per_m', 'output_per_m']);
  await waitFor(async () => (await dpModel('m-a'))?.input_per_m === '2000.000000000', { timeout: slack(5000), what: 'the edited price on the node' });
  assert.equal((await dpModel('m-a')).output_per_m, '4000.000000000');

  const before = new Set((await ledgerEntries(cp, 'ws_t')).map((e) => e.ref));
  const { data, response } = await client().chat.completions.create({ model: 'm-a', messages: [{ role: 'user', content: 'bill me' }] }).withResponse();
  assert.equal(response.headers.get('x-switchyard-model'), 'm-a');
  const { prompt_tokens: pin, completion_tokens: pout } = data.usage;
  assert.ok(pin > 0 && pout > 0, JSON.stringify(data.usage));
  const expected = -(BigInt(pin) * 2000000n + BigInt(pout) * 4000000n);
  let debit;
  await waitFor(async () => {
    debit = (await ledgerEntries(cp, 'ws_t')).find((e) => e.kind === 'debit' && !before.has(e.ref));
    return debit !== undefined;
  }, { timeout: slack(5000), what: 'the usage debit' });
  assert.equal(BigInt(debit.amount_nano), expected, `debit ${debit.amount_nano} vs edited price ${expected} (file price would be ${-(BigInt(pin + pout) * 1000000n)})`);
});

test('reload, SIGHUP and import refuse to revert an edit without force; force applies the file and says what it overwrote', async () => {
  const v = await quietVersion(cp);
  let r = await cp.api('/api/catalog/reload', { method: 'POST' });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error.code, 'conflict');
  const c = r.json.conflicts.find((x) => x.id === 'm-a');
  assert.equal(c.kind, 'model');
  assert.deepEqual(c.fields.map((f) => [f.field, f.db, f.file]), [
    ['input_per_m', '2000.000000000', '1000.000000000'],
    ['output_per_m', '4000.000000000', '1000.000000000'],
  ]);
  r = await cp.api('/api/catalog/import', { method: 'POST' });
  assert.equal(r.status, 409, r.text);
  cp.proc.signalProc('SIGHUP');
  await waitFor(async () => /source=sighup/.test(cp.proc.stderr), { timeout: slack(3000), what: 'the SIGHUP import logged' });
  assert.match(cp.proc.stderr, /catalog import refused: it would overwrite admin edits" source=sighup/);
  assert.equal((await cp.api('/api/snapshot/version')).json.version, v, 'a refused import bumps nothing');
  assert.equal((await cp.api('/api/models/m-a')).json.input_per_m, '2000.000000000');

  r = await cp.api('/api/catalog/import?dry_run=true&force=true', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.import.dry_run, true);
  assert.equal((await cp.api('/api/models/m-a')).json.input_per_m, '2000.000000000', 'a dry run changes nothing');

  r = await cp.api('/api/catalog/import', { method: 'POST', body: { force: true } });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.version > v);
  assert.deepEqual(r.json.import.overwritten.map((x) => x.id), ['m-a']);
  assert.equal(r.json.import.counts.models.changed, 1);
  assert.match(cp.proc.stderr, /msg="catalog imported" source=import .*forced=true .*overwritten=\[\{"kind":"model","id":"m-a"/);
  assert.equal((await cp.api('/api/models/m-a')).json.input_per_m, '1000.000000000');
  const s = await status();
  assert.deepEqual(s.edited_since_import, []);
  assert.equal(s.last_import.forced, true);
  await waitFor(async () => (await dpModel('m-a'))?.input_per_m === '1000.000000000', { timeout: slack(3000), what: 'the file price on the node' });
});

test('a file changed on disk while the database has edits: start warns and applies nothing; import reports the conflicts', async () => {
  let r = await cp.api('/api/models/m-b', { method: 'PATCH', body: { output_per_m: '7' } });
  assert.equal(r.status, 200, r.text);
  const changed = structuredClone(catalog);
  changed.models[1].output_per_m = '9';
  changed.models.push({ id: 'm-c', provider: 'mock', upstream: 'mock', input_per_m: '1', output_per_m: '1' });
  fs.writeFileSync(cp.catalogFile, JSON.stringify(changed));
  await cp.proc.stop();
  cp = await restartCp(cp, { name: 'switchyard-cp-3' });
  assert.match(cp.proc.stderr, /msg="catalog file differs from the last import; not applied"/);
  assert.equal((await cp.api('/api/models/m-c')).status, 404, 'nothing of the changed file applied');
  assert.equal((await cp.api('/api/models/m-b')).json.output_per_m, '7.000000000');
  const s = await status();
  assert.equal(s.file_matches_last_import, false);
  assert.notEqual(s.file_sha256, s.last_import.sha256);
  r = await cp.api('/api/catalog/import', { method: 'POST' });
  assert.equal(r.status, 409, r.text);
  assert.deepEqual(r.json.conflicts, [{ kind: 'model', id: 'm-b', fields: [{ field: 'output_per_m', db: '7.000000000', file: '9.000000000' }] }]);
  // editing the file to agree with the operator's edit clears the conflict
  changed.models[1].output_per_m = '7';
  fs.writeFileSync(cp.catalogFile, JSON.stringify(changed));
  r = await cp.api('/api/catalog/import', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.import.counts.models.created, 1);
  assert.equal((await cp.api('/api/models/m-c')).status, 200);
  assert.equal((await status()).file_matches_last_import, true);
});

test('aliases through the control plane: file alias, API alias, /v1/models, retrieve, chat and fallbacks via an alias', async () => {
  let r = await cp.api('/api/aliases');
  assert.deepEqual(r.json.data, [{ alias: 'fast-a', model: 'm-a' }]);
  r = await cp.api('/api/aliases/llama3.1', { method: 'PUT', body: { model: 'm-b' } });
  assert.equal(r.status, 201, r.text);
  assert.equal((await cp.api('/api/aliases/m-a', { method: 'PUT', body: { model: 'm-b' } })).status, 400);
  assert.equal((await cp.api('/api/aliases/x', { method: 'PUT', body: { model: 'nope' } })).status, 400);
  const oa = client();
  await waitFor(async () => (await dpModel('llama3.1')) !== null, { timeout: slack(3000), what: 'the API alias on the node' });
  const list = await oa.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes('fast-a') && ids.includes('llama3.1') && ids.includes('m-a'), ids.join(','));
  assert.equal(list.data.find((m) => m.id === 'llama3.1').alias_of, 'm-b');
  const one = await oa.models.retrieve('fast-a');
  assert.equal(one.id, 'fast-a');
  assert.equal(one.alias_of, 'm-a');
  const { data, response } = await oa.chat.completions.create({ model: 'llama3.1', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.ok(data.choices[0].message.content.length > 0);
  assert.equal(response.headers.get('x-switchyard-model'), 'm-b', 'the real catalog id is reported');
  assert.equal(data.routing.selected, 'm-b');
  // fallbacks: a model outside the catalog fails as the primary would; an alias in `models` and in route.fallbacks serves
  const fb = await oa.chat.completions.create({ model: 'fast-a', models: ['llama3.1'], route: { fallbacks: ['fast-a'] }, messages: [{ role: 'user', content: 'hi' }] });
  assert.deepEqual(fb.routing.candidates, ['m-a', 'm-b']);
  r = await cp.api('/api/aliases/llama3.1', { method: 'DELETE' });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await dpModel('llama3.1')) === null, { timeout: slack(3000), what: 'the deleted alias gone from the node' });
  await assert.rejects(oa.chat.completions.create({ model: 'llama3.1', messages: [{ role: 'user', content: 'hi' }] }), (e) => e.status === 404);
});

test('aliases in standalone mode: the same file section, chat, list, retrieve and fallbacks via an alias', async () => {
  const { startDp, makeKey, closedPort } = await import('./lib/harness.mjs');
  const k = makeKey();
  const config = {
    providers: [
      { id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY' },
      { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${await closedPort()}/v1`, api_key_env: 'MOCK_KEY' },
    ],
    models: [
      { id: 'claude-sonnet', provider: 'mock', upstream: 'mock', input_per_m: '3', output_per_m: '15' },
      { id: 'local-llama', provider: 'mock', upstream: 'mock' },
      { id: 'm-dead', provider: 'dead', upstream: 'mock' },
    ],
    aliases: { 'claude-3-5-sonnet': 'claude-sonnet', 'llama3.1': 'local-llama' },
    workspaces: [{ id: 'ws', active: true }],
    keys: [{ id: 'key', sha256: k.sha256, workspace: 'ws', allowed_models: ['*'] }],
  };
  const sdp = await startDp({ dir: tmp.dir, config, upstreamKey: UPSTREAM_KEY });
  try {
    const oa = new OpenAI({ baseURL: `${sdp.url}/v1`, apiKey: k.key, maxRetries: 0 });
    const { data, response } = await oa.chat.completions.create({ model: 'claude-3-5-sonnet', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(response.headers.get('x-switchyard-model'), 'claude-sonnet');
    assert.equal(data.routing.selected, 'claude-sonnet');
    const list = await oa.models.list();
    const a = list.data.find((m) => m.id === 'llama3.1');
    assert.equal(a?.alias_of, 'local-llama');
    assert.equal(a.object, 'model');
    assert.equal((await oa.models.retrieve('claude-3-5-sonnet')).input_per_m, '3.000000000');
    // the primary fails (closed port) before any byte: the alias in the fallback array serves
    const fb = await oa.chat.completions.create({ model: 'm-dead', models: ['llama3.1'], messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(fb.routing.selected, 'local-llama');
    assert.equal(fb.routing.attempts, 2);
    const fb2 = await oa.chat.completions.create({ model: 'm-dead', route: { fallbacks: ['claude-3-5-sonnet'] }, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(fb2.routing.selected, 'claude-sonnet');
    await assert.rejects(oa.models.retrieve('llama3'), (e) => e.status === 404);
  } finally {
    await sdp.proc.stop();
  }
});
