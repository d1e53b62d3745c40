//! Record protection, in reverse: decrypt and check one record at a time.
//!
//! Strategy: `cipher_spec` maps a cipher suite to what its records need (AEAD, CBC block
//! cipher + HMAC, stream cipher, or NULL). A `RecordProtection` holds one direction's keys
//! and sequence number; `open` returns the record's real content type and plaintext, or
//! why the tag, the MAC or the padding does not check out. Every primitive comes from
//! RustCrypto (`ciphers`); only the record layout (nonces, additional data, padding, MAC
//! input) is written here. MACs are compared in constant time by the crates.

mod ciphers;
mod mask;
mod spec;

pub use ciphers::{Aead, ExternalCbc};
pub use mask::header_mask;
pub use spec::{cipher_spec, CipherSpec, Kind};

use ciphers::{Block, Rc4};
use subtle::ConstantTimeEq;

/// Why a record does not open: the message names the record by its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptError(pub String);

enum State {
    Aead(Aead),
    Block(Block),
    Stream(Rc4),
    Null,
}

/// One direction's record protection state (keys, IV chaining, sequence number).
pub struct RecordProtection {
    spec: CipherSpec,
    version: u16,
    iv: Vec<u8>,
    mac_key: Vec<u8>,
    etm: bool,
    tls13: bool,
    pub seq: u64,
    /// Records these keys opened (through [`Self::open`]): keys that opened one are this
    /// connection's, whatever fails later.
    pub opened: u64,
    state: State,
}

/// The MAC and AEAD additional data: seq, type, version, length (RFC 5246 §6.2.3).
fn mac_header(seq: u64, ctype: u8, version: u16, len: usize) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[..8].copy_from_slice(&seq.to_be_bytes());
    out[8] = ctype;
    out[9..11].copy_from_slice(&version.to_be_bytes());
    // A record's length fits 16 bits; a longer body saturates and simply fails its check.
    out[11..].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    out
}

/// RFC 9146 §4: the content type of a DTLS 1.2 record carrying a connection ID.
const TLS12_CID: u8 = 25;

/// What a record's MAC and AEAD additional data hold before its length.
#[derive(Clone, Copy)]
enum Prefix<'a> {
    /// RFC 5246 §6.2.3: seq_num, type, version.
    Classic { ctype: u8, version: u16 },
    /// RFC 9146 §5 (the RFC, not draft-ietf-tls-dtls-connection-id-07 whose data began
    /// with seq_num and put the CID before its length): seq_num_placeholder (8 bytes of
    /// 0xff), tls12_cid, cid_length, tls12_cid, version, epoch and sequence number, cid.
    Cid { version: u16, cid: &'a [u8] },
}

/// The additional data of one record: 13 bytes on the stack, or a connection ID's longer.
enum Header {
    Short([u8; 13]),
    Long(Vec<u8>),
}

impl AsRef<[u8]> for Header {
    fn as_ref(&self) -> &[u8] {
        match self {
            Header::Short(bytes) => bytes,
            Header::Long(bytes) => bytes,
        }
    }
}

impl Prefix<'_> {
    /// The additional data for sequence number `seq` (DTLS: epoch || seq) and `len`.
    fn header(&self, seq: u64, len: usize) -> Header {
        match *self {
            Prefix::Classic { ctype, version } => {
                Header::Short(mac_header(seq, ctype, version, len))
            }
            Prefix::Cid { version, cid } => {
                let mut out = Vec::with_capacity(23 + cid.len());
                out.extend_from_slice(&[0xff; 8]);
                // A connection ID is at most 255 bytes (its length is one byte on the wire).
                let cid_len = u8::try_from(cid.len()).unwrap_or(u8::MAX);
                out.extend_from_slice(&[TLS12_CID, cid_len, TLS12_CID]);
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(cid);
                out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
                Header::Long(out)
            }
        }
    }
}

/// RFC 8446 §5.3: the per-record nonce, the IV xor the sequence number (right-aligned).
pub(crate) fn xor_seq(iv: &[u8], seq: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    let n = iv.len().min(12);
    nonce[12 - n..].copy_from_slice(&iv[iv.len() - n..]);
    for (byte, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *byte ^= s;
    }
    nonce
}

/// Open a TLS 1.3 record body and split its TLSInnerPlaintext: content, the real type, then
/// zero padding.
fn open_inner(
    aead: &Aead,
    nonce: &[u8; 12],
    aad: &[u8],
    body: &[u8],
    tag_len: usize,
) -> Result<(u8, Vec<u8>), String> {
    let mut inner = body.to_vec();
    if body.len() < tag_len || !aead.open(nonce, aad, &mut inner, tag_len) {
        return Err("the AEAD tag does not verify".to_owned());
    }
    split_inner(inner, "TLSInnerPlaintext")
}

