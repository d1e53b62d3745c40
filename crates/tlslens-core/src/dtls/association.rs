//! One DTLS association: datagrams in, [`DtlsEvent`]s out. Which end is the client, the
//! connection IDs each direction's records carry, the negotiated version and suite, and the
//! keys of each direction's epochs live here; the reading is `record`'s and `handshake`'s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::handshake::{PendingPool, Reassembler};
use super::hello;
use super::keys::{self, EpochKeys, Keys, Suite};
use super::lack;
use super::record::{self, Header, Record, CT_ACK, CT_TLS12_CID};
use super::transcript12::Transcript12;
use super::transcript13::Transcript;
use super::{DtlsEvent, Endpoint, Finding, Limits, RecordInfo};
use crate::codec::Reader;
use crate::decrypt::{Derivation, MAX_DERIVATIONS, MAX_DERIVED_VALUES};
use crate::records::{CT_ALERT, CT_APPLICATION_DATA, CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE};

mod messages;

/// DTLS 1.3's epochs (RFC 9147 §6.1): 2 handshake, 3 the first application keys.
const EPOCH_HANDSHAKE: u64 = 2;
const EPOCH_APPLICATION: u64 = 3;
const DTLS13: u16 = 0xfefc;

#[derive(Default)]
struct Side {
    reassembler: Reassembler,
    /// Length of the connection ID this direction's records carry (the peer asked for it).
    cid_len: usize,
    epochs: BTreeMap<u64, EpochKeys>,
    /// DTLS 1.3: the next sequence number expected per epoch, to rebuild the sent bits.
    next_seq: BTreeMap<u64, u64>,
    /// The newest epoch seen (DTLS 1.3 epoch bits are rebuilt around it).
    newest_epoch: u64,
    /// DTLS 1.3: the newest application traffic secret derived, and its epoch.
    app_secret: Option<(u64, Vec<u8>)>,
    /// Epochs whose missing keys were told (once each).
    told_missing: Vec<u64>,
}

/// Where a record's content came from: its frame, direction, epoch and sequence number.
#[derive(Clone, Copy)]
struct At {
    frame: u64,
    from_client: bool,
    epoch: u64,
    seq: u64,
    /// Offset of the content in the datagram (of the record body when decrypted).
    base: usize,
}

/// Why a record does not open, named by its epoch and sequence number (the protection's
/// own message counts in the 64-bit epoch || sequence of DTLS 1.2's MAC).
fn undecrypted(epoch: u64, seq: u64, e: &crate::protection::DecryptError) -> String {
    let why = e.0.split_once(": ").map_or(e.0.as_str(), |(_, why)| why);
    format!("epoch {epoch} record {seq} does not open: {why}")
}

pub struct Association {
    limits: Limits,
    keys: Option<Arc<Keys>>,
    client: Option<Endpoint>,
    /// 0: the client's direction, 1: the server's.
    sides: [Side; 2],
    client_random: Option<[u8; 32]>,
    /// The connection ID the ClientHello asked for.
    client_cid: Option<Vec<u8>>,
    /// Connection IDs were negotiated by a pre-RFC 9146 extension (their additional data
    /// is the draft's).
    draft_cid: bool,
    version: Option<u16>,
    suite: Option<Suite>,
    handshake_seen: bool,
    events: VecDeque<DtlsEvent>,
    /// Retransmissions, and copies that differ from the first, told in the current
    /// datagram: (side, message_seq, whether the copy differed).
    told_retransmissions: Vec<(usize, u16, bool)>,
    /// The handshake messages, for the CertificateVerify and Finished checks: DTLS 1.3's
    /// and DTLS 1.0/1.2's (both until the ServerHello names the version).
    transcript: Transcript,
    transcript12: Transcript12,
    /// What incomplete messages hold, shared with the capture's other associations.
    pool: Arc<PendingPool>,
    /// The pool's bound refused a message here (told once).
    pooled: bool,
    /// The messages told lacking since the last ClientHello, (from_client, message_seq):
    /// each of their fragments is refused again, but told once (at most `max_completed`).
    told_lacking: Vec<(bool, u16)>,
    /// With a key log: what each handshake derived (the first [`MAX_DERIVATIONS`]), one per
    /// ServerHello that is not a HelloRetryRequest (empty where the key log lacks the
    /// connection); and how many such ServerHellos came (the current handshake's number).
    derivations: Vec<Derivation>,
    handshakes: usize,
}

