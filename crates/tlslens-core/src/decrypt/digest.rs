//! The SHA-256 of a direction's application data, hashed on a worker thread.
//!
//! Strategy: hashing every byte of plaintext is a tenth of a bulk capture's run; nothing
//! reads the digest until the connection is told, so the walk hands a direction's plaintext
//! to one worker thread (a bounded queue: the walk waits rather than hold more) and goes on.
//! The plaintext is gathered into batches of `BATCH` bytes first: one job, one allocation and
//! one wake-up of the worker per batch, not per record (waking it for each 16 KiB record cost
//! the walk more than the copy). One worker and a FIFO queue keep each direction's bytes in
//! order, so the digest is the one hashing them in place gives; reading it waits for that
//! direction's queued batches, then hashes what was still gathering (it comes after them). A
//! short record while none of its direction is queued or gathering is hashed in place
//! (cheaper than queueing it). What gathers in every direction together is bounded
//! (`GATHERING_AT_MOST`): past it a batch goes at once, whatever its size, so that the
//! open connections of a capture do not each hold a batch. No worker (it could not be started): everything is hashed in
//! place. A process forked from the one that started the worker starts its own.
//! A worker that ends (a bug: it panicked) never leaves a reader waiting: each queued batch
//! is a drop guard that counts itself out hashed or not, and a batch dropped unhashed
//! makes its direction's digest an error (`DigestLost`) instead of a wrong hex.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use sha2::{Digest, Sha256};

/// Batches queued for the worker at most (each `BATCH` bytes and at most a record more).
const QUEUED: usize = 16;
/// Plaintext gathered before it is queued as one batch.
const BATCH: usize = 64 << 10;
/// Room for a batch and the record that fills it (RFC 8446 §5.2: 2^14 + 256 at most).
const BATCH_ROOM: usize = BATCH + (1 << 14) + 256;
/// Plaintext shorter than this is hashed in place (when nothing of its direction waits).
const IN_PLACE_BELOW: usize = 4096;
/// Plaintext gathering in every direction's batch at most, process-wide: past it a batch
/// goes to the worker at once, so that thousands of open connections with a little
/// plaintext each hold no more than the queue does.
const GATHERING_AT_MOST: usize = QUEUED * BATCH;
/// Plaintext gathering now, every direction's (`Gathering`).
static GATHERING: AtomicUsize = AtomicUsize::new(0);

/// A direction's plaintext gathering for its next batch, counted in `GATHERING` while held.
#[derive(Default)]
struct Gathering(Vec<u8>);

impl Gathering {
    /// Add `data`; the plaintext gathering now in every direction.
    fn add(&mut self, data: &[u8]) -> usize {
        if self.0.capacity() == 0 {
            // A bulk direction's batch is filled without growing; a short one (a few
            // records, then the end) takes no more than four times its first record.
            self.0.reserve(BATCH_ROOM.min(4 * data.len()));
        }
        self.0.extend_from_slice(data);
        GATHERING.fetch_add(data.len(), Ordering::Relaxed) + data.len()
    }

    /// What was gathered, no longer counted.
    fn take(&mut self) -> Vec<u8> {
        let batch = std::mem::take(&mut self.0);
        GATHERING.fetch_sub(batch.len(), Ordering::Relaxed);
        batch
    }
}

impl Drop for Gathering {
    fn drop(&mut self) {
        GATHERING.fetch_sub(self.0.len(), Ordering::Relaxed);
    }
}

/// A direction's digest cannot be told: records queued for it were never hashed (the worker
/// ended, a bug). Said as the connection's internal-error finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestLost;

impl fmt::Display for DigestLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "internal error: the thread hashing decrypted application data ended before \
             hashing all of this direction's records; its plaintext_sha256 is not given",
        )
    }
}