/// TLSInnerPlaintext (RFC 8446 §5.2) or DTLSInnerPlaintext (RFC 9146 §4): the content, the
/// real type, then zero padding.
fn split_inner(mut inner: Vec<u8>, what: &str) -> Result<(u8, Vec<u8>), String> {
    let end = inner
        .iter()
        .rposition(|&b| b != 0)
        .ok_or_else(|| format!("{what} has no content type"))?;
    let real = inner[end];
    inner.truncate(end);
    Ok((real, inner))
}

impl RecordProtection {
    /// `external` decrypts CBC for a cipher the core has no crate for (SEED).
    pub fn new(
        spec: CipherSpec,
        version: u16,
        key: &[u8],
        iv: &[u8],
        mac_key: &[u8],
        (etm, tls13): (bool, bool),
        external: Option<Box<dyn ExternalCbc>>,
    ) -> Result<Self, String> {
        let state = match spec.kind {
            Kind::Aead => {
                // TLS 1.3 and ChaCha20: a 12-byte IV; TLS 1.2 GCM/CCM: a 4-byte salt.
                let valid = matches!((iv.len(), tls13), (12, _) | (4, false));
                if !valid {
                    return Err(format!("an AEAD IV of {} bytes", iv.len()));
                }
                State::Aead(Aead::new(&spec.cipher, key)?)
            }
            Kind::Block => match (Block::new(&spec.cipher, key)?, external) {
                (Some(block), _) => State::Block(block),
                (None, Some(external)) => State::Block(Block::External(external)),
                (None, None) => return Err(format!("no block cipher {}", spec.cipher)),
            },
            Kind::Stream => State::Stream(Rc4::new(key)?),
            Kind::Null => State::Null,
        };
        Ok(Self {
            spec,
            version,
            iv: iv.to_vec(),
            mac_key: mac_key.to_vec(),
            etm,
            tls13,
            seq: 0,
            opened: 0,
            state,
        })
    }

    pub fn spec(&self) -> &CipherSpec {
        &self.spec
    }

    /// Decrypt and check one record: (real content type, plaintext).
    pub fn open(
        &mut self,
        ctype: u8,
        version: u16,
        body: &[u8],
    ) -> Result<(u8, Vec<u8>), DecryptError> {
        let opened = self.open_as(Prefix::Classic { ctype, version }, body);
        if opened.is_ok() {
            self.opened += 1;
        }
        opened
    }

    /// [`Self::open`] one record as if it were number `seq`; one that does not open leaves
    /// the keys as they were (the sequence number, and the IV a TLS 1.0 CBC record chains),
    /// so that another number can be tried.
    pub fn open_at(
        &mut self,
        seq: u64,
        ctype: u8,
        version: u16,
        body: &[u8],
    ) -> Result<(u8, Vec<u8>), DecryptError> {
        let (before, iv) = (self.seq, self.chains_iv().then(|| self.iv.clone()));
        self.seq = seq;
        let opened = self.open(ctype, version, body);
        if opened.is_err() {
            self.seq = before;
            if let Some(iv) = iv {
                self.iv = iv;
            }
        }
        opened
    }

    /// A record that is not opened goes by: its sequence number is used, and the IV the
    /// next record chains is its last ciphertext block (TLS 1.0 and SSL 3.0 CBC; with
    /// encrypt-then-MAC, RFC 7366, the block before the MAC).
    pub fn pass(&mut self, body: &[u8]) {
        self.seq = self.seq.wrapping_add(1);
        let bs = self.spec.block_size;
        let end = if self.etm {
            body.len().saturating_sub(self.spec.mac_len)
        } else {
            body.len()
        };
        if let Some(last) = body.get(end.saturating_sub(bs)..end) {
            if self.chains_iv() && end >= bs {
                self.iv = last.to_vec();
            }
        }
    }

    /// Whether each record's IV is the last ciphertext block of the record before (CBC in
    /// TLS 1.0 and SSL 3.0): after a record lost, the next one's first block is unreadable.
    pub fn chains_iv(&self) -> bool {
        matches!(self.state, State::Block(_))
            && self.version <= 0x0301
            && !self.iv.is_empty()
            && self.iv.len() == self.spec.block_size
    }

    /// Whether the keys are a stream cipher's (RC4), whose keystream runs on through every
    /// record: after a record lost, where the next one starts in it is unknown.
    pub fn is_stream(&self) -> bool {
        matches!(self.state, State::Stream(_))
    }

