#include "cp_bus.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus.pb-c.h"
#include "cp_admin.h"
#include "cp_delta.h"
#include "cp_metrics.h"
#include "cp_snapshot.h"
#include "cp_store.h"
#include "cp_usage.h"
#include "sy_busauth.h"
#include "sy_log.h"
#include "sy_util.h"

/* A request may be a usage batch: up to CP_USAGE_MAX_BATCH_BYTES, plus slack so that a batch
 * a little over the cap still arrives and gets a refusal it can act on (split) instead of a
 * dropped connection. */
enum {
    CP_BUS_RECV_TIMEOUT_MS = 100,
    CP_BUS_REPUBLISH_MS = 500,
    /* Live nodes (docs/admission.md): a node that heartbeated within CP_LIVE_NODE_MS counts.
     * Heartbeats come every second, so a live node is missed only after ~3 lost in a row. */
    CP_BUS_LIVE_CHECK_MS = 250,
    /* A turn of the bus loop longer than this (normally <= the 100 ms receive timeout plus one
     * request) is a stall: heartbeats waited unrecorded (check_live_nodes). */
    CP_BUS_STALL_MS = 1000,
    CP_BUS_REQ_MAX = CP_USAGE_MAX_BATCH_BYTES + 16 * 1024,
    /* Group commit: the heartbeats received together (at most this many) share one write
     * transaction; their replies go out after its commit. */
    CP_BUS_GROUP_MAX = 32,
    /* The same for usage batches, with one fsync for all: a fleet of 50 nodes each with a batch
     * in flight fits in one group (tests/bench/ingest.mjs: a group of 48 batches costs ~6 % less
     * CPU per record than three of 16 — fewer commits write each hot page fewer times, and key
     * spend and the rollup are added once per group). At most 64 unpacked batches (each <= 1 MiB
     * packed) are held. */
    CP_BUS_USAGE_GROUP_MAX = 64,
    /* A raw REP message's header is the request's backtrace: a pipe id and a request id, plus 4
     * bytes per device hop (nng caps hops at 15). */
    CP_BUS_HDR_MAX = 64,
    /* Delta updates (docs/controlplane.md, "Delta updates"): the row digests of this many recent
     * versions are kept (the current one included), so a node up to CP_BUS_DELTA_RING - 1 built
     * versions behind still gets a delta; one larger than CP_BUS_DELTA_MAX gets the whole table. */
    CP_BUS_DELTA_RING = 6,
    /* A version is patched from the last one (cp_delta_patch) but built whole at least this
     * often: the repair for anything the change tracking cannot see (a write on an unwatched
     * connection, the time window of the per-node balance shares). */
    CP_BUS_WHOLE_EVERY_MS = 300000,
    CP_BUS_DELTA_MAX = 256 * 1024,
    /* The history of built versions kept for deltas made from changed ids (delta_hist),
     * and the most ids such a delta may name. */
    CP_BUS_HISTORY = 1024,
    CP_BUS_HISTORY_IDS = 8192,
    /* Pushed deltas (docs/controlplane.md, "Delta updates"): the delta from the version before
     * is published on PUB when its packed form ("delta" + SnapshotDelta) is at most this many
     * bytes. Nodes receive PUB messages up to 256 KiB (dp_bus.c); keep this below. */
    CP_BUS_PUSH_MAX = 64 * 1024
};

/* The wake-up cp_bus_notify sends the bus thread from another thread (on an inproc REQ socket
 * dialed to the REP socket): not a BusRequest (a packed one never starts with a 0 byte, field
 * number 0 does not exist), never answered. Anyone who sends it only makes the bus thread look
 * for a pending notice. */
#define CP_BUS_WAKE "\0sy-wake"
#define CP_BUS_WAKE_LEN 8
#define CP_BUS_WAKE_URL "inproc://switchyard-cp-bus-wake"

/* A built version and, when it was patched, the ids of the rows its patch read (history). */
typedef struct {
    uint64_t version;
    int64_t created;
    int patched;
    cp_idlist_t keys, ws;
    uint8_t *delta; /* CP_DELTA_MAGIC + SnapshotDelta from this version to delta_to */
    size_t delta_len;
    uint64_t delta_to;
    int no_delta;
} hist_t;

/* A recent version's row digests, and the delta from it to the current version (built at the
 * first fetch that wants it, then served to every node at that version). */
typedef struct {
    cp_rows_t *rows;
    uint8_t *delta; /* CP_DELTA_MAGIC + SnapshotDelta, NULL: not built (or none possible) */
    size_t delta_len;
    uint64_t delta_to; /* the version `delta` leads to; 0: none tried */
    int no_delta;      /* tried for delta_to: only the whole snapshot will do */
} ring_t;

/* Where a reply goes: the backtrace header of the request it answers (raw REP). */
typedef struct {
    uint8_t b[CP_BUS_HDR_MAX];
    size_t len;
} bus_hdr_t;

/* A heartbeat waiting for its group's commit; owns the unpacked request. */
typedef struct {
    Switchyard__BusRequest *br;
    bus_hdr_t hdr;
} pending_hb_t;

/* A usage batch waiting for the group's commit; owns the unpacked request. */
typedef struct {
    Switchyard__BusRequest *br;
    size_t packed_len;
    bus_hdr_t hdr;
} pending_usage_t;

static struct {
    atomic_int running; /* 1 while the PUB socket may be used by cp_bus_notify */
    atomic_int stop;
    atomic_int drop_notices; /* test-only: publish nothing */
    atomic_int no_push;      /* --bus-no-push: plain notices only */
    /* The newest version cp_bus_notify asked the bus thread to publish (0: none pending), and
     * whether the wake socket is up (else cp_bus_notify publishes the plain notice itself). */
    atomic_ullong notify_pending;
    atomic_int wake_ok;
    /* Monotonic ms of the last heartbeat from a node that does not take pushed deltas (0: none):
     * deltas are pushed only CP_LIVE_NODE_MS after it. */
    atomic_ullong old_node_ms;
    nng_socket pub, rep, wake;
    cp_store_t *store; /* the bus thread's own handle */
    pthread_t tid;
    /* The last packed snapshot: a version is built once, however many nodes fetch it. Only
     * the bus thread touches these. */
    uint8_t *packed;
    size_t packed_len;
    uint64_t packed_version;
    /* Row digests of the last versions built, newest first (ring[0] is packed_version's; bus
     * thread only). */
    ring_t ring[CP_BUS_DELTA_RING];
    /* Change tracking (bus thread): the ids taken at the last build, whether that take had
     * overflowed, when the last whole build was. */
    cp_idlist_t prev_keys, prev_ws;
    int track_over;
    hist_t hist[CP_BUS_HISTORY];
    size_t nhist;
    uint64_t last_whole_ms;
    /* The live-node count last written to meta 'fleet.live_nodes' (-1: not read yet). Only
     * the bus thread touches it. */
    int64_t live_nodes;
    /* Monotonic ms until which the live-node count may only grow (bus thread only): set when
     * the bus thread itself stalled (check_live_nodes). */
    uint64_t live_hold_until;
    uint64_t last_loop_ms; /* when bus_main last came round its loop (0: not yet) */
    /* Usage was committed without a version bump since the last refresh (bus thread only). */
    int balances_dirty;
    uint64_t next_balance_refresh;
    /* The request being answered (bus thread only), and the usage batches of the group being
     * gathered (bus thread only). */
    bus_hdr_t cur;
    pending_usage_t pending[CP_BUS_USAGE_GROUP_MAX];
    size_t npending;
    pending_hb_t hbs[CP_BUS_GROUP_MAX];
    size_t nhbs;
    /* Bus authentication (cp_bus_set_tls): both NULL on a plain bus. Immutable once started. */
    sy_busauth_tls_t *tls;
    sy_busauth_verifier_t *verifier;
} g;

