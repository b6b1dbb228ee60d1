// A slow client must pause the upstream transfer, not grow a buffer in the gateway; and TLS to
// an upstream is verified (a provider's own CA can be named with `ca_file`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  useStack, requestId, slack, sleep, waitFor, makeTempDir, makeSelfSignedCert, startDp, Proc, MOCK_BIN, catalog,
  standardKeys, closedPort, assertOpenAIError, postRaw,
} from './lib/harness.mjs';

const BIG = 40 * 1000 * 1000; // 40 MB of stream: far beyond every socket buffer on the way
const s = useStack({
  mutateConfig: (c) => {
    c.timeouts_ms.idle = 20000;
    c.timeouts_ms.total = 120000;
    c.models.push({ id: 'm-big', provider: 'mock', upstream: `mock+chunks=200+body_bytes=${BIG}`, capabilities: ['chat'] });
  },
});

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

test('a client that stops reading pauses the upstream; memory stays flat; the stream then completes', async () => {
  const rid = requestId('bp');
  const body = JSON.stringify({ model: 'm-big', messages: [{ role: 'user', content: 'big' }], stream: true });
  const rss0 = rssKiB(s.dp.proc.pid);
  let res;
  const req = http.request(`${s.dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json', 'x-request-id': rid },
  });
  const got = new Promise((resolve, reject) => {
    req.on('response', (r) => {
      res = r;
      resolve();
    });
    req.on('error', reject);
  });
  req.end(body);
  await got;
  assert.equal(res.statusCode, 200);
  res.pause(); // stop reading: kernel buffers fill, then the gateway must stop pulling from upstream

  await sleep(slack(2000));
  const upstream = s.mock.requestById(rid);
  assert.ok(upstream, 'the mock saw the request');
  const done = s.mock.events().find((e) => e.event === 'done' && e.id === upstream.id);
  assert.equal(done, undefined, 'the upstream could not finish while the client was not reading (backpressure)');
  const grown = rssKiB(s.dp.proc.pid) - rss0;
  assert.ok(grown < 16 * 1024, `gateway RSS grew by ${grown} KiB while holding a paused 40 MB stream`);

  // read the rest: every byte arrives and the stream ends properly
  let bytes = 0;
  let tail = '';
  res.setEncoding('utf8');
  res.on('data', (d) => {
    bytes += d.length;
    tail = (tail + d).slice(-64);
  });
  res.resume();
  await new Promise((resolve) => res.on('end', resolve));
  assert.ok(bytes > BIG, `received ${bytes} bytes`);
  assert.match(tail, /data: \[DONE\]\n\n$/);
  const fin = await s.mock.waitForEvent((e) => e.event === 'done' && e.id === upstream.id, { timeout: slack(5000) });
  assert.equal(fin.outcome, 'ok');
});

test('TLS upstream: verified against ca_file; a certificate nobody vouches for is refused (502)', async () => {
  const tmp = makeTempDir();
  const tls = makeSelfSignedCert(tmp.dir);
  const mock = new Proc('mockllm-tls', MOCK_BIN, ['--listen', '127.0.0.1:0', '--tls-cert', tls.cert, '--tls-key', tls.key]);
  try {
    const m = await mock.waitStdout(/listening 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    const config = catalog({ mockPort: s.mock.port, deadPort: await closedPort() });
    config.providers.push(
      { id: 'tls-ok', kind: 'openai', base_url: `https://127.0.0.1:${port}/v1`, api_key_env: 'MOCK_KEY', ca_file: tls.cert },
      { id: 'tls-unknown', kind: 'openai', base_url: `https://127.0.0.1:${port}/v1`, api_key_env: 'MOCK_KEY' },
    );
    config.models.push(
      { id: 'm-tls', provider: 'tls-ok', upstream: 'mock', capabilities: ['chat'] },
      { id: 'm-tls-unknown', provider: 'tls-unknown', upstream: 'mock', capabilities: ['chat'] },
    );
    const { keys, entries } = standardKeys();
    config.keys = entries;
    const dp = await startDp({ dir: tmp.dir, config, upstreamKey: 'sk-up-tls' });
    try {
      const ok = await dp.client(keys.main.key).chat.completions.create({ model: 'm-tls', messages: [{ role: 'user', content: 'hi' }] });
      assert.match(ok.choices[0].message.content, /mock/);
      const bad = await postRaw(dp, '/v1/chat/completions', { model: 'm-tls-unknown', messages: [{ role: 'user', content: 'hi' }] }, { key: keys.main.key });
      assertOpenAIError(bad, { status: 502, code: 'upstream_error' }, 'unverifiable upstream certificate');
    } finally {
      await dp.stop();
    }
  } finally {
    await mock.stop();
    fs.rmSync(tmp.dir, { recursive: true, force: true });
  }
});
