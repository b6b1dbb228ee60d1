/*
 * sy_arena — a bump allocator for request-lifetime memory, and the switch that makes cJSON
 * allocate from it.
 *
 * A request's parsed JSON (body and upstream answer) is hundreds of small nodes; allocating
 * them from an arena freed once at the end of the request removes most of the malloc/free
 * traffic on the hot path. cJSON's hooks are process-wide, so the arena is chosen per thread:
 * `sy_json_arena_begin(a)` … `sy_json_arena_end()` brackets the cJSON calls whose results
 * live in `a`. Trees built inside a bracket are never passed to cJSON_Delete (the arena
 * frees them); trees built outside one use malloc/free as usual.
 *
 * Thread-safety: an arena belongs to one thread; the current-arena switch is thread-local.
 */
#ifndef SY_ARENA_H
#define SY_ARENA_H

#include <stddef.h>

typedef struct sy_arena_block sy_arena_block_t;
typedef struct {
    sy_arena_block_t *head;
    char *cur, *end;
} sy_arena_t;

/* 16-byte aligned; NULL on out of memory. */
void *sy_arena_alloc(sy_arena_t *a, size_t n);
void sy_arena_free(sy_arena_t *a);

/* Installs the cJSON hooks; call once at start, before threads. */
void sy_json_hooks_install(void);
void sy_json_arena_begin(sy_arena_t *a);
void sy_json_arena_end(void);

#endif