impl Association {
    /// `keys`: the key log's secrets and the suites, when records are to be decrypted.
    pub fn new(limits: Limits, keys: Option<Arc<Keys>>) -> Self {
        Association {
            limits,
            keys,
            client: None,
            sides: [Side::default(), Side::default()],
            client_random: None,
            client_cid: None,
            draft_cid: false,
            version: None,
            suite: None,
            handshake_seen: false,
            events: VecDeque::new(),
            told_retransmissions: Vec::new(),
            transcript: Transcript::default(),
            transcript12: Transcript12::default(),
            pool: Arc::new(PendingPool::default()),
            pooled: false,
            told_lacking: Vec::new(),
            derivations: Vec::new(),
            handshakes: 0,
        }
    }

    /// Reassemble within `pool`, shared with the capture's other associations (alone, an
    /// association has a pool of its own).
    #[must_use]
    pub fn sharing(mut self, pool: Arc<PendingPool>) -> Self {
        self.pool = pool;
        self
    }

    /// Whether a handshake record was read: from then on a unified header is DTLS 1.3.
    pub fn handshake_seen(&self) -> bool {
        self.handshake_seen
    }

    /// What each handshake derived from the key log's secrets (the first, then each
    /// renegotiation), as a TCP connection's `Decryptor::derivations`: shown by `show`.
    pub fn derivations(&self) -> &[Derivation] {
        &self.derivations
    }

    /// A handshake begins with its ServerHello (with a key log), and what it derived from
    /// the key log's secrets (nothing: they are not there).
    fn new_derivation(&mut self, derived: Derivation) {
        self.handshakes = self.handshakes.saturating_add(1);
        if self.derivations.len() < MAX_DERIVATIONS {
            self.derivations.push(Derivation::default());
            self.derived(derived.source, derived.values);
        }
    }

    /// Values the current handshake derived, kept up to [`MAX_DERIVED_VALUES`]; `source`:
    /// where its secrets came from.
    fn derived(&mut self, source: Option<String>, values: keys::Values) {
        let current = self.handshakes.checked_sub(1);
        let Some(derivation) = current.and_then(|i| self.derivations.get_mut(i)) else {
            return;
        };
        if source.is_some() {
            derivation.source = source;
        }
        let room = MAX_DERIVED_VALUES.saturating_sub(derivation.values.len());
        derivation.values.extend(values.into_iter().take(room));
    }

