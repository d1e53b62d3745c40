//! Protected records: which keys open each one (0-RTT, the keys in force, or the application
//! keys on trial), what part of the connection it was, DEFLATE undone, and the
//! application data plaintext counted and hashed per direction.

use super::digest::{DigestLost, PlainDigest};
use super::{Decryptor, Dir, Env, Part, Status};
use crate::protection::RecordProtection;

const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;
/// RFC 5246 §6.2.2: a decompressed fragment never exceeds 2^14 + 1024 bytes.
pub const MAX_DECOMPRESSED: usize = (1 << 14) + 1024;
/// Records of a direction tried with its application traffic secret, its handshake secret
/// missing, before that secret is taken to be another session's: a server's encrypted
/// handshake is a few records (a large chain spans several of 16 KiB).
pub const MAX_TRIAL_RECORDS: usize = 32;

/// What one direction's records gave.
#[derive(Clone, Debug, Default)]
pub struct DirectionResult {
    pub records_decrypted: u64,
    pub records_failed_integrity: u64,
    pub plaintext_bytes: u64,
    /// Hashed on a worker thread (digest.rs).
    pub sha256: PlainDigest,
    pub finished_verified: Option<bool>,
    /// Why this side's Finished was not held against the secret (a transcript missing a
    /// message: lack.rs), when it was not.
    pub finished_unchecked: Option<String>,
    /// Which handshake the two fields above are from (0 the first, then each
    /// renegotiation): the worst of `finished_each` (verdicts.rs).
    pub finished_handshake: Option<usize>,
    /// Each handshake's verdict on this side's Finished, in order.
    pub finished_each: Vec<super::FinishedVerdict>,
}

impl DirectionResult {
    /// The SHA-256 of the application data so far, in hex: None when there is none (no
    /// plaintext to have a digest of: the digest of nothing, e3b0c442..., read as a
    /// fingerprint of data that was never there); Err when the worker hashing it ended
    /// early (a bug, said as a finding: see digest.rs).
    pub fn sha256_hex(&self) -> Result<Option<String>, DigestLost> {
        if self.plaintext_bytes == 0 {
            return Ok(None);
        }
        self.sha256.hex().map(Some)
    }
}

/// One protected record's fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The real content type and the plaintext.
    Plain(u8, Vec<u8>),
    /// No key is in force for it.
    NoKey,
    /// It does not authenticate (or inflate): why, naming the record.
    Failed(String),
    /// The cipher the caller supplies failed on it (a bug, see external.rs): not opened,
    /// and no record is from now on; the fault says so.
    Fault(String),
}

/// Which keys a record was tried with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    Early,
    Active,
    Trial,
}

impl Decryptor {
    /// One protected record of `dir` with its outer type and version, as it came.
    pub fn open(
        &mut self,
        env: &Env<'_>,
        dir: Dir,
        ctype: u8,
        version: u16,
        body: &[u8],
    ) -> Opened {
        if self.external.fault.is_some() {
            return Opened::NoKey;
        }
        let hello_seen = self.version.is_some();
        if self.tls13 || !hello_seen {
            // TLS 1.3 protects only application_data-typed records (the CCS stays plain).
            if ctype != CT_APPLICATION_DATA {
                return Opened::NoKey;
            }
            if dir == Dir::C2S && !hello_seen {
                self.early_seen = true;
                if !self.early_keys(env) {
                    return Opened::NoKey;
                }
                self.early_active = true;
                return self.open_with(env, Keys::Early, dir, (ctype, version, body));
            }
            if dir == Dir::C2S && self.active[0].is_none() && self.pending[0].is_some() {
                // The client's handshake keys, in force once the ServerHello is in.
                self.active[0] = self.pending[0].take();
            }
        }
        let early = dir == Dir::C2S && self.early_active && self.early.is_some();
        if early {
            return self.open_with(env, Keys::Early, dir, (ctype, version, body));
        }
        if self.active.get(dir.index()).is_some_and(Option::is_some) {
            return self.open_with(env, Keys::Active, dir, (ctype, version, body));
        }
        if !self.trial.get(dir.index()).is_some_and(Option::is_some) {
            if dir == Dir::C2S {
                self.client_record_unkeyed(body);
            }
            return Opened::NoKey;
        }
        let opened = self.open_with(env, Keys::Trial, dir, (ctype, version, body));
        if matches!(opened, Opened::Plain(..)) {
            // The first record the application keys open ends this direction's handshake.
            let trial = self.trial.get_mut(dir.index()).and_then(Option::take);
            if let Some(slot) = self.active.get_mut(dir.index()) {
                *slot = trial;
            }
            if let Some(phase) = self.phase.get_mut(dir.index()) {
                *phase = Part::ApplicationData;
            }
            self.found(env, &format!("{}_TRAFFIC_SECRET_0", dir.side()));
        }
        opened
    }

    fn keys(&mut self, keys: Keys, dir: Dir) -> Option<&mut RecordProtection> {
        match keys {
            Keys::Early => self.early.as_mut(),
            Keys::Active => self.active.get_mut(dir.index())?.as_mut(),
            Keys::Trial => self.trial.get_mut(dir.index())?.as_mut(),
        }
    }

