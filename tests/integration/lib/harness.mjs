// Integration-test harness: starts the mock provider (switchyard-mockllm) and the data plane
// (switchyard-dp) on free loopback ports, writes their configuration into a temp dir, waits
// until they are ready, and on teardown stops them with SIGTERM and FAILS when a process
// exited non-zero, was killed by a signal, ended before the harness stopped it, or printed a
// sanitizer report (AddressSanitizer, LeakSanitizer, UBSan "runtime error:").
//
// Everything talks to 127.0.0.1 only. Binaries come from $SY_BUILD_DIR (default <repo>/build).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';

export const INTEGRATION_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO = path.resolve(INTEGRATION_DIR, '..', '..');
export const BUILD_DIR = process.env.SY_BUILD_DIR ? path.resolve(process.env.SY_BUILD_DIR) : path.join(REPO, 'build');
export const DP_BIN = path.join(BUILD_DIR, 'dataplane', 'switchyard-dp');
export const MOCK_BIN = path.join(BUILD_DIR, 'tests', 'mockllm', 'switchyard-mockllm');

// ---------------------------------------------------------------------------------- the SDK

async function loadOpenAI() {
  try {
    return (await import('openai')).default;
  } catch (e) {
    if (e && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND')) {
      throw new Error(
        `the 'openai' package is not installed: run "npm ci" in ${INTEGRATION_DIR} ` +
          `(node_modules is missing or incomplete). Original error: ${e.message}`,
      );
    }
    throw e;
  }
}
/** The official OpenAI SDK's default export (the client class; error classes are statics). */
export const OpenAI = await loadOpenAI();

// ------------------------------------------------------------------------ timing / slack

