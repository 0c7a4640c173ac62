//! Rate limits: a token bucket per endpoint, as go-micro's ratelimiter plugins put one
//! around a server's handlers (or a client's calls). A request over the limit is refused at
//! once with go-micro's 429 `too many requests`, its handler never run; under the limit it
//! costs one lock and a little arithmetic.
//!
//! Turned on for a [`crate::Service`]'s handlers by `MICRO_RATE_LIMIT` (`N` requests a
//! second per endpoint, or `N,BURST`) or [`crate::ServiceBuilder::rate_limit`].

use super::{call_wrapper, handler_wrapper, CallWrapper, HandlerWrapper};
use crate::error::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A rate: `per_second` requests a second on average, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added a second.
    pub per_second: f64,
    /// The bucket's size: how many requests may come at once after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` requests a second with a burst of the same size (at least 1).
    pub fn new(per_second: f64) -> Self {
        RateLimit { per_second, burst: per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32 }
    }

    /// Reads `N` or `N,BURST` (`MICRO_RATE_LIMIT`): `None` for anything else, including a
    /// rate or burst that is not above zero.
    pub fn parse(text: &str) -> Option<RateLimit> {
        let (rate, burst) = match text.split_once(',') {
            Some((r, b)) => (r.trim(), Some(b.trim())),
            None => (text.trim(), None),
        };
        let per_second: f64 = rate.trim_end_matches("/s").parse().ok().filter(|r: &f64| r.is_finite() && *r > 0.0)?;
        let mut limit = RateLimit::new(per_second);
        if let Some(b) = burst {
            limit.burst = b.parse().ok().filter(|b| *b > 0)?;
        }
        Some(limit)
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets by key (`service.endpoint`), created full on first use.
struct Buckets {
    limit: RateLimit,
    by_key: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    fn new(limit: RateLimit) -> Arc<Self> {
        Arc::new(Buckets { limit, by_key: Mutex::default() })
    }

    /// Takes a token for `key`; `false` when there is none.
    fn take(&self, key: &str) -> bool {
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = match map.get_mut(key) {
            Some(b) => b,
            None => map.entry(key.to_string()).or_insert(Bucket { tokens: burst, last: now }),
        };
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.limit.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refusal(&self, id: &str, service: &str, endpoint: &str) -> Error {
        Error::new(
            id,
            format!("too many requests: {service}.{endpoint} is limited to {} a second", self.limit.per_second),
            429,
        )
    }
}

/// Limits the requests a server handles, per endpoint; over the limit: 429 from the service.
pub fn handler(limit: RateLimit) -> HandlerWrapper {
    let buckets = Buckets::new(limit);
    handler_wrapper(move |req: crate::server::Request, next| {
        let allowed = buckets.take(&format!("{}.{}", req.service, req.endpoint));
        let refusal = (!allowed).then(|| buckets.refusal(&req.service, &req.service, &req.endpoint));
        async move {
            match refusal {
                Some(e) => Err(e),
                None => next.run(req).await,
            }
        }
    })
}

/// Limits the calls a client makes, per service and endpoint; over the limit: 429 from the
/// client (`go.micro.client`), nothing sent.
pub fn call(limit: RateLimit) -> CallWrapper {
    let buckets = Buckets::new(limit);
    call_wrapper(move |call: super::Call, next| {
        let allowed = buckets.take(&format!("{}.{}", call.service, call.endpoint));
        let refusal = (!allowed).then(|| buckets.refusal(crate::error::CLIENT_ID, &call.service, &call.endpoint));
        async move {
            match refusal {
                Some(e) => Err(e),
                None => next.run(call).await,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(RateLimit::parse("100"), Some(RateLimit { per_second: 100.0, burst: 100 }));
        assert_eq!(RateLimit::parse("0.5/s"), Some(RateLimit { per_second: 0.5, burst: 1 }));
        assert_eq!(RateLimit::parse("10, 50"), Some(RateLimit { per_second: 10.0, burst: 50 }));
        for bad in ["", "0", "-1", "x", "10,0", "10,x", "NaN", "inf"] {
            assert_eq!(RateLimit::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_per_key() {
        let b = Buckets::new(RateLimit { per_second: 0.001, burst: 2 });
        assert!(b.take("a") && b.take("a"));
        assert!(!b.take("a"), "the burst is spent");
        assert!(b.take("b"), "another endpoint has its own bucket");
    }
}
