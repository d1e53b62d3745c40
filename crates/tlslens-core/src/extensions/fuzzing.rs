//! The body of the `extensions` cargo-fuzz target, shared with the corpus replay of
//! `cargo test`: every decoder, in every message, on hostile bytes.

use super::*;

/// Every code [`decode`] knows, for the fuzzer's first byte to choose from.
pub const DECODED_TYPES: [u16; 36] = [
    SERVER_NAME,
    MAX_FRAGMENT_LENGTH,
    STATUS_REQUEST,
    SUPPORTED_GROUPS,
    EC_POINT_FORMATS,
    SIGNATURE_ALGORITHMS,
    USE_SRTP,
    HEARTBEAT,
    ALPN,
    SIGNED_CERTIFICATE_TIMESTAMP,
    CLIENT_CERTIFICATE_TYPE,
    SERVER_CERTIFICATE_TYPE,
    PADDING,
    ENCRYPT_THEN_MAC,
    EXTENDED_MASTER_SECRET,
    COMPRESS_CERTIFICATE,
    RECORD_SIZE_LIMIT,
    DELEGATED_CREDENTIAL,
    SESSION_TICKET,
    DRAFT_KEY_SHARE,
    PRE_SHARED_KEY,
    EARLY_DATA,
    SUPPORTED_VERSIONS,
    COOKIE,
    PSK_KEY_EXCHANGE_MODES,
    CERTIFICATE_AUTHORITIES,
    POST_HANDSHAKE_AUTH,
    SIGNATURE_ALGORITHMS_CERT,
    KEY_SHARE,
    QUIC_TRANSPORT_PARAMETERS,
    NEXT_PROTOCOL_NEGOTIATION,
    APPLICATION_SETTINGS_OLD,
    APPLICATION_SETTINGS,
    ENCRYPTED_CLIENT_HELLO,
    RENEGOTIATION_INFO,
    0x7777, // one code kept raw
];

/// The first byte picks the extension, the rest is its body; decoded in every message.
/// A decoder may refuse the body, never panic; a body it accepts decodes the same twice,
/// and an error names an offset inside the body.
pub fn extensions(data: &[u8]) {
    let Some((choice, body)) = data.split_first() else {
        return;
    };
    let index = usize::from(*choice) % DECODED_TYPES.len();
    let ext_type = DECODED_TYPES.get(index).copied().unwrap_or(0);
    for message in Message::ALL {
        let first = decode(ext_type, body, message);
        assert_eq!(first, decode(ext_type, body, message));
        match first {
            Ok(None) => assert_eq!(ext_type, 0x7777, "a known code was kept raw"),
            Ok(Some(_)) => {}
            Err(error) => assert!(error.offset() <= body.len(), "{error} past the body"),
        }
    }
    if let Some(name) = first_alpn(body) {
        assert!(name.len() < body.len());
    }
}
