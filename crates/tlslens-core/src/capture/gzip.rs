//! A gzip'd capture inflated as its compressed bytes arrive, under an expansion budget.
//!
//! Strategy: miniz_oxide's deflate decoder writes into a 32 KiB history window of ours, and
//! each step's output is copied at once to the reader's buffer: at most what the walk asks
//! for plus one window, so memory follows the frames, never what a bomb would expand to.
//! Every byte decoded is handed on, also from the step that meets a damaged spot (flate2's
//! stream API keeps what its output had no room for and loses it on the error, so how much
//! came before the damage followed the sizes of the calls, hence how the input was split).
//! The gzip framing around each deflate stream (RFC 1952 header, CRC-32 and length trailer)
//! is read here, member after member as `gzip` does, so that where a damaged stream stops
//! is the same however its bytes were split.

use flate2::Crc;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_IGNORE_ADLER32,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide, TINFL_LZ_DICT_SIZE};
use miniz_oxide::inflate::TINFLStatus;

/// Raw deflate (the gzip framing is read here), input always possibly to come: the end of
/// the input is told by `ended`, where a stream cut short becomes its own message.
const FLAGS: u32 = TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_IGNORE_ADLER32;
const FTEXT_MASK: u8 = 0xE0; // reserved flag bits: set, the header is not one we know
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

/// What stops a gzip stream: the message of the capture problem it becomes.
pub type Stop = String;

enum Part {
    /// Before a member's header; `first`: the file's first member (nothing is no gzip).
    Header {
        first: bool,
    },
    Body,
    Trailer,
    Over,
}

pub struct Inflater {
    part: Part,
    inflate: Box<DecompressorOxide>,
    /// The decoder's history, written around as a ring: deflate looks back 32 KiB at most.
    window: Box<[u8; TINFL_LZ_DICT_SIZE]>,
    /// Where in `window` the next step writes.
    at: usize,
    crc: Crc,
    pending: Vec<u8>,
    taken: usize,
    total_in: u64,
    total_out: u64,
    max_ratio: u64,
    floor: u64,
    stop_at: Option<u64>,
}

