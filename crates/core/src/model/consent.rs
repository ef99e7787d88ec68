//! Remembered consent: what a user allowed a client, so a later request for the same or fewer
//! scopes skips the consent page.

use crate::clock::UnixTime;
use crate::model::scope::ScopeSet;

/// A user's standing approval of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The user (`sub`).
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// Every scope approved so far.
    pub scopes: ScopeSet,
    /// First approval.
    pub granted_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}