    /// The fewest body bytes a record under these keys can have (no content, the least
    /// padding): what bounds how many records a number of lost bytes held.
    pub fn min_body(&self) -> usize {
        let (bs, mac_len, tag_len) = (self.spec.block_size, self.spec.mac_len, self.spec.tag_len);
        let least = match self.state {
            // RFC 8446 §5.2: at least the content type; RFC 5288: 8 explicit nonce bytes.
            State::Aead(_) if self.tls13 => tag_len + 1,
            State::Aead(_) if self.iv.len() == 4 => 8 + tag_len,
            State::Aead(_) => tag_len,
            State::Block(_) => {
                let explicit_iv = if self.chains_iv() { 0 } else { bs };
                if self.etm {
                    explicit_iv + bs + mac_len
                } else {
                    // The MAC and at least the padding length byte, in whole blocks.
                    explicit_iv + (mac_len + 1).div_ceil(bs.max(1)) * bs
                }
            }
            State::Stream(_) | State::Null => mac_len,
        };
        least.max(1)
    }

    /// Decrypt and check one DTLS 1.2 record carrying connection ID `cid` (RFC 9146,
    /// content type tls12_cid), [`Self::seq`] being its epoch and sequence number: (the
    /// real content type of its DTLSInnerPlaintext, the content).
    pub fn open_cid(
        &mut self,
        version: u16,
        cid: &[u8],
        body: &[u8],
    ) -> Result<(u8, Vec<u8>), DecryptError> {
        let seq = self.seq;
        let (_, inner) = self.open_as(Prefix::Cid { version, cid }, body)?;
        split_inner(inner, "DTLSInnerPlaintext")
            .map_err(|what| DecryptError(format!("record {seq}: {what}")))
    }

    fn open_as(&mut self, prefix: Prefix<'_>, body: &[u8]) -> Result<(u8, Vec<u8>), DecryptError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let err = |what: String| DecryptError(format!("record {seq}: {what}"));
        let ctype = match prefix {
            Prefix::Classic { ctype, .. } => ctype,
            Prefix::Cid { .. } => TLS12_CID,
        };
        match &mut self.state {
            State::Aead(_) => self.open_aead(prefix, body, seq).map_err(err),
            State::Block(_) => Ok((ctype, self.open_block(prefix, body, seq).map_err(err)?)),
            State::Stream(rc4) => {
                let mut plain = body.to_vec();
                rc4.apply(&mut plain);
                Ok((ctype, self.check_mac(prefix, plain, seq).map_err(err)?))
            }
            State::Null => Ok((
                ctype,
                self.check_mac(prefix, body.to_vec(), seq).map_err(err)?,
            )),
        }
    }

