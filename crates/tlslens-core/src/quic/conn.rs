//! One QUIC connection's keys and streams: which keys open a packet of each level and
//! side, the largest packet number of each space (for decoding), the 1-RTT key phase, and
//! the six CRYPTO streams.

use super::crypto_stream::CryptoStream;
use super::keys::{initial_secrets, PacketKeys, Secret, Suite};
use super::unprotect::{open_payload, unmask, Header, Unmasked};
use super::version::{LongType, Version};
use super::{Endpoint, Space};
use crate::quic::packet::PacketView;

/// The secrets a key log gives for one client random (RFC 9001 §5.1 uses TLS 1.3's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoggedSecrets {
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic: Option<Vec<u8>>,
    pub server_traffic: Option<Vec<u8>>,
    pub client_early: Option<Vec<u8>>,
}

/// A protection level of one side, keyed. The header protection key in `packet` stays
/// across key updates (RFC 9001 §6): an update replaces only the AEAD and the IV.
pub struct Keys {
    packet: PacketKeys,
    /// 1-RTT only: the secret of the current phase, its phase bit, and the keys of the
    /// phase before (for packets reordered across an update).
    secret: Option<Secret>,
    phase: bool,
    previous: Option<PacketKeys>,
}

impl Keys {
    fn new(secret: Secret, one_rtt: bool) -> Result<Self, String> {
        Ok(Self {
            packet: secret.keys()?,
            secret: one_rtt.then_some(secret),
            phase: false,
            previous: None,
        })
    }
}

/// A packet opened by a connection.
pub struct Opened {
    pub header: Header,
    pub pn: u64,
    pub payload: Vec<u8>,
    pub payload_offset: usize,
    /// The key phase moved to this bit with this packet.
    pub key_update: Option<bool>,
}

pub struct Conn {
    /// The frame of the client's first Initial.
    pub first_frame: u64,
    /// CRYPTO data of it was dropped past `Limits.max_crypto_waiting` (told once).
    pub crypto_dropped: bool,
    pub version: u32,
    pub client: Endpoint,
    pub server: Endpoint,
    /// The Destination Connection ID the Initial keys were derived from.
    pub initial_dcid: Vec<u8>,
    /// The client's first one (a Retry's tag is computed over it).
    pub original_dcid: Vec<u8>,
    /// A Retry's Source Connection ID: the Initial keys' input from then on (RFC 9001 §5.2).
    pub retry_scid: Option<Vec<u8>>,
    /// A Retry whose integrity tag failed (its Source Connection ID and frame): a client
    /// must discard it, but one that did not derives its next Initials from this ID.
    pub forged_retry: Option<(Vec<u8>, u64)>,
    /// Connection IDs registered for this connection, with the side that chose them.
    pub cids: Vec<(Vec<u8>, u8)>,
    /// Opened at the server's Initial: the client's first Destination Connection ID, the
    /// Initial keys' input, is not known, so no Initial packet is opened.
    pub initial_unknown: bool,
    initial: Option<(Version, [Keys; 2])>,
    handshake: [Option<Keys>; 2],
    zero_rtt: Option<Keys>,
    one_rtt: [Option<Keys>; 2],
    largest: [[Option<u64>; 3]; 2],
    pub crypto: [[CryptoStream; 3]; 2],
    pub client_random: Option<[u8; 32]>,
    pub suite: Option<Suite>,
    /// Packets waiting for their keys, at most `Limits::max_buffered`.
    pub buffered: Vec<Buffered>,
    /// The frame number of the last datagram that carried one of its packets.
    pub last_frame: u64,
    /// Packet events told so far (the next one's `seq`).
    pub told: u64,
}

/// A packet kept until its keys are known.
pub struct Buffered {
    pub frame: u64,
    pub ts_ns: i128,
    pub side: u8,
    pub offset: usize,
    pub dcid_len: usize,
    pub bytes: Vec<u8>,
}

/// The protection level of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Initial,
    ZeroRtt,
    Handshake,
    OneRtt,
}

impl Level {
    pub fn of(kind: Option<LongType>) -> Option<Self> {
        match kind {
            None => Some(Self::OneRtt),
            Some(LongType::Initial) => Some(Self::Initial),
            Some(LongType::ZeroRtt) => Some(Self::ZeroRtt),
            Some(LongType::Handshake) => Some(Self::Handshake),
            Some(LongType::Retry) => None,
        }
    }

