//! One direction's record layer: `feed(offset, bytes)` hands over the next bytes of the
//! stream and returns every event they complete; `gap` says bytes are missing; `finish`
//! says the stream ended.
//!
//!   RECORDS  walk 5-byte headers; a record's body is returned whole, except that
//!            application data bodies can be skipped without copying, reported by their
//!            header only (a later segment wholly inside such a body costs a subtraction).
//!            A record split across segments is gathered body alone, its header kept
//!            aside, in a buffer of the body's size: that buffer is the body told, not
//!            copied again (a bulk transfer's records nearly all span segments)
//!   RESYNC   after a hole or a header that cannot be one: look for the next plausible
//!            header (one whose record is followed by another header, or ends where the
//!            data ends) and go on from there
//!
//! Events name the stream offset of what they describe, so every finding can say which
//! byte it is about. Bad input is an event, never a panic.

use std::borrow::Cow;

use super::{header_at, u16_at, CT_APPLICATION_DATA, MAX_RECORD, RESYNC_WINDOW};

/// What the record layer tells, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordEvent {
    /// A whole record: header fields and body (still protected, if it was); `offset` is the
    /// stream offset of its 5-byte header.
    Record {
        content_type: u8,
        version: u16,
        offset: u64,
        body: Vec<u8>,
    },
    /// An application data record whose body was skipped, as asked.
    Skipped {
        content_type: u8,
        version: u16,
        offset: u64,
        length: usize,
    },
    /// Bytes where a header should be that cannot be one; the reader resynchronises.
    BadHeader { offset: u64, message: String },
    /// A plausible header found after a hole or a bad header; records follow from here.
    /// `skipped`: bytes passed over in this search window; `head`: the first bytes at
    /// `offset`, enough to tell which side sent them.
    Resynchronised {
        offset: u64,
        skipped: usize,
        head: Vec<u8>,
    },
    /// At the end of the stream: a record that never completed.
    Truncated {
        offset: u64,
        present: usize,
        needed: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Records,
    Resync,
}

/// One direction's record layer. See the module's documentation.
#[derive(Debug)]
pub struct RecordReader {
    skip_application_data: bool,
    mode: Mode,
    /// An incomplete record, or the resync window ...
    pend: Vec<u8>,
    /// ... whose byte 0 is at this stream offset.
    pend_offset: u64,
    /// Bytes `pend` must hold before its record can be framed (with `head`: header included).
    need: usize,
    /// The header of the record whose body alone `pend` gathers; None: `pend` holds what
    /// it holds from its first byte.
    head: Option<[u8; 5]>,
    /// Bytes of a skipped application data body still to come.
    skip: usize,
    eof: bool,
    /// Stream bytes taken as record data (a resync's skipped bytes are not).
    pub bytes: u64,
    /// Records framed.
    pub records: u64,
}

fn bad_header_message(data: &[u8], length: usize) -> String {
    let ctype = data.first().copied().unwrap_or(0);
    let b1 = data.get(1).copied().unwrap_or(0);
    let b2 = data.get(2).copied().unwrap_or(0);
    let what = if ctype & 0x80 != 0 && (b1 == 3 || b2 == 2) {
        "an SSLv2 record, which is not decoded".to_owned()
    } else if length > MAX_RECORD && (20..=24).contains(&ctype) {
        format!("a record header claiming {length} bytes, more than TLS allows ({MAX_RECORD})")
    } else {
        let head: String = data.iter().take(5).map(|b| format!("{b:02x}")).collect();
        format!("bytes that are not a TLS record header ({head})")
    };
    format!("found {what}; resynchronising")
}

/// How a walk over a chunk ended.
enum Walked {
    /// Every byte is taken (framed, skipped or held for the next feed).
    Done,
    /// A bad header switched the reader to resynchronising; the rest is in `pend`.
    Resync,
}

impl RecordReader {
    /// What the reader holds (`Limits.max_held`): the record being gathered.
    pub fn held(&self) -> usize {
        crate::held::buffer(&self.pend)
    }

    /// `resync_at`: start by looking for a header, from this stream offset (the stream is
    /// picked up after a hole).
    pub fn new(skip_application_data: bool, resync_at: Option<u64>) -> Self {
        RecordReader {
            skip_application_data,
            mode: if resync_at.is_some() {
                Mode::Resync
            } else {
                Mode::Records
            },
            pend: Vec::new(),
            pend_offset: resync_at.unwrap_or(0),
            need: 0,
            head: None,
            skip: 0,
            eof: false,
            bytes: 0,
            records: 0,
        }
    }

