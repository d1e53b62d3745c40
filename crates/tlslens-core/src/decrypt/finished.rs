//! The Finished checks: each side's Finished recomputed from the transcript and the secret
//! it is keyed with, and what a mismatch says of the secret.

use super::{Decryptor, Dir, Status};
use crate::keys::prf;

impl Decryptor {
    /// `dir`'s Finished, read: checked now, or once the other side's messages it follows
    /// are in (order.rs).
    pub(super) fn check_finished(&mut self, dir: Dir, verify_data: &[u8]) {
        if let Some(seen) = self.finished_seen.get_mut(dir.index()) {
            *seen = true;
        }
        if !self.finished_key(dir) {
            // No key to check it with because the transcript lacks a message (QUIC opened
            // the Finished though tlslens skipped both hellos past --max-message, and has no
            // suite): why is said, as when a key is there.
            if let Some(why) = self.unchecked() {
                self.set_finished(dir, None, Some(why));
            }
            return;
        }
        // TLS 1.3: the handshake traffic secret it is keyed with, taken now (the side's
        // application secret replaces it after its Finished).
        let base = self.traffic.get(dir.index()).cloned().flatten();
        if self.finished_early(dir) {
            self.defer_finished(dir, verify_data, base);
            return;
        }
        self.finished_verdict(dir, verify_data, base.as_deref());
    }

    /// `dir`'s Finished recomputed from the transcript as it stands and compared (`base`:
    /// TLS 1.3's handshake traffic secret).
    pub(super) fn finished_verdict(&mut self, dir: Dir, verify_data: &[u8], base: Option<&[u8]>) {
        // A transcript dropped for its size matches nothing: `unchecked` says why.
        let verified = if self.transcript.dropped() {
            false
        } else {
            match self.finished_matches(dir, verify_data, base) {
                Some(verified) => verified,
                None => return,
            }
        };
        let unchecked = self.unchecked().filter(|_| !verified);
        // A transcript missing a message cannot match, whatever the secret: no verdict then.
        if unchecked.is_some() {
            self.set_finished(dir, None, unchecked);
            return;
        }
        self.set_finished(dir, Some(verified), None);
        // The record that carried this Finished opened with the secret's keys, which proves
        // the secret: a mismatch is the transcript's, not the secret's (DTLS says the same,
        // tls/association_facts.py). Records that did not open blame the secret already,
        // and their reason stays.
        if !verified && self.status != Status::WrongSecret {
            if self.blamed.is_none() {
                self.blamed = Some((self.status, self.reason.take()));
            }
            self.reason = Some(format!(
                "{} does not verify although the records open: the handshake messages it \
                 hashes were altered, or not all read",
                self.finished_subject()
            ));
        }
    }

    /// Whether the secret `dir`'s Finished is keyed with is known (TLS 1.3: with the whole
    /// transcript read, the client's Finished covering the server's encrypted flight).
    fn finished_key(&self, dir: Dir) -> bool {
        if self.version.is_none() {
            return false;
        }
        if self.tls13 {
            let base = self.traffic.get(dir.index()).and_then(Option::as_ref);
            return base.is_some() && self.transcript_complete();
        }
        self.master_secret.is_some()
    }

    /// Whether `dir`'s Finished is the one the transcript and the secret give (None: the
    /// secret is not there, see [`Decryptor::finished_key`]).
    fn finished_matches(
        &mut self,
        dir: Dir,
        verify_data: &[u8],
        base: Option<&[u8]>,
    ) -> Option<bool> {
        let version = self.version?;
        if self.tls13 {
            let base = base?;
            let hash = self.transcript.hash(self.hash);
            return crate::keys::hkdf::finished_matches(self.hash, base, &hash, verify_data).ok();
        }
        let master = self.master_secret.as_ref()?;
        let label: &[u8] = match dir {
            Dir::C2S => b"client finished",
            Dir::S2C => b"server finished",
        };
        if version == prf::SSL3 {
            let transcript = self.transcript.bytes();
            let verified =
                prf::finished_matches(version, self.hash, master, label, transcript, verify_data);
            return Some(verified);
        }
        let hash = self.transcript.session_hash(version, self.hash);
        let expected = prf::finished_from_hash(version, self.hash, master, label, &hash);
        Some(bool::from(subtle::ConstantTimeEq::ct_eq(
            &expected[..],
            verify_data,
        )))
    }
}
