//! pcapng (draft-ietf-opsawg-pcapng): sections of blocks, each `type, length, body,
//! length`; interfaces described by IDBs carry each packet's link type and clock.

use super::{
    i64_at, u16_at, u32_at, Batch, Emit, Fill, Problem, Reader, Secrets, Step, MAX_PCAPNG_BLOCK,
};

pub const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const BLOCK_SHB: u32 = 0x0A0D_0D0A;
const BLOCK_IDB: u32 = 1;
const BLOCK_OPB: u32 = 2; // obsolete Packet Block
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;
const BLOCK_DSB: u32 = 0x0000_000A;
const BLOCK_NRB: u32 = 4;
const BLOCK_ISB: u32 = 5;
/// Block types a resynchronisation accepts as the start of a good block.
const KNOWN_BLOCKS: [u32; 10] = [
    BLOCK_SHB,
    BLOCK_IDB,
    BLOCK_OPB,
    BLOCK_SPB,
    4,
    5,
    BLOCK_EPB,
    BLOCK_DSB,
    0xBAD,
    0xBAD + 1,
];
const BLOCK_HEADER: usize = 12;
/// Interfaces kept per section. An IDB is 20 bytes, so without a bound a hostile file
/// would make the table as large as itself; real captures have a handful.
pub const MAX_INTERFACES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// ts_ns = ts * ts_mul / ts_div + ts_offset_ns; no divisor when it exceeds 2^128
    /// (every timestamp is then 0 ns past the offset).
    ts_mul: u128,
    ts_div: Option<u128>,
    ts_offset_ns: i128,
}

impl Interface {
    fn ts_ns(&self, ticks: u64) -> i128 {
        let scaled = u128::from(ticks).saturating_mul(self.ts_mul);
        let ns = self.ts_div.map_or(0, |div| scaled / div.max(1));
        i128::try_from(ns)
            .unwrap_or(i128::MAX)
            .saturating_add(self.ts_offset_ns)
    }
}

#[derive(Debug, Default)]
pub struct Section {
    big: bool,
    interfaces: Vec<Interface>,
    /// MAX_INTERFACES was passed in this section (said once).
    too_many_interfaces: bool,
    /// After a corrupt block: where it started and how far the search for the next good
    /// block has gone.
    resync: Option<(u64, u32)>,
}

impl Reader {
    /// One block (or one step of a resynchronisation after a corrupt block).
    pub(super) fn pcapng_step(&mut self, section: &mut Section, batch: &mut Batch) -> Step {
        if let Some((start, scanned)) = section.resync {
            return self.resync(section, start, scanned, batch);
        }
        match self.fill(BLOCK_HEADER, batch) {
            Fill::Wait => return Step::Wait,
            Fill::End => {
                if !self.ahead().is_empty() {
                    self.problem(batch, "capture ends inside a block header".to_owned(), None);
                }
                return Step::Done;
            }
            Fill::Ready => {}
        }
        let head = self.ahead();
        let btype = u32_at(head, 0, section.big).unwrap_or(0);
        if btype == BLOCK_SHB {
            match head.get(8..12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => section.big = false,
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => section.big = true,
                _ => {
                    let message = "section header block with an unknown byte-order magic";
                    self.problem(batch, message.to_owned(), None);
                    return Step::Done;
                }
            }
            section.interfaces.clear();
            section.too_many_interfaces = false;
        }
        let blen = u32_at(self.ahead(), 4, section.big).unwrap_or(0);
        if blen < 12 || blen % 4 != 0 || blen > MAX_PCAPNG_BLOCK {
            let message = format!("corrupt pcapng block (type 0x{btype:x}, length {blen})");
            return self.corrupt(section, message, batch);
        }
        let len = blen as usize;
        match self.fill(len, batch) {
            Fill::Wait => return Step::Wait,
            Fill::End => {
                let present = self.ahead().len();
                let name = block_name(btype);
                let message = format!(
                    "capture cut in the middle of {name} (block type 0x{btype:x}): needs \
                     {blen} bytes, {present} present"
                );
                // A packet block's problem is its frame's; any other block holds no frame.
                if matches!(btype, BLOCK_EPB | BLOCK_SPB | BLOCK_OPB) {
                    self.problem(batch, message, None);
                } else {
                    self.block_problem(batch, message);
                }
                return Step::Done;
            }
            Fill::Ready => {}
        }
        if u32_at(self.ahead(), len - 4, section.big) != Some(blen) {
            let message =
                format!("corrupt pcapng block (type 0x{btype:x}): trailing length differs");
            return self.corrupt(section, message, batch);
        }
        self.block(section, btype, len, batch);
        self.pos += len;
        Step::More
    }