    pub fn resynchronising(&self) -> bool {
        self.mode == Mode::Resync
    }

    /// Bytes held: an incomplete record or the resync window.
    pub fn pending(&self) -> usize {
        self.pend.len() + self.head.map_or(0, |head| head.len())
    }

    /// Bytes of a skipped application data body still to come.
    pub fn skip(&self) -> usize {
        self.skip
    }

    /// Add the direction's next bytes, which start at stream `offset`; the events they
    /// complete are appended to `out`.
    pub fn feed(&mut self, offset: u64, data: &[u8], out: &mut Vec<RecordEvent>) {
        let n = data.len();
        if self.mode == Mode::Records && self.skip >= n {
            // Most segments of a bulk transfer end here.
            self.bytes += n as u64;
            self.skip -= n;
            return;
        }
        if self.mode == Mode::Resync {
            if self.pend.is_empty() {
                self.pend_offset = offset;
            }
            self.pend.extend_from_slice(data);
            self.run(Cow::Borrowed(&[]), 0, out);
            return;
        }
        self.bytes += n as u64;
        let (mut data, mut offset) = (data, offset);
        if self.skip > 0 {
            data = data.get(self.skip..).unwrap_or_default();
            offset += self.skip as u64;
            self.skip = 0;
        }
        if let Some(head) = self.head {
            let want = self.need.saturating_sub(head.len() + self.pend.len());
            let Some((last, rest)) = data.split_at_checked(want) else {
                self.gather(data);
                return;
            };
            self.gather(last);
            self.head = None;
            self.records += 1;
            out.push(RecordEvent::Record {
                content_type: head[0],
                version: u16::from(head[1]) << 8 | u16::from(head[2]),
                offset: self.pend_offset,
                body: std::mem::take(&mut self.pend),
            });
            (data, offset) = (rest, offset + want as u64);
        }
        if self.pend.is_empty() {
            self.run(Cow::Borrowed(data), offset, out);
        } else {
            self.pend.extend_from_slice(data);
            if self.pend.len() < self.need {
                return;
            }
            let held = std::mem::take(&mut self.pend);
            let at = self.pend_offset;
            self.run(Cow::Owned(held), at, out);
        }
    }

    /// `length` bytes at `offset` are missing. True when the hole falls inside a skipped
    /// application data body (nothing is lost); otherwise the reader resynchronises after
    /// the hole.
    pub fn gap(&mut self, offset: u64, length: u64) -> bool {
        if self.mode == Mode::Records
            && self.skip as u64 >= length
            && self.pend.is_empty()
            && self.head.is_none()
        {
            self.skip -= length as usize; // fits: not more than `skip`
            return true;
        }
        self.mode = Mode::Resync;
        self.pend.clear();
        self.head = None;
        self.skip = 0;
        self.pend_offset = offset.saturating_add(length);
        false
    }

    /// The stream ended: what is left comes out as a last try or a `Truncated`.
    pub fn finish(&mut self, out: &mut Vec<RecordEvent>) {
        self.eof = true;
        self.run(Cow::Borrowed(&[]), 0, out);
    }

    /// Walk `data` (at stream offset `base`), and the resync window whenever a bad header
    /// or a hole asks for it, until every byte is taken or held.
    fn run(&mut self, mut data: Cow<'_, [u8]>, mut base: u64, out: &mut Vec<RecordEvent>) {
        loop {
            if self.mode == Mode::Resync {
                match self.resync(out) {
                    Some((window, at, start)) => {
                        data = Cow::Owned(window.get(start..).unwrap_or_default().to_vec());
                        base = at;
                    }
                    None => return,
                }
            }
            match self.walk(&data, base, out) {
                Walked::Done => break,
                Walked::Resync => data = Cow::Borrowed(&[]),
            }
        }
        if self.eof && self.pending() > 0 {
            out.push(RecordEvent::Truncated {
                offset: self.pend_offset,
                present: self.pending(),
                needed: self.need,
            });
            self.pend.clear();
            self.head = None;
        }
    }

