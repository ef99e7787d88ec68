//! Test support for Portcullis (publish = false): an in-memory store, a clock tests move by
//! hand, and fixtures that build a server in one line.

// testkit is test-only support, never shipped: its helpers fail loudly (panic) on setup
// errors so that tests stay short.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod clock;
/// The store conformance suite every `Store` backend runs (`store_conformance_tests!`).
pub mod conformance;
pub mod fixtures;
pub mod memory;

pub use clock::FixedClock;
pub use fixtures::{basic_header, ClientSpec, Fixture};
pub use memory::MemoryStore;
