// The soak driver (fault matrix H4), shared by tests/integration/soak.test.mjs (60 s in CI) and
// tests/bench/soak.sh (10 minutes by hand). It starts its own mock, control plane and bus-mode
// data plane (with a spool directory), then runs `clients` loops of mixed traffic for `durationS`:
// OpenAI chat plain and streamed, Anthropic /v1/messages plain and streamed, embeddings, failover,
// an answer without usage (estimated), the mock's faults (500, 429, malformed, hang → first-byte
// timeout, stall → idle timeout, reset, truncation), client errors (401, 404, 400), clients that
// leave mid-stream and before the first byte; and every `freezeEveryS` the control plane is
// frozen (SIGSTOP) for `freezeMs`, so usage batches time out and are resent.
// Every `sampleS` it samples VmRSS and descriptors of the data plane and the control plane.
// At the end: the node hands every record over; billing is exact (checkLedger with every
// client-visible success; the node's cost counter = the ledger's debits; no reservation open);
// RSS after the warm-up does not grow beyond a bound; descriptors are flat; the processes stop
// cleanly (under ASan, LeakSanitizer runs at exit and any report fails the run).
// runSoak() returns { counts, samples, rss, fds, problems, ... }; `problems` empty = pass.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeTempDir, startMock, startCp, startBusDp, prepaidWorkspace, checkLedger, waitFor, slack, sleep, httpRequest, parseMetrics, rssKiB, fdCount, closedPort, SANITIZED } from './harness.mjs';

const WS = 'ws_soak';

