// A minimal nng REQ0 client over TCP (the SP wire protocol), no dependencies, for tests and
// benchmarks that talk to switchyard-cp's REP socket directly:
//   8-byte handshake: 00 'S' 'P' 00, protocol id BE16 (0x0030 = REQ0; the peer answers 0x0031
//   REP0), 2 reserved bytes; then messages framed by a BE64 length. A REQ message is a BE32
//   request id (high bit set) + body; the reply carries the same id + body.
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { fStr, fInt } from './pb.mjs';

/**
 * Sends one request `body` (a Buffer) to `url` (tcp://host:port or tls+tcp://host:port);
 * resolves { ms, body }. With `tlsOpts` ({ ca, cert, key } as PEM strings or Buffers) the
 * connection is TLS (the authenticated bus: the server is checked as "switchyard-cp");
 * without it a tls+tcp:// URL is dialled in plain TCP (a foreign client).
 */
export async function spRequest(url, body = Buffer.alloc(0), { timeoutMs = 30000, tlsOpts = null } = {}) {
  const [, host, port] = url.match(/^(?:tls\+)?tcp:\/\/([\d.]+):(\d+)$/);
  const sock = tlsOpts ? tls.connect({ port: Number(port), host, servername: 'switchyard-cp', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ...tlsOpts }) : net.connect(Number(port), host);
  sock.setNoDelay(true);
  const timer = setTimeout(() => sock.destroy(new Error('bus connect timed out')), timeoutMs);
  try {
    await new Promise((res, rej) => {
      sock.once(tlsOpts ? 'secureConnect' : 'connect', res);
      sock.once('error', rej);
      sock.once('close', () => rej(new Error('bus connection closed')));
    });
  } finally {
    clearTimeout(timer);
  }
  const chunks = [];
  let have = 0;
  let wake = null;
  let failed = null;
  sock.on('data', (d) => {
    chunks.push(d);
    have += d.length;
    if (wake) wake();
  });
  sock.on('error', (e) => {
    failed = e;
    if (wake) wake();
  });
  sock.on('close', () => {
    failed = failed || new Error('bus connection closed');
    if (wake) wake();
  });
  const take = async (n) => {
    const deadline = performance.now() + timeoutMs;
    while (have < n) {
      if (failed) throw failed;
      if (performance.now() > deadline) throw new Error('bus read timed out');
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 1000);
      });
      wake = null;
    }
    const all = Buffer.concat(chunks);
    chunks.length = 0;
    if (all.length > n) chunks.push(all.subarray(n));
    have = all.length - n;
    return all.subarray(0, n);
  };
  try {
    sock.write(Buffer.from([0, 0x53, 0x50, 0, 0x00, 0x30, 0, 0]));
    const hs = await take(8);
    if (hs[1] !== 0x53 || hs[2] !== 0x50 || hs.readUInt16BE(4) !== 0x31) throw new Error(`bus handshake: peer is not REP0 (${hs.toString('hex')})`);
    const id = (0x80000000 | crypto.randomInt(0x7fffffff)) >>> 0;
    const frame = Buffer.alloc(12);
    frame.writeBigUInt64BE(BigInt(4 + body.length), 0);
    frame.writeUInt32BE(id, 8);
    const t0 = performance.now();
    sock.write(Buffer.concat([frame, body]));
    const len = Number((await take(8)).readBigUInt64BE(0));
    const reply = await take(len);
    const ms = performance.now() - t0;
    if (reply.readUInt32BE(0) !== id) throw new Error('bus reply with another request id');
    return { ms, body: reply.subarray(4) };
  } finally {
    sock.destroy();
  }
}

/** A packed switchyard.BusRequest{fetch{have_version}} (proto/bus.proto), by hand. */
export function fetchRequest(haveVersion) {
  return fStr(1, fInt(1, haveVersion)); // BusRequest.fetch = 1 { FetchSnapshot.have_version = 1 }
}