function detectSanitized() {
  if (process.env.SY_SANITIZE) return /^(1|on|yes|true)$/i.test(process.env.SY_SANITIZE);
  try {
    const cache = fs.readFileSync(path.join(BUILD_DIR, 'CMakeCache.txt'), 'utf8');
    return /^SY_SANITIZE:BOOL=(ON|1|TRUE|YES|Y)\s*$/im.test(cache);
  } catch {
    return false;
  }
}
/** True when the binaries were built with ASan/UBSan (they are ~3x slower). */
export const SANITIZED = detectSanitized();
/** Multiplier for every slack/deadline in the tests (SY_TIME_SCALE overrides). */
export const TIME_SCALE = Number(process.env.SY_TIME_SCALE) || (SANITIZED ? 3 : 1);
/** Scales a slack duration (ms) for slow builds. */
export const slack = (msec) => Math.round(msec * TIME_SCALE);
export const sleep = (msec) => new Promise((r) => setTimeout(r, msec));

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms. */
export async function waitFor(fn, { timeout = slack(3000), interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (last instanceof Error ? `: ${last.message}` : ''));
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------------------- temp dirs

/** A fresh temp dir; removed by `cleanup()` unless SY_KEEP_TMP is set. */
export function makeTempDir(prefix = 'sy-it-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    cleanup() {
      if (!process.env.SY_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------- processes

export const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error:/;
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/**
 * Runs binaries through a per-test symlink with a name of its own, so that somebody's
 * `pkill switchyard-dp` on a shared machine cannot end a test's process (it would look like a
 * data-plane bug).
 */
function privateBinary(bin, dir, name) {
  const link = path.join(dir, name);
  if (!fs.existsSync(link)) fs.symlinkSync(bin, link);
  return link;
}

/**
 * Environment for the binaries: the caller's, plus the project's sanitizer settings when the
 * caller has none (scripts/test.sh sets the same): tests/lsan.supp silences only h2o's
 * per-thread recycle caches.
 */
export function childEnv() {
  const env = { ...process.env };
  env.LSAN_OPTIONS ??= `suppressions=${path.join(REPO, 'tests', 'lsan.supp')}:print_suppressions=0`;
  env.UBSAN_OPTIONS ??= 'print_stacktrace=1:halt_on_error=1';
  return env;
}

function requireBinary(bin, what) {
  if (!fs.existsSync(bin)) {
    throw new Error(`${what} binary not found at ${bin}: build it first ` + `(cmake -S ${REPO} -B ${BUILD_DIR} && cmake --build ${BUILD_DIR}) or set SY_BUILD_DIR`);
  }
}

/** A child process with its stdout/stderr captured in memory. */
export class Proc {
  constructor(name, bin, args, { env = process.env, cwd } = {}) {
    this.name = name;
    this.args = args;
    this.stdout = '';
    this.stderr = '';
    this.code = undefined;
    this.signal = undefined;
    this.spawnError = null;
    this.stopping = false; // set when the harness itself asks the process to end
    this.exitedAt = null;
    this.child = spawn(bin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => {
      this.stdout += d;
      this._wake();
    });
    this.child.stderr.on('data', (d) => {
      this.stderr += d;
      if (process.env.SY_VERBOSE) process.stderr.write(`[${this.name}] ${d}`);
    });
    this._waiters = new Set();
    live.add(this);
    this.closed = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.spawnError = e;
        this.code = this.code ?? -1;
        live.delete(this);
        this._wake();
        resolve();
      });
      // 'close' (not 'exit'): by then stdout/stderr are fully read
      this.child.on('close', (code, signal) => {
        this.code = code;
        this.signal = signal;
        this.exitedAt = new Date().toISOString();
        if (!this.stopping) this.stderr += `\n[harness] ${this.name} exited on its own at ${this.exitedAt} (code ${code}, signal ${signal})\n`;
        live.delete(this);
        this._wake();
        resolve();
      });
    });
  }

  get running() {
    return this.code === undefined && this.signal === undefined && !this.spawnError;
  }

  _wake() {
    for (const w of this._waiters) w();
  }

  /** Waits until stdout matches `re`; returns the match. Fails if the process exits first. */
  async waitStdout(re, timeout = slack(10000)) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const m = this.stdout.match(re);
      if (m) return m;
      if (!this.running) throw new Error(`${this.name} exited before printing ${re}: ${this.describeExit()}\n${this.stderrTail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} did not print ${re} within ${timeout} ms\n${this.stderrTail()}`);
      await new Promise((resolve) => {
        const w = () => {
          this._waiters.delete(w);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(w, Math.min(left, 50));
        this._waiters.add(w);
      });
    }
  }

  signalProc(sig) {
    if (sig === 'SIGTERM' || sig === 'SIGINT' || sig === 'SIGKILL') this.stopping = true;
    if (this.running) this.child.kill(sig);
  }

  /** Waits for the exit; returns true when it exited within `timeout` ms. */
  async waitExit(timeout) {
    if (!this.running) return true;
    let timer;
    const t = new Promise((resolve) => (timer = setTimeout(() => resolve(false), timeout)));
    const r = await Promise.race([this.closed.then(() => true), t]);
    clearTimeout(timer);
    return r;
  }

  describeExit() {
    if (this.spawnError) return `could not start: ${this.spawnError.message}`;
    if (this.signal) return `killed by ${this.signal}`;
    return `exit code ${this.code}`;
  }

  stderrTail(n = 6000) {
    const s = this.stderr;
    return `--- ${this.name} stderr (last ${Math.min(n, s.length)} of ${s.length} bytes) ---\n` + s.slice(-n);
  }

  /** Problems with how the process ended (empty when it ended cleanly). */
  problems() {
    const p = [];
    if (this.spawnError) p.push(`could not start: ${this.spawnError.message}`);
    else if (this.signal) p.push(`killed by ${this.signal}`);
    else if (this.code !== 0) p.push(`exit code ${this.code}`);
    if (!this.spawnError && !this.stopping && !this.running) {
      p.push(`exited before the harness stopped it (at ${this.exitedAt}; "draining" in its log means it got SIGTERM/SIGINT from outside the test)`);
    }
    const m = this.stderr.match(SANITIZER_RE);
    if (m) p.push(`sanitizer report in stderr ("${m[0]}")`);
    return p;
  }

  /** Throws when the process did not end cleanly (see problems()). */
  assertClean() {
    const p = this.problems();
    if (p.length) throw new Error(`${this.name} (pid ${this.pid}): ${p.join('; ')}\n${this.stderrTail()}`);
  }

  /** SIGTERM, wait for the exit (SIGKILL after `timeout`), then assertClean(). */
  async stop({ timeout = slack(10000), signal = 'SIGTERM' } = {}) {
    if (this.running) {
      this.stopping = true;
      this.child.kill(signal);
      if (!(await this.waitExit(timeout))) {
        // where every thread is stuck, for the report (gdb is on the machines we run on)
        const bt = spawnSync('gdb', ['-p', String(this.pid), '-batch', '-ex', 'thread apply all bt 12'], { encoding: 'utf8', timeout: 20000 });
        const stacks = bt.status === 0 ? bt.stdout.split('\n').filter((l) => /^Thread|^#/.test(l)).join('\n') : `(no gdb stacks: ${bt.error?.message ?? bt.stderr})`;
        this.child.kill('SIGKILL');
        await this.waitExit(5000);
        throw new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeout} ms of ${signal}; killed\nthreads:\n${stacks}\n${this.stderrTail()}`);
      }
    }
    this.assertClean();
  }
}

// ------------------------------------------------------------------------- the mock

let seq = 0;

export class Mock {
  constructor(proc, port, logFile) {
    this.proc = proc;
    this.port = port;
    this.logFile = logFile;
    this.url = `http://127.0.0.1:${port}`;
    this.baseURL = `${this.url}/v1`;
  }

  /** Every complete JSON line of the mock's --log file. */
  events() {
    let text;
    try {
      text = fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return [];
    }
    const out = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        /* a line being written right now */
      }
    }
    return out;
  }

  requests() {
    return this.events().filter((e) => e.event === 'request');
  }

  /** The `request` event whose upstream x-request-id header is `rid`. */
  requestById(rid) {
    return this.requests().find((e) => e.headers && e.headers['x-request-id'] === rid);
  }

  async waitForRequest(rid, timeout = slack(3000)) {
    return waitFor(() => this.requestById(rid), { timeout, what: `a mock request with x-request-id ${rid}` });
  }

  async waitForEvent(pred, { timeout = slack(3000), what = 'a mock log event' } = {}) {
    return waitFor(() => this.events().find(pred), { timeout, what });
  }

  async stats() {
    const r = await fetch(`${this.url}/_mock/stats`);
    assert.equal(r.status, 200, 'GET /_mock/stats');
    return r.json();
  }

  stop(opts) {
    return this.proc.stop(opts);
  }
}

