/*
 * sy_steady — a gettimeofday(2) that never jumps, for h2o's event loop.
 *
 * h2o 2.2.5's evloop reads the wall clock (gettimeofday) for `loop->_now`, and every h2o timer
 * fires when `registered_at + timeout <= _now`: the data plane's upstream connect, first-byte,
 * idle and total timeouts and its pooled connections' keep-alive timeout, the client watch, the drain tick, lingering closes, h2o's keep-alive timeout. A wall-clock
 * step therefore moved all of them: a step forward fired every pending timer at once (a request
 * waiting 0.5 s for its first token got 504 after an NTP correction of +1 h), a step back held
 * them for as long as the step (a hung upstream was not timed out for an hour).
 *
 * The fix without patching h2o: this definition, linked into the executables (not into a
 * library), interposes the process's gettimeofday. It returns the wall clock read once at the
 * first call plus CLOCK_MONOTONIC elapsed since then: it follows the wall clock's rate (NTP
 * slewing applies to CLOCK_MONOTONIC too) but never a step. Callers in the process: h2o (timers
 * and the `Date` header cache), OpenSSL (and the control plane's libcurl) fallbacks, SQLite's 'now' in the control
 * plane (unused). Everything that must be the real wall time reads clock_gettime(CLOCK_REALTIME)
 * or time(2) and is unaffected: usage records' created_ms, key expiry and rotation graces, the
 * log, Stripe's signature tolerance. So after a step the `Date` header differs from the system
 * clock by that step until the process restarts (docs/dataplane.md, "Clocks").
 *
 * Thread-safety: any thread; the anchor is set once (pthread_once), then only read.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static pthread_once_t anchor_once = PTHREAD_ONCE_INIT;
static int64_t wall0_ns, mono0_ns;

static int64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void anchor(void)
{
    mono0_ns = read_ns(CLOCK_MONOTONIC);
    wall0_ns = read_ns(CLOCK_REALTIME);
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    pthread_once(&anchor_once, anchor);
    int64_t ns = wall0_ns + (read_ns(CLOCK_MONOTONIC) - mono0_ns);
    tv->tv_sec = (time_t)(ns / 1000000000);
    tv->tv_usec = (suseconds_t)(ns % 1000000000 / 1000);
    if (tz != NULL)
        memset(tz, 0, sizeof(struct timezone)); /* obsolete; glibc fills zeros too */
    return 0;
}
