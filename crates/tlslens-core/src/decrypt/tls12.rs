//! TLS 1.0-1.2 (and SSL 3.0): the master secret from the key log, a resumed session, a PSK
//! or an RSA premaster the caller recovered; the key block; the keys a ChangeCipherSpec
//! brings into force.

use super::{Decryptor, Dir, Env, RsaRequest, Status};
use crate::keys::prf;
use crate::protection::{Kind, RecordProtection};

impl RsaRequest {
    /// What it means when the caller failed to answer (`error`: its bug, not an answer).
    pub fn failed(&self, error: &str) -> String {
        format!(
            "internal error asking for the RSA premaster ({error}); this handshake is not \
             decrypted with the RSA key"
        )
    }
}

impl Decryptor {
    pub(super) fn client_key_exchange(
        &mut self,
        env: &Env<'_>,
        kx: Option<&str>,
        exchange_keys: &[u8],
    ) -> Option<RsaRequest> {
        if self.master_secret.is_some() || self.tls13 || self.suite.is_none() {
            return None;
        }
        let (Some(version), Some(_)) = (self.version, &self.spec) else {
            return None;
        };
        match kx {
            Some("PSK") => {
                self.psk_premaster();
                None
            }
            Some("RSA" | "RSA_PSK") if self.rsa_from_keylog(env, exchange_keys) => None,
            Some("RSA" | "RSA_PSK") if self.rsa_keys => {
                self.awaiting_rsa = true;
                Some(RsaRequest {
                    encrypted: exchange_keys.to_vec(),
                    versions: (self.client_version, version),
                })
            }
            _ => None,
        }
    }

    /// The key log's RSA line for an encrypted premaster, tried before any RSA key.
    fn rsa_from_keylog(&mut self, env: &Env<'_>, exchange_keys: &[u8]) -> bool {
        let Some(premaster) = env.keylog.rsa_premaster(exchange_keys) else {
            return false;
        };
        let premaster = premaster.to_vec();
        self.master_from_premaster(&premaster, "keylog");
        true
    }

    /// The caller's answer to an [`RsaRequest`]: the premaster one of its keys opened, or
    /// None when none did.
    pub fn rsa_premaster(&mut self, premaster: Option<&[u8]>) {
        if !std::mem::take(&mut self.awaiting_rsa) {
            return;
        }
        match premaster {
            Some(premaster) => self.master_from_premaster(premaster, "rsa_key"),
            None => {
                self.reason = Some(
                    "the RSA key given does not open this ClientKeyExchange (another server's key?)"
                        .to_owned(),
                );
            }
        }
    }

    /// RFC 4279 §2: with a plain PSK, premaster = N zero bytes and the PSK, each
    /// length-prefixed.
    fn psk_premaster(&mut self) {
        let Some(psk) = self.psk.clone() else {
            self.reason = Some("a PSK cipher suite, and no --psk was given".to_owned());
            return;
        };
        let n = u16::try_from(psk.len()).unwrap_or(u16::MAX).to_be_bytes();
        let mut premaster = n.to_vec();
        premaster.resize(2 + psk.len(), 0);
        premaster.extend_from_slice(&n);
        premaster.extend_from_slice(&psk);
        self.master_from_premaster(&premaster, "psk");
    }

    pub(super) fn master_from_premaster(&mut self, premaster: &[u8], source: &str) {
        let Some(version) = self.version else {
            return;
        };
        // RFC 7627 §4: the session hash covers the handshake up to the ClientKeyExchange, so
        // a transcript missing a message gives another master secret (and records that fail
        // as if the secret were wrong).
        let unknown = self.unchecked().filter(|_| self.extended_master_secret);
        if let Some(why) = unknown {
            self.reason = Some(format!(
                "the extended master secret hashes the handshake up to the ClientKeyExchange, \
                 and {why}: the keys cannot be derived"
            ));
            return;
        }
        // A full handshake's ClientKeyExchange answers the server's ServerHelloDone: read
        // before it (a server segment captured late), the master secret waits (ems.rs).
        if self.extended_master_secret && !self.server_done {
            self.wait_for_server_done(premaster, source);
            return;
        }
        self.derive("pre_master_secret", premaster);
        let mut session_hash = None;
        if self.extended_master_secret {
            let hash = self.transcript.session_hash(version, self.hash);
            self.derive("session_hash", &hash);
            session_hash = Some(hash);
        }
        let master = prf::master_secret(
            version,
            self.hash,
            premaster,
            &self.client_random,
            &self.server_random,
            session_hash.as_deref(),
        );
        self.set_master(&master, source);
    }

    pub(super) fn set_master(&mut self, master: &[u8], source: &str) {
        let (Some(version), Some(spec)) = (self.version, self.spec.clone()) else {
            return;
        };
        self.master_secret = Some(master.to_vec());
        self.set_source(source);
        self.derive("master_secret", master);
        let mac_len = if spec.kind == Kind::Aead {
            0
        } else {
            spec.mac_len
        };
        let (cr, sr) = (&self.client_random, &self.server_random);
        let mut block = prf::key_block(
            version,
            self.hash,
            master,
            cr,
            sr,
            (mac_len, spec.key_len, spec.iv_len),
        );
        if spec.export_key_len > 0 {
            let lens = (spec.export_key_len, spec.block_size);
            block = prf::export_keys(version, &block, cr, sr, lens);
        }
        let named = [
            ("client_write_mac_key", &block.client_write_mac_key),
            ("server_write_mac_key", &block.server_write_mac_key),
            ("client_write_key", &block.client_write_key),
            ("server_write_key", &block.server_write_key),
            ("client_write_iv", &block.client_write_iv),
            ("server_write_iv", &block.server_write_iv),
        ];
        for (name, value) in named {
            if !value.is_empty() {
                self.derive(name, value);
            }
        }
        let sides = [
            (
                &block.client_write_key,
                &block.client_write_iv,
                &block.client_write_mac_key,
            ),
            (
                &block.server_write_key,
                &block.server_write_iv,
                &block.server_write_mac_key,
            ),
        ];
        for (slot, (key, iv, mac_key)) in self.pending.iter_mut().zip(sides) {
            let external = self.external.cipher(&spec.cipher, key);
            let flags = (self.encrypt_then_mac, false);
            *slot = RecordProtection::new(spec.clone(), version, key, iv, mac_key, flags, external)
                .ok();
        }
        // An earlier handshake's Finished that did not verify still blames the secret
        // (verdicts.rs): a renegotiation's keys do not clear it.
        let blamed = self
            .results
            .iter()
            .any(|r| r.finished_verified == Some(false));
        if !blamed {
            self.status = Status::Decrypted;
        }
    }

    /// A ChangeCipherSpec from `dir`: its pending keys come into force (TLS <= 1.2).
    pub fn on_change_cipher_spec(&mut self, env: &mut Env<'_>, dir: Dir) {
        if self.tls13 {
            return;
        }
        if dir == Dir::C2S {
            self.client_ccs_unkeyed();
        }
        let pending = self.pending.get_mut(dir.index()).and_then(Option::take);
        if let Some(active) = self.active.get_mut(dir.index()) {
            *active = pending;
        }
        if let Some(master) = &self.master_secret {
            if !self.session_id.is_empty() {
                env.sessions.remember_session(&self.session_id, master);
            }
        }
    }
}
