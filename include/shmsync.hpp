// shmsync.hpp: a header-only C++17 wrapper over the shmsync C API (shmsync.h).
//
// * No exceptions: every fallible call returns a shmsync::status (an error code with
//   ok() / owner_dead() / message()); calls whose result must not be ignored are
//   [[nodiscard]].
// * Timeouts are std::chrono durations (saturated to the C API's nanoseconds).
// * The lock types (mutex, condvar, semaphore, rwlock, auto_event, manual_event) have the
//   exact size and alignment of their C types, are trivially default-constructible, and
//   live directly in a struct placed in shared memory (zeroed memory is a valid, unlocked
//   / empty object: what region::init gives). mutex and rwlock meet BasicLockable /
//   Lockable / SharedLockable, so std::lock_guard, std::unique_lock and std::shared_lock
//   work; shmsync::mutex_guard additionally reports owner death.
// * Ring ends and region handles are process-local, move-only RAII objects.
//
// Real-time classes are those of the C functions (see shmsync.h): try_* and ring slice
// operations are wait-free; anything that waits may block.
#ifndef SHMSYNC_HPP
#define SHMSYNC_HPP

#include "shmsync.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace shmsync {

/// A C API return code.
class status {
  public:
    constexpr status() noexcept = default;
    constexpr explicit status(int code) noexcept : code_(code) {}
    /// SHMSYNC_OK.
    constexpr bool ok() const noexcept { return code_ == SHMSYNC_OK; }
    /// Acquired, previous holder died (the lock is held).
    constexpr bool owner_dead() const noexcept { return code_ == SHMSYNC_OWNER_DEAD; }
    /// SHMSYNC_E_TIMEDOUT.
    constexpr bool timed_out() const noexcept { return code_ == SHMSYNC_E_TIMEDOUT; }
    /// ok() or owner_dead(): the operation succeeded.
    constexpr bool acquired() const noexcept { return code_ >= 0; }
    constexpr explicit operator bool() const noexcept { return code_ >= 0; }
    constexpr int code() const noexcept { return code_; }
    const char *message() const noexcept { return shmsync_strerror(code_); }
    friend constexpr bool operator==(status a, status b) noexcept { return a.code_ == b.code_; }
    friend constexpr bool operator!=(status a, status b) noexcept { return a.code_ != b.code_; }

  private:
    int code_ = SHMSYNC_OK;
};

/// No time limit.
inline constexpr std::uint64_t forever = SHMSYNC_FOREVER;

/// A duration as the C API's timeout: negative → 0, too large → forever.
template <class Rep, class Period>
constexpr std::uint64_t to_ns(std::chrono::duration<Rep, Period> d) noexcept {
    using ns = std::chrono::duration<long double, std::nano>;
    const long double v = std::chrono::duration_cast<ns>(d).count();
    if (!(v > 0)) return 0;
    if (v >= 1.8e19L) return forever;
    return static_cast<std::uint64_t>(v);
}

/// Chooses the backend (call once at start-up on macOS); returns SHMSYNC_BACKEND_*.
inline int init() noexcept { return shmsync_init(); }
/// The active backend's name.
inline const char *backend_name() noexcept { return shmsync_backend_name(); }

/// Sleeps while `word == expected`, at most `timeout`. ok (woken or value differs) or
/// timed_out.
template <class Rep, class Period>
[[nodiscard]] inline status wait(const std::atomic<std::uint32_t> &word, std::uint32_t expected,
                                 std::chrono::duration<Rep, Period> timeout) noexcept {
    return status(shmsync_wait(&word, expected, to_ns(timeout)));
}
[[nodiscard]] inline status wait(const std::atomic<std::uint32_t> &word, std::uint32_t expected) noexcept {
    return status(shmsync_wait(&word, expected, forever));
}
inline status wake_one(const std::atomic<std::uint32_t> &word) noexcept { return status(shmsync_wake_one(&word)); }
inline status wake_all(const std::atomic<std::uint32_t> &word) noexcept { return status(shmsync_wake_all(&word)); }
static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && alignof(std::atomic<std::uint32_t>) == 4,
              "std::atomic<uint32_t> must be a plain 32-bit word");

class mutex;

