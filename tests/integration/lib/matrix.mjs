// Shared pieces of the fault-matrix files (matrix_upstream.test.mjs, matrix_client.test.mjs):
// the real stack — a control plane on a SQLite file, a bus-mode data plane with a spool, the
// mock — one prepaid workspace per row, and the per-record billing reads (the request log,
// GET /api/workspaces/{id}/usage/records).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { httpRequest, parseMetrics, prepaidWorkspace, ledgerEntries, slack, waitFor } from './harness.mjs';

/** One catalog model at `input_per_m`/`output_per_m` USD per million tokens. */
export function model(id, upstream, extra = {}) {
  return { id, provider: 'mock', upstream, input_per_m: '1.00', output_per_m: '2.00', context_window: 128000, capabilities: ['chat'], ...extra };
}

/** A provider entry for the mock (or anything OpenAI-compatible) with the probes off. */
export function provider(id, baseUrl, extra = {}) {
  return { id, kind: 'openai', base_url: baseUrl, api_key_env: 'MOCK_KEY', probe: { interval_ms: 0 }, ...extra };
}

/** Nano-USD per token for a decimal USD-per-million price with at most 3 decimals. */
const perToken = (usdPerM) => {
  const [w, f = ''] = String(usdPerM).split('.');
  return BigInt(w) * 1000n + BigInt((f + '000').slice(0, 3));
};

/** The cost sy_money_usage_cost gives for these counts (no cache prices), as a BigInt. */
export function costNano(tokensIn, tokensOut, inputPerM, outputPerM) {
  return BigInt(tokensIn) * perToken(inputPerM) + BigInt(tokensOut) * perToken(outputPerM);
}

export async function dpMetrics(url) {
  const r = await httpRequest(`${url}/metrics`);
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

/** Every usage record of `ws`, oldest first (the request log pages newest first). */
export async function usageRecords(cp, ws) {
  const out = [];
  let before = '';
  for (;;) {
    const r = await cp.api(`/api/workspaces/${ws}/usage/records?limit=500${before}`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.data);
    if (!r.json.has_more) return out.reverse();
    before = `&before=${r.json.next_before}`;
  }
}

/**
 * Waits until `ws` has `n` usage records and every node in `dpUrls` has nothing left to send
 * (all it minted is acknowledged), then reads them once more (so "exactly n" holds: nothing
 * was still on its way). Returns them oldest first.
 */
export async function settledRecords(cp, dpUrls, ws, n, { timeout = slack(15000) } = {}) {
  await waitFor(async () => (await usageRecords(cp, ws)).length >= n, { timeout, what: `${n} usage records in ${ws}` });
  for (const url of dpUrls) {
    await waitFor(
      async () => {
        const m = await dpMetrics(url);
        const minted = m.get('switchyard_usage_records_total{stage="minted"}');
        const acked = m.get('switchyard_usage_records_total{stage="acked"}');
        return m.get('switchyard_usage_records_pending') === 0 && minted === acked;
      },
      { timeout, what: `everything minted on ${url} acknowledged` },
    );
  }
  const recs = await usageRecords(cp, ws);
  assert.equal(recs.length, n, `${ws}: exactly ${n} usage records: ${JSON.stringify(recs, null, 1)}`);
  return recs;
}

/** The ledger entries of `ws` other than its opening grant, oldest first. */
export async function debits(cp, ws) {
  return (await ledgerEntries(cp, ws)).filter((e) => e.kind !== 'grant').reverse();
}

/**
 * The billing of a set of records: one debit per workspace per usage batch (docs/billing.md) —
 * each named `usage:<id>` after one of these records, their notes counting exactly these records
 * and their amounts summing to -(the records' cost) — no other debits, the control plane's
 * ledger check clean (it proves each record is charged by exactly one debit, in its run's sum),
 * and the balance is the credit minus the sum. Returns the sum (BigInt).
 */
export async function assertBilled(cp, ws, recs, creditUsd) {
  const led = await debits(cp, ws);
  const ids = new Set(recs.map((r) => r.id));
  let counted = 0;
  let debited = 0n;
  for (const e of led) {
    assert.equal(e.kind, 'debit', `${ws}: only usage debits: ${JSON.stringify(e)}`);
    assert.ok(e.ref.startsWith('usage:') && ids.has(e.ref.slice(6)), `${ws}: debit ${e.ref} names one of the records`);
    counted += Number(/^(\d+) requests? /.exec(e.note)[1]);
    debited += BigInt(e.amount_nano);
  }
  assert.equal(counted, recs.length, `${ws}: the debits charge exactly the ${recs.length} records: ${JSON.stringify(led)}`);
  const sum = recs.reduce((a, r) => a + BigInt(r.cost_nano), 0n);
  assert.equal(debited, -sum, `${ws}: debits = -(the records' cost)`);
  const check = await cp.api('/api/ledger/check');
  assert.deepEqual(check.json, { ok: true, problems: [] }, `ledger invariants: ${check.text}`);
  const bal = await cp.api(`/api/workspaces/${ws}/balance`);
  assert.equal(BigInt(bal.text.match(/"balance_nano":(-?\d+)/)[1]), usdNano(creditUsd) - sum, `${ws}: balance = credit - debits`);
  return sum;
}

/** "12.5" -> 12500000000n */
export function usdNano(usd) {
  const [w, f = ''] = String(usd).split('.');
  return BigInt(w) * 1000000000n + BigInt((f + '000000000').slice(0, 9));
}

/**
 * A prepaid workspace with `creditUsd` and a key for every model, usable on the node at `dpUrl`
 * (the key reached it through the bus; the credit came before the key, so the snapshot that
 * carries the key carries the balance too). Returns the key.
 */
export async function workspaceOnNode(cp, dpUrl, ws, creditUsd) {
  const key = await prepaidWorkspace(cp, ws, creditUsd);
  await waitFor(async () => (await httpRequest(`${dpUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status === 200, {
    timeout: slack(5000),
    what: `the key of ${ws} on the node`,
  });
  return key;
}

/** The data plane's VmRSS and VmHWM (peak) in KiB. */
export function memoryKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(s.match(/^VmRSS:\s+(\d+)/m)[1]), hwm: Number(s.match(/^VmHWM:\s+(\d+)/m)[1]) };
}

/** The access-log line of request `rid` in a data plane's stderr. */
export function accessLine(proc, rid) {
  return waitFor(() => proc.stderr.split('\n').find((l) => l.includes('msg=access') && l.includes(`id=${rid} `)), { what: `the access line of ${rid}` });
}

