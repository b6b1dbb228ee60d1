#include "dp_bus.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus.pb-c.h"
#include "dp.h"
#include "dp_cache.h"
#include "dp_server.h"
#include "dp_snapshot.h"
#include "snapshot.pb-c.h"
#include "sy_busauth.h"
#include "sy_log.h"
#include "sy_util.h"

enum {
    DP_BUS_SUB_TIMEOUT_MS = 100,
    DP_BUS_SAFETY_MS = 1000,
    DP_BUS_HEARTBEAT_MS = 1000,
    DP_BUS_REQ_TIMEOUT_MS = 2000,
    DP_BUS_HB_TICK_MS = 50, /* the heartbeat thread looks at the served version this often */
};
#define DP_BUS_BUILD "switchyard-dp/0.1"
#define DP_BUS_SNAPSHOT_MAX ((size_t)64 << 20)

static struct {
    atomic_int running, stop;
    nng_socket sub, req, hb; /* hb: the heartbeat thread's own REQ socket */
    const char *cache_dir;             /* NULL: no cache; read only by the bus thread once started */
    const char *node_id;               /* heartbeat identity */
    const sy_busauth_tls_t *tls;       /* borrowed (dp_bus_set_auth); NULL: plain bus */
    const sy_busauth_signer_t *signer; /* borrowed; signs heartbeats when set */
    pthread_t tid, hb_tid;
} g;

