/*
 * switchyard-dp: parses options and wires the modules. Nothing else lives here.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp.h"
#include "dp_authfail.h"
#include "dp_bus.h"
#include "dp_cache.h"
#include "dp_config.h"
#include "dp_server.h"
#include "dp_usage.h"
#include "sy_arena.h"
#include "sy_log.h"
#include "sy_util.h"

static const char *config_path;
static uint64_t config_version;
static const char *cp_sub_url, *cp_req_url, *cache_dir, *node_id, *spool_dir;
static size_t spool_mem_max;
static uint32_t auth_fail_limit = DP_AUTHFAIL_DEFAULT_LIMIT, auth_fail_window = DP_AUTHFAIL_DEFAULT_WINDOW_S;
static char default_spool_dir[4096];
static const char *classifier_path = SY_DEFAULT_CLASSIFIER;
static char default_node_id[320];
/* Bus authentication (--control-plane-tls-*): loaded once in main, freed at its end. */
static const char *bus_tls_ca, *bus_tls_cert, *bus_tls_key;
static sy_busauth_tls_t *bus_tls;
static sy_busauth_signer_t *bus_signer;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: switchyard-dp --config FILE [options]\n"
            "       switchyard-dp --control-plane-sub URL --control-plane-req URL [--config FILE] [options]\n"
            "  --config FILE       catalog, providers and keys (docs/config.md)\n"
            "  --control-plane-sub URL  nng SUB address of the control plane's version notices\n"
            "  --control-plane-req URL  nng REQ address of its snapshot service (both or neither)\n"
            "  --node-id ID        bus mode: this node's id in heartbeats (default hostname:pid, or the\n"
            "                      certificate's CN on an authenticated bus, where it must be that CN)\n"
            "  --control-plane-tls-ca FILE  authenticated bus (docs/controlplane.md): the fleet CA(s),\n"
            "                      PEM; with -cert and -key (all three or none), the URLs are tls+tcp://\n"
            "  --control-plane-tls-cert FILE  this node's certificate (CN = node id), PEM\n"
            "  --control-plane-tls-key FILE   its private key, PEM (mode 0600)\n"
            "  --cache-dir DIR     bus mode: keep the last snapshot in DIR/snapshot.pb and boot from it\n"
            "                      when the control plane is unreachable\n"
            "  --spool-dir DIR     bus mode: usage records spooled here until the control plane\n"
            "                      acknowledges them (default CACHE-DIR/spool; neither: memory only)\n"
            "  --spool-mem-max N   usage records held in memory when the spool cannot be written;\n"
            "                      past N new /v1 requests get 503 not_ready (default 10000)\n"
            "  --listen HOST:PORT  listen address (default 127.0.0.1:8080; port 0 = any free port)\n"
            "  --threads N         event-loop threads (default: number of cores)\n"
            "  --tls-cert FILE     serve HTTPS with this certificate chain (PEM)\n"
            "  --tls-key FILE      ... and this private key (PEM)\n"
            "  --drain-ms N        graceful-shutdown deadline for in-flight streams (default 10000)\n"
            "  --auth-fail-limit N wrong API keys a client (IPv4 address, IPv6 /64) may present per window\n"
            "                      and loop thread before further wrong keys get 429 (default 20; 0 = off)\n"
            "  --auth-fail-window S  that window, seconds (default 10)\n"
            "  --port-file FILE    write the bound port here once listening\n"
            "  --log-level LEVEL   debug|info|warn|error|off (default info; info logs one line per request)\n"
            "  --classifier FILE   the router's prompt classifier (default " SY_DEFAULT_CLASSIFIER ");\n"
            "                      'none' routes every prompt as chat/medium\n"
            "  --check             validate the config file and exit\n");
}

/* Called on SIGHUP from the signal-waiting thread: a bad file leaves the running snapshot. */
static void reload(void)
{
    char err[512];
    if (cp_sub_url != NULL) {
        SY_WARN("msg=\"SIGHUP ignored: snapshots come from the control plane\"");
        return;
    }
    dp_snapshot_t *s = dp_config_load(config_path, config_version + 1, err, sizeof(err));
    if (s == NULL) {
        SY_ERROR("msg=\"config reload rejected; keeping the running snapshot\" file=%s err=\"%s\"",
                 config_path, err);
        dp_metrics_snapshot_rejected(DP_SNAP_REJ_INVALID);
        return;
    }
    config_version++;
    dp_snapshot_publish(s);
    dp_metrics_snapshot_applied(DP_SNAP_SRC_FILE);
    SY_INFO("msg=\"config reloaded\" version=%llu models=%zu keys=%zu", (unsigned long long)config_version,
            s->nmodels, s->nkeys);
}

