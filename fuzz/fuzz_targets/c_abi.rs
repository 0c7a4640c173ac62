//! Fuzz target: the C ABI's string entry points (options setters, registry and broker
//! names, a service's JSON), with the input cut at NUL bytes into C strings — any bytes,
//! valid UTF-8 or not. Every call must return a status (never panic across the boundary),
//! a registry's JSON must be JSON, and every object made must be released again.
#![no_main]
use micro_ffi::status::MICRO_STATUS_OK;
use micro_ffi::{broker, call_options, client, error, handle, publish, registry, runtime, server, view};
use std::ffi::{c_char, CString};
use std::ptr::null_mut;
use std::sync::OnceLock;

struct Rt(*mut runtime::micro_runtime);
// SAFETY: a runtime handle may be used from any thread (micro.h).
unsafe impl Send for Rt {}
unsafe impl Sync for Rt {}

fn rt() -> *mut runtime::micro_runtime {
    static RT: OnceLock<Rt> = OnceLock::new();
    RT.get_or_init(|| {
        let mut rt = null_mut();
        // SAFETY: NULL options are the defaults; `rt` is a valid out pointer.
        let st = unsafe { runtime::micro_runtime_new(std::ptr::null(), &mut rt, null_mut()) };
        assert_eq!(st, MICRO_STATUS_OK, "a runtime starts");
        Rt(rt)
    })
    .0
}

/// Registry and broker names that stay on this machine: no mDNS (an empty or blank scheme
/// means mDNS too, as `registry::from_url` reads it), no NATS dial, and URLs only to
/// loopback (the fuzzer must not reach a real network).
fn local_name(s: &[u8]) -> bool {
    let s = String::from_utf8_lossy(s).to_ascii_lowercase();
    let scheme = s.split("://").next().unwrap_or("").trim();
    if matches!(scheme, "" | "mdns") || scheme.starts_with("nats") || scheme.starts_with("tls") || scheme.starts_with("http") {
        return false;
    }
    match s.split_once("://") {
        None => true,
        Some((_, hosts)) => hosts.split(',').all(|h| h.starts_with("127.0.0.1:") && !h.contains('@')),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let rt = rt();
    let mut raw: Vec<&[u8]> = data.split(|&b| b == 0).take(8).collect();
    raw.resize(8, b"");
    let parts: Vec<CString> = raw.iter().map(|p| CString::new(*p).expect("split at NUL")).collect();
    let s = |i: usize| -> *const c_char { parts[i].as_ptr() };
    let before = handle::micro_debug_live_objects();
    // SAFETY: every pointer is a NUL-terminated string alive for the call, or an object
    // made here and freed once.
    unsafe {
        let o = client::micro_client_options_new();
        let _ = client::micro_client_options_set_content_type(o, s(0));
        client::micro_client_options_free(o);

        let c = call_options::micro_call_options_new();
        let _ = call_options::micro_call_options_set_header(c, s(1), s(2));
        let _ = call_options::micro_call_options_add_address(c, s(3));
        let _ = call_options::micro_call_options_set_content_type(c, s(0));
        call_options::micro_call_options_free(c);

        let p = publish::micro_publish_options_new();
        let _ = publish::micro_publish_options_set_content_type(p, s(0));
        let _ = publish::micro_publish_options_set_header(p, s(1), s(2));
        publish::micro_publish_options_free(p);

        let so = server::micro_server_options_new(s(4));
        if !so.is_null() {
            let _ = server::micro_server_options_set_address(so, s(3));
            let _ = server::micro_server_options_set_version(so, s(5));
            let _ = server::micro_server_options_set_metadata(so, s(1), s(2));
            server::micro_server_options_free(so);
        }

        let name = if local_name(raw[6]) { s(6) } else { c"memory".as_ptr() };
        let (mut reg, mut err) = (null_mut(), null_mut());
        if registry::micro_registry_new(rt, name, &mut reg, &mut err) == MICRO_STATUS_OK {
            let mut buf = null_mut();
            let mut err2 = null_mut();
            if registry::micro_registry_get_service_json(reg, s(4), &mut buf, &mut err2)
                == MICRO_STATUS_OK
            {
                let b = view::micro_buf_bytes(buf);
                let json = std::slice::from_raw_parts(b.ptr, b.len);
                assert!(serde_json::from_slice::<serde_json::Value>(json).is_ok(), "registry JSON is not JSON");
                view::micro_buf_free(buf);
            }
            error::micro_error_free(err2);
            registry::micro_registry_free(reg);
        }
        error::micro_error_free(err);

        let name = if local_name(raw[7]) { s(7) } else { c"memory".as_ptr() };
        let (mut b, mut err) = (null_mut(), null_mut());
        if broker::micro_broker_new(rt, name, null_mut(), 0, &mut b, &mut err) == MICRO_STATUS_OK {
            broker::micro_broker_free(b);
        }
        error::micro_error_free(err);
    }
    assert_eq!(handle::micro_debug_live_objects(), before, "an object made from these strings was not released");
});
