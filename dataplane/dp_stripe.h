/*
 * dp_stripe — the locking rule of the node-wide striped tables (dp_limit.c, dp_reserve.c): a
 * request that touches a key's entry and its workspace's takes both stripe mutexes, always in
 * address order, so two threads locking the same pair can never deadlock. Either may be NULL
 * (the entry is not needed); both may be the same mutex.
 */
#ifndef DP_STRIPE_H
#define DP_STRIPE_H

#include <pthread.h>
#include <stddef.h>

static inline void dp_stripe_lock2(pthread_mutex_t *a, pthread_mutex_t *b)
{
    if (a != NULL && b != NULL && a != b) {
        if (a > b) {
            pthread_mutex_t *t = a;
            a = b;
            b = t;
        }
        pthread_mutex_lock(a);
        pthread_mutex_lock(b);
    } else if (a != NULL) {
        pthread_mutex_lock(a);
    } else if (b != NULL) {
        pthread_mutex_lock(b);
    }
}

static inline void dp_stripe_unlock2(pthread_mutex_t *a, pthread_mutex_t *b)
{
    if (a != NULL)
        pthread_mutex_unlock(a);
    if (b != NULL && b != a)
        pthread_mutex_unlock(b);
}

#endif
