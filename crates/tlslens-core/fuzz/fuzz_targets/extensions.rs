//! Every extension decoder, in every message, on hostile bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::extensions::fuzzing::extensions(data));
