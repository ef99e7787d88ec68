//! Plain data, no I/O: what the store keeps and the flows pass around.

pub mod account;
pub mod authorization;
pub mod client;
pub mod consent;
pub mod key;
pub mod scope;
pub mod secret;
pub mod session;
pub mod token;
