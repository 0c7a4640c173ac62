//! Fuzz target: bytes a client sends, through the server's HTTP transport reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::http_stream(data, true));
