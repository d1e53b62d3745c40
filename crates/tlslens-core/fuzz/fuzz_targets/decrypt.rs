//! A key log and a connection's steps in any order through the per-connection decryptor.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::decrypt::fuzzing::decrypt(data));
