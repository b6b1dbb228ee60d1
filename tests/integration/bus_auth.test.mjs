// The authenticated bus (docs/controlplane.md, "Bus authentication"): mutual TLS on nng's
// tls+tcp:// with a fleet CA, plus heartbeats and usage batches signed by the node's
// certificate key and bound to its CN. A legitimate node gets snapshots, heartbeats and its
// usage is debited; a plain-TCP client, a client with a certificate from another CA, unsigned
// requests and a fleet member posting under another node's id are all refused with nothing
// written (balance, ledger, /api/nodes unchanged; the control plane logs each refusal); junk
// bytes on the TLS ports, inside or outside a TLS session, are dropped and the control plane
// keeps serving the fleet (matrix row C8).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import protobuf from 'protobufjs';
import { makeTempDir, startCp, startBusDp, startMock, fleetCerts, waitFor, slack, sleep, balanceNano, ledgerEntries, checkLedger, REPO, Proc, DP_BIN } from './lib/harness.mjs';
import { spRequest, fetchRequest } from './lib/sp.mjs';

const root = new protobuf.Root().loadSync(path.join(REPO, 'proto', 'bus.proto'), { keepCase: true });
const BusRequest = root.lookupType('switchyard.BusRequest');
const UsageAck = root.lookupType('switchyard.UsageAck');
const UPSTREAM_KEY = 'mock-' + crypto.randomBytes(8).toString('hex');
const CONTEXT = Buffer.from('switchyard-bus-v1\n');

let tmp, mock, cp, dp, certs, foreign, key;

const pem = (dir, name) => fs.readFileSync(path.join(dir, name));
/** TLS options for a raw client holding `node`'s credential from `dir` (a fleet's cert dir). */
const creds = (dir, node, caDir = certs) => ({ ca: pem(caDir, 'ca.pem'), cert: pem(dir, `${node}.pem`), key: pem(dir, `${node}.key`) });

/** A packed BusRequest{signed_request} wrapping `inner` (an object for BusRequest), signed by `signer`'s key. */
function signed(inner, signerDir, signer, { ts = Date.now() } = {}) {
  const request = Buffer.from(BusRequest.encode(BusRequest.fromObject(inner)).finish());
  const tsb = Buffer.alloc(8);
  tsb.writeBigInt64BE(BigInt(ts));
  const sig = crypto.sign('sha256', Buffer.concat([CONTEXT, tsb, request]), pem(signerDir, `${signer}.key`));
  const cert = new crypto.X509Certificate(pem(signerDir, `${signer}.pem`)).raw;
  return Buffer.from(BusRequest.encode(BusRequest.fromObject({ signed_request: { request, cert, ts_ms: ts, sig } })).finish());
}
const plain = (inner) => Buffer.from(BusRequest.encode(BusRequest.fromObject(inner)).finish());

async function ack(buf, tlsOpts) {
  const { body } = await spRequest(cp.repUrl, buf, { tlsOpts, timeoutMs: slack(5000) });
  return UsageAck.toObject(UsageAck.decode(body), { defaults: true });
}

function usageBatch(node, n = 1, recNode = node) {
  return {
    usage: {
      node_id: node,
      batch_id: 'b-' + crypto.randomBytes(4).toString('hex'),
      records: Array.from({ length: n }, () => ({
        id: `req_${crypto.randomBytes(8).toString('hex')}`,
        workspace: 'ws_a',
        key_id: 'key_x',
        model: 'm-ok',
        provider: 'mock',
        tokens_in: 10,
        tokens_out: 5,
        cost_nano: 7000,
        latency_ms: 10,
        outcome: 'ok',
        node: recNode,
        created_ms: Date.now(),
      })),
    },
  };
}

const heartbeat = (node) => ({ heartbeat: { node_id: node, build: 'raw', snapshot_version: 1 } });
const logOf = (x) => x.proc.stderr + x.proc.stdout;
const nodes = async () => (await cp.api('/api/nodes')).json.nodes.map((n) => n.id).sort();

