//! Real DTLS 1.3: wolfSSL 5.9.4's example client and server, the project's recorded
//! tests/vectors/captures/udp/dtls13.pcapng (that folder's README.md says what each
//! association holds; tests/test_dtls13.py checks its plaintext records against tshark 4.0,
//! which reads no unified header). Here the rest is checked against what the stack itself
//! says: the lines it sent, the Finished messages its key log's secrets verify, and the
//! record numbers its ACKs name.

use super::tests_captures::{application_data, findings, keys, read};
use super::transcript13::{CERTIFICATE_VERIFY, FINISHED};
use super::DtlsEvent;

const SUITES: [(u16, usize); 3] = [(0x1301, 32), (0x1303, 32), (0x1302, 48)];

fn association(index: usize) -> Vec<DtlsEvent> {
    let events = read("dtls13.pcapng", index, Some(keys("dtls13.keys", 0x0304)));
    assert_eq!(findings(&events), Vec::<&DtlsEvent>::new(), "{index}");
    events
}

/// (from_client, msg_type, hash length, finished) of each transcript check.
fn transcripts(events: &[DtlsEvent]) -> Vec<(bool, u8, usize, Option<bool>)> {
    events
        .iter()
        .filter_map(|e| match e {
            DtlsEvent::Transcript {
                from_client,
                msg_type,
                signed,
                finished,
                ..
            } => Some((*from_client, *msg_type, signed.len(), *finished)),
            _ => None,
        })
        .collect()
}

#[test]
fn wolfssl_dtls13_records_open_and_both_finished_verify() {
    for (index, (suite, hash_len)) in SUITES.into_iter().enumerate() {
        let events = association(index);
        assert!(events.iter().any(|e| matches!(
            e,
            DtlsEvent::Negotiated { version: 0xfefc, suite: s, .. } if *s == suite
        )));
        assert_eq!(
            application_data(&events),
            [
                (true, &b"hello wolfssl!"[..]),
                (false, &b"I hear you fa shizzle!"[..])
            ],
            "{index}"
        );
        // The server's CertificateVerify and Finished, then the client's Finished: each
        // hashed over the TLS form of the messages, the first ClientHello folded into a
        // message_hash by the HelloRetryRequest.
        assert_eq!(
            transcripts(&events),
            [
                (false, CERTIFICATE_VERIFY, hash_len, None),
                (false, FINISHED, hash_len, Some(true)),
                (true, FINISHED, hash_len, Some(true)),
            ],
            "{index}"
        );
    }
}

#[test]
fn wolfssl_dtls13_acks_name_the_record_numbers_decrypted() {
    for index in 0..SUITES.len() {
        let events = association(index);
        // (epoch, sequence number) of each decrypted unified record, per direction.
        let mut opened: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
        let mut acked: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
        for e in &events {
            match e {
                DtlsEvent::Record {
                    from_client,
                    record,
                    decrypted: true,
                    ..
                } if record.unified => {
                    opened[usize::from(!from_client)].push((record.epoch, record.seq))
                }
                DtlsEvent::Ack {
                    from_client,
                    records,
                    ..
                } => acked[usize::from(!from_client)].extend(records),
                _ => {}
            }
        }
        // Epoch 2 (the handshake) and 3 (application data) from 0 on, one after the other.
        for side in &opened {
            let mut want = (2, 0);
            for &(epoch, seq) in side {
                if epoch != want.0 {
                    want = (epoch, 0);
                }
                assert_eq!((epoch, seq), want, "{index}");
                want.1 += 1;
            }
        }
        // The server acknowledges the client's Finished: epoch 2, record 0 (RFC 9147 §7).
        assert_eq!(acked, [vec![], vec![(2, 0)]], "{index}");
        assert!(opened[0].contains(&(2, 0)));
    }
}
