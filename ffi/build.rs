//! Gives `libmicro.so` the soname `libmicro.so.<ABI>`, ABI being `MICRO_ABI_VERSION` in
//! src/version.rs, so programs record the ABI they were linked against. In the build tree it
//! also makes the link `libmicro.so.<ABI> -> libmicro.so` next to the library (what
//! `ldconfig` does on install), so `-lmicro` programs run from there.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/version.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let src = std::fs::read_to_string("src/version.rs").expect("ffi/src/version.rs is readable");
    let abi: u32 = src
        .lines()
        .find_map(|l| l.trim().strip_prefix("pub const MICRO_ABI_VERSION: u32 = "))
        .and_then(|v| v.strip_suffix(';'))
        .and_then(|v| v.trim().parse().ok())
        .expect("ffi/src/version.rs defines `pub const MICRO_ABI_VERSION: u32 = N;`");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let soname = format!("libmicro.so.{abi}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    // OUT_DIR is <profile dir>/build/micro-ffi-<hash>/out.
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    #[cfg(unix)]
    if let Some(dir) = out.ancestors().nth(3) {
        let link = dir.join(&soname);
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink("libmicro.so", &link);
    }
}
