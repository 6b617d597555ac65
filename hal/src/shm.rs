//! Mapping shared memory (`std` feature, Unix): the memory shmsync's primitives live in.
//!
//! * [`SharedMemory::create`]: an anonymous object — `memfd_create` on Linux/Android,
//!   `shm_open` + immediate `shm_unlink` elsewhere — shared with children through `fork`
//!   or fd inheritance.
//! * [`SharedMemory::create_named`] / [`SharedMemory::open_named`]: a POSIX `shm_open` name,
//!   for processes that find each other by name (e.g. a re-executed helper).
//! * [`SharedMemory::map`]: a new `MAP_SHARED` read/write mapping of the whole object; each
//!   call returns a mapping at a different address, which is how tests prove the primitives
//!   work at any address.
//!
//! The contents start as zero bytes, which every shmsync type reads as its empty/unlocked
//! state. Real-time class of everything here: **may block** (syscalls); map at start-up,
//! never on an audio thread.

use std::borrow::ToOwned;
use std::ffi::CString;
use std::format;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A shared-memory object (an open file descriptor and its length).
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    len: usize,
    /// The name to `shm_unlink` on drop, when this handle created a named object.
    unlink_on_drop: Option<CString>,
}

/// One `MAP_SHARED` mapping of a [`SharedMemory`]; unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Mapping is a raw region of shared memory; handing the pointer to another thread
// is no different from another process mapping it. Access goes through atomics.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only exposes the pointer and length.
unsafe impl Sync for Mapping {}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn shm_name(name: &str) -> io::Result<CString> {
    let name = if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    };
    // macOS limits names to PSHMNAMLEN = 31 bytes.
    if name.len() > 31 || name[1..].contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "shared-memory names are at most 31 bytes with one leading '/'",
        ));
    }
    CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl SharedMemory {
    /// A new anonymous object of `len` bytes, zero-filled, close-on-exec.
    pub fn create(len: usize) -> io::Result<Self> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: the name is a valid NUL-terminated string; flags are valid.
            let fd = cvt(unsafe { libc::memfd_create(c"shmsync".as_ptr(), libc::MFD_CLOEXEC) })?;
            // SAFETY: memfd_create returned a fresh descriptor that we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Self::sized(fd, len, None)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            use std::sync::atomic::{AtomicU32, Ordering};
            static SEQ: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "/shmsync.{}.{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let shm = Self::create_named(&name, len)?;
            let mut shm = shm;
            if let Some(n) = shm.unlink_on_drop.take() {
                // SAFETY: `n` is a valid C string naming the object we just created.
                unsafe { libc::shm_unlink(n.as_ptr()) };
            }
            Ok(shm)
        }
    }

    /// A new named object of `len` bytes (fails if the name exists). The name is removed
    /// when this handle is dropped; mappings stay valid.
    pub fn create_named(name: &str, len: usize) -> io::Result<Self> {
        let cname = shm_name(name)?;
        // SAFETY: valid C string, valid flags and mode.
        let fd = cvt(unsafe {
            libc::shm_open(
                cname.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        })?;
        // SAFETY: shm_open returned a fresh descriptor that we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Self::sized(fd, len, Some(cname))
    }

    /// Opens an existing named object; its length is read with `fstat`.
    pub fn open_named(name: &str) -> io::Result<Self> {
        let cname = shm_name(name)?;
        // SAFETY: valid C string and flags.
        let fd = cvt(unsafe {
            libc::shm_open(
                cname.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC,
                0 as libc::c_uint,
            )
        })?;
        // SAFETY: shm_open returned a fresh descriptor that we own.
        Self::from_fd(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Wraps an inherited or received descriptor; its length is read with `fstat`.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open and `st` is writable.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        Ok(Self {
            fd,
            len: st.st_size as usize,
            unlink_on_drop: None,
        })
    }

    fn sized(fd: OwnedFd, len: usize, unlink_on_drop: Option<CString>) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a shared-memory object needs a length above zero",
            ));
        }
        let off = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        // SAFETY: `fd` is an open shared-memory object.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), off) })?;
        Ok(Self {
            fd,
            len,
            unlink_on_drop,
        })
    }

    /// The object's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: objects are created with a length above zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The descriptor (e.g. to pass to a child process).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Maps the whole object read/write, `MAP_SHARED`, at an address the kernel picks.
    pub fn map(&self) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping of an fd we own; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(p.cast()).expect("mmap returned null without MAP_FIXED"),
            len: self.len,
        })
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if let Some(name) = &self.unlink_on_drop {
            // SAFETY: `name` is a valid C string; failure (already unlinked) is harmless.
            unsafe { libc::shm_unlink(name.as_ptr()) };
        }
    }
}

impl Mapping {
    /// The first byte of the mapping (page-aligned).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: mappings have a length above zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned and nothing else unmaps them.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
