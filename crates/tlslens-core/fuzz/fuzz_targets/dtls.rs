//! DTLS datagrams through one association, with and without keys: findings, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::dtls::fuzzing::dtls(data));