/** Starts the mock; `args` are extra options (e.g. --blackhole: `mock.blackholePort` is set). */
export async function startMock({ dir, threads = 2, args = [] } = {}) {
  requireBinary(MOCK_BIN, 'switchyard-mockllm');
  const logFile = path.join(dir, `mock-${++seq}.log`);
  const proc = new Proc('mockllm', privateBinary(MOCK_BIN, dir, 'it-mockllm'), ['--listen', '127.0.0.1:0', '--threads', String(threads), '--log', logFile, ...args], { env: childEnv() });
  const m = await proc.waitStdout(/listening 127\.0\.0\.1:(\d+)/);
  const mock = new Mock(proc, Number(m[1]), logFile);
  const bh = proc.stdout.match(/blackhole 127\.0\.0\.1:(\d+)/);
  if (bh) mock.blackholePort = Number(bh[1]);
  return mock;
}

// ---------------------------------------------------------------------- the data plane

export class Dp {
  constructor({ proc, port, configPath, tls, dir, upstreamKey }) {
    this.proc = proc;
    this.port = port;
    this.configPath = configPath;
    this.tls = tls;
    this.dir = dir;
    this.upstreamKey = upstreamKey;
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    this.baseURL = `${this.url}/v1`;
  }

  /** An OpenAI SDK client for this data plane; retries off so every error is seen as it is. */
  client(apiKey, opts = {}) {
    return new OpenAI({ apiKey, baseURL: this.baseURL, maxRetries: 0, timeout: slack(20000), ...opts });
  }

  writeConfig(config) {
    const tmp = `${this.configPath}.tmp`;
    fs.writeFileSync(tmp, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
    fs.renameSync(tmp, this.configPath);
  }

  reload() {
    this.proc.signalProc('SIGHUP');
  }

  stop(opts) {
    return this.proc.stop(opts);
  }
}

/**
 * Starts switchyard-dp with `config` (an object, written to the temp dir). `upstreamKey` is put
 * in the environment as MOCK_KEY. Resolves once /readyz answers 200.
 */
export async function startDp({ dir, config, upstreamKey, env = {}, threads = 2, drainMs = 2000, tls = null, logLevel = 'info', extraArgs = [] }) {
  requireBinary(DP_BIN, 'switchyard-dp');
  const n = ++seq;
  const configPath = path.join(dir, `dp-${n}.json`);
  const portFile = path.join(dir, `dp-${n}.port`);
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  const args = ['--config', configPath, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', String(threads), '--log-level', logLevel, '--drain-ms', String(drainMs)];
  if (tls) args.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  args.push(...extraArgs);
  const proc = new Proc('switchyard-dp', privateBinary(DP_BIN, dir, 'it-dp'), args, { env: { ...childEnv(), MOCK_KEY: upstreamKey ?? '', ...env } });
  let port;
  try {
    port = await waitFor(
      () => {
        if (!proc.running) throw new Error(`switchyard-dp exited during start-up: ${proc.describeExit()}\n${proc.stderrTail()}`);
        let s;
        try {
          s = fs.readFileSync(portFile, 'utf8');
        } catch {
          return null;
        }
        const m = s.match(/^(\d+)\s*\n/);
        return m ? Number(m[1]) : null;
      },
      { timeout: slack(10000), what: 'the data plane port file' },
    );
    const dp = new Dp({ proc, port, configPath, tls, dir, upstreamKey });
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`switchyard-dp exited: ${proc.describeExit()}`);
        const r = await httpRequest(`${dp.url}/readyz`, { ca: tls?.certPem });
        return r.status === 200;
      },
      { timeout: slack(10000), what: 'GET /readyz = 200' },
    );
    return dp;
  } catch (e) {
    if (proc.running) {
      proc.stopping = true;
      proc.child.kill('SIGKILL');
      await proc.waitExit(5000);
    }
    throw new Error(`${e.message}\n${proc.stderrTail()}`);
  }
}

// ----------------------------------------------------------------------- config helpers

/** A random API key and the hex SHA-256 that goes into the config. */
export function makeKey(prefix = 'sk-sy-test') {
  const key = `${prefix}-${crypto.randomBytes(18).toString('hex')}`;
  return { key, sha256: crypto.createHash('sha256').update(key).digest('hex') };
}

