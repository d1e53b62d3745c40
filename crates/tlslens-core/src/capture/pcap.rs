//! The classic pcap format (pcap-savefile(5)): a 24-byte header, then 16-byte record
//! headers each followed by the frame they announce.

use super::{u32_at, Batch, Emit, Fill, Reader, Step, MAX_FRAME};

/// The four magics: (bytes as they start the file, big-endian, nanoseconds per tick).
const MAGICS: [([u8; 4], bool, u64); 4] = [
    ([0xd4, 0xc3, 0xb2, 0xa1], false, 1000), // microseconds, little-endian
    ([0xa1, 0xb2, 0xc3, 0xd4], true, 1000),
    ([0x4d, 0x3c, 0xb2, 0xa1], false, 1), // nanoseconds
    ([0xa1, 0xb2, 0x3c, 0x4d], true, 1),
];
const RECORD_HEADER: usize = 16;

pub fn is_magic(bytes: &[u8]) -> bool {
    MAGICS.iter().any(|(magic, _, _)| bytes == magic)
}

#[derive(Debug, Clone, Copy)]
pub struct Header {
    big: bool,
    tick_ns: u64,
    pub linktype: u32,
    limit: u32,
}

impl Header {
    /// The file header from its first 24 bytes (the caller checked the magic is one of ours).
    pub fn parse(bytes: &[u8]) -> Self {
        let magic = bytes.get(..4).unwrap_or_default();
        let (big, tick_ns) = MAGICS
            .iter()
            .find(|(m, _, _)| magic == m)
            .map_or((false, 1000), |&(_, big, tick)| (big, tick));
        let snaplen = u32_at(bytes, 16, big).unwrap_or(0);
        // The upper bits of the link-type field hold FCS flags (pcap-savefile(5)).
        let linktype = u32_at(bytes, 20, big).unwrap_or(0) & 0x0FFF_FFFF;
        let limit = MAX_FRAME.max(if snaplen < (1 << 24) { snaplen } else { 0 });
        Self {
            big,
            tick_ns,
            linktype,
            limit,
        }
    }
}

impl Reader {
    /// One packet record: a frame, a problem that ends the walk, or a wait for more bytes.
    pub(super) fn pcap_record(&mut self, header: &Header, batch: &mut Batch) -> Step {
        match self.fill(RECORD_HEADER, batch) {
            Fill::Wait => return Step::Wait,
            Fill::End => {
                let left = self.ahead().len();
                if left > 0 {
                    let message =
                        format!("capture ends inside a packet record header ({left} of 16 bytes)");
                    self.problem(batch, message, None);
                }
                return Step::Done;
            }
            Fill::Ready => {}
        }
        let record = self.ahead();
        let sec = u32_at(record, 0, header.big).unwrap_or(0);
        let frac = u32_at(record, 4, header.big).unwrap_or(0);
        let incl = u32_at(record, 8, header.big).unwrap_or(0);
        let orig = u32_at(record, 12, header.big).unwrap_or(0);
        if incl > header.limit {
            let message =
                format!("packet record claims {incl} bytes (corrupt header); reading stops");
            self.problem(batch, message, None);
            return Step::Done;
        }
        let len = incl as usize; // at most 2^24 (the limit)
        match self.fill(RECORD_HEADER + len, batch) {
            Fill::Wait => Step::Wait,
            Fill::End => {
                let present = self.ahead().len().saturating_sub(RECORD_HEADER);
                let message = format!(
                    "capture cut in the middle of a packet: record needs {incl} bytes, \
                     {present} present"
                );
                self.problem(batch, message, None);
                Step::Done
            }
            Fill::Ready => {
                let ts =
                    i128::from(sec) * 1_000_000_000 + i128::from(frac) * i128::from(header.tick_ns);
                let at = Emit {
                    ts_ns: ts,
                    linktype: header.linktype,
                };
                self.emit(batch, at, RECORD_HEADER, len, orig);
                self.pos += RECORD_HEADER + len;
                Step::More
            }
        }
    }
}
