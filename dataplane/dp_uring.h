/*
 * dp_uring — the usage ring: a per-loop-thread file under the spool directory, mapped
 * MAP_SHARED, where a loop thread puts the usage record of a successful answer right before the
 * answer's last bytes go to the kernel (docs/billing.md, "kill -9 and power loss"). What a
 * process writes into a shared file mapping is in the page cache the moment the store retires,
 * so a kill -9 after that cannot lose it; no syscall, no fsync, no lock, no allocation.
 *
 * File format (DIR/ring-<2 hex thread>.usr, little-endian host order — the file never leaves
 * the machine that wrote it):
 *   header (DP_URING_HDR bytes): magic "SYURNG01", u32 slot size (DP_URING_SLOT), u32 slots,
 *     zeros;
 *   slots (DP_URING_SLOT bytes each): u32 state, u32 len, u32 CRC-32C(payload[0..len)), u32 the
 *     consumer's "read" mark (1 once it took the record; recovery ignores it), payload (a packed
 * Switchyard__UsageRecord, 1..DP_URING_PAYLOAD_MAX bytes). state: 0 free (never written, or consumed: its
 * record is in the spool), DP_URING_COMMITTED (a record not yet consumed). The producer writes payload, len
 * and CRC, then the state with a release store; the consumer reads the state with an acquire load. A slot
 * torn by a kill in the middle of a put is not committed; one torn by a machine crash (pages written back in
 *   part) fails its CRC.
 *
 * Threading: one producer (the loop thread the ring belongs to: dp_uring_reserve/commit) and one
 * consumer (the spooler thread: dp_uring_peek/advance/release) per ring, no lock: each slot's
 * state word is the hand-off. dp_uring_open/close while neither runs. dp_uring_scan is pure (the
 * recovery parser, fed whatever is on disk; also the fuzz target's entry point).
 */
#ifndef DP_URING_H
#define DP_URING_H

#include <stddef.h>
#include <stdint.h>

#define DP_URING_MAGIC "SYURNG01"
#define DP_URING_HDR 64u
#define DP_URING_SLOT 1536u
#define DP_URING_SLOT_HDR 16u
#define DP_URING_PAYLOAD_MAX (DP_URING_SLOT - DP_URING_SLOT_HDR)
#define DP_URING_COMMITTED 0x54494d43u /* "CMIT" */
#define DP_URING_SLOTS_DEFAULT 2048u   /* 2 MiB per loop thread */

typedef struct {
    uint8_t *map; /* the file's mapping (header + slots); NULL: no ring */
    size_t map_len;
    uint32_t nslots;
    uint32_t head; /* producer's: the next slot to fill */
    uint32_t tail; /* consumer's: the next slot to read */
    uint32_t rel;  /* consumer's: the next slot read but not yet freed */
} dp_uring_t;

/* Creates (truncating) DIR/name with nslots free slots, allocates its blocks (so that a store
 * into the mapping never meets a full disk: that would be SIGBUS) and maps it. 0, or -1 with
 * errno; on failure r->map is NULL. Blocking I/O: before the loops start. */
int dp_uring_open(dp_uring_t *r, int dirfd, const char *name, uint32_t nslots);
/* Unmaps (the file stays). No-op on a ring that was never opened. */
void dp_uring_close(dp_uring_t *r);

/* Producer: the payload area of the next slot (DP_URING_PAYLOAD_MAX bytes), or NULL when the
 * ring has no free slot (the consumer is behind) or is not open. Nothing is visible until
 * dp_uring_commit. */
uint8_t *dp_uring_reserve(dp_uring_t *r);
/* Producer: publishes the slot dp_uring_reserve returned, holding len (1..PAYLOAD_MAX) bytes. */
void dp_uring_commit(dp_uring_t *r, size_t len);

/* Consumer: the next committed slot's payload (valid until dp_uring_release) and its length,
 * or NULL when there is none. */
const uint8_t *dp_uring_peek(const dp_uring_t *r, size_t *len);
/* Consumer: steps past the slot dp_uring_peek returned (it stays committed). */
void dp_uring_advance(dp_uring_t *r);
/* Consumer: frees every slot stepped past — call only once their records are durable elsewhere
 * (fsynced into the spool) or acknowledged. Returns how many. */
size_t dp_uring_release(dp_uring_t *r);

/* Recovery: walks a ring file's bytes buf[0..len) and calls cb(ctx, payload, n) for every
 * committed slot whose length is in range and whose CRC matches, in slot order, until cb
 * returns nonzero. *bad counts slots that are neither free nor intact (torn, corrupt). Returns
 * the number of slots handed to cb, or -1 when buf is not a ring file (magic, geometry); a file
 * shorter than its geometry is read as far as its whole slots go. */
long dp_uring_scan(const uint8_t *buf, size_t len, int (*cb)(void *ctx, const uint8_t *p, size_t n),
                   void *ctx, size_t *bad);

#endif
