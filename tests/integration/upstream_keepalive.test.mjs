// The upstream engine's connection handling (dataplane/dp_upstream.c, docs/dataplane.md "The
// upstream engine"), against a raw HTTP/1.1 server written here so each behaviour can be
// provoked exactly:
//   - keep-alive: sequential requests to one origin ride one connection;
//   - a reused keep-alive connection that the upstream closes before answering is retried ONCE,
//     on a fresh connection, invisibly to the client; a fresh connection that breaks is not
//     retried (a POST is not sent a third time);
//   - response framing: chunked (split at awkward places) and close-delimited answers; after a
//     chunked answer the connection is clean and reused;
//   - a provider named by host name (localhost) is resolved and connected;
//   - TLS: connections are reused too; a certificate its CA vouches for but that does not name
//     the host connected to is refused (the engine's own hostname check).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { useStack, requestId, postRaw, assertOpenAIError, sleep, makeTempDir, makeSelfSignedCert } from './lib/harness.mjs';

// ---- the raw upstream: every request is logged as {conn, idx (1-based on its connection), model, rid}
const log = [];
let nconns = 0;
function serve(sock) {
  const conn = ++nconns;
  let idx = 0;
  let buf = Buffer.alloc(0);
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const m = head.match(/\r\ncontent-length:\s*(\d+)/i);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      buf = buf.subarray(end + 4 + len);
      idx++;
      const rid = (head.match(/\r\nx-request-id:\s*(\S+)/i) || [])[1];
      const model = JSON.parse(body).model;
      log.push({ conn, idx, model, rid, head });
      answer(sock, model, idx);
    }
  });
}
const raw = net.createServer(serve);
await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve));
const RAW_PORT = raw.address().port;
// the same upstream over TLS, with a certificate for IP 127.0.0.1 only
const certDir = makeTempDir();
const cert = makeSelfSignedCert(certDir.dir);
let tlsHandshakeErrors = 0;
const rawTls = tls.createServer({ cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key) }, serve);
rawTls.on('tlsClientError', () => tlsHandshakeErrors++);
await new Promise((resolve) => rawTls.listen(0, '127.0.0.1', resolve));
const TLS_PORT = rawTls.address().port;
after(() => {
  raw.close();
  rawTls.close();
  certDir.cleanup();
});

function completion(model, text) {
  return JSON.stringify({
    id: 'chatcmpl-raw', object: 'chat.completion', created: 1700000000, model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });
}

function answer(sock, model, idx) {
  if (model === 'drop-all' || (model === 'drop-reused' && idx > 1)) {
    sock.destroy(); // closed before any byte of the answer
    return;
  }
  const body = completion(model, `raw reply ${model}`);
  if (model === 'chunked') {
    const b = Buffer.from(body);
    const a = b.subarray(0, 7), c = b.subarray(7);
    const wire = Buffer.concat([
      Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${a.length.toString(16)};ext=1\r\n`),
      a, Buffer.from(`\r\n${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n0\r\n\r\n'),
    ]);
    // the chunk framing arrives in pieces: mid-size-line, mid-data, mid-terminator
    const cuts = [60, 83, 100, wire.length - 3];
    let at = 0;
    const step = (i) => {
      const to = i < cuts.length ? cuts[i] : wire.length;
      sock.write(wire.subarray(at, to));
      at = to;
      if (at < wire.length) setTimeout(() => step(i + 1), 15);
    };
    step(0);
    return;
  }
  if (model === 'close-delim') {
    sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n`);
    setTimeout(() => sock.end(body), 20);
    return;
  }
  sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const s = useStack({
  dpOpts: { threads: 1 }, // one loop thread: one pool, so reuse is deterministic
  mutateConfig: (c) => {
    c.providers.push(
      { id: 'raw', kind: 'openai', base_url: `http://127.0.0.1:${RAW_PORT}/v1`, api_key_env: 'MOCK_KEY' },
      { id: 'raw-name', kind: 'openai', base_url: `http://localhost:${RAW_PORT}/v1`, api_key_env: 'MOCK_KEY' },
      { id: 'raw-tls', kind: 'openai', base_url: `https://127.0.0.1:${TLS_PORT}/v1`, api_key_env: 'MOCK_KEY', ca_file: cert.cert },
      // the same trusted certificate, reached by a name it does not carry
      { id: 'raw-tls-name', kind: 'openai', base_url: `https://localhost:${TLS_PORT}/v1`, api_key_env: 'MOCK_KEY', ca_file: cert.cert },
    );
    for (const m of ['ka', 'drop-reused', 'drop-all', 'chunked', 'close-delim'])
      c.models.push({ id: `raw-${m}`, provider: 'raw', upstream: m, capabilities: ['chat'] });
    c.models.push({ id: 'raw-by-name', provider: 'raw-name', upstream: 'ka', capabilities: ['chat'] });
    c.models.push({ id: 'raw-tls-ka', provider: 'raw-tls', upstream: 'ka', capabilities: ['chat'] });
    c.models.push({ id: 'raw-tls-wrong-name', provider: 'raw-tls-name', upstream: 'ka', capabilities: ['chat'] });
  },
});

