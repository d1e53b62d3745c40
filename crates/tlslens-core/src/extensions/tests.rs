use super::fuzzing::DECODED_TYPES;
use super::*;
use Message::*;

/// Bytes from hex with spaces between fields.
fn h(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn ok(ext_type: u16, body: &str, message: Message) -> Decoded {
    decode(ext_type, &h(body), message).unwrap().unwrap()
}

fn err(ext_type: u16, body: &str, message: Message) -> CodecError {
    decode(ext_type, &h(body), message).unwrap_err()
}

#[test]
fn server_name_list_and_acknowledgement() {
    let names = ok(
        SERVER_NAME,
        "000f 00 000c 746c736c656e732e74657374",
        ClientHello,
    );
    let expected = ServerName {
        name_type: 0,
        name: "tlslens.test".into(),
    };
    assert_eq!(names, Decoded::ServerNames(vec![expected]));
    assert_eq!(ok(SERVER_NAME, "", ServerHello), Decoded::Acknowledged);
    // Non-ASCII bytes are replaced, not trusted.
    let odd = ok(SERVER_NAME, "0004 00 0001 ff", ClientHello);
    assert_eq!(
        odd,
        Decoded::ServerNames(vec![ServerName {
            name_type: 0,
            name: "\u{FFFD}".into()
        }])
    );
    assert!(matches!(
        err(SERVER_NAME, "0004 00 0003 61", ClientHello),
        CodecError::Truncated { at: 5, .. }
    ));
}

#[test]
fn status_request_by_message() {
    assert_eq!(
        ok(STATUS_REQUEST, "01 0000 0003 000102", ClientHello),
        Decoded::StatusRequest {
            status_type: 1,
            responder_ids_length: 0,
            request_extensions_length: 3
        }
    );
    assert_eq!(
        ok(STATUS_REQUEST, "01 000002 3003", Certificate),
        Decoded::CertificateStatus {
            status_type: 1,
            ocsp_response: vec![0x30, 0x03]
        }
    );
    assert_eq!(
        ok(STATUS_REQUEST, "", EncryptedExtensions),
        Decoded::Acknowledged
    );
    assert!(decode(STATUS_REQUEST, &h("01 00"), ClientHello).is_err());
}

#[test]
fn code_lists() {
    assert_eq!(
        ok(SUPPORTED_GROUPS, "0004 001d 0017", ClientHello),
        Decoded::SupportedGroups(vec![0x1d, 0x17])
    );
    // The list says 5 bytes and holds 4: the list overruns the body.
    assert!(matches!(
        err(SUPPORTED_GROUPS, "0005 001d 0017", ClientHello),
        CodecError::Truncated { .. }
    ));
    // An odd-length list of 16-bit codes.
    assert!(matches!(
        err(SUPPORTED_GROUPS, "0003 001d 00", ClientHello),
        CodecError::Invalid { at: 2, .. }
    ));
    assert_eq!(
        ok(EC_POINT_FORMATS, "02 00 01", ClientHello),
        Decoded::EcPointFormats(vec![0, 1])
    );
    for code in [SIGNATURE_ALGORITHMS, SIGNATURE_ALGORITHMS_CERT] {
        assert_eq!(
            ok(code, "0004 0403 0804", ClientHello),
            Decoded::SignatureSchemes(vec![0x0403, 0x0804])
        );
    }
    assert_eq!(
        ok(COMPRESS_CERTIFICATE, "04 0001 0002", CertificateRequest),
        Decoded::CompressCertificate(vec![1, 2])
    );
    assert_eq!(
        ok(PSK_KEY_EXCHANGE_MODES, "01 01", ClientHello),
        Decoded::PskKeyExchangeModes(vec![1])
    );
    assert_eq!(
        ok(USE_SRTP, "0002 0001 01 aa", ClientHello),
        Decoded::UseSrtp {
            profiles: vec![1],
            mki: vec![0xaa]
        }
    );
}

#[test]
fn versions_by_message() {
    assert_eq!(
        ok(SUPPORTED_VERSIONS, "04 0304 0303", ClientHello),
        Decoded::SupportedVersions(vec![0x0304, 0x0303])
    );
    for message in [ServerHello, HelloRetryRequest] {
        assert_eq!(
            ok(SUPPORTED_VERSIONS, "0304", message),
            Decoded::SelectedVersion(0x0304)
        );
    }
    assert!(matches!(
        err(SUPPORTED_VERSIONS, "0304 00", ServerHello),
        CodecError::Trailing { at: 2, left: 1 }
    ));
}

#[test]
fn key_share_by_message() {
    let share = |group, key: &[u8]| KeyShareEntry {
        group,
        key_exchange: key.to_vec(),
    };
    assert_eq!(
        ok(KEY_SHARE, "0009 001d 0001 aa 0017 0000", ClientHello),
        Decoded::KeyShares(vec![share(0x1d, &[0xaa]), share(0x17, &[])])
    );
    assert_eq!(
        ok(DRAFT_KEY_SHARE, "001d 0002 aabb", ServerHello),
        Decoded::KeyShares(vec![share(0x1d, &[0xaa, 0xbb])])
    );
    assert_eq!(
        ok(KEY_SHARE, "0017", HelloRetryRequest),
        Decoded::SelectedGroup(0x17)
    );
    assert!(decode(KEY_SHARE, &h("0017"), ServerHello).is_err());
}

#[test]
fn pre_shared_key_and_early_data() {
    assert_eq!(
        ok(
            PRE_SHARED_KEY,
            "000a 0004 01020304 00000005 0004 03 aabbcc",
            ClientHello
        ),
        Decoded::OfferedPsks {
            identities: vec![PskIdentity {
                identity: vec![1, 2, 3, 4],
                obfuscated_ticket_age: 5
            }],
            binder_lengths: vec![3]
        }
    );
    assert_eq!(
        ok(PRE_SHARED_KEY, "0000", ServerHello),
        Decoded::SelectedIdentity(0)
    );
    assert!(decode(PRE_SHARED_KEY, &h("0006 0002 0102 0000"), ClientHello).is_err());
    assert_eq!(
        ok(EARLY_DATA, "00004000", NewSessionTicket),
        Decoded::EarlyDataIndication {
            max_early_data_size: 0x4000
        }
    );
    assert_eq!(ok(EARLY_DATA, "", EncryptedExtensions), Decoded::Empty);
    assert!(matches!(
        err(EARLY_DATA, "00", ClientHello),
        CodecError::Trailing { at: 0, left: 1 }
    ));
}

#[test]
fn single_values() {
    assert_eq!(ok(HEARTBEAT, "01", ClientHello), Decoded::Heartbeat(1));
    assert_eq!(
        ok(RECORD_SIZE_LIMIT, "4001", ServerHello),
        Decoded::RecordSizeLimit(0x4001)
    );
    assert_eq!(
        ok(MAX_FRAGMENT_LENGTH, "02", ClientHello),
        Decoded::MaxFragmentLength {
            code: 2,
            length: Some(1024)
        }
    );
    assert_eq!(
        ok(MAX_FRAGMENT_LENGTH, "09", ClientHello),
        Decoded::MaxFragmentLength {
            code: 9,
            length: None
        }
    );
    assert_eq!(
        ok(SESSION_TICKET, "aabbcc", ClientHello),
        Decoded::SessionTicket { ticket_length: 3 }
    );
    assert_eq!(
        ok(COOKIE, "0002 abcd", ClientHello),
        Decoded::Cookie { cookie_length: 2 }
    );
    assert_eq!(
        ok(RENEGOTIATION_INFO, "00", ClientHello),
        Decoded::RenegotiationInfo(vec![])
    );
    assert_eq!(
        ok(PADDING, "0000", ClientHello),
        Decoded::Padding {
            length: 2,
            all_zero: true
        }
    );
    assert_eq!(
        ok(PADDING, "0001", ClientHello),
        Decoded::Padding {
            length: 2,
            all_zero: false
        }
    );
    for code in [
        ENCRYPT_THEN_MAC,
        EXTENDED_MASTER_SECRET,
        POST_HANDSHAKE_AUTH,
    ] {
        assert_eq!(ok(code, "", ServerHello), Decoded::Empty);
        assert!(decode(code, &[0], ServerHello).is_err());
    }
    assert!(decode(HEARTBEAT, &[], ClientHello).is_err());
}

#[test]
fn certificate_types_and_authorities() {
    assert_eq!(
        ok(SERVER_CERTIFICATE_TYPE, "02 00 02", ClientHello),
        Decoded::CertificateTypes(vec![0, 2])
    );
    assert_eq!(
        ok(CLIENT_CERTIFICATE_TYPE, "02", EncryptedExtensions),
        Decoded::CertificateType(2)
    );
    assert_eq!(
        ok(
            CERTIFICATE_AUTHORITIES,
            "0007 0002 3000 0001 31",
            CertificateRequest
        ),
        Decoded::CertificateAuthorities(vec![vec![0x30, 0], vec![0x31]])
    );
    assert!(decode(CERTIFICATE_AUTHORITIES, &h("0003 0002 30"), ClientHello).is_err());
}

#[test]
fn protocol_names() {
    let protocols =
        |names: &[&str]| Decoded::Protocols(names.iter().map(|n| n.to_string()).collect());
    assert_eq!(
        ok(ALPN, "000c 02 6832 08 687474702f312e31", ClientHello),
        protocols(&["h2", "http/1.1"])
    );
    assert_eq!(ok(ALPN, "0003 02 6832", ServerHello), protocols(&["h2"]));
    assert!(decode(ALPN, &h("0004 02 6832"), ClientHello).is_err());
    assert_eq!(
        ok(NEXT_PROTOCOL_NEGOTIATION, "", ClientHello),
        Decoded::Empty
    );
    assert_eq!(
        ok(NEXT_PROTOCOL_NEGOTIATION, "02 6832 02 6831", ServerHello),
        protocols(&["h2", "h1"])
    );
    for code in [APPLICATION_SETTINGS, APPLICATION_SETTINGS_OLD] {
        assert_eq!(ok(code, "0003 02 6832", ClientHello), protocols(&["h2"]));
        assert_eq!(
            ok(code, "aabb", EncryptedExtensions),
            Decoded::ApplicationSettings { settings_length: 2 }
        );
    }
    assert_eq!(first_alpn(&h("000c 02 6832 08 6874")), Some(&b"h2"[..]));
    assert_eq!(first_alpn(&h("0000")), None);
    assert_eq!(first_alpn(&h("0003 05 68")), None);
}

#[test]
fn signed_certificate_timestamps() {
    assert_eq!(
        ok(SIGNED_CERTIFICATE_TIMESTAMP, "", ClientHello),
        Decoded::SctRequested
    );
    let sct = format!("00 {} 0000018bcfe56800 0000 0403", "11".repeat(32));
    let body = format!("002f 002d {sct}");
    assert_eq!(
        ok(SIGNED_CERTIFICATE_TIMESTAMP, &body, Certificate),
        Decoded::Scts(vec![SignedCertificateTimestamp {
            version: 0,
            log_id: [0x11; 32],
            timestamp_ms: 0x018b_cfe5_6800
        }])
    );
    // An SCT too short for its header.
    assert!(decode(
        SIGNED_CERTIFICATE_TIMESTAMP,
        &h("0004 0002 0011"),
        ServerHello
    )
    .is_err());
}

#[test]
fn encrypted_client_hello_shapes() {
    assert_eq!(
        ok(
            ENCRYPTED_CLIENT_HELLO,
            "00 0001 0001 2a 0002 aabb 0001 cc",
            ClientHello
        ),
        Decoded::EchOuter {
            kdf_id: 1,
            aead_id: 1,
            config_id: 0x2a,
            enc_length: 2,
            payload_length: 1
        }
    );
    assert_eq!(
        ok(ENCRYPTED_CLIENT_HELLO, "01", ClientHello),
        Decoded::EchInner
    );
    assert!(decode(ENCRYPTED_CLIENT_HELLO, &h("01 00"), ClientHello).is_err());
    assert_eq!(
        ok(
            ENCRYPTED_CLIENT_HELLO,
            "0102030405060708",
            HelloRetryRequest
        ),
        Decoded::EchConfirmation([1, 2, 3, 4, 5, 6, 7, 8])
    );
    assert_eq!(
        ok(ENCRYPTED_CLIENT_HELLO, "000102", EncryptedExtensions),
        Decoded::EchRetryConfigs {
            retry_configs_length: 3
        }
    );
}

#[test]
fn delegated_credential_by_message() {
    assert_eq!(
        ok(DELEGATED_CREDENTIAL, "0002 0403", ClientHello),
        Decoded::SignatureSchemes(vec![0x0403])
    );
    assert_eq!(
        ok(DELEGATED_CREDENTIAL, "aabbcc", Certificate),
        Decoded::DelegatedCredential { length: 3 }
    );
}

#[test]
fn quic_transport_parameters() {
    // max_idle_timeout 30000 (4-byte varint), initial_max_data 1048576,
    // disable_active_migration, initial_source_connection_id of 4 bytes,
    // a GREASE id (27 + 31 * 1 = 58) with 1 byte.
    let body = "01 04 80007530  04 04 80100000  0c 00  0f 04 01020304  3a 01 ff";
    let Decoded::TransportParameters(params) = ok(QUIC_TRANSPORT_PARAMETERS, body, ClientHello)
    else {
        panic!("not transport parameters");
    };
    let ids: Vec<u64> = params.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1, 4, 0x0c, 0x0f, 58]);
    assert_eq!(params[0].decoded, TransportValue::Integer(30_000));
    assert_eq!(params[1].decoded, TransportValue::Integer(1 << 20));
    assert_eq!(params[2].decoded, TransportValue::Flag);
    assert_eq!(params[3].decoded, TransportValue::Bytes);
    assert_eq!(params[3].value, [1, 2, 3, 4]);
    assert_eq!(params[4].decoded, TransportValue::Unknown);
    assert_eq!(params[4].value, [0xff]);
    assert_eq!(parameter_name(0x0e), Some("active_connection_id_limit"));
    assert_eq!(parameter_name(58), None);
}

