//! One connection's records, of any type and order, through the content layer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::content::fuzzing::content(data));
