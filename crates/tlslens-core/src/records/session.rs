//! One connection's two directions, each through the modes that decide what its bytes are,
//! sans-IO: stream events in (data, gap, conflict), record-level events out.
//!
//!   DETECT     first bytes: a TLS record header, an SSLv2 ClientHello, or plaintext?
//!   PLAINTEXT  a STARTTLS-style prelude: its bytes are told as chunks, the TLS start is
//!              looked for (bounded by [`MAX_PRELUDE_SCAN`])
//!   RECORDS    the record layer ([`RecordReader`]) frames the records
//!   SSLV2      after an SSLv2 SERVER-HELLO: SSL 2.0's own 2- or 3-byte headers
//!   IGNORE     not TLS (or given up): bytes are only counted
//!
//! The first TLS bytes decide which side is the client (a SYN says so first, if seen). The
//! capture path, `connect` and `scan` all read a connection through this one machine; what
//! each record carries is the content layer's ([`crate::content`]).

use super::detect::{self, Looks};
use super::{RecordEvent, RecordReader};
use crate::flows::tcp::{GiveUp, MAX_GIVEN_UP_KEPT};

/// Plaintext bytes searched for a TLS start, per side, before the side is given up.
pub const MAX_PRELUDE_SCAN: u64 = 1 << 20;
/// Prelude bytes kept (and searched for STARTTLS words), as Python's `MAX_PRELUDE_KEPT`.
pub const MAX_PRELUDE_KEPT: usize = 4096;
/// The longest line of a plaintext answer quoted in its finding.
const ANSWER_LINE: usize = 120;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Detect,
    Plaintext,
    Records,
    Ignore,
    Sslv2,
}

/// What the session tells, in stream order; `side` is 0 (TCP initiator) or 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The connection's first TLS bytes, from `side`: `client_side` is now decided.
    Started { side: u8, client_side: u8 },
    /// Plaintext before TLS; `from_client` as far as is known; `protocol`: the STARTTLS
    /// protocol the prelude kept so far names, once it names one.
    Prelude {
        side: u8,
        from_client: bool,
        offset: u64,
        data: Vec<u8>,
        protocol: Option<&'static str>,
    },
    /// What the record layer said about `side`.
    Record { side: u8, event: RecordEvent },
    /// An SSLv2-compatible ClientHello record (header included) at `offset`.
    Sslv2ClientHello {
        side: u8,
        offset: u64,
        record: Vec<u8>,
    },
    /// An SSLv2 SERVER-HELLO follows: both directions speak SSL 2.0 records from here.
    Sslv2ServerHello { side: u8 },
    /// One SSL 2.0 record's body; `size`: the record with its header.
    Sslv2Record {
        side: u8,
        offset: u64,
        size: usize,
        body: Vec<u8>,
    },
    /// Bytes missing; `lost`: records were being read and the hole was not inside a skipped
    /// application data body (the reader resynchronises); `given_up`: tlslens stopped
    /// waiting for them at a bound (flows/tcp.rs `GiveUp`), the capture may still hold them.
    Gap {
        side: u8,
        offset: u64,
        length: u64,
        lost: bool,
        given_up: Option<GiveUp>,
    },
    /// The first conflicting copy of TCP data on `side` (later ones are only counted).
    Conflict { side: u8, offset: u64, length: u64 },
    /// Bytes of `side` tlslens gave up on at a bound (a `Gap` told them) came after all.
    Late {
        side: u8,
        offset: u64,
        length: u64,
        given_up: GiveUp,
    },
    /// The other end opened TLS and this one answered in text: its first line (at most
    /// 120 bytes); the side is ignored from here.
    PlaintextAnswer {
        side: u8,
        offset: u64,
        line: Vec<u8>,
    },
    /// At the end, per side of a TLS connection: the record layer's totals and the
    /// conflicting TCP copies seen.
    End {
        side: u8,
        bytes: u64,
        records: u64,
        conflicts: u64,
    },
}

#[derive(Debug)]
struct Side {
    mode: Mode,
    reader: RecordReader,
    /// First bytes until there are enough to decide; then SSL 2.0's record buffer.
    buf: Vec<u8>,
    buf_offset: u64,
    prelude_bytes: u64,
    prelude_carry: Vec<u8>,
    conflicts: u64,
    /// Bytes counted but not given to the record layer (ignored after TLS started).
    counted: u64,
    /// Holes given up at a bound inside an application data body the reader skips,
    /// (offset, end): their bytes come late unread either way (at most
    /// `MAX_GIVEN_UP_KEPT`, as the reassembler's).
    skipped_given_up: Vec<(u64, u64)>,
}

