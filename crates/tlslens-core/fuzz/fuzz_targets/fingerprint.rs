//! JA3, JA3S and JA4 on hostile hellos: whatever parses as a ClientHello, a ServerHello or
//! an SSLv2 CLIENT-HELLO is fingerprinted, through the cache too, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tlslens_core::fingerprint::fuzzing::fingerprint(data));
