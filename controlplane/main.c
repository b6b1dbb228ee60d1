/*
 * switchyard-cp: parses options and wires the modules (store, catalog, bus, probes, admin API).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cp_api.h"
#include "cp_bus.h"
#include "cp_catalog.h"
#include "cp_check.h"
#include "cp_probe.h"
#include "cp_store.h"
#include "sy_log.h"
#include "sy_util.h"

/* --check-db: 0 clean, 1 problems or the database cannot be opened/checked. */
static int check_db(const char *path)
{
    char err[512];
    cp_store_t *store;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) { /* never create an empty one to check */
        fprintf(stderr, "switchyard-cp: %s: no such database file\n", path);
        return 1;
    }
    /* nor take an empty (truncated) file for one: SQLite would open it as an empty database, the
     * migrations would fill it, and the check — and a --restore of it — would pass */
    static const char magic[16] = "SQLite format 3";
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f != NULL ? fread(head, 1, sizeof(head), f) : 0;
    if (f != NULL)
        fclose(f);
    if (got != sizeof(head) || memcmp(head, magic, sizeof(head)) != 0) {
        fprintf(stderr, "switchyard-cp: %s: not an SQLite database\n", path);
        return 1;
    }
    if (cp_store_open(path, &store, err, sizeof(err)) != 0) {
        fprintf(stderr, "switchyard-cp: cannot open %s: %s\n", path, err);
        return 1;
    }
    int rc = cp_check_db(store, stdout, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "switchyard-cp: check of %s failed: %s\n", path, err);
    cp_store_close(store);
    return rc == 0 ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: switchyard-cp --db FILE --catalog FILE [options]\n"
            "       switchyard-cp --check-db FILE\n"
            "  --db FILE           SQLite database (created if missing)\n"
            "  --catalog FILE      catalog file (docs/config.md): imported at start into a database that\n"
            "                      has none; later starts apply nothing (the database is the catalog)\n"
            "                      and warn when the file differs from the last import\n"
            "  --import-catalog[=force]  import FILE at start anyway; refuses (exit 1) when it would\n"
            "                      overwrite fields edited through the admin API, unless =force\n"
            "  --listen HOST:PORT  admin API address (default 127.0.0.1:8081; port 0 = any free port)\n"
            "  --port-file FILE    write the bound port here once listening\n"
            "  --log-level LEVEL   debug|info|warn|error|off (default info)\n"
            "  --bus-pub URL       nng PUB address for version notices (e.g. tcp://127.0.0.1:7001)\n"
            "  --bus-rep URL       nng REP address serving the packed snapshot (both or neither)\n"
            "  --bus-tls-ca FILE   authenticate the bus (docs/controlplane.md): the fleet CA(s), PEM;\n"
            "                      with --bus-tls-cert/--bus-tls-key (all three or none) both bus\n"
            "                      URLs must be tls+tcp://, nodes need a certificate from this CA,\n"
            "                      and heartbeats/usage must be signed by the node they name\n"
            "  --bus-tls-cert FILE the control plane's certificate (CN switchyard-cp), PEM\n"
            "  --bus-tls-key FILE  its private key, PEM (keep it mode 0600)\n"
            "  --balance-refresh-ms N  how often usage-driven balance changes reach the fleet\n"
            "                      (default 5000; a balance or key budget running out is immediate)\n"
            "  --bus-no-push       publish plain version notices only, never a delta on PUB (by\n"
            "                      default the delta to a new version, <= 64 KiB, is pushed too)\n"
            "  --bus-drop-notices  FOR TESTS ONLY: publish no version notices (neither after writes\n"
            "                      nor the periodic republish); nodes converge by their own fetch\n"
            "  --probe-rise N      consecutive successful probes from degraded to healthy (default 2)\n"
            "  --probe-fall N      consecutive failed probes to down (default 3)\n"
            "  --backup FILE       copy the --db database into FILE with SQLite's online backup API (safe\n"
            "                      while the control plane runs), check the copy like --check-db, exit\n"
            "  --restore FILE      put the backup FILE (checked like --check-db first) in place of the\n"
            "                      --db database — the control plane must be stopped — and raise its\n"
            "                      snapshot version above any the fleet was served, so nodes take the\n"
            "                      restored state; exit\n"
            "  --check-db FILE     open FILE (applying migrations), run PRAGMA integrity_check and\n"
            "                      foreign_key_check, print 'integrity ok' or the problems; exit 0\n"
            "                      when clean, 1 otherwise (the API is not started)\n"
            "  --stripe-api-base URL  Stripe API base for checkout sessions (default $STRIPE_API_BASE,\n"
            "                      else https://api.stripe.com; tests point it at a local fake)\n"
            "  --stripe-timeout-ms N  bound on the (blocking) checkout call, 100..30000 (default 10000)\n"
            "  --signup MODE       dashboard sign-up: open (anyone may create an account and a workspace)\n"
            "                      or invite (only with an owner's invitation; the default)\n"
            "  --session-ttl-s N   dashboard session lifetime, 1..2592000 seconds (default 43200: 12 h)\n"
            "  --public-api-url URL  the data plane's base URL as users reach it (e.g.\n"
            "                      https://llm.example.com/v1), shown by the dashboard (GET /api/config)\n"
            "  --web-dir DIR       serve the dashboard's pages from DIR (index.html, assets/); read once\n"
            "                      at start (default: none, pages answer 404)\n"
            "  --cookie-secure     mark the session cookie Secure (set it when users reach this port\n"
            "                      through HTTPS, e.g. behind a TLS proxy)\n"
            "environment: SWITCHYARD_OPERATOR_TOKEN (required) is the bearer token for /api/*;\n"
            "  STRIPE_WEBHOOK_SECRET (whsec_...) enables POST /stripe/webhook; STRIPE_SECRET_KEY\n"
            "  enables POST /api/workspaces/{id}/checkout (docs/billing.md). Secrets are never logged.\n");
}

