//! Who may call what: the rules that map a service or endpoint to the scopes a caller needs,
//! and the check of an account's scopes against them.
//!
//! go-micro v5's `micro server` keeps one list of scopes per `service.Endpoint` key and lets
//! any signed-in caller through where no key is set; an account with the scope `*` (admin)
//! passes every check. We keep that, and add wildcards so one rule covers a service or a
//! family of endpoints: a rule's resource is `*`-glob matched against the service name alone
//! (`greeter` covers every endpoint of `greeter`) and against `service.Endpoint`
//! (`greeter.Greeter.Hello`, `greeter.Greeter.*`, `*.Admin.*`). Where several rules match,
//! the most specific wins — the one with the most literal characters, then the fewest
//! wildcards — so `greeter.Greeter.Hello` overrides `greeter`, which overrides `*`.
//! A caller passes a rule when it holds any one of the rule's scopes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The scope that passes every rule (the admin's).
pub const ALL: &str = "*";

/// One rule: calls to `resource` need one of `scopes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `service`, `service.Endpoint`, or a pattern with `*` (any run of characters).
    pub resource: String,
    /// Any one of these lets a caller through.
    pub scopes: Vec<String>,
}

/// The rule set, keyed by resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rules(BTreeMap<String, Vec<String>>);

impl Rules {
    /// Sets the scopes `resource` needs; an empty list removes the rule.
    pub fn set(&mut self, resource: &str, scopes: Vec<String>) {
        let scopes: Vec<String> = scopes.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if scopes.is_empty() {
            self.0.remove(resource.trim());
        } else {
            self.0.insert(resource.trim().to_string(), scopes);
        }
    }

    /// Every rule, sorted by resource.
    pub fn list(&self) -> Vec<Rule> {
        self.0.iter().map(|(r, s)| Rule { resource: r.clone(), scopes: s.clone() }).collect()
    }

    /// The rule that governs `service` at `endpoint`, if any (see the module docs).
    pub fn governing(&self, service: &str, endpoint: &str) -> Option<Rule> {
        let full = format!("{service}.{endpoint}");
        self.0
            .iter()
            .filter(|(pattern, _)| glob(pattern, service) || glob(pattern, &full))
            .max_by_key(|(pattern, _)| specificity(pattern))
            .map(|(r, s)| Rule { resource: r.clone(), scopes: s.clone() })
    }
}

/// Literal characters first, fewer wildcards second.
fn specificity(pattern: &str) -> (usize, std::cmp::Reverse<usize>) {
    let stars = pattern.matches('*').count();
    (pattern.len() - stars, std::cmp::Reverse(stars))
}

/// Whether `held` scopes satisfy `needed` (any one of them, or `*`).
pub fn satisfies(held: &[String], needed: &[String]) -> bool {
    held.iter().any(|h| h == ALL || needed.iter().any(|n| n == h))
}

/// `*`-glob match of the whole of `text` (no other metacharacters).
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn globs_match_the_whole_text() {
        assert!(glob("*", "anything.at.all"));
        assert!(glob("greeter.*", "greeter.Greeter.Hello"));
        assert!(glob("*.Admin.*", "users.Admin.Delete"));
        assert!(!glob("*.Admin.*", "users.Users.Delete"));
        assert!(glob("greeter", "greeter"));
        assert!(!glob("greeter", "greeter2"));
        assert!(!glob("a*a", "a"));
        assert!(glob("a*a", "aa"));
    }

    #[test]
    fn the_most_specific_rule_governs() {
        let mut r = Rules::default();
        r.set("*", v(&["user"]));
        r.set("greeter", v(&["greet"]));
        r.set("greeter.Greeter.Admin", v(&["admin"]));
        r.set("go.micro.api.greeter.*", v(&["ns"]));
        assert_eq!(r.governing("greeter", "Greeter.Hello").map(|x| x.resource).as_deref(), Some("greeter"));
        assert_eq!(
            r.governing("greeter", "Greeter.Admin").map(|x| x.resource).as_deref(),
            Some("greeter.Greeter.Admin")
        );
        assert_eq!(r.governing("other", "X.Y").map(|x| x.resource).as_deref(), Some("*"));
        assert_eq!(
            r.governing("go.micro.api.greeter", "Say.Hello").map(|x| x.resource).as_deref(),
            Some("go.micro.api.greeter.*")
        );
        r.set("*", vec![]);
        assert!(r.governing("other", "X.Y").is_none());
    }

    #[test]
    fn any_one_scope_or_star_satisfies() {
        assert!(satisfies(&v(&["a", "b"]), &v(&["b", "c"])));
        assert!(satisfies(&v(&["*"]), &v(&["c"])));
        assert!(!satisfies(&v(&["a"]), &v(&["c"])));
        assert!(!satisfies(&[], &v(&["c"])));
    }
}
