/*
 * dp_usage — the data plane's usage records: minted per upstream attempt on the loop threads,
 * spooled to local disk and sent to the control plane by one spooler thread (docs/billing.md,
 * "Data plane").
 *
 * Flow: a loop thread fills a dp_usage_rec_t (dp_usage_attempt_end) and hands it over with
 * dp_usage_submit — a malloc, a mutex held for two pointer writes, and a condvar signal when
 * the queue was empty. That queue is the one shared mutable structure of the data plane besides
 * the published snapshot pointer: loop threads must never touch the disk or nng, and a queue
 * with a tiny critical section is the simplest hand-off that cannot lose a record.
 *
 * The spooler thread (only it touches files and its own nng REQ socket):
 *   1. takes the whole queue, packs each record (Switchyard__UsageRecord), appends them as one
 *      batch of frames to the active segment DIR/seg-<16 hex>.usp and fsyncs it;
 *   2. sends what is spooled but unacknowledged, in order, as BusRequest{usage} batches
 *      (<= 1000 records, < 1 MiB), one at a time (nng aio, so writing never waits for the
 *      control plane), and only after a UsageAck without error advances the acknowledged
 *      position, persisted in DIR/acked ("<segment> <offset>\n", written to a temporary file,
 *      fsynced, renamed, directory fsynced). Fully acknowledged segments are deleted.
 *   3. on start, everything after the acknowledged position is sent again: the control plane
 *      ignores ids it has applied, so at-least-once sending is exactly-once application.
 * When the spool cannot be written (ENOSPC, EFBIG, EIO, …) the records stay in memory (and may
 * be sent from there); past `mem_max` records held in memory the node refuses new /v1 requests
 * with 503 not_ready (dp_usage_refusing) until the disk takes them again. Without a directory
 * the records live in memory only (lost on crash or stop; a WARN at start says so).
 *
 * The usage rings (opts.rings > 0 with a directory; dp_uring.h): the record of an answer that
 * succeeds is put into the loop thread's ring file (a shared mapping) before the answer's last
 * bytes are sent (dp_usage_commit), so a kill -9 cannot lose a record whose answer the client
 * saw complete. The spooler drains the rings each time it wakes, writes the records into the
 * spool like queued ones and frees their slots once its memory list is empty (everything taken
 * is fsynced in the spool or acknowledged). At start, before anything else is sent, the
 * committed slots of every ring file found are appended to the spool (fsynced), then the ring
 * files are created afresh. Records go through twice at most (a kill between the spool's fsync
 * and the slot's release); the control plane applies each id once.
 *
 * Spool segment format: 8-byte magic "SYUSP001", then frames: u32 little-endian payload length
 * (1..DP_USAGE_FRAME_MAX), u32 little-endian CRC-32C of the payload, payload (a packed
 * Switchyard__UsageRecord). A torn or corrupt frame ends the readable part of a segment.
 * Fields added to UsageRecord later (cache_read_tokens, cache_write_tokens) keep the format:
 * a frame written before them unpacks with 0 there, so the magic stays SYUSP001.
 *
 * Threading: dp_usage_start/stop from main only (start before the loops run, stop after they
 * have all been joined, so no record is submitted after stop). dp_usage_submit,
 * dp_usage_refusing, dp_usage_attempt_end, dp_usage_metrics_text from any thread.
 */
#ifndef DP_USAGE_H
#define DP_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "sy_busauth.h"

#define DP_USAGE_FRAME_MAX 4096u      /* one packed record: ~1 KiB at most; more is corruption */
#define DP_USAGE_MAGIC "SYUSP001"
#define DP_USAGE_MAGIC_LEN 8u
#define DP_USAGE_STR_MAX 128          /* the control plane's limit for ids and names */

/* One record, as a loop thread fills it. Plain data, no pointers into request memory. */
typedef struct dp_usage_rec {
    struct dp_usage_rec *next; /* queue link (owned by dp_usage once submitted) */
    char id[48];
    char workspace[DP_USAGE_STR_MAX + 1], key_id[DP_USAGE_STR_MAX + 1];
    char model[DP_USAGE_STR_MAX + 1], provider[DP_USAGE_STR_MAX + 1];
    char outcome[33];
    int64_t tokens_in, tokens_out, cost_nano, latency_ms, ttft_ms, created_ms;
    int64_t cache_read_tokens, cache_write_tokens; /* of tokens_in, as billed (sy_money_usage_cost) */
    int streamed, estimated;
    /* the request the attempt belongs to (the request log) */
    char request_id[65], model_asked[DP_USAGE_STR_MAX + 1], task[33], difficulty[9];
    int attempt;
} dp_usage_rec_t;

