//! Read pcap and pcapng captures, plain or gzip'd, as batches of frames: sans-IO.
//!
//! Strategy: bytes go in as they arrive (`feed`, then `finish`) and `poll` walks what is
//! there, one record or block at a time, handing out a [`Batch`]: the frames' bytes in one
//! buffer with their timestamps, link types and numbers, the problems met and the pcapng
//! Decryption Secrets Blocks read. Memory is bounded by the chunk fed and the largest
//! frame or block, never by a length field: a length is trusted only once the bytes it
//! covers are in the buffer, and past MAX_FRAME / MAX_PCAPNG_BLOCK it is a problem.
//! The walk is our own rather than `pcap-parser`'s: that crate stops on a corrupt block
//! where we resynchronise, has no bound on a block's length, and its streaming reader
//! wants a whole block in its buffer before it tells what went wrong, while our findings
//! name the offset, the frame and what each length claimed.

mod gzip;
mod pcap;
mod pcapng;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_snap;

use std::collections::BTreeSet;

/// A count as Python's `f"{n:,}"` writes it (findings here and in the flows' content).
pub use gzip::thousands;
use gzip::Inflater;

/// No link layer carries frames larger than this; anything bigger is a corrupt header.
pub const MAX_FRAME: u32 = 1 << 18;
pub const MAX_PCAPNG_BLOCK: u32 = 1 << 24;
/// A gzip'd capture may expand this many times its compressed size (and always to
/// GZIP_FLOOR bytes); past that it is read no further, as a decompression bomb would be.
pub const GZIP_MAX_RATIO: u64 = 50;
pub const GZIP_FLOOR: u64 = 32 << 20;
/// A batch is handed out once its frames hold this many bytes ...
pub const BATCH_BYTES: usize = 1 << 20;
/// Room reserved past `BATCH_BYTES` for the frame that crosses it (a full snap length).
const BATCH_SLACK: usize = 256 << 10;
/// ... or once it holds this many frames (64 bytes each beside their data): a gzip'd
/// capture of empty records made batches of millions.
pub const BATCH_FRAMES: usize = 16 << 10;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Distinct link types listed for a capture (one per pcap file, a few per pcapng).
pub const MAX_LINKTYPES: usize = 64;

/// Something wrong in the capture: where (byte offset in the decompressed stream), what,
/// and the number of the frame that was being read (None: in a block that holds none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: u64,
    pub message: String,
    pub frame: Option<u64>,
}

/// A pcapng Decryption Secrets Block (type 0x544c534b is a TLS key log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub secrets_type: u32,
    pub data: Vec<u8>,
}

/// One frame of a batch: its bytes are `Batch::data[start..start + len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Nanoseconds since the epoch (wider than 64 bits: pcapng allows any resolution).
    pub ts_ns: i128,
    pub linktype: u32,
    /// 1 for the capture's first frame.
    pub number: u64,
    pub start: usize,
    pub len: usize,
    /// The frame's length on the wire: more than `len` when the capture's snap length cut
    /// it (never less: a record claiming less than it holds is read as whole).
    pub orig_len: usize,
}

/// When and on what link a frame was captured (what `emit` stamps it with).
#[derive(Debug, Clone, Copy)]
struct Emit {
    ts_ns: i128,
    linktype: u32,
}

/// What one `poll` read, in capture order within each list.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: Vec<u8>,
    pub frames: Vec<Frame>,
    pub problems: Vec<Problem>,
    pub secrets: Vec<Secrets>,
}

impl Batch {
    pub fn bytes(&self, frame: &Frame) -> &[u8] {
        let end = frame.start.saturating_add(frame.len);
        self.data.get(frame.start..end).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.problems.is_empty() && self.secrets.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Unknown,
    Pcap,
    Pcapng,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Unknown => "unknown",
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        }
    }
}

enum Source {
    /// Fewer than two bytes seen: gzip or not is not known yet.
    Undecided(Vec<u8>),
    Plain,
    Gzip(Box<Inflater>),
}

enum Walk {
    Start,
    PcapHeader,
    Pcap(pcap::Header),
    Pcapng(pcapng::Section),
    Done,
}

/// What the walk can do next.
enum Step {
    More,
    Wait,
    Done,
}

/// Whether `need` bytes are buffered: yes, not yet (more input may come), or never.
enum Fill {
    Ready,
    Wait,
    End,
}

pub struct Reader {
    source: Source,
    buf: Vec<u8>,
    pos: usize,
    base: u64, // stream offset of buf[0]
    ended: bool,
    stopped: bool, // the gzip stream gives nothing more
    input_error: Option<String>,
    walk: Walk,
    format: Format,
    fatal: Option<String>,
    frames: u64,
    linktypes: BTreeSet<u32>,
    max_ratio: u64,
    gzip_floor: u64,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new(GZIP_MAX_RATIO, GZIP_FLOOR)
    }
}

