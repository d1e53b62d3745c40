//! TLS extension bodies: one typed value per extension, by the message it sits in.
//!
//! Strategy: the extension list walk (type, length, raw body) is the handshake parser's;
//! here a known body becomes a [`Decoded`] value of raw fields (codes stay numbers, names
//! come from the registries at display time) and an unknown or GREASE code stays raw
//! (`Ok(None)`). Several extensions (key_share, supported_versions, pre_shared_key,
//! server_name...) have a different shape in a ClientHello, a ServerHello, a
//! HelloRetryRequest or EncryptedExtensions, so the message is part of the question.
//! Every body is read through [`crate::codec::Reader`] and must be consumed exactly.
//! Lists are bounded by the body, which an extension's 2-byte length caps at 65,535 bytes;
//! QUIC transport parameters are also bounded in count ([`MAX_TRANSPORT_PARAMETERS`]).

mod bodies;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod tests;
mod transport;

use crate::codec::{CodecError, Reader};

pub use transport::{
    parameter_name, PreferredAddress, TransportParameter, TransportValue, VersionInformation,
    MAX_AVAILABLE_VERSIONS, MAX_TRANSPORT_PARAMETERS,
};

// Extension code points (IANA "TLS ExtensionType Values").
pub const SERVER_NAME: u16 = 0;
pub const MAX_FRAGMENT_LENGTH: u16 = 1;
pub const STATUS_REQUEST: u16 = 5;
pub const SUPPORTED_GROUPS: u16 = 10;
pub const EC_POINT_FORMATS: u16 = 11;
pub const SIGNATURE_ALGORITHMS: u16 = 13;
pub const USE_SRTP: u16 = 14;
pub const HEARTBEAT: u16 = 15;
pub const ALPN: u16 = 16;
pub const SIGNED_CERTIFICATE_TIMESTAMP: u16 = 18;
pub const CLIENT_CERTIFICATE_TYPE: u16 = 19;
pub const SERVER_CERTIFICATE_TYPE: u16 = 20;
pub const PADDING: u16 = 21;
pub const ENCRYPT_THEN_MAC: u16 = 22;
pub const EXTENDED_MASTER_SECRET: u16 = 23;
pub const COMPRESS_CERTIFICATE: u16 = 27;
pub const RECORD_SIZE_LIMIT: u16 = 28;
pub const DELEGATED_CREDENTIAL: u16 = 34;
pub const SESSION_TICKET: u16 = 35;
/// key_share in TLS 1.3 drafts before 23, and Google's experiments.
pub const DRAFT_KEY_SHARE: u16 = 40;
pub const PRE_SHARED_KEY: u16 = 41;
pub const EARLY_DATA: u16 = 42;
pub const SUPPORTED_VERSIONS: u16 = 43;
pub const COOKIE: u16 = 44;
pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
pub const CERTIFICATE_AUTHORITIES: u16 = 47;
pub const POST_HANDSHAKE_AUTH: u16 = 49;
pub const SIGNATURE_ALGORITHMS_CERT: u16 = 50;
pub const KEY_SHARE: u16 = 51;
pub const QUIC_TRANSPORT_PARAMETERS: u16 = 57;
pub const NEXT_PROTOCOL_NEGOTIATION: u16 = 13172;
pub const APPLICATION_SETTINGS_OLD: u16 = 17513;
pub const APPLICATION_SETTINGS: u16 = 17613;
pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xFE0D;
pub const RENEGOTIATION_INFO: u16 = 0xFF01;

/// The message an extension sits in: it changes the body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    ClientHello,
    ServerHello,
    HelloRetryRequest,
    EncryptedExtensions,
    /// A TLS 1.3 CertificateEntry's extensions (RFC 8446 §4.4.2).
    Certificate,
    CertificateRequest,
    NewSessionTicket,
}

impl Message {
    pub const ALL: [Message; 7] = [
        Self::ClientHello,
        Self::ServerHello,
        Self::HelloRetryRequest,
        Self::EncryptedExtensions,
        Self::Certificate,
        Self::CertificateRequest,
        Self::NewSessionTicket,
    ];

    /// The snake_case name the Python side passes (RFC 8446's HandshakeType names).
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientHello => "client_hello",
            Self::ServerHello => "server_hello",
            Self::HelloRetryRequest => "hello_retry_request",
            Self::EncryptedExtensions => "encrypted_extensions",
            Self::Certificate => "certificate",
            Self::CertificateRequest => "certificate_request",
            Self::NewSessionTicket => "new_session_ticket",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// One entry of server_name's ServerNameList (RFC 6066 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerName {
    pub name_type: u8,
    /// The name, non-ASCII bytes replaced by U+FFFD (it is attacker-controlled text).
    pub name: String,
}

