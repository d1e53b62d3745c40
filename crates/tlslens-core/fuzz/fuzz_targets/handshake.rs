//! The handshake layer on hostile bytes: the defragmenter over records of any size, and
//! every message parser under every negotiated layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::handshake::fuzzing::handshake(data));
