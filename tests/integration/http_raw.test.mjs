// Bytes that are not a well-formed request, and clients that send them too slowly, on both
// HTTP services (reliability matrix rows B5 and F8, and the "no plain-text answer" rule):
//   - a request h2o cannot parse gets the documented 400 in JSON, and the connection closes;
//   - slowloris clients (headers or a body trickled a byte at a time) are cut by h2o's request
//     read deadline (10 s for the whole request, not per byte) while other clients are served;
//   - traversal paths never read a file: 404/400 JSON on both services.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, startMock, startDp, startCp, closedPort, catalog, standardKeys, stopAll, slack, sleep, httpRequest, REPO } from './lib/harness.mjs';

const s = {};
before(async () => {
  s.tmp = makeTempDir('sy-raw-');
  s.mock = await startMock({ dir: s.tmp.dir });
  const { keys, entries } = standardKeys();
  s.keys = keys;
  const config = catalog({ mockPort: s.mock.port, deadPort: await closedPort() });
  config.keys = entries;
  s.dp = await startDp({ dir: s.tmp.dir, config, upstreamKey: 'sk-upstream-raw' });
  const cpCatalog = catalog({ mockPort: s.mock.port, deadPort: await closedPort() });
  delete cpCatalog.keys;
  s.cp = await startCp({ dir: s.tmp.dir, catalog: cpCatalog, bus: false, args: ['--web-dir', path.join(REPO, 'web'), '--public-api-url', 'https://llm.example.test:8443/v1'] });
});
after(() => stopAll([s.dp, s.cp?.proc, s.mock], s.tmp));

const portOf = (url) => Number(new URL(url).port);
/** Chat requests the mock has seen (the control plane's health probes are not counted). */
const upstreamChats = () => s.mock.requests().filter((e) => /chat\/completions/.test(e.path ?? e.url ?? '')).length;
const services = () => [
  ['data plane', portOf(s.dp.url)],
  ['control plane', portOf(s.cp.base)],
];

/** Sends `bytes` on a fresh connection; resolves with everything read until the server closes. */
function rawExchange(port, bytes, { timeout = slack(5000) } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeout} ms; read so far: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
    }, timeout);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => {}); // a reset after the answer still leaves what was read
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

function parseResponse(text) {
  const i = text.indexOf('\r\n\r\n');
  assert.ok(i > 0, `an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, i).split('\r\n');
  const headers = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(i + 4) };
}

test('a request h2o cannot parse gets a JSON 400 and a close, on both services; nothing reaches the upstream', async () => {
  const before = upstreamChats();
  const hostile = {
    'not HTTP': 'BLAH\r\n\r\n',
    'a space in the method': 'GE T / HTTP/1.1\r\nHost: x\r\n\r\n',
    'a header without a colon': 'GET /healthz HTTP/1.1\r\nHost: x\r\nno-colon-here\r\n\r\n',
    'a NUL in a header value': 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n',
    'a bare LF inside the request line': 'GET /v1/models\nHTTP/1.1\r\n\r\n',
    'HTTP/9.9': 'GET / HTTP/9.9.9\r\n\r\n',
    'a request head over h2o\u2019s 408 KiB cap': `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(420 * 1024)}\r\n\r\n`,
    'more than 100 header fields': `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`,
  };
  for (const [svc, port] of services()) {
    for (const [what, bytes] of Object.entries(hostile)) {
      const r = parseResponse(await rawExchange(port, Buffer.from(bytes, 'latin1')));
      assert.equal(r.status, 400, `${svc}, ${what}`);
      assert.match(r.headers['content-type'], /^application\/json/, `${svc}, ${what}: no text/plain answer`);
      assert.equal(r.headers.connection, 'close', `${svc}, ${what}`);
      assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body), `${svc}, ${what}: exact length`);
      const j = JSON.parse(r.body);
      assert.equal(j.error.type, 'invalid_request_error', `${svc}, ${what}`);
      assert.equal(j.error.code, 'invalid_request_error', `${svc}, ${what}`);
    }
    // and the service still answers a well-formed request
    const ok = await httpRequest(`http://127.0.0.1:${port}/healthz`);
    assert.equal(ok.status, 200, svc);
  }
  assert.equal(upstreamChats(), before, 'no hostile request reached the upstream');
});