    /// Open a TLS 1.3-style record (nonce = IV xor [`Self::seq`], an inner plaintext) whose
    /// additional data is given: DTLS 1.3's is its unified header as sent, with the record
    /// number before its encryption (RFC 9147 §4), not TLS 1.3's five bytes.
    pub fn open_with_aad(
        &mut self,
        aad: &[u8],
        body: &[u8],
    ) -> Result<(u8, Vec<u8>), DecryptError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let err = |what: String| DecryptError(format!("record {seq}: {what}"));
        match &self.state {
            State::Aead(aead) if self.tls13 => {
                open_inner(aead, &xor_seq(&self.iv, seq), aad, body, self.spec.tag_len).map_err(err)
            }
            _ => Err(err("not a TLS 1.3 AEAD".to_owned())),
        }
    }

    fn open_aead(
        &self,
        prefix: Prefix<'_>,
        body: &[u8],
        seq: u64,
    ) -> Result<(u8, Vec<u8>), String> {
        let State::Aead(aead) = &self.state else {
            return Err("not an AEAD".to_owned());
        };
        let tag_len = self.spec.tag_len;
        let (ctype, version) = match prefix {
            Prefix::Classic { ctype, version } => (ctype, version),
            Prefix::Cid { version, .. } => (TLS12_CID, version),
        };
        if self.tls13 {
            // RFC 8446 §5.3: nonce = iv xor seq; AAD = the record header.
            let nonce = xor_seq(&self.iv, seq);
            // The record header became the additional data in draft-25; drafts before had none.
            let draft = (0x7F00..0x7F19).contains(&self.version);
            let mut aad = vec![ctype];
            aad.extend_from_slice(&version.to_be_bytes());
            aad.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
            return open_inner(aead, &nonce, if draft { &[] } else { &aad }, body, tag_len);
        }
        let (nonce, ciphertext) = if self.iv.len() == 12 {
            // ChaCha20-Poly1305 in TLS 1.2 (RFC 7905): an implicit nonce.
            (xor_seq(&self.iv, seq), body)
        } else {
            // GCM/CCM (RFC 5288, 6655): the 4-byte salt + 8 explicit bytes.
            if body.len() < 8 + tag_len {
                return Err(format!(
                    "{} bytes cannot hold a {tag_len}-byte tag",
                    body.len()
                ));
            }
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&self.iv);
            nonce[4..].copy_from_slice(&body[..8]);
            (nonce, &body[8..])
        };
        if ciphertext.len() < tag_len {
            return Err(format!(
                "{} bytes cannot hold a {tag_len}-byte tag",
                body.len()
            ));
        }
        let aad = prefix.header(seq, ciphertext.len() - tag_len);
        let mut plain = ciphertext.to_vec();
        if !aead.open(&nonce, aad.as_ref(), &mut plain, tag_len) {
            return Err("the AEAD tag does not verify".to_owned());
        }
        Ok((ctype, plain))
    }

    fn open_block(&mut self, prefix: Prefix<'_>, body: &[u8], seq: u64) -> Result<Vec<u8>, String> {
        let (bs, mac_len) = (self.spec.block_size, self.spec.mac_len);
        let mut body = body;
        if self.etm {
            // RFC 7366: the MAC covers IV + ciphertext and comes last.
            if body.len() < mac_len + bs {
                return Err("too short for encrypt-then-MAC".to_owned());
            }
            let (protected, mac) = body.split_at(body.len() - mac_len);
            let header = prefix.header(seq, protected.len());
            if !self
                .mac_alg()?
                .hmac_verify(&self.mac_key, &[header.as_ref(), protected], mac)
            {
                return Err("the MAC does not verify (encrypt-then-MAC)".to_owned());
            }
            body = protected;
        }
        if body.is_empty() || bs == 0 || body.len() % bs != 0 {
            return Err(format!(
                "{} bytes is not a whole number of blocks",
                body.len()
            ));
        }
        let (iv, ciphertext) =
            if !self.iv.is_empty() && self.version <= 0x0301 && self.iv.len() == bs {
                // TLS 1.0/SSL 3.0: the IV chains from the last record's last block.
                let iv = std::mem::replace(&mut self.iv, body[body.len() - bs..].to_vec());
                (iv, body)
            } else {
                (body[..bs].to_vec(), &body[bs..])
            };
        let State::Block(block) = &mut self.state else {
            return Err("not a block cipher".to_owned());
        };
        let mut plain = block.decrypt(&iv, ciphertext)?;
        let Some(&pad) = plain.last() else {
            return Err("no data after the IV".to_owned());
        };
        let pad = usize::from(pad);
        if pad + 1 > plain.len() {
            return Err(format!("padding length {pad} is larger than the record"));
        }
        // SSL 3.0 leaves the padding bytes arbitrary; TLS requires them all equal to the length.
        let start = plain.len() - pad - 1;
        if self.version > 0x0300 && plain[start..].iter().any(|&b| usize::from(b) != pad) {
            return Err("bad padding (wrong key, or tampered)".to_owned());
        }
        plain.truncate(start);
        if self.etm {
            return Ok(plain);
        }
        self.check_mac(prefix, plain, seq)
    }

    fn mac_alg(&self) -> Result<crate::keys::HashAlg, String> {
        self.spec
            .mac
            .ok_or_else(|| "a suite without a MAC".to_owned())
    }

    fn check_mac(
        &self,
        prefix: Prefix<'_>,
        mut content: Vec<u8>,
        seq: u64,
    ) -> Result<Vec<u8>, String> {
        let mac_len = self.spec.mac_len;
        if content.len() < mac_len {
            return Err("shorter than its MAC".to_owned());
        }
        let mac = content.split_off(content.len() - mac_len);
        let alg = self.mac_alg()?;
        let ok = if let (0x0300, Prefix::Classic { ctype, .. }) = (self.version, prefix) {
            // RFC 6101 §5.2.3.1: hash(MAC_secret + pad_2 + hash(MAC_secret + pad_1 + seq +
            // type + length + data)).
            let pad_len = if alg == crate::keys::HashAlg::Md5 {
                48
            } else {
                40
            };
            let header = mac_header(seq, ctype, 0, content.len());
            let inner = alg.digest(&[
                &self.mac_key,
                &vec![0x36; pad_len],
                &header[..9],
                &header[11..],
                &content,
            ]);
            let expected = alg.digest(&[&self.mac_key, &vec![0x5c; pad_len], &inner]);
            bool::from(expected.ct_eq(&mac))
        } else {
            let header = prefix.header(seq, content.len());
            alg.hmac_verify(&self.mac_key, &[header.as_ref(), &content], &mac)
        };
        if !ok {
            return Err("the MAC does not verify (wrong key, or tampered)".to_owned());
        }
        Ok(content)
    }
}
