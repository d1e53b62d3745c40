//! The TLS record layer of one direction, and what decides that a direction is TLS.
//!
//! `reader`: stream bytes in, records out, sans-IO (the capture path feeds reassembled TCP,
//! a live client what its socket read). `detect`: pure functions over a direction's first
//! bytes (a TLS header, an SSLv2-compatible hello, a STARTTLS prelude) and which end is the
//! client. Both are bounded: a record is held only up to [`MAX_RECORD`] past its header, a
//! resynchronisation window up to [`RESYNC_WINDOW`]; a length field never decides more.

pub mod detect;
#[doc(hidden)]
pub mod fuzzing;
mod reader;

pub use reader::{RecordEvent, RecordReader};

/// RFC 5246 §6.2.3: TLSCiphertext.length.
pub const MAX_RECORD: usize = 16384 + 2048;
/// Bytes searched for a plausible header after a hole before one is taken on its own.
pub const RESYNC_WINDOW: usize = 1 << 16;

pub const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CT_ALERT: u8 = 21;
pub const CT_HANDSHAKE: u8 = 22;
pub const CT_APPLICATION_DATA: u8 = 23;
pub const CT_HEARTBEAT: u8 = 24;

/// Do the 3 bytes at `at` read as the start of a record header (content type 20–24,
/// version 3.0–3.4)?
fn header_at(data: &[u8], at: usize) -> bool {
    matches!(
        data.get(at..at.saturating_add(3)),
        Some([20..=24, 3, 0..=4])
    )
}

/// The 16-bit big-endian length at `at`, if both bytes are there.
fn u16_at(data: &[u8], at: usize) -> Option<usize> {
    match data.get(at..at.saturating_add(2)) {
        Some([hi, lo]) => Some(usize::from(*hi) << 8 | usize::from(*lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