    pub fn space(self) -> Space {
        match self {
            Self::Initial => Space::Initial,
            Self::Handshake => Space::Handshake,
            Self::ZeroRtt | Self::OneRtt => Space::Application,
        }
    }
}

impl Conn {
    pub fn new(
        first_frame: u64,
        version: u32,
        client: Endpoint,
        server: Endpoint,
        dcid: &[u8],
    ) -> Self {
        Self {
            first_frame,
            crypto_dropped: false,
            version,
            client,
            server,
            initial_dcid: dcid.to_vec(),
            original_dcid: dcid.to_vec(),
            retry_scid: None,
            forged_retry: None,
            cids: Vec::new(),
            initial_unknown: false,
            initial: None,
            handshake: [None, None],
            zero_rtt: None,
            one_rtt: [None, None],
            largest: [[None; 3]; 2],
            crypto: Default::default(),
            client_random: None,
            suite: None,
            buffered: Vec::new(),
            last_frame: 0,
            told: 0,
        }
    }

    pub fn with_crypto_limit(mut self, max: u64) -> Self {
        self.crypto = std::array::from_fn(|_| std::array::from_fn(|_| CryptoStream::new(max)));
        self
    }

    /// Initial keys for the connection's current version, from the client's first
    /// Destination Connection ID or, after a Retry, from the Retry's Source Connection ID
    /// (the client's next DCID), whatever DCIDs later Initials carry (RFC 9001 §5.2).
    /// Derived again when the version changes (compatible version negotiation).
    pub fn ensure_initial(&mut self) -> Result<(), String> {
        let version = Version::from_wire(self.version)
            .ok_or_else(|| format!("no Initial keys for {}", super::version_name(self.version)))?;
        let dcid = self.retry_scid.as_ref().unwrap_or(&self.original_dcid);
        let current =
            self.initial.as_ref().is_some_and(|(v, _)| *v == version) && self.initial_dcid == *dcid;
        if current {
            return Ok(());
        }
        let (client, server) = initial_secrets(version, dcid)?;
        self.initial = Some((
            version,
            [Keys::new(client, false)?, Keys::new(server, false)?],
        ));
        self.initial_dcid = dcid.clone();
        Ok(())
    }

    /// Install what the key log gives once the suite is known; true if anything new.
    pub fn install(&mut self, logged: &LoggedSecrets) -> Result<bool, String> {
        let (Some(suite), Ok(version)) = (
            self.suite,
            Version::from_wire(self.version).ok_or("no version"),
        ) else {
            return Ok(false);
        };
        let secret = |bytes: &Option<Vec<u8>>| {
            bytes.as_ref().map(|b| Secret {
                version,
                suite,
                bytes: b.clone(),
            })
        };
        let mut added = false;
        let [client_hs, server_hs] = &mut self.handshake;
        let [client_ap, server_ap] = &mut self.one_rtt;
        let slots = [
            (client_hs, secret(&logged.client_handshake), false),
            (server_hs, secret(&logged.server_handshake), false),
            (client_ap, secret(&logged.client_traffic), true),
            (server_ap, secret(&logged.server_traffic), true),
            (&mut self.zero_rtt, secret(&logged.client_early), false),
        ];
        for (slot, secret, one_rtt) in slots {
            if let (None, Some(secret)) = (&slot, secret) {
                *slot = Some(Keys::new(secret, one_rtt)?);
                added = true;
            }
        }
        Ok(added)
    }

    fn keys(&self, level: Level, side: u8) -> Option<&Keys> {
        let side = usize::from(side.min(1));
        match level {
            Level::Initial => self.initial.as_ref().and_then(|(_, k)| k.get(side)),
            Level::Handshake => self.handshake.get(side)?.as_ref(),
            Level::ZeroRtt => self.zero_rtt.as_ref().filter(|_| side == 0),
            Level::OneRtt => self.one_rtt.get(side)?.as_ref(),
        }
    }

