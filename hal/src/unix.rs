//! Small Unix helpers shared by the kernel backends.

/// The calling thread's `errno`.
#[inline]
#[allow(dead_code)] // not every Unix backend reads errno
pub(crate) fn errno() -> i32 {
    // SAFETY: each of these returns a valid pointer to the calling thread's errno.
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "emscripten", target_os = "redox"))]
        let p = libc::__errno_location();
        #[cfg(target_os = "android")]
        let p = libc::__errno();
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
        let p = libc::__error();
        *p
    }
}