int main(int argc, char **argv)
{
    static char host[256] = "127.0.0.1";
    cp_api_opts_t o = {.host = host, .port = 8081, .max_body_bytes = 64 * 1024};
    const char *db = NULL, *catalog = NULL, *bus_pub = NULL, *bus_rep = NULL, *check = NULL, *backup = NULL,
               *restore = NULL;
    const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
    int drop_notices = 0, import_catalog = 0, import_force = 0;
    cp_probe_opts_t probe = {.rise = 2, .fall = 3};
    cp_store_global_init();
    static const struct option longopts[] = {{"db", required_argument, NULL, 'd'},
                                             {"catalog", required_argument, NULL, 'c'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"port-file", required_argument, NULL, 'p'},
                                             {"log-level", required_argument, NULL, 'L'},
                                             {"bus-pub", required_argument, NULL, 'P'},
                                             {"bus-rep", required_argument, NULL, 'R'},
                                             {"bus-drop-notices", no_argument, NULL, 'N'},
                                             {"bus-no-push", no_argument, NULL, 'u'},
                                             {"balance-refresh-ms", required_argument, NULL, 'B'},
                                             {"bus-tls-ca", required_argument, NULL, 'a'},
                                             {"bus-tls-cert", required_argument, NULL, 'e'},
                                             {"bus-tls-key", required_argument, NULL, 'k'},
                                             {"check-db", required_argument, NULL, 'C'},
                                             {"backup", required_argument, NULL, 'K'},
                                             {"restore", required_argument, NULL, 'O'},
                                             {"probe-rise", required_argument, NULL, 'r'},
                                             {"probe-fall", required_argument, NULL, 'f'},
                                             {"stripe-api-base", required_argument, NULL, 'S'},
                                             {"stripe-timeout-ms", required_argument, NULL, 'T'},
                                             {"import-catalog", optional_argument, NULL, 'I'},
                                             {"signup", required_argument, NULL, 'U'},
                                             {"session-ttl-s", required_argument, NULL, 'Z'},
                                             {"cookie-secure", no_argument, NULL, 'Y'},
                                             {"web-dir", required_argument, NULL, 'W'},
                                             {"public-api-url", required_argument, NULL, 'V'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "d:c:l:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            db = optarg;
            break;
        case 'c':
            catalog = optarg;
            break;
        case 'l':
            if (sy_parse_hostport(optarg, host, sizeof(host), &o.port) != 0) {
                fprintf(stderr, "switchyard-cp: bad --listen address '%s'\n", optarg);
                return 2;
            }
            break;
        case 'p':
            o.port_file = optarg;
            break;
        case 'L': {
            sy_log_level_t lvl;
            if (sy_log_parse_level(optarg, &lvl) != 0) {
                fprintf(stderr, "switchyard-cp: bad --log-level '%s'\n", optarg);
                return 2;
            }
            sy_log_set_level(lvl);
            break;
        }
        case 'P':
            bus_pub = optarg;
            break;
        case 'R':
            bus_rep = optarg;
            break;
        case 'N':
            drop_notices = 1;
            break;
        case 'u':
            cp_bus_set_push(0);
            break;
        case 'B': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 100 || v > 3600000) {
                fprintf(stderr, "switchyard-cp: --balance-refresh-ms must be 100..3600000\n");
                return 2;
            }
            cp_bus_set_balance_refresh_ms((uint32_t)v);
            break;
        }
        case 'C':
            check = optarg;
            break;
        case 'K':
            backup = optarg;
            break;
        case 'O':
            restore = optarg;
            break;
        case 'r':
        case 'f': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 100) {
                fprintf(stderr, "switchyard-cp: --probe-%s must be 1..100\n", ch == 'r' ? "rise" : "fall");
                return 2;
            }
            *(ch == 'r' ? &probe.rise : &probe.fall) = (unsigned)v;
            break;
        }
        case 'S':
            if (strncmp(optarg, "https://", 8) != 0 && strncmp(optarg, "http://", 7) != 0) {
                fprintf(stderr, "switchyard-cp: --stripe-api-base must be an http(s) URL\n");
                return 2;
            }
            o.stripe_api_base = optarg;
            break;
        case 'T': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 100 || v > 30000) {
                fprintf(stderr, "switchyard-cp: --stripe-timeout-ms must be 100..30000\n");
                return 2;
            }
            o.stripe_timeout_ms = v;
            break;
        }
        case 'I':
            if (optarg != NULL && strcmp(optarg, "force") != 0) {
                fprintf(stderr, "switchyard-cp: --import-catalog takes no value or =force\n");
                return 2;
            }
            import_catalog = 1;
            import_force = optarg != NULL;
            break;
        case 'U':
            if (strcmp(optarg, "open") != 0 && strcmp(optarg, "invite") != 0) {
                fprintf(stderr, "switchyard-cp: --signup must be open or invite\n");
                return 2;
            }
            o.signup_open = strcmp(optarg, "open") == 0;
            break;
        case 'Z': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 2592000) {
                fprintf(stderr, "switchyard-cp: --session-ttl-s must be 1..2592000\n");
                return 2;
            }
            o.session_ttl_s = v;
            break;
        }
        case 'Y':
            o.cookie_secure = 1;
            break;
        case 'W':
            o.web_dir = optarg;
            break;
        case 'V':
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "switchyard-cp: --public-api-url must be an http(s) URL\n");
                return 2;
            }
            o.public_api_url = optarg;
            break;
        case 'a':
            tls_ca = optarg;
            break;
        case 'e':
            tls_cert = optarg;
            break;
        case 'k':
            tls_key = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (restore != NULL) {
        if (optind != argc || db == NULL || check != NULL || backup != NULL) {
            usage(stderr);
            return 2;
        }
        if (check_db(restore) != 0) { /* never put a damaged copy in place */
            fprintf(stderr, "switchyard-cp: %s is not a clean backup; nothing restored\n", restore);
            return 1;
        }
        char rerr[512];
        uint64_t v = 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (cp_store_restore(restore, db, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &v, rerr,
                             sizeof(rerr)) != 0) {
            fprintf(stderr, "switchyard-cp: restore of %s into %s failed: %s\n", restore, db, rerr);
            return 1;
        }
        printf("restored %s into %s; snapshot version %llu (nodes take it at their next fetch)\n", restore,
               db, (unsigned long long)v);
        return 0;
    }
    if (backup != NULL) {
        if (optind != argc || db == NULL || check != NULL) {
            usage(stderr);
            return 2;
        }
        char berr[512];
        if (cp_store_backup(db, backup, berr, sizeof(berr)) != 0) {
            fprintf(stderr, "switchyard-cp: backup of %s failed: %s\n", db, berr);
            return 1;
        }
        return check_db(backup);
    }
    if (check != NULL) {
        if (optind != argc || db != NULL || catalog != NULL || bus_pub != NULL || bus_rep != NULL) {
            usage(stderr);
            return 2;
        }
        return check_db(check);
    }
    int tls_n = (tls_ca != NULL) + (tls_cert != NULL) + (tls_key != NULL);
    if (optind != argc || db == NULL || catalog == NULL || (bus_pub == NULL) != (bus_rep == NULL) ||
        (tls_n != 0 && tls_n != 3) || (tls_n != 0 && bus_pub == NULL)) {
        usage(stderr);
        return 2;
    }
    o.token = getenv("SWITCHYARD_OPERATOR_TOKEN");
    if (o.token == NULL || o.token[0] == '\0') {
        SY_ERROR("msg=\"SWITCHYARD_OPERATOR_TOKEN is not set; refusing to start\"");
        return 1;
    }

    o.stripe_webhook_secret = getenv("STRIPE_WEBHOOK_SECRET");
    o.stripe_secret_key = getenv("STRIPE_SECRET_KEY");
    if (o.stripe_api_base == NULL) {
        const char *b = getenv("STRIPE_API_BASE");
        o.stripe_api_base = b != NULL && b[0] != '\0' ? b : "https://api.stripe.com";
    }
    if (o.stripe_timeout_ms == 0)
        o.stripe_timeout_ms = 10000;
    /* whether, never what: the secrets themselves stay out of every log */
    SY_INFO("msg=\"stripe\" webhook=%s checkout=%s api_base=%s",
            o.stripe_webhook_secret && o.stripe_webhook_secret[0] ? "enabled"
                                                                  : "disabled (no STRIPE_WEBHOOK_SECRET)",
            o.stripe_secret_key && o.stripe_secret_key[0] ? "enabled" : "disabled (no STRIPE_SECRET_KEY)",
            o.stripe_api_base);

    char err[512];
    cp_store_t *store;
    if (cp_store_open(db, &store, err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"cannot open the store\" db=%s err=\"%s\"", db, err);
        return 1;
    }
    if (import_catalog) {
        cp_catalog_import_opts_t io = {.source = "flag", .force = import_force};
        cJSON *rep = NULL;
        int irc = cp_catalog_import_file(store, catalog, &io, &rep, err, sizeof(err));
        char *txt = rep ? cJSON_PrintUnformatted(rep) : NULL;
        if (irc != 0)
            SY_ERROR("msg=\"--import-catalog refused\" file=%s err=\"%s\" report=%s", catalog, err,
                     txt ? txt : "{}");
        else
            SY_INFO("msg=\"catalog imported\" source=flag file=%s report=%s", catalog, txt ? txt : "{}");
        cJSON_free(txt);
        cJSON_Delete(rep);
        if (irc != 0) {
            cp_store_close(store);
            return 1;
        }
    } else if (cp_catalog_start(store, catalog, err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"catalog rejected\" file=%s err=\"%s\"", catalog, err);
        cp_store_close(store);
        return 1;
    }
    uint64_t version = 0;
    cp_store_snapshot_version(store, &version, err, sizeof(err));
    SY_INFO("msg=\"catalog ready\" file=%s version=%llu", catalog, (unsigned long long)version);

    /* Every thread started from here on (nng's, the probes', the loop) inherits a mask with
     * TERM, INT and HUP blocked: cp_api_run takes them with sigwait. Without this a second
     * SIGTERM during the shutdown could be delivered to an nng thread and kill the process with
     * the default action (the data plane had that bug: matrix_client.test.mjs H1). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (drop_notices) {
        SY_WARN("msg=\"--bus-drop-notices: no version notices will be published (test-only fault)\"");
        cp_bus_set_drop_notices(1);
    }
    if (tls_n == 3 && cp_bus_set_tls(tls_ca, tls_cert, tls_key, err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"cannot load the bus credentials\" err=\"%s\"", err);
        cp_store_close(store);
        return 1;
    }
    if (bus_pub != NULL)
        cp_bus_watch_writes(store); /* the admin API's writes patch the next snapshot (cp_bus.h) */
    if (bus_pub != NULL && cp_bus_start(bus_pub, bus_rep, db, err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"cannot start the bus\" err=\"%s\"", err);
        cp_store_close(store);
        return 1;
    }
    probe.db_path = db;
    if (cp_store_checkpointer_start(db, err, sizeof(err)) != 0)
        SY_WARN("msg=\"no background checkpoints; writers checkpoint themselves\" err=\"%s\"", err);
    if (cp_probe_start(&probe, err, sizeof(err)) != 0) {
        SY_ERROR("msg=\"cannot start the health probes\" err=\"%s\"", err);
        cp_bus_stop();
        cp_store_checkpointer_stop();
        cp_store_close(store);
        return 1;
    }
    o.store = store;
    o.catalog_path = catalog;
    o.db_path = db;
    int rc = cp_api_run(&o);
    cp_probe_stop();
    cp_bus_stop();
    cp_store_checkpointer_stop();
    cp_store_close(store);
    return rc == 0 ? 0 : 1;
}
