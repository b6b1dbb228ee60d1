// Just enough protobuf wire format (proto/*.proto) for tests and benches to write a bus message
// by hand — as a node or an older build would send it — and to read the top-level fields of an
// answer without the generated code. Varints are BigInt-safe up to 64 bits.

export function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

// a length-delimited field (string, bytes or an embedded message)
export const fStr = (no, s) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([varint((no << 3) | 2), varint(b.length), b]);
};

// a varint field
export const fInt = (no, v) => Buffer.concat([varint(no << 3), varint(v)]);

// Calls visit(fieldNo, value) for each top-level field of buf, in order: a BigInt for a varint,
// a Buffer (a view into buf) for a length-delimited field. Other wire types throw.
export function eachField(buf, visit) {
  let i = 0;
  const rv = () => {
    let v = 0n, s = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << s;
      s += 7n;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < buf.length) {
    const tag = Number(rv());
    const no = tag >> 3, wt = tag & 7;
    if (wt === 0) visit(no, rv());
    else if (wt === 2) {
      const len = Number(rv());
      if (i + len > buf.length) throw new Error('truncated field');
      visit(no, buf.subarray(i, i + len));
      i += len;
    } else throw new Error(`wire type ${wt}`);
  }
}

// the top-level varint fields of buf, by field number (the last one of a number wins)
export function varints(buf) {
  const out = {};
  eachField(buf, (no, v) => {
    if (typeof v === 'bigint') out[no] = Number(v);
  });
  return out;
}

// A BusRequest carrying a UsageBatch of one record (proto/bus.proto: BusRequest.usage = 3),
// from node `node`, batch id = record id = `id`.
export function usageBatchRequest({ id, workspace, keyId, costNano, node = 'pb-node', model = 'm-ok', provider = 'mock' }) {
  const rec = Buffer.concat([
    fStr(1, id), fStr(2, workspace), fStr(3, keyId), fStr(4, model), fStr(5, provider),
    fInt(6, 1), fInt(7, 1), fInt(8, costNano), fInt(9, 1), fStr(11, 'ok'), fStr(14, node), fInt(15, Date.now()),
  ]);
  return fStr(3, Buffer.concat([fStr(1, node), fStr(2, id), fStr(3, rec)]));
}

// A UsageAck's applied (2) and error (4).
export function parseUsageAck(buf) {
  const ack = { applied: 0, error: '' };
  eachField(buf, (no, v) => {
    if (no === 2 && typeof v === 'bigint') ack.applied = Number(v);
    if (no === 4 && Buffer.isBuffer(v)) ack.error = v.toString();
  });
  return ack;
}
