//! Who the client is when the client's first Initial cannot be read (RFC 9001 §A's
//! Initials, the client's damaged): the server's answer opens the connection, but the
//! damaged datagram, first on its address pair, names the client, and its Destination
//! Connection ID, when it still reads, gives the Initial keys; and a server's Initial from
//! port 443 to an ephemeral port with nothing before it is the server's.

mod quic_common;

use quic_common::*;
use tlslens_core::flows::packet::Addr;
use tlslens_core::quic::{Datagram, Endpoint, Finding, Limits, QuicConnections, QuicEvent};

fn client() -> Endpoint {
    (Addr::v4([10, 0, 0, 1]), 50_000)
}

fn server() -> Endpoint {
    (Addr::v4([10, 0, 0, 2]), 443)
}

fn datagram(frame: u64, src: Endpoint, dst: Endpoint, payload: &[u8]) -> Datagram<'_> {
    Datagram {
        frame,
        ts_ns: i128::from(frame),
        src,
        dst,
        payload,
    }
}

/// The connection opened, its finding, and the sides of its packets.
fn opened(table: &mut QuicConnections) -> (QuicEvent, Vec<Finding>, Vec<(u64, u8, bool)>) {
    let events: Vec<QuicEvent> = std::iter::from_fn(|| table.poll()).collect();
    let open = events
        .iter()
        .find(|e| matches!(e, QuicEvent::Opened { .. }))
        .cloned()
        .expect("a connection opened");
    let findings = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Finding(f) => Some(f.clone()),
            _ => None,
        })
        .collect();
    let packets = events
        .iter()
        .filter_map(|e| match e {
            QuicEvent::Packet(p) => Some((p.frame, p.side, p.pn.is_some())),
            _ => None,
        })
        .collect();
    (open, findings, packets)
}

/// The damaged client Initial (byte `at` set to `value`), the server's answer, and the
/// client's next Initial to the server's Connection ID.
fn damaged_then_answered(at: usize, value: u8, stray: bool) -> QuicConnections {
    let mut table = QuicConnections::new(Limits::default());
    let mut first = hex(V1_CLIENT_INITIAL);
    first[at] = value;
    let d = datagram(1, client(), server(), &first);
    let read = if stray {
        table.stray(&d)
    } else {
        table.datagram(&d)
    };
    assert_eq!(table.connections(), 0, "a damaged Initial opens nothing");
    assert!(!read || first[at] & 0x80 != 0);
    let answer = hex(V1_SERVER_INITIAL);
    assert!(table.datagram(&datagram(2, server(), client(), &answer)));
    table
}

/// `keys`: the damaged Initial's Destination Connection ID still reads, and opens the
/// server's Initial.
fn check_server_first(table: &mut QuicConnections, field: &str, offset: usize, keys: bool) {
    let (open, findings, packets) = opened(table);
    let QuicEvent::Opened {
        frame,
        client: c,
        server: s,
        dcid,
        ..
    } = open
    else {
        unreachable!()
    };
    let original = keys.then(|| hex(DCID));
    assert_eq!((frame, c, s, dcid), (2, client(), server(), original));
    let told: Vec<&Finding> = findings.iter().filter(|f| f.conn == Some(0)).collect();
    let [finding] = told.as_slice() else {
        panic!("one finding on the connection: {findings:?}");
    };
    assert_eq!(finding.frame, 2);
    assert!(
        finding.what.contains("client's first Initial (frame 1"),
        "{}",
        finding.what
    );
    assert!(finding.what.contains(field), "{}", finding.what);
    assert!(
        finding.what.contains(&format!("(byte {offset} of")),
        "{}",
        finding.what
    );
    // The server's Initial is the server's: opened, or sealed (no Initial keys) but not
    // told as a failure.
    let said = if keys {
        "only the ClientHello is lost"
    } else {
        "no Initial packet is opened"
    };
    assert!(finding.what.contains(said), "{}", finding.what);
    assert_eq!(packets, [(2, 1, keys)]);
}

#[test]
fn a_damaged_version_makes_the_answer_the_servers() {
    let mut table = damaged_then_answered(1, 0xff, false);
    check_server_first(&mut table, "version field reads 0xff000001", 1, true);
}

#[test]
fn a_damaged_dcid_length_makes_the_answer_the_servers() {
    let mut table = damaged_then_answered(5, 0xff, true);
    check_server_first(
        &mut table,
        "Destination Connection ID length byte reads 255",
        5,
        false,
    );
}

#[test]
fn a_cleared_fixed_bit_opens_nothing_from_no_association() {
    let first = hex(V1_CLIENT_INITIAL)[0] & !0x40;
    let mut table = damaged_then_answered(0, first, true);
    check_server_first(&mut table, "fixed bit", 0, true);
}

#[test]
fn a_server_initial_to_an_ephemeral_port_with_nothing_before() {
    let mut table = QuicConnections::new(Limits::default());
    let answer = hex(V1_SERVER_INITIAL);
    assert!(table.datagram(&datagram(7, server(), client(), &answer)));
    let (open, findings, packets) = opened(&mut table);
    assert!(matches!(
        open,
        QuicEvent::Opened { client: c, server: s, dcid: None, .. } if c == client() && s == server()
    ));
    assert!(
        findings[0].what.contains("not in the capture"),
        "{findings:?}"
    );
    assert_eq!(packets, [(7, 1, false)]);
}

#[test]
fn an_undamaged_client_initial_still_decides() {
    let mut table = QuicConnections::new(Limits::default());
    let first = hex(V1_CLIENT_INITIAL);
    assert!(table.datagram(&datagram(1, client(), server(), &first)));
    let (open, findings, packets) = opened(&mut table);
    assert!(matches!(open, QuicEvent::Opened { client: c, .. } if c == client()));
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(packets, [(1, 0, true)]);
}