/** A loopback TCP port on which nothing listens (connection refused). */
export async function closedPort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export const TIMEOUTS = Object.freeze({ connect: 1000, first_byte: 1500, idle: 1000, total: 20000 });

/**
 * The standard test catalog. Every fault model maps to a mock scenario through its upstream
 * name (`mock+key=value`): the gateway forwards the upstream name as `model`.
 */
export function catalog({ mockPort, deadPort }) {
  const mock = (id, upstream, extra = {}) => ({
    id,
    provider: 'mock',
    upstream,
    input_per_m: '1.00',
    output_per_m: '2.00',
    context_window: 128000,
    capabilities: ['chat', 'tools', 'json'],
    ...extra,
  });
  return {
    timeouts_ms: { ...TIMEOUTS },
    limits: { max_body_bytes: 4194304, max_json_depth: 64, max_attempts: 3 },
    // These suites test the failover walk itself, request after request against the same
    // failing models: breakers that learned from the previous test would change the walk.
    // router.test.mjs tests the breakers with their real settings.
    routing: { breaker: { failures: 100 } },
    providers: [
      { id: 'mock', kind: 'openai', base_url: `http://127.0.0.1:${mockPort}/v1`, api_key_env: 'MOCK_KEY' },
      { id: 'backup', kind: 'openai', base_url: `http://127.0.0.1:${mockPort}/v1/`, api_key_env: 'MOCK_KEY' },
      { id: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key_env: 'MOCK_KEY' },
    ],
    models: [
      mock('m-ok', 'mock', { input_per_m: '1.50', output_per_m: '6.00', capabilities: ['chat', 'tools', 'json', 'vision'], tiers: ['cheap'] }),
      mock('m-ok2', 'mock-2', { context_window: 32000 }),
      mock('m-fallback', 'mock-fallback', { provider: 'backup', input_per_m: '0.10', output_per_m: '0.20' }),
      mock('m-secret', 'mock-secret'),
      mock('m-embed', 'mock-embed-1', { capabilities: ['embeddings'], input_per_m: '0.02', output_per_m: '0' }),
      mock('m-500', 'mock+status=500'),
      mock('m-503', 'mock+status=503'),
      mock('m-429', 'mock+status=429+retry_after=7'),
      mock('m-429b', 'mock-b+status=429+retry_after=3', { provider: 'backup' }),
      mock('m-400', 'mock+status=400'),
      mock('m-401', 'mock+status=401'),
      mock('m-404', 'mock+status=404'),
      mock('m-hang', 'mock+hang=1'),
      mock('m-malformed', 'mock+malformed=1'),
      mock('m-stall', 'mock+stall_after=2+chunks=6'),
      mock('m-reset', 'mock+reset_after=2+chunks=6'),
      mock('m-trunc', 'mock+truncate_after=2+chunks=6'),
      mock('m-nousage', 'mock+no_usage=1'),
      mock('m-ttft', 'mock+ttft_ms=300'),
      mock('m-delay', 'mock+delay_ms=80+chunks=5'),
      mock('m-slow', 'mock+chunks=50+delay_ms=100'),
      mock('m-dead', 'mock', { provider: 'dead' }),
    ],
    workspaces: [
      { id: 'ws_main', active: true },
      { id: 'ws_off', active: false },
    ],
    keys: [],
  };
}

/** The standard keys: main (all models), scoped (m-ok only), revoked, expired, disabled workspace. */
export function standardKeys() {
  const keys = {
    main: makeKey(),
    scoped: makeKey(),
    revoked: makeKey(),
    expired: makeKey(),
    disabled: makeKey(),
    future: makeKey(),
  };
  const entries = [
    { id: 'key_main', sha256: keys.main.sha256, workspace: 'ws_main', allowed_models: ['*'] },
    { id: 'key_scoped', sha256: keys.scoped.sha256, workspace: 'ws_main', allowed_models: ['m-ok'] },
    { id: 'key_revoked', sha256: keys.revoked.sha256, workspace: 'ws_main', revoked: true },
    { id: 'key_expired', sha256: keys.expired.sha256, workspace: 'ws_main', expires_at: 1000000000 },
    { id: 'key_disabled', sha256: keys.disabled.sha256, workspace: 'ws_off' },
    { id: 'key_future', sha256: keys.future.sha256, workspace: 'ws_main', expires_at: Math.floor(Date.now() / 1000) + 86400 },
  ];
  return { keys, entries };
}

/**
 * Registers before/after hooks that start one mock and one data plane for the file and stop
 * them (asserting clean exits) at the end. The returned object is filled in by `before`.
 */
