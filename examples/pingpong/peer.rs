//! The peer process: attach to the region, then echo each row's messages until told to
//! leave. It prints nothing on stdout (stdout is the pipe row's channel).

use shmsync::hal;
use shmsync::hal::atomic::Ordering;
use shmsync::hal::shm::SharedMemory;
use std::fs::File;
use std::os::fd::FromRawFd;
use std::time::Duration;

use crate::link::{self, PipeLink};
use crate::rows::{self, Serve};
use crate::shared::{
    ACK_DONE, ACK_FAILED, ACK_HELLO, ACK_READY, CMD_QUIT, MAX_MSG, MIN_MSG, Mem, region_len,
};
use crate::sys;

/// Runs the peer on the shared-memory object open as descriptor `fd`; returns the exit
/// status.
pub fn main(fd: i32) -> i32 {
    match run(fd) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pingpong peer: error: {e}");
            3
        }
    }
}

fn run(fd: i32) -> Result<(), String> {
    let parent = std::os::unix::process::parent_id();
    let name = format!("the shared memory at descriptor {fd}");
    // SAFETY: the parent passed this descriptor (open, not close-on-exec) for us alone;
    // fstat below fails cleanly if it is not open.
    let shm = SharedMemory::from_fd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
        .map_err(|e| format!("opening {name}: {e}"))?;
    if shm.len() < region_len() {
        return Err(format!(
            "{name} has {} bytes, fewer than {}",
            shm.len(),
            region_len()
        ));
    }
    let map = shm.map().map_err(|e| format!("mapping {name}: {e}"))?;
    // SAFETY: the mapping is page-aligned, region_len() bytes long (checked), and
    // outlives `region`.
    let region =
        unsafe { Mem::attach(map.as_ptr()) }.map_err(|e| format!("attaching to {name}: {e}"))?;
    let c = region.control();
    // Untrusted settings: clamp the size; unknown fault kinds do nothing.
    let size = (c.size.load(Ordering::Relaxed) as usize).clamp(MIN_MSG, MAX_MSG);
    let inject = c.inject.load(Ordering::Relaxed);
    let inject_at = u64::from(c.inject_at.load(Ordering::Relaxed));
    // `Backoff::with_limit` clamps the limit to its maximum.
    if let Some(limit) = c.spin_limit.load(Ordering::Relaxed).checked_sub(1) {
        link::SPIN_LIMIT.store(limit, Ordering::Relaxed);
    }
    let cpu = c.peer_cpu.load(Ordering::Relaxed);
    if cpu != 0 {
        sys::pin_to(cpu as usize - 1).map_err(|e| format!("pinning to CPU {}: {e}", cpu - 1))?;
    }
    // SAFETY: fds 0 and 1 are the pipes the parent set up as our stdin and stdout; this
    // process uses them nowhere else (it reports on stderr), and owns them until exit.
    let mut pipe = unsafe { PipeLink::new(File::from_raw_fd(1), File::from_raw_fd(0)) };
    let mut buf = vec![0u8; size];

    let ack = |generation: u32, code: u32| {
        c.ack.store(generation << 8 | code, Ordering::Release);
        hal::wake_one(&c.ack);
    };
    ack(0, ACK_HELLO);
    let mut seen = 0;
    loop {
        let cmd = c.cmd.load(Ordering::Acquire);
        if cmd == seen {
            hal::wait(&c.cmd, cmd, Some(Duration::from_millis(250)));
            if std::os::unix::process::parent_id() != parent {
                return Err("the parent process went away".into());
            }
            continue;
        }
        seen = cmd;
        let (generation, code) = (cmd >> 8, cmd & 0xFF);
        if code == CMD_QUIT {
            return Ok(());
        }
        let row = (code as usize).wrapping_sub(1);
        if !rows::ALL.get(row).is_some_and(|r| r.available()) {
            ack(generation, ACK_FAILED);
            continue;
        }
        link::SLEEPS.store(0, Ordering::Relaxed);
        ack(generation, ACK_READY);
        let serve = Serve {
            buf: &mut buf,
            inject,
            inject_at,
        };
        let count = rows::dispatch(row, false, &region, &mut pipe, serve)
            .map_err(|e| format!("row `{}`: {e}", rows::ALL[row].key))?
            .map_err(|e| format!("row `{}`: {e}", rows::ALL[row].key))?;
        c.peer_count.store(count, Ordering::Relaxed);
        c.peer_sleeps
            .store(link::SLEEPS.load(Ordering::Relaxed), Ordering::Relaxed);
        ack(generation, ACK_DONE);
    }
}
