/* fuzz_store — the scratch control-plane database of the fuzz targets that write the ledger
 * (fuzz_usage, fuzz_stripe_sig): created on first use in a fresh /tmp/<name>.XXXXXX directory,
 * migrated by cp_store_open, with two workspaces (ws_a, ws_b) and synchronous OFF (speed, not
 * durability); removed at exit. Also the periodic ledger check both run. Header-only (static
 * functions): each target is its own executable with one store; single-threaded, as libFuzzer
 * calls LLVMFuzzerTestOneInput. */
#ifndef FUZZ_STORE_H
#define FUZZ_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cp_ledger.h"
#include "cp_store.h"

static cp_store_t *fuzz_store;
static char fuzz_store_dir[96];

static void fuzz_store_cleanup(void)
{
    char p[160];
    cp_store_close(fuzz_store);
    fuzz_store = NULL;
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/fuzz.db%s", fuzz_store_dir, sfx[i]);
        unlink(p);
    }
    rmdir(fuzz_store_dir);
}

/* The store, opened on the first call (abort if it cannot be); `name` names the directory. */
static cp_store_t *fuzz_store_get(const char *name)
{
    if (fuzz_store != NULL)
        return fuzz_store;
    char path[160], err[256];
    snprintf(fuzz_store_dir, sizeof(fuzz_store_dir), "/tmp/%s.XXXXXX", name);
    if (mkdtemp(fuzz_store_dir) == NULL)
        abort();
    snprintf(path, sizeof(path), "%s/fuzz.db", fuzz_store_dir);
    if (cp_store_open(path, &fuzz_store, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    atexit(fuzz_store_cleanup);
    sqlite3_exec(cp_store_db(fuzz_store), "PRAGMA synchronous = OFF", NULL, NULL, NULL);
    sqlite3_exec(cp_store_db(fuzz_store),
                 "INSERT INTO workspaces (id, name, created_at) VALUES ('ws_a', '', 0), ('ws_b', '', 0)",
                 NULL, NULL, NULL);
    return fuzz_store;
}

/* Every 256th call: the ledger invariants must hold (cp_ledger_check), abort otherwise. */
static void fuzz_store_check_every_256(void)
{
    static unsigned long runs;
    char err[256];
    if (++runs % 256 == 0 && cp_ledger_check(fuzz_store, stderr, NULL, err, sizeof(err)) != 0)
        abort();
}

#endif