impl Inflater {
    pub fn new(max_ratio: u64, floor: u64) -> Self {
        Self {
            part: Part::Header { first: true },
            inflate: Box::default(),
            window: Box::new([0; TINFL_LZ_DICT_SIZE]),
            at: 0,
            crc: Crc::new(),
            pending: Vec::new(),
            taken: 0,
            total_in: 0,
            total_out: 0,
            max_ratio,
            floor,
            stop_at: None,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.pending.drain(..self.taken.min(self.pending.len()));
        self.taken = 0;
        self.pending.extend_from_slice(chunk);
        self.total_in = self.total_in.saturating_add(chunk.len() as u64);
    }

    /// Compressed bytes taken by the decoder so far.
    fn consumed(&self) -> u64 {
        let waiting = self.pending.len().saturating_sub(self.taken) as u64;
        self.total_in.saturating_sub(waiting)
    }

    /// The compressed byte where the stream stopped, damaged (where the decoder met the
    /// damage) or cut short (the input's end); None while it has not.
    pub fn stop_at(&self) -> Option<u64> {
        self.stop_at
    }

    fn rest(&self) -> &[u8] {
        self.pending.get(self.taken..).unwrap_or_default()
    }

    /// Inflate into `out` until it has grown by `want` bytes or the compressed input fed so
    /// far is used up; `ended`: no more will come. Ok(true) once the gzip stream is over.
    pub fn pull(&mut self, out: &mut Vec<u8>, want: usize, ended: bool) -> Result<bool, Stop> {
        let goal = out.len().saturating_add(want);
        while out.len() < goal {
            let progress = match self.part {
                Part::Over => return Ok(true),
                Part::Header { first } => self.header(first, ended),
                Part::Body => self.body(out),
                Part::Trailer => self.trailer(),
            };
            let progress = progress.inspect_err(|_| {
                self.part = Part::Over;
                self.stop_at = Some(self.consumed());
            })?;
            if !progress {
                if ended && !matches!(self.part, Part::Over) {
                    self.part = Part::Over;
                    // Cut short: what stops it is the file's end, in a header or a block.
                    self.stop_at = Some(self.total_in);
                    return Err(damaged(
                        "Compressed file ended before the end-of-stream marker was reached",
                    ));
                }
                break;
            }
        }
        Ok(matches!(self.part, Part::Over))
    }

    /// A member's header read (true), or not all of it here yet (false).
    fn header(&mut self, first: bool, ended: bool) -> Result<bool, Stop> {
        // Zeros may pad a file after a member (gzip and Python's gzip skip them).
        if !first {
            let zeros = self.rest().iter().take_while(|&&b| b == 0).count();
            self.taken += zeros;
            if self.rest().is_empty() && ended {
                self.part = Part::Over;
                return Ok(true);
            }
        }
        match header_length(self.rest())? {
            None => Ok(false),
            Some(length) => {
                self.taken += length;
                self.inflate.init();
                self.at = 0;
                self.crc.reset();
                self.part = Part::Body;
                Ok(true)
            }
        }
    }

    /// One decoding step: up to the end of the window, the input's end or a damaged spot;
    /// all it decoded goes to `out`, which so grows by at most one window past the goal.
    fn body(&mut self, out: &mut Vec<u8>) -> Result<bool, Stop> {
        let input = self.pending.get(self.taken..).unwrap_or_default();
        let (status, consumed, made) = decompress(
            &mut self.inflate,
            input,
            self.window.as_mut_slice(),
            self.at,
            FLAGS,
        );
        self.taken = self.taken.saturating_add(consumed).min(self.pending.len());
        let produced = self
            .window
            .get(self.at..self.at.saturating_add(made))
            .unwrap_or_default();
        // Wraps to 0 once the window's end is written (its size is a power of two).
        self.at = (self.at + produced.len()) & (TINFL_LZ_DICT_SIZE - 1);
        self.crc.update(produced);
        self.total_out = self.total_out.saturating_add(produced.len() as u64);
        let budget = self.floor.max(self.max_ratio.saturating_mul(self.total_in));
        if self.total_out > budget {
            return Err(format!(
                "the gzip stream expands more than {} times ({} bytes from {}): reading \
                 stopped there, as a decompression bomb would need",
                self.max_ratio,
                thousands(self.total_out),
                thousands(self.total_in)
            ));
        }
        // Output made before a damaged spot is kept: the walk reads up to it, then stops.
        out.extend_from_slice(produced);
        match status {
            TINFLStatus::Done => {
                self.part = Part::Trailer;
                Ok(true)
            }
            TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => {
                Ok(consumed > 0 || !produced.is_empty())
            }
            // The words flate2 gave this stop, which reports already carry.
            _ => Err(damaged("deflate decompression error")),
        }
    }

    fn trailer(&mut self) -> Result<bool, Stop> {
        let Some(trailer) = self.rest().get(..8) else {
            return Ok(false);
        };
        let crc = u32::from_le_bytes(
            trailer
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default(),
        );
        let size = u32::from_le_bytes(
            trailer
                .get(4..)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default(),
        );
        if crc != self.crc.sum() {
            return Err(damaged(&format!(
                "CRC check failed 0x{crc:x} != 0x{:x}",
                self.crc.sum()
            )));
        }
        if size != self.crc.amount() {
            return Err(damaged("Incorrect length of data produced"));
        }
        self.taken += 8;
        self.part = Part::Header { first: false };
        Ok(true)
    }
}

/// The length of the RFC 1952 member header at the start of `bytes`: None while it is not
/// all there.
fn header_length(bytes: &[u8]) -> Result<Option<usize>, Stop> {
    let Some(fixed) = bytes.get(..10) else {
        return match bytes.get(..2) {
            Some(magic) if magic != [0x1f, 0x8b] => Err(not_gzip(magic)),
            _ => Ok(None),
        };
    };
    if fixed.get(..2) != Some(&[0x1f, 0x8b]) {
        return Err(not_gzip(fixed.get(..2).unwrap_or_default()));
    }
    if fixed.get(2) != Some(&8) {
        return Err(damaged("Unknown compression method"));
    }
    let flags = fixed.get(3).copied().unwrap_or(0);
    if flags & FTEXT_MASK != 0 {
        return Err(damaged("gzip header with reserved flags set"));
    }
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let Some(len) = bytes
            .get(at..at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
        else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes(len));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = bytes.get(at..).and_then(|b| b.iter().position(|&c| c == 0)) else {
                return Ok(None);
            };
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    Ok((bytes.len() >= at).then_some(at))
}

fn not_gzip(magic: &[u8]) -> Stop {
    let shown: String = magic.iter().map(|b| format!("\\x{b:02x}")).collect();
    damaged(&format!("Not a gzipped file (b'{shown}')"))
}

fn damaged(why: &str) -> Stop {
    format!("compressed data is damaged or cut short ({why})")
}

/// `1234567` as `1,234,567`, as Python's `{:,}` writes it.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