/// One direction's state, shared with the worker.
#[derive(Default)]
struct Shared {
    sha: Mutex<Sha256>,
    /// Records of this direction queued and not yet hashed (changed under `sha`'s lock by
    /// the worker, so that a reader waiting on `idle` misses no wake-up).
    pending: AtomicU64,
    /// A queued batch was dropped unhashed: the digest is not the bytes'.
    lost: AtomicBool,
    idle: Condvar,
    /// Plaintext gathering for the next batch: after every queued batch, in order. Only the
    /// owner touches it (adding, and reading the digest), never the worker.
    unsent: Mutex<Gathering>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sha256> {
        // A lock poisoned by a panic while hashing still holds a state; `lost` says it is
        // not to be trusted.
        self.sha.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unsent(&self) -> MutexGuard<'_, Gathering> {
        self.unsent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state once every queued batch is hashed or dropped and the plaintext gathering
    /// is hashed too; Err when a batch was dropped.
    fn settled(&self) -> Result<MutexGuard<'_, Sha256>, DigestLost> {
        let mut sha = self.lock();
        while self.pending.load(Ordering::Acquire) > 0 {
            sha = self.idle.wait(sha).unwrap_or_else(PoisonError::into_inner);
        }
        let unsent = self.unsent().take();
        sha.update(&unsent);
        if self.lost.load(Ordering::Acquire) {
            return Err(DigestLost);
        }
        Ok(sha)
    }
}

/// One batch queued for the worker; it leaves `pending` when dropped, hashed or not.
///
/// The drop guard is what keeps a reader from waiting forever: a job the worker never
/// hashes (the worker panicked holding it, or ended with batches still queued: the
/// channel drops them) marks its direction lost and still wakes the readers.
struct Job {
    shared: Arc<Shared>,
    data: Vec<u8>,
    hashed: bool,
}

impl Job {
    fn hash(mut self) {
        self.shared.lock().update(&self.data);
        self.hashed = true;
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let shared = &self.shared;
        let sha = shared.lock();
        if !self.hashed {
            shared.lost.store(true, Ordering::Release);
        }
        shared.pending.fetch_sub(1, Ordering::AcqRel);
        drop(sha);
        shared.idle.notify_all();
    }
}

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
    *worker = spawn().map(|tx| (pid, tx));
    worker.as_ref().map(|(_, tx)| tx.clone())
}

/// A worker thread hashing the jobs sent to it, in order; None if it could not be started.
fn spawn() -> Option<SyncSender<Job>> {
    let (tx, rx) = sync_channel::<Job>(QUEUED);
    let spawned = thread::Builder::new()
        .name("tlslens-sha256".to_owned())
        .spawn(move || {
            for job in rx {
                job.hash();
            }
        });
    spawned.ok().map(|_| tx)
}

/// Queue `data` for the worker behind `tx`; hashed in place if the worker is gone (a send
/// to a receiver that was dropped gives the job back).
fn queue(shared: &Arc<Shared>, tx: &SyncSender<Job>, data: Vec<u8>) {
    shared.pending.fetch_add(1, Ordering::AcqRel);
    let job = Job {
        shared: Arc::clone(shared),
        data,
        hashed: false,
    };
    if let Err(failed) = tx.send(job) {
        failed.0.hash();
    }
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
        let mut unsent = shared.unsent();
        if unsent.0.is_empty()
            && data.len() < IN_PLACE_BELOW
            && shared.pending.load(Ordering::Acquire) == 0
        {
            drop(unsent);
            shared.lock().update(data);
            return;
        }
        let gathering = unsent.add(data);
        if unsent.0.len() < BATCH && gathering <= GATHERING_AT_MOST {
            return;
        }
        let batch = unsent.take();
        drop(unsent);
        self.hand_over(batch);
    }

    /// The direction ended: what is gathering goes to the worker now, to be hashed while
    /// the walk goes on rather than by the reader of the digest.
    pub fn flush(&mut self) {
        let batch = self.shared.unsent().take();
        if !batch.is_empty() {
            self.hand_over(batch);
        }
    }

    fn hand_over(&self, batch: Vec<u8>) {
        let shared = &self.shared;
        let Some(tx) = worker() else {
            // Queued batches settle (or are lost) first, so that the bytes stay in order.
            drop(shared.settled());
            shared.lock().update(&batch);
            return;
        };
        queue(shared, &tx, batch);
    }

    /// Err when batches queued for the worker were lost (it ended before hashing them):
    /// waits for those still queued, as `hex` does, without finishing the digest.
    pub fn check(&self) -> Result<(), DigestLost> {
        self.shared.settled().map(drop)
    }

    /// The digest of every byte added so far, in hex; Err when batches queued for the
    /// worker were lost (it ended before hashing them).
    pub fn hex(&self) -> Result<String, DigestLost> {
        let sha = self.shared.settled()?.clone();
        Ok(format!("{:x}", sha.finalize()))
    }
}