impl Reader {
    /// A reader whose gzip stream may expand `max_ratio` times (and to `gzip_floor` bytes).
    pub fn new(max_ratio: u64, gzip_floor: u64) -> Self {
        Self {
            source: Source::Undecided(Vec::new()),
            buf: Vec::new(),
            pos: 0,
            base: 0,
            ended: false,
            stopped: false,
            input_error: None,
            walk: Walk::Start,
            format: Format::Unknown,
            fatal: None,
            frames: 0,
            linktypes: BTreeSet::new(),
            max_ratio,
            gzip_floor,
        }
    }

    /// The next bytes of the capture file, as read.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.ended {
            return;
        }
        match &mut self.source {
            Source::Undecided(head) => {
                head.extend_from_slice(chunk);
                if head.len() >= GZIP_MAGIC.len() {
                    let head = std::mem::take(head);
                    self.decide(&head);
                }
            }
            Source::Plain => self.append(chunk),
            Source::Gzip(inflater) => inflater.feed(chunk),
        }
    }

    /// No more bytes will come; `error`: why (a read that failed), told where reading stops.
    pub fn finish(&mut self, error: Option<String>) {
        if let Source::Undecided(head) = &mut self.source {
            let head = std::mem::take(head);
            self.decide(&head);
        }
        self.ended = true;
        if self.input_error.is_none() {
            self.input_error = error;
        }
    }

    fn decide(&mut self, head: &[u8]) {
        if head.starts_with(&GZIP_MAGIC) {
            let mut inflater = Inflater::new(self.max_ratio, self.gzip_floor);
            inflater.feed(head);
            self.source = Source::Gzip(Box::new(inflater));
        } else {
            self.source = Source::Plain;
            self.append(head);
        }
    }

    fn append(&mut self, chunk: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(chunk);
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.base = self.base.saturating_add(self.pos as u64);
            self.pos = 0;
        }
    }

    /// Walk what has been fed; an empty batch means more input is needed (or `done`).
    pub fn poll(&mut self) -> Batch {
        let mut batch = Batch::default();
        while batch.data.len() < BATCH_BYTES && batch.frames.len() < BATCH_FRAMES {
            let walk = std::mem::replace(&mut self.walk, Walk::Done);
            let (walk, step) = self.step(walk, &mut batch);
            self.walk = walk;
            match step {
                Step::More => {}
                Step::Wait => break,
                Step::Done => {
                    self.walk = Walk::Done;
                    break;
                }
            }
        }
        batch
    }

    fn step(&mut self, walk: Walk, batch: &mut Batch) -> (Walk, Step) {
        match walk {
            Walk::Start => self.start(batch),
            Walk::PcapHeader => match self.fill(24, batch) {
                Fill::Wait => (Walk::PcapHeader, Step::Wait),
                Fill::End => {
                    self.problem(batch, "pcap file header is cut short".to_owned(), None);
                    (Walk::Done, Step::Done)
                }
                Fill::Ready => {
                    let header = pcap::Header::parse(self.ahead());
                    self.note_linktype(header.linktype);
                    self.pos += 24;
                    (Walk::Pcap(header), Step::More)
                }
            },
            Walk::Pcap(header) => {
                let step = self.pcap_record(&header, batch);
                (Walk::Pcap(header), step)
            }
            Walk::Pcapng(mut section) => {
                let step = self.pcapng_step(&mut section, batch);
                (Walk::Pcapng(section), step)
            }
            Walk::Done => (Walk::Done, Step::Done),
        }
    }

    fn start(&mut self, batch: &mut Batch) -> (Walk, Step) {
        let problems = batch.problems.len();
        match self.fill(4, batch) {
            Fill::Wait => (Walk::Start, Step::Wait),
            Fill::End => {
                // Why the stream stopped (a damaged gzip stream, a read that failed) is the
                // reason nothing can be read: said in the one line, not beside it.
                let stop = (batch.problems.len() > problems)
                    .then(|| batch.problems.pop().map(|p| p.message))
                    .flatten();
                self.fatal = Some(self.too_short(stop));
                (Walk::Done, Step::Done)
            }
            Fill::Ready => {
                let magic = self.ahead().get(..4).unwrap_or_default();
                if pcap::is_magic(magic) {
                    self.format = Format::Pcap;
                    (Walk::PcapHeader, Step::More)
                } else if magic == pcapng::SHB_MAGIC {
                    self.format = Format::Pcapng;
                    (Walk::Pcapng(pcapng::Section::default()), Step::More)
                } else {
                    let hex: String = magic.iter().map(|b| format!("{b:02x}")).collect();
                    let what = if matches!(self.source, Source::Gzip(_)) {
                        "a gzip stream whose decompressed content is not a pcap or pcapng \
                         capture (it starts with"
                    } else {
                        "not a pcap or pcapng file (starts with"
                    };
                    self.fatal = Some(format!("{what} {hex})"));
                    (Walk::Done, Step::Done)
                }
            }
        }
    }

    /// Why fewer than the 4 bytes of a magic number came: an empty or short file, or a gzip
    /// stream that gave too little, damaged (`stop`: where and why it stopped) or not.
    fn too_short(&self, stop: Option<String>) -> String {
        let got = self.base.saturating_add(self.buf.len() as u64);
        let Source::Gzip(inflater) = &self.source else {
            let why = if got == 0 {
                "the file is empty"
            } else {
                "too short to be a capture"
            };
            return stop.map_or_else(|| why.to_owned(), |stop| format!("{why} ({stop})"));
        };
        let content = if got == 0 {
            "before any decompressed byte".to_owned()
        } else {
            format!("after {} decompressed bytes", thousands(got))
        };
        match stop {
            Some(stop) => format!(
                "a gzip stream that cannot be read past compressed byte {}, {content}: {stop}",
                thousands(inflater.stop_at().unwrap_or_default()),
            ),
            None if got == 0 => {
                "a gzip stream that holds nothing (0 bytes once decompressed)".to_owned()
            }
            None => format!(
                "a gzip stream whose decompressed content ({got} byte{}) is too short to be a \
                 capture",
                if got == 1 { "" } else { "s" }
            ),
        }
    }

    /// Make `need` bytes available from `pos`, inflating a gzip stream as far as needed.
    fn fill(&mut self, need: usize, batch: &mut Batch) -> Fill {
        loop {
            let have = self.buf.len().saturating_sub(self.pos);
            if have >= need {
                return Fill::Ready;
            }
            let inflating = matches!(self.source, Source::Gzip(_)) && !self.stopped;
            if inflating {
                self.compact();
            }
            if let Source::Gzip(inflater) = &mut self.source {
                if inflating {
                    let before = self.buf.len();
                    match inflater.pull(&mut self.buf, need - have, self.ended) {
                        Ok(over) => self.stopped = over,
                        // Told once the walk has read all that came before it.
                        Err(message) => {
                            self.stopped = true;
                            self.input_error.get_or_insert(message);
                        }
                    }
                    if self.buf.len() > before {
                        continue;
                    }
                }
            }
            if !self.ended && !self.stopped {
                return Fill::Wait;
            }
            if let Some(message) = self.input_error.take() {
                self.problem(batch, message, None);
            }
            return Fill::End;
        }
    }

    /// The buffered bytes from `pos` on.
    fn ahead(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Offset in the (decompressed) stream of the next byte to walk.
    pub fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    /// Remember a declared link type; past MAX_LINKTYPES distinct ones (each section of a
    /// hostile file may declare new ones) the rest are not listed.
    fn note_linktype(&mut self, linktype: u32) {
        if self.linktypes.len() < MAX_LINKTYPES {
            self.linktypes.insert(linktype);
        }
    }

    fn problem(&self, batch: &mut Batch, message: String, offset: Option<u64>) {
        batch.problems.push(Problem {
            offset: offset.unwrap_or_else(|| self.offset()),
            message,
            frame: Some(self.frames.saturating_add(1)),
        });
    }

    /// Hand out `bytes[start..start + len]` of the buffer ahead as the next frame, which
    /// was `orig_len` bytes long on the wire.
    fn emit(&mut self, batch: &mut Batch, at: Emit, start: usize, len: usize, orig_len: u32) {
        let from = self.pos.saturating_add(start);
        let data = self
            .buf
            .get(from..from.saturating_add(len))
            .unwrap_or_default();
        self.frames = self.frames.saturating_add(1);
        batch.frames.push(Frame {
            ts_ns: at.ts_ns,
            linktype: at.linktype,
            number: self.frames,
            start: batch.data.len(),
            len: data.len(),
            orig_len: data
                .len()
                .max(usize::try_from(orig_len).unwrap_or(usize::MAX)),
        });
        if batch.data.capacity() == 0 {
            // Room for the batch at once: grown by doubling, its bytes were copied again
            // about once over and its fresh pages faulted in at each step.
            batch
                .data
                .reserve(BATCH_BYTES.saturating_add(BATCH_SLACK).max(data.len()));
        }
        batch.data.extend_from_slice(data);
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Why the input is not a capture at all (nothing else is then read).
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Whether the walk is over: nothing more will come out, whatever is fed.
    pub fn done(&self) -> bool {
        matches!(self.walk, Walk::Done)
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Every link type the capture declared (pcap header, pcapng interfaces).
    pub fn linktypes(&self) -> &BTreeSet<u32> {
        &self.linktypes
    }
}

fn u16_at(bytes: &[u8], at: usize, big: bool) -> Option<u16> {
    let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    })
}

fn u32_at(bytes: &[u8], at: usize, big: bool) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    })
}

fn i64_at(bytes: &[u8], at: usize, big: bool) -> Option<i64> {
    let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(if big {
        i64::from_be_bytes(raw)
    } else {
        i64::from_le_bytes(raw)
    })
}
