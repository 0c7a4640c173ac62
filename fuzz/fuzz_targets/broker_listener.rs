//! Fuzz target: `micro::fuzzing::broker_listener` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::broker_listener(data));