/// Holds a shmsync::mutex (RAII); knows whether the previous holder died.
class [[nodiscard]] mutex_guard {
  public:
    mutex_guard() noexcept = default;
    mutex_guard(mutex &m, status st) noexcept : m_(st.acquired() ? &m : nullptr), st_(st) {}
    mutex_guard(mutex_guard &&o) noexcept : m_(std::exchange(o.m_, nullptr)), st_(o.st_) {}
    mutex_guard &operator=(mutex_guard &&o) noexcept {
        if (this != &o) {
            reset();
            m_ = std::exchange(o.m_, nullptr);
            st_ = o.st_;
        }
        return *this;
    }
    mutex_guard(const mutex_guard &) = delete;
    mutex_guard &operator=(const mutex_guard &) = delete;
    ~mutex_guard() { reset(); }
    /// True while the lock is held through this guard.
    bool owns_lock() const noexcept { return m_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    /// How the lock was taken: ok, owner_dead, timed_out, or an error.
    status result() const noexcept { return st_; }
    /// After owner_dead: declare the data repaired.
    inline status mark_consistent() noexcept;
    /// Unlocks now.
    inline void reset() noexcept;
    mutex *get() const noexcept { return m_; }

  private:
    mutex *m_ = nullptr;
    status st_{};
};

/// A process-shared mutex (shmsync_mutex_t) with owner-death recovery.
class mutex {
  public:
    mutex() noexcept = default;
    mutex(const mutex &) = delete;
    mutex &operator=(const mutex &) = delete;
    /// Resets to unlocked (zeroed memory already is).
    status init() noexcept { return status(shmsync_mutex_init(&raw_)); }
    /// Locks: ok or owner_dead (held in both cases).
    status lock() noexcept { return status(shmsync_mutex_lock(&raw_)); }
    /// Lockable: true when acquired (ok or owner_dead).
    bool try_lock() noexcept { return shmsync_mutex_trylock(&raw_) >= 0; }
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> t) noexcept {
        return shmsync_mutex_timedlock(&raw_, to_ns(t)) >= 0;
    }
    status unlock() noexcept { return status(shmsync_mutex_unlock(&raw_)); }
    status consistent() noexcept { return status(shmsync_mutex_consistent(&raw_)); }
    /// RAII: lock and return the guard (check guard.result().owner_dead()).
    mutex_guard guard() noexcept { return mutex_guard(*this, lock()); }
    /// RAII, timed: guard.owns_lock() is false on timeout (result().timed_out()).
    template <class Rep, class Period>
    mutex_guard guard_for(std::chrono::duration<Rep, Period> t) noexcept {
        return mutex_guard(*this, status(shmsync_mutex_timedlock(&raw_, to_ns(t))));
    }
    /// RAII, non-blocking: result() is SHMSYNC_E_BUSY when held elsewhere.
    mutex_guard try_guard() noexcept { return mutex_guard(*this, status(shmsync_mutex_trylock(&raw_))); }
    shmsync_mutex_t *native() noexcept { return &raw_; }

  private:
    shmsync_mutex_t raw_;
};

inline status mutex_guard::mark_consistent() noexcept {
    return m_ ? m_->consistent() : status(SHMSYNC_E_NOT_OWNER);
}
inline void mutex_guard::reset() noexcept {
    if (m_) {
        (void)m_->unlock();
        m_ = nullptr;
    }
}

/// A process-shared condition variable for shmsync::mutex.
class condvar {
  public:
    condvar() noexcept = default;
    condvar(const condvar &) = delete;
    condvar &operator=(const condvar &) = delete;
    status init() noexcept { return status(shmsync_condvar_init(&raw_)); }
    /// Unlocks the guard's mutex, waits, re-locks: ok / owner_dead / error.
    status wait(mutex_guard &g) noexcept { return status(shmsync_condvar_wait(&raw_, native(g))); }
    /// As wait, at most `t`: timed_out (mutex re-held) when the time passed.
    template <class Rep, class Period>
    status wait_for(mutex_guard &g, std::chrono::duration<Rep, Period> t) noexcept {
        return status(shmsync_condvar_timedwait(&raw_, native(g), to_ns(t)));
    }
    /// Waits until `pred()` holds, at most `t` in total; true when it holds.
    template <class Rep, class Period, class Pred>
    bool wait_for(mutex_guard &g, std::chrono::duration<Rep, Period> t, Pred pred) noexcept {
        const auto deadline = std::chrono::steady_clock::now() + t;
        while (!pred()) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) return pred();
            status s = wait_for(g, deadline - now);
            if (!s && !s.timed_out()) return false;
        }
        return true;
    }
    status notify_one() noexcept { return status(shmsync_condvar_signal(&raw_)); }
    status notify_all() noexcept { return status(shmsync_condvar_broadcast(&raw_)); }
    shmsync_condvar_t *native() noexcept { return &raw_; }

  private:
    static shmsync_mutex_t *native(mutex_guard &g) noexcept { return g.get() ? g.get()->native() : nullptr; }
    shmsync_condvar_t raw_;
};

