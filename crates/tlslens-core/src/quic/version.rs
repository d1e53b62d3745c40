//! What differs between the QUIC versions the core opens: v1 (RFC 9000/9001), v2
//! (RFC 9369) and the late IETF drafts 29 to 32 (still in captures of 2020-2021 browsers)
//! share everything but the long packet type bits, the Initial salt, the HKDF labels and
//! the Retry integrity key. Other versions are still recognised as QUIC (by the
//! invariants of RFC 8999) so that their packets are named, not decrypted.

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369 §3.1).
pub const V2: u32 = 0x6b33_43cf;

/// The long header packet types (RFC 9000 §17.2, whose bits RFC 9369 §3.2 renumbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

impl LongType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Initial => "Initial",
            Self::ZeroRtt => "0-RTT",
            Self::Handshake => "Handshake",
            Self::Retry => "Retry",
        }
    }
}

/// A version whose packets the core can open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
    /// draft-ietf-quic-tls-29 to -32 (0xff00001d-0xff000020): v1's labels and packet
    /// types, their own salt and Retry key.
    Draft29,
}

/// HKDF labels of one version (RFC 9001 §5.1, RFC 9369 §3.3.2).
pub struct Labels {
    pub key: &'static [u8],
    pub iv: &'static [u8],
    pub hp: &'static [u8],
    pub ku: &'static [u8],
}

const V1_LABELS: Labels = Labels {
    key: b"quic key",
    iv: b"quic iv",
    hp: b"quic hp",
    ku: b"quic ku",
};

const V2_LABELS: Labels = Labels {
    key: b"quicv2 key",
    iv: b"quicv2 iv",
    hp: b"quicv2 hp",
    ku: b"quicv2 ku",
};

impl Version {
    pub fn from_wire(version: u32) -> Option<Self> {
        match version {
            V1 => Some(Self::V1),
            V2 => Some(Self::V2),
            0xff00_001d..=0xff00_0020 => Some(Self::Draft29),
            _ => None,
        }
    }

    /// The long packet type of the two type bits of the first byte.
    pub fn long_type(self, bits: u8) -> LongType {
        let v1 = [
            LongType::Initial,
            LongType::ZeroRtt,
            LongType::Handshake,
            LongType::Retry,
        ];
        let v2 = [
            LongType::Retry,
            LongType::Initial,
            LongType::ZeroRtt,
            LongType::Handshake,
        ];
        let table = match self {
            Self::V1 | Self::Draft29 => v1,
            Self::V2 => v2,
        };
        table[usize::from(bits & 3)]
    }

    /// RFC 9001 §5.2, RFC 9369 §3.3.1 and draft-ietf-quic-tls-29 §5.2: the salt of the
    /// Initial secret.
    pub fn initial_salt(self) -> [u8; 20] {
        match self {
            Self::V1 => [
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            Self::V2 => [
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
            Self::Draft29 => [
                0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61,
                0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99,
            ],
        }
    }

    pub fn labels(self) -> &'static Labels {
        match self {
            Self::V1 | Self::Draft29 => &V1_LABELS,
            Self::V2 => &V2_LABELS,
        }
    }

    /// RFC 9001 §5.8, RFC 9369 §3.3.3 and draft-ietf-quic-tls-29 §5.8: the AES-128-GCM
    /// key and nonce of the Retry integrity tag.
    pub fn retry_key_nonce(self) -> ([u8; 16], [u8; 12]) {
        match self {
            Self::V1 => (
                [
                    0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3,
                    0x68, 0xc8, 0x4e,
                ],
                [
                    0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb,
                ],
            ),
            Self::V2 => (
                [
                    0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad,
                    0x7c, 0xcc, 0x92,
                ],
                [
                    0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a,
                ],
            ),
            Self::Draft29 => (
                [
                    0xcc, 0xce, 0x18, 0x7e, 0xd0, 0x9a, 0x09, 0xd0, 0x57, 0x28, 0x15, 0x5a, 0x6c,
                    0xb9, 0x6b, 0xe1,
                ],
                [
                    0xe5, 0x49, 0x30, 0xf9, 0x7f, 0x21, 0x36, 0xf0, 0x53, 0x0a, 0x8c, 0x1c,
                ],
            ),
        }
    }
}

/// Whether a version number says "this is QUIC" to a passive reader: v1, v2, the IETF
/// drafts (0xff0000xx), the reserved GREASE pattern 0x?a?a?a?a (RFC 9000 §15), or 0 (a
/// Version Negotiation packet).
pub fn looks_like_quic(version: u32) -> bool {
    version == 0
        || Version::from_wire(version).is_some()
        || version >> 8 == 0x00ff_0000
        || version & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// A version's name for findings and events.
pub fn version_name(version: u32) -> String {
    match version {
        V1 => "QUIC v1".to_owned(),
        V2 => "QUIC v2".to_owned(),
        0 => "Version Negotiation".to_owned(),
        v if v >> 8 == 0x00ff_0000 => format!("QUIC draft-{}", v & 0xff),
        v if v & 0x0f0f_0f0f == 0x0a0a_0a0a => format!("reserved (GREASE) version 0x{v:08x}"),
        v => format!("version 0x{v:08x}"),
    }
}