static void bus_start(void)
{
    char err[512];
    if (dp_bus_start(cp_sub_url, cp_req_url, cache_dir, node_id, err, sizeof(err)) != 0)
        SY_ERROR("msg=\"cannot follow the control plane\" err=\"%s\"", err);
}

static int parse_listen(const char *s, dp_server_opts_t *o)
{
    static char host[256];
    if (sy_parse_hostport(s, host, sizeof(host), &o->port) != 0)
        return -1;
    o->host = host;
    return 0;
}

int main(int argc, char **argv)
{
    dp_server_opts_t o = {.host = "127.0.0.1", .port = 8080, .threads = 0, .drain_ms = 10000};
    int check_only = 0;
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"tls-cert", required_argument, NULL, 'C'},
                                             {"tls-key", required_argument, NULL, 'K'},
                                             {"drain-ms", required_argument, NULL, 'd'},
                                             {"port-file", required_argument, NULL, 'p'},
                                             {"log-level", required_argument, NULL, 'L'},
                                             {"check", no_argument, NULL, 'x'},
                                             {"control-plane-sub", required_argument, NULL, 'S'},
                                             {"control-plane-req", required_argument, NULL, 'R'},
                                             {"cache-dir", required_argument, NULL, 'D'},
                                             {"node-id", required_argument, NULL, 'N'},
                                             {"control-plane-tls-ca", required_argument, NULL, 'a'},
                                             {"control-plane-tls-cert", required_argument, NULL, 'e'},
                                             {"control-plane-tls-key", required_argument, NULL, 'k'},
                                             {"classifier", required_argument, NULL, 'M'},
                                             {"spool-dir", required_argument, NULL, 'U'},
                                             {"spool-mem-max", required_argument, NULL, 'X'},
                                             {"auth-fail-limit", required_argument, NULL, 'F'},
                                             {"auth-fail-window", required_argument, NULL, 'W'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:l:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            if (parse_listen(optarg, &o) != 0) {
                fprintf(stderr, "switchyard-dp: bad --listen '%s' (want HOST:PORT)\n", optarg);
                return 2;
            }
            break;
        case 't':
            o.threads = (size_t)strtoul(optarg, NULL, 10);
            break;
        case 'C':
            o.tls_cert = optarg;
            break;
        case 'K':
            o.tls_key = optarg;
            break;
        case 'd':
            o.drain_ms = strtoull(optarg, NULL, 10);
            break;
        case 'p':
            o.port_file = optarg;
            break;
        case 'L': {
            sy_log_level_t lvl;
            if (sy_log_parse_level(optarg, &lvl) != 0) {
                fprintf(stderr, "switchyard-dp: bad --log-level '%s'\n", optarg);
                return 2;
            }
            sy_log_set_level(lvl);
            break;
        }
        case 'x':
            check_only = 1;
            break;
        case 'S':
            cp_sub_url = optarg;
            break;
        case 'R':
            cp_req_url = optarg;
            break;
        case 'D':
            cache_dir = optarg;
            break;
        case 'N':
            node_id = optarg;
            break;
        case 'a':
            bus_tls_ca = optarg;
            break;
        case 'e':
            bus_tls_cert = optarg;
            break;
        case 'k':
            bus_tls_key = optarg;
            break;
        case 'M':
            classifier_path = optarg;
            break;
        case 'U':
            spool_dir = optarg;
            break;
        case 'X':
            spool_mem_max = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 'F':
        case 'W': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
                v > (ch == 'F' ? 1000000000ull : 86400ull) || (ch == 'W' && v == 0)) {
                fprintf(stderr, "switchyard-dp: bad --auth-fail-%s '%s' (%s)\n",
                        ch == 'F' ? "limit" : "window", optarg,
                        ch == 'F' ? "0..1000000000" : "1..86400 seconds");
                return 2;
            }
            if (ch == 'F')
                auth_fail_limit = (uint32_t)v;
            else
                auth_fail_window = (uint32_t)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    dp_authfail_configure(auth_fail_limit, auth_fail_window);
    if (spool_dir != NULL && cp_sub_url == NULL) {
        fprintf(stderr, "switchyard-dp: --spool-dir needs the control plane (--control-plane-sub/-req)\n");
        return 2;
    }
    if ((cp_sub_url == NULL) != (cp_req_url == NULL) || (config_path == NULL && cp_sub_url == NULL) ||
        (check_only && config_path == NULL) || (o.tls_cert == NULL) != (o.tls_key == NULL)) {
        usage(stderr);
        return 2;
    }
    int tls_n = (bus_tls_ca != NULL) + (bus_tls_cert != NULL) + (bus_tls_key != NULL);
    if ((tls_n != 0 && tls_n != 3) || (tls_n != 0 && cp_sub_url == NULL)) {
        fprintf(stderr,
                "switchyard-dp: --control-plane-tls-ca/-cert/-key go together, with the control plane\n");
        return 2;
    }
    if (tls_n == 3) {
        char aerr[512];
        if (sy_busauth_tls_load(0, bus_tls_ca, bus_tls_cert, bus_tls_key, &bus_tls, aerr, sizeof(aerr)) !=
                0 ||
            sy_busauth_signer_load(bus_tls_cert, bus_tls_key, &bus_signer, aerr, sizeof(aerr)) != 0) {
            fprintf(stderr, "switchyard-dp: bus credentials: %s\n", aerr);
            return 1;
        }
        if (node_id == NULL)
            node_id = sy_busauth_signer_cn(bus_signer);
        else if (strcmp(node_id, sy_busauth_signer_cn(bus_signer)) != 0) {
            fprintf(stderr, "switchyard-dp: --node-id %s is not the certificate's CN (%s)\n", node_id,
                    sy_busauth_signer_cn(bus_signer));
            return 2;
        }
        dp_bus_set_auth(bus_tls, bus_signer);
    } else if (cp_sub_url != NULL) {
        SY_WARN("msg=\"bus is not authenticated: any local process can read snapshots and post usage\" "
                "sub=%s req=%s",
                cp_sub_url, cp_req_url);
    }
    if (node_id == NULL) {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "dp");
        host[sizeof(host) - 1] = '\0';
        snprintf(default_node_id, sizeof(default_node_id), "%s:%ld", host, (long)getpid());
        node_id = default_node_id;
    }
    dp_rt.node_id = node_id;
    dp_snapshot_set_node_id(node_id); /* before any snapshot is built: its balance shares are per node */
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (size_t)n : 1;
    }
    if (o.threads > 256)
        o.threads = 256;

    char err[512];
    dp_snapshot_t *s = NULL;
    if (config_path != NULL) {
        s = dp_config_load(config_path, ++config_version, err, sizeof(err));
        if (s == NULL) {
            fprintf(stderr, "switchyard-dp: %s\n", err);
            return 1;
        }
    }
    dp_snap_src_t start_src = DP_SNAP_SRC_FILE; /* counted once s is actually published */
    /* Bus mode: serve the cached snapshot (if any, and newer than the config file's) until the
     * control plane answers; the bus then applies only newer ones. Corrupt: logged, ignored. */
    if (cp_sub_url != NULL && cache_dir != NULL && !check_only) {
        if (dp_cache_prepare(cache_dir, err, sizeof(err)) != 0) {
            fprintf(stderr, "switchyard-dp: --cache-dir %s\n", err);
            dp_snapshot_unref(s);
            return 1;
        }
        dp_snapshot_t *c = NULL;
        int lr = dp_cache_load(cache_dir, &c, err, sizeof(err));
        if (lr < 0) {
            int corrupt = lr == DP_CACHE_CORRUPT;
            dp_metrics_snapshot_rejected(corrupt ? DP_SNAP_REJ_CORRUPT : DP_SNAP_REJ_INVALID);
            SY_ERROR("msg=\"snapshot cache rejected; %s\" dir=%s reason=%s err=\"%s\"",
                     s != NULL ? "serving the config file until the control plane answers"
                               : "waiting for the control plane",
                     cache_dir, corrupt ? "corrupt" : "invalid", err);
        } else if (lr == 0) {
            SY_INFO("msg=\"no cached snapshot; waiting for the control plane\" dir=%s", cache_dir);
        } else if (s != NULL && c->version <= s->version) {
            SY_WARN("msg=\"cached snapshot not newer than the config file; ignored\" version=%llu",
                    (unsigned long long)c->version);
            dp_metrics_snapshot_rejected(DP_SNAP_REJ_STALE);
            dp_snapshot_unref(c);
        } else {
            SY_INFO("msg=\"snapshot applied\" source=cache version=%llu models=%zu keys=%zu",
                    (unsigned long long)c->version, c->nmodels, c->nkeys);
            if (s != NULL)
                dp_snapshot_unref(s);
            s = c;
            start_src = DP_SNAP_SRC_CACHE;
        }
    }
    if (check_only) {
        printf("ok: %zu providers, %zu models, %zu workspaces, %zu keys\n", s->nproviders, s->nmodels,
               s->nworkspaces, s->nkeys);
        dp_snapshot_unref(s);
        return 0;
    }
    /* h2o's entity cap: the snapshot's body limit (+1, dp_server.c), following every new
     * snapshot. Over it h2o answers 413 at once without reading the body, and the connection
     * gets a lingering close so that a client still sending reads the answer. Without a
     * snapshot yet (bus mode, no cache) the default limit applies until the first arrives. */
    o.max_body_bytes = (size_t)(s != NULL ? s->limits.max_body_bytes : 4u << 20) + 1;
    dp_rt.drain_ms = o.drain_ms;
    if (s != NULL) {
        dp_snapshot_publish(s);
        dp_metrics_snapshot_applied(start_src);
    }
    if (cp_sub_url != NULL) {
        o.on_ready = bus_start;
        o.on_stop = dp_bus_stop;
    }

    dp_classify_model_t *classifier = NULL;
    if (strcmp(classifier_path, "none") != 0) {
        char cerr[256];
        if (dp_classify_model_load(classifier_path, &classifier, cerr, sizeof(cerr)) != 0) {
            /* routing still works (every prompt is chat/medium); say so loudly */
            SY_WARN("msg=\"classifier not loaded; auto routing treats every prompt as chat/medium\" file=%s err=\"%s\"",
                    classifier_path, cerr);
        } else {
            dp_router_classifier = classifier;
        }
    }
    /* From here on threads are created (nng's own, inside dp_usage_start; the loops; the bus), and
     * each inherits this mask: SIGHUP/SIGTERM/SIGINT are taken by the main thread alone, with
     * sigwait (dp_server_run). A thread that left them unblocked would be handed a second SIGTERM
     * (or a SIGHUP) during the drain — when the main thread no longer waits for one — and its
     * default action would kill the node mid-drain. A signal that arrives before the sigwait stays
     * pending and is taken there. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGHUP);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    sy_json_hooks_install();
    /* Usage records (bus mode): the spooler starts before the loops and stops after they are
     * all joined, so every attempt's record — drain included — reaches it. */
    if (cp_sub_url != NULL) {
        if (spool_dir == NULL && cache_dir != NULL) {
            snprintf(default_spool_dir, sizeof(default_spool_dir), "%s/spool", cache_dir);
            spool_dir = default_spool_dir;
        }
        dp_usage_opts_t uo = {.req_url = cp_req_url,
                              .dir = spool_dir,
                              .node_id = node_id,
                              .mem_max = spool_mem_max,
                              .rings = o.threads,
                              .tls = bus_tls,
                              .signer = bus_signer};
        if (dp_usage_start(&uo, err, sizeof(err)) != 0) {
            fprintf(stderr, "switchyard-dp: usage spool: %s\n", err);
            dp_snapshot_publish(NULL);
            dp_classify_model_free(classifier);
            return 1;
        }
    }
    int rc = dp_server_run(&o, reload);
    dp_usage_stop();
    dp_snapshot_publish(NULL);
    dp_router_classifier = NULL;
    dp_classify_model_free(classifier);
    sy_busauth_signer_free(bus_signer);
    sy_busauth_tls_free(bus_tls);
    return rc == 0 ? 0 : 1;
}