#[test]
fn quic_version_information_and_the_extensions_ids() {
    // Chromium's (udp/quic.pcapng connection 6): version_information choosing v1 and
    // listing a GREASE version then v1; max_datagram_frame_size 65536; grease_quic_bit.
    let body = "11 0c 00000001 9ada9a4a 00000001  20 04 80010000  6ab2 00";
    let Decoded::TransportParameters(found) = ok(QUIC_TRANSPORT_PARAMETERS, body, ClientHello)
    else {
        panic!("not transport parameters");
    };
    let names: Vec<_> = found.iter().map(|p| parameter_name(p.id)).collect();
    let expected = [
        "version_information",
        "max_datagram_frame_size",
        "grease_quic_bit",
    ];
    assert_eq!(names, expected.map(Some));
    let info = VersionInformation {
        chosen_version: 1,
        available_versions: vec![0x9ada_9a4a, 1],
    };
    assert_eq!(found[0].decoded, TransportValue::VersionInformation(info));
    assert_eq!(found[1].decoded, TransportValue::Integer(65_536));
    assert_eq!(found[2].decoded, TransportValue::Flag);
    // RFC 9368 §3: not a whole number of versions, a Chosen or Available Version of 0.
    for (body, at) in [
        ("11 06 00000001 0000", 6),
        ("11 04 00000000", 6),
        ("11 08 00000001 00000000", 10),
    ] {
        let found = err(QUIC_TRANSPORT_PARAMETERS, body, ClientHello);
        assert!(
            matches!(found, CodecError::Invalid { at: a, .. } if a == at),
            "{body}: {found}"
        );
    }
    assert!(decode(QUIC_TRANSPORT_PARAMETERS, &h("11 00"), ClientHello).is_err());
    let many = "00000001".repeat(MAX_AVAILABLE_VERSIONS + 2);
    let len = 0x4000 | (many.len() / 2);
    let body = format!("11 {len:04x} {many}");
    assert!(decode(QUIC_TRANSPORT_PARAMETERS, &h(&body), ClientHello).is_err());
}

