//! One connection's mode machine on hostile bytes of both directions, holes and conflicts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::records::fuzzing::session(data));