typedef struct {
    const char *req_url;               /* the control plane's REP address (bus mode); NULL: nothing is sent */
    const char *dir;                   /* spool directory (created, mode 0700); NULL: memory only */
    const char *node_id;               /* sent in every record and batch */
    size_t mem_max;                    /* records held in memory before /v1 is refused (0: default 10000) */
    uint32_t ack_timeout_ms;           /* wait for a UsageAck before resending (0: default 10000) */
    const sy_busauth_tls_t *tls;       /* authenticated bus (borrowed, outlives dp_usage_stop); NULL: plain */
    const sy_busauth_signer_t *signer; /* signs every batch when set (its CN is node_id) */
    size_t rings;                      /* loop threads: one usage ring each under dir (0: none) */
    uint32_t ring_slots;               /* slots per ring (0: DP_URING_SLOTS_DEFAULT) */
} dp_usage_opts_t;

/* Recovers the spool (truncates a torn tail, counts what is unacknowledged), opens the REQ
 * socket and starts the spooler thread (signals blocked in it). 0, or -1 with err. Strings
 * must outlive dp_usage_stop. Blocking file I/O: call before the loops start. */
int dp_usage_start(const dp_usage_opts_t *o, char *err, size_t errlen);
/* Writes what is queued, tries for up to ~2 s to get pending batches acknowledged, stops the
 * thread and frees everything. Call once, after every loop thread has ended. No-op when not
 * started. */
void dp_usage_stop(void);
/* 1 once started (bus mode); records are only minted when it is. */
int dp_usage_enabled(void);
/* Takes ownership of rec (malloc'ed). Never blocks on I/O; never drops: past the memory bound
 * the record is still queued and new requests are refused instead. */
void dp_usage_submit(dp_usage_rec_t *rec);
/* The durable hand-off, for the record of an answer about to be completed (dp_uring.h): packs
 * rec into loop thread `thread_index`'s usage ring. When it returns 0 the record survives a
 * kill -9 of the process from then on, and the spooler thread moves it into the spool (and
 * frees the slot once it is fsynced there or acknowledged). -1 (no ring: memory-only mode, the
 * ring is full, or the record does not fit a slot): nothing was taken — use dp_usage_submit.
 * Call only from that loop thread; no syscall, no lock, no allocation. rec is not kept. */
int dp_usage_commit(const dp_usage_rec_t *rec, unsigned thread_index);
/* 1 while the node must refuse new /v1 requests (records held in memory reached mem_max). */
int dp_usage_refusing(void);
/* Mints a globally unique record id into out (>= 48 bytes): "u" + 24 hex of a random boot id
 * (OpenSSL RAND_bytes at start) + 2 hex thread + 12 hex per-thread sequence. */
void dp_usage_mint_id(char *out, unsigned thread_index);
/* Prometheus text of the usage metrics into buf (NUL-terminated, truncated to cap). */
size_t dp_usage_metrics_text(char *buf, size_t cap);

/* ---- the spool format (also the fuzz target's entry points) ---- */
uint32_t dp_usage_crc32c(const void *p, size_t n);
/* Walks frames in buf[0..len): calls cb(ctx, payload, n) for each intact frame until cb returns
 * nonzero (that frame is not consumed) or a torn/corrupt frame or the end is met. Returns the
 * number of bytes consumed (whole frames only) and sets *stopped_bad when a bad frame (not the
 * clean end, not cb) stopped it. */
size_t dp_usage_frames_scan(const uint8_t *buf, size_t len, int (*cb)(void *ctx, const uint8_t *p, size_t n),
                            void *ctx, int *stopped_bad);
/* Appends one frame for payload (n <= DP_USAGE_FRAME_MAX) to out (>= n + 8 bytes); returns 8 + n. */
size_t dp_usage_frame_put(uint8_t *out, const uint8_t *payload, size_t n);

#endif
