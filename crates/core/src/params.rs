//! Decoded `application/x-www-form-urlencoded` parameters (RFC 6749 Appendix B).
//!
//! RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than
//! once", so a repeated parameter is rejected here, at the edge. RFC 8707 `resource` is the one
//! parameter that may repeat. An empty value counts as absent (RFC 6749 §3.1).

use crate::error::OAuthError;

/// Parameters that RFC 8707 §2 allows more than once.
const MULTI_VALUED: &[&str] = &["resource"];

/// Form or query parameters with every name at most once (except `resource`).
#[derive(Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Params {
    /// Only names: values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pairs.iter().map(|(k, _)| k)).finish()
    }
}

impl Params {
    /// Parse a form body or a query string.
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(input) {
            if name.is_empty() {
                continue;
            }
            if !MULTI_VALUED.contains(&name.as_ref()) && pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{}' must not be included more than once",
                    printable(&name)
                )));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// Build from pairs (tests, embedders). Repeats are rejected as in [`Params::parse`].
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, OAuthError> {
        let encoded: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        Self::parse(encoded.as_bytes())
    }

    /// The value of `name`, or `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of a multi-valued parameter.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `invalid_request` naming the missing parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing required parameter '{name}'")))
    }

    /// Whether `name` is present with a non-empty value.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// A parameter name made safe to quote in an error description.
fn printable(s: &str) -> String {
    s.chars().take(64).filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let e = Params::parse(b"grant_type=a&grant_type=b").err();
        assert_eq!(e.map(|e| e.code), Some(crate::ErrorCode::InvalidRequest));
    }

    #[test]
    fn repeated_resource_is_allowed_rfc8707() {
        let p = Params::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").ok();
        assert_eq!(p.map(|p| p.get_all("resource").count()), Some(2));
    }

    #[test]
    fn empty_value_counts_as_absent() {
        let p = Params::parse(b"scope=&state=x").ok();
        assert_eq!(p.as_ref().and_then(|p| p.get("scope")), None);
        assert_eq!(p.as_ref().and_then(|p| p.get("state")), Some("x"));
    }

    #[test]
    fn plus_and_percent_decode() {
        let p = Params::parse(b"a=x+y%20z").ok();
        assert_eq!(p.as_ref().and_then(|p| p.get("a")), Some("x y z"));
    }
}
