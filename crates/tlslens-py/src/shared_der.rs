//! One bytes object per certificate seen recently: a Certificate message's `cert_data`.
//!
//! Strategy: servers send the same few certificates in connection after connection, and
//! Python keys its caches on the DER (x509/certificate.py `_CERT_CACHE`, x509/cache.py
//! `per_der`). A fresh bytes object per connection is hashed whole (SipHash) at its first
//! lookup, and compared whole with the key a lookup finds; the object handed out the first
//! time carries its hash, and a lookup with the key itself is answered by identity.
//!
//! Finding it again must cost less than the hash it saves, so the DER is not hashed whole
//! here either: the table is keyed by its length and its last `SAMPLE` bytes (a
//! certificate ends with its signature, which sets apart any two a CA issued), hashed with
//! std's SipHash (keys random per process), and a candidate is confirmed by comparing the
//! whole DER (a memcmp, many times cheaper than a hash). Certificates a hostile peer makes alike in those bytes share
//! a bucket, which holds at most `PER_BUCKET` of them: a lookup compares at most that
//! many. The table holds at most `MAX_SHARED` certificates and `MAX_SHARED_BYTES` of DER,
//! each at most `LARGEST_SHARED` bytes (a larger one gets an object of its own); past that
//! it starts over.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Bytes of the DER's end that key the table.
const SAMPLE: usize = 24;
/// Certificates kept in one bucket: those a lookup may compare whole.
const PER_BUCKET: usize = 4;
/// Certificates kept in all, and their DER's bytes, before the table starts over.
const MAX_SHARED: usize = 1024;
const MAX_SHARED_BYTES: usize = 8 << 20;
/// The largest DER shared (as x509/cache.py's LARGEST_CACHED: a real one is a few KiB).
const LARGEST_SHARED: usize = 64 << 10;

/// The DER's length (8 bytes) and its last `SAMPLE` bytes (then zeros, for a shorter one).
type Key = [u8; 8 + SAMPLE];

fn key_of(der: &[u8]) -> Key {
    let mut key = [0; 8 + SAMPLE];
    let (length, last) = key.split_at_mut(8);
    length.copy_from_slice(&(der.len() as u64).to_le_bytes());
    let tail = &der[der.len().saturating_sub(SAMPLE)..];
    last[..tail.len()].copy_from_slice(tail);
    key
}

/// The values kept, by the key of their DER, within the module's bounds.
struct Table<V> {
    buckets: HashMap<Key, Vec<V>>,
    count: usize,
    bytes: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            count: 0,
            bytes: 0,
        }
    }
}

impl<V> Table<V> {
    /// The value kept for `der`: one of its bucket's that `is_der` says holds it.
    fn find(&self, der: &[u8], is_der: impl Fn(&V) -> bool) -> Option<&V> {
        self.buckets.get(&key_of(der))?.iter().find(|v| is_der(v))
    }

    /// Keeps `value` for `der` (not found before); the table let go of, when it started
    /// over (for the caller to drop once the lock is released).
    fn keep(&mut self, der: &[u8], value: V, size: impl Fn(&V) -> usize) -> Option<Self> {
        if der.len() > LARGEST_SHARED {
            return None;
        }
        let full = self.count >= MAX_SHARED || self.bytes + der.len() > MAX_SHARED_BYTES;
        let dropped = full.then(|| std::mem::take(self));
        let bucket = self.buckets.entry(key_of(der)).or_default();
        if bucket.len() >= PER_BUCKET {
            let oldest = bucket.remove(0);
            self.count -= 1;
            self.bytes -= size(&oldest);
        }
        bucket.push(value);
        self.count += 1;
        self.bytes += der.len();
        dropped
    }
}

static SHARED: LazyLock<Mutex<Table<Py<PyBytes>>>> = LazyLock::new(|| Mutex::new(Table::default()));

