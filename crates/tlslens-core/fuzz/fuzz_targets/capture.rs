//! The capture reader (pcap, pcapng, gzip) on any bytes, whole and split in chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::fuzzing::capture(data));