export function useStack({ drainMs = 2000, mutateConfig, dpOpts = {} } = {}) {
  const s = { tmp: null, mock: null, dp: null, keys: null, config: null, upstreamKey: null };
  before(async () => {
    s.tmp = makeTempDir();
    s.mock = await startMock({ dir: s.tmp.dir });
    const deadPort = await closedPort();
    const { keys, entries } = standardKeys();
    s.keys = keys;
    s.config = catalog({ mockPort: s.mock.port, deadPort });
    s.config.keys = entries;
    if (mutateConfig) mutateConfig(s.config, s);
    s.upstreamKey = `sk-upstream-${crypto.randomBytes(12).toString('hex')}`;
    s.dp = await startDp({ dir: s.tmp.dir, config: s.config, upstreamKey: s.upstreamKey, drainMs, ...dpOpts });
    s.client = (key = s.keys.main.key, opts) => s.dp.client(key, opts);
  });
  after(() => stopAll([s.dp, s.mock], s.tmp));
  return s;
}

/**
 * The end of a test file: stops every process in `procs` in order (anything with `stop()`;
 * null entries skipped), each even when an earlier one failed (a sanitizer report, a bad
 * exit), then removes `tmp` — or keeps it for inspection and throws every failure.
 */
export async function stopAll(procs, tmp) {
  const errors = [];
  for (const p of procs) {
    if (!p) continue;
    try {
      await p.stop();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 0) tmp?.cleanup();
  else if (tmp) errors.push(new Error(`kept ${tmp.dir} for inspection`));
  if (errors.length) throw new Error(errors.map((e) => e.message).join('\n\n'));
}

// ------------------------------------------------------------------------------ raw HTTP

/**
 * One HTTP(S) request with node:http, for what fetch cannot send (invalid UTF-8, huge bodies,
 * odd methods). Resolves with { status, headers, body (Buffer), text, json } — also when the
 * server answers before it read the whole body and then closes the connection.
 */
export function httpRequest(url, { method = 'GET', headers = {}, body, ca, timeout = slack(15000), chunked = false, end = true, expectContinue = false } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (fn, v) => {
      if (!settled) {
        settled = true;
        fn(v);
      }
    };
    const hdrs = { connection: 'close' };
    if (body != null && !chunked) hdrs['content-length'] = Buffer.byteLength(body);
    if (expectContinue) hdrs.expect = '100-continue';
    Object.assign(hdrs, headers); // may override content-length (announce more than is sent)
    const req = mod.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: hdrs, ca, agent: false, timeout },
      (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('error', () => finish());
        res.on('aborted', () => finish());
        const finish = () => {
          const buf = Buffer.concat(parts);
          const text = buf.toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          done(resolve, { status: res.statusCode, headers: res.headers, body: buf, text, json });
        };
        res.on('end', finish);
        res.on('close', finish);
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`timeout after ${timeout} ms: ${method} ${url}`));
    });
    req.on('error', (e) => {
      // EPIPE/ECONNRESET while still writing a body the server already refused: give the
      // response a moment to be parsed before reporting the error
      setTimeout(() => done(reject, e), 200);
    });
    const sendBody = () => {
      if (body == null) {
        if (end) req.end();
        else req.flushHeaders();
        return;
      }
      const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
      if (!chunked) {
        if (end) req.end(b);
        else req.write(b);
        return;
      }
      const step = 256 * 1024;
      let off = 0;
      const pump = () => {
        while (off < b.length) {
          const ok = req.write(b.subarray(off, off + step));
          off += step;
          if (!ok) return req.once('drain', pump);
        }
        if (end) req.end();
      };
      pump();
    };
    if (expectContinue) {
      req.on('continue', sendBody);
      req.flushHeaders();
    } else {
      sendBody();
    }
  });
}

/**
 * A bare-bones OpenAI-compatible upstream written in node, which records every request's raw
 * bytes (the mock parses bodies with cJSON, so it cannot show exactly what the gateway sent).
 * Answers chat with a fixed completion.
 */