impl Side {
    fn new(skip_application_data: bool) -> Side {
        Side {
            mode: Mode::Detect,
            reader: RecordReader::new(skip_application_data, None),
            buf: Vec::new(),
            buf_offset: 0,
            prelude_bytes: 0,
            prelude_carry: Vec::new(),
            conflicts: 0,
            counted: 0,
            skipped_given_up: Vec::new(),
        }
    }
}

/// One TCP connection's mode machine. See the module's documentation.
#[derive(Debug)]
pub struct Session {
    sides: [Side; 2],
    client_side: Option<u8>,
    mid_stream: bool,
    ports: [u16; 2],
    started: bool,
    ignored: bool,
    /// The prelude kept, to find STARTTLS words in.
    prelude_kept: Vec<u8>,
    protocol: Option<&'static str>,
}

/// Do the first bytes read as a line of text (HTTP, SMTP, an error message)?
fn is_text(data: &[u8]) -> bool {
    let head = data.get(..64).unwrap_or(data);
    head.len() >= 4
        && head
            .iter()
            .all(|&b| (32..127).contains(&b) || matches!(b, 9 | 10 | 13))
}

fn first_line(data: &[u8]) -> Vec<u8> {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let end = line.iter().rposition(|&b| b != b'\r').map_or(0, |i| i + 1);
    let line = line.get(..end).unwrap_or_default();
    line.get(..ANSWER_LINE).unwrap_or(line).to_vec()
}

impl Session {
    /// What the session holds, boxed (`Limits.max_held`): itself, each side's record being
    /// gathered and first bytes, the prelude kept.
    pub fn held(&self) -> usize {
        use crate::held::{boxed, buffer};
        let side = |s: &Side| s.reader.held() + buffer(&s.buf) + buffer(&s.prelude_carry);
        boxed::<Session>() + buffer(&self.prelude_kept) + self.sides.iter().map(side).sum::<usize>()
    }

    /// `client_side`: known from a SYN; `ports`: side 0's and side 1's, to guess it
    /// otherwise; `mid_stream`: the capture began after the connection did.
    pub fn new(
        client_side: Option<u8>,
        mid_stream: bool,
        ports: [u16; 2],
        skip_application_data: bool,
    ) -> Session {
        Session {
            sides: [
                Side::new(skip_application_data),
                Side::new(skip_application_data),
            ],
            client_side,
            mid_stream,
            ports,
            started: false,
            ignored: false,
            prelude_kept: Vec::new(),
            protocol: None,
        }
    }

    /// Whether TLS was seen (the connection is one to report).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Not TLS: the flow can be let go.
    pub fn ignored(&self) -> bool {
        self.ignored
    }

    pub fn client_side(&self) -> Option<u8> {
        self.client_side
    }

    /// Whether more data on `side` could still make the session give its flow up: only
    /// while that side is searched for a TLS start.
    pub fn may_give_up(&self, side: u8) -> bool {
        !self.started && matches!(self.side(side).mode, Mode::Detect | Mode::Plaintext)
    }

    /// Stop reading (after a bug elsewhere): bytes are only counted from now on.
    pub fn abandon(&mut self) {
        for side in &mut self.sides {
            side.mode = Mode::Ignore;
        }
        self.ignored = !self.started;
    }

    fn side(&self, side: u8) -> &Side {
        &self.sides[usize::from(side & 1)]
    }

    fn side_mut(&mut self, side: u8) -> &mut Side {
        &mut self.sides[usize::from(side & 1)]
    }

    /// The next bytes of `side`, at stream `offset`.
    pub fn data(&mut self, side: u8, offset: u64, data: &[u8], out: &mut Vec<SessionEvent>) {
        let side = side & 1;
        match self.side(side).mode {
            Mode::Records => self.records(side, data, offset, out),
            Mode::Ignore => {
                if self.started {
                    self.side_mut(side).counted += data.len() as u64;
                }
            }
            Mode::Detect => self.detect(side, data, offset, out),
            Mode::Sslv2 => self.sslv2(side, data, offset, out),
            Mode::Plaintext => self.plaintext(side, data, offset, out),
        }
    }

    /// `length` bytes of `side` at `offset` are missing from the capture (`given_up`: or
    /// tlslens stopped waiting for them).
    pub fn gap(
        &mut self,
        side: u8,
        (offset, length): (u64, u64),
        given_up: Option<GiveUp>,
        out: &mut Vec<SessionEvent>,
    ) {
        let side = side & 1;
        let mid_stream = self.mid_stream;
        let st = self.side_mut(side);
        let mut lost = false;
        match st.mode {
            Mode::Records => {
                lost = !st.reader.gap(offset, length);
                let kept = st.skipped_given_up.len() < MAX_GIVEN_UP_KEPT;
                if !lost && given_up.is_some() && kept {
                    st.skipped_given_up
                        .push((offset, offset.saturating_add(length)));
                }
            }
            Mode::Detect if !mid_stream => {
                st.buf.clear();
                st.reader.gap(offset, length);
                st.mode = Mode::Records;
            }
            _ => {}
        }
        out.push(SessionEvent::Gap {
            side,
            offset,
            length,
            lost,
            given_up,
        });
    }

