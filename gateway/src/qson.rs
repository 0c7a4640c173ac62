//! Query strings (and url-encoded forms) as JSON, the way go-micro's api gateway turned a
//! GET into an rpc request body (its `qson` package, spec §2.8): `a=1&b=x` →
//! `{"a":1,"b":"x"}` (each value tried as a JSON literal first), `a[b]=c` →
//! `{"a":{"b":"c"}}`, `a[]=1&a[]=2` → `{"a":[1,2]}`. A parameter without `=` is an error
//! (go-micro: `qson: invalid url query param provided`).
//!
//! Written here rather than taken from a crate: no crate on crates.io reproduces go-micro's
//! typing rule (a value that parses as JSON is that JSON), which backends written for
//! go-micro rely on.

use serde_json::{Map, Value};

/// Why a query could not become JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QsonError {
    /// A parameter had no `=` (`?a&b=1`).
    #[error("invalid url query param provided: {0:?} has no '='")]
    NoValue(String),
    /// `a[b]=1` and `a=2` (or `a[]=`) disagree on what `a` is.
    #[error("query param {0:?} is used both as a value and as an object or list")]
    Conflict(String),
}

fn literal(v: &str) -> Value {
    serde_json::from_str::<Value>(v)
        .ok()
        .filter(|j| !j.is_object() && !j.is_array())
        .unwrap_or_else(|| Value::String(v.to_string()))
}

/// `key[a][b]` → `["key", "a", "b"]`; `key[]` → `["key", ""]`.
fn key_path(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else { return vec![key.to_string()] };
    let mut path = vec![key[..open].to_string()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                path.push(stripped[..close].to_string());
                rest = &stripped[close + 1..];
            }
            None => break,
        }
    }
    path
}

fn insert(target: &mut Value, path: &[String], value: Value, key: &str) -> Result<(), QsonError> {
    let conflict = || QsonError::Conflict(key.to_string());
    let (head, rest) = path.split_first().ok_or_else(conflict)?;
    if rest.is_empty() {
        return match target {
            Value::Object(m) => {
                m.insert(head.clone(), value);
                Ok(())
            }
            Value::Array(a) if head.is_empty() => {
                a.push(value);
                Ok(())
            }
            _ => Err(conflict()),
        };
    }
    let next_is_list = rest[0].is_empty();
    let child = match target {
        Value::Object(m) => m.entry(head.clone()).or_insert_with(|| {
            if next_is_list {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        }),
        _ => return Err(conflict()),
    };
    if next_is_list {
        if !child.is_array() {
            return Err(conflict());
        }
        if rest.len() == 1 {
            if let Value::Array(a) = child {
                a.push(value);
            }
            return Ok(());
        }
        return Err(conflict());
    }
    insert(child, rest, value, key)
}

/// The JSON object a query string stands for. An empty query is `{}`.
pub fn to_json(query: &str) -> Result<Value, QsonError> {
    let mut out = Value::Object(Map::new());
    for part in query.split('&').filter(|p| !p.is_empty()) {
        if !part.contains('=') {
            return Err(QsonError::NoValue(part.to_string()));
        }
        let (k, v) = form_urlencoded::parse(part.as_bytes()).next().unwrap_or_default();
        let path = key_path(&k);
        insert(&mut out, &path, literal(&v), &k)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_literals_first() {
        assert_eq!(to_json("a=1&b=x&c=true&d=null&e=1.5").unwrap(), json!({"a":1,"b":"x","c":true,"d":null,"e":1.5}));
        assert_eq!(to_json("name=John%20Doe").unwrap(), json!({"name":"John Doe"}));
        assert_eq!(to_json("").unwrap(), json!({}));
    }

    #[test]
    fn brackets_make_objects_and_lists() {
        assert_eq!(to_json("a[b]=c").unwrap(), json!({"a":{"b":"c"}}));
        assert_eq!(to_json("a[]=1&a[]=2").unwrap(), json!({"a":[1,2]}));
        assert_eq!(to_json("a[b][c]=1&a[b][d]=x").unwrap(), json!({"a":{"b":{"c":1,"d":"x"}}}));
    }

    #[test]
    fn a_param_without_a_value_is_an_error() {
        assert_eq!(to_json("a&b=1"), Err(QsonError::NoValue("a".into())));
        assert!(matches!(to_json("a=1&a[b]=2"), Err(QsonError::Conflict(_))));
    }
}
