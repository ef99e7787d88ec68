//! One file per endpoint.

pub mod token;
