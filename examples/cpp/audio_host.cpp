// A C++ audio host and its helper process exchanging audio blocks through two shmsync
// byte rings (C++17 wrapper shmsync.hpp). The host's "audio callback" only uses wait-free
// calls (try_write / try_read: no lock, no allocation, a syscall only when the helper is
// parked); the helper blocks with a timeout. The helper is this program re-executed as
// `audio_host helper <shm-name>`.
//
//   audio_host [--blocks N]     (default 5000 blocks of 256 frames, one per 250 µs)
#include "shmsync.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char **environ;

namespace {
using namespace std::chrono_literals;

constexpr std::uint32_t kFrames = 256;
constexpr std::uint32_t kSlots = 8;
constexpr std::uint32_t kStop = UINT32_MAX;

struct Block {
    std::uint32_t seq;
    std::uint32_t frames;
    float samples[kFrames];
};

float sample(std::uint32_t seq, std::uint32_t i) { return std::sin(0.01f * float(seq * kFrames + i)); }

struct Layout {
    std::size_t ring_len = shmsync::byte_producer::required_size(kSlots, sizeof(Block));
    std::size_t total() const { return 2 * ring_len; }
};

void *map(int fd, std::size_t len) {
    void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? nullptr : p;
}

int helper(const char *name) {
    Layout l;
    int fd = shm_open(name, O_RDWR, 0);
    auto *mem = static_cast<unsigned char *>(fd >= 0 ? map(fd, l.total()) : nullptr);
    if (!mem) return 10;
    shmsync::byte_consumer from_host;
    shmsync::byte_producer to_host;
    if (!from_host.open(mem, l.ring_len, kSlots, sizeof(Block)).ok()) return 11;
    if (!to_host.open(mem + l.ring_len, l.ring_len, kSlots, sizeof(Block)).ok()) return 12;
    Block b;
    for (;;) {
        shmsync::status s = from_host.read(&b, sizeof b, 2s);
        if (!s.ok()) return 13;
        if (b.seq == kStop) return 0;
        for (float &x : b.samples) x *= 0.5f; // the "processing": -6 dB
        if (!to_host.write(&b, sizeof b, 2s).ok()) return 14;
    }
}

int host(const char *self, std::uint32_t blocks) {
    Layout l;
    std::string name = "/shmsync-audio-" + std::to_string(getpid());
    int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, off_t(l.total())) != 0) return 20;
    auto *mem = static_cast<unsigned char *>(map(fd, l.total()));
    if (!mem) return 21;
    if (!shmsync::byte_producer::create(mem, l.ring_len, kSlots, sizeof(Block)).ok() ||
        !shmsync::byte_producer::create(mem + l.ring_len, l.ring_len, kSlots, sizeof(Block)).ok())
        return 22;
    shmsync::byte_producer to_helper;
    shmsync::byte_consumer from_helper;
    if (!to_helper.open(mem, l.ring_len).ok() || !from_helper.open(mem + l.ring_len, l.ring_len).ok()) return 23;

    pid_t pid = 0;
    char *argv[] = {const_cast<char *>(self), const_cast<char *>("helper"), const_cast<char *>(name.c_str()), nullptr};
    if (posix_spawn(&pid, self, nullptr, nullptr, argv, environ) != 0) return 24;

    std::uint32_t sent = 0, received = 0, overruns = 0, empty = 0, wrong = 0;
    Block out, in;
    auto next = std::chrono::steady_clock::now();
    auto check = [&](const Block &b) {
        bool ok = b.seq == received && b.frames == kFrames;
        for (std::uint32_t i = 0; ok && i < kFrames; i++) ok = b.samples[i] == 0.5f * sample(b.seq, i);
        wrong += ok ? 0 : 1;
        received++;
    };
    while (sent < blocks) {
        // --- the audio callback: wait-free only ---
        out.seq = sent;
        out.frames = kFrames;
        for (std::uint32_t i = 0; i < kFrames; i++) out.samples[i] = sample(sent, i);
        if (to_helper.try_write(&out, sizeof out).ok()) sent++; else overruns++;
        if (from_helper.try_read(&in, sizeof in).ok()) check(in); else empty++;
        // --- end of callback ---
        next += 250us;
        std::this_thread::sleep_until(next);
    }
    while (received < sent) {
        if (!from_helper.read(&in, sizeof in, 2s).ok()) break;
        check(in);
    }
    out.seq = kStop;
    shmsync::status st = to_helper.write(&out, sizeof out, 2s);
    int status = 0;
    waitpid(pid, &status, 0);
    shm_unlink(name.c_str());
    std::printf("audio_host: %u blocks sent, %u processed blocks back, %u wrong, %u callbacks found the "
                "ring full, %u found no processed block yet, helper exit %d (backend %s)\n",
                sent, received, wrong, overruns, empty, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                shmsync::backend_name());
    return (st.ok() && received == sent && wrong == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : 1;
}
} // namespace

int main(int argc, char **argv) {
    shmsync::init();
    if (argc == 3 && std::strcmp(argv[1], "helper") == 0) return helper(argv[2]);
    std::uint32_t blocks = 5000;
    if (argc == 3 && std::strcmp(argv[1], "--blocks") == 0) blocks = std::uint32_t(std::strtoul(argv[2], nullptr, 10));
    return host(argv[0], blocks);
}
