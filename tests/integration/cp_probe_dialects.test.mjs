// The control plane speaks each provider kind: a catalog with openai, anthropic and gemini
// providers loads (an unknown kind is refused, naming the supported ones), and the health
// probes use each kind's credential header and fixed headers on its default probe path
// (/models after the base URL) — a healthy Anthropic or Gemini provider is never marked down by
// a probe in the wrong dialect. The shipped deploy/catalog.json passes the data plane's --check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeTempDir, waitFor, slack, startMock, startCp, DP_BIN, childEnv } from './lib/harness.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OAI_KEY = 'oai-' + crypto.randomBytes(8).toString('hex');
const ANTH_KEY = 'anth-' + crypto.randomBytes(8).toString('hex');
const GEM_KEY = 'gem-' + crypto.randomBytes(8).toString('hex');
const PROBE = { interval_ms: 150, timeout_ms: 1000 };
let tmp, mock, cp;

before(async () => {
  tmp = makeTempDir('sy-probe-dialects-');
  mock = await startMock({ dir: tmp.dir });
  cp = await startCp({
    dir: tmp.dir,
    bus: false,
    env: { OAI_KEY, ANTH_KEY, GEM_KEY },
    catalog: {
      providers: [
        { id: 'oai', kind: 'openai', base_url: `${mock.url}/v1`, api_key_env: 'OAI_KEY', probe: PROBE },
        { id: 'anth', kind: 'anthropic', base_url: `${mock.url}/v1`, api_key_env: 'ANTH_KEY', probe: PROBE },
        { id: 'gem', kind: 'gemini', base_url: `${mock.url}/v1beta/`, api_key_env: 'GEM_KEY', probe: PROBE },
      ],
      models: [
        { id: 'm-oai', provider: 'oai', upstream: 'mock', input_per_m: '1', output_per_m: '2' },
        { id: 'm-anth', provider: 'anth', upstream: 'claude-mock', input_per_m: '3', output_per_m: '15' },
        { id: 'm-gem', provider: 'gem', upstream: 'gemini-mock', input_per_m: '1.25', output_per_m: '10' },
      ],
      workspaces: [{ id: 'ws', active: true }],
      keys: [],
    },
  });
});

after(async () => {
  try {
    await cp?.proc.stop();
    await mock?.stop();
  } finally {
    tmp?.cleanup?.();
  }
});

test('a catalog with openai, anthropic and gemini providers loads, kinds as written', async () => {
  const r = await cp.api('/api/providers');
  assert.equal(r.status, 200, r.text);
  const kinds = Object.fromEntries(r.json.data.map((p) => [p.id, p.kind]));
  assert.deepEqual(kinds, { oai: 'openai', anth: 'anthropic', gem: 'gemini' });
});

test('an unknown kind is refused, and the message lists the supported kinds', async () => {
  const r = await cp.api('/api/catalog/import?dry_run=true', {
    method: 'POST',
    body: { catalog: { providers: [{ id: 'x', kind: 'cohere', base_url: 'https://api.example.com/v1' }], models: [], workspaces: [], keys: [] } },
  });
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /unknown kind 'cohere' \(supported: openai, anthropic, gemini\)/);
});

test('each kind is probed healthy, in its own dialect', async () => {
  await waitFor(
    async () => {
      const r = await cp.api('/api/providers');
      return r.json.data.every((p) => p.health === 'healthy');
    },
    { timeout: slack(5000), what: 'every provider healthy' },
  );
  const probes = mock.requests().filter((e) => e.method === 'GET');
  const oai = probes.find((e) => e.headers.authorization === `Bearer ${OAI_KEY}`);
  assert.ok(oai, 'an OpenAI probe');
  assert.equal(oai.path, '/v1/models');

  const anth = probes.find((e) => e.headers['x-api-key'] === ANTH_KEY);
  assert.ok(anth, 'an Anthropic probe with x-api-key');
  assert.equal(anth.path, '/v1/models');
  assert.equal(anth.headers['anthropic-version'], '2023-06-01');
  assert.equal(anth.headers.authorization, undefined);

  const gem = probes.find((e) => e.headers['x-goog-api-key'] === GEM_KEY);
  assert.ok(gem, 'a Gemini probe with x-goog-api-key');
  assert.equal(gem.path, '/v1beta/models');
  assert.equal(gem.dialect, 'gemini');
  assert.equal(gem.headers.authorization, undefined);
  assert.equal(gem.headers['anthropic-version'], undefined);

  // no probe ever spoke the wrong dialect to a provider
  for (const e of probes) {
    if (e.headers['x-api-key'] !== undefined) assert.equal(e.headers['x-api-key'], ANTH_KEY);
    if (e.headers['x-goog-api-key'] !== undefined) assert.equal(e.path, '/v1beta/models');
    if (e.headers.authorization !== undefined) assert.equal(e.headers.authorization, `Bearer ${OAI_KEY}`);
  }
  const r = await cp.api('/api/providers');
  for (const p of r.json.data) assert.equal(p.health, 'healthy', `${p.id}: ${JSON.stringify(p)}`);
});

test('the shipped deploy/catalog.json (native anthropic and gemini kinds) passes the data plane --check', () => {
  const r = spawnSync(DP_BIN, ['--config', path.join(REPO, 'deploy', 'catalog.json'), '--check'], { encoding: 'utf8', env: childEnv() });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /^ok: /);
});