    /// Bytes of `side` given up on at a bound (`length` at `offset`) came after all: told,
    /// unless the hole was inside an application data body the reader skips.
    pub fn late(
        &mut self,
        side: u8,
        (offset, length): (u64, u64),
        given_up: GiveUp,
        out: &mut Vec<SessionEvent>,
    ) {
        // Bytes of a skipped body: tlslens would not have read them had it waited.
        let end = offset.saturating_add(length);
        let skipped = &self.side_mut(side).skipped_given_up;
        if skipped
            .iter()
            .any(|&(from, to)| from <= offset && end <= to)
        {
            return;
        }
        out.push(SessionEvent::Late {
            side: side & 1,
            offset,
            length,
            given_up,
        });
    }

    /// A later TCP copy of `side`'s bytes differs from the first (which is kept).
    pub fn conflict(&mut self, side: u8, offset: u64, length: u64, out: &mut Vec<SessionEvent>) {
        let side = side & 1;
        let st = self.side_mut(side);
        st.conflicts += 1;
        if st.conflicts == 1 {
            out.push(SessionEvent::Conflict {
                side,
                offset,
                length,
            });
        }
    }

    /// The connection ended: what the record layers still held, and each side's totals.
    pub fn finish(&mut self, out: &mut Vec<SessionEvent>) {
        if !self.started {
            return;
        }
        for side in 0..2u8 {
            let st = self.side_mut(side);
            if st.mode == Mode::Records {
                let mut events = Vec::new();
                st.reader.finish(&mut events);
                out.extend(
                    events
                        .into_iter()
                        .map(|event| SessionEvent::Record { side, event }),
                );
            }
            let st = self.side(side);
            out.push(SessionEvent::End {
                side,
                bytes: st.reader.bytes + st.counted,
                records: st.reader.records,
                conflicts: st.conflicts,
            });
        }
    }

    /// The first TLS bytes of the connection decide who the client is.
    fn start(&mut self, side: u8, looks: Looks, out: &mut Vec<SessionEvent>) {
        let client_side = *self.client_side.get_or_insert_with(|| match looks {
            Looks::ClientHello => side,
            Looks::ServerHello => 1 - side,
            Looks::Other => detect::guess_client_side(self.ports[0], self.ports[1]),
        });
        if !self.started {
            self.started = true;
            out.push(SessionEvent::Started { side, client_side });
        }
    }

    fn detect(&mut self, side: u8, data: &[u8], offset: u64, out: &mut Vec<SessionEvent>) {
        let st = self.side_mut(side);
        let (data, offset): (Vec<u8>, u64) = if st.buf.is_empty() {
            (data.to_vec(), offset)
        } else {
            st.buf.extend_from_slice(data);
            (std::mem::take(&mut st.buf), st.buf_offset)
        };
        if data.len() < 6 {
            st.buf = data;
            st.buf_offset = offset;
            return;
        }
        if let Some(length) = detect::sslv2_client_hello_length(&data) {
            if data.len() < length {
                st.buf = data;
                st.buf_offset = offset;
                return;
            }
            self.start(side, Looks::ClientHello, out);
            self.side_mut(side).mode = Mode::Records;
            let (hello, rest) = data.split_at(length);
            out.push(SessionEvent::Sslv2ClientHello {
                side,
                offset,
                record: hello.to_vec(),
            });
            if !rest.is_empty() {
                self.records(side, rest, offset + length as u64, out);
            }
            return;
        }
        self.detected(side, &data, offset, out);
    }

    /// Six bytes or more of a side's start that are not an SSLv2 ClientHello.
    fn detected(&mut self, side: u8, data: &[u8], offset: u64, out: &mut Vec<SessionEvent>) {
        if self.started && detect::is_sslv2_server_hello(data) {
            out.push(SessionEvent::Sslv2ServerHello { side });
            for st in &mut self.sides {
                st.mode = Mode::Sslv2;
            }
            self.sslv2(side, data, offset, out);
            return;
        }
        if self.started && matches!(data, [20..=24, 3, ..]) {
            // The other side already speaks TLS: a broken header here is reported, not
            // mistaken for a plaintext prelude.
            self.records(side, data, offset, out);
            return;
        }
        let mid_stream = self.mid_stream;
        if detect::plausible_start(data, mid_stream)
            || (!mid_stream && detect::oversized_start(data))
        {
            self.start(side, detect::looks_like(data, 0), out);
            self.records(side, data, offset, out);
            return;
        }
        if self.started && !mid_stream && is_text(data) {
            // The other end opened TLS and this one answers in words: a plain-text server
            // (HTTP on the HTTPS port, a proxy's error page) that never spoke TLS.
            out.push(SessionEvent::PlaintextAnswer {
                side,
                offset,
                line: first_line(data),
            });
            let st = self.side_mut(side);
            st.counted += data.len() as u64;
            st.mode = Mode::Ignore;
            return;
        }
        self.side_mut(side).mode = Mode::Plaintext;
        self.plaintext(side, data, offset, out);
    }

