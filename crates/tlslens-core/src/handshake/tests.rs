//! Every message parser on well-formed and malformed bodies, with the finding's text.

use super::key_exchange::Param;
use super::messages::{parse, Message};
use super::*;

fn ctx(version: Option<u16>, kx: Option<&str>, auth: Option<&str>) -> Context {
    Context {
        version,
        kx: kx.map(str::to_owned),
        auth: auth.map(str::to_owned),
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A TLS 1.3 ClientHello body of tests/vectors/captures/openssl-hrr-clientauth.pcapng,
/// cut to two extensions (server_name, supported_versions).
fn client_hello() -> Vec<u8> {
    hex(concat!(
        "0303",
        "71f652844edf5582613daa2294a667ca7ef2f658740e3b85d726a8ab58cc32ee",
        "00",
        "0008130213031301 00ff",
        "0100",
        "001c",
        "0000 0011 000f 00 000c 746c736c656e732e74657374",
        "002b 0003 02 0304",
    )
    .replace(' ', "")
    .as_str())
}

#[test]
fn a_client_hello_and_its_extensions() {
    let body = client_hello();
    let Ok(Message::ClientHello(hello)) = parse(CLIENT_HELLO, &body, &Context::default()) else {
        panic!("a ClientHello");
    };
    assert_eq!(hello.legacy_version, 0x0303);
    assert_eq!(hello.cipher_suites, vec![0x1302, 0x1303, 0x1301, 0x00ff]);
    assert_eq!(hello.legacy_compression_methods, &[0]);
    let types: Vec<u16> = hello.extensions.list.iter().map(|e| e.ext_type).collect();
    assert_eq!(types, vec![0, 43]);
    assert!(hello.extensions.problems.is_empty() && !hello.sslv2);
}

#[test]
fn a_cut_client_hello_names_the_byte() {
    let body = client_hello();
    let cut = parse(CLIENT_HELLO, &body[..40], &Context::default()).unwrap_err();
    assert_eq!(cut, "message type 1: needs 8 bytes at offset 37, 3 remain");
    let mut odd = body.clone();
    odd[36] = 7; // cipher suites of 7 bytes
    assert_eq!(
        parse(CLIENT_HELLO, &odd, &Context::default()).unwrap_err(),
        "message type 1: list of 7 bytes is not a multiple of 2"
    );
    let mut stray = body.clone();
    stray.truncate(47);
    stray.push(0);
    assert_eq!(
        parse(CLIENT_HELLO, &stray, &Context::default()).unwrap_err(),
        "message type 1: 1 bytes after the end of the message"
    );
}

#[test]
fn a_client_hello_with_a_faulty_block_keeps_what_it_read() {
    let mut body = client_hello();
    body.truncate(body.len() - 2);
    let Ok(Message::ClientHello(hello)) = parse(CLIENT_HELLO, &body, &Context::default()) else {
        panic!("a ClientHello kept");
    };
    assert_eq!(hello.extensions.list.len(), 1);
    let message = Message::ClientHello(hello);
    let (extensions, name) = message.extensions().unwrap();
    assert_eq!(
        extensions.describe(name, |t| t.to_string()).as_deref(),
        Some("ClientHello: extension 43 declares 3 bytes, 1 remain in the block")
    );
}

#[test]
fn hello_retry_request_and_draft_server_hellos() {
    let mut hrr = vec![3, 3];
    hrr.extend(HRR_RANDOM);
    hrr.extend([0, 0x13, 0x02, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
    let Ok(Message::ServerHello(sh)) = parse(SERVER_HELLO, &hrr, &Context::default()) else {
        panic!("a ServerHello");
    };
    assert!(sh.is_hello_retry_request());
    assert_eq!(sh.name(), "HelloRetryRequest");
    assert_eq!((sh.cipher_suite, sh.extensions.list.len()), (0x1302, 1));
    // draft-18: no session id, no compression method.
    let mut draft = vec![0x7f, 0x12];
    draft.extend([1; 32]);
    draft.extend([0x13, 0x01, 0, 0]);
    let Ok(Message::ServerHello(sh)) = parse(SERVER_HELLO, &draft, &Context::default()) else {
        panic!("a draft ServerHello");
    };
    assert!(!sh.is_hello_retry_request() && sh.legacy_session_id.is_empty());
    assert_eq!((sh.cipher_suite, sh.legacy_compression_method), (0x1301, 0));
}

#[test]
fn empty_messages_must_be_empty_and_unknown_ones_stay_opaque() {
    assert_eq!(
        parse(SERVER_HELLO_DONE, &[], &Context::default()),
        Ok(Message::Opaque {
            msg_type: 14,
            body: &[]
        })
    );
    assert_eq!(
        parse(SERVER_HELLO_DONE, &[0], &Context::default()).unwrap_err(),
        "message type 14 should be empty, holds 1 bytes"
    );
    assert_eq!(
        parse(0x63, &[1, 2], &Context::default()),
        Ok(Message::Opaque {
            msg_type: 0x63,
            body: &[1, 2]
        })
    );
}

#[test]
fn certificates_in_tls12_and_tls13_layouts() {
    let tls12 = [0, 0, 7, 0, 0, 4, 0x30, 0x02, 0x05, 0x00];
    let Ok(Message::Certificate(c)) = parse(CERTIFICATE, &tls12, &Context::default()) else {
        panic!("a Certificate");
    };
    assert_eq!(c.certificate_request_context, None);
    assert_eq!(c.certificate_list.len(), 1);
    let tls13 = [0, 0, 0, 13, 0, 0, 2, 0x30, 0, 0, 6, 0, 5, 0, 2, 1, 2];
    let v13 = ctx(Some(TLS1_3), None, None);
    let Ok(Message::Certificate(c)) = parse(CERTIFICATE, &tls13, &v13) else {
        panic!("a TLS 1.3 Certificate");
    };
    assert_eq!(c.certificate_request_context, Some(&[][..]));
    assert_eq!(c.certificate_list[0].extensions[0].ext_type, 5);
    assert_eq!(
        parse(CERTIFICATE, &[0, 0, 9, 0], &Context::default()).unwrap_err(),
        "message type 11: block at offset 3 declares 9 bytes, 1 remain"
    );
    assert_eq!(
        parse(CERTIFICATE, &[0, 0, 4, 0, 0, 5, 1], &Context::default()).unwrap_err(),
        "message type 11: needs 5 bytes at offset 6, 1 remain"
    );
}

#[test]
fn server_key_exchange_by_key_exchange() {
    let ecdhe = ctx(Some(0x0303), Some("ECDHE"), Some("RSA"));
    let body = [3, 0, 0x1d, 2, 9, 9, 4, 1, 0, 1, 0xaa];
    let Ok(Message::ServerKeyExchange(ske)) = parse(SERVER_KEY_EXCHANGE, &body, &ecdhe) else {
        panic!("a ServerKeyExchange");
    };
    assert_eq!(
        ske.params,
        vec![
            ("curve_type", Param::Int(3)),
            ("named_curve", Param::Int(0x1d)),
            ("public_key", Param::Bytes(&[9, 9]))
        ]
    );
    assert_eq!(
        (ske.signature_scheme, ske.signature),
        (Some(0x0401), Some(&[0xaa][..]))
    );
    assert_eq!(
        parse(SERVER_KEY_EXCHANGE, &[1, 0], &ecdhe).unwrap_err(),
        "message type 12: explicit curve parameters (type 1) not decoded"
    );
    let psk = ctx(Some(0x0303), Some("DHE_PSK"), Some("PSK"));
    let body = [0, 2, b'h', 0xff, 0, 1, 7, 0, 1, 2, 0, 1, 3];
    let Ok(Message::ServerKeyExchange(ske)) = parse(SERVER_KEY_EXCHANGE, &body, &psk) else {
        panic!("a DHE_PSK ServerKeyExchange");
    };
    assert_eq!(
        ske.params[0],
        ("psk_identity_hint", Param::Text("h\u{fffd}".into()))
    );
    assert_eq!(ske.params.len(), 4);
    assert_eq!(ske.signature, None);
    let ssl3 = ctx(Some(0x0300), Some("RSA"), Some("RSA"));
    let body = [0, 1, 5, 0, 1, 3, 0, 1, 9];
    let Ok(Message::ServerKeyExchange(ske)) = parse(SERVER_KEY_EXCHANGE, &body, &ssl3) else {
        panic!("an RSA_EXPORT ServerKeyExchange");
    };
    assert_eq!(
        (ske.signature_scheme, ske.signature),
        (None, Some(&[9][..]))
    );
    let srp = ctx(Some(0x0303), Some("SRP"), Some("anon"));
    let body = [0, 1, 1, 0, 1, 2, 1, 3, 0, 1, 4];
    let Ok(Message::ServerKeyExchange(ske)) = parse(SERVER_KEY_EXCHANGE, &body, &srp) else {
        panic!("an SRP ServerKeyExchange");
    };
    assert_eq!(ske.params.len(), 4);
    let Ok(Message::ServerKeyExchange(ske)) =
        parse(SERVER_KEY_EXCHANGE, &[1, 2], &Context::default())
    else {
        panic!("an unknown key exchange, kept raw");
    };
    assert_eq!(ske.params, vec![("raw", Param::Bytes(&[1, 2]))]);
}

#[test]
fn client_key_exchange_by_key_exchange() {
    let cases: [(Context, &[u8], &str); 5] = [
        (
            ctx(Some(0x0300), Some("RSA"), None),
            &[1, 2, 3],
            "encrypted_pre_master_secret_length",
        ),
        // OpenSSL's pre-standard DTLS (0x0100) writes no length either.
        (
            ctx(Some(0x0100), Some("RSA"), None),
            &[1, 2, 3],
            "encrypted_pre_master_secret_length",
        ),
        (
            ctx(Some(0x0303), Some("RSA"), None),
            &[0, 2, 1, 2],
            "encrypted_pre_master_secret_length",
        ),
        (
            ctx(Some(0x0303), Some("ECDHE"), None),
            &[2, 1, 2],
            "ecdh_Yc_length",
        ),
        (
            ctx(Some(0x0303), Some("DHE"), None),
            &[0, 2, 1, 2],
            "dh_Yc_length",
        ),
    ];
    for (context, body, name) in cases {
        let Ok(Message::ClientKeyExchange(cke)) = parse(CLIENT_KEY_EXCHANGE, body, &context) else {
            panic!("a ClientKeyExchange");
        };
        let length = u32::try_from(cke.exchange_keys.len()).unwrap();
        assert_eq!(cke.params, vec![(name, Param::Int(length))]);
    }
    let psk = ctx(Some(0x0303), Some("PSK"), Some("PSK"));
    let Ok(Message::ClientKeyExchange(cke)) = parse(CLIENT_KEY_EXCHANGE, &[0, 1, b'a'], &psk)
    else {
        panic!("a PSK ClientKeyExchange");
    };
    assert_eq!(cke.params, vec![("psk_identity", Param::Text("a".into()))]);
    assert_eq!(
        parse(
            CLIENT_KEY_EXCHANGE,
            &[5, 1],
            &ctx(None, Some("ECDHE"), None)
        )
        .unwrap_err(),
        "message type 16: needs 5 bytes at offset 1, 1 remain"
    );
}

#[test]
fn certificate_request_before_and_in_tls13() {
    let tls12 = [1, 1, 0, 2, 4, 1, 0, 4, 0, 2, 0x30, 0];
    let Ok(Message::CertificateRequest(cr)) =
        parse(CERTIFICATE_REQUEST, &tls12, &Context::default())
    else {
        panic!("a CertificateRequest");
    };
    assert_eq!(cr.signature_schemes, vec![0x0401]);
    assert_eq!(cr.certificate_authorities, vec![&[0x30, 0][..]]);
    let tls11 = [1, 1, 0, 0];
    let v11 = ctx(Some(0x0302), None, None);
    let Ok(Message::CertificateRequest(cr)) = parse(CERTIFICATE_REQUEST, &tls11, &v11) else {
        panic!("a TLS 1.1 CertificateRequest");
    };
    assert!(cr.signature_schemes.is_empty());
    let v13 = ctx(Some(TLS1_3), None, None);
    let tls13 = [0, 0, 8, 0, 13, 0, 4, 0, 2, 8, 4];
    let Ok(Message::CertificateRequest(cr)) = parse(CERTIFICATE_REQUEST, &tls13, &v13) else {
        panic!("a TLS 1.3 CertificateRequest");
    };
    assert_eq!(cr.signature_schemes, vec![0x0804]);
    assert_eq!(
        parse(CERTIFICATE_REQUEST, &[0, 0, 5, 0, 13, 0, 1, 0], &v13).unwrap_err(),
        "message type 13: needs 2 bytes at offset 0, 1 remain"
    );
}

#[test]
fn small_messages() {
    let v13 = ctx(Some(TLS1_3), None, None);
    let nst = [0, 0, 0, 9, 0, 0, 0, 1, 1, 7, 0, 1, 8, 0, 0];
    let Ok(Message::NewSessionTicket(t)) = parse(NEW_SESSION_TICKET, &nst, &v13) else {
        panic!("a TLS 1.3 NewSessionTicket");
    };
    assert_eq!(
        (t.ticket_age_add, t.ticket_nonce, t.ticket),
        (Some(1), Some(&[7][..]), &[8][..])
    );
    let old = [0, 0, 0, 9, 0, 1, 8];
    let Ok(Message::NewSessionTicket(t)) = parse(NEW_SESSION_TICKET, &old, &Context::default())
    else {
        panic!("an RFC 5077 NewSessionTicket");
    };
    assert_eq!((t.ticket_nonce, t.ticket), (None, &[8][..]));
    assert_eq!(parse(KEY_UPDATE, &[1], &v13), Ok(Message::KeyUpdate(1)));
    assert_eq!(
        parse(FINISHED, &[1, 2], &v13),
        Ok(Message::Finished(&[1, 2]))
    );
    let status = [1, 0, 0, 1, 9];
    assert!(matches!(
        parse(CERTIFICATE_STATUS, &status, &v13),
        Ok(Message::CertificateStatus(s)) if s.status_type == 1 && s.response == [9]
    ));
    let compressed = [0, 2, 0, 0, 9, 0, 0, 1, 5];
    assert!(matches!(
        parse(COMPRESSED_CERTIFICATE, &compressed, &v13),
        Ok(Message::CompressedCertificate(c)) if c.algorithm == 2 && c.uncompressed_length == 9
    ));
    let cv = [8, 4, 0, 1, 1];
    assert!(matches!(
        parse(CERTIFICATE_VERIFY, &cv, &v13),
        Ok(Message::CertificateVerify(v)) if v.signature_scheme == Some(0x0804)
    ));
    let ee = [0, 4, 0, 16, 0, 0];
    assert!(matches!(
        parse(ENCRYPTED_EXTENSIONS, &ee, &v13),
        Ok(Message::EncryptedExtensions(e)) if e.list.len() == 1
    ));
    assert_eq!(
        parse(KEY_UPDATE, &[], &v13).unwrap_err(),
        "message type 24: needs 1 byte at offset 0, 0 remain"
    );
}

#[test]
fn tls13_versions_include_the_drafts_and_experiments() {
    for v in [0x0304, 0xFEFC, 0x7F12, 0x7F1C, 0x7E02, 0xFB17, 0xFB1A] {
        assert!(is_tls13_version(v), "{v:#x}");
    }
    for v in [0x0303, 0x0300, 0x7E04, 0xFB18, 0x0305, 0xFEFD, 0xFEFF] {
        assert!(!is_tls13_version(v), "{v:#x}");
    }
    assert!(!Context::default().tls13());
}

#[test]
fn dtls_versions_read_as_the_tls_they_are_based_on() {
    // A DTLS 1.0 ServerKeyExchange (TLS 1.1 layout) has no SignatureAndHashAlgorithm; a DTLS
    // 1.2 one has.
    let body = [3, 0, 29, 1, 7, 0, 2, 0xAB, 0xCD];
    let dtls10 = ctx(Some(0xFEFF), Some("ECDHE"), Some("RSA"));
    assert!(parse(SERVER_KEY_EXCHANGE, &body, &dtls10).is_ok());
    let with_scheme = [3, 0, 29, 1, 7, 4, 1, 0, 2, 0xAB, 0xCD];
    let dtls12 = ctx(Some(0xFEFD), Some("ECDHE"), Some("RSA"));
    assert!(parse(SERVER_KEY_EXCHANGE, &with_scheme, &dtls12).is_ok());
    assert!(parse(SERVER_KEY_EXCHANGE, &body, &dtls12).is_err());
    assert_eq!(tls_equivalent(0xFEFC), 0x0304);
    assert_eq!(tls_equivalent(0x0301), 0x0301);
}

#[test]
fn errors_read_as_the_findings_always_said() {
    let mut r = Reader::new(&[0, 5, 1]);
    let truncated = r.vec_u16().unwrap_err();
    assert_eq!(describe(&truncated), "needs 5 bytes at offset 2, 1 remain");
    let mut one = Reader::new(&[1]);
    one.u8().unwrap();
    assert_eq!(
        describe(&one.u8().unwrap_err()),
        "needs 1 byte at offset 1, 0 remain"
    );
    let mut b = Reader::new(&[0, 9, 1, 2]);
    assert_eq!(
        describe(&block(&mut b, 2).unwrap_err()),
        "block at offset 2 declares 9 bytes, 2 remain"
    );
    let mut odd = Reader::new(&[0, 3, 1, 2, 3]);
    assert_eq!(
        describe(&u16_list(&mut odd).unwrap_err()),
        "list of 3 bytes is not a multiple of 2"
    );
    let trailing = Reader::new(&[1, 2]).finish().unwrap_err();
    assert_eq!(describe(&trailing), "2 bytes after the end of the message");
}

#[test]
fn each_message_names_its_extensions_block() {
    let v13 = ctx(Some(TLS1_3), None, None);
    let mut hrr = vec![3, 3];
    hrr.extend(HRR_RANDOM);
    hrr.extend([0, 0x13, 0x02, 0, 0, 9]);
    let cases: [(u8, Vec<u8>, &str); 5] = [
        (SERVER_HELLO, hrr, "HelloRetryRequest"),
        (
            NEW_SESSION_TICKET,
            vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 9],
            "NewSessionTicket",
        ),
        (ENCRYPTED_EXTENSIONS, vec![0, 9], "EncryptedExtensions"),
        (CERTIFICATE_REQUEST, vec![0, 0, 9], "CertificateRequest"),
        (
            CLIENT_HELLO,
            [&client_hello()[..47], &[0, 9]].concat(),
            "ClientHello",
        ),
    ];
    for (msg_type, body, name) in cases {
        let message = parse(msg_type, &body, &v13).unwrap();
        let (extensions, told) = message.extensions().unwrap();
        assert_eq!(told, name);
        assert_eq!(
            extensions.describe(told, |t| t.to_string()),
            Some(format!(
                "{name}: extensions block declares 9 bytes, 0 remain"
            ))
        );
    }
    assert!(parse(FINISHED, &[], &v13).unwrap().extensions().is_none());
}

#[test]
fn truncated_small_messages_name_the_byte() {
    let v13 = ctx(Some(TLS1_3), None, None);
    let cases: [(u8, &[u8], &str); 6] = [
        (
            NEW_SESSION_TICKET,
            &[0, 0, 0, 1, 0, 0],
            "needs 4 bytes at offset 4, 2 remain",
        ),
        (
            CERTIFICATE_STATUS,
            &[1, 0, 0, 5, 1],
            "needs 5 bytes at offset 4, 1 remain",
        ),
        (
            COMPRESSED_CERTIFICATE,
            &[0, 1, 0, 0],
            "needs 3 bytes at offset 2, 2 remain",
        ),
        (
            CERTIFICATE_VERIFY,
            &[8, 4, 0],
            "needs 2 bytes at offset 2, 1 remain",
        ),
        (
            SERVER_HELLO,
            &[3, 3],
            "needs 32 bytes at offset 2, 0 remain",
        ),
        (KEY_UPDATE, &[1, 2], "1 bytes after the end of the message"),
    ];
    for (msg_type, body, why) in cases {
        assert_eq!(
            parse(msg_type, body, &v13).unwrap_err(),
            format!("message type {msg_type}: {why}")
        );
    }
}

#[test]
fn a_message_type_is_named_where_tlslens_knows_it() {
    // DTLS's HelloVerifyRequest too: a finding on one names it (RFC 6347 §4.2.1).
    assert_eq!(super::type_text(3), "type 3 (HelloVerifyRequest)");
    assert_eq!(super::type_text(11), "type 11 (Certificate)");
    assert_eq!(super::type_text(99), "type 99");
}