function catalog(mock, deadPort) {
  const m = (id, upstream, extra = {}) => ({ id, provider: 'mock', upstream, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'], ...extra });
  return {
    timeouts_ms: { connect: 1000, first_byte: 1500, idle: 1000, total: 20000 },
    limits: { max_attempts: 2 },
    routing: { breaker: { failures: 100 } }, // the walk stays the same all along
    providers: [
      { id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
      { id: 'anth', kind: 'anthropic', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
      { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } },
    ],
    models: [
      m('m-ok', 'mock'),
      m('m-stream', 'mock+chunks=8+delay_ms=5'),
      m('m-anth', 'claude-mock', { provider: 'anth' }),
      m('m-embed', 'mock-embed-1', { capabilities: ['embeddings'], output_per_m: '0' }),
      m('m-500', 'mock+status=500'),
      m('m-429', 'mock+status=429+retry_after=1'),
      m('m-malformed', 'mock+malformed=1'),
      m('m-hang', 'mock+hang=1'),
      m('m-stall', 'mock+stall_after=2+chunks=6'),
      m('m-reset', 'mock+reset_after=2+chunks=6'),
      m('m-trunc', 'mock+truncate_after=2+chunks=6'),
      m('m-nousage', 'mock+no_usage=1'),
      m('m-slow', 'mock+chunks=20+delay_ms=50'),
      m('m-ttft', 'mock+ttft_ms=400'),
      m('m-dead', 'mock', { provider: 'dead' }),
    ],
    workspaces: [],
    keys: [],
  };
}

/** A scenario: weight, and a function (ctx) → 'ok' (a client-visible success) or another word. */
function scenarios(ctx) {
  const { dpUrl, key } = ctx;
  const hdrs = (extra = {}) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json', ...extra });
  const body = (model, extra = {}) => JSON.stringify({ model, messages: [{ role: 'user', content: 'soak a few words' }], ...extra });
  const post = async (p, b, { headers = hdrs(), signal } = {}) => {
    const r = await fetch(dpUrl + p, { method: 'POST', headers, body: b, signal });
    return { status: r.status, text: await r.text() };
  };
  const expect = (r, status, what) => {
    if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 200)}`);
  };
  const streamOk = (r) => r.status === 200 && /data: \[DONE\]\n\n$/.test(r.text) && /"finish_reason":"stop"/.test(r.text) && !/"error"/.test(r.text);
  const streamError = (r, what) => {
    if (r.status !== 200 || !/"error"/.test(r.text)) throw new Error(`${what}: expected an error event, got ${r.status} ${r.text.slice(-200)}`);
    return 'error_event';
  };
  /** A stream the client leaves after `events` events. */
  const leave = async (model, events) => {
    const ac = new AbortController();
    const r = await fetch(`${dpUrl}/v1/chat/completions`, { method: 'POST', headers: hdrs(), body: body(model, { stream: true }), signal: ac.signal });
    if (r.status !== 200) throw new Error(`leave mid-stream: ${r.status}`);
    let seen = 0;
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    while (seen < events) {
      const { value, done } = await reader.read();
      if (done) throw new Error('leave mid-stream: the stream ended before the client left');
      seen += (dec.decode(value).match(/\n\n/g) ?? []).length;
    }
    ac.abort();
    await reader.cancel().catch(() => {});
    return 'left';
  };
  return [
    [20, 'chat', async () => {
      const r = await post('/v1/chat/completions', body('m-ok'));
      expect(r, 200, 'chat');
      return 'ok';
    }],
    [20, 'stream', async () => {
      const r = await post('/v1/chat/completions', body('m-stream', { stream: true, stream_options: { include_usage: true } }));
      if (!streamOk(r)) throw new Error(`stream: ${r.status} ${r.text.slice(-200)}`);
      return 'ok';
    }],
    [5, 'anthropic', async () => {
      const r = await post('/v1/messages', JSON.stringify({ model: 'm-anth', max_tokens: 64, messages: [{ role: 'user', content: 'soak' }] }), { headers: hdrs({ 'anthropic-version': '2023-06-01' }) });
      expect(r, 200, 'anthropic');
      return 'ok';
    }],
    [5, 'anthropic stream', async () => {
      const r = await post('/v1/messages', JSON.stringify({ model: 'm-ok', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'soak' }] }), { headers: hdrs({ 'anthropic-version': '2023-06-01' }) });
      if (r.status !== 200 || !/event: message_stop/.test(r.text)) throw new Error(`anthropic stream: ${r.status} ${r.text.slice(-200)}`);
      return 'ok';
    }],
    [4, 'embeddings', async () => {
      const r = await post('/v1/embeddings', JSON.stringify({ model: 'm-embed', input: ['a b c', 'd e'] }));
      expect(r, 200, 'embeddings');
      return 'ok';
    }],
    [4, 'failover', async () => {
      const r = await post('/v1/chat/completions', body('m-500', { models: ['m-ok'] }));
      expect(r, 200, 'failover');
      return 'ok';
    }],
    [3, 'failover dead', async () => {
      const r = await post('/v1/chat/completions', body('m-dead', { models: ['m-ok'] }));
      expect(r, 200, 'failover from a dead provider');
      return 'ok';
    }],
    [3, 'no usage', async () => {
      const r = await post('/v1/chat/completions', body('m-nousage', { stream: true }));
      if (!streamOk(r)) throw new Error(`no usage: ${r.status}`);
      return 'ok';
    }],
    [4, '500', async () => (expect(await post('/v1/chat/completions', body('m-500')), 502, 'upstream 500'), 'error')],
    [3, '429', async () => (expect(await post('/v1/chat/completions', body('m-429')), 429, 'upstream 429'), 'error')],
    [3, 'malformed', async () => (expect(await post('/v1/chat/completions', body('m-malformed')), 502, 'malformed'), 'error')],
    [1, 'hang', async () => (expect(await post('/v1/chat/completions', body('m-hang')), 504, 'hang'), 'error')],
    [2, 'stall', async () => streamError(await post('/v1/chat/completions', body('m-stall', { stream: true })), 'stall')],
    [2, 'reset', async () => streamError(await post('/v1/chat/completions', body('m-reset', { stream: true })), 'reset')],
    [2, 'truncate', async () => streamError(await post('/v1/chat/completions', body('m-trunc', { stream: true })), 'truncate')],
    [4, 'leave mid-stream', async () => leave('m-slow', 3)],
    [2, 'leave before first byte', async () => {
      const ac = new AbortController();
      const p = fetch(`${dpUrl}/v1/chat/completions`, { method: 'POST', headers: hdrs(), body: body('m-ttft'), signal: ac.signal });
      await sleep(150);
      ac.abort();
      await p.then((r) => r.text()).catch(() => {});
      return 'left';
    }],
    [3, 'client errors', async () => {
      // a wrong key is 401 — or, past the node's failed-authentication limit for this address
      // (20 per 10 s per loop thread, docs/admission.md), 429 with the throttle's own message
      const bad = await post('/v1/chat/completions', body('m-ok'), { headers: hdrs({ authorization: 'Bearer sk-wrong' }) });
      if (!(bad.status === 401 || (bad.status === 429 && /invalid API key from this address/.test(bad.text))))
        throw new Error(`bad key: expected 401 or the failed-auth 429, got ${bad.status} ${bad.text.slice(0, 200)}`);
      expect(await post('/v1/chat/completions', body('no-such-model')), 404, 'unknown model');
      expect(await post('/v1/chat/completions', '{"model":'), 400, 'bad json');
      return 'error';
    }],
  ];
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

/**
 * Runs the soak. Options: durationS (600), sampleS (5), warmupS (max(15, 20% of the run)),
 * clients (8), freezeEveryS (45; 0 = never), freezeMs (1500), rssGrowthKiB ({ dp: 8192, cp: 16384 }:
 * allowed growth of the median RSS from the first to the last quarter after the warm-up),
 * log (console.log).
 */
export async function runSoak({ durationS = 600, sampleS = 5, warmupS, clients = 8, freezeEveryS = 45, freezeMs = 1500, rssGrowthKiB = { dp: 8192, cp: 16384 }, log = console.log } = {}) {
  warmupS ??= Math.max(15, Math.round(durationS * 0.2));
  const tmp = makeTempDir('sy-soak-');
  const procs = [];
  const problems = [];
  const counts = {}; // scenario -> { result: n }
  const failures = []; // unexpected outcomes (first few kept)
  let okTotal = 0;
  const samples = [];
  let mock, cp, dp;
  try {
    mock = await startMock({ dir: tmp.dir, threads: 2 });
    procs.push(mock.proc);
    // ASan keeps freed memory in a quarantine (256 MiB by default) that fills for minutes and
    // looks like growth; capped, RSS can reach its plateau within the warm-up
    const env = SANITIZED ? { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=16'].filter(Boolean).join(':') } : {};
    cp = await startCp({ dir: tmp.dir, catalog: catalog(mock, await closedPort()), env });
    procs.push(cp.proc);
    const key = await prepaidWorkspace(cp, WS, '100000');
    dp = await startBusDp({ dir: tmp.dir, cp, env: { MOCK_KEY: 'mock-soak', ...env }, threads: 2, args: ['--spool-dir', path.join(tmp.dir, 'spool')] });
    procs.unshift(dp.proc);
    await waitFor(async () => (await httpRequest(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'the key on the node' });

    const list = scenarios({ dpUrl: dp.url, key });
    const total = list.reduce((a, [w]) => a + w, 0);
    const pick = () => {
      let x = Math.random() * total;
      for (const s of list) if ((x -= s[0]) < 0) return s;
      return list[0];
    };
    const t0 = Date.now();
    const end = t0 + durationS * 1000;
    const client = async () => {
      while (Date.now() < end) {
        const [, name, fn] = pick();
        let res;
        try {
          res = await fn();
        } catch (e) {
          res = 'unexpected';
          if (failures.length < 20) failures.push(`${name}: ${e.message}`);
        }
        const c = (counts[name] ??= {});
        c[res] = (c[res] ?? 0) + 1;
        if (res === 'ok') okTotal++;
      }
    };
    const sample = () => {
      const s = { t: Math.round((Date.now() - t0) / 1000), dpRss: rssKiB(dp.proc.pid), cpRss: rssKiB(cp.proc.pid), dpFds: fdCount(dp.proc.pid), cpFds: fdCount(cp.proc.pid), ok: okTotal };
      samples.push(s);
      if (log) log(`soak t=${s.t}s dp RSS ${s.dpRss} KiB fds ${s.dpFds} | cp RSS ${s.cpRss} KiB fds ${s.cpFds} | ${okTotal} ok`);
    };
    sample();
    const sampler = setInterval(sample, sampleS * 1000);
    // the control plane freezes now and then: batches time out, are resent, applied once
    let freezes = 0;
    const freezer = freezeEveryS > 0
      ? setInterval(() => {
          if (Date.now() + freezeMs > end) return;
          cp.proc.signalProc('SIGSTOP');
          freezes++;
          setTimeout(() => cp.proc.signalProc('SIGCONT'), freezeMs);
        }, freezeEveryS * 1000)
      : null;
    await Promise.all(Array.from({ length: clients }, client));
    clearInterval(sampler);
    if (freezer) clearInterval(freezer);
    await sleep(freezeMs + 100);
    cp.proc.signalProc('SIGCONT');
    sample();

    // billing
    const metrics = async () => parseMetrics((await httpRequest(`${dp.url}/metrics`)).text);
    await waitFor(async () => (await metrics()).get('switchyard_usage_records_pending') === 0, { timeout: slack(60000), interval: 200, what: 'the node handed every usage record over' });
    const m = await metrics();
    const costMetric = [...m.entries()].filter(([k]) => k.startsWith('switchyard_cost_nano_usd_total{')).reduce((a, [, v]) => a + BigInt(Math.round(v)), 0n);
    const usage = (await cp.api(`/api/workspaces/${WS}/usage?from=0`)).json.total;
    if (BigInt(usage.cost_nano) !== costMetric) problems.push(`the node's cost counter ${costMetric} != the ledger's usage cost ${usage.cost_nano}`);
    if (m.get('switchyard_reserve_open') !== 0) problems.push(`reservations open at the end: ${m.get('switchyard_reserve_open')}`);
    if (m.get('switchyard_reserve_reserved_nano_total') !== m.get('switchyard_reserve_released_nano_total')) problems.push('reserved != released');
    try {
      await checkLedger(cp, { okRequests: { [WS]: okTotal } });
    } catch (e) {
      problems.push(`checkLedger: ${e.message}`);
    }
    const minted = m.get('switchyard_usage_records_total{stage="minted"}');

    // resources after the warm-up
    const after = samples.filter((s) => s.t >= warmupS);
    const q = Math.max(1, Math.floor(after.length / 4));
    const rss = {};
    const fds = {};
    for (const [p, k, f] of [['dp', 'dpRss', 'dpFds'], ['cp', 'cpRss', 'cpFds']]) {
      const first = median(after.slice(0, q).map((s) => s[k]));
      const last = median(after.slice(-q).map((s) => s[k]));
      rss[p] = { start: samples[0][k], warm: first, last, max: Math.max(...samples.map((s) => s[k])), growth: last - first };
      fds[p] = { start: samples[0][f], min: Math.min(...after.map((s) => s[f])), max: Math.max(...after.map((s) => s[f])), end: samples[samples.length - 1][f] };
      if (after.length < 4) problems.push(`too few samples after the warm-up (${after.length})`);
      else if (rss[p].growth > rssGrowthKiB[p]) problems.push(`${p} RSS grew ${rss[p].growth} KiB after the warm-up (bound ${rssGrowthKiB[p]} KiB): ${first} -> ${last}`);
    }
    // descriptors: the node's count at the end is what it was after the warm-up, within curl's idle cache
    if (fds.dp.end > fds.dp.min + 64) problems.push(`dp descriptors ${fds.dp.min} -> ${fds.dp.end}`);
    if (fds.cp.end > fds.cp.min + 16) problems.push(`cp descriptors ${fds.cp.min} -> ${fds.cp.end}`);
    const unexpected = Object.values(counts).reduce((a, c) => a + (c.unexpected ?? 0), 0);
    if (unexpected > 0) problems.push(`${unexpected} unexpected outcomes, e.g. ${failures.slice(0, 5).join(' | ')}`);
    const requests = Object.values(counts).reduce((a, c) => a + Object.values(c).reduce((x, y) => x + y, 0), 0);
    return { durationS, warmupS, requests, okTotal, counts, minted, usage, costNano: costMetric.toString(), freezes, samples, rss, fds, problems, failures, sanitized: SANITIZED };
  } catch (e) {
    problems.push(`soak aborted: ${e.stack ?? e}`);
    return { problems, counts, samples };
  } finally {
    // the end: every process stops cleanly (LeakSanitizer reports on exit under ASan)
    if (cp?.proc?.running) cp.proc.signalProc('SIGCONT');
    for (const p of procs) {
      try {
        await p.stop();
      } catch (e) {
        problems.push(`${p.name}: ${e.message.slice(0, 4000)}`);
      }
    }
    if (problems.length === 0) tmp.cleanup();
    else problems.push(`kept ${tmp.dir} for inspection`);
  }
}

/** A short human summary of a run. */
export function summary(r) {
  if (!r.rss) return `soak aborted: ${r.problems.join('; ')}`;
  const lines = [
    `soak: ${r.durationS} s${r.sanitized ? ' (ASan build)' : ''}, ${r.requests} requests, ${r.okTotal} client-visible successes, ${r.minted} usage records minted, ${r.usage.requests} in the ledger (${r.usage.errors} not ok), cost ${r.costNano} nano-USD, ${r.freezes} control-plane freezes`,
    `  outcomes: ${Object.entries(r.counts).map(([k, c]) => `${k} ${Object.entries(c).map(([x, n]) => `${x}=${n}`).join('/')}`).join(', ')}`,
  ];
  for (const p of ['dp', 'cp']) lines.push(`  ${p} RSS KiB: start ${r.rss[p].start}, after warm-up ${r.rss[p].warm}, last quarter ${r.rss[p].last}, max ${r.rss[p].max}, growth ${r.rss[p].growth}; fds start ${r.fds[p].start}, after warm-up ${r.fds[p].min}..${r.fds[p].max}, end ${r.fds[p].end}`);
  lines.push(r.problems.length ? `  FAIL: ${r.problems.join('\n  ')}` : '  PASS');
  return lines.join('\n');
}

// By hand: node tests/integration/lib/soak.mjs (tests/bench/soak.sh sets the environment)
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const r = await runSoak({
    durationS: Number(process.env.DURATION || 600),
    sampleS: Number(process.env.SAMPLE_S || 5),
    clients: Number(process.env.SOAK_CLIENTS || 8),
    freezeEveryS: Number(process.env.FREEZE_EVERY_S ?? 45),
  });
  console.log(summary(r));
  if (process.env.SOAK_JSON) fs.writeFileSync(process.env.SOAK_JSON, JSON.stringify(r, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
  process.exit(r.problems.length ? 1 : 0);
}
