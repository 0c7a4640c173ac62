//! Fuzz target: `micro::fuzzing::server_stream` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::server_stream(data));
