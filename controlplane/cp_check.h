/*
 * cp_check — offline consistency check of a control-plane database (`switchyard-cp --check-db`).
 *
 * Runs `PRAGMA integrity_check` and `PRAGMA foreign_key_check` on an open store through
 * prepared statements, then the ledger invariants (cp_ledger_check), and writes what they
 * report to `out`: `integrity ok` when all are clean, else one line per problem. Returns 0 when clean, 1 when problems were found, -1 with
 * a message in err when a statement could not run.
 */
#ifndef CP_CHECK_H
#define CP_CHECK_H

#include <stddef.h>
#include <stdio.h>

#include "cp_store.h"

int cp_check_db(cp_store_t *s, FILE *out, char *err, size_t errlen);

#endif
