//! The header list shared by requests, messages and events: `(name, value)` C strings in
//! the order the core gives them (sorted by name), read through views borrowed from it.

use crate::boundary::{arg, arg_mut, arg_str, boundary};
use crate::error::{fail, FfiResult};
use crate::status::{micro_status, MICRO_STATUS_INVALID_ARG};
use crate::unwind::guard;
use crate::view::{cstring, micro_str, view};
use std::ffi::{c_char, CString};

/// Headers as C strings, borrowed out through `micro_str` views.
pub(crate) type Headers = Vec<(CString, CString)>;

/// Converts core headers (any iterator of owned or borrowed pairs) into C strings.
pub(crate) fn headers_from<K: Into<Vec<u8>>, V: Into<Vec<u8>>>(h: impl IntoIterator<Item = (K, V)>) -> Headers {
    h.into_iter().map(|(k, v)| (cstring(k), cstring(v))).collect()
}

/// How a header name is matched.
#[derive(Clone, Copy)]
pub(crate) enum Match {
    /// ASCII case-insensitive.
    AnyCase,
    /// Exact first, then ASCII case-insensitive.
    ExactFirst,
}

/// Writes header `i` of `h` (the owner `p`, `what` naming it in errors) to the out-params.
pub(crate) unsafe fn header_at<T>(
    p: *const T,
    what: &str,
    h: impl FnOnce(&T) -> &Headers,
    i: usize,
    key_out: *mut micro_str,
    value_out: *mut micro_str,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let owner = arg(p, what)?;
        let k = arg_mut(key_out, "key_out")?;
        let v = arg_mut(value_out, "value_out")?;
        let (hk, hv) = h(owner).get(i).ok_or_else(|| fail(MICRO_STATUS_INVALID_ARG, format!("no header {i}")))?;
        *k = view(hk);
        *v = view(hv);
        Ok(())
    })
}

/// Looks `key` up in the headers of `p`; `true` and `*value_out` (borrowed) when found,
/// `false` for a miss or any NULL / invalid argument.
pub(crate) unsafe fn header_lookup<T>(
    p: *const T,
    h: impl FnOnce(&T) -> &Headers,
    key: *const c_char,
    value_out: *mut micro_str,
    how: Match,
) -> bool {
    guard(false, || {
        let (Some(owner), Ok(key), Some(out)) = (p.as_ref(), arg_str(key, "key"), value_out.as_mut()) else {
            return false;
        };
        let headers = h(owner);
        let any_case = || headers.iter().find(|(k, _)| k.to_bytes().eq_ignore_ascii_case(key.as_bytes()));
        let found = match how {
            Match::AnyCase => any_case(),
            Match::ExactFirst => headers.iter().find(|(k, _)| k.to_bytes() == key.as_bytes()).or_else(any_case),
        };
        match found {
            Some((_, v)) => {
                *out = view(v);
                true
            }
            None => false,
        }
    })
}

/// Number of headers of `p` (0 for NULL).
pub(crate) unsafe fn header_count<T>(p: *const T, h: impl FnOnce(&T) -> &Headers) -> usize {
    guard(0, || p.as_ref().map_or(0, |o| h(o).len()))
}

/// Checks a header name is a token (letters, digits, `-`, `_`).
pub(crate) fn check_header_name(key: &str) -> FfiResult<()> {
    if key.is_empty() || key.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        return Err(fail(MICRO_STATUS_INVALID_ARG, format!("header name {key:?} is not a token")));
    }
    Ok(())
}

/// Sets header `key` (a token, checked) to `value` in `h`, replacing one of the same name in
/// any case: what a wrapper's `_set_header` does to a request, call or message. `key` and
/// `value` are the C arguments, read as UTF-8.
pub(crate) unsafe fn set_header(
    h: &mut std::collections::BTreeMap<String, String>,
    key: *const c_char,
    value: *const c_char,
) -> FfiResult<()> {
    let key = arg_str(key, "key")?;
    let value = arg_str(value, "value")?;
    check_header_name(&key)?;
    h.retain(|k, _| !k.eq_ignore_ascii_case(&key));
    h.insert(key, value);
    Ok(())
}
