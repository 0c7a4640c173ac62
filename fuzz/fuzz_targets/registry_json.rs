//! Fuzz target: `micro::fuzzing::registry_json` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::registry_json(data));