async function chat(model, rid) {
  return postRaw(s.dp, '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] },
    { key: s.keys.main.key, headers: { 'x-request-id': rid } });
}

function seen(rid) {
  return log.filter((e) => e.rid === rid);
}

test('sequential requests to one origin ride one keep-alive connection', async () => {
  const rids = [];
  for (let i = 0; i < 5; i++) {
    const rid = requestId('ka');
    rids.push(rid);
    const r = await chat('raw-ka', rid);
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).choices[0].message.content, 'raw reply ka');
  }
  const conns = new Set(rids.map((rid) => seen(rid)[0].conn));
  assert.equal(conns.size, 1, `one connection for 5 sequential requests: ${JSON.stringify(rids.map(seen))}`);
  const idx = rids.map((rid) => seen(rid)[0].idx);
  assert.deepEqual(idx, idx.map((_, i) => idx[0] + i), 'one request after the other on it');
  // the request head: request line, Host, our lines, the provider's block, Content-Length; no Expect
  const head = seen(rids[0])[0].head;
  assert.match(head, /^POST \/v1\/chat\/completions HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
  assert.match(head, /\r\nAuthorization: Bearer sk-upstream-/);
  assert.match(head, /\r\nContent-Length: \d+$/);
  assert.doesNotMatch(head, /\r\nexpect:/i);
});

test('a reused connection closed by the upstream before answering is retried once on a fresh one', async () => {
  assert.equal((await chat('raw-ka', requestId('warm'))).status, 200); // a pooled connection exists
  const rid = requestId('retry');
  const r = await chat('raw-drop-reused', rid);
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'raw reply drop-reused');
  const e = seen(rid);
  assert.equal(e.length, 2, `sent twice: ${JSON.stringify(e)}`);
  assert.ok(e[0].idx > 1, 'first on a reused connection');
  assert.equal(e[1].idx, 1, 'then on a fresh connection');
  assert.notEqual(e[0].conn, e[1].conn);
});

test('a fresh connection that breaks is not retried: the request is sent at most twice, then 502', async () => {
  assert.equal((await chat('raw-ka', requestId('warm'))).status, 200);
  const rid = requestId('dropall');
  const r = await chat('raw-drop-all', rid);
  assertOpenAIError(r, { status: 502, code: 'upstream_error' }, 'upstream closes every connection');
  await sleep(200);
  const e = seen(rid);
  assert.equal(e.length, 2, `reused once, fresh once, no more: ${JSON.stringify(e)}`);
  assert.ok(e[0].idx > 1 && e[1].idx === 1);
});

test('a chunked answer split at awkward places is read whole; its connection is reused after', async () => {
  const rid = requestId('chunked');
  const r = await chat('raw-chunked', rid);
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'raw reply chunked');
  const next = requestId('afterchunk');
  assert.equal((await chat('raw-ka', next)).status, 200);
  assert.equal(seen(next)[0].conn, seen(rid)[0].conn, 'the connection came back to the pool clean');
});

test('a close-delimited answer (no length, Connection: close) is read to EOF', async () => {
  const rid = requestId('closedelim');
  const r = await chat('raw-close-delim', rid);
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'raw reply close-delim');
  const next = requestId('afterclose');
  assert.equal((await chat('raw-ka', next)).status, 200);
  assert.notEqual(seen(next)[0].conn, seen(rid)[0].conn, 'a closed connection is never pooled');
});

test('a provider named by host name (localhost) is resolved off the loop and connected', async () => {
  const rid = requestId('byname');
  const r = await chat('raw-by-name', rid);
  assert.equal(r.status, 200, r.text);
  assert.match(seen(rid)[0].head, /\r\nHost: localhost:\d+\r\n/);
});

test('TLS: sequential requests ride one verified keep-alive connection', async () => {
  const rids = [];
  for (let i = 0; i < 3; i++) {
    const rid = requestId('tlska');
    rids.push(rid);
    const r = await chat('raw-tls-ka', rid);
    assert.equal(r.status, 200, r.text);
  }
  const conns = new Set(rids.map((rid) => seen(rid)[0].conn));
  assert.equal(conns.size, 1, `one TLS connection for 3 sequential requests: ${JSON.stringify(rids.map(seen))}`);
});

test('TLS: a trusted certificate that does not name the host connected to is refused (502)', async () => {
  const errorsBefore = tlsHandshakeErrors;
  const rid = requestId('tlsname');
  const r = await chat('raw-tls-wrong-name', rid);
  assertOpenAIError(r, { status: 502, code: 'upstream_error' }, 'certificate for IP 127.0.0.1, host localhost');
  await sleep(100);
  assert.equal(seen(rid).length, 0, 'no request was sent over it');
  assert.ok(tlsHandshakeErrors > errorsBefore, 'the handshake reached the server and was aborted by the gateway');
});
