#!/usr/bin/env node
// Opens N concurrent streaming chat requests and holds them until they finish.
//   node hold.js N URL KEY MODEL BODYFILE PID [RAMP]
// At most RAMP (default 256) streams are being opened at a time (sent, first data line not yet
// seen): a storm of N connects at once overflows the accept queues (the kernel caps the listen
// backlog at net.core.somaxconn) and measures resets, not memory. Streams must outlast the ramp;
// max_open tells whether all N were open at once.
// Once every stream has delivered its first SSE data line (or after 30 s), samples VmRSS of PID;
// when all have ended, samples VmHWM. Prints one JSON line: n, first_data (streams that had their
// first data line when VmRSS was sampled), rss_all_open_kb, max_open (most streams open at once:
// first data line seen, end not yet), all_first_ms (start -> the last stream's first data line),
// ok (200 and `data: [DONE]`), done, errors, hwm_kb, total_ms.
'use strict';
const http = require('http');
const fs = require('fs');

const [n, url, key, model, bodyFile, pid, ramp] = process.argv.slice(2);
const N = parseInt(n, 10);
const RAMP = parseInt(ramp || '256', 10);
const u = new URL(url);
const body = JSON.stringify(Object.assign(JSON.parse(fs.readFileSync(bodyFile, 'utf8')), { model, stream: true }));
const agent = new http.Agent({ keepAlive: false, maxSockets: N });

function status(field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? parseInt(m[1], 10) : null;
}

let first = 0, done = 0, ok = 0, open = 0, sampled = false;
const t0 = Date.now();
const errors = {};
const out = { n: N };
let maxOpen = 0;
function err(e) { errors[e] = (errors[e] || 0) + 1; }

function sample() {
  if (sampled) return;
  sampled = true;
  out.first_data = first;
  out.all_first_ms = first === N ? Date.now() - t0 : null;
  out.rss_all_open_kb = status('VmRSS');
}
const sampleTimer = setTimeout(sample, 120000);

function finish() {
  clearTimeout(sampleTimer);
  sample();
  out.ok = ok;
  out.done = done;
  out.max_open = maxOpen;
  out.errors = errors;
  out.hwm_kb = status('VmHWM');
  out.total_ms = Date.now() - t0;
  console.log(JSON.stringify(out));
  process.exit(0);
}
setTimeout(() => { err('deadline'); finish(); }, 180000);

let started = 0;
function next() { if (started < N) start(started++); }
for (let i = 0; i < Math.min(RAMP, N); i++) next();

function start() {
  let gotFirst = false, ended = false, sawDone = false;
  const end = (ok1, why) => {
    if (ended) return;
    ended = true;
    done++;
    if (gotFirst) open--;
    else next();
    if (ok1) ok++; else err(why);
    if (done === N) finish();
  };
  const req = http.request({
    agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + key,
               'content-length': Buffer.byteLength(body) },
  }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      if (!gotFirst && /(^|\n)data:/.test(buf)) {
        gotFirst = true;
        if (++open > maxOpen) maxOpen = open;
        if (++first === N) sample();
        next();
      }
      if (buf.includes('data: [DONE]')) sawDone = true;
      if (buf.length > 4096) buf = buf.slice(-64);
    });
    res.on('end', () => end(res.statusCode === 200 && sawDone,
                            res.statusCode !== 200 ? 'status_' + res.statusCode : 'no_done'));
    res.on('error', (e) => end(false, 'res_' + (e.code || e.message)));
  });
  req.on('error', (e) => end(false, 'req_' + (e.code || e.message)));
  req.end(body);
}