#[test]
fn quic_preferred_address_and_malformed_parameters() {
    let address = format!(
        "0d 2d 7f000001 01bb {} 01bb 04 0a0b0c0d {}",
        "00".repeat(15) + "01",
        "22".repeat(16)
    );
    let Decoded::TransportParameters(params) =
        ok(QUIC_TRANSPORT_PARAMETERS, &address, EncryptedExtensions)
    else {
        panic!("not transport parameters");
    };
    let TransportValue::PreferredAddress(preferred) = &params[0].decoded else {
        panic!("no preferred address");
    };
    assert_eq!(preferred.ipv4_address, [127, 0, 0, 1]);
    assert_eq!(preferred.ipv6_port, 443);
    assert_eq!(preferred.connection_id, [10, 11, 12, 13]);
    assert_eq!(preferred.stateless_reset_token, [0x22; 16]);
    // An integer parameter with a byte after its varint.
    assert!(matches!(
        err(QUIC_TRANSPORT_PARAMETERS, "01 02 05 00", ClientHello),
        CodecError::Trailing { at: 3, left: 1 }
    ));
    // A value longer than the body.
    assert!(matches!(
        err(QUIC_TRANSPORT_PARAMETERS, "04 08 01", ClientHello),
        CodecError::Truncated { .. }
    ));
    // A stateless_reset_token of 3 bytes; a 21-byte connection ID.
    assert!(decode(
        QUIC_TRANSPORT_PARAMETERS,
        &h("02 03 010203"),
        EncryptedExtensions
    )
    .is_err());
    let long_cid = format!("00 15 {}", "01".repeat(21));
    assert!(matches!(
        err(QUIC_TRANSPORT_PARAMETERS, &long_cid, EncryptedExtensions),
        CodecError::Invalid { at: 2, .. }
    ));
    // The count is bounded: one past the bound is refused.
    let many = "3a00".repeat(MAX_TRANSPORT_PARAMETERS + 1);
    assert!(matches!(
        err(QUIC_TRANSPORT_PARAMETERS, &many, ClientHello),
        CodecError::Invalid { .. }
    ));
    assert!(decode(
        QUIC_TRANSPORT_PARAMETERS,
        &h(&"3a00".repeat(MAX_TRANSPORT_PARAMETERS)),
        ClientHello
    )
    .is_ok());
}

