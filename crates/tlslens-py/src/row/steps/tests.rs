use super::MAX_HANDSHAKE_NS;
use super::{finished_ns, hellos_ns, millis, millis_text, thousandths, Seen, What};

fn seen(what: What, client: bool, ts: i128) -> Seen {
    Seen {
        what,
        client,
        ts_ns: Some(ts),
    }
}

/// A span's milliseconds as Python's `round(x / 1e6, 3)` and `repr` give them.
fn ms(start: i128, end: i128) -> Option<(f64, String)> {
    thousandths(Some(start), Some(end)).map(|t| (millis(t), millis_text(t)))
}

#[test]
fn ms_rounds_as_python_does() {
    let text = |start, end| ms(start, end).map(|(_, text)| text);
    assert_eq!(text(0, 1_062_500).as_deref(), Some("1.062")); // a binary tie: to even
    assert_eq!(text(0, 1_187_500).as_deref(), Some("1.188"));
    // Decimal ties the float left a hair off: round(1.0005, 3) and round(0.0015, 3).
    assert_eq!(text(0, 1_000_500).as_deref(), Some("1.0"));
    assert_eq!(text(0, 1_500).as_deref(), Some("0.002"));
    assert_eq!(text(10, 10).as_deref(), Some("0.0"));
    assert_eq!(text(0, 1_000).as_deref(), Some("0.001"));
    assert_eq!(text(0, 120_000_000).as_deref(), Some("120.0"));
    assert_eq!(text(0, 123_456_789).as_deref(), Some("123.457"));
    assert_eq!(ms(0, 123_456_789).map(|(v, _)| v), Some(123.457));
    assert_eq!(ms(5, 4), None);
    assert_eq!(thousandths(None, Some(4)), None);
    assert_eq!(ms(0, 600_000_000_001), None);
}

#[test]
fn ms_is_the_correctly_rounded_float_and_its_shortest_text() {
    // Rust's fixed-precision text rounds the float correctly (ties to even), as
    // Python's round does; its shortest text is Python's repr in this range.
    let spans = (0..200_000_i128)
        .map(|i| i * 7_919)
        .chain((0..100_000).map(|i| i * 1_000 + 500))
        .chain((0..1_000).map(|i| MAX_HANDSHAKE_NS - i * 999_499));
    for span in spans {
        let value = span as f64 / 1e6;
        let expected: f64 = format!("{value:.3}").parse().unwrap_or(f64::NAN);
        let (got, text) = ms(0, span).unwrap_or((f64::NAN, String::new()));
        assert_eq!(got.to_bits(), expected.to_bits(), "{span}");
        let mut shortest = format!("{expected}");
        if !shortest.contains('.') {
            shortest.push_str(".0");
        }
        assert_eq!(text, shortest, "{span}");
    }
}

#[test]
fn tls13_handshake_ends_with_the_clients_finished() {
    let events = [
        seen(What::ClientHello, true, 100),
        seen(What::ServerHello, false, 200),
        seen(What::EncryptedHandshake, false, 210),
        seen(What::EncryptedHandshake, false, 220),
        seen(What::EncryptedHandshake, true, 300),
    ];
    assert_eq!(hellos_ns(&events), (Some(100), Some(200)));
    assert_eq!(finished_ns(&events, true, false), Some(300));
    // Over QUIC without the client's 1-RTT packets, its sealed flight is not a Finished.
    assert_eq!(finished_ns(&events, true, true), None);
}

#[test]
fn tls12_finished_is_the_first_record_after_ccs() {
    let events = [
        seen(What::ClientHello, true, 100),
        seen(What::HelloRetryRequest, false, 150),
        seen(What::ServerHello, false, 200),
        seen(What::ChangeCipherSpec, true, 300),
        seen(What::EncryptedHandshake, true, 301),
        seen(What::ChangeCipherSpec, false, 400),
        seen(What::EncryptedHandshake, false, 401),
    ];
    assert_eq!(hellos_ns(&events), (Some(100), Some(200)));
    assert_eq!(finished_ns(&events, false, false), Some(401));
    assert_eq!(finished_ns(&events[..5], false, false), None);
}