export async function startCaptureUpstream() {
  const requests = [];
  const srv = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(parts);
      requests.push({ method: req.method, path: req.url, headers: req.headers, raw });
      const body = JSON.stringify({
        id: 'chatcmpl-capture',
        object: 'chat.completion',
        created: 1700000000,
        model: 'capture',
        choices: [{ index: 0, message: { role: 'assistant', content: 'captured' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: srv.address().port,
    requests,
    close: () => new Promise((resolve) => srv.close(resolve)),
  };
}

/** POST JSON (or raw bytes) to the data plane with the given key. */
export function postRaw(dp, p, body, { key, headers = {}, ...opts } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  return httpRequest(dp.url + p, { method: 'POST', headers: h, body: body == null || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), ...opts });
}

/**
 * Asserts an OpenAI-shaped JSON error: status, content-type application/json, and
 * {error:{message,type,code,param}} with exactly those types. Returns the error object.
 */
export function assertOpenAIError(res, { status, code, type, param, requestId = true } = {}, ctx = '') {
  const where = ctx ? ` (${ctx})` : '';
  if (status !== undefined) assert.equal(res.status, status, `status${where}; body: ${res.text?.slice(0, 500)}`);
  const ct = res.headers['content-type'] ?? '';
  assert.match(ct, /^application\/json\b/, `content-type${where}: got "${ct}", body: ${res.text?.slice(0, 300)}`);
  assert.ok(res.json && typeof res.json === 'object', `body is JSON${where}: ${res.text?.slice(0, 300)}`);
  const e = res.json.error;
  assert.ok(e && typeof e === 'object', `body has an "error" object${where}: ${res.text?.slice(0, 300)}`);
  assert.equal(typeof e.message, 'string', `error.message is a string${where}`);
  assert.ok(e.message.length > 0, `error.message is not empty${where}`);
  assert.equal(typeof e.type, 'string', `error.type is a string${where}`);
  assert.ok('code' in e, `error.code present${where}`);
  assert.ok('param' in e, `error.param present${where}`);
  assert.ok(e.code === null || typeof e.code === 'string', `error.code string|null${where}`);
  assert.ok(e.param === null || typeof e.param === 'string', `error.param string|null${where}`);
  if (code !== undefined) assert.equal(e.code, code, `error.code${where}; body: ${res.text}`);
  if (type !== undefined) assert.equal(e.type, type, `error.type${where}; body: ${res.text}`);
  if (param !== undefined) assert.equal(e.param, param, `error.param${where}; body: ${res.text}`);
  if (requestId) assert.ok(res.headers['x-request-id'], `x-request-id on the error response${where}`);
  return e;
}

// ------------------------------------------------------------------------------ SSE

/**
 * Parses an SSE byte stream (a fetch body) into events { data, raw }. A trailing partial event
 * is yielded with `incomplete: true`.
 */
export async function* sseEvents(body) {
  const dec = new TextDecoder();
  let buf = '';
  const parse = (raw) => {
    const data = raw
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    return { raw, data };
  };
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const raw = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
      if (raw.trim()) yield parse(raw);
    }
  }
  if (buf.trim()) yield { ...parse(buf), incomplete: true };
}

/** A unique request id for correlating a client request with the mock's log. */
export function requestId(tag = 't') {
  return `it-${tag}-${crypto.randomBytes(6).toString('hex')}`;
}

/** Reads a Prometheus text exposition into { name{labels}: value }. */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    // label values may hold '}' (route templates such as "/api/keys/{id}"): skip quoted strings
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?)\s+(\S+)/);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Generates a self-signed certificate for 127.0.0.1 with openssl. */
export function makeSelfSignedCert(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  spawnSyncChecked('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert]);
  return { cert, key, certPem: fs.readFileSync(cert, 'utf8') };
}

export function spawnSyncChecked(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

// ------------------------------------------------------------------- the fleet (cp + bus)

export const CP_BIN = path.join(BUILD_DIR, 'controlplane', 'switchyard-cp');

/** Waits for a --port-file to hold a port; fails early if the process exits. */
export async function readPort(file, proc) {
  return waitFor(
    () => {
      if (!proc.running) throw new Error(`${proc.name} exited during start-up: ${proc.describeExit()}\n${proc.stderrTail()}`);
      let s;
      try {
        s = fs.readFileSync(file, 'utf8');
      } catch {
        return null;
      }
      const m = s.match(/^(\d+)\s*\n/);
      return m ? Number(m[1]) : null;
    },
    { timeout: slack(10000), what: `${proc.name} port file` },
  );
}

/** An admin-API error answer: the status, JSON, the OpenAI error shape, optionally code and param. */
export function assertApiError(res, status, { code, param } = {}) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] ?? '', /application\/json/);
  assert.ok(res.json && res.json.error, `no error object: ${res.text}`);
  for (const f of ['message', 'type', 'code', 'param']) assert.ok(f in res.json.error, `error.${f} missing: ${res.text}`);
  if (code) assert.equal(res.json.error.code, code);
  if (param !== undefined) assert.equal(res.json.error.param, param);
}

/** Status of one small chat request with `key` (model m-ok) against a data plane. */
export async function chatStatus(dpUrl, key) {
  const r = await fetch(`${dpUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

/**
 * Starts switchyard-cp on a free port with `catalog` (an object, written to `dir`) and, with
 * `bus`, PUB/REP on free loopback ports. Returns { proc, base, token, db, catalogFile, pubUrl,
 * repUrl, api(path, {method, body, token, headers}) }.
 */
export async function startCp({ dir, catalog, bus = true, busAuth = null, args = [], env = {}, name = 'switchyard-cp' }) {
  requireBinary(CP_BIN, 'switchyard-cp');
  const n = ++seq;
  const token = 'op-' + crypto.randomBytes(16).toString('hex');
  const catalogFile = path.join(dir, `catalog-${n}.json`);
  const db = path.join(dir, `cp-${n}.sqlite`);
  const portFile = path.join(dir, `cp-${n}.port`);
  fs.writeFileSync(catalogFile, typeof catalog === 'string' ? catalog : JSON.stringify(catalog, null, 2));
  const a = ['--db', db, '--catalog', catalogFile, '--listen', '127.0.0.1:0', '--port-file', portFile];
  let pubUrl = null;
  let repUrl = null;
  if (bus) {
    const scheme = busAuth ? 'tls+tcp' : 'tcp';
    pubUrl = `${scheme}://127.0.0.1:${await closedPort()}`;
    repUrl = `${scheme}://127.0.0.1:${await closedPort()}`;
    a.push('--bus-pub', pubUrl, '--bus-rep', repUrl);
    if (busAuth) a.push('--bus-tls-ca', path.join(busAuth, 'ca.pem'), '--bus-tls-cert', path.join(busAuth, 'cp.pem'), '--bus-tls-key', path.join(busAuth, 'cp.key'));
  }
  a.push(...args);
  const cp = { token, db, catalogFile, pubUrl, repUrl, portFile, busAuth, bin: privateBinary(CP_BIN, dir, `it-cp-${n}`), args: a, env: { ...childEnv(), SWITCHYARD_OPERATOR_TOKEN: token, ...env }, name };
  return spawnCp(cp);
}