static uint32_t g_balance_refresh_ms = 5000;

/* Which connections report their key and workspace writes (cp_bus_watch_writes). */
static struct {
    atomic_int enabled, failed;
} g_watch;

int cp_bus_watch_writes(cp_store_t *s)
{
    char err[256];
    if (cp_delta_watch(cp_store_db(s), err, sizeof(err)) != 0) {
        atomic_store(&g_watch.failed, 1);
        SY_WARN("msg=\"write tracking not installed; every version is built whole\" err=\"%s\"", err);
        return -1;
    }
    atomic_store(&g_watch.enabled, 1);
    return 0;
}

void cp_bus_set_balance_refresh_ms(uint32_t ms)
{
    g_balance_refresh_ms = ms ? ms : 5000;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cp_bus_set_drop_notices(int on)
{
    atomic_store(&g.drop_notices, on != 0);
}

static void publish_version(uint64_t v)
{
    if (atomic_load(&g.drop_notices)) {
        SY_DEBUG("msg=\"bus notice dropped (--bus-drop-notices)\" version=%llu", (unsigned long long)v);
        return;
    }
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    int rv = nng_send(g.pub, b, sizeof(b), NNG_FLAG_NONBLOCK);
    if (rv != 0 && rv != NNG_EAGAIN)
        SY_WARN("msg=\"bus notice not sent\" version=%llu err=\"%s\"", (unsigned long long)v,
                nng_strerror(rv));
}

void cp_bus_set_push(int on)
{
    atomic_store(&g.no_push, on == 0);
}

/* Deltas go on PUB unless turned off or a node that would be disconnected by them (an older
 * one, Heartbeat.push_ok unset) was heard within CP_LIVE_NODE_MS. Any thread. */
static int push_active(void)
{
    if (atomic_load(&g.no_push))
        return 0;
    uint64_t o = atomic_load(&g.old_node_ms);
    return o == 0 || now_ms() - o > CP_LIVE_NODE_MS;
}

void cp_bus_notify(uint64_t version)
{
    if (!atomic_load(&g.running))
        return;
    if (!push_active() || !atomic_load(&g.wake_ok)) {
        if (!atomic_load(&g.drop_notices))
            cp_metrics_bus_publish(0);
        publish_version(version);
        return;
    }
    /* the bus thread owns the built versions and the deltas: it publishes (push_pending) */
    unsigned long long old = atomic_load(&g.notify_pending);
    while (old < version && !atomic_compare_exchange_weak(&g.notify_pending, &old, version))
        ;
    static char wake[] = CP_BUS_WAKE;
    int rv = nng_send(g.wake, wake, CP_BUS_WAKE_LEN, NNG_FLAG_NONBLOCK);
    if (rv != 0) { /* the notice goes out now; the bus thread pushes the delta at its next turn */
        SY_DEBUG("msg=\"bus wake-up not sent; plain notice\" version=%llu err=\"%s\"",
                 (unsigned long long)version, nng_strerror(rv));
        publish_version(version);
    }
}

static void serve_snapshot(uint64_t have, int64_t have_created, int delta_ok);
static int64_t wall_ms(void);
static void push_version(uint64_t v);
static void push_pending(void);

static int query_count(const char *sql, int64_t arg, int64_t *out)
{
    char err[256];
    sqlite3_stmt *st;
    if (cp_store_prepare(g.store, sql, &st, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"bus live-node check failed\" err=\"%s\"", err);
        return -1;
    }
    sqlite3_bind_int64(st, 1, arg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        *out = -1;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* One turn of the bus loop takes at most the receive timeout plus one request; longer means
 * this thread stalled and heartbeats queued unrecorded: the live-node count is then held
 * (check_live_nodes). Called at the top of the loop and before each live-node check (a
 * heartbeat served right after a stall checks before the loop comes round). */
static void note_stall(uint64_t t)
{
    if (g.last_loop_ms == 0 || t - g.last_loop_ms <= CP_BUS_STALL_MS || t < g.live_hold_until)
        return;
    SY_WARN("msg=\"bus thread stalled; live-node count held\" stalled_ms=%llu",
            (unsigned long long)(t - g.last_loop_ms));
    g.live_hold_until = t + CP_LIVE_NODE_MS + CP_BUS_LIVE_CHECK_MS;
}

/* Counts the nodes seen within CP_LIVE_NODE_MS; when the count differs from what the snapshot
 * carries, writes it (a versioned write: the fleet fetches a snapshot with the new count and
 * every node's rate-limit share follows). Called every CP_BUS_LIVE_CHECK_MS and after each
 * heartbeat, so a joining node counts within one heartbeat and a stopped one drops out
 * CP_LIVE_NODE_MS after its last. Wall clock, as dp_nodes.last_seen_ms is. */
static void check_live_nodes(void)
{
    int64_t n = 0;
    note_stall(now_ms());
    if (g.live_nodes < 0) {
        if (query_count("SELECT value FROM meta WHERE key = 'fleet.live_nodes' AND ?1 = ?1", 0,
                        &g.live_nodes) != 0)
            return;
    }
    if (query_count("SELECT count(*) FROM dp_nodes WHERE last_seen_ms >= ?1", wall_ms() - CP_LIVE_NODE_MS,
                    &n) != 0)
        return;
    cp_metrics_live_nodes(n);
    if (n == g.live_nodes)
        return;
    /* Heartbeats that waited in the REP queue while this thread was busy (a long snapshot
     * build, a slow disk, SIGSTOP) were not recorded: the nodes look dead although the control
     * plane is the one that stalled. Dropping them would be a versioned write, every node would
     * fetch the snapshot again — which at 100,000 keys stalls this thread again (measured with
     * tests/bench/fleet_scale.mjs: the count flapped and the fleet never converged). So after a
     * stall the count may grow but not shrink until the nodes had CP_LIVE_NODE_MS to be heard. */
    if (n < g.live_nodes && now_ms() < g.live_hold_until) {
        SY_DEBUG("msg=\"live-node drop held: the bus thread stalled\" from=%lld to=%lld",
                 (long long)g.live_nodes, (long long)n);
        return;
    }
    char err[256];
    uint64_t v = 0;
    sqlite3_stmt *st = NULL;
    if (cp_store_begin_write(g.store, err, sizeof(err)) != 0 ||
        cp_store_prepare(g.store,
                         "INSERT INTO meta (key, value) VALUES ('fleet.live_nodes', ?1) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         &st, err, sizeof(err)) != 0) {
        cp_store_rollback(g.store);
        SY_WARN("msg=\"bus live-node update failed\" err=\"%s\"", err);
        return;
    }
    sqlite3_bind_int64(st, 1, n);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cp_store_rollback(g.store);
        SY_WARN("msg=\"bus live-node update failed\" err=\"%s\"", sqlite3_errmsg(cp_store_db(g.store)));
        return;
    }
    if (cp_store_commit_write(g.store, &v, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"bus live-node update failed\" err=\"%s\"", err);
        return;
    }
    SY_INFO("msg=\"live nodes changed\" from=%lld to=%lld version=%llu", (long long)g.live_nodes,
            (long long)n, (unsigned long long)v);
    g.live_nodes = n;
    /* never a delta (the count is part of the rest: shares follow it): the plain notice, and the
     * version is built at the first fetch — building it here would build every count of a
     * flapping fleet whole (measured at 100,000 keys: the bus thread stalled for seconds, the
     * nodes' requests timed out, the count moved again) */
    cp_metrics_bus_publish(0);
    publish_version(v);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends `b` as the reply to the request whose backtrace is `h` (the REP socket is raw: replies
 * are routed by that header, so several requests can be outstanding at once). */
static void reply_to(const bus_hdr_t *h, const void *b, size_t len)
{
    nng_msg *rep = NULL;
    int rv = nng_msg_alloc(&rep, 0);
    if (rv == 0)
        rv = nng_msg_header_append(rep, h->b, h->len);
    if (rv == 0)
        rv = nng_msg_append(rep, b, len);
    if (rv == 0)
        rv = nng_sendmsg(g.rep, rep, 0);
    if (rv != 0) {
        if (rep != NULL)
            nng_msg_free(rep);
        SY_WARN("msg=\"bus reply failed\" err=\"%s\"", nng_strerror(rv));
    }
}

/* Replies to the request being served. */
static void reply_bytes(const void *b, size_t len)
{
    reply_to(&g.cur, b, len);
}

/* Records the heartbeats gathered in this turn of the bus loop in dp_nodes — one transaction
 * for all, without a version bump (50 nodes each heartbeating every second were 50 fsyncs a
 * second) — and answers each "ok" after the commit ("error" if not recorded: the node only logs
 * it). */
static void flush_heartbeats(void)
{
    size_t n = g.nhbs;
    if (n == 0)
        return;
    char err[256];
    int ok[CP_BUS_GROUP_MAX] = {0};
    /* heartbeats are soft state: their commit does not wait for an fsync (cp_store_begin_soft) */
    int open = cp_store_begin_soft(g.store, err, sizeof(err)) == 0;
    if (!open)
        SY_WARN("msg=\"bus heartbeats not recorded\" count=%zu err=\"%s\"", n, err);
    for (size_t i = 0; open && i < n; i++) {
        const Switchyard__Heartbeat *hb = g.hbs[i].br->heartbeat;
        const char *param = NULL;
        if (!hb->push_ok) {
            if (push_active())
                SY_INFO("msg=\"a node without pushed deltas is live; plain version notices only\" node=%s "
                        "build=%s",
                        hb->node_id ? hb->node_id : "-", hb->build ? hb->build : "-");
            atomic_store(&g.old_node_ms, now_ms());
        }
        cp_admin_heartbeat_t h = {.id = hb->node_id,
                                  .build = hb->build,
                                  .snapshot_version = hb->snapshot_version,
                                  .load = hb->load,
                                  .now_ms = wall_ms()};
        char e1[256];
        ok[i] = cp_admin_record_heartbeat(g.store, &h, &param, e1, sizeof(e1)) == CP_ADMIN_OK;
        if (!ok[i])
            SY_WARN("msg=\"bus heartbeat not recorded\" param=%s err=\"%s\"", param ? param : "-", e1);
        else
            SY_DEBUG("msg=\"bus heartbeat\" node=%s version=%llu", hb->node_id,
                     (unsigned long long)hb->snapshot_version);
    }
    if (open && cp_store_commit_soft(g.store, err, sizeof(err)) != 0) {
        SY_WARN("msg=\"bus heartbeats not recorded\" count=%zu err=\"%s\"", n, err);
        memset(ok, 0, sizeof(ok));
    }
    for (size_t i = 0; i < n; i++) {
        cp_metrics_heartbeat(ok[i]);
        if (ok[i])
            reply_to(&g.hbs[i].hdr, "ok", 2);
        else
            reply_to(&g.hbs[i].hdr, "error", 5);
        switchyard__bus_request__free_unpacked(g.hbs[i].br, NULL);
    }
    g.nhbs = 0;
    check_live_nodes(); /* after the replies: no node is kept waiting for a versioned write */
}

/* Takes a heartbeat into this turn's group (the request's ownership passes to it). */
static void gather_heartbeat(Switchyard__BusRequest *br)
{
    if (g.nhbs == CP_BUS_GROUP_MAX)
        flush_heartbeats();
    g.hbs[g.nhbs++] = (pending_hb_t){.br = br, .hdr = g.cur};
}

/* Answers a usage batch of the group just committed (or refused) with a packed UsageAck — only
 * after the commit, so an ack always means "durable". */
static void ack_usage(const pending_usage_t *p, const cp_usage_result_t *r, int committed, uint64_t version)
{
    const Switchyard__UsageBatch *b = p->br->usage;
    int rc = r->error[0] != '\0' ? -1 : 0;
    cp_metrics_usage_batch(rc == 0, r->retry, r->applied, r->duplicates);
    Switchyard__UsageAck ack = SWITCHYARD__USAGE_ACK__INIT;
    ack.batch_id = b->batch_id ? b->batch_id : (char *)"";
    ack.applied = r->applied;
    ack.duplicates = r->duplicates;
    ack.error = (char *)r->error;
    ack.retry = rc != 0 && r->retry;
    ack.bad_record = r->bad_record;
    ack.param = (char *)(r->param ? r->param : "");
    if (rc != 0)
        SY_WARN("msg=\"usage batch refused\" node=%s batch=%s records=%zu bad_record=%d param=%s retry=%d "
                "err=\"%s\"",
                b->node_id ? b->node_id : "-", ack.batch_id, b->n_records, r->bad_record, ack.param,
                ack.retry, r->error);
    else
        SY_INFO("msg=\"usage batch\" node=%s batch=%s applied=%u duplicates=%u",
                b->node_id ? b->node_id : "-", ack.batch_id, r->applied, r->duplicates);
    if (committed && rc == 0 && r->applied > 0 && !r->quiet)
        /* the moment the fleet's refusals are measured from (docs/admission.md, "Exhaustion") */
        SY_INFO("msg=\"balance or budget exhausted\" node=%s batch=%s version=%llu",
                b->node_id ? b->node_id : "-", ack.batch_id, (unsigned long long)version);
    size_t len = switchyard__usage_ack__get_packed_size(&ack);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        SY_ERROR("msg=\"out of memory packing a usage ack\"");
        return; /* no reply: the node resends, and the batch is idempotent */
    }
    switchyard__usage_ack__pack(&ack, buf);
    reply_to(&p->hdr, buf, len);
    free(buf);
}

/* Applies the gathered usage batches in one transaction (cp_usage_ingest_group), then acks each. */
static void flush_usage(void)
{
    size_t n = g.npending;
    if (n == 0)
        return;
    const Switchyard__UsageBatch *batches[CP_BUS_USAGE_GROUP_MAX];
    size_t lens[CP_BUS_USAGE_GROUP_MAX];
    cp_usage_result_t results[CP_BUS_USAGE_GROUP_MAX];
    for (size_t i = 0; i < n; i++) {
        batches[i] = g.pending[i].br->usage;
        lens[i] = g.pending[i].packed_len;
    }
    uint64_t version = 0;
    int committed = cp_usage_ingest_group(g.store, n, batches, lens, wall_ms(), results, &version) == 0;
    uint32_t applied = 0;
    int exhausted = 0;
    for (size_t i = 0; i < n; i++)
        if (results[i].error[0] == '\0') {
            applied += results[i].applied;
            exhausted |= results[i].applied > 0 && !results[i].quiet;
        }
    /* a balance or budget ran out: the notice goes out before the acks, nodes fetch now */
    if (committed && exhausted)
        push_version(version);
    else if (committed && applied > 0 && !g.balances_dirty) {
        /* the first unpublished change starts the clock: the fleet sees it within one period */
        g.balances_dirty = 1;
        g.next_balance_refresh = now_ms() + g_balance_refresh_ms;
    }
    for (size_t i = 0; i < n; i++) {
        ack_usage(&g.pending[i], &results[i], committed, version);
        switchyard__bus_request__free_unpacked(g.pending[i].br, NULL);
    }
    g.npending = 0;
}

/* Takes a usage batch into the group (the request's ownership passes to it); a full group is
 * applied first. */
static void gather_usage(Switchyard__BusRequest *br, size_t packed_len)
{
    if (g.npending == CP_BUS_USAGE_GROUP_MAX)
        flush_usage();
    g.pending[g.npending++] = (pending_usage_t){.br = br, .packed_len = packed_len, .hdr = g.cur};
}

/* Refuses a heartbeat or usage batch on an authenticated bus, writing nothing: logged, and
 * answered so the sender stops waiting ("error" for a heartbeat; a UsageAck with `error`, `retry`
 * only when the timestamp was out of the window). */
static void refuse(const Switchyard__BusRequest *br, const char *reason, const char *node, const char *cn,
                   int retry)
{
    int usage = br != NULL && br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE && br->usage != NULL;
    SY_WARN("msg=\"bus request refused\" reason=\"%s\" kind=%s node=%s cert_cn=%s", reason,
            usage                                                                    ? "usage"
            : br != NULL && br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_HEARTBEAT ? "heartbeat"
                                                                                     : "other",
            node && *node ? node : "-", cn && *cn ? cn : "-");
    cp_metrics_bus_refused();
    if (!usage) {
        reply_bytes("error", 5);
        return;
    }
    Switchyard__UsageAck ack = SWITCHYARD__USAGE_ACK__INIT;
    ack.batch_id = br->usage->batch_id ? br->usage->batch_id : (char *)"";
    ack.error = (char *)reason;
    ack.retry = retry != 0;
    ack.bad_record = -1;
    ack.param = (char *)"node_id";
    size_t len = switchyard__usage_ack__get_packed_size(&ack);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return;
    switchyard__usage_ack__pack(&ack, buf);
    reply_bytes(buf, len);
    free(buf);
}

/* On an authenticated bus: is `br` (a heartbeat or usage batch, already unwrapped) allowed for
 * the signer `cn` (NULL: it was not signed)? Refuses (and returns 0) when not. */
static int authorized(const Switchyard__BusRequest *br, const char *cn)
{
    const char *node =
        br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE ? br->usage->node_id : br->heartbeat->node_id;
    if (cn == NULL) {
        refuse(br, "not signed: this bus requires signed heartbeats and usage", node, NULL, 0);
        return 0;
    }
    if (node == NULL || strcmp(node, cn) != 0) {
        refuse(br, "node id differs from its certificate", node, cn, 0);
        return 0;
    }
    if (br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE)
        for (size_t i = 0; i < br->usage->n_records; i++) {
            const char *rn = br->usage->records[i]->node;
            if (rn != NULL && *rn && strcmp(rn, cn) != 0) {
                refuse(br, "a record's node differs from the certificate", rn, cn, 0);
                return 0;
            }
        }
    return 1;
}

/* Unwraps and verifies a SignedRequest. Returns the inner request (caller frees) with the
 * certificate's CN in cn, or NULL after refusing it. */
static Switchyard__BusRequest *unwrap_signed(const Switchyard__SignedRequest *sr, char *cn, size_t cnlen)
{
    Switchyard__BusRequest *in = switchyard__bus_request__unpack(NULL, sr->request.len, sr->request.data);
    if (in == NULL ||
        !((in->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE && in->usage != NULL) ||
          (in->kind_case == SWITCHYARD__BUS_REQUEST__KIND_HEARTBEAT && in->heartbeat != NULL))) {
        refuse(in, "a signed request must hold a heartbeat or a usage batch", NULL, NULL, 0);
        if (in != NULL)
            switchyard__bus_request__free_unpacked(in, NULL);
        return NULL;
    }
    const char *node =
        in->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE ? in->usage->node_id : in->heartbeat->node_id;
    if (g.verifier == NULL) {
        refuse(in, "signed request on an unauthenticated bus", node, NULL, 0);
        switchyard__bus_request__free_unpacked(in, NULL);
        return NULL;
    }
    char err[256];
    int stale = 0;
    if (sy_busauth_verify(g.verifier, sr->cert.data, sr->cert.len, sr->ts_ms, sr->request.data,
                          sr->request.len, sr->sig.data, sr->sig.len, wall_ms(), cn, cnlen, &stale, err,
                          sizeof(err)) != 0) {
        refuse(in, err, node, NULL, stale);
        switchyard__bus_request__free_unpacked(in, NULL);
        return NULL;
    }
    return in;
}

/* Answers one request: a BusRequest{heartbeat} is recorded; a fetch from a node that already
 * has the current version gets "unchanged"; anything else (a fetch, an empty or unparsable
 * request from an older node) gets the snapshot. On an authenticated bus, heartbeats and usage
 * must come signed (SignedRequest) by the node whose id they carry. */
static void serve_one(nng_msg *req)
{
    size_t req_len = nng_msg_len(req), hl = nng_msg_header_len(req);
    if (hl == 0 || hl > sizeof(g.cur.b)) { /* not routable: a raw REP message always has a backtrace */
        nng_msg_free(req);
        return;
    }
    memcpy(g.cur.b, nng_msg_header(req), hl);
    g.cur.len = hl;
    if (req_len == CP_BUS_WAKE_LEN && memcmp(nng_msg_body(req), CP_BUS_WAKE, CP_BUS_WAKE_LEN) == 0) {
        nng_msg_free(req); /* never answered: the waker does not wait */
        push_pending();
        return;
    }
    Switchyard__BusRequest *br = switchyard__bus_request__unpack(NULL, req_len, nng_msg_body(req));
    nng_msg_free(req);
    char cnbuf[SY_BUSAUTH_CN_MAX + 1];
    const char *cn = NULL;
    if (br != NULL && br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_SIGNED_REQUEST &&
        br->signed_request != NULL) {
        Switchyard__BusRequest *in = unwrap_signed(br->signed_request, cnbuf, sizeof(cnbuf));
        switchyard__bus_request__free_unpacked(br, NULL);
        if (in == NULL)
            return;
        br = in;
        cn = cnbuf;
    }
    int auth = g.verifier != NULL;
    if (br != NULL && br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE && br->usage != NULL) {
        if (!auth || authorized(br, cn))
            gather_usage(br, req_len); /* answered after the group's commit (flush_usage) */
        else
            switchyard__bus_request__free_unpacked(br, NULL);
        return;
    }
    if (br != NULL && br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_HEARTBEAT && br->heartbeat != NULL) {
        if (!auth || authorized(br, cn))
            gather_heartbeat(br); /* answered after the group's commit (flush_heartbeats) */
        else
            switchyard__bus_request__free_unpacked(br, NULL);
        return;
    }
    uint64_t have = 0;
    int64_t have_created = 0;
    int delta_ok = 0;
    if (br != NULL && br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_FETCH && br->fetch != NULL) {
        have = br->fetch->have_version;
        have_created = br->fetch->have_created_at_ms;
        delta_ok = br->fetch->delta_ok;
    }
    if (br != NULL)
        switchyard__bus_request__free_unpacked(br, NULL);
    serve_snapshot(have, have_created, delta_ok);
}

static void ring_clear_delta(ring_t *e)
{
    free(e->delta);
    e->delta = NULL;
    e->delta_len = 0;
    e->delta_to = 0;
    e->no_delta = 0;
}

static void ring_free(void)
{
    for (size_t i = 0; i < CP_BUS_DELTA_RING; i++) {
        ring_clear_delta(&g.ring[i]);
        cp_rows_free(g.ring[i].rows);
        g.ring[i].rows = NULL;
    }
}

/* A new version was built into g.packed: its row digests become ring[0], the oldest drop out,
 * and every cached delta (to the previous current version) is stale. When the new snapshot
 * cannot be indexed the ring is emptied: whole snapshots until the next version. */
static void ring_push(cp_rows_t *r)
{
    if (r == NULL)
        r = cp_rows_index(g.packed, g.packed_len);
    if (r == NULL) {
        SY_WARN("msg=\"bus snapshot not indexed for deltas; whole snapshots until the next version\" "
                "version=%llu",
                (unsigned long long)g.packed_version);
        ring_free();
        return;
    }
    ring_clear_delta(&g.ring[CP_BUS_DELTA_RING - 1]);
    cp_rows_free(g.ring[CP_BUS_DELTA_RING - 1].rows);
    memmove(&g.ring[1], &g.ring[0], (CP_BUS_DELTA_RING - 1) * sizeof(ring_t));
    g.ring[0] = (ring_t){.rows = r};
    for (size_t i = 1; i < CP_BUS_DELTA_RING; i++)
        ring_clear_delta(&g.ring[i]);
}

/* The delta from a node's version `have` to the current one from the row digests (built once
 * per base version and kept until the next version): 1 with *out, *len (owned by the ring). */
static int delta_ring(uint64_t have, int64_t have_created, const uint8_t **out, size_t *len)
{
    if (g.ring[0].rows == NULL || cp_rows_version(g.ring[0].rows) != g.packed_version || have == 0 ||
        have >= g.packed_version)
        return 0;
    for (size_t i = 1; i < CP_BUS_DELTA_RING; i++) {
        ring_t *e = &g.ring[i];
        if (e->rows == NULL || cp_rows_version(e->rows) != have)
            continue;
        if (cp_rows_created(e->rows) != have_created)
            return 0; /* the node's version `have` is another state (a restored database counted again) */
        if (e->delta_to != g.packed_version) {
            ring_clear_delta(e);
            e->delta_to = g.packed_version;
            uint64_t t0 = now_ns();
            int rc = cp_delta_build(e->rows, g.ring[0].rows, g.packed, g.packed_len, CP_BUS_DELTA_MAX,
                                    &e->delta, &e->delta_len);
            e->no_delta = rc != 0;
            SY_DEBUG("msg=\"bus delta built\" from=%llu to=%llu bytes=%zu result=%s us=%llu",
                     (unsigned long long)have, (unsigned long long)g.packed_version, e->delta_len,
                     rc == 0  ? "delta"
                     : rc > 0 ? "whole"
                              : "oom",
                     (unsigned long long)((now_ns() - t0) / 1000));
        }
        if (e->no_delta || e->delta == NULL)
            return 0;
        *out = e->delta;
        *len = e->delta_len;
        return 1;
    }
    return 0;
}

/* The history of built versions (newest last) with, for a patched one, the ids its patch read:
 * a node at any of them gets a delta made of the union of the ids since (cp_delta_build_ids), as
 * long as every version since was patched (same rest). Bus thread only. */
static void hist_clear_delta(hist_t *h)
{
    free(h->delta);
    h->delta = NULL;
    h->delta_len = 0;
    h->delta_to = 0;
    h->no_delta = 0;
}

static void hist_free(hist_t *h)
{
    hist_clear_delta(h);
    cp_idlist_free(&h->keys);
    cp_idlist_free(&h->ws);
    memset(h, 0, sizeof(*h));
}

static void hist_push(uint64_t v, int patched, cp_idlist_t *keys, cp_idlist_t *ws)
{
    if (g.nhist == CP_BUS_HISTORY) {
        hist_free(&g.hist[0]);
        memmove(&g.hist[0], &g.hist[1], (CP_BUS_HISTORY - 1) * sizeof(hist_t));
        g.nhist--;
        memset(&g.hist[g.nhist], 0, sizeof(hist_t));
    }
    hist_t *h = &g.hist[g.nhist++];
    memset(h, 0, sizeof(*h));
    h->version = v;
    h->created = g.ring[0].rows && cp_rows_version(g.ring[0].rows) == v ? cp_rows_created(g.ring[0].rows) : 0;
    h->patched = patched;
    /* a whole build with the same rest as the version before: its changed ids from the digests,
     * so the history chain goes on (the first version after a catalog import, the periodic repair) */
    cp_idlist_t dk = {0}, dw = {0};
    if (!patched && g.nhist >= 2 && g.hist[g.nhist - 2].version != 0 && g.ring[0].rows != NULL &&
        g.ring[1].rows != NULL && cp_rows_version(g.ring[1].rows) == g.hist[g.nhist - 2].version &&
        cp_rows_rest_equal(g.ring[1].rows, g.ring[0].rows) &&
        cp_rows_diff_ids(g.ring[1].rows, g.ring[0].rows, CP_BUS_HISTORY_IDS, &dk, &dw) == 0) {
        h->patched = 1;
        keys = &dk;
        ws = &dw;
    }
    if (h->patched) {
        h->keys = *keys;
        h->ws = *ws;
        *keys = (cp_idlist_t){0};
        *ws = (cp_idlist_t){0};
    }
}

/* A delta for a node at (have, created) from the id history: 1 with *out, *len (owned by the
 * history). */
static int delta_hist(uint64_t have, int64_t created, const uint8_t **out, size_t *len)
{
    size_t i = g.nhist;
    while (i > 0 && g.hist[i - 1].version != have)
        i--;
    if (i == 0 || i == g.nhist || g.hist[i - 1].created != created || g.ring[0].rows == NULL ||
        g.hist[g.nhist - 1].version != g.packed_version)
        return 0;
    hist_t *e = &g.hist[i - 1];
    if (e->delta_to != g.packed_version) {
        hist_clear_delta(e);
        e->delta_to = g.packed_version;
        cp_idlist_t k = {0}, w = {0};
        int ok = 1;
        for (size_t j = i; j < g.nhist && ok; j++) {
            ok = g.hist[j].patched && k.n + w.n <= CP_BUS_HISTORY_IDS &&
                 cp_idlist_union(&k, &g.hist[j].keys) == 0 && cp_idlist_union(&w, &g.hist[j].ws) == 0;
        }
        int rc = ok && k.n + w.n <= CP_BUS_HISTORY_IDS
                     ? cp_delta_build_ids(g.ring[0].rows, g.packed, have, created, &k, &w, CP_BUS_DELTA_MAX,
                                          &e->delta, &e->delta_len)
                     : 1;
        e->no_delta = rc != 0;
        cp_idlist_free(&k);
        cp_idlist_free(&w);
    }
    if (e->no_delta || e->delta == NULL)
        return 0;
    *out = e->delta;
    *len = e->delta_len;
    return 1;
}

/* Builds the current version into g.packed and the ring: patched from the last one (only the
 * key and workspace rows the watched writes named are read again; cp_delta.h) when possible,
 * else whole — at most CP_BUS_WHOLE_EVERY_MS after the last whole build, after the tracker
 * overflowed, without watched writers, or with no previous version indexed. */
static int build_version(char *err, size_t errlen)
{
    cp_idlist_t tk = {0}, tw = {0}, lk = {0}, lw = {0};
    int over = cp_delta_take(&tk, &tw);
    uint64_t t = now_ms();
    int patch = atomic_load(&g_watch.enabled) && !atomic_load(&g_watch.failed) && !over && !g.track_over &&
                g.packed != NULL && g.ring[0].rows != NULL &&
                cp_rows_version(g.ring[0].rows) == g.packed_version &&
                t - g.last_whole_ms < CP_BUS_WHOLE_EVERY_MS;
    /* this build reads the rows named now and those named before the last build: a write whose
     * triggers fired before that build but which committed after it is read again now */
    if (patch && (cp_idlist_union(&lk, &tk) != 0 || cp_idlist_union(&lk, &g.prev_keys) != 0 ||
                  cp_idlist_union(&lw, &tw) != 0 || cp_idlist_union(&lw, &g.prev_ws) != 0))
        patch = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t v = 0;
    cp_rows_t *rows = NULL;
    uint64_t t0 = now_ns();
    int rc;
    if (patch) {
        char *jk = cp_idlist_json(&lk), *jw = cp_idlist_json(&lw);
        uint8_t *part = NULL;
        size_t plen = 0;
        rc = jk && jw ? cp_snapshot_build_partial(g.store, jk, jw, &part, &plen, &v, err, errlen) : -1;
        int prc =
            rc == 0 ? cp_delta_patch(g.ring[0].rows, g.packed, part, plen, &lk, &lw, &buf, &len, &rows) : 0;
        if (prc < 0) {
            snprintf(err, errlen, "patching the snapshot failed");
            rc = -1;
        }
        free(jk);
        free(jw);
        free(part);
        if (rc == 0 && prc == 0)
            cp_metrics_snapshot_patched();
        SY_DEBUG("msg=\"bus snapshot patched\" version=%llu keys=%zu workspaces=%zu us=%llu rest_changed=%d",
                 (unsigned long long)v, lk.n, lw.n, (unsigned long long)((now_ns() - t0) / 1000), prc > 0);
        if (prc > 0) /* not only keys and workspaces changed (shares follow the live-node count too) */
            patch = 0;
    }
    if (!patch) {
        rc = cp_snapshot_build(g.store, &buf, &len, &v, err, errlen);
        if (rc == 0)
            g.last_whole_ms = t;
    }
    cp_metrics_snapshot_build(rc == 0, now_ns() - t0);
    cp_idlist_free(&g.prev_keys);
    cp_idlist_free(&g.prev_ws);
    g.prev_keys = tk; /* kept for the next build (see above) */
    g.prev_ws = tw;
    g.track_over = over || rc != 0;
    if (rc != 0) {
        cp_idlist_free(&lk);
        cp_idlist_free(&lw);
        return -1;
    }
    /* the build reads in its own transaction and may see a write newer than the version asked */
    free(g.packed);
    g.packed = buf;
    g.packed_len = len;
    g.packed_version = v;
    ring_push(rows);
    hist_push(v, patch, &lk, &lw); /* takes lk/lw when patched */
    cp_idlist_free(&lk);
    cp_idlist_free(&lw);
    return 0;
}

static void serve_snapshot(uint64_t have, int64_t have_created, int delta_ok)
{
    char err[256];
    uint64_t cur = 0;
    if (cp_store_snapshot_version(g.store, &cur, err, sizeof(err)) != 0) {
        /* no reply: the node's REQ resends, and a store hiccup is usually transient */
        SY_ERROR("msg=\"bus cannot read the version\" err=\"%s\"", err);
        return;
    }
    if (have != 0 && have == cur) {
        cp_metrics_bus_fetch(1);
        reply_bytes("unchanged", 9);
        return;
    }
    if ((g.packed == NULL || g.packed_version != cur) && build_version(err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"bus snapshot build failed\" err=\"%s\"", err);
        return;
    }
    if (have != 0 && have == g.packed_version) { /* the build saw the node's version after all */
        cp_metrics_bus_fetch(1);
        reply_bytes("unchanged", 9);
        return;
    }
    const uint8_t *d = NULL;
    size_t dlen = 0;
    if (delta_ok &&
        (delta_hist(have, have_created, &d, &dlen) || delta_ring(have, have_created, &d, &dlen))) {
        cp_metrics_bus_fetch(2);
        reply_bytes(d, dlen);
        return;
    }
    cp_metrics_bus_fetch(0);
    reply_bytes(g.packed, g.packed_len);
    SY_DEBUG("msg=\"bus snapshot served\" version=%llu bytes=%zu", (unsigned long long)g.packed_version,
             g.packed_len);
}

/* Publishes version v (or the newer one the build sees) after a change. When deltas are pushed
 * and the version before the current one is a version of the same lineage, the delta from it
 * goes first (at most CP_BUS_PUSH_MAX bytes): a node serving that version applies it without a
 * fetch. The plain 8-byte notice always follows — a node on another version fetches on it, and
 * a node that applied the delta ignores it (not newer). Building the version here costs what
 * the first fetch would have paid. Bus thread. */
static void push_version(uint64_t v)
{
    if (atomic_load(&g.drop_notices)) {
        publish_version(v); /* logs and drops */
        return;
    }
    const uint8_t *d = NULL;
    size_t dlen = 0;
    if (push_active()) {
        char err[256];
        uint64_t cur = 0;
        if (cp_store_snapshot_version(g.store, &cur, err, sizeof(err)) != 0)
            SY_WARN("msg=\"bus cannot read the version\" err=\"%s\"", err);
        else if ((g.packed == NULL || g.packed_version != cur) && build_version(err, sizeof(err)) != 0)
            SY_ERROR("msg=\"bus snapshot build failed\" err=\"%s\"", err);
        else if (g.packed_version >= v && g.nhist >= 2 && g.hist[g.nhist - 1].version == g.packed_version) {
            const hist_t *b = &g.hist[g.nhist - 2];
            if (b->created == 0 || !(delta_hist(b->version, b->created, &d, &dlen) ||
                                     delta_ring(b->version, b->created, &d, &dlen)))
                d = NULL;
            if (d != NULL && (dlen > CP_BUS_PUSH_MAX || dlen <= 8)) { /* 8 bytes would read as a notice */
                SY_DEBUG("msg=\"delta too large to push; plain notice\" from=%llu to=%llu bytes=%zu",
                         (unsigned long long)b->version, (unsigned long long)g.packed_version, dlen);
                d = NULL;
            }
        }
        if (g.packed != NULL && g.packed_version > v)
            v = g.packed_version;
    }
    int pushed = 0;
    if (d != NULL) {
        int rv = nng_send(g.pub, (void *)d, dlen, NNG_FLAG_NONBLOCK);
        pushed = rv == 0;
        if (rv != 0 && rv != NNG_EAGAIN)
            SY_WARN("msg=\"bus delta not pushed\" version=%llu err=\"%s\"", (unsigned long long)v,
                    nng_strerror(rv));
        else
            SY_DEBUG("msg=\"bus delta pushed\" version=%llu bytes=%zu", (unsigned long long)v, dlen);
    }
    cp_metrics_bus_publish(pushed);
    publish_version(v);
}

/* Publishes what cp_bus_notify left for the bus thread. */
static void push_pending(void)
{
    uint64_t v = atomic_exchange(&g.notify_pending, 0);
    if (v != 0)
        push_version(v);
}

/* Usage committed quietly since the last refresh: one versioned write (meta
 * 'balances.refreshed_ms') so the fleet's next snapshot carries the balances as they are. At
 * most once per balance-refresh period, only when usage arrived. */
static void refresh_balances(void)
{
    char err[256];
    uint64_t v = 0;
    sqlite3_stmt *st = NULL;
    if (cp_store_begin_write(g.store, err, sizeof(err)) != 0 ||
        cp_store_prepare(g.store,
                         "INSERT INTO meta (key, value) VALUES ('balances.refreshed_ms', ?1) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         &st, err, sizeof(err)) != 0) {
        cp_store_rollback(g.store);
        SY_WARN("msg=\"bus balance refresh failed\" err=\"%s\"", err);
        return;
    }
    sqlite3_bind_int64(st, 1, wall_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || cp_store_commit_write(g.store, &v, err, sizeof(err)) != 0) {
        cp_store_rollback(g.store);
        SY_WARN("msg=\"bus balance refresh failed\" err=\"%s\"", rc != SQLITE_DONE ? "step" : err);
        return;
    }
    g.balances_dirty = 0;
    SY_DEBUG("msg=\"balances refreshed\" version=%llu", (unsigned long long)v);
    push_version(v);
}

static void *bus_main(void *arg)
{
    (void)arg;
    uint64_t next = 0, next_live = 0;
    while (!atomic_load(&g.stop)) {
        uint64_t t = now_ms();
        note_stall(t);
        g.last_loop_ms = t;
        if (t >= next_live) {
            check_live_nodes();
            next_live = t + CP_BUS_LIVE_CHECK_MS;
        }
        push_pending(); /* normally done at once on the wake-up (serve_one) */
        if (g.balances_dirty && t >= g.next_balance_refresh)
            refresh_balances();
        if (t >= next) {
            char err[256];
            uint64_t v = 0;
            if (cp_store_snapshot_version(g.store, &v, err, sizeof(err)) == 0)
                publish_version(v);
            else
                SY_WARN("msg=\"bus cannot read the version\" err=\"%s\"", err);
            next = t + CP_BUS_REPUBLISH_MS;
        }
        nng_msg *req = NULL;
        int rv = nng_recvmsg(g.rep, &req, 0);
        if (rv != 0 && rv != NNG_ETIMEDOUT && rv != NNG_ECLOSED)
            SY_WARN("msg=\"bus receive failed\" err=\"%s\"", nng_strerror(rv));
        /* group commit: everything already queued is served — fetches and heartbeats at once,
         * usage batches gathered — then the batches are applied in one transaction. Nothing
         * waits on purpose: the batches that arrive while a group commits form the next group. */
        for (size_t k = 0; rv == 0 && k < 4 * CP_BUS_GROUP_MAX; k++) {
            serve_one(req);
            rv = nng_recvmsg(g.rep, &req, NNG_FLAG_NONBLOCK);
        }
        if (rv == 0)
            serve_one(req);
        flush_usage(); /* first: an exhausted balance is published before heartbeats commit */
        flush_heartbeats();
    }
    return NULL;
}

/* The in-process REQ socket cp_bus_notify wakes the bus thread with (a second, inproc listener
 * on the REP socket: in-process only, no TLS needed). Without it cp_bus_notify publishes plain
 * notices itself and deltas are pushed only for the bus thread's own writes. */
static void open_wake(void)
{
    atomic_store(&g.wake_ok, 0);
    int rv = nng_listen(g.rep, CP_BUS_WAKE_URL, NULL, 0);
    if (rv == 0 && (rv = nng_req0_open(&g.wake)) == 0) {
        /* never answered: no resend, and a send never waits */
        if ((rv = nng_socket_set_ms(g.wake, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
            (rv = nng_socket_set_ms(g.wake, NNG_OPT_SENDTIMEO, 0)) != 0 ||
            (rv = nng_dial(g.wake, CP_BUS_WAKE_URL, NULL, 0)) != 0)
            nng_close(g.wake);
    }
    if (rv != 0) {
        SY_WARN("msg=\"bus wake-up socket not opened; admin writes publish plain notices\" err=\"%s\"",
                nng_strerror(rv));
        return;
    }
    atomic_store(&g.wake_ok, 1);
}

static int open_sockets(const char *pub_url, const char *rep_url, char *err, size_t errlen)
{
    int rv;
    const char *what = "pub open";
    if ((rv = nng_pub0_open(&g.pub)) != 0)
        goto fail;
    what = "rep open";
    if ((rv = nng_rep0_open_raw(&g.rep)) != 0) {
        nng_close(g.pub);
        goto fail;
    }
    what = "rep options";
    if ((rv = nng_socket_set_ms(g.rep, NNG_OPT_RECVTIMEO, CP_BUS_RECV_TIMEOUT_MS)) != 0 ||
        (rv = nng_socket_set_size(g.rep, NNG_OPT_RECVMAXSZ, CP_BUS_REQ_MAX)) != 0)
        goto fail_both;
    if (sy_busauth_listen(g.pub, pub_url, g.tls, err, errlen) != 0 ||
        sy_busauth_listen(g.rep, rep_url, g.tls, err, errlen) != 0) {
        nng_close(g.pub);
        nng_close(g.rep);
        return -1;
    }
    open_wake();
    return 0;
fail_both:
    nng_close(g.pub);
    nng_close(g.rep);
fail:
    sy_errf(err, errlen, "bus %s: %s", what, nng_strerror(rv));
    return -1;
}

int cp_bus_set_tls(const char *ca_file, const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    if (sy_busauth_tls_load(1, ca_file, cert_file, key_file, &g.tls, err, errlen) != 0)
        return -1;
    if (sy_busauth_verifier_load(ca_file, &g.verifier, err, errlen) != 0) {
        sy_busauth_tls_free(g.tls);
        g.tls = NULL;
        return -1;
    }
    return 0;
}

static void free_auth(void)
{
    sy_busauth_tls_free(g.tls);
    sy_busauth_verifier_free(g.verifier);
    g.tls = NULL;
    g.verifier = NULL;
}

int cp_bus_start(const char *pub_url, const char *rep_url, const char *db_path, char *err, size_t errlen)
{
    if (cp_store_open(db_path, &g.store, err, errlen) != 0)
        return -1;
    g.track_over = 1; /* the first build is whole */
    if (cp_delta_watch(cp_store_db(g.store), err, errlen) != 0) {
        SY_WARN("msg=\"write tracking not installed on the bus's handle; every version is built whole\" "
                "err=\"%s\"",
                err);
        atomic_store(&g_watch.failed, 1);
    }
    if (open_sockets(pub_url, rep_url, err, errlen) != 0) {
        cp_store_close(g.store);
        g.store = NULL;
        free_auth();
        return -1;
    }
    atomic_store(&g.stop, 0);
    g.live_nodes = -1;
    g.last_loop_ms = 0;
    g.live_hold_until = 0;
    atomic_store(&g.running, 1);
    /* the bus thread must never take a process signal: cp_api waits for them elsewhere */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = pthread_create(&g.tid, NULL, bus_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&g.running, 0);
        if (atomic_exchange(&g.wake_ok, 0))
            nng_close(g.wake);
        nng_close(g.pub);
        nng_close(g.rep);
        cp_store_close(g.store);
        g.store = NULL;
        free_auth();
        sy_errf(err, errlen, "bus thread: %s", strerror(rc));
        return -1;
    }
    if (g.tls == NULL)
        SY_WARN(
            "msg=\"bus is not authenticated: any local process can read snapshots and post usage\" pub=%s "
            "rep=%s",
            pub_url, rep_url);
    SY_INFO("msg=\"bus listening\" pub=%s rep=%s auth=%s", pub_url, rep_url, g.tls ? "mtls+signed" : "none");
    return 0;
}

void cp_bus_stop(void)
{
    if (!atomic_load(&g.running))
        return;
    atomic_store(&g.stop, 1);
    pthread_join(g.tid, NULL);
    atomic_store(&g.running, 0);
    if (atomic_exchange(&g.wake_ok, 0))
        nng_close(g.wake);
    nng_close(g.rep);
    nng_close(g.pub);
    cp_store_close(g.store);
    g.store = NULL;
    free(g.packed);
    g.packed = NULL;
    ring_free();
    cp_idlist_free(&g.prev_keys);
    cp_idlist_free(&g.prev_ws);
    for (size_t i = 0; i < g.nhist; i++)
        hist_free(&g.hist[i]);
    g.nhist = 0;
    free_auth();
}
