//! Fuzz target: `micro::fuzzing::mdns_datagram` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::mdns_datagram(data));
