#!/usr/bin/env node
// Time to first SSE data line, sequential requests, targets interleaved so that drift on the
// machine hits every target alike.
//   node ttfb.js N KEY BODYFILE NAME URL MODEL [NAME URL MODEL ...]
// Prints one JSON line: {"name":{"n":..,"ok":..,"headers_ms":median,"first_data_ms":median,
// "first_data_ms_all":[...], "total_ms":median}, ...}
'use strict';
const http = require('http');

const [n, key, bodyFile, ...specs] = process.argv.slice(2);
const N = parseInt(n, 10);
const template = JSON.parse(require('fs').readFileSync(bodyFile, 'utf8'));
const targets = [];
for (let i = 0; i + 2 < specs.length; i += 3)
  targets.push({ name: specs[i], url: new URL(specs[i + 1]), model: specs[i + 2] });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function now() { return Number(process.hrtime.bigint()) / 1e6; }

function one(t) {
  return new Promise((resolve) => {
    const body = JSON.stringify(Object.assign({}, template, { model: t.model, stream: true }));
    const t0 = now();
    const r = { ok: false, headers: NaN, first: NaN, total: NaN };
    const req = http.request({
      agent, host: t.url.hostname, port: t.url.port, path: t.url.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + key,
                 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      r.headers = now() - t0;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (!isNaN(r.first)) return;
        buf += d;
        if (/(^|\n)data:/.test(buf)) r.first = now() - t0;
      });
      res.on('end', () => {
        r.total = now() - t0;
        r.ok = res.statusCode === 200 && !isNaN(r.first);
        resolve(r);
      });
      res.on('error', () => resolve(r));
    });
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(r));
    req.end(body);
  });
}

function median(a) {
  const s = a.filter((x) => !isNaN(x)).sort((x, y) => x - y);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

(async () => {
  const res = {};
  for (const t of targets) res[t.name] = [];
  for (const t of targets) await one(t); // warm the keep-alive connections
  for (let i = 0; i < N; i++) for (const t of targets) res[t.name].push(await one(t));
  const out = {};
  for (const t of targets) {
    const a = res[t.name];
    out[t.name] = {
      n: a.length, ok: a.filter((r) => r.ok).length,
      headers_ms: median(a.map((r) => r.headers)), first_data_ms: median(a.map((r) => r.first)),
      total_ms: median(a.map((r) => r.total)),
      first_data_ms_all: a.map((r) => Math.round(r.first * 1000) / 1000),
    };
  }
  console.log(JSON.stringify(out));
  agent.destroy();
})();