test('slowloris (B5): trickled headers and bodies are cut by the request deadline; other clients are served meanwhile', async () => {
  const port = portOf(s.dp.url);
  const before = upstreamChats();
  const N = 24;
  const started = Date.now();
  const slow = [];
  for (let i = 0; i < N; i++) {
    const body = i % 2 === 1; // half trickle the headers, half a body after complete headers
    slow.push(
      new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1');
        const head = body
          ? `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.keys.main.key}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n`
          : 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ';
        let timer = null;
        let sent = 0;
        sock.on('connect', () => {
          sock.write(head);
          timer = setInterval(() => {
            if (sock.writable && sent++ < 1000) sock.write(body ? '{' : 'a');
          }, 300);
        });
        sock.on('error', () => {});
        sock.on('close', () => {
          clearInterval(timer);
          resolve(Date.now() - started);
        });
      }),
    );
  }
  // while they trickle: ordinary requests are answered at once
  const latencies = [];
  const stopAt = Date.now() + 6000;
  while (Date.now() < stopAt) {
    const t0 = Date.now();
    const r = await httpRequest(`${s.dp.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.keys.main.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200, r.text);
    latencies.push(Date.now() - t0);
    await sleep(200);
  }
  latencies.sort((a, b) => a - b);
  assert.ok(latencies[latencies.length - 1] < slack(1000), `ordinary requests stayed fast: ${latencies}`);
  // every slow client is closed by the server: h2o's deadline is for the whole request (10 s),
  // so trickling a byte every 300 ms does not keep a connection
  const closedAfter = await Promise.all(slow);
  for (const ms of closedAfter) {
    assert.ok(ms >= 9000, `closed by the request deadline, not before (${ms} ms)`);
    assert.ok(ms < 10000 + slack(3000), `closed within the request deadline (${ms} ms)`);
  }
  // none of the slow requests reached a handler, so none reached the upstream
  await sleep(200); // the mock writes its log line as it answers
  assert.equal(upstreamChats() - before, latencies.length, 'only the ordinary requests went upstream');
});

test('path traversal (F8): encoded, double-encoded and backslash forms read no file, on both services', async () => {
  const paths = [
    '/../../../../etc/passwd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/%252e%252e/%252e%252e/etc/passwd',
    '/..%2f..%2f..%2fetc%2fpasswd',
    '/..\\..\\..\\etc\\passwd',
    '/v1/../../../etc/passwd',
    '/v1/models/..%2f..%2f..%2fetc%2fpasswd',
    '/api/../../etc/passwd',
    '/%00/etc/passwd',
    '/etc/passwd%00.json',
    '//etc/passwd',
  ];
  for (const [svc, port] of services()) {
    for (const p of paths) {
      const r = parseResponse(await rawExchange(port, Buffer.from(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1')));
      assert.ok([400, 401, 404].includes(r.status), `${svc} ${p}: ${r.status}`);
      assert.match(r.headers['content-type'], /^application\/json/, `${svc} ${p}`);
      assert.doesNotMatch(r.body, /root:|\/bin\/(ba)?sh/, `${svc} ${p}: no file content`);
      JSON.parse(r.body);
    }
  }
});

test('the dashboard\u2019s files: pages and assets from memory with their security headers; the CSP lets the Playground reach --public-api-url', async () => {
  const base = s.cp.base;
  for (const p of ['/', '/keys', '/requests', '/login']) {
    const r = await httpRequest(base + p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers['content-type'], /^text\/html/);
    assert.match(r.text, /<script src="\/assets\/app\.js"/i);
    const csp = r.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/, 'no inline script');
    assert.match(csp, /connect-src 'self' https:\/\/llm\.example\.test:8443;/, 'the data plane\u2019s origin, not its path');
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
  }
  const js = await httpRequest(`${base}/assets/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  const again = await httpRequest(`${base}/assets/app.js`, { headers: { 'if-none-match': js.headers.etag } });
  assert.equal(again.status, 304, 'ETag');
  for (const p of ['/assets/nope.js', '/assets/', '/index.html', '/openapi.json', '/assets/..%2findex.html', '/dashboard']) {
    const r = await httpRequest(base + p);
    assert.equal(r.status, 404, p);
    assert.match(r.headers['content-type'], /application\/json/, p);
  }
});
