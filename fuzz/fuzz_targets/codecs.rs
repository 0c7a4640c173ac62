//! Fuzz target: `micro::fuzzing::codecs` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::codecs(data));