before(async () => {
  tmp = makeTempDir('sy-bus-auth-');
  certs = fleetCerts(path.join(tmp.dir, 'fleet'), ['dp-a', 'dp-b']);
  foreign = fleetCerts(path.join(tmp.dir, 'foreign'), ['dp-a', 'dp-evil']); // same names, another CA
  mock = await startMock({ dir: tmp.dir });
  const m = { id: 'm-ok', provider: 'mock', upstream: 'mock', input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'] };
  cp = await startCp({
    dir: tmp.dir,
    busAuth: certs,
    catalog: {
      timeouts_ms: { connect: 1000, first_byte: 3000, idle: 3000, total: 30000 },
      providers: [{ id: 'mock', kind: 'openai', base_url: mock.baseURL, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 } }],
      models: [m],
      workspaces: [{ id: 'ws_a', active: true }],
      keys: [],
    },
  });
  const c = await cp.api('/api/workspaces/ws_a/credits', { method: 'POST', body: { amount_usd: '10', reference: 'it-ws_a' } });
  assert.equal(c.status, 201, c.text);
  const r = await cp.api('/api/workspaces/ws_a/keys', { method: 'POST', body: { name: 'k', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  key = r.json.key;
});

after(async () => {
  const errors = [];
  for (const p of [dp?.proc, cp?.proc, mock?.proc].filter(Boolean)) await p.stop().catch((e) => errors.push(e));
  if (errors.length) {
    console.log(`kept ${tmp.dir} for inspection`);
    throw new Error(errors.map((e) => e.message).join('\n\n'));
  }
  tmp.cleanup();
});

test('a plain control plane warns that the bus is not authenticated; this one does not', async () => {
  assert.match(cp.repUrl, /^tls\+tcp:/);
  await waitFor(() => /msg="bus listening".*auth=mtls\+signed/.test(logOf(cp)), { what: 'bus listening line' });
  assert.doesNotMatch(logOf(cp), /bus is not authenticated/);
});

test('a legitimate node gets the snapshot, heartbeats under its CN, and its usage is debited', async () => {
  dp = await startBusDp({ dir: tmp.dir, cp, busNode: 'dp-a', env: { MOCK_KEY: UPSTREAM_KEY } });
  assert.match(logOf(dp), /following the control plane.*node=dp-a auth=mtls\+signed/);
  await waitFor(async () => (await nodes()).includes('dp-a'), { what: 'dp-a in /api/nodes' });
  await waitFor(async () => (await fetch(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, { timeout: slack(5000), what: 'the key on the node' });
  const before = await balanceNano(cp, 'ws_a');
  const res = await fetch(`${dp.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'hello there' }] }),
  });
  assert.equal(res.status, 200, await res.text());
  await waitFor(async () => (await balanceNano(cp, 'ws_a')) < before, { timeout: slack(15000), what: 'the usage debited' });
  await waitFor(() => /msg="usage batch" node=dp-a .*applied=1/.test(logOf(cp)), { what: 'usage batch line' });
  // a raw fleet member with its own credential may fetch (membership is the TLS session)
  const { body } = await spRequest(cp.repUrl, fetchRequest(0), { tlsOpts: creds(certs, 'dp-b'), timeoutMs: slack(5000) });
  assert.ok(body.length > 100, `snapshot bytes: ${body.length}`);
  // and its own signed usage is applied
  const a = await ack(signed(usageBatch('dp-b'), certs, 'dp-b'), creds(certs, 'dp-b'));
  assert.equal(a.error, '');
  assert.equal(a.applied, 1);
});

test('foreign clients and impersonation are refused, and nothing is written', async () => {
  await sleep(slack(300));
  const bal0 = await balanceNano(cp, 'ws_a');
  const led0 = (await ledgerEntries(cp, 'ws_a')).length;
  const nodes0 = await nodes();
  const refusedLines = () => (logOf(cp).match(/msg="bus request refused"/g) || []).length;
  const r0 = refusedLines();

  // 1. no credential: the test's own raw nng client over plain TCP to the TLS port
  await assert.rejects(spRequest(cp.repUrl, plain(usageBatch('dp-x')), { timeoutMs: slack(2000) }));
  await assert.rejects(spRequest(cp.repUrl, fetchRequest(0), { timeoutMs: slack(2000) }));
  // 2. TLS with a certificate from another CA (same node name, too): the handshake fails
  await assert.rejects(spRequest(cp.repUrl, fetchRequest(0), { tlsOpts: creds(foreign, 'dp-a'), timeoutMs: slack(3000) }));
  await assert.rejects(spRequest(cp.repUrl, signed(usageBatch('dp-evil'), foreign, 'dp-evil'), { tlsOpts: creds(foreign, 'dp-evil'), timeoutMs: slack(3000) }));

  // 3. a legitimate member (dp-b) posting as another node
  const b = creds(certs, 'dp-b');
  let a = await ack(signed(usageBatch('dp-a', 3), certs, 'dp-b'), b);
  assert.match(a.error, /node id differs from its certificate/);
  assert.equal(a.retry, false);
  a = await ack(signed(usageBatch('dp-b', 1, 'dp-a'), certs, 'dp-b'), b); // records attributed to another node
  assert.match(a.error, /record's node differs/);
  a = await ack(plain(usageBatch('dp-b')), b); // unsigned, even under its own id
  assert.match(a.error, /not signed/);
  a = await ack(signed(usageBatch('dp-evil'), foreign, 'dp-evil'), b); // signed by a foreign CA's cert
  assert.match(a.error, /not from the fleet CA/);
  a = await ack(signed(usageBatch('dp-b'), certs, 'dp-b', { ts: Date.now() - 3600_000 }), b); // an old signature
  assert.match(a.error, /outside the .* window/);
  assert.equal(a.retry, true);
  // a tampered body: signed by dp-b, then the batch swapped
  const good = BusRequest.decode(signed(usageBatch('dp-b'), certs, 'dp-b'));
  good.signed_request.request = Buffer.from(BusRequest.encode(BusRequest.fromObject(usageBatch('dp-b', 5))).finish());
  a = await ack(Buffer.from(BusRequest.encode(good).finish()), b);
  assert.match(a.error, /bad signature/);
  for (const hb of [signed(heartbeat('dp-phantom'), certs, 'dp-b'), plain(heartbeat('dp-phantom2')), signed(heartbeat('dp-a'), certs, 'dp-b')]) {
    const { body } = await spRequest(cp.repUrl, hb, { tlsOpts: b, timeoutMs: slack(5000) });
    assert.equal(body.toString(), 'error');
  }

  await sleep(slack(1500));
  assert.equal(await balanceNano(cp, 'ws_a'), bal0, 'balance unchanged');
  assert.equal((await ledgerEntries(cp, 'ws_a')).length, led0, 'ledger unchanged');
  const after = await nodes();
  assert.deepEqual(after.filter((n) => !nodes0.includes(n)), [], `no phantom node: ${after}`);
  assert.ok(!after.some((n) => /phantom|evil|dp-x/.test(n)), `${after}`);
  assert.equal(refusedLines() - r0, 9, logOf(cp).split('\n').filter((l) => l.includes('bus request refused')).join('\n'));
  assert.match(logOf(cp), /msg="bus request refused" reason="node id differs from its certificate" kind=usage node=dp-a cert_cn=dp-b/);
  assert.match(logOf(cp), /msg="bus request refused" reason="node id differs from its certificate" kind=heartbeat node=dp-phantom cert_cn=dp-b/);
  const m = await fetch(`${cp.base}/metrics`);
  assert.match(await m.text(), /switchyard_cp_bus_refused_total 9\b/);
  await checkLedger(cp);
});

/** Sends `bytes` over plain TCP (or TLS with `tlsOpts`) to a bus port; resolves { closed, data, secure } once the peer closes or after `waitMs`. */
function rawBus(url, bytes, { tlsOpts = null, waitMs = slack(3000) } = {}) {
  const [, host, port] = url.match(/^(?:tls\+)?tcp:\/\/([\d.]+):(\d+)$/);
  return new Promise((resolve) => {
    const s = tlsOpts ? tls.connect({ host, port: Number(port), servername: 'switchyard-cp', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ...tlsOpts }) : net.connect(Number(port), host);
    const parts = [];
    let secure = false;
    let closed = false;
    const done = () => resolve({ closed, secure, data: Buffer.concat(parts) });
    const t = setTimeout(() => {
      s.destroy();
      done();
    }, waitMs);
    s.on(tlsOpts ? 'secureConnect' : 'connect', () => {
      secure = !!tlsOpts;
      s.write(bytes);
    });
    s.on('data', (d) => parts.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      clearTimeout(t);
      done();
    });
  });
}

test('C8: junk on the TLS bus ports — raw bytes, HTTP, plain SP handshakes, junk inside a fleet TLS session — is dropped; nothing is written and the control plane keeps serving the fleet', async () => {
  await sleep(slack(300));
  const bal0 = await balanceNano(cp, 'ws_a');
  const led0 = (await ledgerEntries(cp, 'ws_a')).length;
  const nodes0 = await nodes();
  const refused0 = (logOf(cp).match(/msg="bus request refused"/g) || []).length;
  const junk = [crypto.randomBytes(512), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from([0, 0x53, 0x50, 0, 0x00, 0x30, 0, 0]), Buffer.from([0, 0x53, 0x50, 0, 0x00, 0x21, 0, 0])];
  for (const url of [cp.repUrl, cp.pubUrl]) {
    for (const bytes of junk) {
      const r = await rawBus(url, bytes);
      assert.ok(r.closed, `${url}: a plain connection sending ${bytes.subarray(0, 8).toString('hex')} is closed`);
      assert.ok(!r.data.includes(Buffer.from([0, 0x53, 0x50, 0])), `${url}: no SP handshake answered over plain TCP (${r.data.toString('hex')})`);
    }
    // a fleet member's TLS session carrying bytes that are not the SP protocol: dropped too
    const r = await rawBus(url, crypto.randomBytes(256), { tlsOpts: creds(certs, 'dp-b') });
    assert.ok(r.secure, `${url}: the handshake itself succeeds with a fleet certificate`);
    assert.ok(r.closed, `${url}: junk inside the TLS session is dropped`);
    // a foreign CA's certificate never completes the handshake
    const f = await rawBus(url, crypto.randomBytes(64), { tlsOpts: creds(foreign, 'dp-a') });
    assert.ok(!f.secure && f.closed, `${url}: a foreign certificate is refused at the handshake`);
  }
  await sleep(slack(500));
  assert.equal(await balanceNano(cp, 'ws_a'), bal0, 'balance unchanged');
  assert.equal((await ledgerEntries(cp, 'ws_a')).length, led0, 'ledger unchanged');
  assert.deepEqual(await nodes(), nodes0, 'no node registered');
  assert.equal((logOf(cp).match(/msg="bus request refused"/g) || []).length, refused0, 'junk is not a bus request: nothing to refuse or record');
  // the fleet is still served: a key created now reaches dp-a, which serves and bills it
  const r = await cp.api('/api/workspaces/ws_a/keys', { method: 'POST', body: { name: 'after junk', allowed_models: ['*'] } });
  assert.equal(r.status, 201, r.text);
  await waitFor(async () => (await fetch(`${dp.url}/v1/models`, { headers: { authorization: `Bearer ${r.json.key}` } })).status === 200, { timeout: slack(5000), what: 'a key created after the junk, on the node' });
  const res = await fetch(`${dp.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${r.json.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm-ok', messages: [{ role: 'user', content: 'after junk' }] }) });
  assert.equal(res.status, 200, await res.text());
  await waitFor(async () => (await balanceNano(cp, 'ws_a')) < bal0, { timeout: slack(15000), what: 'the call debited' });
  await checkLedger(cp);
});

test('a node refuses to start with a --node-id that is not its certificate CN', async () => {
  const p = new Proc('dp-mismatch', DP_BIN, ['--control-plane-sub', cp.pubUrl, '--control-plane-req', cp.repUrl, '--control-plane-tls-ca', path.join(certs, 'ca.pem'), '--control-plane-tls-cert', path.join(certs, 'dp-b.pem'), '--control-plane-tls-key', path.join(certs, 'dp-b.key'), '--node-id', 'dp-a', '--listen', '127.0.0.1:0']);
  assert.ok(await p.waitExit(slack(5000)), 'exited');
  assert.equal(p.code, 2);
  assert.match(p.stderr, /--node-id dp-a is not the certificate's CN \(dp-b\)/);
});
