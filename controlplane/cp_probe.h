/*
 * cp_probe — active health probes of the catalog's providers.
 *
 * One prober thread runs a libcurl multi handle: every provider whose `probe.interval_ms` is
 * not 0 gets `GET base_url + probe.path` (with `Authorization: Bearer $api_key_env` when that
 * variable is set, the provider's `ca_file`, no proxy) every interval, bounded by
 * `probe.timeout_ms`. A 2xx answer is a success; anything else (connect error, timeout, TLS
 * failure, any other status) a failure. At most one probe per provider is in flight.
 *
 * Health moves with hysteresis (cp_probe_next_health), so one lost packet does not eject a
 * provider and one lucky answer does not restore it:
 *   unknown  --ok--> healthy              unknown/healthy --fail--> degraded
 *   degraded/down --`fall` consecutive failures--> down
 *   down --ok--> degraded --`rise` consecutive successes (counting that one)--> healthy
 * A change of health is one versioned store write (providers.health, health_changed_ms),
 * followed by a bus notice, so the fleet sees it in the next snapshot and `/v1/models` shows it.
 * What each probe saw (time, latency, error) is written without a version bump, like
 * heartbeats: it changes nothing the data planes serve.
 *
 * The provider list is re-read from the store every second, so a catalog reload or an edit
 * takes effect without a restart; health survives restarts (it is in the store) while the
 * streaks start again from zero.
 *
 * Threading: cp_probe_start (call from the main thread, before other threads use libcurl: it
 * calls curl_global_init) spawns the prober thread, which opens its OWN store handle on
 * `db_path` and has SIGTERM/SIGINT/SIGHUP blocked. cp_probe_stop wakes and joins it. The
 * prober is a process-wide singleton.
 */
#ifndef CP_PROBE_H
#define CP_PROBE_H

#include <stddef.h>

typedef struct {
    const char *db_path;
    unsigned rise; /* consecutive successes from degraded to healthy (>= 1; default 2) */
    unsigned fall; /* consecutive failures to down (>= 1; default 3) */
} cp_probe_opts_t;

int cp_probe_start(const cp_probe_opts_t *o, char *err, size_t errlen);
void cp_probe_stop(void);

/* The hysteresis, pure: the health after one probe result, given the current health
 * (CP_HEALTH_*) and the streak counts that INCLUDE this result. */
unsigned cp_probe_next_health(unsigned health, int ok, unsigned ok_streak, unsigned fail_streak, unsigned rise,
                              unsigned fall);

#endif