    fn walk(&mut self, data: &[u8], base: u64, out: &mut Vec<RecordEvent>) -> Walked {
        let n = data.len();
        let mut pos = 0;
        while pos < n {
            let rest = data.get(pos..).unwrap_or_default();
            let (ctype, major, minor, length) = match rest {
                [c, major, minor, hi, lo, ..] => {
                    (*c, *major, *minor, usize::from(*hi) << 8 | usize::from(*lo))
                }
                _ => {
                    self.hold(rest, base + pos as u64, 5);
                    return Walked::Done;
                }
            };
            let offset = base + pos as u64;
            if !(20..=24).contains(&ctype) || major != 3 || length > MAX_RECORD {
                out.push(RecordEvent::BadHeader {
                    offset,
                    message: bad_header_message(rest, length),
                });
                self.mode = Mode::Resync;
                self.pend_offset = offset + 1;
                self.pend
                    .extend_from_slice(rest.get(1..).unwrap_or_default());
                return Walked::Resync;
            }
            let version = u16::from(major) << 8 | u16::from(minor);
            if ctype == CT_APPLICATION_DATA && self.skip_application_data {
                self.records += 1;
                out.push(RecordEvent::Skipped {
                    content_type: ctype,
                    version,
                    offset,
                    length,
                });
                let body = rest.len() - 5;
                if body >= length {
                    pos += 5 + length;
                    continue;
                }
                self.skip = length - body;
                return Walked::Done;
            }
            let Some(body) = rest.get(5..5 + length) else {
                self.hold(rest, offset, 5 + length);
                return Walked::Done;
            };
            self.records += 1;
            out.push(RecordEvent::Record {
                content_type: ctype,
                version,
                offset,
                body: body.to_vec(),
            });
            pos += 5 + length;
        }
        Walked::Done
    }

    /// The room of the buffer holding what is not told yet (tests: what a flow holds).
    #[cfg(test)]
    pub(crate) fn held_room(&self) -> usize {
        self.pend.capacity()
    }

    fn hold(&mut self, rest: &[u8], offset: u64, need: usize) {
        self.pend_offset = offset;
        self.need = need;
        // A whole header: the body is gathered alone, in a buffer of its size (bounded by
        // the header's check: MAX_RECORD), to be told without another copy.
        if let (true, Some((head, body))) = (self.pend.is_empty(), rest.split_first_chunk()) {
            if need > head.len() {
                self.head = Some(*head);
                self.gather(body);
                return;
            }
        }
        self.pend.extend_from_slice(rest);
    }

    /// Bytes of the body being gathered (its header held aside): the buffer doubles with
    /// the bytes that came, as a Vec would, but never past the body's size, so that it is
    /// told without a copy. What the header claims is not reserved ahead: a header alone
    /// must not hold a record's worth in each of thousands of flows.
    fn gather(&mut self, bytes: &[u8]) {
        let len = self.pend.len() + bytes.len();
        if len > self.pend.capacity() {
            let body = self.need.saturating_sub(5).max(len);
            let room = len.max(2 * self.pend.capacity()).min(body);
            self.pend.reserve_exact(room - self.pend.len());
        }
        self.pend.extend_from_slice(bytes);
    }

    /// Look for a plausible header in the window: the window, the stream offset of its
    /// header and the header's index in it, or None (the window keeps what may still hold
    /// one).
    fn resync(&mut self, out: &mut Vec<RecordEvent>) -> Option<(Vec<u8>, u64, usize)> {
        let window = std::mem::take(&mut self.pend);
        let len = window.len();
        let mut pos = 0;
        let found = loop {
            let Some(i) = (pos..len).find(|&i| header_at(&window, i)) else {
                let keep = len.saturating_sub(4);
                self.pend_offset += keep as u64;
                self.pend = window.get(keep..).unwrap_or_default().to_vec();
                return None;
            };
            let Some(length) = u16_at(&window, i + 3) else {
                self.pend_offset += i as u64;
                self.pend = window.get(i..).unwrap_or_default().to_vec();
                return None;
            };
            if length > 0 && length <= MAX_RECORD {
                let next = i + 5 + length;
                if next + 3 <= len {
                    if header_at(&window, next) {
                        break i;
                    }
                } else if next == len || (self.eof && next <= len) {
                    break i; // the record ends exactly where the data does
                } else if !self.eof {
                    if len >= RESYNC_WINDOW {
                        break i; // enough bytes seen: take it
                    }
                    // Wait for the bytes after this record.
                    self.pend_offset += i as u64;
                    self.pend = window.get(i..).unwrap_or_default().to_vec();
                    return None;
                }
                // At the end of the stream, a record that does not fit is no record.
            }
            pos = i + 1;
        };
        let base = self.pend_offset;
        self.mode = Mode::Records;
        self.bytes += (len - found) as u64;
        let head = window.get(found..(found + 6).min(len)).unwrap_or_default();
        out.push(RecordEvent::Resynchronised {
            offset: base + found as u64,
            skipped: found,
            head: head.to_vec(),
        });
        Some((window, base + found as u64, found))
    }
}
