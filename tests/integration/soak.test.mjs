// Fault matrix H4, the CI version: the soak driver (lib/soak.mjs) for 60 s — mixed traffic
// (OpenAI and Anthropic dialects, plain and streamed, embeddings, failover, the mock's error,
// hang, stall, reset, truncation and malformed scenarios, client errors, clients leaving
// mid-stream and before the first byte) through a control plane, a bus-mode data plane and the
// mock, with the control plane frozen for 1.5 s every 20 s. Asserted (runSoak's `problems`):
// every outcome is the expected one; billing is exact (checkLedger with every client-visible
// success, the node's cost counter equal to the ledger's usage cost, no reservation left open);
// RSS of the data plane and the control plane does not grow after the warm-up (median of the
// last quarter vs the first, bounds 8 / 16 MiB); descriptors are flat; both stop cleanly — under
// ASan, LeakSanitizer checks them at exit. tests/bench/soak.sh runs the same for 10 minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak, summary } from './lib/soak.mjs';

test('soak: 60 s of mixed traffic and faults: no leaks, flat RSS, exact billing', async () => {
  const r = await runSoak({ durationS: 60, sampleS: 2, warmupS: 15, freezeEveryS: 20, log: null });
  console.log(summary(r));
  assert.deepEqual(r.problems, []);
  assert.ok(r.okTotal > 500, `enough traffic: ${r.okTotal} successes`);
  assert.ok(r.freezes >= 2, 'the control plane was frozen under traffic');
});
