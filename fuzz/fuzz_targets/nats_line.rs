//! Fuzz target: `micro::fuzzing::nats_line` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::nats_line(data));