/// One SignedCertificateTimestamp's header (RFC 6962 §3.2); extensions and signature
/// are not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificateTimestamp {
    pub version: u8,
    pub log_id: [u8; 32],
    pub timestamp_ms: u64,
}

/// One PskIdentity of an OfferedPsks (RFC 8446 §4.2.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskIdentity {
    pub identity: Vec<u8>,
    pub obfuscated_ticket_age: u32,
}

/// One KeyShareEntry (RFC 8446 §4.2.8): the group and its key exchange bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyShareEntry {
    pub group: u16,
    pub key_exchange: Vec<u8>,
}

/// A decoded extension body, one variant per extension and per shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// An empty server_name or status_request: the server's acknowledgement.
    Acknowledged,
    /// A body that must be empty (encrypt_then_mac, extended_master_secret,
    /// post_handshake_auth, early_data outside NewSessionTicket, NPN in a ClientHello).
    Empty,
    ServerNames(Vec<ServerName>),
    StatusRequest {
        status_type: u8,
        responder_ids_length: usize,
        request_extensions_length: usize,
    },
    /// status_request in a CertificateEntry: the stapled response (RFC 8446 §4.4.2.1).
    CertificateStatus {
        status_type: u8,
        ocsp_response: Vec<u8>,
    },
    SupportedGroups(Vec<u16>),
    EcPointFormats(Vec<u8>),
    /// signature_algorithms, signature_algorithms_cert, delegated_credential (ClientHello).
    SignatureSchemes(Vec<u16>),
    UseSrtp {
        profiles: Vec<u16>,
        mki: Vec<u8>,
    },
    Heartbeat(u8),
    /// ALPN, application_settings (ClientHello) and NPN (ServerHello): protocol names.
    Protocols(Vec<String>),
    /// An empty signed_certificate_timestamp: the client asks for SCTs.
    SctRequested,
    Scts(Vec<SignedCertificateTimestamp>),
    CertificateTypes(Vec<u8>),
    CertificateType(u8),
    Padding {
        length: usize,
        all_zero: bool,
    },
    CompressCertificate(Vec<u16>),
    RecordSizeLimit(u16),
    MaxFragmentLength {
        code: u8,
        /// The length the code stands for (RFC 6066 §4); None for an unassigned code.
        length: Option<u16>,
    },
    SessionTicket {
        ticket_length: usize,
    },
    OfferedPsks {
        identities: Vec<PskIdentity>,
        binder_lengths: Vec<u8>,
    },
    SelectedIdentity(u16),
    EarlyDataIndication {
        max_early_data_size: u32,
    },
    SupportedVersions(Vec<u16>),
    SelectedVersion(u16),
    Cookie {
        cookie_length: usize,
    },
    PskKeyExchangeModes(Vec<u8>),
    /// DER-encoded DistinguishedNames (RFC 8446 §4.2.4).
    CertificateAuthorities(Vec<Vec<u8>>),
    /// ClientHello's client_shares, or the one server_share of a ServerHello.
    KeyShares(Vec<KeyShareEntry>),
    SelectedGroup(u16),
    RenegotiationInfo(Vec<u8>),
    EchOuter {
        kdf_id: u16,
        aead_id: u16,
        config_id: u8,
        enc_length: usize,
        payload_length: usize,
    },
    EchInner,
    /// The HelloRetryRequest's ECH acceptance confirmation (8 bytes).
    EchConfirmation([u8; 8]),
    EchRetryConfigs {
        retry_configs_length: usize,
    },
    ApplicationSettings {
        settings_length: usize,
    },
    DelegatedCredential {
        length: usize,
    },
    TransportParameters(Vec<TransportParameter>),
}

/// Decode a known extension's body as it appears in `message`; `Ok(None)` for a code kept
/// raw (unknown, GREASE). The body must be consumed exactly.
pub fn decode(ext_type: u16, body: &[u8], message: Message) -> Result<Option<Decoded>, CodecError> {
    let mut r = Reader::new(body);
    let Some(value) = bodies::decode_body(ext_type, &mut r, message)? else {
        return Ok(None);
    };
    r.finish()?;
    Ok(Some(value))
}

/// The first protocol an ALPN body names, as raw bytes (None when it names none or the
/// first entry is cut): JA4 reads it even where the rest of the body is broken.
pub fn first_alpn(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    if r.u16().ok()? == 0 {
        return None;
    }
    let mut name = r.vec_u8().ok()?;
    Some(name.rest())
}

/// Text of a protocol or host name: ASCII kept, every other byte replaced by U+FFFD, as
/// Python's `bytes.decode("ascii", "replace")` does.
pub(crate) fn ascii_lossy(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii() {
                char::from(b)
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}
