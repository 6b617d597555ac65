/*
 * The shmsync C API test suite, written in the common subset of C11 and C++17: the lane
 * compiles it once as C (tests/c/test_c.c, `cc -std=c11`) and once as C++
 * (tests/c/test_cpp.cpp, `c++ -std=c++17`), both linked against the static library.
 *
 * Every multi-process test forks children that share a MAP_SHARED | MAP_ANONYMOUS mapping
 * with the parent; children report through their exit status only.
 */
#ifndef SHMSYNC_TEST_SUITE_H
#define SHMSYNC_TEST_SUITE_H

/* POSIX + BSD extras (MAP_ANON, usleep) under strict -std=c11. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1
#endif
#ifndef _DARWIN_C_SOURCE
#define _DARWIN_C_SOURCE 1
#endif

#include "shmsync.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000ull
#define SEC 1000000000ull

static int failures = 0;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

/* Expect `call` to return `code`; print both names otherwise. */
#define EXPECT(call, code)                                                                 \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ != (code)) {                                                               \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__,         \
                    __LINE__, #call, rc_, shmsync_strerror(rc_), #code);                   \
            failures++;                                                                    \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

/* In a child: exit with the line number on failure. */
#define CHILD_CHECK(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "child %d: %s:%d: %s\n", (int)getpid(), __FILE__, __LINE__,    \
                    #cond);                                                                \
            _exit(100);                                                                    \
        }                                                                                  \
    } while (0)

static void *map_shared(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

/* Waits for a child; 0 when it exited with status 0. */
static int reap(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 1000 + WTERMSIG(status);
}

static uint64_t mix(uint64_t i) {
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29) ^ 0x5555aaaa0000ffffull;
}

/* The user area of the region every lock test shares. */
typedef struct {
    shmsync_mutex_t counter_lock;
    uint64_t counter;
    shmsync_mutex_t cv_lock;
    shmsync_condvar_t cv;
    uint32_t turn;
    uint32_t handoffs;
    shmsync_semaphore_t ping;
    shmsync_semaphore_t pong;
    shmsync_semaphore_t count;
    shmsync_mutex_t dying;
    shmsync_semaphore_t dying_ready;
    shmsync_rwlock_t rw;
    shmsync_auto_event_t auto_ev;
    shmsync_manual_event_t manual_ev;
    uint32_t word;
} shared_t;

#define SHARED_TAG 0x5348415245445431ull /* "SHAREDT1" */

typedef struct {
    void *mem;
    size_t len;
    shmsync_region_t region;
    shared_t *s;
} fixture_t;

static int fixture_init(fixture_t *f) {
    void *user = NULL;
    f->len = shmsync_region_required_size(sizeof(shared_t), 8);
    CHECK(f->len > sizeof(shared_t));
    f->mem = map_shared(f->len);
    EXPECT(shmsync_region_init(f->mem, f->len, sizeof(shared_t), 8, SHARED_TAG, &f->region,
                               &user),
           SHMSYNC_OK);
    f->s = (shared_t *)user;
    CHECK(shmsync_region_user(&f->region) == user);
    return 0;
}

/* A child's own attach (same mapping, validated header and layout). */
static shared_t *child_attach(fixture_t *f, shmsync_region_t *r) {
    void *user = NULL;
    int rc = shmsync_region_attach(f->mem, f->len, sizeof(shared_t), 8, SHARED_TAG, SEC, r,
                                   &user);
    CHILD_CHECK(rc == SHMSYNC_OK);
    return (shared_t *)user;
}

/* 4 processes x 25,000 increments under the mutex: the count must be exact. */
static int test_mutex_counter(fixture_t *f) {
    enum { PROCS = 4, EACH = 25000 };
    pid_t pids[PROCS];
    int i;
    for (i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            shmsync_region_t r;
            shared_t *s = child_attach(f, &r);
            int n;
            for (n = 0; n < EACH; n++) {
                int rc = (n % 3 == 0) ? shmsync_mutex_timedlock(&s->counter_lock, 10 * SEC)
                                      : shmsync_mutex_lock(&s->counter_lock);
                CHILD_CHECK(rc == SHMSYNC_OK);
                s->counter++;
                CHILD_CHECK(shmsync_mutex_unlock(&s->counter_lock) == SHMSYNC_OK);
            }
            shmsync_region_close(&r);
            _exit(0);
        }
    }
    for (i = 0; i < PROCS; i++) CHECK(reap(pids[i]) == 0);
    CHECK(f->s->counter == (uint64_t)PROCS * EACH);
    return 0;
}

