//! RFC 9001 Appendix A (QUIC v1) and RFC 9369 Appendix A (QUIC v2), reproduced exactly:
//! the Initial secrets and keys, the client and server Initials unprotected, the Retry
//! integrity tags, and the ChaCha20-Poly1305 short header packet with its key update.

mod quic_common;

use quic_common::*;
use tlslens_core::quic::frames::{parse_frames, Frame};
use tlslens_core::quic::keys::{initial_secrets, retry_tag_ok, KeyMaterial, Secret, Suite};
use tlslens_core::quic::packet::{parse_long, parse_short, Form};
use tlslens_core::quic::unprotect::{unprotect, Opened};
use tlslens_core::quic::version::{LongType, Version};

struct Appendix {
    version: Version,
    client_secret: &'static str,
    server_secret: &'static str,
    client: [&'static str; 3],
    server: [&'static str; 3],
    client_header: &'static str,
    client_packet: &'static str,
    server_header: &'static str,
    server_packet: &'static str,
    retry: &'static str,
    chacha: [&'static str; 4],
    chacha_packet: &'static str,
}

const RFC9001: Appendix = Appendix {
    version: Version::V1,
    client_secret: "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
    server_secret: "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b",
    client: [
        "1f369613dd76d5467730efcbe3b1a22d",
        "fa044b2f42a3fd3b46fb255c",
        "9f50449e04a0e810283a1e9933adedd2",
    ],
    server: [
        "cf3a5331653c364c88f0f379b6067e37",
        "0ac1493ca1905853b0bba03e",
        "c206b8d9b9f0f37644430b490eeaa314",
    ],
    client_header: "c300000001088394c8f03e5157080000449e00000002",
    client_packet: V1_CLIENT_INITIAL,
    server_header: "c1000000010008f067a5502a4262b50040750001",
    server_packet: V1_SERVER_INITIAL,
    retry: V1_RETRY,
    chacha: [
        "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
        "e0459b3474bdd0e44a41c144",
        "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4",
        "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9",
    ],
    chacha_packet: "4cfe4189655e5cd55c41f69080575d7999c25a5bfb",
};

const RFC9369: Appendix = Appendix {
    version: Version::V2,
    client_secret: "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
    server_secret: "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1",
    client: [
        "8b1a0bc121284290a29e0971b5cd045d",
        "91f73e2351d8fa91660e909f",
        "45b95e15235d6f45a6b19cbcb0294ba9",
    ],
    server: [
        "82db637861d55e1d011f19ea71d5d2a7",
        "dd13c276499c0249d3310652",
        "edf6d05c83121201b436e16877593c3a",
    ],
    client_header: "d36b3343cf088394c8f03e5157080000449e00000002",
    client_packet: V2_CLIENT_INITIAL,
    server_header: "d16b3343cf0008f067a5502a4262b50040750001",
    server_packet: V2_SERVER_INITIAL,
    retry: V2_RETRY,
    chacha: [
        "3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2",
        "a6b5bc6ab7dafce30ffff5dd",
        "d659760d2ba434a226fd37b35c69e2da8211d10c4f12538787d65645d5d1b8e2",
        "c69374c49e3d2a9466fa689e49d476db5d0dfbc87d32ceeaa6343fd0ae4c7d88",
    ],
    chacha_packet: "5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba",
};

fn material(hexes: [&str; 3]) -> KeyMaterial {
    KeyMaterial {
        key: hex(hexes[0]),
        iv: hex(hexes[1]),
        hp: hex(hexes[2]),
    }
}

/// §A.1: the Initial secrets of the client's DCID and the keys of each.
fn check_keys(a: &Appendix) {
    let (client, server) = initial_secrets(a.version, &hex(DCID)).expect("secrets");
    assert_eq!(client.bytes, hex(a.client_secret));
    assert_eq!(server.bytes, hex(a.server_secret));
    assert_eq!(client.material().expect("client"), material(a.client));
    assert_eq!(server.material().expect("server"), material(a.server));
}

fn open_initial(a: &Appendix, packet: &str, from_server: bool) -> (Opened, Form) {
    let datagram = hex(packet);
    let view = parse_long(&datagram, 0).expect("a long header");
    assert_eq!(view.end, datagram.len());
    let (client, server) = initial_secrets(a.version, &hex(DCID)).expect("secrets");
    let keys = if from_server { server } else { client }
        .keys()
        .expect("keys");
    let opened = unprotect(&datagram, &view, &keys, &keys.hp, None).expect("opens");
    (opened, view.form)
}

/// §A.2: the client Initial, unprotected: header, packet number 2, and a CRYPTO frame
/// holding the ClientHello followed by 917 bytes of PADDING.
fn check_client_initial(a: &Appendix) {
    let (opened, form) = open_initial(a, a.client_packet, false);
    assert_eq!(form, Form::Long(LongType::Initial));
    assert_eq!(opened.header.bytes, hex(a.client_header));
    assert_eq!(opened.pn, 2);
    assert_eq!(opened.payload, client_initial_payload());
    let (frames, error) = parse_frames(&opened.payload);
    assert_eq!(error, None);
    let [crypto, padding] = frames.as_slice() else {
        panic!("two frames: {frames:?}");
    };
    let Frame::Crypto { offset: 0, data } = &crypto.frame else {
        panic!("a CRYPTO frame first: {crypto:?}");
    };
    let hello = data.of(&opened.payload);
    assert_eq!(hello.len(), 241);
    assert_eq!(
        &hello[..4],
        &[0x01, 0x00, 0x00, 0xed],
        "a ClientHello of 237 bytes"
    );
    assert_eq!(padding.frame, Frame::Padding { len: 917 });
}

/// §A.3: the server Initial: ACK of packet 0 and a CRYPTO frame with the ServerHello.
fn check_server_initial(a: &Appendix) {
    let (opened, _) = open_initial(a, a.server_packet, true);
    assert_eq!(opened.header.bytes, hex(a.server_header));
    assert_eq!(opened.pn, 1);
    assert_eq!(opened.payload, hex(SERVER_INITIAL_PAYLOAD));
    let (frames, error) = parse_frames(&opened.payload);
    assert_eq!(error, None);
    assert_eq!(
        frames[0].frame,
        Frame::Ack {
            largest: 0,
            delay: 0,
            first_range: 0,
            ranges: vec![],
            ecn: None
        }
    );
    let Frame::Crypto { offset: 0, data } = &frames[1].frame else {
        panic!("a CRYPTO frame: {frames:?}");
    };
    assert_eq!(&data.of(&opened.payload)[..4], &[0x02, 0x00, 0x00, 0x56]);
}

/// §A.4: the Retry's tag checks against the client's first DCID, and not once altered.
fn check_retry(a: &Appendix) {
    let retry = hex(a.retry);
    let view = parse_long(&retry, 0).expect("a Retry");
    assert_eq!(view.form, Form::Long(LongType::Retry));
    assert_eq!(view.token, b"token");
    assert_eq!(view.scid, hex("f067a5502a4262b5"));
    assert!(retry_tag_ok(a.version, &hex(DCID), &retry));
    let mut tampered = retry.clone();
    *tampered.last_mut().expect("bytes") ^= 1;
    assert!(!retry_tag_ok(a.version, &hex(DCID), &tampered));
    assert!(!retry_tag_ok(a.version, &hex("0001020304050607"), &retry));
}

/// §A.5: a ChaCha20-Poly1305 short header packet (PING, packet number 654360564 sent in
/// three bytes), its keys, and the "ku" secret of the next key phase.
fn check_chacha(a: &Appendix) {
    let suite = Suite::from_id(0x1303).expect("ChaCha20");
    let secret = Secret {
        version: a.version,
        suite,
        bytes: hex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b"),
    };
    let [key, iv, hp, ku] = a.chacha;
    assert_eq!(secret.material().expect("keys"), material([key, iv, hp]));
    assert_eq!(secret.next().expect("ku").bytes, hex(ku));
    let datagram = hex(a.chacha_packet);
    let view = parse_short(&datagram, 0, 0).expect("a short header");
    let keys = secret.keys().expect("keys");
    let opened = unprotect(&datagram, &view, &keys, &keys.hp, Some(654_360_563)).expect("opens");
    assert_eq!(opened.header.bytes, hex("4200bff4"));
    assert_eq!(opened.pn, 654_360_564);
    assert_eq!(opened.payload, [0x01]);
    assert_eq!(parse_frames(&opened.payload).0[0].frame, Frame::Ping);
}

#[test]
fn rfc9001_a1_initial_keys() {
    check_keys(&RFC9001);
}

#[test]
fn rfc9001_a2_client_initial() {
    check_client_initial(&RFC9001);
}

#[test]
fn rfc9001_a3_server_initial() {
    check_server_initial(&RFC9001);
}

#[test]
fn rfc9001_a4_retry_tag() {
    check_retry(&RFC9001);
}

#[test]
fn rfc9001_a5_chacha20_short_header() {
    check_chacha(&RFC9001);
}

#[test]
fn rfc9369_a1_initial_keys() {
    check_keys(&RFC9369);
}

#[test]
fn rfc9369_a2_client_initial() {
    check_client_initial(&RFC9369);
}

#[test]
fn rfc9369_a3_server_initial() {
    check_server_initial(&RFC9369);
}

#[test]
fn rfc9369_a4_retry_tag() {
    check_retry(&RFC9369);
}

#[test]
fn rfc9369_a5_chacha20_short_header() {
    check_chacha(&RFC9369);
}

/// The test's own packet protector makes the RFC's packets from their plaintext, so the
/// packets other tests build with it are protected as a real stack would.
#[test]
fn the_test_protector_reproduces_rfc9001_a2() {
    let (client, _) = initial_secrets(Version::V1, &hex(DCID)).expect("secrets");
    let packet = protect(
        &client,
        &hex(RFC9001.client_header),
        2,
        4,
        &client_initial_payload(),
    );
    assert_eq!(packet, hex(V1_CLIENT_INITIAL));
}

/// draft-ietf-quic-tls-29 §A.4: its Retry, whose tag uses the draft's key and nonce.
#[test]
fn draft29_retry_tag() {
    let retry = hex("ffff00001d0008f067a5502a4262b5746f6b656ed16926d81f6f9ca2953a8aa4575e1e49");
    let view = parse_long(&retry, 0).expect("a Retry");
    assert_eq!(view.form, Form::Long(LongType::Retry));
    assert!(retry_tag_ok(Version::Draft29, &hex(DCID), &retry));
    assert!(!retry_tag_ok(Version::V1, &hex(DCID), &retry));
}
