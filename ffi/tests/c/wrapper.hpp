// Tests of include/shmsync.hpp across forked processes (RAII guards, chrono timeouts,
// status results). Included by test_cpp.cpp after suite.h.
#include "shmsync.hpp"

#include <chrono>
#include <cstring>
#include <mutex>
#include <shared_mutex>

namespace wrapper_tests {
using namespace std::chrono_literals;

struct Shared {
    shmsync::mutex lock;
    shmsync::condvar cv;
    shmsync::semaphore items;
    shmsync::rwlock rw;
    shmsync::manual_event go;
    std::uint64_t counter;
    std::uint32_t stage;
};

#define WCHECK(cond)                                                                      \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: wrapper CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

inline int run() {
    const std::size_t len = shmsync::region<Shared>::required_size();
    void *mem = map_shared(len);
    shmsync::region<Shared> reg;
    WCHECK(reg.init(mem, len, 0x57524150ull).ok());
    // Mutex counter through RAII guards and std::lock_guard, 4 processes.
    pid_t pids[4];
    for (pid_t &pid : pids) {
        pid = fork();
        if (pid == 0) {
            shmsync::region<Shared> r;
            CHILD_CHECK(r.attach(mem, len, 0x57524150ull, 1s).ok());
            for (int i = 0; i < 10000; i++) {
                if (i % 2) {
                    auto g = r->lock.guard_for(5s);
                    CHILD_CHECK(g.owns_lock() && g.result().ok());
                    r->counter++;
                } else {
                    std::lock_guard<shmsync::mutex> g(r->lock);
                    r->counter++;
                }
            }
            _exit(0);
        }
    }
    for (pid_t pid : pids) WCHECK(reap(pid) == 0);
    WCHECK(reg->counter == 40000);
    // Owner death through the guard.
    pid_t dying = fork();
    if (dying == 0) {
        auto g = reg->lock.guard();
        _exit(0); // dies holding it
    }
    WCHECK(reap(dying) == 0);
    {
        auto g = reg->lock.guard_for(2s);
        WCHECK(g.owns_lock() && g.result().owner_dead());
        WCHECK(g.mark_consistent().ok());
    }
    {
        auto g = reg->lock.try_guard();
        WCHECK(g.owns_lock() && g.result().ok());
    }
    // Condvar with a predicate and a chrono timeout; semaphore; event; rwlock.
    WCHECK(reg->items.init(0).ok());
    pid_t child = fork();
    if (child == 0) {
        shmsync::region<Shared> r;
        CHILD_CHECK(r.attach(mem, len, 0x57524150ull, 1s).ok());
        CHILD_CHECK(r->go.wait_for(5s));
        {
            auto g = r->lock.guard();
            r->stage = 1;
        }
        CHILD_CHECK(r->cv.notify_all().ok());
        for (int i = 0; i < 1000; i++) CHILD_CHECK(r->items.release().ok());
        _exit(0);
    }
    {
        auto g = reg->lock.guard();
        WCHECK(!reg->cv.wait_for(g, 1ms, [&] { return reg->stage == 1; })); // not yet
        WCHECK(reg->go.set().ok());
        WCHECK(reg->cv.wait_for(g, 5s, [&] { return reg->stage == 1; }));
    }
    for (int i = 0; i < 1000; i++) WCHECK(reg->items.try_acquire_for(5s));
    WCHECK(!reg->items.try_acquire());
    WCHECK(reap(child) == 0);
    {
        std::shared_lock<shmsync::rwlock> r1(reg->rw);
        WCHECK(!reg->rw.try_lock());
        WCHECK(reg->rw.try_lock_shared());
        reg->rw.unlock_shared();
    }
    {
        std::unique_lock<shmsync::rwlock> w(reg->rw);
        WCHECK(!reg->rw.try_lock_shared_for(1ms));
    }
    // A byte ring with RAII ends and chrono timeouts.
    const std::size_t rlen = shmsync::byte_producer::required_size(64, 8);
    void *rmem = map_shared(rlen);
    WCHECK(shmsync::byte_producer::create(rmem, rlen, 64, 8).ok());
    pid_t prod = fork();
    if (prod == 0) {
        shmsync::byte_producer tx;
        CHILD_CHECK(tx.open(rmem, rlen, 64, 8).ok());
        for (std::uint64_t i = 0; i < 100000; i++) CHILD_CHECK(tx.write(&i, 8, 5s).ok());
        _exit(0);
    }
    shmsync::byte_consumer rx;
    WCHECK(rx.open(rmem, rlen).ok());
    shmsync::byte_consumer second;
    WCHECK(second.open(rmem, rlen).code() == SHMSYNC_E_BUSY);
    for (std::uint64_t i = 0; i < 100000; i++) {
        std::uint64_t v = 0;
        WCHECK(rx.read(&v, 8, 5s).ok());
        WCHECK(v == i);
    }
    std::uint64_t v = 0;
    WCHECK(rx.read(&v, 8, 2ms).timed_out());
    WCHECK(std::strcmp(rx.read(&v, 8, 0ms).message(), shmsync_strerror(SHMSYNC_E_TIMEDOUT)) == 0);
    WCHECK(reap(prod) == 0);
    WCHECK(shmsync::to_ns(-5s) == 0 && shmsync::to_ns(std::chrono::hours(1000000000)) == shmsync::forever);
    return 0;
}
} // namespace wrapper_tests

inline int run_wrapper_tests() {
    int r = wrapper_tests::run();
    std::printf("%-28s %s\n", "wrapper (shmsync.hpp)", r ? "FAIL" : "ok");
    return r;
}