/* 100,000 hand-offs each way through a condvar: parent waits for turn 0, child for 1. */
static int test_condvar_handoff(fixture_t *f) {
    enum { N = 100000 };
    shared_t *s = f->s;
    pid_t pid = fork();
    int n;
    if (pid == 0) {
        shmsync_region_t r;
        shared_t *c = child_attach(f, &r);
        for (n = 0; n < N; n++) {
            CHILD_CHECK(shmsync_mutex_lock(&c->cv_lock) == SHMSYNC_OK);
            while (c->turn != 1) {
                int rc = shmsync_condvar_timedwait(&c->cv, &c->cv_lock, 10 * SEC);
                CHILD_CHECK(rc == SHMSYNC_OK);
            }
            c->turn = 0;
            c->handoffs++;
            CHILD_CHECK(shmsync_condvar_signal(&c->cv) == SHMSYNC_OK);
            CHILD_CHECK(shmsync_mutex_unlock(&c->cv_lock) == SHMSYNC_OK);
        }
        _exit(0);
    }
    for (n = 0; n < N; n++) {
        EXPECT(shmsync_mutex_lock(&s->cv_lock), SHMSYNC_OK);
        while (s->turn != 0) EXPECT(shmsync_condvar_timedwait(&s->cv, &s->cv_lock, 10 * SEC), SHMSYNC_OK);
        s->turn = 1;
        s->handoffs++;
        EXPECT(shmsync_condvar_broadcast(&s->cv), SHMSYNC_OK);
        EXPECT(shmsync_mutex_unlock(&s->cv_lock), SHMSYNC_OK);
    }
    EXPECT(shmsync_mutex_lock(&s->cv_lock), SHMSYNC_OK);
    while (s->turn != 0) EXPECT(shmsync_condvar_wait(&s->cv, &s->cv_lock), SHMSYNC_OK);
    EXPECT(shmsync_mutex_unlock(&s->cv_lock), SHMSYNC_OK);
    CHECK(reap(pid) == 0);
    CHECK(s->handoffs == 2 * N);
    return 0;
}

/* 100,000 ping-pongs through two semaphores, then 100,000 posts counted: 0 lost. */
static int test_semaphore_handoff(fixture_t *f) {
    enum { N = 100000 };
    shared_t *s = f->s;
    pid_t pid;
    int n;
    uint32_t value = 99;
    EXPECT(shmsync_semaphore_init(&s->ping, 0), SHMSYNC_OK);
    EXPECT(shmsync_semaphore_init(&s->pong, 0), SHMSYNC_OK);
    EXPECT(shmsync_semaphore_init(&s->count, 0), SHMSYNC_OK);
    pid = fork();
    if (pid == 0) {
        shmsync_region_t r;
        shared_t *c = child_attach(f, &r);
        for (n = 0; n < N; n++) {
            CHILD_CHECK(shmsync_semaphore_timedwait(&c->ping, 10 * SEC) == SHMSYNC_OK);
            CHILD_CHECK(shmsync_semaphore_post(&c->pong, 1) == SHMSYNC_OK);
        }
        for (n = 0; n < N; n++) CHILD_CHECK(shmsync_semaphore_post(&c->count, 1) == SHMSYNC_OK);
        _exit(0);
    }
    for (n = 0; n < N; n++) {
        EXPECT(shmsync_semaphore_post(&s->ping, 1), SHMSYNC_OK);
        EXPECT(shmsync_semaphore_wait(&s->pong), SHMSYNC_OK);
    }
    for (n = 0; n < N; n++) EXPECT(shmsync_semaphore_timedwait(&s->count, 10 * SEC), SHMSYNC_OK);
    CHECK(reap(pid) == 0);
    EXPECT(shmsync_semaphore_trywait(&s->count), SHMSYNC_E_BUSY); /* none extra */
    EXPECT(shmsync_semaphore_value(&s->count, &value), SHMSYNC_OK);
    CHECK(value == 0);
    return 0;
}

