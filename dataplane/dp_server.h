/*
 * dp_server — h2o wiring: the listener, one event loop per thread, TLS, signals, drain.
 *
 * Threads: `threads` loop threads each accept from a dup of one listening socket and run
 * their own h2o context, upstream engine and metrics. The calling thread only waits for signals:
 * SIGHUP calls `reload` (which publishes a new snapshot or keeps the old one), SIGTERM/SIGINT
 * start a graceful drain: stop accepting, let in-flight requests finish until `drain_ms`,
 * then end what is left with an error event, and return.
 */
#ifndef DP_SERVER_H
#define DP_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *host;
    uint16_t port;
    size_t threads;
    const char *tls_cert, *tls_key;
    uint64_t drain_ms;
    size_t max_body_bytes; /* h2o's own entity cap until a snapshot is loaded; then the snapshot's
                            * limits.max_body_bytes (+1), so that no oversized body is read */
    const char *port_file; /* if set, the bound port is written here (for port 0) */
    /* Optional hooks, both called on dp_server_run's thread (signals blocked): on_ready once
     * the loop threads run (before the port file is written), on_stop on SIGTERM/SIGINT
     * before the drain starts. Used to start and stop the fleet bus (dp_bus.h). */
    void (*on_ready)(void);
    void (*on_stop)(void);
} dp_server_opts_t;

/* Runs until SIGTERM/SIGINT and the drain is over. Returns 0, or -1 if it could not start. */
int dp_server_run(const dp_server_opts_t *o, void (*reload)(void));

/* Tells every loop thread to pick up the published snapshot (dp_snapshot_publish first).
 * Safe from any thread while dp_server_run is between on_ready and on_stop. */
void dp_server_snapshot_changed(void);

#endif
