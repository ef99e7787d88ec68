//! One file per endpoint.

pub mod authorize;
pub mod introspect;
pub mod metadata;
pub mod reply;
pub mod revoke;
pub mod token;
pub mod userinfo;
