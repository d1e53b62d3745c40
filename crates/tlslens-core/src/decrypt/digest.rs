//! The SHA-256 of a direction's application data, hashed on a worker thread.
//!
//! Strategy: hashing every byte of plaintext is a tenth of a bulk capture's run; nothing
//! reads the digest until the connection is told, so the walk hands each record's
//! plaintext to one worker thread (a bounded queue: the walk waits rather than hold more)
//! and goes on. One worker and a FIFO queue keep each direction's bytes in order, so the
//! digest is the one hashing them in place gives; reading it waits for that direction's
//! queued records. A short record, or any record while none of its direction is queued,
//! is hashed in place (cheaper than queueing it). No worker (it could not be started, or
//! the process was forked from the one that started it): everything is hashed in place.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use sha2::{Digest, Sha256};

/// Records queued for the worker at most (each at most a record's plaintext, 17 KiB).
const QUEUED: usize = 64;
/// Plaintext shorter than this is hashed in place.
const IN_PLACE_BELOW: usize = 4096;

/// One direction's state, shared with the worker.
#[derive(Default)]
struct Shared {
    sha: Mutex<Sha256>,
    /// Records of this direction queued and not yet hashed (changed under `sha`'s lock by
    /// the worker, so that a reader waiting on `idle` misses no wake-up).
    pending: AtomicU64,
    idle: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sha256> {
        // Hashing cannot panic, so no lock is poisoned; if one were, its state is whole.
        self.sha.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker's part: hash one queued record, then wake a reader waiting for it.
    fn absorb(&self, data: &[u8]) {
        let mut sha = self.lock();
        sha.update(data);
        self.pending.fetch_sub(1, Ordering::AcqRel);
        drop(sha);
        self.idle.notify_all();
    }

    /// The state once every queued record is hashed.
    fn settled(&self) -> MutexGuard<'_, Sha256> {
        let mut sha = self.lock();
        while self.pending.load(Ordering::Acquire) > 0 {
            sha = self.idle.wait(sha).unwrap_or_else(PoisonError::into_inner);
        }
        sha
    }
}

type Job = (Arc<Shared>, Vec<u8>);

/// The worker of this process (its id: a forked child must start its own).
static WORKER: Mutex<Option<(u32, SyncSender<Job>)>> = Mutex::new(None);

fn worker() -> Option<SyncSender<Job>> {
    let mut worker = WORKER.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some((started_by, tx)) = worker.as_ref() {
        if *started_by == pid {
            return Some(tx.clone());
        }
    }
    let (tx, rx) = sync_channel::<Job>(QUEUED);
    let spawned = thread::Builder::new()
        .name("tlslens-sha256".to_owned())
        .spawn(move || {
            for (shared, data) in rx {
                shared.absorb(&data);
            }
        });
    *worker = spawned.ok().map(|_| (pid, tx.clone()));
    worker.as_ref().map(|(_, tx)| tx.clone())
}

/// The SHA-256 of one direction's application data: see the module's Strategy.
#[derive(Default)]
pub struct PlainDigest {
    shared: Arc<Shared>,
}

impl PlainDigest {
    /// Add the next plaintext of the direction.
    pub fn update(&mut self, data: &[u8]) {
        let shared = &self.shared;
        if data.len() < IN_PLACE_BELOW && shared.pending.load(Ordering::Acquire) == 0 {
            shared.lock().update(data);
            return;
        }
        let Some(tx) = worker() else {
            drop(shared.settled());
            shared.lock().update(data);
            return;
        };
        shared.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(failed) = tx.send((Arc::clone(shared), data.to_vec())) {
            // The worker is gone (it never panics; a forked child's is never started).
            let (shared, data) = failed.0;
            shared.absorb(&data);
        }
    }

    /// The digest of every byte added so far, in hex.
    pub fn hex(&self) -> String {
        let sha = self.shared.settled().clone();
        format!("{:x}", sha.finalize())
    }
}

impl Clone for PlainDigest {
    /// A copy of the state as it stands (queued records hashed first), not shared.
    fn clone(&self) -> Self {
        let sha = self.shared.settled().clone();
        PlainDigest {
            shared: Arc::new(Shared {
                sha: Mutex::new(sha),
                ..Shared::default()
            }),
        }
    }
}

impl fmt::Debug for PlainDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainDigest")
            .field("sha256", &self.hex())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records long and short, queued and in place, give the digest of their bytes.
    #[test]
    fn the_digest_is_the_bytes_in_order() {
        let mut digest = PlainDigest::default();
        let mut whole = Sha256::new();
        for n in 0..400usize {
            let len = [17, 16_384, 5000, 1, 4095, 4096][n % 6];
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + n) as u8).collect();
            digest.update(&data);
            whole.update(&data);
            if n % 97 == 0 {
                let copy = digest.clone();
                assert_eq!(copy.hex(), digest.hex());
            }
        }
        assert_eq!(digest.hex(), format!("{:x}", whole.finalize()));
    }

    /// Two directions at once: each its own bytes.
    #[test]
    fn directions_do_not_mix() {
        let (mut a, mut b) = (PlainDigest::default(), PlainDigest::default());
        for n in 0..100u8 {
            a.update(&[n; 8192]);
            b.update(&[n.wrapping_add(1); 8192]);
        }
        let mut whole = Sha256::new();
        for n in 0..100u8 {
            whole.update([n; 8192]);
        }
        assert_eq!(a.hex(), format!("{:x}", whole.finalize()));
        assert_ne!(a.hex(), b.hex());
    }
}
