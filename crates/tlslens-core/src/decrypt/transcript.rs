//! One handshake's transcript (RFC 8446 §4.4.1, RFC 5246 §7.4.9) and its hashes.
//!
//! Strategy: a handshake hashes its transcript several times as it grows (the keys of each
//! stage, each Finished, what a CertificateVerify signs), its certificate chain each time:
//! SHA-384, which has no instruction of its own, was a tenth of the keyed walk over many
//! short connections. Each hash asked for keeps a running state instead, fed only the bytes
//! added since it was last asked, and a copy of that state gives the digest: each byte is
//! hashed once per hash (the suite's, or MD5 and SHA-1 before TLS 1.2). Starting anew or
//! replacing the transcript drops the states.

use digest::DynDigest;

use super::lack::Lack;
use super::Dir;
use crate::keys::HashAlg;

/// A handshake transcript longer than this is dropped (its Finished is then not checked):
/// each message is bounded by the handshake layer, their number is not.
pub const MAX_TRANSCRIPT: usize = 1 << 24;

/// One hash's state over the first `hashed` bytes of the transcript.
struct Running {
    alg: HashAlg,
    hashed: usize,
    state: Box<dyn DynDigest + Send + Sync>,
}

#[derive(Default)]
pub struct Transcript {
    bytes: Vec<u8>,
    /// It grew past `MAX_TRANSCRIPT`: nothing is kept until the next handshake.
    dropped: bool,
    /// A message of this handshake is not in it, and why (the first one missing).
    lacking: Option<(Dir, Lack)>,
    running: Vec<Running>,
}

impl Transcript {
    /// The next handshake message, raw with its header.
    pub fn append(&mut self, raw: &[u8]) {
        if self.dropped || self.bytes.len() + raw.len() > MAX_TRANSCRIPT {
            self.dropped = true;
            self.bytes.clear();
            self.running.clear();
            return;
        }
        self.bytes.extend_from_slice(raw);
    }

    /// Bytes that belong in it went past `MAX_TRANSCRIPT` elsewhere (a Finished waiting
    /// with its side's messages: order.rs): dropped as if they had come in.
    pub fn overflow(&mut self) {
        self.dropped = true;
        self.bytes.clear();
        self.running.clear();
    }

    /// A new handshake starts (the first, or a renegotiation).
    pub fn restart(&mut self) {
        self.bytes.clear();
        self.running.clear();
        self.dropped = false;
        self.lacking = None;
    }

    /// The transcript became `bytes` (a HelloRetryRequest's message_hash).
    pub fn replace(&mut self, bytes: Vec<u8>) {
        self.bytes = bytes;
        self.running.clear();
    }

    pub fn dropped(&self) -> bool {
        self.dropped
    }

    /// A message of `dir` is not in this handshake's transcript, for the reason `lack` says.
    pub fn lacks(&mut self, dir: Dir, lack: Lack) {
        self.lacking = Some((dir, lack));
    }

    pub fn lacking(&self) -> Option<(Dir, Lack)> {
        self.lacking
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The bytes from `at` on, taken out (a side's messages read before the other side's
    /// they follow: order.rs). The running hashes start again: they may have hashed them.
    pub fn split_off(&mut self, at: usize) -> Vec<u8> {
        if at >= self.bytes.len() {
            return Vec::new();
        }
        self.running.clear();
        self.bytes.split_off(at)
    }

    /// The `alg` hash of the transcript so far.
    pub fn hash(&mut self, alg: HashAlg) -> Vec<u8> {
        let index = match self.running.iter().position(|r| r.alg == alg) {
            Some(index) => index,
            None => {
                self.running.push(Running {
                    alg,
                    hashed: 0,
                    state: alg.hasher(),
                });
                self.running.len() - 1
            }
        };
        let Some(running) = self.running.get_mut(index) else {
            return alg.digest(&[&self.bytes]);
        };
        running
            .state
            .update(self.bytes.get(running.hashed..).unwrap_or_default());
        running.hashed = self.bytes.len();
        running.state.box_clone().finalize().into_vec()
    }

    /// RFC 5246 §7.4.9 and RFC 7627 §3: the suite's hash from TLS 1.2 on, MD5 then SHA-1
    /// before.
    pub fn session_hash(&mut self, version: u16, prf_hash: HashAlg) -> Vec<u8> {
        if version >= crate::keys::prf::TLS12 {
            return self.hash(prf_hash);
        }
        [self.hash(HashAlg::Md5), self.hash(HashAlg::Sha1)].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::prf;

    /// Hashes asked for as the transcript grows, restarts and is replaced are the hashes of
    /// its bytes as they stand.
    #[test]
    fn each_hash_is_the_bytes_as_they_stand() {
        let mut transcript = Transcript::default();
        for round in 0..3u8 {
            for n in 0..20u8 {
                transcript.append(&vec![n ^ round; usize::from(n) * 97]);
                for alg in [HashAlg::Sha384, HashAlg::Sha256, HashAlg::Md5] {
                    if (n + round) % 3 == 0 {
                        let bytes = transcript.bytes().to_vec();
                        assert_eq!(transcript.hash(alg), alg.digest(&[&bytes]));
                    }
                }
                for version in [0x0301, 0x0303] {
                    let bytes = transcript.bytes().to_vec();
                    assert_eq!(
                        transcript.session_hash(version, HashAlg::Sha384),
                        prf::session_hash(version, HashAlg::Sha384, &bytes)
                    );
                }
            }
            match round {
                0 => transcript.restart(),
                _ => transcript.replace(vec![254, 0, 0, 3, 1, 2, 3]),
            }
        }
    }
}
