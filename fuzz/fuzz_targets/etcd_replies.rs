//! Fuzz target: `micro::fuzzing::etcd_replies` (see core/src/fuzzing.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::etcd_replies(data));
