//! Two processes, one region: a ring each way and a mutex. Run it with
//! `cargo run --example quickstart --features std`; it starts its own peer.
use shmsync::hal::shm::SharedMemory;
use shmsync::{Mutex, Region, ShmSafe, Spsc};
use std::error::Error;
use std::process::Command;
use std::time::Duration;

/// Everything both processes share: fixed layout, all-zero = empty and unlocked.
#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    requests: Spsc<u64, 64>, // creator → peer
    replies: Spsc<u64, 64>,  // peer → creator
    total: Mutex<u64>,       // both add to it
}

const N: u64 = 10_000;
const WAIT: Option<Duration> = Some(Duration::from_secs(5));

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "peer" {
            return peer(name);
        }
    }
    let name = format!("/shmsync-qs-{}", std::process::id());
    let shm = SharedMemory::create_named(&name, shmsync::region::required_len::<Shared>())?;
    let map = shm.map()?;
    // SAFETY: this process alone creates the region, before the peer exists.
    let shared = unsafe { Region::<Shared>::init_in(&map) }?;

    let mut peer = Command::new(std::env::current_exe()?)
        .args(["peer", &name])
        .spawn()?;
    let (mut tx, mut rx) = (shared.requests.producer()?, shared.replies.consumer()?);
    let mut sum = 0;
    for i in 1..=N {
        tx.push(i, WAIT)?; // blocks only while the ring is full
        sum += rx.pop(WAIT)?; // the peer's answer: i * 2
        add(&shared.total, 1);
    }
    assert!(peer.wait()?.success());
    assert_eq!(sum, N * (N + 1));
    assert_eq!(add(&shared.total, 0), 2 * N);
    println!(
        "{N} round trips, sum {sum}, both processes counted {}",
        2 * N
    );
    Ok(())
}

fn peer(name: &str) -> Result<(), Box<dyn Error>> {
    let map = SharedMemory::open_named(name)?.map()?;
    let shared = Region::<Shared>::attach_in(&map)?; // checks magic, version and layout
    let (mut rx, mut tx) = (shared.requests.consumer()?, shared.replies.producer()?);
    for _ in 0..N {
        let i = rx.pop(WAIT)?;
        add(&shared.total, 1);
        tx.push(i * 2, WAIT)?;
    }
    Ok(())
}

/// Adds `n` under the lock and returns the new total. If a process died holding the lock,
/// `lock` says so (`OwnerDead`); one `+=` cannot be half done, so accept the value.
fn add(total: &Mutex<u64>, n: u64) -> u64 {
    let mut guard = total.lock().unwrap_or_else(|dead| {
        let mut guard = dead.into_inner();
        guard.mark_consistent();
        guard
    });
    *guard += n;
    *guard
}
