// Round-trip latency over shmsync's C API from C++: two byte rings (8-byte items, 8192
// slots, one per direction) between this process and a forked peer, the shape of the
// Rust pingpong example's ring rows, so the two can be compared in one run
// (ffi/bench/cpp-vs-rust.sh):
//
//   ring-block   blocking read with spin limit 0 on both ends: the receiver parks every
//                time the ring is empty (compare: pingpong's ring-block row)
//   ring-spin    wait-free try_write / try_read, spinning on empty (pingpong's ring-spin)
//
//   cpp_pingpong [--iters N] [--block-iters N] [--pin A,B] [--rows ring-block,ring-spin]
// (defaults 200,000 spinning and 5,000 blocking round trips: about as long as a pingpong
// row's slice, so both sample the machine over similar windows).
// Prints one line per row: "<row> median_ns <x> p99_ns <y> n <count>".
#include "shmsync.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>
#if defined(__linux__)
#include <sched.h>
#endif

namespace {
constexpr std::uint32_t kSlots = 8192;

void pin(int cpu) {
#if defined(__linux__)
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity");
#else
    (void)cpu;
#endif
}

// CLOCK_MONOTONIC read directly (a vDSO call), the clock the Rust pingpong reads through
// the hal: std::chrono::steady_clock adds a call into libstdc++ per timestamp.
std::uint64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

struct Rings {
    unsigned char *mem;
    std::size_t len;
    void *a() { return mem; }
    void *b() { return mem + len; }
};

// The spin-loop hint between polls (what Rust's core::hint::spin_loop emits), as the Rust
// pingpong's ring-spin row does.
inline void spin_hint() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("isb sy" ::: "memory");
#endif
}

// Receives one 8-byte item: blocking (park at once) or spinning on try_read.
bool recv(shmsync_byte_consumer_t *c, std::uint64_t *v, bool block) {
    if (block) return shmsync_byte_read(c, v, 8, SHMSYNC_FOREVER) == SHMSYNC_OK;
    int rc;
    while ((rc = shmsync_byte_try_read(c, v, 8)) == SHMSYNC_E_EMPTY) spin_hint();
    return rc == SHMSYNC_OK;
}

bool send(shmsync_byte_producer_t *p, std::uint64_t v) {
    int rc;
    while ((rc = shmsync_byte_try_write(p, &v, 8)) == SHMSYNC_E_FULL) spin_hint();
    return rc == SHMSYNC_OK;
}

int run_row(const char *row, bool block, std::uint64_t iters, int cpu_a, int cpu_b) {
    Rings r;
    r.len = shmsync_byte_ring_required_size(kSlots, 8);
    r.mem = static_cast<unsigned char *>(
        mmap(nullptr, 2 * r.len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANON, -1, 0));
    if (r.mem == MAP_FAILED) return 1;
    if (shmsync_byte_ring_init(r.a(), r.len, kSlots, 8) != SHMSYNC_OK ||
        shmsync_byte_ring_init(r.b(), r.len, kSlots, 8) != SHMSYNC_OK)
        return 1;
    const std::uint64_t warm = iters / 10;
    pid_t pid = fork();
    if (pid == 0) {
        pin(cpu_b);
        shmsync_byte_consumer_t in;
        shmsync_byte_producer_t out;
        std::memset(&in, 0, sizeof in);
        std::memset(&out, 0, sizeof out);
        if (shmsync_byte_consumer_open(&in, r.a(), r.len, kSlots, 8) != SHMSYNC_OK) _exit(2);
        if (shmsync_byte_producer_open(&out, r.b(), r.len, kSlots, 8) != SHMSYNC_OK) _exit(3);
        shmsync_byte_consumer_set_spin_limit(&in, 0);
        shmsync_byte_producer_set_spin_limit(&out, 0);
        for (std::uint64_t i = 1; i <= warm + iters; i++) {
            std::uint64_t v = 0;
            if (!recv(&in, &v, block) || v != i) _exit(4);
            if (!send(&out, v)) _exit(5);
        }
        _exit(0);
    }
    pin(cpu_a);
    shmsync_byte_producer_t out;
    shmsync_byte_consumer_t in;
    std::memset(&in, 0, sizeof in);
    std::memset(&out, 0, sizeof out);
    if (shmsync_byte_producer_open(&out, r.a(), r.len, kSlots, 8) != SHMSYNC_OK) return 1;
    if (shmsync_byte_consumer_open(&in, r.b(), r.len, kSlots, 8) != SHMSYNC_OK) return 1;
    shmsync_byte_consumer_set_spin_limit(&in, 0);
    shmsync_byte_producer_set_spin_limit(&out, 0);
    std::vector<std::uint64_t> samples;
    samples.reserve(iters);
    for (std::uint64_t i = 1; i <= warm + iters; i++) {
        std::uint64_t t0 = now_ns(), v = 0;
        if (!send(&out, i) || !recv(&in, &v, block) || v != i) {
            std::fprintf(stderr, "%s: message %llu lost or wrong\n", row, (unsigned long long)i);
            return 1;
        }
        if (i > warm) samples.push_back(now_ns() - t0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "%s: peer failed (%d)\n", row, status);
        return 1;
    }
    std::sort(samples.begin(), samples.end());
    std::printf("%s median_ns %llu p99_ns %llu n %zu\n", row,
                (unsigned long long)samples[samples.size() / 2],
                (unsigned long long)samples[samples.size() * 99 / 100], samples.size());
    std::fflush(stdout);
    shmsync_byte_producer_close(&out);
    shmsync_byte_consumer_close(&in);
    munmap(r.mem, 2 * r.len);
    return 0;
}
} // namespace

int main(int argc, char **argv) {
    shmsync_init();
    std::uint64_t iters = 200000, block_iters = 5000;
    int a = 0, b = 1;
    std::string rows = "ring-block,ring-spin";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--iters")) iters = std::strtoull(argv[i + 1], nullptr, 10);
        else if (!std::strcmp(argv[i], "--block-iters")) block_iters = std::strtoull(argv[i + 1], nullptr, 10);
        else if (!std::strcmp(argv[i], "--pin")) std::sscanf(argv[i + 1], "%d,%d", &a, &b);
        else if (!std::strcmp(argv[i], "--rows")) rows = argv[i + 1];
    }
    int rc = 0;
    if (rows.find("ring-block") != std::string::npos) rc |= run_row("ring-block", true, block_iters, a, b);
    if (rows.find("ring-spin") != std::string::npos) rc |= run_row("ring-spin", false, iters, a, b);
    return rc;
}