void dp_bus_set_auth(const sy_busauth_tls_t *tls, const sy_busauth_signer_t *signer)
{
    g.tls = tls;
    g.signer = signer;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

nng_msg *dp_bus_msg(const Switchyard__BusRequest *br, const sy_busauth_signer_t *signer)
{
    size_t len = switchyard__bus_request__get_packed_size(br);
    nng_msg *m = NULL;
    if (signer == NULL) {
        if (nng_msg_alloc(&m, len) != 0)
            return NULL;
        switchyard__bus_request__pack(br, nng_msg_body(m));
        return m;
    }
    uint8_t *inner = malloc(len ? len : 1), *sig = NULL;
    size_t siglen = 0, certlen = 0;
    char err[256];
    if (inner == NULL)
        return NULL;
    switchyard__bus_request__pack(br, inner);
    Switchyard__SignedRequest sr = SWITCHYARD__SIGNED_REQUEST__INIT;
    sr.ts_ms = wall_ms();
    if (sy_busauth_sign(signer, sr.ts_ms, inner, len, &sig, &siglen, err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"bus request not signed\" err=\"%s\"", err);
        free(inner);
        return NULL;
    }
    sr.request.data = inner;
    sr.request.len = len;
    sr.cert.data = (uint8_t *)sy_busauth_signer_cert(signer, &certlen);
    sr.cert.len = certlen;
    sr.sig.data = sig;
    sr.sig.len = siglen;
    Switchyard__BusRequest outer = SWITCHYARD__BUS_REQUEST__INIT;
    outer.kind_case = SWITCHYARD__BUS_REQUEST__KIND_SIGNED_REQUEST;
    outer.signed_request = &sr;
    size_t olen = switchyard__bus_request__get_packed_size(&outer);
    if (nng_msg_alloc(&m, olen) == 0)
        switchyard__bus_request__pack(&outer, nng_msg_body(m));
    else
        m = NULL;
    free(inner);
    free(sig);
    return m;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Applies one packed snapshot, or keeps the current one. fetch_ms: the request's round trip
 * (logged with the unpack and build times when the snapshot is applied). */
static void apply(const uint8_t *buf, size_t len, double fetch_ms)
{
    double t0 = now_us();
    Switchyard__Snapshot *pb = switchyard__snapshot__unpack(NULL, len, buf);
    double t1 = now_us();
    if (pb == NULL) {
        SY_ERROR("msg=\"bus snapshot corrupt; keeping the running snapshot\" bytes=%zu", len);
        dp_metrics_snapshot_rejected(DP_SNAP_REJ_CORRUPT);
        return;
    }
    uint64_t cur = dp_snapshot_current_version();
    if (pb->version <= cur) {
        if (pb->version < cur) {
            dp_metrics_snapshot_rejected(DP_SNAP_REJ_STALE);
            SY_WARN("msg=\"bus snapshot older than the running one; ignored\" version=%llu current=%llu",
                    (unsigned long long)pb->version, (unsigned long long)cur);
        }
        switchyard__snapshot__free_unpacked(pb, NULL);
        return;
    }
    char err[512];
    dp_snapshot_t *s = dp_snapshot_build(pb, err, sizeof(err));
    double t2 = now_us();
    uint64_t v = pb->version;
    switchyard__snapshot__free_unpacked(pb, NULL);
    double t3 = now_us();
    if (s == NULL) {
        SY_ERROR("msg=\"bus snapshot rejected; keeping the running snapshot\" version=%llu err=\"%s\"",
                 (unsigned long long)v, err);
        dp_metrics_snapshot_rejected(DP_SNAP_REJ_INVALID);
        return;
    }
    SY_INFO("msg=\"snapshot applied\" source=bus version=%llu models=%zu keys=%zu bytes=%zu fetch_ms=%.1f "
            "unpack_ms=%.1f build_ms=%.1f free_ms=%.1f",
            (unsigned long long)v, s->nmodels, s->nkeys, len, fetch_ms, (t1 - t0) / 1e3, (t2 - t1) / 1e3,
            (t3 - t2) / 1e3);
    dp_snapshot_publish(s);
    dp_metrics_snapshot_applied(DP_SNAP_SRC_BUS);
    dp_metrics_bus_update(0);
    dp_metrics_overlay_rows(0);
    dp_server_snapshot_changed();
    if (g.cache_dir != NULL) {
        if (dp_cache_write(g.cache_dir, buf, len, err, sizeof(err)) != 0)
            SY_ERROR("msg=\"snapshot cache not written\" version=%llu err=\"%s\"", (unsigned long long)v,
                     err);
        else
            SY_DEBUG("msg=\"snapshot cached\" version=%llu bytes=%zu", (unsigned long long)v, len);
    }
}

/* Sends one packed BusRequest (signed when `sign` and the bus is authenticated) on REQ socket
 * `sock` and returns the reply (caller frees), or NULL. */
static nng_msg *request(nng_socket sock, const Switchyard__BusRequest *br, int sign, const char *what)
{
    nng_msg *m = dp_bus_msg(br, sign ? g.signer : NULL);
    int rv;
    if (m == NULL) {
        SY_WARN("msg=\"bus %s not sent\" err=\"cannot build the message\"", what);
        return NULL;
    }
    if ((rv = nng_sendmsg(sock, m, 0)) != 0) {
        nng_msg_free(m);
        if (rv != NNG_ECLOSED)
            SY_DEBUG("msg=\"bus %s not sent\" err=\"%s\"", what, nng_strerror(rv));
        return NULL;
    }
    if ((rv = nng_recvmsg(sock, &m, 0)) != 0) {
        if (rv != NNG_ECLOSED)
            SY_WARN("msg=\"bus %s failed\" err=\"%s\"", what, nng_strerror(rv));
        return NULL;
    }
    return m;
}

dp_bus_notice_t dp_bus_parse_notice(const uint8_t *b, size_t len, uint64_t *version, const uint8_t **delta,
                                    size_t *dlen)
{
    if (len == 8) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = (v << 8) | b[i];
        *version = v;
        return DP_BUS_NOTICE_VERSION;
    }
    if (len > 8 && len <= DP_BUS_PUB_MAX && memcmp(b, "delta", 5) == 0) {
        *delta = b + 5;
        *dlen = len - 5;
        return DP_BUS_NOTICE_DELTA;
    }
    return DP_BUS_NOTICE_OTHER;
}

/* Applies a delta (the bytes after the "delta" prefix) on top of the snapshot in use: a fetch's
 * reply, or one pushed on PUB (`pushed`). DP_DELTA_OK applied; else refused (counted and logged
 * — a fetched one in switchyard_snapshot_deltas_refused_total, a pushed one in
 * switchyard_snapshot_bus_pushed_total): the caller fetches. */
static dp_delta_result_t apply_delta(const uint8_t *buf, size_t len, double fetch_ms, int pushed)
{
    dp_snapshot_t *cur = dp_snapshot_acquire();
    /* a fetched delta is only asked for on top of a version; a pushed one may come first */
    if (cur == NULL) {
        if (pushed)
            dp_metrics_bus_pushed(DP_DELTA_WRONG_BASE);
        else
            dp_metrics_delta_refused(DP_DELTA_WRONG_BASE);
        return DP_DELTA_WRONG_BASE;
    }
    uint64_t from = cur->version;
    dp_delta_result_t r = DP_DELTA_OK;
    char err[512];
    double t0 = now_us();
    dp_snapshot_t *s = dp_snapshot_apply_delta(cur, buf, len, &r, err, sizeof(err));
    double t1 = now_us();
    dp_snapshot_unref(cur);
    if (s == NULL) {
        if (!pushed) {
            dp_metrics_delta_refused(r);
            SY_WARN("msg=\"bus delta refused; fetching the whole snapshot\" from=%llu bytes=%zu err=\"%s\"",
                    (unsigned long long)from, len, err);
        } else if (r == DP_DELTA_WRONG_BASE) { /* this node missed a version, or already has this one */
            dp_metrics_bus_pushed(r);
            SY_DEBUG("msg=\"pushed delta not for this node's version\" from=%llu bytes=%zu err=\"%s\"",
                     (unsigned long long)from, len, err);
        } else {
            dp_metrics_bus_pushed(r);
            SY_WARN("msg=\"pushed delta refused; fetching\" from=%llu bytes=%zu err=\"%s\"",
                    (unsigned long long)from, len, err);
        }
        return r;
    }
    SY_INFO(
        "msg=\"snapshot applied\" source=bus kind=delta pushed=%d version=%llu from=%llu overlay_rows=%zu "
        "bytes=%zu fetch_ms=%.1f apply_ms=%.2f",
        pushed, (unsigned long long)s->version, (unsigned long long)from, s->noverlay, len, fetch_ms,
        (t1 - t0) / 1e3);
    if (pushed)
        dp_metrics_bus_pushed(DP_DELTA_OK);
    size_t rows = s->noverlay;
    dp_snapshot_ref(s); /* for the cache write below */
    dp_snapshot_publish(s);
    dp_metrics_snapshot_applied(DP_SNAP_SRC_BUS);
    dp_metrics_bus_update(1);
    dp_metrics_overlay_rows(rows);
    dp_server_snapshot_changed();
    /* the cache keeps the whole snapshot it has and the deltas over it, merged (dp_cache.h) */
    if (g.cache_dir != NULL &&
        dp_cache_write_delta(g.cache_dir, s->merged, s->merged_len, err, sizeof(err)) != 0)
        SY_ERROR("msg=\"snapshot cache delta not written\" version=%llu err=\"%s\"",
                 (unsigned long long)s->version, err);
    dp_snapshot_unref(s);
    return DP_DELTA_OK;
}

/* Fetches and applies what is new: a delta when `delta_ok` and the control plane has one from the
 * version in use, else the whole snapshot. Returns 1 when a delta was refused (fetch again with
 * delta_ok 0). */
static int fetch(int delta_ok)
{
    Switchyard__FetchSnapshot f = SWITCHYARD__FETCH_SNAPSHOT__INIT;
    dp_snapshot_t *cur = dp_snapshot_acquire(); /* the bus thread is the only publisher: stays current */
    if (cur != NULL) {
        f.have_version = cur->version;
        f.have_created_at_ms = cur->created_at_ms;
        dp_snapshot_unref(cur);
    }
    f.delta_ok = delta_ok && f.have_version != 0;
    Switchyard__BusRequest br = SWITCHYARD__BUS_REQUEST__INIT;
    br.kind_case = SWITCHYARD__BUS_REQUEST__KIND_FETCH;
    br.fetch = &f;
    double t0 = now_us();
    nng_msg *m = request(g.req, &br, 0, "snapshot fetch");
    if (m == NULL)
        return 0;
    const uint8_t *body = nng_msg_body(m);
    size_t len = nng_msg_len(m);
    int rc = 0;
    /* the safety-net fetch of a node that is current costs nine bytes, not the table */
    if (len == 9 && memcmp(body, "unchanged", 9) == 0) {
        nng_msg_free(m);
        return 0;
    }
    if (len >= 5 && memcmp(body, "delta", 5) == 0)
        rc = f.delta_ok ? apply_delta(body + 5, len - 5, (now_us() - t0) / 1e3, 0) != DP_DELTA_OK : 1;
    else
        apply(body, len, (now_us() - t0) / 1e3);
    nng_msg_free(m);
    return rc;
}

/* Tells the control plane this node is alive and which version it serves. Returns that version. */
static uint64_t heartbeat(void)
{
    Switchyard__Heartbeat hb = SWITCHYARD__HEARTBEAT__INIT;
    hb.node_id = (char *)g.node_id;
    hb.build = (char *)DP_BUS_BUILD;
    hb.snapshot_version = dp_snapshot_current_version();
    hb.load = 0;    /* in-flight counts live in the loop threads; not reported yet */
    hb.push_ok = 1; /* applies pushed deltas, receives PUB messages up to DP_BUS_PUB_MAX */
    Switchyard__BusRequest br = SWITCHYARD__BUS_REQUEST__INIT;
    br.kind_case = SWITCHYARD__BUS_REQUEST__KIND_HEARTBEAT;
    br.heartbeat = &hb;
    nng_msg *m = request(g.hb, &br, 1, "heartbeat");
    if (m != NULL) {
        if (nng_msg_len(m) != 2 || memcmp(nng_msg_body(m), "ok", 2) != 0)
            SY_DEBUG("msg=\"bus heartbeat not acknowledged\" bytes=%zu", nng_msg_len(m));
        nng_msg_free(m);
    }
    return hb.snapshot_version;
}

static void *bus_main(void *arg)
{
    (void)arg;
    uint64_t last_fetch = 0;
    int want = 1; /* fetch on start */
    while (!atomic_load(&g.stop)) {
        dp_snapshot_reap(); /* snapshots the loops let go of are freed here, not on a loop */
        uint64_t t = now_ms();
        if (want || t - last_fetch >= DP_BUS_SAFETY_MS) {
            if (fetch(1) != 0 && !atomic_load(&g.stop))
                fetch(0); /* the delta was refused: the whole snapshot, which becomes the new base */
            last_fetch = now_ms();
            want = 0;
        }
        nng_msg *m = NULL;
        int rv = nng_recvmsg(g.sub, &m, 0);
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0) {
            if (rv != NNG_ETIMEDOUT)
                SY_WARN("msg=\"bus notice receive failed\" err=\"%s\"", nng_strerror(rv));
            continue;
        }
        uint64_t v = 0;
        const uint8_t *d = NULL;
        size_t dlen = 0;
        switch (dp_bus_parse_notice(nng_msg_body(m), nng_msg_len(m), &v, &d, &dlen)) {
        case DP_BUS_NOTICE_VERSION:
            if (v > dp_snapshot_current_version())
                want = 1;
            break;
        case DP_BUS_NOTICE_DELTA: {
            /* applied on the exact base only; another base waits for the plain notice that follows
             * (it says whether this node is behind), anything else refused is fetched now */
            dp_delta_result_t r = apply_delta(d, dlen, 0, 1);
            if (r != DP_DELTA_OK && r != DP_DELTA_WRONG_BASE)
                want = 1;
            else if (r == DP_DELTA_WRONG_BASE && dp_snapshot_current_version() == 0)
                want = 1;
            break;
        }
        default:
            SY_DEBUG("msg=\"bus notice of unexpected form ignored\" bytes=%zu", nng_msg_len(m));
        }
        nng_msg_free(m);
    }
    return NULL;
}

