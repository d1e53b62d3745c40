//! TLS 1.3: each traffic secret of the key log on its own, per direction and phase; the
//! application secret tried where the handshake one is missing; KeyUpdate; 0-RTT.

use super::keylog::EARLY;
use super::{Decryptor, Dir, Env, Part, Status};
use crate::keys::{hkdf, HashAlg};
use crate::protection::{self, RecordProtection};

const TLS13: u16 = 0x0304;

impl Decryptor {
    /// The record protection of a traffic secret; the derivation is kept to be shown.
    fn tls13_protection(&mut self, prefix: &str, secret: &[u8]) -> Option<RecordProtection> {
        let (spec, version) = (self.spec.clone()?, self.version?);
        let (key, iv) = hkdf::traffic_keys(self.hash, secret, spec.key_len, 12).ok()?;
        self.derive(format!("{prefix}_traffic_secret"), secret);
        self.derive(format!("{prefix}_write_key"), &key);
        self.derive(format!("{prefix}_write_iv"), &iv);
        RecordProtection::new(spec, version, &key, &iv, &[], (false, true), None).ok()
    }

    /// A TLS 1.3 secret of the key log, if it can be this suite's: HKDF-Expand takes no key
    /// shorter than the hash (RFC 5869 §2.3), so a shorter one is told and left out rather
    /// than derived from.
    fn tls13_secret(&mut self, env: &Env<'_>, label: &str, hash: HashAlg) -> Option<Vec<u8>> {
        let secret = env.keylog.get(label, &self.client_random)?;
        if secret.len() < hash.output_len() {
            self.reason = Some(format!(
                "the key log's {label} has {} bytes, fewer than {} makes: it is not this \
                 connection's",
                secret.len(),
                hash_name(hash)
            ));
            return None;
        }
        Some(secret.to_vec())
    }

    /// A secret of this connection was found: where the first came from is its source.
    pub(super) fn found(&mut self, env: &Env<'_>, label: &str) {
        if self.source.is_none() {
            let origin = env.keylog.origin(label, &self.client_random).to_owned();
            self.set_source(&origin);
        }
        if self.status == Status::NoSecret {
            self.status = Status::Decrypted;
        }
    }

    /// Each direction's handshake keys from its own secret; a direction without one gets its
    /// application keys to try (see the module's Strategy).
    pub(super) fn tls13_handshake_keys(&mut self, env: &Env<'_>) {
        for dir in Dir::BOTH {
            let label = format!("{}_HANDSHAKE_TRAFFIC_SECRET", dir.side());
            let Some(secret) = self.tls13_secret(env, &label, self.hash) else {
                let trial = self.application_keys(env, dir);
                if let Some(slot) = self.trial.get_mut(dir.index()) {
                    *slot = trial;
                }
                continue;
            };
            self.found(env, &label);
            self.server_handshake_keys = self.server_handshake_keys || dir == Dir::S2C;
            let prefix = format!("{}_handshake", dir.side().to_ascii_lowercase());
            let protection = self.tls13_protection(&prefix, &secret);
            if let Some(slot) = self.traffic.get_mut(dir.index()) {
                *slot = Some(secret);
            }
            // The client's handshake keys are in force from its first protected record.
            let slot = match dir {
                Dir::C2S => self.pending.get_mut(0),
                Dir::S2C => self.active.get_mut(1),
            };
            if let Some(slot) = slot {
                *slot = protection;
            }
        }
    }

    /// The record protection of a direction's first application traffic secret, if the
    /// key log holds it.
    pub(super) fn application_keys(&mut self, env: &Env<'_>, dir: Dir) -> Option<RecordProtection> {
        let label = format!("{}_TRAFFIC_SECRET_0", dir.side());
        let secret = self.tls13_secret(env, &label, self.hash)?;
        let prefix = match dir {
            Dir::C2S => "client_application",
            Dir::S2C => "server_application",
        };
        let protection = self.tls13_protection(prefix, &secret);
        if let Some(slot) = self.traffic.get_mut(dir.index()) {
            *slot = Some(secret);
        }
        protection
    }

    pub(super) fn tls13_after_finished(&mut self, env: &Env<'_>, dir: Dir) {
        if let Some(phase) = self.phase.get_mut(dir.index()) {
            *phase = Part::ApplicationData;
        }
        let keys = self.application_keys(env, dir);
        if let Some(slot) = self.active.get_mut(dir.index()) {
            *slot = keys;
        }
        if dir == Dir::C2S {
            self.pending[0] = None;
        }
    }

    /// RFC 8446 §7.2: the next traffic secret of `dir` and its keys.
    pub(super) fn key_update(&mut self, dir: Dir) {
        let Some(Some(secret)) = self.traffic.get(dir.index()) else {
            return;
        };
        let Ok(next) = hkdf::next_traffic_secret(self.hash, secret) else {
            return;
        };
        let prefix = match dir {
            Dir::C2S => "client_application_updated",
            Dir::S2C => "server_application_updated",
        };
        let protection = self.tls13_protection(prefix, &next);
        if let Some(slot) = self.traffic.get_mut(dir.index()) {
            *slot = Some(next);
        }
        if let Some(slot) = self.active.get_mut(dir.index()) {
            *slot = protection;
        }
    }

    /// The client's 0-RTT keys, made on its first 0-RTT record, with the client early
    /// traffic secret and the PSK's suite (taken to be the first TLS 1.3 suite offered).
    /// False when they cannot be made.
    pub(super) fn early_keys(&mut self, env: &Env<'_>) -> bool {
        if self.early.is_some() {
            return true;
        }
        let Some(suite) = self.early_suite.clone() else {
            return false;
        };
        let hash = HashAlg::from_name(&suite.prf_hash).unwrap_or(HashAlg::Sha256);
        let Some(secret) = self.tls13_secret(env, EARLY, hash) else {
            return false;
        };
        let Ok(spec) =
            protection::cipher_spec(&suite.name, &suite.cipher, &suite.mac, suite.tls13, TLS13)
        else {
            return false;
        };
        let Ok((key, iv)) = hkdf::traffic_keys(hash, &secret, spec.key_len, 12) else {
            return false;
        };
        let Ok(early) = RecordProtection::new(spec, TLS13, &key, &iv, &[], (false, true), None)
        else {
            return false;
        };
        self.early = Some(early);
        self.derive("client_early_traffic_secret", &secret);
        if self.source.is_none() {
            let origin = env.keylog.origin(EARLY, &self.client_random).to_owned();
            self.set_source(&origin);
        }
        true
    }
}

/// The registry's name of a hash, as the reasons name it.
fn hash_name(hash: HashAlg) -> &'static str {
    match hash {
        HashAlg::Md5 => "MD5",
        HashAlg::Sha1 => "SHA",
        HashAlg::Sha224 => "SHA224",
        HashAlg::Sha256 => "SHA256",
        HashAlg::Sha384 => "SHA384",
        HashAlg::Sha512 => "SHA512",
        HashAlg::Sm3 => "SM3",
    }
}