    /// Open one record; with the keys on trial, a record that does not open is one they do
    /// not protect (no key), not a failure. A record after a hole in the capture is tried
    /// with the numbers the hole may have taken (resync.rs): one no number opens is no
    /// verdict on the secret.
    fn open_with(
        &mut self,
        env: &Env<'_>,
        keys: Keys,
        dir: Dir,
        (ctype, version, body): (u8, u16, &[u8]),
    ) -> Opened {
        let across = match keys {
            Keys::Early => None,
            _ => self.across_hole(env, dir, keys == Keys::Trial, (ctype, version, body)),
        };
        let Some(protection) = self.keys(keys, dir) else {
            return Opened::NoKey;
        };
        let opened = match across {
            Some(Ok(opened)) => Ok(opened),
            Some(Err(why)) => Err((why, false)),
            None => protection
                .open(ctype, version, body)
                .map_err(|error| (error.0, true)),
        };
        let (real, plain) = match opened {
            Ok(opened) => opened,
            Err(_) if keys == Keys::Trial => {
                protection.seq = 0; // not this key's record: its first is still to come
                self.trial_failed(dir);
                return Opened::NoKey;
            }
            Err((error, blames)) => {
                let cipher = protection.spec().cipher.clone();
                if let Some(fault) = self.external.failed(&cipher) {
                    self.reason = Some(fault.clone());
                    return Opened::Fault(fault);
                }
                if blames {
                    self.failed_integrity(
                        dir,
                        1,
                        "the first protected record does not authenticate: the secret belongs \
                         to another session",
                    );
                }
                return Opened::Failed(error);
            }
        };
        self.results[dir.index()].records_decrypted += 1;
        self.mark_opened(keys, dir, real);
        let plain = match self.inflate(dir, plain) {
            Ok(plain) => plain,
            Err(reason) => return Opened::Failed(reason),
        };
        if real == CT_APPLICATION_DATA {
            let result = &mut self.results[dir.index()];
            result.plaintext_bytes += u64::try_from(plain.len()).unwrap_or(u64::MAX);
            result.sha256.update(&plain);
        }
        Opened::Plain(real, plain)
    }

    /// Records (or packets) the secrets given do not authenticate: before any opened in
    /// `dir`, the secret is the wrong one, and `reason` says so.
    fn failed_integrity(&mut self, dir: Dir, count: u64, reason: &str) {
        let Some(result) = self.results.get_mut(dir.index()) else {
            return;
        };
        result.records_failed_integrity = result.records_failed_integrity.saturating_add(count);
        if result.records_decrypted == 0 {
            self.status = Status::WrongSecret;
            self.reason.get_or_insert_with(|| reason.to_owned());
            // The records blame the secret too: a Finished taken back does not clear it.
            self.blamed = None;
        }
        self.unreadable(dir);
    }

    /// Packets opened elsewhere (QUIC's, by the core's QUIC layer) with the key log's
    /// secrets that did not authenticate: integrity failures, as records' are.
    pub fn count_failed(&mut self, dir: Dir, packets: u64) {
        self.failed_integrity(
            dir,
            packets,
            "the key log's secrets for this connection open none of its packets: they belong \
             to another session",
        );
    }

    fn trial_failed(&mut self, dir: Dir) {
        let Some(failures) = self.trial_failures.get_mut(dir.index()) else {
            return;
        };
        *failures += 1;
        if *failures >= MAX_TRIAL_RECORDS {
            self.trial[dir.index()] = None;
            let side = dir.side();
            self.reason = Some(format!(
                "no record of {MAX_TRIAL_RECORDS} from the {} opens with its \
                 {side}_TRAFFIC_SECRET_0: the secret belongs to another session",
                side.to_ascii_lowercase()
            ));
        }
    }

    /// Which part a record opened belongs to: in TLS 1.3 the keys tell (an alert under
    /// handshake keys ends the handshake); before, the content type (the Finished is the
    /// encrypted handshake).
    fn mark_opened(&mut self, keys: Keys, dir: Dir, real: u8) {
        let part = match keys {
            Keys::Early => Some(Part::EarlyData),
            // Tried application keys open application data, whatever the phase said.
            Keys::Trial if self.tls13 => Some(Part::ApplicationData),
            _ if self.tls13 => Some(self.phase[dir.index()]),
            _ => match real {
                CT_HANDSHAKE => Some(Part::Handshake),
                CT_APPLICATION_DATA => Some(Part::ApplicationData),
                _ => None,
            },
        };
        if let Some(part) = part {
            self.opened |= part.bit(dir);
        }
        if self.status == Status::NoSecret {
            self.status = Status::Decrypted; // 0-RTT opened with the early secret alone
        }
    }

    /// DEFLATE (RFC 3749) undone, the direction's one zlib stream going on; bounded.
    fn inflate(&mut self, dir: Dir, data: Vec<u8>) -> Result<Vec<u8>, String> {
        if self.tls13 {
            return Ok(data);
        }
        let Some(inflater) = self.inflaters.as_mut().and_then(|i| i.get_mut(dir.index())) else {
            return Ok(data);
        };
        let mut out = Vec::with_capacity(MAX_DECOMPRESSED);
        let before = inflater.total_in();
        let status = inflater
            .decompress_vec(&data, &mut out, flate2::FlushDecompress::Sync)
            .map_err(|e| format!("the compressed record does not inflate: {e}"))?;
        let consumed = usize::try_from(inflater.total_in() - before).unwrap_or(usize::MAX);
        if consumed < data.len() && status != flate2::Status::StreamEnd {
            return Err(format!(
                "a compressed record inflates beyond {MAX_DECOMPRESSED} bytes (a zip bomb?)"
            ));
        }
        Ok(out)
    }

    /// A side of the connection ended: the plaintext still gathering for the digests goes
    /// to the hashing thread (digest.rs).
    pub fn flush_digests(&mut self) {
        for result in &mut self.results {
            result.sha256.flush();
        }
    }

    /// Application data opened elsewhere (QUIC's STREAM frames): counted and hashed.
    pub fn application_data(&mut self, dir: Dir, plaintext: &[u8]) {
        let result = &mut self.results[dir.index()];
        result.plaintext_bytes += u64::try_from(plaintext.len()).unwrap_or(u64::MAX);
        result.sha256.update(plaintext);
    }
}