/// `der` as a bytes object: the one handed out before for the same bytes, while the table
/// keeps it.
pub fn der_bytes(py: Python<'_>, der: &[u8]) -> Py<PyBytes> {
    let lock = || SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if der.len() <= LARGEST_SHARED {
        let kept = lock();
        if let Some(found) = kept.find(der, |v| v.bind(py).as_bytes() == der) {
            return found.clone_ref(py);
        }
    }
    let made = PyBytes::new(py, der).unbind();
    let dropped = lock().keep(der, made.clone_ref(py), |v| v.bind(py).as_bytes().len());
    drop(dropped); // the objects let go of, after the lock
    made
}

#[cfg(test)]
mod tests {
    use super::{key_of, Table, LARGEST_SHARED, MAX_SHARED, MAX_SHARED_BYTES, PER_BUCKET};

    fn kept(table: &Table<Vec<u8>>, der: &[u8]) -> bool {
        table.find(der, |v| v == der).is_some()
    }

    fn keep(table: &mut Table<Vec<u8>>, der: &[u8]) {
        table.keep(der, der.to_vec(), Vec::len);
        let total: usize = table.buckets.values().flatten().map(Vec::len).sum();
        assert_eq!(table.bytes, total);
        assert_eq!(
            table.count,
            table.buckets.values().map(Vec::len).sum::<usize>()
        );
        assert!(table.count <= MAX_SHARED && table.bytes <= MAX_SHARED_BYTES);
    }

    #[test]
    fn the_key_is_the_length_and_the_end() {
        let der: Vec<u8> = (0..200_u8).collect();
        let mut start = der.clone();
        start[100] ^= 1;
        assert_eq!(key_of(&der), key_of(&start));
        let mut end = der.clone();
        end[199] ^= 1;
        assert_ne!(key_of(&der), key_of(&end));
        assert_ne!(key_of(&der), key_of(&der[1..]));
        assert_ne!(key_of(&der[..5]), key_of(&[0, 1, 2, 3, 4, 0]));
        assert_eq!(&key_of(&[7, 8])[8..11], &[7, 8, 0]);
    }

    #[test]
    fn a_der_is_found_whole_or_not_at_all() {
        let mut table = Table::default();
        let der: Vec<u8> = (0..200_u8).collect();
        keep(&mut table, &der);
        assert!(kept(&table, &der));
        let mut middle = der.clone();
        middle[100] ^= 1; // the same key: compared whole, not found
        assert!(!kept(&table, &middle));
        keep(&mut table, &middle);
        assert!(kept(&table, &der) && kept(&table, &middle));
        assert!(!kept(&table, &der[..100]));
        keep(&mut table, &vec![1; LARGEST_SHARED + 1]); // too large: not kept
        assert!(!kept(&table, &vec![1; LARGEST_SHARED + 1]));
    }

    #[test]
    fn a_bucket_keeps_its_latest_ders() {
        let mut table = Table::default();
        let alike: Vec<Vec<u8>> = (0..=PER_BUCKET)
            .map(|i| {
                let mut der = vec![0_u8; 100];
                der[50] = u8::try_from(i).unwrap_or(u8::MAX);
                der
            })
            .collect();
        for der in &alike {
            keep(&mut table, der);
        }
        assert_eq!(table.buckets.len(), 1);
        assert!(!kept(&table, &alike[0])); // the oldest went
        assert!(alike[1..].iter().all(|der| kept(&table, der)));
    }

    #[test]
    fn the_table_starts_over_past_its_bounds() {
        let mut table = Table::default();
        for i in 0..=MAX_SHARED {
            keep(&mut table, &(i as u64).to_le_bytes());
        }
        assert_eq!(table.count, 1);
        let large = LARGEST_SHARED;
        for i in 0..=MAX_SHARED_BYTES / large {
            keep(
                &mut table,
                &vec![u8::try_from(i % 256).unwrap_or(0); large - i],
            );
        }
        assert!(table.count < MAX_SHARED_BYTES / large);
    }
}
