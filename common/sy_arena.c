#include "sy_arena.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#define BLOCK 8192

struct sy_arena_block {
    sy_arena_block_t *next;
    size_t size;
    _Alignas(16) char data[];
};

void *sy_arena_alloc(sy_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if ((size_t)(a->end - a->cur) < n) {
        size_t size = n > BLOCK / 2 ? n : BLOCK;
        sy_arena_block_t *b = malloc(sizeof(*b) + size);
        if (b == NULL)
            return NULL;
        b->size = size;
        b->next = a->head;
        a->head = b;
        if (n > BLOCK / 2)
            return b->data; /* a big allocation gets its own block; keep bumping in the old one */
        a->cur = b->data;
        a->end = b->data + size;
    }
    void *p = a->cur;
    a->cur += n;
    return p;
}

void sy_arena_free(sy_arena_t *a)
{
    sy_arena_block_t *b = a->head;
    while (b) {
        sy_arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
}

static __thread sy_arena_t *t_arena;

static void *hook_malloc(size_t n)
{
    return t_arena ? sy_arena_alloc(t_arena, n) : malloc(n);
}

static void hook_free(void *p)
{
    if (t_arena == NULL)
        free(p);
}

void sy_json_hooks_install(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

void sy_json_arena_begin(sy_arena_t *a)
{
    t_arena = a;
}

void sy_json_arena_end(void)
{
    t_arena = NULL;
}
