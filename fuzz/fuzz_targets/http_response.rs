//! Fuzz target: bytes a server sends, through the client's HTTP transport reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| micro::fuzzing::http_stream(data, false));