/* The heartbeat thread: every second, and within DP_BUS_HB_TICK_MS of a change of the served
 * version. Its own socket and thread, so a node whose bus thread waits on a slow fetch (a whole
 * snapshot of 100,000 keys to 50 nodes at once) or applies one still counts as live: a node that
 * goes quiet drops out of the live-node count, a versioned write every node follows — with the
 * heartbeats behind the fetches that was a loop (tests/bench/fleet_scale.mjs: the count flapped
 * 50 -> 8 -> 32 -> 50 after a 100,000-key import and each flap sent the whole table again). */
static void *hb_main(void *arg)
{
    (void)arg;
    uint64_t last_hb = 0, hb_version = UINT64_MAX;
    while (!atomic_load(&g.stop)) {
        uint64_t t = now_ms();
        if (t - last_hb >= DP_BUS_HEARTBEAT_MS || dp_snapshot_current_version() != hb_version) {
            hb_version = heartbeat();
            last_hb = now_ms();
            continue;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = DP_BUS_HB_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int dp_bus_start(const char *sub_url, const char *req_url, const char *cache_dir, const char *node_id,
                 char *err, size_t errlen)
{
    int rv;
    g.cache_dir = cache_dir;
    g.node_id = node_id;
    const char *what = "sub open";
    if ((rv = nng_sub0_open(&g.sub)) != 0)
        goto fail;
    what = "req open";
    if ((rv = nng_req0_open(&g.req)) != 0) {
        nng_close(g.sub);
        goto fail;
    }
    if ((rv = nng_req0_open(&g.hb)) != 0) {
        nng_close(g.sub);
        nng_close(g.req);
        goto fail;
    }
    what = "socket options";
    if ((rv = nng_socket_set(g.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rv = nng_socket_set_size(g.sub, NNG_OPT_RECVMAXSZ, DP_BUS_PUB_MAX)) != 0 ||
        (rv = nng_socket_set_ms(g.sub, NNG_OPT_RECVTIMEO, DP_BUS_SUB_TIMEOUT_MS)) != 0 ||
        (rv = nng_socket_set_size(g.req, NNG_OPT_RECVMAXSZ, DP_BUS_SNAPSHOT_MAX)) != 0 ||
        (rv = nng_socket_set_ms(g.req, NNG_OPT_RECVTIMEO, DP_BUS_REQ_TIMEOUT_MS)) != 0 ||
        (rv = nng_socket_set_ms(g.req, NNG_OPT_SENDTIMEO, DP_BUS_SUB_TIMEOUT_MS)) != 0 ||
        (rv = nng_socket_set_size(g.hb, NNG_OPT_RECVMAXSZ, 4096)) != 0 ||
        (rv = nng_socket_set_ms(g.hb, NNG_OPT_RECVTIMEO, DP_BUS_REQ_TIMEOUT_MS)) != 0 ||
        (rv = nng_socket_set_ms(g.hb, NNG_OPT_SENDTIMEO, DP_BUS_SUB_TIMEOUT_MS)) != 0)
        goto fail_both;
    if (sy_busauth_dial(g.sub, sub_url, g.tls, err, errlen) != 0 ||
        sy_busauth_dial(g.req, req_url, g.tls, err, errlen) != 0 ||
        sy_busauth_dial(g.hb, req_url, g.tls, err, errlen) != 0) {
        nng_close(g.sub);
        nng_close(g.req);
        nng_close(g.hb);
        return -1;
    }
    atomic_store(&g.stop, 0);
    dp_snapshot_set_reaper(1);
    if ((rv = pthread_create(&g.tid, NULL, bus_main, NULL)) != 0) {
        dp_snapshot_set_reaper(0);
        nng_close(g.sub);
        nng_close(g.req);
        nng_close(g.hb);
        return sy_errf(err, errlen, "bus thread: %s", strerror(rv));
    }
    if ((rv = pthread_create(&g.hb_tid, NULL, hb_main, NULL)) != 0) {
        atomic_store(&g.stop, 1);
        pthread_join(g.tid, NULL);
        dp_snapshot_set_reaper(0);
        nng_close(g.sub);
        nng_close(g.req);
        nng_close(g.hb);
        return sy_errf(err, errlen, "bus heartbeat thread: %s", strerror(rv));
    }
    atomic_store(&g.running, 1);
    SY_INFO("msg=\"following the control plane\" sub=%s req=%s node=%s auth=%s", sub_url, req_url, node_id,
            g.tls ? "mtls+signed" : "none");
    return 0;
fail_both:
    nng_close(g.sub);
    nng_close(g.req);
    nng_close(g.hb);
fail:
    return sy_errf(err, errlen, "bus %s: %s", what, nng_strerror(rv));
}

typedef struct {
    nng_socket s[4];
    size_t n;
} closer_arg_t;

static atomic_int nng_wedged;

static void *closer_main(void *arg)
{
    closer_arg_t *a = arg;
    for (size_t i = 0; i < a->n; i++)
        nng_close(a->s[i]);
    free(a);
    return NULL;
}

int dp_nng_close_bounded(const nng_socket *socks, size_t n, unsigned timeout_ms, const char *what)
{
    closer_arg_t *a = calloc(1, sizeof(*a));
    pthread_t t;
    if (a == NULL || n > 4)
        return -1;
    memcpy(a->s, socks, n * sizeof(*socks));
    a->n = n;
    if (pthread_create(&t, NULL, closer_main, a) != 0) {
        closer_main(a);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (!atomic_load(&nng_wedged)) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    if (pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &until) != 0) {
        if (!atomic_exchange(&nng_wedged, 1))
            SY_WARN("msg=\"nng sockets did not close in time; stopping without them\" what=%s timeout_ms=%u",
                    what, timeout_ms);
        pthread_detach(t);
        return -1;
    }
    return 0;
}

void dp_bus_stop(void)
{
    if (!atomic_load(&g.running))
        return;
    /* The thread sees the flag within one receive timeout (100 ms on the notice socket, at
     * most DP_BUS_REQ_TIMEOUT_MS inside a request) and the sockets are closed after it is
     * gone: nng 1.5 can deadlock in nng_close of a REQ socket while another thread waits in
     * nng_recvmsg on it (nanomsg/nng#1813; seen here as a node that never exited on SIGTERM). */
    atomic_store(&g.stop, 1);
    pthread_join(g.tid, NULL);
    pthread_join(g.hb_tid, NULL);
    nng_socket socks[3] = {g.sub, g.req, g.hb};
    dp_nng_close_bounded(socks, 3, 2000, "bus");
    atomic_store(&g.running, 0);
    dp_snapshot_set_reaper(0);
    dp_snapshot_reap();
}