/* A child dies holding the mutex: the next locker gets OWNER_DEAD, repairs, marks it
 * consistent; while the holder lives, trylock is BUSY and timedlock TIMEDOUT. */
static int test_owner_death(fixture_t *f) {
    shared_t *s = f->s;
    pid_t pid;
    EXPECT(shmsync_semaphore_init(&s->dying_ready, 0), SHMSYNC_OK);
    EXPECT(shmsync_semaphore_init(&s->ping, 0), SHMSYNC_OK);
    pid = fork();
    if (pid == 0) {
        shmsync_region_t r;
        shared_t *c = child_attach(f, &r);
        CHILD_CHECK(shmsync_mutex_lock(&c->dying) == SHMSYNC_OK);
        CHILD_CHECK(shmsync_semaphore_post(&c->dying_ready, 1) == SHMSYNC_OK);
        /* Hold the lock until told to die (without unlocking). */
        CHILD_CHECK(shmsync_semaphore_timedwait(&c->ping, 20 * SEC) == SHMSYNC_OK);
        _exit(0);
    }
    EXPECT(shmsync_semaphore_timedwait(&s->dying_ready, 10 * SEC), SHMSYNC_OK);
    EXPECT(shmsync_mutex_trylock(&s->dying), SHMSYNC_E_BUSY);
    EXPECT(shmsync_mutex_timedlock(&s->dying, 20 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_mutex_unlock(&s->dying), SHMSYNC_E_NOT_OWNER); /* another process's */
    EXPECT(shmsync_semaphore_post(&s->ping, 1), SHMSYNC_OK);
    CHECK(reap(pid) == 0);
    EXPECT(shmsync_mutex_lock(&s->dying), SHMSYNC_OWNER_DEAD);
    EXPECT(shmsync_mutex_unlock(&s->dying), SHMSYNC_OK);
    /* Not repaired: the next locker is told too. */
    EXPECT(shmsync_mutex_timedlock(&s->dying, SEC), SHMSYNC_OWNER_DEAD);
    EXPECT(shmsync_mutex_consistent(&s->dying), SHMSYNC_OK);
    EXPECT(shmsync_mutex_unlock(&s->dying), SHMSYNC_OK);
    EXPECT(shmsync_mutex_trylock(&s->dying), SHMSYNC_OK);
    EXPECT(shmsync_mutex_unlock(&s->dying), SHMSYNC_OK);
    EXPECT(shmsync_mutex_consistent(&s->dying), SHMSYNC_E_NOT_OWNER);
    return 0;
}

/* rwlock and events across a fork, briefly. */
static int test_rwlock_and_events(fixture_t *f) {
    shared_t *s = f->s;
    pid_t pid;
    EXPECT(shmsync_rwlock_rdlock(&s->rw), SHMSYNC_OK);
    EXPECT(shmsync_rwlock_tryrdlock(&s->rw), SHMSYNC_OK);
    EXPECT(shmsync_rwlock_trywrlock(&s->rw), SHMSYNC_E_BUSY);
    EXPECT(shmsync_rwlock_timedwrlock(&s->rw, 10 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_rwlock_wrunlock(&s->rw), SHMSYNC_E_NOT_OWNER);
    EXPECT(shmsync_rwlock_rdunlock(&s->rw), SHMSYNC_OK);
    EXPECT(shmsync_rwlock_rdunlock(&s->rw), SHMSYNC_OK);
    EXPECT(shmsync_rwlock_rdunlock(&s->rw), SHMSYNC_E_NOT_OWNER);
    EXPECT(shmsync_rwlock_wrlock(&s->rw), SHMSYNC_OK);
    EXPECT(shmsync_rwlock_tryrdlock(&s->rw), SHMSYNC_E_BUSY);
    EXPECT(shmsync_rwlock_wrunlock(&s->rw), SHMSYNC_OK);

    EXPECT(shmsync_auto_event_init(&s->auto_ev, 0), SHMSYNC_OK);
    EXPECT(shmsync_manual_event_init(&s->manual_ev, 0), SHMSYNC_OK);
    EXPECT(shmsync_auto_event_timedwait(&s->auto_ev, 5 * MS), SHMSYNC_E_TIMEDOUT);
    pid = fork();
    if (pid == 0) {
        shmsync_region_t r;
        shared_t *c = child_attach(f, &r);
        CHILD_CHECK(shmsync_manual_event_timedwait(&c->manual_ev, 10 * SEC) == SHMSYNC_OK);
        CHILD_CHECK(shmsync_auto_event_set(&c->auto_ev) == SHMSYNC_OK);
        _exit(0);
    }
    EXPECT(shmsync_manual_event_set(&s->manual_ev), SHMSYNC_OK);
    EXPECT(shmsync_auto_event_timedwait(&s->auto_ev, 10 * SEC), SHMSYNC_OK);
    EXPECT(shmsync_auto_event_trywait(&s->auto_ev), SHMSYNC_E_BUSY); /* consumed */
    EXPECT(shmsync_manual_event_is_set(&s->manual_ev), 1);           /* stays set */
    EXPECT(shmsync_manual_event_reset(&s->manual_ev), SHMSYNC_OK);
    EXPECT(shmsync_manual_event_is_set(&s->manual_ev), 0);
    CHECK(reap(pid) == 0);
    return 0;
}

/* Raw wait/wake on a word across processes. */
static int test_wait_wake(fixture_t *f) {
    shared_t *s = f->s;
    pid_t pid;
    __atomic_store_n(&s->word, 0, __ATOMIC_SEQ_CST);
    EXPECT(shmsync_wait(&s->word, 0, 5 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_wait(&s->word, 7, 5 * SEC), SHMSYNC_OK); /* value differs: at once */
    pid = fork();
    if (pid == 0) {
        shmsync_region_t r;
        shared_t *c = child_attach(f, &r);
        while (__atomic_load_n(&c->word, __ATOMIC_SEQ_CST) == 0) {
            int rc = shmsync_wait(&c->word, 0, 10 * SEC);
            CHILD_CHECK(rc == SHMSYNC_OK);
        }
        _exit(0);
    }
    usleep(20000);
    __atomic_store_n(&s->word, 1, __ATOMIC_SEQ_CST);
    EXPECT(shmsync_wake_all(&s->word), SHMSYNC_OK);
    CHECK(reap(pid) == 0);
    EXPECT(shmsync_wake_one(&s->word), SHMSYNC_OK); /* no waiter: not an error */
    return 0;
}

/* 1,000,000 32-byte items from a child producer to the parent consumer, checksummed. */
static int test_byte_ring(void) {
    enum { CAP = 256, ITEM = 32 };
    const uint64_t n_items = 1000000;
    size_t len = shmsync_byte_ring_required_size(CAP, ITEM);
    void *mem;
    shmsync_byte_consumer_t rx;
    uint64_t i, sum = 0, want = 0;
    pid_t pid;
    CHECK(len == 512 + CAP * ITEM);
    mem = map_shared(len);
    EXPECT(shmsync_byte_ring_init(mem, len, CAP, ITEM), SHMSYNC_OK);
    pid = fork();
    if (pid == 0) {
        shmsync_byte_producer_t tx;
        uint64_t item[4];
        uint64_t k;
        memset(&tx, 0, sizeof tx);
        CHILD_CHECK(shmsync_byte_producer_open(&tx, mem, len, CAP, ITEM) == SHMSYNC_OK);
        for (k = 0; k < n_items; k++) {
            item[0] = k;
            item[1] = mix(k);
            item[2] = mix(k + 1);
            item[3] = ~k;
            if (k % 2) {
                CHILD_CHECK(shmsync_byte_write(&tx, item, ITEM, 10 * SEC) == SHMSYNC_OK);
            } else {
                /* The wait-free form first, the blocking one only when full. */
                int rc = shmsync_byte_try_write(&tx, item, ITEM);
                if (rc == SHMSYNC_E_FULL) rc = shmsync_byte_write(&tx, item, ITEM, 10 * SEC);
                CHILD_CHECK(rc == SHMSYNC_OK);
            }
        }
        CHILD_CHECK(shmsync_byte_producer_close(&tx) == SHMSYNC_OK);
        _exit(0);
    }
    memset(&rx, 0, sizeof rx);
    EXPECT(shmsync_byte_consumer_open(&rx, mem, len, CAP, ITEM), SHMSYNC_OK);
    for (i = 0; i < n_items; i++) {
        uint64_t item[4];
        EXPECT(shmsync_byte_read(&rx, item, ITEM, 10 * SEC), SHMSYNC_OK);
        if (item[0] != i || item[1] != mix(i) || item[2] != mix(i + 1) || item[3] != ~i) {
            fprintf(stderr, "byte ring: item %llu wrong\n", (unsigned long long)i);
            failures++;
            return 1;
        }
        sum += item[1];
        want += mix(i);
    }
    CHECK(sum == want);
    {
        uint64_t item[4];
        EXPECT(shmsync_byte_try_read(&rx, item, ITEM), SHMSYNC_E_EMPTY);
    }
    CHECK(reap(pid) == 0);
    EXPECT(shmsync_byte_consumer_close(&rx), SHMSYNC_OK);
    munmap(mem, len);
    return 0;
}

/* 1,000,000 messages of 8..100 bytes, checksummed. */
static int test_msg_ring(void) {
    enum { CAP = 8192 };
    const uint64_t n_msgs = 1000000;
    size_t len = shmsync_msg_ring_required_size(CAP);
    void *mem = map_shared(len);
    shmsync_msg_consumer_t rx;
    uint64_t i, sum = 0, want = 0;
    pid_t pid;
    EXPECT(shmsync_msg_ring_init(mem, len, CAP), SHMSYNC_OK);
    pid = fork();
    if (pid == 0) {
        shmsync_msg_producer_t tx;
        unsigned char buf[100];
        uint64_t k;
        memset(&tx, 0, sizeof tx);
        CHILD_CHECK(shmsync_msg_producer_open(&tx, mem, len, CAP) == SHMSYNC_OK);
        for (k = 0; k < n_msgs; k++) {
            size_t l = 8 + (size_t)(mix(k) % 93);
            uint64_t v = mix(k);
            memcpy(buf, &v, 8);
            memset(buf + 8, (int)(k & 0xff), l - 8);
            CHILD_CHECK(shmsync_msg_send(&tx, buf, l, 10 * SEC) == SHMSYNC_OK);
        }
        CHILD_CHECK(shmsync_msg_producer_close(&tx) == SHMSYNC_OK);
        _exit(0);
    }
    memset(&rx, 0, sizeof rx);
    EXPECT(shmsync_msg_consumer_open(&rx, mem, len, CAP), SHMSYNC_OK);
    for (i = 0; i < n_msgs; i++) {
        unsigned char buf[100];
        size_t l = 0, k;
        uint64_t v;
        EXPECT(shmsync_msg_recv(&rx, buf, sizeof buf, &l, 10 * SEC), SHMSYNC_OK);
        CHECK(l == 8 + (size_t)(mix(i) % 93));
        memcpy(&v, buf, 8);
        CHECK(v == mix(i));
        for (k = 8; k < l; k++) CHECK(buf[k] == (unsigned char)(i & 0xff));
        sum += v;
        want += mix(i);
    }
    CHECK(sum == want);
    CHECK(reap(pid) == 0);
    EXPECT(shmsync_msg_consumer_close(&rx), SHMSYNC_OK);
    munmap(mem, len);
    return 0;
}

/* Every error code, provoked. */
static int test_error_codes(fixture_t *f) {
    shared_t *s = f->s;
    shmsync_region_t r;
    void *user = NULL;
    int code;
    unsigned char *bytes;
    size_t blen, mlen, n = 0;
    void *bmem, *mmem, *zero;
    shmsync_byte_producer_t tx, tx2;
    shmsync_byte_consumer_t rx;
    shmsync_msg_producer_t mtx;
    shmsync_msg_consumer_t mrx;
    unsigned char item[16], big[200];

    /* strerror: every code has its own text; unknown codes get the fallback. */
    for (code = SHMSYNC_E_PANIC; code <= SHMSYNC_OWNER_DEAD; code++) {
        CHECK(shmsync_strerror(code) != NULL);
        CHECK(strcmp(shmsync_strerror(code), shmsync_strerror(12345)) != 0);
    }

    /* NULL */
    EXPECT(shmsync_mutex_lock(NULL), SHMSYNC_E_NULL);
    EXPECT(shmsync_condvar_signal(NULL), SHMSYNC_E_NULL);
    EXPECT(shmsync_semaphore_post(NULL, 1), SHMSYNC_E_NULL);
    EXPECT(shmsync_wait(NULL, 0, 0), SHMSYNC_E_NULL);
    EXPECT(shmsync_region_init(NULL, 4096, 8, 8, 1, &r, &user), SHMSYNC_E_NULL);
    EXPECT(shmsync_region_attach(f->mem, f->len, sizeof(shared_t), 8, SHARED_TAG, 0, NULL, &user), SHMSYNC_E_NULL);
    EXPECT(shmsync_byte_ring_init(NULL, 4096, 8, 8), SHMSYNC_E_NULL);
    EXPECT(shmsync_byte_try_write(NULL, item, 16), SHMSYNC_E_NULL);
    EXPECT(shmsync_semaphore_value(&s->count, NULL), SHMSYNC_E_NULL);

    /* MISALIGNED */
    bytes = (unsigned char *)s;
    EXPECT(shmsync_mutex_lock((shmsync_mutex_t *)(void *)(bytes + 1)), SHMSYNC_E_MISALIGNED);
    EXPECT(shmsync_wait(bytes + 2, 0, 0), SHMSYNC_E_MISALIGNED);
    blen = shmsync_byte_ring_required_size(8, 16);
    bmem = map_shared(blen + 4096);
    EXPECT(shmsync_byte_ring_init((unsigned char *)bmem + 64, blen, 8, 16), SHMSYNC_E_MISALIGNED);
    EXPECT(shmsync_region_attach((unsigned char *)f->mem + 8, f->len - 8, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_MISALIGNED);

    /* TOO_SMALL / INVALID geometry */
    EXPECT(shmsync_byte_ring_init(bmem, blen - 1, 8, 16), SHMSYNC_E_TOO_SMALL);
    EXPECT(shmsync_byte_ring_init(bmem, blen, 6, 16), SHMSYNC_E_INVALID);
    CHECK(shmsync_byte_ring_required_size(6, 16) == 0);
    CHECK(shmsync_msg_ring_required_size(15) == 0);
    EXPECT(shmsync_region_init(bmem, 100, 8, 8, 1, &r, &user), SHMSYNC_E_TOO_SMALL);
    EXPECT(shmsync_region_attach(f->mem, f->len - 1, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_TOO_SMALL);
    EXPECT(shmsync_region_init(bmem, 4096, 8, 3, 1, &r, &user), SHMSYNC_E_INVALID);

    /* NOT_READY, TIMEDOUT (attach), BAD_MAGIC: zeroed and scribbled memory */
    zero = map_shared(f->len);
    EXPECT(shmsync_region_attach(zero, f->len, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_NOT_READY);
    EXPECT(shmsync_region_attach(zero, f->len, sizeof(shared_t), 8, SHARED_TAG, 20 * MS, &r, &user), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_byte_producer_open(&tx, zero, blen, 8, 16), SHMSYNC_E_NOT_READY);
    memset(zero, 0x5a, 64);
    EXPECT(shmsync_region_attach(zero, f->len, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_BAD_MAGIC);
    memset(zero, 0x5a, 1024);
    EXPECT(shmsync_byte_producer_open(&tx, zero, 1024, 0, 0), SHMSYNC_E_BAD_MAGIC);

    /* VERSION and CORRUPTED: a copy of the real region with one header word changed. */
    memcpy(zero, f->mem, f->len);
    ((uint32_t *)zero)[2] ^= 0x100; /* abi_version */
    EXPECT(shmsync_region_attach(zero, f->len, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_VERSION);
    memcpy(zero, f->mem, f->len);
    ((uint32_t *)zero)[7] ^= 0x100; /* root_offset: covered by the checksum */
    EXPECT(shmsync_region_attach(zero, f->len, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_CORRUPTED);

    /* LAYOUT: another user tag / size; a message ring opened on a byte ring. */
    EXPECT(shmsync_region_attach(f->mem, f->len, sizeof(shared_t), 8, SHARED_TAG + 1, 0, &r, &user), SHMSYNC_E_LAYOUT);
    EXPECT(shmsync_region_attach(f->mem, f->len, sizeof(shared_t) - 8, 8, SHARED_TAG, 0, &r, &user), SHMSYNC_E_LAYOUT);
    EXPECT(shmsync_byte_ring_init(bmem, blen, 8, 16), SHMSYNC_OK);
    memset(&tx, 0, sizeof tx);
    memset(&tx2, 0, sizeof tx2);
    memset(&rx, 0, sizeof rx);
    EXPECT(shmsync_byte_producer_open(&tx, bmem, blen, 8, 8), SHMSYNC_E_LAYOUT);
    EXPECT(shmsync_msg_producer_open(&mtx, bmem, blen, 0), SHMSYNC_E_LAYOUT);

    /* BUSY: a role held; trylock held (above, in owner death); semaphore empty. */
    EXPECT(shmsync_byte_producer_open(&tx, bmem, blen, 8, 16), SHMSYNC_OK);
    EXPECT(shmsync_byte_producer_open(&tx2, bmem, blen, 0, 0), SHMSYNC_E_BUSY);
    EXPECT(shmsync_semaphore_init(&s->count, 0), SHMSYNC_OK);
    EXPECT(shmsync_semaphore_trywait(&s->count), SHMSYNC_E_BUSY);
    EXPECT(shmsync_semaphore_timedwait(&s->count, 5 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_mutex_lock(&s->counter_lock), SHMSYNC_OK);
    EXPECT(shmsync_mutex_trylock(&s->counter_lock), SHMSYNC_E_BUSY); /* same process */
    EXPECT(shmsync_mutex_unlock(&s->counter_lock), SHMSYNC_OK);
    EXPECT(shmsync_mutex_unlock(&s->counter_lock), SHMSYNC_E_NOT_OWNER); /* free */
    EXPECT(shmsync_condvar_timedwait(&s->cv, &s->counter_lock, MS), SHMSYNC_E_NOT_OWNER);
    EXPECT(shmsync_mutex_lock(&s->counter_lock), SHMSYNC_OK);
    EXPECT(shmsync_condvar_timedwait(&s->cv, &s->counter_lock, 5 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_mutex_unlock(&s->counter_lock), SHMSYNC_OK); /* re-held on timeout */

    /* FULL / EMPTY / INVALID length / TIMEDOUT / CORRUPTED on the byte ring. */
    memset(item, 1, sizeof item);
    EXPECT(shmsync_byte_consumer_open(&rx, bmem, blen, 8, 16), SHMSYNC_OK);
    EXPECT(shmsync_byte_try_read(&rx, item, 16), SHMSYNC_E_EMPTY);
    EXPECT(shmsync_byte_read(&rx, item, 16, 5 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_byte_try_write(&tx, item, 15), SHMSYNC_E_INVALID);
    EXPECT(shmsync_byte_write_slice(&tx, big, 8 * 16, &n), SHMSYNC_OK);
    CHECK(n == 8);
    EXPECT(shmsync_byte_try_write(&tx, item, 16), SHMSYNC_E_FULL);
    EXPECT(shmsync_byte_write(&tx, item, 16, 5 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_byte_read_slice(&rx, big, 3 * 16, &n), SHMSYNC_OK);
    CHECK(n == 3);
    EXPECT(shmsync_byte_read_slice(&rx, big, 8 * 16, &n), SHMSYNC_OK);
    CHECK(n == 5);
    ((uint32_t *)bmem)[0] = 1000; /* producer index, scribbled: seen on the next refresh */
    EXPECT(shmsync_byte_try_read(&rx, item, 16), SHMSYNC_E_CORRUPTED);
    EXPECT(shmsync_byte_producer_close(&tx), SHMSYNC_OK);
    EXPECT(shmsync_byte_producer_close(&tx), SHMSYNC_E_INVALID); /* twice */
    EXPECT(shmsync_byte_try_write(&tx, item, 16), SHMSYNC_E_INVALID); /* closed */
    EXPECT(shmsync_byte_consumer_close(&rx), SHMSYNC_OK);

    /* Message ring: TOO_LARGE, BUFFER_TOO_SMALL (message kept), FULL, EMPTY. */
    mlen = shmsync_msg_ring_required_size(256);
    mmem = map_shared(mlen);
    EXPECT(shmsync_msg_ring_init(mmem, mlen, 256), SHMSYNC_OK);
    memset(&mtx, 0, sizeof mtx);
    memset(&mrx, 0, sizeof mrx);
    EXPECT(shmsync_msg_producer_open(&mtx, mmem, mlen, 256), SHMSYNC_OK);
    EXPECT(shmsync_msg_consumer_open(&mrx, mmem, mlen, 512), SHMSYNC_E_LAYOUT);
    EXPECT(shmsync_msg_consumer_open(&mrx, mmem, mlen, 0), SHMSYNC_OK);
    EXPECT(shmsync_msg_try_send(&mtx, big, 121), SHMSYNC_E_TOO_LARGE);
    EXPECT(shmsync_msg_try_recv(&mrx, big, sizeof big, &n), SHMSYNC_E_EMPTY);
    EXPECT(shmsync_msg_try_send(&mtx, "hello", 5), SHMSYNC_OK);
    EXPECT(shmsync_msg_try_recv(&mrx, big, 4, &n), SHMSYNC_E_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    EXPECT(shmsync_msg_try_recv(&mrx, big, sizeof big, &n), SHMSYNC_OK);
    CHECK(n == 5 && memcmp(big, "hello", 5) == 0);
    while (shmsync_msg_try_send(&mtx, big, 100) == SHMSYNC_OK) {
    }
    EXPECT(shmsync_msg_try_send(&mtx, big, 100), SHMSYNC_E_FULL);
    EXPECT(shmsync_msg_send(&mtx, big, 100, 5 * MS), SHMSYNC_E_TIMEDOUT);
    EXPECT(shmsync_msg_send(NULL, big, 100, 5 * MS), SHMSYNC_E_NULL);

    /* OVERFLOW */
    EXPECT(shmsync_semaphore_post(&s->count, 1), SHMSYNC_OK);
    EXPECT(shmsync_semaphore_post(&s->count, UINT32_MAX), SHMSYNC_E_OVERFLOW);

    /* Region handles: close twice is INVALID. */
    EXPECT(shmsync_region_attach(f->mem, f->len, sizeof(shared_t), 8, SHARED_TAG, 0, &r, &user), SHMSYNC_OK);
    CHECK(user == (void *)f->s);
    EXPECT(shmsync_region_close(&r), SHMSYNC_OK);
    EXPECT(shmsync_region_close(&r), SHMSYNC_E_INVALID);

    CHECK(shmsync_backend() == SHMSYNC_BACKEND_FUTEX || shmsync_backend() > 0);
    CHECK(shmsync_backend_name() != NULL);
    munmap(zero, f->len);
    munmap(bmem, blen + 4096);
    munmap(mmem, mlen);
    return 0;
}

static int run_suite(const char *lang) {
    fixture_t f;
    printf("shmsync %s suite, backend %s (%d)\n", lang, shmsync_backend_name(), shmsync_init());
    if (fixture_init(&f)) return 1;
#define RUN(t)                                                                             \
    do {                                                                                   \
        int r_ = (t);                                                                      \
        printf("%-28s %s\n", #t, r_ ? "FAIL" : "ok");                                     \
        fflush(stdout);                                                                    \
    } while (0)
    RUN(test_mutex_counter(&f));
    RUN(test_condvar_handoff(&f));
    RUN(test_semaphore_handoff(&f));
    RUN(test_owner_death(&f));
    RUN(test_rwlock_and_events(&f));
    RUN(test_wait_wake(&f));
    RUN(test_byte_ring());
    RUN(test_msg_ring());
    RUN(test_error_codes(&f));
    EXPECT(shmsync_region_close(&f.region), SHMSYNC_OK);
    printf("%s suite: %d failure(s)\n", lang, failures);
    return failures != 0;
}

#endif
