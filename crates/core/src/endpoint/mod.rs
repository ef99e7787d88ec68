//! One file per endpoint.

pub mod authorize;
pub mod introspect;
pub mod reply;
pub mod revoke;
pub mod token;
