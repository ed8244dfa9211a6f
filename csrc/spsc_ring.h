/* A single-producer, single-consumer byte ring with C11 atomics (vani._core.ring).
 *
 * `head` counts every byte ever written and is stored only by the producer; `tail` counts every
 * byte ever read and is stored only by the consumer. Both only grow (size_t wraps harmlessly:
 * the differences stay correct modulo 2^64), and the capacity is a power of two, so a position
 * maps to a slot with a mask. The producer publishes bytes with a release store of `head` after
 * copying them in; the consumer's acquire load of `head` therefore sees them. Symmetrically,
 * the consumer frees space with a release store of `tail` after copying bytes out.
 *
 * The two counters sit on separate cache lines so that the two threads do not invalidate each
 * other's line on every call; each side also caches the other's counter and only reloads it
 * when the cached value says the ring is full (producer) or empty (consumer). */
#ifndef VANI_SPSC_RING_H
#define VANI_SPSC_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define VANI_CACHE_LINE 64

typedef struct vani_spsc_ring {
    _Alignas(VANI_CACHE_LINE) _Atomic size_t head; /* written by the producer */
    size_t tail_cache;                             /* producer's last view of tail */
    _Alignas(VANI_CACHE_LINE) _Atomic size_t tail; /* written by the consumer */
    size_t head_cache;                             /* consumer's last view of head */
    _Alignas(VANI_CACHE_LINE) size_t capacity;     /* a power of two, fixed */
    unsigned char *data;
} vani_spsc_ring;

/* Returns NULL when memory is short. `capacity` must be a power of two (checked by the caller). */
static inline vani_spsc_ring *vani_ring_new(size_t capacity)
{
    vani_spsc_ring *r = aligned_alloc(VANI_CACHE_LINE, sizeof(vani_spsc_ring));
    if (r == NULL)
        return NULL;
    r->data = malloc(capacity);
    if (r->data == NULL) {
        free(r);
        return NULL;
    }
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->tail_cache = 0;
    r->head_cache = 0;
    r->capacity = capacity;
    return r;
}

static inline void vani_ring_free(vani_spsc_ring *r)
{
    if (r != NULL) {
        free(r->data);
        free(r);
    }
}

/* Producer side: copies up to n bytes in; returns how many fitted. */
static inline size_t vani_ring_write(vani_spsc_ring *r, const unsigned char *src, size_t n)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t space = r->capacity - (head - r->tail_cache);
    if (space < n) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        space = r->capacity - (head - r->tail_cache);
        if (space < n)
            n = space;
    }
    if (n == 0)
        return 0;
    size_t at = head & (r->capacity - 1);
    size_t first = r->capacity - at;
    if (first > n)
        first = n;
    memcpy(r->data + at, src, first);
    memcpy(r->data, src + first, n - first);
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

/* Consumer side: copies up to n bytes out; returns how many there were. */
static inline size_t vani_ring_read(vani_spsc_ring *r, unsigned char *dst, size_t n)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t avail = r->head_cache - tail;
    if (avail < n) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        avail = r->head_cache - tail;
        if (avail < n)
            n = avail;
    }
    if (n == 0)
        return 0;
    size_t at = tail & (r->capacity - 1);
    size_t first = r->capacity - at;
    if (first > n)
        first = n;
    memcpy(dst, r->data + at, first);
    memcpy(dst + first, r->data, n - first);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

/* Either side may ask; the answer is a snapshot that the other side may change at once. The
 * consumer's own `readable` can only grow until it reads, the producer's `writable` can only
 * grow until it writes. */
static inline size_t vani_ring_readable(vani_spsc_ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t n = head - tail;
    /* Seen from a third thread, both may move between the two loads. */
    return n < r->capacity ? n : r->capacity;
}

static inline size_t vani_ring_writable(vani_spsc_ring *r)
{
    return r->capacity - vani_ring_readable(r);
}

/* Only while neither side is running: empties the ring. */
static inline void vani_ring_reset(vani_spsc_ring *r)
{
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    r->tail_cache = 0;
    r->head_cache = 0;
}

#endif
