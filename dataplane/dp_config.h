/*
 * dp_config — standalone mode: the catalog/key file (docs/config.md) turned into a snapshot.
 *
 * The file is parsed into the same `Switchyard__Snapshot` protobuf the control plane sends,
 * and from there into a dp_snapshot_t by the one builder, so both modes share validation.
 *
 * Thread-safety: reentrant; called from the main thread at start and on SIGHUP.
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "dp_snapshot.h"

/* Reads and validates `path`; returns a new snapshot with version `version`, or NULL with a
 * message in err. */
dp_snapshot_t *dp_config_load(const char *path, uint64_t version, char *err, size_t errlen);
/* Same, from a JSON text in memory (used by tests and fuzzing). */
dp_snapshot_t *dp_config_parse(const char *json, size_t len, uint64_t version, char *err, size_t errlen);

#endif