    /// A problem inside a block that holds no frame (a Decryption Secrets Block...).
    fn block_problem(&self, batch: &mut Batch, message: String) {
        batch.problems.push(Problem {
            offset: self.offset(),
            message,
            frame: None,
        });
    }

    /// An Enhanced (or Obsolete) Packet Block's frame; `after`: where its problems are told.
    fn packet_block(
        &mut self,
        section: &Section,
        btype: u32,
        len: usize,
        after: Option<u64>,
        batch: &mut Batch,
    ) {
        let body = self.ahead().get(8..len - 4).unwrap_or_default();
        let big = section.big;
        let fields = if btype == BLOCK_EPB {
            (
                u32_at(body, 0, big),
                u32_at(body, 4, big),
                u32_at(body, 8, big),
            )
        } else {
            (
                u16_at(body, 0, big).map(u32::from),
                u32_at(body, 4, big),
                u32_at(body, 8, big),
            )
        };
        let (Some(iface), Some(hi), Some(lo), Some(caplen), Some(orig)) = (
            fields.0,
            fields.1,
            fields.2,
            u32_at(body, 12, big),
            u32_at(body, 16, big),
        ) else {
            let message = format!("packet block of {} bytes is too short for its fields", len);
            return self.problem(batch, message, after);
        };
        let Some(info) = section.interfaces.get(iface as usize).copied() else {
            let message = format!("packet block names interface {iface}, which was not described");
            return self.problem(batch, message, after);
        };
        // The frame starts after the 20 bytes of fields: it must end inside the body.
        if 20 + caplen as usize > body.len() {
            let message = format!("packet block claims {caplen} bytes, its block holds fewer");
            return self.problem(batch, message, after);
        }
        let ts = (u64::from(hi) << 32) | u64::from(lo);
        let at = Emit {
            ts_ns: info.ts_ns(ts),
            linktype: info.linktype,
        };
        self.emit(batch, at, 8 + 20, caplen as usize, orig);
    }

    /// A good block of `len` bytes at `pos`: its frame, interface or secrets.
    fn block(&mut self, section: &mut Section, btype: u32, len: usize, batch: &mut Batch) {
        // A block's problems are told at its end, where reading goes on.
        let after = Some(self.offset().saturating_add(len as u64));
        let body = self.ahead().get(8..len - 4).unwrap_or_default();
        let big = section.big;
        match btype {
            BLOCK_EPB | BLOCK_OPB => self.packet_block(section, btype, len, after, batch),
            BLOCK_SPB => {
                let Some(info) = section.interfaces.first().copied() else {
                    let message = "simple packet block before any interface description";
                    return self.problem(batch, message.to_owned(), after);
                };
                let Some(orig) = u32_at(body, 0, big) else {
                    let message = format!("simple packet block of {len} bytes holds no length");
                    return self.problem(batch, message, after);
                };
                let mut caplen = (orig as usize).min(body.len() - 4);
                if info.snaplen != 0 {
                    caplen = caplen.min(info.snaplen as usize);
                }
                // SPBs carry no timestamp; their length is the packet's on the wire.
                let at = Emit {
                    ts_ns: 0,
                    linktype: info.linktype,
                };
                self.emit(batch, at, 8 + 4, caplen, orig);
            }
            BLOCK_IDB => match parse_idb(body, big) {
                Some(_) if section.interfaces.len() >= MAX_INTERFACES => {
                    if !section.too_many_interfaces {
                        section.too_many_interfaces = true;
                        let message = format!(
                            "more than {MAX_INTERFACES} interface description blocks in one \
                             section: the later ones are ignored, and their packets with them"
                        );
                        self.problem(batch, message, after);
                    }
                }
                Some(info) => {
                    section.interfaces.push(info);
                    self.note_linktype(info.linktype);
                }
                None => {
                    let message =
                        format!("interface description block of {len} bytes is too short");
                    self.problem(batch, message, after);
                }
            },
            BLOCK_DSB => {
                let stype = u32_at(body, 0, big);
                let slen = u32_at(body, 4, big).map(|n| n as usize);
                match (stype, slen) {
                    (Some(secrets_type), Some(slen)) if 8 + slen <= body.len() => {
                        let data = body.get(8..8 + slen).unwrap_or_default().to_vec();
                        batch.secrets.push(Secrets { secrets_type, data });
                    }
                    _ => {
                        let message = "decryption secrets block claims more bytes than it holds";
                        self.problem(batch, message.to_owned(), after);
                    }
                }
            }
            // Any other block (statistics, name resolution, custom...) is skipped.
            _ => {}
        }
    }

