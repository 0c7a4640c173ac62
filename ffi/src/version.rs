//! The library's version and ABI version, and the check a program makes that the library it
//! loaded matches its header (`MICRO_CHECK_ABI()`). `build.rs` reads `MICRO_ABI_VERSION`
//! from this file to set the soname.

use crate::status::{micro_status, MICRO_STATUS_INVALID_ARG, MICRO_STATUS_OK};
use std::ffi::c_char;

/// The ABI version of this header; bumped on every incompatible change.
pub const MICRO_ABI_VERSION: u32 = 1;

/// The library version, a static string naming the C layer and the core
/// (`"micro-ffi/0.1.0 micro/0.1.0"`).
#[no_mangle]
pub extern "C" fn micro_version() -> *const c_char {
    static V: &str = concat!("micro-ffi/", env!("CARGO_PKG_VERSION"), " micro/", env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

/// The library's ABI version (compare with `MICRO_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn micro_abi_version() -> u32 {
    MICRO_ABI_VERSION
}

/// `MICRO_STATUS_OK` if a program compiled against a header with ABI `header_abi` may use
/// this library, `MICRO_STATUS_INVALID_ARG` otherwise. Use `MICRO_CHECK_ABI()`.
#[no_mangle]
pub extern "C" fn micro_abi_check(header_abi: u32) -> micro_status {
    if header_abi == MICRO_ABI_VERSION {
        MICRO_STATUS_OK
    } else {
        MICRO_STATUS_INVALID_ARG
    }
}
