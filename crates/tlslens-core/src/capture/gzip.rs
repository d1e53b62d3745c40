//! A gzip'd capture inflated as its compressed bytes arrive, under an expansion budget.
//!
//! Strategy: flate2's write-side `MultiGzDecoder` is fed small slices of the compressed
//! input and hands out at most its 32 KiB buffer per slice, so memory follows what the
//! walk asks for, never what a bomb would expand to; every member of a concatenated file
//! is read, as `gzip` does.

use std::io::Write;

use flate2::write::MultiGzDecoder;

/// Compressed bytes given to the decoder at once: at deflate's 1:1032 ceiling, 1 MiB out.
const SLICE: usize = 1 << 10;

/// What stops a gzip stream: the message of the capture problem it becomes.
pub type Stop = String;

pub struct Inflater {
    decoder: MultiGzDecoder<Vec<u8>>,
    pending: Vec<u8>,
    taken: usize,
    total_in: u64,
    total_out: u64,
    max_ratio: u64,
    floor: u64,
    finished: bool,
}

impl Inflater {
    pub fn new(max_ratio: u64, floor: u64) -> Self {
        Self {
            decoder: MultiGzDecoder::new(Vec::new()),
            pending: Vec::new(),
            taken: 0,
            total_in: 0,
            total_out: 0,
            max_ratio,
            floor,
            finished: false,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.pending.drain(..self.taken.min(self.pending.len()));
        self.taken = 0;
        self.pending.extend_from_slice(chunk);
        self.total_in = self.total_in.saturating_add(chunk.len() as u64);
    }

    /// Inflate into `out` until it has grown by `want` bytes or the compressed input fed so
    /// far is used up; `ended`: no more will come, so the stream must be complete.
    /// Ok(true) once the gzip stream is over (nothing more will ever come out).
    pub fn pull(&mut self, out: &mut Vec<u8>, want: usize, ended: bool) -> Result<bool, Stop> {
        if self.finished {
            return Ok(true);
        }
        let goal = out.len().saturating_add(want);
        while out.len() < goal {
            let rest = self.pending.get(self.taken..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let slice = rest.get(..SLICE.min(rest.len())).unwrap_or_default();
            match self.decoder.write(slice) {
                Ok(0) => {
                    // Bytes the decoder will not take: nothing of a gzip stream follows.
                    self.finished = true;
                    return Err(damaged("bytes after the end of the gzip stream"));
                }
                Ok(n) => self.taken = self.taken.saturating_add(n),
                Err(err) => {
                    self.finished = true;
                    return Err(damaged(&err.to_string()));
                }
            }
            self.take_output(out)?;
        }
        if self.taken < self.pending.len() {
            return Ok(false);
        }
        // All fed input consumed: hand on what the decoder still holds (a pipe is told as
        // it arrives), and at the end check the stream was whole.
        let result = if ended {
            self.finished = true;
            self.decoder.try_finish()
        } else {
            self.decoder.flush()
        };
        if let Err(err) = result {
            self.finished = true;
            let why = if err.kind() == std::io::ErrorKind::UnexpectedEof || ended {
                "Compressed file ended before the end-of-stream marker was reached".to_owned()
            } else {
                err.to_string()
            };
            return Err(damaged(&why));
        }
        self.take_output(out)?;
        Ok(self.finished)
    }

    fn take_output(&mut self, out: &mut Vec<u8>) -> Result<(), Stop> {
        let produced = self.decoder.get_mut();
        self.total_out = self.total_out.saturating_add(produced.len() as u64);
        let budget = self.floor.max(self.max_ratio.saturating_mul(self.total_in));
        if self.total_out > budget {
            produced.clear();
            self.finished = true;
            return Err(format!(
                "the gzip stream expands more than {} times ({} bytes from {}): reading \
                 stopped there, as a decompression bomb would need",
                self.max_ratio,
                thousands(self.total_out),
                thousands(self.total_in)
            ));
        }
        out.append(produced);
        Ok(())
    }
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
