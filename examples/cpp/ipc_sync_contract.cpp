// The C++ IPC library's synchronisation contract — a mutex with a millisecond timed lock,
// a condition with a timed wait, a counting semaphore, each living in shared memory —
// implemented on shmsync's C API. The library emulated these timed waits on macOS with
// sleep loops (2–3 ms round trips); here each is one native timed wait.
//
// The contract part (namespace ipc_sync) is the few dozen lines a port needs; main()
// exercises it across two forked processes.
#include "shmsync.h"

#include <cstdint>
#include <cstdio>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ipc_sync {
/// "Wait forever", as the library spells it.
constexpr std::uint64_t invalid_value = UINT64_MAX;
constexpr std::uint64_t ms_to_ns(std::uint64_t tm) {
    return tm == invalid_value ? SHMSYNC_FOREVER : tm * 1000000ull;
}

/// lock(tm) / try_lock() / unlock(); a holder that died hands the lock on (repaired).
struct mutex {
    shmsync_mutex_t m; // zeroed shared memory is an unlocked mutex
    bool lock(std::uint64_t tm = invalid_value) {
        int rc = shmsync_mutex_timedlock(&m, ms_to_ns(tm));
        if (rc == SHMSYNC_OWNER_DEAD) rc = shmsync_mutex_consistent(&m);
        return rc == SHMSYNC_OK;
    }
    bool try_lock() {
        int rc = shmsync_mutex_trylock(&m);
        if (rc == SHMSYNC_OWNER_DEAD) rc = shmsync_mutex_consistent(&m);
        return rc == SHMSYNC_OK;
    }
    bool unlock() { return shmsync_mutex_unlock(&m) == SHMSYNC_OK; }
};

/// wait(mtx, tm) / notify(mtx) / broadcast(mtx); false on timeout (mutex re-held).
struct condition {
    shmsync_condvar_t c;
    bool wait(mutex &mtx, std::uint64_t tm = invalid_value) {
        int rc = shmsync_condvar_timedwait(&c, &mtx.m, ms_to_ns(tm));
        if (rc == SHMSYNC_OWNER_DEAD) rc = shmsync_mutex_consistent(&mtx.m);
        return rc == SHMSYNC_OK;
    }
    bool notify(mutex &) { return shmsync_condvar_signal(&c) == SHMSYNC_OK; }
    bool broadcast(mutex &) { return shmsync_condvar_broadcast(&c) == SHMSYNC_OK; }
};

/// wait(tm) / post(count).
struct semaphore {
    shmsync_semaphore_t s;
    bool wait(std::uint64_t tm = invalid_value) {
        return shmsync_semaphore_timedwait(&s, ms_to_ns(tm)) == SHMSYNC_OK;
    }
    bool post(std::uint32_t count = 1) { return shmsync_semaphore_post(&s, count) == SHMSYNC_OK; }
};
} // namespace ipc_sync

struct Shared {
    ipc_sync::mutex mtx;
    ipc_sync::condition cond;
    ipc_sync::semaphore sem;
    int ready;
    int value;
};

int main() {
    const std::size_t len = shmsync_region_required_size(sizeof(Shared), alignof(Shared));
    void *mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0);
    shmsync_region_t region;
    void *user = nullptr;
    if (mem == MAP_FAILED ||
        shmsync_region_init(mem, len, sizeof(Shared), alignof(Shared), 0x49504353594e43ull, &region, &user) != SHMSYNC_OK) {
        std::fprintf(stderr, "region init failed\n");
        return 1;
    }
    auto *s = static_cast<Shared *>(user);
    const int rounds = 10000;
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < rounds; i++) {
            if (!s->sem.wait(5000)) _exit(2); // the parent's post
            if (!s->mtx.lock(5000)) _exit(3);
            s->value++;
            s->ready = 1;
            s->cond.notify(s->mtx);
            s->mtx.unlock();
        }
        _exit(0);
    }
    int timeouts = 0;
    for (int i = 0; i < rounds; i++) {
        if (!s->mtx.lock(5000)) return 4;
        s->ready = 0;
        s->sem.post();
        while (!s->ready) {
            if (!s->cond.wait(s->mtx, 5000)) return 5;
        }
        s->mtx.unlock();
    }
    // Timed forms time out when nobody answers: 1 ms each.
    if (!s->sem.wait(1)) timeouts++;
    s->mtx.lock();
    if (!s->cond.wait(s->mtx, 1)) timeouts++;
    s->mtx.unlock();
    int status = 0;
    waitpid(child, &status, 0);
    std::printf("ipc_sync contract: %d hand-offs, value %d, %d/2 timed waits timed out, child status %d\n",
                rounds, s->value, timeouts, status);
    shmsync_region_close(&region);
    return (s->value == rounds && timeouts == 2 && status == 0) ? 0 : 1;
}