impl Clone for PlainDigest {
    /// A copy of the state as it stands (queued batches hashed first), not shared; a lost
    /// digest's copy is lost too.
    fn clone(&self) -> Self {
        let (sha, lost) = match self.shared.settled() {
            Ok(sha) => (sha.clone(), false),
            Err(DigestLost) => (self.shared.lock().clone(), true),
        };
        PlainDigest {
            shared: Arc::new(Shared {
                sha: Mutex::new(sha),
                lost: AtomicBool::new(lost),
                ..Shared::default()
            }),
        }
    }
}

impl fmt::Debug for PlainDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainDigest")
            .field("sha256", &self.hex().map_err(|_| "lost"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records long and short, queued, gathering, flushed and in place, give the digest of
    /// their bytes.
    #[test]
    fn the_digest_is_the_bytes_in_order() {
        let mut digest = PlainDigest::default();
        let mut whole = Sha256::new();
        for n in 0..400usize {
            let len = [17, 16_384, 5000, 1, 4095, 4096][n % 6];
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + n) as u8).collect();
            digest.update(&data);
            whole.update(&data);
            if n % 41 == 0 {
                digest.flush();
            }
            if n % 97 == 0 {
                let copy = digest.clone();
                assert_eq!(copy.hex(), digest.hex());
            }
        }
        assert_eq!(digest.hex(), Ok(format!("{:x}", whole.finalize())));
    }

    /// Thousands of directions with a little plaintext each (open connections of a capture)
    /// hold no more gathering, together, than `GATHERING_AT_MOST` and one record: each
    /// still gets the digest of its bytes.
    #[test]
    fn open_directions_gather_a_bounded_amount_together() {
        let mut digests: Vec<PlainDigest> = (0..2000).map(|_| PlainDigest::default()).collect();
        for (n, digest) in digests.iter_mut().enumerate() {
            digest.update(&[n as u8; 8192]);
            digest.update(&[n as u8 ^ 1; 5000]);
        }
        let held: usize = digests.iter().map(|d| d.shared.unsent().0.len()).sum();
        assert!(held <= GATHERING_AT_MOST + 13_192, "{held}");
        for (n, digest) in digests.iter().enumerate() {
            let mut whole = Sha256::new();
            whole.update([n as u8; 8192]);
            whole.update([n as u8 ^ 1; 5000]);
            assert_eq!(digest.hex(), Ok(format!("{:x}", whole.finalize())));
        }
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
        assert_eq!(a.hex(), Ok(format!("{:x}", whole.finalize())));
        assert_ne!(a.hex(), b.hex());
    }

    /// `hex()` in a thread of its own: None when it did not return within 10 s (it hangs).
    fn hex_within(digest: PlainDigest) -> Option<Result<String, DigestLost>> {
        let (tx, rx) = sync_channel(1);
        thread::spawn(move || {
            let _ = tx.send(digest.hex());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
    }

    /// A worker whose channel closes with records still queued (it ended): the readers
    /// are released, and the digest is said lost rather than waited for or given wrong.
    #[test]
    fn records_queued_to_a_worker_that_ended_are_lost_not_waited_for() {
        let digest = PlainDigest::default();
        let (tx, rx) = sync_channel::<Job>(QUEUED);
        for n in 0..3u8 {
            queue(&digest.shared, &tx, vec![n; 8192]);
        }
        drop(rx);
        assert_eq!(digest.shared.pending.load(Ordering::Acquire), 0);
        let copy = digest.clone();
        assert_eq!(hex_within(digest), Some(Err(DigestLost)));
        assert_eq!(hex_within(copy), Some(Err(DigestLost)));
    }

    /// A worker that panics while it holds a record (hashing cannot, so the test's own
    /// worker does): its record and those queued behind it are lost, the reader released.
    #[test]
    fn a_worker_that_panics_releases_its_readers() {
        let mut digest = PlainDigest::default();
        let (tx, rx) = sync_channel::<Job>(QUEUED);
        let worker = thread::spawn(move || {
            let first = rx.recv();
            panic!(
                "the worker ends holding {} bytes",
                first.map_or(0, |j| j.data.len())
            );
        });
        queue(&digest.shared, &tx, vec![1; 8192]);
        queue(&digest.shared, &tx, vec![2; 8192]);
        assert!(worker.join().is_err());
        queue(&digest.shared, &tx, vec![3; 8192]); // the worker is gone: hashed in place
        digest.update(b"short");
        assert_eq!(digest.check(), Err(DigestLost));
        assert_eq!(hex_within(digest), Some(Err(DigestLost)));
    }
}
