//! QUIC datagrams on hostile bytes: detection, headers, Initial decryption, frames, CRYPTO.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::quic::fuzzing::quic_packet(data));
