/*
 * cp_catalog — loads the catalog file (the data plane's config file, docs/config.md) into the
 * store.
 *
 * One file shape serves both modes, so the accepted fields, their types and ranges, and the
 * validation (identifiers, `http(s)://` base URLs, provider kind, decimal-string prices parsed
 * exactly into nano-USD, capability names, 64-hex-digit key hashes, references) match what
 * the data plane's loader and snapshot builder accept. Unknown top-level sections are
 * ignored; unknown fields inside an entry are errors.
 *
 * Semantics of one import: an upsert, in one `BEGIN IMMEDIATE` transaction that also bumps the snapshot
 * version. Entries are matched by id; nothing absent from the file is deleted (removal is an
 * explicit admin action, not a side effect of an edited file). Any error rolls the whole load
 * back: a bad file changes nothing.
 *   - providers, models: the file defines them; every field is rewritten (omitted fields take
 *     their documented defaults). A provider's `health` is kept: the probes own it.
 *   - workspaces, keys: also edited from the dashboard, so fields an entry omits keep their
 *     stored value (`name`, `active`, `allowed_models`, `expires_at`); new rows take the
 *     defaults. Revocation is one-way: a file never un-revokes a key.
 *   - references (a model's provider, a key's workspace, a key's allowed models) may name rows
 *     loaded earlier, not only rows in the same file.
 *   - `timeouts_ms` and `limits`, when present, are stored in `meta` and go into every snapshot.
 *   - `aliases` ({"alias": "model id"}, sy_catalog_alias_name_ok names): upserted after the
 *     models; the target must exist (in the file or stored), an alias may not equal a model id.
 *
 * Thread-safety: uses the store's connection; same rules as cp_store.
 */
#ifndef CP_CATALOG_H
#define CP_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cp_store.h"

/* Capability bits: the values of proto/snapshot.proto `Model.caps` and of the data plane's
 * DP_CAP_* (tests assert they are equal). */
enum { CP_CAP_TOOLS = 1, CP_CAP_JSON = 2, CP_CAP_VISION = 4, CP_CAP_EMBEDDINGS = 8, CP_CAP_CHAT = 16 };

/* Capability names <-> bits: parse fails on an unknown name (message in err); an empty or
 * absent list means chat. caps_json returns a new array the caller deletes. */
int cp_catalog_caps_parse(const cJSON *arr, uint32_t *caps, char *err, size_t errlen);
cJSON *cp_catalog_caps_json(uint32_t caps);

/*
 * Imports (docs/controlplane.md, "Catalog: the database is the truth"). The database is the
 * catalog; the file is imported into it, explicitly:
 *   - at start only into a database that has no import recorded (cp_catalog_start);
 *   - on POST /api/catalog/import, POST /api/catalog/reload and SIGHUP (cp_api.c).
 * Every import is one transaction: it validates the whole file, compares every model and alias
 * of the file with its stored row, and refuses (CP_CATALOG_CONFLICT, store unchanged) when a
 * field an admin edited through the API since the last import (table catalog_edits) differs
 * from the file — unless `force`, when the file wins and the report lists what it overwrote.
 * Rows the file names have their edit marks cleared; rows it does not name keep theirs. A
 * successful import appends its report to catalog_imports and bumps the snapshot version once.
 *
 * The report (*report, caller deletes; also set on CP_CATALOG_CONFLICT, NULL on -1):
 *   {"sha256","source","file"?,"forced","counts":{section:{"created","changed","unchanged"}},
 *    "conflicts"|"overwritten":[{"kind":"model|alias","id","fields":[{"field","db","file"}]}],
 *    "version"}  (providers, workspaces and keys count existing rows as "changed": not compared)
 */
#define CP_CATALOG_CONFLICT (-2)
typedef struct {
    const char *source; /* "start", "import", "reload", "sighup", "load" (the record's source) */
    const char *path;   /* the file named in the record, or NULL (a body import) */
    int force;          /* the file wins over admin edits */
    int dry_run;        /* report what would happen, change nothing (no record, no version) */
} cp_catalog_import_opts_t;

/* Imports `len` bytes of JSON (need not be NUL-terminated); o may be NULL (source "load", no
 * force). 0 on success, CP_CATALOG_CONFLICT, or -1 with a message naming the offending entry in
 * err and the store unchanged. */
int cp_catalog_import(cp_store_t *s, const char *json, size_t len, const cp_catalog_import_opts_t *o,
                      cJSON **report, char *err, size_t errlen);
/* Same, from a file (at most 64 MiB); o->path is set to `path`. */
int cp_catalog_import_file(cp_store_t *s, const char *path, const cp_catalog_import_opts_t *o, cJSON **report,
                           char *err, size_t errlen);
/* cp_catalog_import without a report: 0, or -1 (a conflict is -1 too, with its message). */
int cp_catalog_load_json(cp_store_t *s, const char *json, size_t len, char *err, size_t errlen);
int cp_catalog_load_file(cp_store_t *s, const char *path, char *err, size_t errlen);

/* Reads a whole file of at most 64 MiB into *out (malloc'ed, caller frees). */
int cp_catalog_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* At start: imports `path` when the database has no import recorded (a bad file is then -1:
 * refuse to start). Otherwise applies nothing: logs whether the file matches the last import or
 * `msg="catalog file differs from the last import; not applied"` (an unreadable file is a
 * warning too). */
int cp_catalog_start(cp_store_t *s, const char *path, char *err, size_t errlen);

/* The newest import record, or *out = NULL when none. */
int cp_catalog_last_import(cp_store_t *s, cJSON **out, char *err, size_t errlen);
/* GET /api/catalog/status: {"source_of_truth":"database","file","file_sha256",
 * "file_matches_last_import","last_import","edited_since_import":[{"kind","id","field","edited_ms"}]}.
 * path may be NULL. Opens its own read transaction. */
int cp_catalog_status(cp_store_t *s, const char *path, cJSON **out, char *err, size_t errlen);

int64_t cp_catalog_now_ms(void);

#endif