    /// A block whose lengths cannot be trusted: told, then the next good block is sought.
    fn corrupt(&mut self, section: &mut Section, message: String, batch: &mut Batch) -> Step {
        self.problem(batch, message, None);
        let start = self.offset();
        self.pos += 4;
        self.resync(section, start, 0, batch)
    }

    /// Look ahead, 4 bytes at a time, for a block of a known type whose both lengths agree.
    fn resync(
        &mut self,
        section: &mut Section,
        start: u64,
        scanned: u32,
        batch: &mut Batch,
    ) -> Step {
        let mut scanned = scanned;
        section.resync = None;
        while scanned < MAX_PCAPNG_BLOCK {
            match self.fill(BLOCK_HEADER, batch) {
                Fill::Wait => {
                    section.resync = Some((start, scanned));
                    return Step::Wait;
                }
                Fill::End => return Step::Done,
                Fill::Ready => {}
            }
            let head = self.ahead();
            let btype = u32_at(head, 0, section.big).unwrap_or(0);
            let blen = u32_at(head, 4, section.big).unwrap_or(0);
            if KNOWN_BLOCKS.contains(&btype)
                && (12..=MAX_PCAPNG_BLOCK).contains(&blen)
                && blen % 4 == 0
            {
                let len = blen as usize;
                match self.fill(len, batch) {
                    Fill::Wait => {
                        section.resync = Some((start, scanned));
                        return Step::Wait;
                    }
                    Fill::End => {}
                    Fill::Ready => {
                        if u32_at(self.ahead(), len - 4, section.big) == Some(blen) {
                            let skipped = self.offset().saturating_sub(start);
                            let message =
                                format!("skipped {skipped} corrupt bytes; reading resumes here");
                            self.problem(batch, message, None);
                            return Step::More;
                        }
                    }
                }
            }
            self.pos += 4;
            scanned += 4;
        }
        Step::Done
    }
}

/// An Interface Description Block's link type, snap length and clock (if_tsresol,
/// if_tsoffset); None when its body is too short for the fixed fields.
fn parse_idb(body: &[u8], big: bool) -> Option<Interface> {
    let linktype = u32::from(u16_at(body, 0, big)?);
    let snaplen = u32_at(body, 4, big)?;
    let mut info = Interface {
        linktype,
        snaplen,
        ts_mul: 1000,
        ts_div: Some(1),
        ts_offset_ns: 0,
    };
    let mut pos = 8usize;
    while let (Some(code), Some(length)) = (u16_at(body, pos, big), u16_at(body, pos + 2, big)) {
        let length = usize::from(length);
        let value = body.get(pos + 4..).unwrap_or_default();
        let value = value.get(..length.min(value.len())).unwrap_or_default();
        pos += 4 + ((length + 3) & !3);
        match code {
            0 => break,
            9 => {
                if let Some(&res) = value.first() {
                    (info.ts_mul, info.ts_div) = resolution(res);
                }
            }
            14 if length == 8 => {
                if let Some(seconds) = i64_at(value, 0, big) {
                    info.ts_offset_ns = i128::from(seconds) * 1_000_000_000;
                }
            }
            _ => {}
        }
    }
    Some(info)
}

/// if_tsresol: ticks of 2^-n or 10^-n seconds, as (multiplier, divisor) to nanoseconds.
fn resolution(res: u8) -> (u128, Option<u128>) {
    let exp = u32::from(res & 0x7F);
    if res & 0x80 != 0 {
        (1_000_000_000, 1u128.checked_shl(exp))
    } else if exp <= 9 {
        (10u128.pow(9 - exp), Some(1))
    } else {
        (1, 10u128.checked_pow(exp - 9))
    }
}

/// A block type's name, as the pcapng specification gives it, for problems.
fn block_name(btype: u32) -> &'static str {
    match btype {
        BLOCK_SHB => "a Section Header Block",
        BLOCK_IDB => "an Interface Description Block",
        BLOCK_OPB => "a Packet Block",
        BLOCK_SPB => "a Simple Packet Block",
        BLOCK_EPB => "an Enhanced Packet Block",
        BLOCK_DSB => "a Decryption Secrets Block",
        BLOCK_NRB => "a Name Resolution Block",
        BLOCK_ISB => "an Interface Statistics Block",
        _ => "a block",
    }
}