    fn plaintext(&mut self, side: u8, data: &[u8], offset: u64, out: &mut Vec<SessionEvent>) {
        let from_client = self.client_side.unwrap_or(0) == side;
        let st = self.side_mut(side);
        let carry = std::mem::take(&mut st.prelude_carry);
        let mut window = carry;
        let kept = window.len();
        window.extend_from_slice(data);
        let found = detect::find_tls_start(&window, from_client);
        // Only the new bytes are prelude; the carry (kept to find a header split across
        // segments) was told with the previous chunk.
        let cut = found.map_or(window.len(), |(begin, _)| begin).max(kept);
        self.prelude(
            side,
            from_client,
            window.get(kept..cut).unwrap_or_default(),
            offset,
            out,
        );
        if let Some((begin, looks)) = found {
            self.start(side, looks, out);
            let at = (offset + begin as u64).saturating_sub(kept as u64);
            self.records(side, window.get(begin..).unwrap_or_default(), at, out);
            return;
        }
        let st = self.side_mut(side);
        st.prelude_carry = window
            .get(window.len().saturating_sub(5)..)
            .unwrap_or_default()
            .to_vec();
        if st.prelude_bytes > MAX_PRELUDE_SCAN {
            st.mode = Mode::Ignore;
            let undecided = |st: &Side| matches!(st.mode, Mode::Ignore | Mode::Plaintext);
            if !self.started && self.sides.iter().all(undecided) {
                self.ignored = self.sides.iter().all(|st| st.mode == Mode::Ignore)
                    || self.sides[0].prelude_bytes + self.sides[1].prelude_bytes
                        > 2 * MAX_PRELUDE_SCAN;
            }
        }
    }

    fn prelude(
        &mut self,
        side: u8,
        from_client: bool,
        data: &[u8],
        offset: u64,
        out: &mut Vec<SessionEvent>,
    ) {
        if data.is_empty() {
            return;
        }
        self.side_mut(side).prelude_bytes += data.len() as u64;
        let room = MAX_PRELUDE_KEPT.saturating_sub(self.prelude_kept.len());
        if self.protocol.is_none() && room > 0 {
            self.prelude_kept
                .extend_from_slice(data.get(..room).unwrap_or(data));
            self.protocol = detect::starttls_protocol(&self.prelude_kept);
        }
        out.push(SessionEvent::Prelude {
            side,
            from_client,
            offset,
            data: data.to_vec(),
            protocol: self.protocol,
        });
    }

    /// SSL 2.0 records (2- or 3-byte headers), each told whole.
    fn sslv2(&mut self, side: u8, data: &[u8], offset: u64, out: &mut Vec<SessionEvent>) {
        let st = self.side_mut(side);
        if st.buf.is_empty() {
            st.buf_offset = offset;
        }
        st.buf.extend_from_slice(data);
        while let Some((header, length)) = sslv2_header(&st.buf) {
            let size = header + length;
            if st.buf.len() < size {
                return;
            }
            let body = st.buf.get(header..size).unwrap_or_default().to_vec();
            st.buf.drain(..size);
            let at = st.buf_offset;
            st.buf_offset += size as u64;
            out.push(SessionEvent::Sslv2Record {
                side,
                offset: at,
                size,
                body,
            });
        }
    }

    /// Hand the rest of this direction to the record layer.
    fn records(&mut self, side: u8, data: &[u8], offset: u64, out: &mut Vec<SessionEvent>) {
        let mut events = Vec::new();
        let st = self.side_mut(side);
        st.mode = Mode::Records;
        st.reader.feed(offset, data, &mut events);
        for event in events {
            if let RecordEvent::Resynchronised { head, .. } = &event {
                if !self.started {
                    // The first TLS bytes came after a hole.
                    let looks = detect::looks_like(head, 0);
                    self.start(side, looks, out);
                }
            }
            out.push(SessionEvent::Record { side, event });
        }
    }
}

/// (header length, body length) of the SSL 2.0 record at the start of `data`; None while
/// the header is incomplete. A 3-byte header carries a padding count in its third byte.
fn sslv2_header(data: &[u8]) -> Option<(usize, usize)> {
    match data {
        [b0, b1, ..] if b0 & 0x80 != 0 => Some((2, usize::from(b0 & 0x7F) << 8 | usize::from(*b1))),
        [b0, b1, _, ..] => Some((3, usize::from(b0 & 0x3F) << 8 | usize::from(*b1))),
        _ => None,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
