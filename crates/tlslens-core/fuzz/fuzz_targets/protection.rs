//! Random suites, keys and records through record protection and the key schedules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::fuzzing::protection(data));