    /// The next event, if any.
    pub fn poll(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    /// One UDP datagram of the association.
    pub fn feed(&mut self, frame: u64, src: Endpoint, dst: Endpoint, payload: &[u8]) {
        let client = *self.client.get_or_insert_with(|| {
            // A server's first flight seen first (the capture started late; past the hellos, a
            // unified header of epoch 2, whose server flight comes first): its receiver is
            // the client.
            let server_first = (payload.first() == Some(&CT_HANDSHAKE)
                && matches!(payload.get(13), Some(2 | 3 | 11 | 12 | 14)))
                || payload.first().is_some_and(|&b| b & 0xe3 == 0x22);
            if server_first {
                dst
            } else {
                src
            }
        });
        let from_client = src == client;
        let side = usize::from(!from_client);
        self.told_retransmissions.clear();
        let mut r = Reader::new(payload);
        while !r.is_empty() {
            match record::read_record(&mut r, &mut self.sides[side].cid_len) {
                Ok(rec) => self.record(frame, from_client, &rec),
                Err(e) => {
                    let what = format!("not a DTLS record ({e}); the datagram's rest is skipped");
                    self.finding(frame, from_client, e.offset(), what);
                    break;
                }
            }
        }
    }

    /// At the end: the handshake messages left incomplete.
    pub fn finish(&mut self, frame: u64) {
        for (side, from_client) in [(0, true), (1, false)] {
            for (seq, msg_type, have, length) in self.sides[side].reassembler.incomplete() {
                let what = format!(
                    "handshake message {seq} never completed: {have} of {length} bytes seen"
                );
                self.finding(frame, from_client, 0, what);
                let why = lack::incomplete(from_client, msg_type, have, length);
                self.lacking((frame, from_client), seq, msg_type, why);
            }
            self.sides[side].reassembler.clear(&self.pool);
        }
    }

    /// A message of the handshake that tlslens does not have (`why`: what and why), told
    /// once a message: a Finished recomputed without it is not the secret's fault.
    fn lacking(&mut self, (frame, from_client): (u64, bool), seq: u16, msg_type: u8, why: String) {
        if self.told_lacking.contains(&(from_client, seq)) {
            return;
        }
        if self.told_lacking.len() < self.limits.max_completed {
            self.told_lacking.push((from_client, seq));
        }
        self.events.push_back(DtlsEvent::Lacking {
            frame,
            from_client,
            message_seq: seq,
            msg_type,
            why,
        });
    }

    fn finding(&mut self, frame: u64, from_client: bool, offset: usize, what: String) {
        self.events.push_back(DtlsEvent::Finding(Finding {
            frame,
            from_client,
            offset,
            what,
        }));
    }

    fn record(&mut self, frame: u64, from_client: bool, rec: &Record<'_>) {
        let side = usize::from(!from_client);
        let (epoch, seq, mut info) = match &rec.header {
            Header::Classic {
                content_type,
                version,
                epoch,
                seq,
                cid,
            } => {
                let info = RecordInfo {
                    content_type: Some(*content_type),
                    version: Some(*version),
                    epoch: u64::from(*epoch),
                    seq: *seq,
                    cid: cid.clone(),
                    length: rec.body.len(),
                    unified: false,
                };
                if *epoch == 0 && *content_type != CT_TLS12_CID {
                    let at = At {
                        frame,
                        from_client,
                        epoch: 0,
                        seq: *seq,
                        base: rec.body_offset,
                    };
                    self.push_record(rec.offset, at, info, None);
                    self.content(at, *content_type, rec.body);
                    return;
                }
                (u64::from(*epoch), *seq, info)
            }
            Header::Unified {
                epoch_bits,
                seq_bits,
                cid,
                ..
            } => {
                let newest = self.sides[side].newest_epoch.max(EPOCH_HANDSHAKE);
                let epoch = record::reconstruct(newest, u64::from(*epoch_bits), 2);
                let info = RecordInfo {
                    content_type: None,
                    version: None,
                    epoch: u64::from(*epoch_bits),
                    seq: u64::from(*seq_bits),
                    cid: cid.clone(),
                    length: rec.body.len(),
                    unified: true,
                };
                (epoch, u64::from(*seq_bits), info)
            }
        };
        let at = At {
            frame,
            from_client,
            epoch,
            seq,
            base: rec.body_offset,
        };
        match self.open(at, rec) {
            Ok(Some((seq, inner_type, plain))) => {
                let side = &mut self.sides[side];
                side.newest_epoch = side.newest_epoch.max(epoch);
                (info.epoch, info.seq) = (epoch, seq);
                let at = At { seq, ..at };
                self.push_record(rec.offset, at, info, Some(inner_type));
                self.content(at, inner_type, &plain);
            }
            Ok(None) => self.push_record(rec.offset, at, info, None),
            Err(what) => {
                self.push_record(rec.offset, at, info, None);
                self.finding(frame, from_client, rec.offset, what);
            }
        }
    }

    fn push_record(&mut self, offset: usize, at: At, record: RecordInfo, inner: Option<u8>) {
        self.events.push_back(DtlsEvent::Record {
            frame: at.frame,
            from_client: at.from_client,
            offset,
            record,
            decrypted: inner.is_some(),
            inner_type: inner,
        });
    }

    /// Remove a protected record's protection: Ok(None) when there are no keys for it.
    fn open(&mut self, at: At, rec: &Record<'_>) -> Result<Option<(u64, u8, Vec<u8>)>, String> {
        let side = usize::from(!at.from_client);
        if !self.epoch_keys(side, at.epoch) {
            let told = &mut self.sides[side].told_missing;
            // Only when this connection's keys were found: otherwise the ServerHello's
            // finding already said why nothing opens.
            if self.suite.is_some() && !told.contains(&at.epoch) && told.len() < 64 {
                told.push(at.epoch);
                return Err(format!(
                    "no keys for epoch {}: its records stay encrypted",
                    at.epoch
                ));
            }
            return Ok(None);
        }
        let side = &mut self.sides[side];
        let Some(keys) = side.epochs.get_mut(&at.epoch) else {
            return Ok(None);
        };
        match &rec.header {
            Header::Classic {
                content_type,
                version,
                cid,
                ..
            } => {
                // RFC 6347 §4.1.2.1: the MAC's and AEAD's 64-bit sequence is epoch || seq.
                keys.protection.seq = at.epoch << 48 | at.seq;
                let opened = if *content_type != CT_TLS12_CID {
                    keys.protection.open(*content_type, *version, rec.body)
                } else if self.draft_cid {
                    return Err(format!(
                        "epoch {} record {}: a connection-ID record as \
                         draft-ietf-tls-dtls-connection-id wrote it (its hellos used the \
                         draft's extension): the draft's additional data is not rebuilt \
                         (RFC 9146's is), it stays encrypted",
                        at.epoch, at.seq
                    ));
                } else {
                    // RFC 9146 §5: the CID and its length are in the additional data,
                    // the real type at the end of the DTLSInnerPlaintext.
                    keys.protection.open_cid(*version, cid, rec.body)
                };
                let (inner, plain) = opened.map_err(|e| undecrypted(at.epoch, at.seq, &e))?;
                Ok(Some((at.seq, inner, plain)))
            }
            Header::Unified {
                seq_bits, seq_len, ..
            } => {
                let mask = keys.sn_mask(rec.body)?;
                let plain_bits = if *seq_len == 2 {
                    seq_bits ^ u16::from_be_bytes([mask[0], mask[1]])
                } else {
                    seq_bits ^ u16::from(mask[0])
                };
                let width = if *seq_len == 2 { 16 } else { 8 };
                let next = side.next_seq.get(&at.epoch).copied().unwrap_or(0);
                let seq = record::reconstruct(next, u64::from(plain_bits), width);
                keys.protection.seq = seq;
                let aad = record::unified_aad(rec, plain_bits);
                let (inner, plain) = keys
                    .protection
                    .open_with_aad(&aad, rec.body)
                    .map_err(|e| undecrypted(at.epoch, seq, &e))?;
                side.next_seq
                    .insert(at.epoch, next.max(seq.saturating_add(1)));
                Ok(Some((seq, inner, plain)))
            }
        }
    }

    /// Whether `side` has keys for `epoch`, deriving DTLS 1.3 key updates up to it.
    fn epoch_keys(&mut self, side: usize, epoch: u64) -> bool {
        let max_epochs = self.limits.max_epochs;
        let s = &mut self.sides[side];
        if s.epochs.contains_key(&epoch) {
            return true;
        }
        let (Some(suite), Some((mut have, secret))) = (&self.suite, s.app_secret.clone()) else {
            return false;
        };
        if epoch <= have || epoch - have > max_epochs as u64 {
            return false;
        }
        let mut secret = secret;
        let mut derived = Vec::new();
        // Named as the TCP decryptor names a KeyUpdate's (RFC 8446 §7.2).
        let name = ["client", "server"].get(side).copied().unwrap_or_default();
        let name = format!("{name}_application_updated");
        while have < epoch {
            let Ok(next) = keys::next_secret(suite.hash, &secret) else {
                self.derived(None, derived);
                return false;
            };
            secret = next;
            have += 1;
            if let Ok((k, values)) = keys::dtls13(suite, &secret, &name) {
                s.epochs.insert(have, k);
                derived.extend(values);
            }
        }
        s.app_secret = Some((have, secret));
        while s.epochs.len() > max_epochs {
            s.epochs.pop_first();
        }
        if let Some((&oldest, _)) = s.epochs.first_key_value() {
            s.next_seq.retain(|e, _| *e >= oldest);
        }
        let opened = s.epochs.contains_key(&epoch);
        self.derived(None, derived);
        opened
    }

    /// The content of a record (plaintext, or decrypted).
    fn content(&mut self, at: At, content_type: u8, data: &[u8]) {
        let (frame, from_client) = (at.frame, at.from_client);
        match content_type {
            CT_HANDSHAKE => self.handshake(at, data),
            CT_CHANGE_CIPHER_SPEC => self
                .events
                .push_back(DtlsEvent::ChangeCipherSpec { frame, from_client }),
            CT_ALERT => match data {
                [level, description] => self.events.push_back(DtlsEvent::Alert {
                    frame,
                    from_client,
                    level: *level,
                    description: *description,
                }),
                _ => {
                    let what = format!("an alert of {} bytes, 2 expected", data.len());
                    self.finding(frame, from_client, at.base, what);
                }
            },
            CT_APPLICATION_DATA => self.events.push_back(DtlsEvent::ApplicationData {
                frame,
                from_client,
                epoch: at.epoch,
                seq: at.seq,
                data: data.to_vec(),
            }),
            CT_ACK => match hello::read_ack(data, at.base) {
                Ok(records) => self.events.push_back(DtlsEvent::Ack {
                    frame,
                    from_client,
                    records,
                }),
                Err(e) => self.finding(frame, from_client, e.offset(), format!("ACK: {e}")),
            },
            _ => {}
        }
    }
}

impl Drop for Association {
    /// What its incomplete messages held goes back to the shared pool (`finish` gave it
    /// back already, unless the association was dropped before its end).
    fn drop(&mut self) {
        for side in &mut self.sides {
            side.reassembler.clear(&self.pool);
        }
    }
}