/// A process-shared counting semaphore.
class semaphore {
  public:
    semaphore() noexcept = default;
    semaphore(const semaphore &) = delete;
    semaphore &operator=(const semaphore &) = delete;
    status init(std::uint32_t initial) noexcept { return status(shmsync_semaphore_init(&raw_, initial)); }
    status acquire() noexcept { return status(shmsync_semaphore_wait(&raw_)); }
    bool try_acquire() noexcept { return shmsync_semaphore_trywait(&raw_) == SHMSYNC_OK; }
    template <class Rep, class Period>
    bool try_acquire_for(std::chrono::duration<Rep, Period> t) noexcept {
        return shmsync_semaphore_timedwait(&raw_, to_ns(t)) == SHMSYNC_OK;
    }
    status release(std::uint32_t n = 1) noexcept { return status(shmsync_semaphore_post(&raw_, n)); }
    std::uint32_t value() noexcept {
        std::uint32_t v = 0;
        (void)shmsync_semaphore_value(&raw_, &v);
        return v;
    }
    shmsync_semaphore_t *native() noexcept { return &raw_; }

  private:
    shmsync_semaphore_t raw_;
};

/// A process-shared reader-writer lock (Lockable and SharedLockable).
class rwlock {
  public:
    rwlock() noexcept = default;
    rwlock(const rwlock &) = delete;
    rwlock &operator=(const rwlock &) = delete;
    status init() noexcept { return status(shmsync_rwlock_init(&raw_)); }
    void lock() noexcept { (void)shmsync_rwlock_wrlock(&raw_); }
    bool try_lock() noexcept { return shmsync_rwlock_trywrlock(&raw_) == SHMSYNC_OK; }
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> t) noexcept {
        return shmsync_rwlock_timedwrlock(&raw_, to_ns(t)) == SHMSYNC_OK;
    }
    void unlock() noexcept { (void)shmsync_rwlock_wrunlock(&raw_); }
    void lock_shared() noexcept { (void)shmsync_rwlock_rdlock(&raw_); }
    bool try_lock_shared() noexcept { return shmsync_rwlock_tryrdlock(&raw_) == SHMSYNC_OK; }
    template <class Rep, class Period>
    bool try_lock_shared_for(std::chrono::duration<Rep, Period> t) noexcept {
        return shmsync_rwlock_timedrdlock(&raw_, to_ns(t)) == SHMSYNC_OK;
    }
    void unlock_shared() noexcept { (void)shmsync_rwlock_rdunlock(&raw_); }
    shmsync_rwlock_t *native() noexcept { return &raw_; }

  private:
    shmsync_rwlock_t raw_;
};

