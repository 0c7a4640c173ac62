//! # micro
//!
//! go-micro for every language: service discovery, client-side load balancing, RPC with
//! bidirectional streams and content-type codecs, speaking go-micro's own wire protocol —
//! so a Rust program (and through the C, Python and Node layers, any program) serves and
//! calls endpoints inside a mesh of Go services, in both directions, with no sidecar.
//!
//! The modules follow go-micro's map: [`registry`], [`selector`], [`transport`], [`codec`],
//! [`client`], [`server`], and [`Service`] ties them together.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! use serde::{Deserialize, Serialize};
//! #[derive(Deserialize)] struct Hello { name: String }
//! #[derive(Serialize)] struct Reply { message: String }
//!
//! let svc = micro::Service::builder("greeter").build().await?;
//! svc.server().handle_json("Greeter.Hello", |req: Hello, _| async move {
//!     Ok(Reply { message: format!("Hello {}", req.name) })
//! });
//! svc.run().await
//! # }
//! ```
#![warn(missing_docs)]

pub mod addr;
pub mod broker;
pub mod client;
pub mod codec;
pub mod config;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod process;
pub mod registry;
pub mod selector;
pub mod server;
mod service;
mod timer;
pub mod transport;
pub mod wrapper;

pub use client::{CallOptions, Client, ClientBuilder, ClientOptions, ClientStream, PublishOptions, Reply};
pub use error::{Error, Result};
pub use server::{Request, Response, Server, ServerOptions, ServerStream};
pub use service::{wait_for_signal, Service, ServiceBuilder};

/// This library's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
