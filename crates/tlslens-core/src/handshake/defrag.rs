//! Handshake messages out of record bodies, sans-IO: one direction's defragmenter.
//!
//! A handshake message may span records and a record may hold several messages (RFC 8446
//! §5.1). [`Defragmenter::feed`] takes the handshake bytes of one record with the stream
//! offset where they start; [`Defragmenter::next_message`] gives each message whole,
//! header included, with the offset of its first byte. A header claiming more than
//! `max_message` bytes is reported, and the bytes it claims are skipped as they come
//! instead of buffered (so what follows is read as the next message, not its body), unless
//! a later record is whole messages exactly: the header was garbage, then. What is held is
//! bounded by `max_message` plus one record.

/// The default bound on one message (2 MiB: a long certificate chain fits many times).
pub const MAX_HANDSHAKE_MESSAGE: u32 = 1 << 21;

/// What the defragmenter gives, one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defragmented<'a> {
    /// A whole message: the 4-byte header and the body.
    Message {
        msg_type: u8,
        raw: &'a [u8],
        offset: u64,
    },
    /// A header claiming more than the limit; its bytes are skipped. `client_random`: a
    /// ClientHello's random, when the bytes held reach it (the secrets are looked up by it).
    Oversized {
        msg_type: u8,
        length: u32,
        offset: u64,
        limit: u32,
        client_random: Option<[u8; 32]>,
        /// A ServerHello's cipher_suite, when the bytes held reach it and its random is not
        /// a HelloRetryRequest's: a TLS 1.3 suite says the version its supported_versions
        /// would have (RFC 8446 §B.4: those suites are TLS 1.3's alone).
        server_suite: Option<u16>,
    },
}

/// A set of handshake types as 256 bits: a content layer holds three (two defragmenters'
/// known types, the server's flight) per open flow, where `[bool; 256]` cost 768 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeSet([u64; 4]);

impl TypeSet {
    pub fn of(types: &[u8]) -> Self {
        let mut set = Self::default();
        for t in types {
            set.insert(*t);
        }
        set
    }

    pub fn insert(&mut self, t: u8) {
        if let Some(word) = self.0.get_mut(usize::from(t >> 6)) {
            *word |= 1 << (t & 63);
        }
    }

    pub fn contains(&self, t: u8) -> bool {
        self.0
            .get(usize::from(t >> 6))
            .is_some_and(|word| word & (1 << (t & 63)) != 0)
    }
}