    /// The `seq` of the connection's next packet event.
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.told;
        self.told = seq.saturating_add(1);
        seq
    }

    pub fn has_keys(&self, level: Level, side: u8) -> bool {
        self.keys(level, side).is_some()
    }

    /// Open a packet of `level` sent by `side`, following the 1-RTT key phase.
    pub fn open(
        &mut self,
        datagram: &[u8],
        view: &PacketView<'_>,
        level: Level,
        side: u8,
    ) -> Result<Opened, String> {
        let keys = self
            .keys(level, side)
            .ok_or_else(|| "no keys for this level".to_owned())?;
        let s = usize::from(side.min(1));
        let space = level.space().index();
        let unmasked = unmask(datagram, view, &keys.packet.hp, self.largest[s][space])?;
        let ciphertext = unmasked.ciphertext(datagram, view);
        let Unmasked {
            header,
            pn,
            payload_offset,
        } = unmasked;
        let mut key_update = None;
        let payload = if level == Level::OneRtt && header.key_phase() != keys.phase {
            let (payload, update) = self.open_other_phase(side, &header, pn, ciphertext)?;
            key_update = update;
            payload
        } else {
            open_payload(&keys.packet, &header.bytes, pn, ciphertext)?
        };
        let slot = &mut self.largest[s][space];
        *slot = Some(slot.map_or(pn, |l| l.max(pn)));
        Ok(Opened {
            header,
            pn,
            payload,
            payload_offset,
            key_update,
        })
    }

    /// An Initial the current keys do not open, tried with keys from the Source Connection
    /// ID of a Retry whose tag failed: a client that did not discard it derives them so.
    /// When they open it, the Retry is the connection's from then on (its frame is
    /// returned); otherwise the keys stay as they were.
    pub fn open_with_forged_retry(
        &mut self,
        datagram: &[u8],
        view: &PacketView<'_>,
        side: u8,
    ) -> Option<(Opened, u64)> {
        let (scid, frame) = self.forged_retry.clone()?;
        let saved = (self.initial.take(), self.initial_dcid.clone());
        self.retry_scid = Some(scid);
        if self.ensure_initial().is_ok() {
            if let Ok(opened) = self.open(datagram, view, Level::Initial, side) {
                self.forged_retry = None;
                return Some((opened, frame));
            }
        }
        self.retry_scid = None;
        (self.initial, self.initial_dcid) = saved;
        None
    }

    /// A 1-RTT packet whose key phase bit is not the current one: the next phase's keys
    /// ("quic ku"), or the previous phase's for a packet sent before the update.
    fn open_other_phase(
        &mut self,
        side: u8,
        header: &Header,
        pn: u64,
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, Option<bool>), String> {
        let slot = self
            .one_rtt
            .get_mut(usize::from(side.min(1)))
            .and_then(Option::as_mut)
            .ok_or_else(|| "no 1-RTT keys".to_owned())?;
        if let Some(previous) = &slot.previous {
            if let Ok(plain) = open_payload(previous, &header.bytes, pn, ciphertext) {
                return Ok((plain, None));
            }
        }
        let secret = slot
            .secret
            .as_ref()
            .ok_or_else(|| "no 1-RTT secret".to_owned())?
            .next()?;
        let next = secret.keys()?;
        let plain = open_payload(&next, &header.bytes, pn, ciphertext)
            .map_err(|e| format!("{e} under the current or the next key phase"))?;
        let PacketKeys { aead, iv, hp } = next;
        slot.previous = Some(PacketKeys {
            aead: std::mem::replace(&mut slot.packet.aead, aead),
            iv: std::mem::replace(&mut slot.packet.iv, iv),
            hp,
        });
        slot.secret = Some(secret);
        slot.phase = header.key_phase();
        Ok((plain, Some(slot.phase)))
    }

    /// A Retry the client followed: the server kept no state, and the client's next Initial
    /// carries its ClientHello again from offset 0 (aioquic's even has a new random), so the
    /// client's Initial CRYPTO stream starts over (RFC 9000 §17.2.5.2). Returns the bytes that
    /// waited in it beyond a hole (no longer waiting).
    pub(super) fn restart_client_initial(&mut self, max_crypto: u64) -> u64 {
        let initial = Space::Initial.index();
        let Some(stream) = self.crypto.get_mut(0).and_then(|s| s.get_mut(initial)) else {
            return 0;
        };
        std::mem::replace(stream, CryptoStream::new(max_crypto)).waiting()
    }
}
