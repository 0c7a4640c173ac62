//! JSON as Go's `encoding/json` writes it, where serde_json writes it differently: the
//! HTML-safe escaping `json.Marshal` applies to every string. Error JSON (`Micro-Error`) and
//! the mDNS TXT records go through here, so the bytes we send match a Go peer's.

/// Escapes `<`, `>` and `&` as Go's `encoding/json` does, so our JSON is byte-identical.
pub(crate) fn escape_html(json: &str) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for ch in json.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        assert_eq!(escape_html(r#"{"a":"<b>&"}"#), r#"{"a":"\u003cb\u003e\u0026"}"#);
        assert_eq!(escape_html("plain"), "plain");
        assert_eq!(escape_html("\u{2028}\u{2029}"), "\\u2028\\u2029");
    }
}