#[test]
fn unknown_codes_stay_raw_and_messages_round_trip_by_name() {
    assert_eq!(decode(0x7777, &[1], ClientHello), Ok(None));
    assert_eq!(decode(0x0a0a, &[], ClientHello), Ok(None)); // GREASE
    for message in Message::ALL {
        assert_eq!(Message::from_name(message.name()), Some(message));
    }
    assert_eq!(Message::from_name("ClientHello"), None);
}

#[test]
fn every_decoder_on_every_cut_of_a_body_errs_or_decodes() {
    // Cuts and extensions of one body per code through the fuzz target's checks.
    let body = h("000c 02 6832 08 687474702f312e31 0001 02 03 04");
    for (index, _) in DECODED_TYPES.iter().enumerate() {
        for cut in 0..=body.len() {
            let mut input = vec![u8::try_from(index).unwrap()];
            input.extend_from_slice(&body[..cut]);
            fuzzing::extensions(&input);
        }
    }
}

#[test]
fn every_decoder_refuses_a_cut_or_overlong_body() {
    // One well-formed body per decoder: cut by one byte it is refused, and with a byte
    // after it (where the shape does not take the rest) it is refused too.
    let cases: [(u16, &str, Message, bool); 29] = [
        (SERVER_NAME, "0004 00 0001 61", ClientHello, true),
        (MAX_FRAGMENT_LENGTH, "01", ClientHello, true),
        (STATUS_REQUEST, "01 0000 0000", ClientHello, true),
        (STATUS_REQUEST, "01 000001 30", Certificate, true),
        (SUPPORTED_GROUPS, "0002 001d", ClientHello, true),
        (EC_POINT_FORMATS, "01 00", ClientHello, true),
        (SIGNATURE_ALGORITHMS, "0002 0403", ClientHello, true),
        (USE_SRTP, "0002 0001 00", ClientHello, true),
        (HEARTBEAT, "01", ClientHello, true),
        (ALPN, "0003 02 6832", ClientHello, true),
        (CLIENT_CERTIFICATE_TYPE, "01 02", ClientHello, true),
        (SERVER_CERTIFICATE_TYPE, "02", EncryptedExtensions, true),
        (COMPRESS_CERTIFICATE, "02 0002", ClientHello, true),
        (RECORD_SIZE_LIMIT, "4001", ClientHello, true),
        (DELEGATED_CREDENTIAL, "0002 0403", ClientHello, true),
        (
            PRE_SHARED_KEY,
            "0007 0001 aa 00000000 0002 01 bb",
            ClientHello,
            true,
        ),
        (PRE_SHARED_KEY, "0000", ServerHello, true),
        (EARLY_DATA, "00000400", NewSessionTicket, true),
        (SUPPORTED_VERSIONS, "02 0304", ClientHello, true),
        (COOKIE, "0001 aa", HelloRetryRequest, true),
        (PSK_KEY_EXCHANGE_MODES, "01 01", ClientHello, true),
        (
            CERTIFICATE_AUTHORITIES,
            "0003 0001 30",
            CertificateRequest,
            true,
        ),
        (KEY_SHARE, "0005 001d 0001 aa", ClientHello, true),
        (KEY_SHARE, "0017", HelloRetryRequest, true),
        (RENEGOTIATION_INFO, "01 00", ServerHello, true),
        (
            ENCRYPTED_CLIENT_HELLO,
            "00 0001 0001 00 0000 0001 aa",
            ClientHello,
            true,
        ),
        (
            ENCRYPTED_CLIENT_HELLO,
            "0102030405060708",
            HelloRetryRequest,
            true,
        ),
        (APPLICATION_SETTINGS, "0003 02 6832", ClientHello, true),
        (NEXT_PROTOCOL_NEGOTIATION, "02 6832", ServerHello, false),
    ];
    for (ext_type, body, message, exact) in cases {
        let body = h(body);
        assert!(
            decode(ext_type, &body, message).is_ok(),
            "{ext_type} in {message:?}"
        );
        let cut = body.get(..body.len() - 1).unwrap_or_default();
        assert!(
            decode(ext_type, cut, message).is_err(),
            "{ext_type} cut in {message:?}"
        );
        if exact {
            let mut longer = body.clone();
            longer.push(0);
            assert!(
                decode(ext_type, &longer, message).is_err(),
                "{ext_type} with a byte more in {message:?}"
            );
        }
    }
}
