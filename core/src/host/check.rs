//! The argument checks every host used to repeat — an empty service name, endpoint or
//! topic — written once. Core's own entry points ([`crate::Client::call`],
//! [`crate::Client::publish`], [`crate::ServiceBuilder::build`], [`super::Inbox::serve`])
//! make them too, so a Rust caller is refused the same way a Python, Node or C one is.
//! Each failure is a 400 whose detail names the argument.

use crate::error::{Error, Result};

const ID: &str = "go.micro.client";

fn empty(what: &str) -> Error {
    Error::bad_request(ID, format!("{what} must not be empty"))
}

/// A service name to call or to serve: not empty.
pub fn service(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(empty("service name"));
    }
    Ok(())
}

/// An endpoint (`Handler.Method`) to call or to serve: not empty.
pub fn endpoint(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(empty("endpoint"));
    }
    Ok(())
}

/// A topic to publish or subscribe to, and its queue group: the topic not empty; a queue
/// group, when given, not empty either (no group is `None`).
pub fn topic(topic: &str, queue: Option<&str>) -> Result<()> {
    if topic.is_empty() {
        return Err(empty("topic"));
    }
    if queue == Some("") {
        return Err(Error::bad_request(ID, "queue must not be empty: give none for no queue group"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_names_are_400s_that_say_which() {
        assert_eq!(service("").expect_err("empty").code, 400);
        assert!(endpoint("").expect_err("empty").detail.contains("endpoint"));
        assert!(topic("", None).expect_err("empty").detail.contains("topic"));
        assert!(topic("t", Some("")).expect_err("empty").detail.contains("queue"));
        assert!(service("greeter").is_ok() && endpoint("Greeter.Hello").is_ok() && topic("t", Some("q")).is_ok());
    }
}
