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
 * Semantics: an upsert, in one `BEGIN IMMEDIATE` transaction that also bumps the snapshot
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

/* Loads `len` bytes of JSON (need not be NUL-terminated). 0 on success (the new snapshot
 * version is then cp_store_snapshot_version), or -1 with a message naming the offending entry
 * in err and the store unchanged. */
int cp_catalog_load_json(cp_store_t *s, const char *json, size_t len, char *err, size_t errlen);
/* Same, from a file (at most 64 MiB). */
int cp_catalog_load_file(cp_store_t *s, const char *path, char *err, size_t errlen);

#endif
