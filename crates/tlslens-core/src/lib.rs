//! tlslens' data plane: parsers of attacker-controlled bytes, sans-IO, no `unsafe`.
#![forbid(unsafe_code)]

pub mod capture;
pub mod codec;
pub mod content;
pub mod decrypt;
pub mod dtls;
pub mod extensions;
pub mod fingerprint;
pub mod flows;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod held;
pub mod keys;
pub mod protection;
pub mod quic;
pub mod records;