#[derive(Debug, Clone)]
pub struct Defragmenter {
    pub max_message: u32,
    /// Handshake types a record of whole messages may hold (the registry's).
    known: TypeSet,
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` start; the read front is dropped on the next feed.
    start: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    /// Bytes still to come of an oversized message.
    skip: u64,
}

fn header(bytes: &[u8]) -> Option<(u8, u32)> {
    match bytes {
        [msg_type, a, b, c, ..] => Some((*msg_type, u32::from_be_bytes([0, *a, *b, *c]))),
        _ => None,
    }
}

impl Defragmenter {
    /// What the defragmenter holds (`Limits.max_held`): the message being gathered.
    pub fn held(&self) -> usize {
        crate::held::buffer(&self.buf)
    }

    pub fn new(max_message: u32, known_types: &[u8]) -> Self {
        Self::with_known(max_message, TypeSet::of(known_types))
    }

    /// As [`Defragmenter::new`], with the known types already a set.
    pub fn with_known(max_message: u32, known: TypeSet) -> Self {
        Self {
            max_message,
            known,
            buf: Vec::new(),
            start: 0,
            offset: 0,
            skip: 0,
        }
    }

    /// Is `data` (one record's body) whole handshake messages of known types, exactly?
    /// (HelloRequest, all zeros, is left out: zeros are common inside a certificate.)
    fn whole_messages(&self, data: &[u8]) -> bool {
        let mut rest = data;
        while let Some((msg_type, length)) = header(rest) {
            if msg_type == 0 || !self.known.contains(msg_type) || length > self.max_message {
                return false;
            }
            let end = 4usize.saturating_add(length as usize);
            match rest.get(end..) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty() && !data.is_empty()
    }

    pub fn feed(&mut self, offset: u64, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let (mut data, mut offset) = (data, offset);
        if self.skip > 0 && self.whole_messages(data) {
            // A record of whole messages: the oversized header was garbage (a real
            // message's continuation would not look like that), so read on from here.
            self.skip = 0;
        }
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.skip -= n as u64;
            if n == data.len() {
                return;
            }
            data = data.get(n..).unwrap_or(&[]);
            offset = offset.saturating_add(n as u64);
        }
        if self.buf.is_empty() {
            self.offset = offset;
        }
        self.buf.extend_from_slice(data);
    }

    fn unread(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
        self.offset = self.offset.saturating_add(n as u64);
    }

    pub fn next_message(&mut self) -> Option<Defragmented<'_>> {
        let held = self.unread().len();
        let (msg_type, length) = header(self.unread())?;
        let whole = 4usize.saturating_add(length as usize);
        let offset = self.offset;
        if length > self.max_message {
            // A ClientHello's random, which finds the connection's secrets, is waited for
            // (38 bytes at most held) when its first records are shorter: a hello cut into
            // tiny records (a DPI evasion) is no reason to lose the decryption.
            if msg_type == crate::handshake::CLIENT_HELLO && held < HELLO_RANDOM_END.min(whole) {
                return None;
            }
            // A ServerHello's cipher suite likewise (73 bytes at most held): it tells TLS 1.3.
            let suite_end = server_suite_end(self.unread());
            if msg_type == crate::handshake::SERVER_HELLO && held < suite_end.min(whole) {
                return None;
            }
            let client_random = hello_random(msg_type, self.unread());
            let server_suite = (msg_type == crate::handshake::SERVER_HELLO)
                .then(|| server_suite(self.unread()))
                .flatten();
            if held >= whole {
                self.consume(whole);
            } else {
                self.skip = (whole - held) as u64;
                self.buf.clear();
                self.start = 0;
            }
            return Some(Defragmented::Oversized {
                msg_type,
                length,
                offset,
                limit: self.max_message,
                client_random,
                server_suite,
            });
        }
        if held < whole {
            return None;
        }
        let from = self.start;
        self.consume(whole);
        // The consumed bytes stay until the next feed: the message is lent from there.
        let raw = self.buf.get(from..from.saturating_add(whole))?;
        Some(Defragmented::Message {
            msg_type,
            raw,
            offset,
        })
    }

    pub fn pending(&self) -> bool {
        !self.unread().is_empty()
    }

    /// Every message held was given out: the buffer (the last message's bytes, with the
    /// room it grew to) is let go. A flow that sent its ClientHello and then waits (a
    /// scanner's, a TLS flood's) would otherwise hold them until its next record. A message
    /// lent by [`Defragmenter::next_message`] must be done with first.
    pub fn release(&mut self) {
        if self.unread().is_empty() {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    pub fn pending_offset(&self) -> u64 {
        self.offset
    }

    /// (type, declared length, body bytes present) of a message still incomplete.
    pub fn incomplete(&self) -> Option<(u8, u32, i64)> {
        let unread = self.unread();
        let msg_type = *unread.first()?;
        let declared = header(unread).map_or(0, |(_, length)| length);
        Some((msg_type, declared, unread.len() as i64 - 4))
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.skip = 0;
    }
}

/// The random of a ClientHello whose first bytes are `held` (header included): bytes 6 to
/// 38, after the 4-byte header and legacy_version (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
fn hello_random(msg_type: u8, held: &[u8]) -> Option<[u8; 32]> {
    if msg_type != crate::handshake::CLIENT_HELLO {
        return None;
    }
    held.get(6..HELLO_RANDOM_END)?.try_into().ok()
}

/// Where a ClientHello's random ends (its header, legacy_version, then 32 bytes).
const HELLO_RANDOM_END: usize = 38;

/// Where the cipher_suite of a ServerHello whose first bytes are `held` ends: after the
/// random, legacy_session_id_echo (its length byte, then up to 32 bytes) and the 2 bytes
/// of the suite (RFC 8446 §4.1.3); before the length byte is held, as far as it.
fn server_suite_end(held: &[u8]) -> usize {
    held.get(HELLO_RANDOM_END)
        .map_or(HELLO_RANDOM_END + 1, |echo| {
            HELLO_RANDOM_END + 3 + usize::from(*echo)
        })
}

/// The cipher_suite of a ServerHello whose first bytes are `held` (header included), if
/// they reach it and it is no HelloRetryRequest (which comes before the real ServerHello).
fn server_suite(held: &[u8]) -> Option<u16> {
    if held.get(6..HELLO_RANDOM_END)? == crate::handshake::HRR_RANDOM {
        return None;
    }
    let end = server_suite_end(held);
    let suite = held.get(end.checked_sub(2)?..end)?;
    Some(u16::from_be_bytes([*suite.first()?, *suite.get(1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::HRR_RANDOM;

    const KNOWN: [u8; 6] = [1, 2, 11, 12, 14, 20];

    fn message(d: &mut Defragmenter) -> Option<(u8, Vec<u8>, u64)> {
        match d.next_message()? {
            Defragmented::Message {
                msg_type,
                raw,
                offset,
            } => Some((msg_type, raw.to_vec(), offset)),
            Defragmented::Oversized { .. } => panic!("not oversized"),
        }
    }

    #[test]
    fn a_message_across_records_and_two_in_one() {
        let finished: Vec<u8> = [0x14, 0, 0, 12].into_iter().chain([7; 12]).collect();
        let done = [0x0e, 0, 0, 0];
        let mut d = Defragmenter::new(MAX_HANDSHAKE_MESSAGE, &KNOWN);
        d.feed(100, &finished[..7]);
        assert_eq!(d.next_message(), None);
        assert_eq!(d.incomplete(), Some((0x14, 12, 3)));
        let mut second = finished[7..].to_vec();
        second.extend(done);
        d.feed(200, &second);
        assert_eq!(message(&mut d), Some((0x14, finished.clone(), 100)));
        assert_eq!(message(&mut d), Some((0x0e, done.to_vec(), 116)));
        assert_eq!(d.next_message(), None);
        assert!(!d.pending());
        assert_eq!(d.incomplete(), None);
    }

    #[test]
    fn a_short_header_is_incomplete_with_no_length() {
        let mut d = Defragmenter::new(MAX_HANDSHAKE_MESSAGE, &KNOWN);
        d.feed(0, &[0x0b, 0]);
        assert_eq!(d.next_message(), None);
        assert_eq!(d.incomplete(), Some((0x0b, 0, -2)));
        assert!(d.pending());
        d.clear();
        assert!(!d.pending());
    }

    #[test]
    fn an_oversized_header_in_one_record_is_dropped() {
        let mut d = Defragmenter::new(1000, &KNOWN);
        d.feed(0, &[0x0b, 0xff, 0xff, 0xff]);
        assert_eq!(
            d.next_message(),
            Some(Defragmented::Oversized {
                msg_type: 0x0b,
                length: 0xff_ffff,
                offset: 0,
                limit: 1000,
                client_random: None,
                server_suite: None,
            })
        );
        assert!(!d.pending());
    }

    #[test]
    fn an_oversized_message_is_skipped_as_it_comes() {
        let done = [0x0e, 0, 0, 0];
        let mut d = Defragmenter::new(1000, &KNOWN);
        let mut first = vec![0x0b, 0, 0x0b, 0xb8]; // claims 3000 bytes
        first.extend([0; 996]);
        d.feed(0, &first);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized { length: 3000, .. })
        ));
        d.feed(1000, &[0; 1500]);
        assert_eq!(d.next_message(), None);
        assert!(!d.pending());
        let mut last = vec![0; 504];
        last.extend(done);
        d.feed(2500, &last);
        assert_eq!(message(&mut d), Some((0x0e, done.to_vec(), 3004)));
    }

    #[test]
    fn an_oversized_client_hello_gives_its_random_when_held() {
        // A ClientHello claiming 600 bytes past a limit of 300: its random is bytes 6 to 38.
        let mut hello = vec![1, 0, 0x02, 0x58, 3, 3];
        hello.extend(0x40..0x60u8);
        hello.extend([0; 10]);
        let mut d = Defragmenter::new(300, &KNOWN);
        d.feed(0, &hello);
        let random: [u8; 32] = core::array::from_fn(|i| 0x40 + i as u8);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized { msg_type: 1, length: 600, client_random: Some(r), .. })
                if r == random
        ));
        // Its first records too short to hold the random: it is waited for.
        let mut d = Defragmenter::new(300, &KNOWN);
        d.feed(0, &hello[..20]);
        assert_eq!(d.next_message(), None);
        d.feed(20, &hello[20..37]);
        assert_eq!(d.next_message(), None);
        d.feed(37, &hello[37..]);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized { client_random: Some(r), offset: 0, .. }) if r == random
        ));
        // The connection ends first: an incomplete message, as any.
        let mut d = Defragmenter::new(300, &KNOWN);
        d.feed(0, &hello[..20]);
        assert_eq!(d.next_message(), None);
        assert_eq!(d.incomplete(), Some((1, 600, 16)));
        // Another type: no random.
        let mut d = Defragmenter::new(300, &KNOWN);
        hello[0] = 11;
        d.feed(0, &hello);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized {
                client_random: None,
                server_suite: None,
                ..
            })
        ));
    }

    #[test]
    fn an_oversized_server_hello_gives_its_suite_when_held() {
        // A ServerHello claiming 118 bytes past a limit of 100 (the demo's TLS 1.3 one):
        // legacy_version, random, a 32-byte session ID echo, TLS_AES_256_GCM_SHA384.
        let mut hello = vec![2, 0, 0, 118, 3, 3];
        hello.extend([0x40; 32]);
        hello.push(32);
        hello.extend([0x77; 32]);
        hello.extend([0x13, 0x02, 0]);
        let mut d = Defragmenter::new(100, &KNOWN);
        d.feed(0, &hello[..50]);
        assert_eq!(d.next_message(), None); // the echo is held, not the suite after it
        d.feed(50, &hello[50..]);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized {
                msg_type: 2,
                server_suite: Some(0x1302),
                ..
            })
        ));
        // A HelloRetryRequest's suite is no ServerHello's.
        hello.splice(6..38, HRR_RANDOM);
        let mut d = Defragmenter::new(100, &KNOWN);
        d.feed(0, &hello);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized {
                msg_type: 2,
                server_suite: None,
                ..
            })
        ));
    }

    #[test]
    fn a_garbage_header_gives_way_to_a_record_of_whole_messages() {
        let done = [0x0e, 0, 0, 0];
        let mut d = Defragmenter::new(1000, &KNOWN);
        let mut garbage = vec![0x38, 0x31, 0x0b, 0x30];
        garbage.extend([0; 20]);
        d.feed(0, &garbage);
        assert!(matches!(
            d.next_message(),
            Some(Defragmented::Oversized { .. })
        ));
        d.feed(24, &done);
        assert_eq!(message(&mut d), Some((0x0e, done.to_vec(), 24)));
        // Zeros (a HelloRequest look-alike), unknown types and short tails are not whole.
        assert!(!d.whole_messages(&[0, 0, 0, 0]));
        assert!(!d.whole_messages(&[0x63, 0, 0, 0]));
        assert!(!d.whole_messages(&[0x0e, 0, 0, 1]));
        assert!(!d.whole_messages(&[0x0e, 0, 0, 0, 1]));
        assert!(!d.whole_messages(&[]));
    }
}
