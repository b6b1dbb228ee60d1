/* libFuzzer: what a node (or anyone on the bus) can send to the control plane's REP socket as a
 * usage batch — a packed BusRequest, unpacked with protobuf-c exactly as cp_bus does, then
 * applied by cp_usage_ingest_group on a scratch database as a group of two: the batch and the
 * same batch again (a resend in the same group). Properties: the resend applies nothing (every
 * record the first applied is a duplicate), a refused batch writes nothing, and every 256 inputs
 * the ledger invariants hold (abort otherwise): no batch, however odd, may charge a record twice,
 * lose a debit or unbalance a workspace. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.pb-c.h"
#include "cp_usage.h"
#include "fuzz_store.h"

static cp_store_t *store;

static int64_t count(const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(cp_store_db(store), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store = fuzz_store_get("fuzz_usage");
    Switchyard__BusRequest *br = switchyard__bus_request__unpack(NULL, size, data);
    if (br == NULL)
        return 0;
    if (br->kind_case == SWITCHYARD__BUS_REQUEST__KIND_USAGE && br->usage != NULL) {
        const Switchyard__UsageBatch *b[2] = {br->usage, br->usage};
        size_t lens[2] = {size, size};
        cp_usage_result_t r[2];
        int64_t before = count("SELECT count(*) FROM usage");
        cp_usage_ingest_group(store, 2, b, lens, 1700000000000, r, NULL);
        int64_t after = count("SELECT count(*) FROM usage");
        if (r[0].error[0] == '\0') {
            if (r[1].error[0] != '\0' || r[1].applied != 0 || after - before != (int64_t)r[0].applied)
                abort(); /* a resend applied something, or the count is not what was acked */
        } else if (after != before) {
            abort(); /* a refused batch wrote */
        }
    }
    switchyard__bus_request__free_unpacked(br, NULL);
    fuzz_store_check_every_256();
    return 0;
}
