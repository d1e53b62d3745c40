//! Frames → IP → TCP → the flow table and reassembly, on any bytes, under small bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::flows::fuzzing::flows(data));
