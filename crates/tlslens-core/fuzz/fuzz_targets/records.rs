//! The record layer and TLS detection on hostile bytes: whole vs split, with a hole.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::records::fuzzing::records(data));