#define SHMSYNC_HPP_EVENT(name, ctype, prefix)                                               \
    class name {                                                                             \
      public:                                                                                \
        name() noexcept = default;                                                           \
        name(const name &) = delete;                                                         \
        name &operator=(const name &) = delete;                                              \
        status init(bool set) noexcept { return status(prefix##_init(&raw_, set ? 1 : 0)); } \
        status set() noexcept { return status(prefix##_set(&raw_)); }                       \
        status reset() noexcept { return status(prefix##_reset(&raw_)); }                   \
        bool try_wait() noexcept { return prefix##_trywait(&raw_) == SHMSYNC_OK; }          \
        status wait() noexcept { return status(prefix##_wait(&raw_)); }                     \
        template <class Rep, class Period>                                                   \
        bool wait_for(std::chrono::duration<Rep, Period> t) noexcept {                       \
            return prefix##_timedwait(&raw_, to_ns(t)) == SHMSYNC_OK;                        \
        }                                                                                    \
        bool is_set() noexcept { return prefix##_is_set(&raw_) == 1; }                      \
        ctype *native() noexcept { return &raw_; }                                           \
                                                                                             \
      private:                                                                               \
        ctype raw_;                                                                          \
    };
/// A process-shared auto-reset event.
SHMSYNC_HPP_EVENT(auto_event, shmsync_auto_event_t, shmsync_auto_event)
/// A process-shared manual-reset event.
SHMSYNC_HPP_EVENT(manual_event, shmsync_manual_event_t, shmsync_manual_event)
#undef SHMSYNC_HPP_EVENT

static_assert(sizeof(mutex) == SHMSYNC_MUTEX_SIZE && alignof(mutex) == SHMSYNC_MUTEX_ALIGN, "mutex layout");
static_assert(sizeof(condvar) == SHMSYNC_CONDVAR_SIZE && alignof(condvar) == SHMSYNC_CONDVAR_ALIGN, "condvar layout");
static_assert(sizeof(semaphore) == SHMSYNC_SEMAPHORE_SIZE, "semaphore layout");
static_assert(sizeof(rwlock) == SHMSYNC_RWLOCK_SIZE, "rwlock layout");
static_assert(sizeof(auto_event) == SHMSYNC_EVENT_SIZE && sizeof(manual_event) == SHMSYNC_EVENT_SIZE, "event layout");
static_assert(std::is_trivially_default_constructible_v<mutex> && std::is_standard_layout_v<mutex>,
              "lock types must be placeable in zeroed shared memory");

/// A region holding a `T` in memory the caller mapped (process-local handle, RAII).
/// `T` is the caller's struct of shmsync objects and plain data; its tag names its layout.
template <class T>
class region {
    static_assert(std::is_standard_layout_v<T>, "a region's root must be standard-layout");

  public:
    region() noexcept = default;
    region(region &&o) noexcept : h_(o.h_), user_(std::exchange(o.user_, nullptr)) {}
    region &operator=(region &&o) noexcept {
        if (this != &o) {
            close();
            h_ = o.h_;
            user_ = std::exchange(o.user_, nullptr);
        }
        return *this;
    }
    region(const region &) = delete;
    region &operator=(const region &) = delete;
    ~region() { close(); }

    /// Bytes of memory to map for this region.
    static std::size_t required_size() noexcept { return shmsync_region_required_size(sizeof(T), alignof(T)); }
    /// Creates the region (zeroed T) in `len` bytes at `mem`.
    [[nodiscard]] status init(void *mem, std::size_t len, std::uint64_t tag) noexcept {
        close();
        void *u = nullptr;
        status s(shmsync_region_init(mem, len, sizeof(T), alignof(T), tag, &h_, &u));
        if (s.ok()) user_ = static_cast<T *>(u);
        return s;
    }
    /// Attaches, waiting up to `timeout` for the creator.
    template <class Rep, class Period>
    [[nodiscard]] status attach(void *mem, std::size_t len, std::uint64_t tag,
                                std::chrono::duration<Rep, Period> timeout) noexcept {
        close();
        void *u = nullptr;
        status s(shmsync_region_attach(mem, len, sizeof(T), alignof(T), tag, to_ns(timeout), &h_, &u));
        if (s.ok()) user_ = static_cast<T *>(u);
        return s;
    }
    T *get() const noexcept { return user_; }
    T *operator->() const noexcept { return user_; }
    T &operator*() const noexcept { return *user_; }
    explicit operator bool() const noexcept { return user_ != nullptr; }
    void close() noexcept {
        if (user_) {
            (void)shmsync_region_close(&h_);
            user_ = nullptr;
        }
    }

  private:
    shmsync_region_t h_{};
    T *user_ = nullptr;
};

namespace detail {
/// A move-only RAII ring-end handle over the C functions `Open`/`Close`.
template <class H, int (*Close)(H *)>
class end {
  public:
    end() noexcept = default;
    end(end &&o) noexcept : h_(o.h_), open_(std::exchange(o.open_, false)) {}
    end &operator=(end &&o) noexcept {
        if (this != &o) {
            close();
            h_ = o.h_;
            open_ = std::exchange(o.open_, false);
        }
        return *this;
    }
    end(const end &) = delete;
    end &operator=(const end &) = delete;
    ~end() { close(); }
    explicit operator bool() const noexcept { return open_; }
    void close() noexcept {
        if (open_) {
            (void)Close(&h_);
            open_ = false;
        }
    }
    H *native() noexcept { return &h_; }

  protected:
    status opened(int rc) noexcept {
        open_ = rc == SHMSYNC_OK;
        return status(rc);
    }
    H h_{};
    bool open_ = false;
};
} // namespace detail

/// Producer end of a byte ring (fixed-size items).
class byte_producer : public detail::end<shmsync_byte_producer_t, shmsync_byte_producer_close> {
  public:
    /// Bytes for a ring of `capacity` (power of two) items of `item_size` bytes; 0 if invalid.
    static std::size_t required_size(std::uint32_t capacity, std::uint32_t item_size) noexcept {
        return shmsync_byte_ring_required_size(capacity, item_size);
    }
    /// Creates the ring (once, by one process).
    [[nodiscard]] static status create(void *mem, std::size_t len, std::uint32_t capacity, std::uint32_t item_size) noexcept {
        return status(shmsync_byte_ring_init(mem, len, capacity, item_size));
    }
    /// Attaches and claims the producer role (geometry 0, 0: accept any).
    [[nodiscard]] status open(void *mem, std::size_t len, std::uint32_t capacity = 0, std::uint32_t item_size = 0) noexcept {
        close();
        return opened(shmsync_byte_producer_open(&h_, mem, len, capacity, item_size));
    }
    /// Wait-free: ok / SHMSYNC_E_FULL.
    [[nodiscard]] status try_write(const void *item, std::size_t len) noexcept { return status(shmsync_byte_try_write(&h_, item, len)); }
    template <class Rep, class Period>
    [[nodiscard]] status write(const void *item, std::size_t len, std::chrono::duration<Rep, Period> t) noexcept {
        return status(shmsync_byte_write(&h_, item, len, to_ns(t)));
    }
    /// Wait-free: writes as many whole items as fit; returns the count (0 on error).
    std::size_t write_slice(const void *items, std::size_t len) noexcept {
        std::size_t n = 0;
        return shmsync_byte_write_slice(&h_, items, len, &n) == SHMSYNC_OK ? n : 0;
    }
    status set_spin_limit(std::uint32_t limit) noexcept { return status(shmsync_byte_producer_set_spin_limit(&h_, limit)); }
};

/// Consumer end of a byte ring.
class byte_consumer : public detail::end<shmsync_byte_consumer_t, shmsync_byte_consumer_close> {
  public:
    [[nodiscard]] status open(void *mem, std::size_t len, std::uint32_t capacity = 0, std::uint32_t item_size = 0) noexcept {
        close();
        return opened(shmsync_byte_consumer_open(&h_, mem, len, capacity, item_size));
    }
    /// Wait-free: ok / SHMSYNC_E_EMPTY.
    [[nodiscard]] status try_read(void *out, std::size_t len) noexcept { return status(shmsync_byte_try_read(&h_, out, len)); }
    template <class Rep, class Period>
    [[nodiscard]] status read(void *out, std::size_t len, std::chrono::duration<Rep, Period> t) noexcept {
        return status(shmsync_byte_read(&h_, out, len, to_ns(t)));
    }
    std::size_t read_slice(void *out, std::size_t len) noexcept {
        std::size_t n = 0;
        return shmsync_byte_read_slice(&h_, out, len, &n) == SHMSYNC_OK ? n : 0;
    }
    status set_spin_limit(std::uint32_t limit) noexcept { return status(shmsync_byte_consumer_set_spin_limit(&h_, limit)); }
};

/// Producer end of a message ring (variable-length messages).
class msg_producer : public detail::end<shmsync_msg_producer_t, shmsync_msg_producer_close> {
  public:
    static std::size_t required_size(std::uint32_t capacity) noexcept { return shmsync_msg_ring_required_size(capacity); }
    [[nodiscard]] static status create(void *mem, std::size_t len, std::uint32_t capacity) noexcept {
        return status(shmsync_msg_ring_init(mem, len, capacity));
    }
    [[nodiscard]] status open(void *mem, std::size_t len, std::uint32_t capacity = 0) noexcept {
        close();
        return opened(shmsync_msg_producer_open(&h_, mem, len, capacity));
    }
    [[nodiscard]] status try_send(const void *msg, std::size_t len) noexcept { return status(shmsync_msg_try_send(&h_, msg, len)); }
    template <class Rep, class Period>
    [[nodiscard]] status send(const void *msg, std::size_t len, std::chrono::duration<Rep, Period> t) noexcept {
        return status(shmsync_msg_send(&h_, msg, len, to_ns(t)));
    }
    status set_spin_limit(std::uint32_t limit) noexcept { return status(shmsync_msg_producer_set_spin_limit(&h_, limit)); }
};

/// Consumer end of a message ring.
class msg_consumer : public detail::end<shmsync_msg_consumer_t, shmsync_msg_consumer_close> {
  public:
    [[nodiscard]] status open(void *mem, std::size_t len, std::uint32_t capacity = 0) noexcept {
        close();
        return opened(shmsync_msg_consumer_open(&h_, mem, len, capacity));
    }
    /// ok (`*len` = message length) / SHMSYNC_E_EMPTY / SHMSYNC_E_BUFFER_TOO_SMALL.
    [[nodiscard]] status try_recv(void *buf, std::size_t cap, std::size_t &len) noexcept {
        return status(shmsync_msg_try_recv(&h_, buf, cap, &len));
    }
    template <class Rep, class Period>
    [[nodiscard]] status recv(void *buf, std::size_t cap, std::size_t &len, std::chrono::duration<Rep, Period> t) noexcept {
        return status(shmsync_msg_recv(&h_, buf, cap, &len, to_ns(t)));
    }
    status set_spin_limit(std::uint32_t limit) noexcept { return status(shmsync_msg_consumer_set_spin_limit(&h_, limit)); }
};

} // namespace shmsync

#endif