/** Starts the control plane `cp` (from startCp) again: same database, bus URLs and token. */
export async function restartCp(cp, { name = cp.name } = {}) {
  if (cp.proc.running) throw new Error('restartCp: the previous control plane is still running');
  fs.rmSync(cp.portFile, { force: true });
  return spawnCp({ ...cp, name });
}

async function spawnCp(cp) {
  const proc = new Proc(cp.name, cp.bin, cp.args, { env: cp.env });
  const base = `http://127.0.0.1:${await readPort(cp.portFile, proc)}`;
  const api = (p, { method = 'GET', body, token: tok = cp.token, headers = {} } = {}) => {
    const h = { ...headers };
    if (tok !== null) h.authorization = `Bearer ${tok}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    return httpRequest(base + p, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  };
  return { ...cp, proc, base, api };
}

/**
 * The control plane's snapshot version once it has stopped moving (unchanged over `quietMs`):
 * background writers (live-node counts, balance refreshes after usage) bump it on their own,
 * so a test that asserts "this refused request bumped nothing" starts from a quiet version.
 */
export async function quietVersion(cp, { quietMs = slack(800), timeout = slack(10000) } = {}) {
  const read = async () => (await cp.api('/api/snapshot/version')).json.version;
  const deadline = Date.now() + timeout;
  let v = await read();
  for (;;) {
    await sleep(quietMs);
    const w = await read();
    if (w === v) return v;
    if (Date.now() > deadline) throw new Error(`snapshot version still moving after ${timeout} ms`);
    v = w;
  }
}

/** The ledger balance of workspace `ws` in nano-USD, exact (a BigInt: past 2^53 too). */
export async function balanceNano(cp, ws) {
  const r = await cp.api(`/api/workspaces/${ws}/balance`);
  assert.equal(r.status, 200, r.text);
  return BigInt(r.text.match(/"balance_nano":(-?\d+)/)[1]);
}

/** Every ledger entry of workspace `ws`, all pages, newest first. */
export async function ledgerEntries(cp, ws) {
  const entries = [];
  let before = '';
  for (;;) {
    const page = await cp.api(`/api/workspaces/${ws}/ledger?limit=500${before}`);
    assert.equal(page.status, 200, page.text);
    entries.push(...page.json.data);
    if (!page.json.has_more) return entries;
    before = `&before=${page.json.next_before}`;
  }
}

/**
 * A prepaid workspace `id` credited `creditUsd` (a decimal string; null: no credit), and a key
 * for every model, created after the credit so that a node that knows the key knows the
 * balance. Returns the key.
 */
export async function prepaidWorkspace(cp, id, creditUsd) {
  let r = await cp.api('/api/workspaces', { method: 'POST', body: { id, name: id } });
  assert.equal(r.status, 201, r.text);
  if (creditUsd) {
    r = await cp.api(`/api/workspaces/${id}/credits`, { method: 'POST', body: { amount_usd: creditUsd, reference: `it-${id}` } });
    assert.equal(r.status, 201, r.text);
  }
  r = await cp.api(`/api/workspaces/${id}/keys`, { method: 'POST', body: { name: 'k', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  return r.json.key;
}

/**
 * The end-of-test money check (docs/billing.md), reusable by any test that ends with a ledger:
 *   - the control plane's own invariants (GET /api/ledger/check);
 *   - for every workspace, recomputed here from its ledger pages: credits − debits = balance;
 *   - `okRequests` {workspace: n}: the successful requests the test saw — exactly one usage
 *     record with outcome ok each (usage total minus errors);
 *   - `paidSessions` {workspace: [{id, amount_cents}]}: each paid Checkout Session credited
 *     exactly once, for its amount (ledger ref `stripe:<session id>`).
 */
export async function checkLedger(cp, { okRequests = {}, paidSessions = {} } = {}) {
  let r = await cp.api('/api/ledger/check');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true, problems: [] }, `ledger invariants: ${r.text}`);
  r = await cp.api('/api/workspaces');
  assert.equal(r.status, 200, r.text);
  for (const { id: ws } of r.json.data) {
    const entries = await ledgerEntries(cp, ws);
    const sum = entries.reduce((a, e) => a + BigInt(e.amount_nano), 0n);
    assert.equal(await balanceNano(cp, ws), sum, `${ws}: credits - debits != balance`);
    const refs = new Map();
    for (const e of entries) refs.set(e.ref, (refs.get(e.ref) ?? 0) + 1);
    for (const [ref, n] of refs) assert.equal(n, 1, `${ws}: ledger ref ${ref} applied ${n} times`);
    if (ws in okRequests) {
      const u = await cp.api(`/api/workspaces/${ws}/usage?from=0`);
      assert.equal(u.status, 200, u.text);
      const t = u.json.total ?? { requests: 0, errors: 0 };
      assert.equal(Number(t.requests) - Number(t.errors), okRequests[ws], `${ws}: usage records with outcome ok vs successful requests`);
    }
    for (const { id, amount_cents } of paidSessions[ws] ?? []) {
      const credits = entries.filter((e) => e.ref === `stripe:${id}`);
      assert.equal(credits.length, 1, `${ws}: session ${id} credited ${credits.length} times`);
      assert.equal(BigInt(credits[0].amount_nano), BigInt(amount_cents) * 10000000n, `${ws}: session ${id} amount`);
    }
  }
}

/**
 * Makes a fleet CA and certificates with scripts/fleet-certs.sh in `dir` (ca.pem, cp.pem/.key,
 * NODE.pem/.key for each of `nodes`); returns `dir`, to pass as startCp({ busAuth }).
 */
export function fleetCerts(dir, nodes) {
  spawnSyncChecked(path.join(REPO, 'scripts', 'fleet-certs.sh'), [dir, ...nodes]);
  return dir;
}

/**
 * Starts a bus-mode data plane following `cp` (from startCp); resolves once /readyz is 200.
 * On an authenticated bus, `busNode` names its certificate (and so its node id).
 */
export async function startBusDp({ dir, cp, env = {}, args = [], threads = 2, name = 'switchyard-dp', busNode = null, wrap = [] }) {
  requireBinary(DP_BIN, 'switchyard-dp');
  const n = ++seq;
  const portFile = path.join(dir, `dp-${n}.port`);
  // an authenticated bus (startCp busAuth): the node's credential is busNode's certificate
  const auth = cp.busAuth ? ['--control-plane-tls-ca', path.join(cp.busAuth, 'ca.pem'), '--control-plane-tls-cert', path.join(cp.busAuth, `${busNode}.pem`), '--control-plane-tls-key', path.join(cp.busAuth, `${busNode}.key`)] : [];
  const dpArgs = ['--control-plane-sub', cp.pubUrl, '--control-plane-req', cp.repUrl, ...auth, '--listen', '127.0.0.1:0', '--port-file', portFile, '--threads', String(threads), '--drain-ms', '2000', ...args];
  // `wrap`: a command that execs the node (e.g. ['prlimit', '--nofile=256:256', '--']); the pid stays the node's
  const bin = privateBinary(DP_BIN, dir, `it-dp-${n}`);
  const proc = wrap.length ? new Proc(name, wrap[0], [...wrap.slice(1), bin, ...dpArgs], { env: { ...childEnv(), ...env } }) : new Proc(name, bin, dpArgs, { env: { ...childEnv(), ...env } });
  const port = await readPort(portFile, proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await httpRequest(`${url}/readyz`)).status === 200, { timeout: slack(10000), what: `${name} /readyz = 200` });
  return { proc, url, port };
}

// ------------------------------------------------------------------ process resources (/proc)

/** VmRSS of `pid` in KiB. */
export function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

/** Open descriptors of `pid`. */
export function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** CPU time (user + system) `pid` has used, in seconds. */
export function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}

/**
 * The descriptors of `pid`, sorted by what they are: `{ total, other, sockets: { [class]: n } }`.
 * `other` counts everything that is not a TCP socket (files, pipes, epoll, eventfd, unix
 * sockets); a TCP socket is classed by `classify({ localPort, remotePort, state })` (a name, or
 * null for 'tcp'), from /proc/net/tcp{,6}.
 */
export function fdCensus(pid, classify) {
  const tcp = new Map(); // inode -> { localPort, remotePort, state }
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      tcp.set(c[9], { localPort: parseInt(c[1].split(':')[1], 16), remotePort: parseInt(c[2].split(':')[1], 16), state: parseInt(c[3], 16) });
    }
  }
  const out = { total: 0, other: 0, sockets: {} };
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link;
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    out.total++;
    const m = link.match(/^socket:\[(\d+)\]$/);
    const t = m && tcp.get(m[1]);
    if (!t) {
      out.other++;
      continue;
    }
    const k = classify(t) ?? 'tcp';
    out.sockets[k] = (out.sockets[k] ?? 0) + 1;
  }
  return out;
}
