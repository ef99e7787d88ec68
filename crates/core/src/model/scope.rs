//! Scopes (RFC 6749 §3.3).

use std::collections::BTreeSet;

use crate::error::OAuthError;

/// A set of scope tokens, kept sorted so every rendering is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl ScopeSet {
    /// The empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parse a space-delimited scope string (RFC 6749 §3.3). Tokens are separated by single
    /// spaces; an invalid character or an empty token is `invalid_scope`.
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        let mut set = BTreeSet::new();
        for t in s.split(' ') {
            if !valid_token(t) {
                return Err(OAuthError::invalid_scope("scope is malformed"));
            }
            set.insert(t.to_owned());
        }
        Ok(Self(set))
    }

    /// Parse a stored value; stored values were validated on the way in, so this is lenient
    /// about whitespace.
    pub fn from_stored(s: &str) -> Self {
        Self(s.split_whitespace().map(str::to_owned).collect())
    }

    /// Whether the set has no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that are also in `other`.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes of `self` that are not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    /// Iterate in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Add one scope.
    pub fn insert(&mut self, scope: impl Into<String>) {
        self.0.insert(scope.into());
    }
}

impl std::fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Self::from_stored(&s))
    }
}

impl<S: Into<String>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

/// A registered scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDef {
    /// The scope token.
    pub name: String,
    /// What the consent page shows when no translation fits.
    pub description: String,
    /// Granted when a client omits `scope` (RFC 6749 §3.3 "pre-defined default value").
    pub is_default: bool,
    /// Descriptions by language tag (`de`, `fr-CA`), chosen by the consent page from
    /// `Accept-Language` / `ui_locales`.
    pub translations: std::collections::BTreeMap<String, String>,
}

impl ScopeDef {
    /// The description for the first language of `preferred` that has one (exact tag, then
    /// primary subtag), else the default description.
    pub fn describe<'a>(&'a self, preferred: &[String]) -> &'a str {
        self.describe_in(preferred).1
    }

    /// Like [`ScopeDef::describe`], with the language tag of the translation chosen (`None`
    /// for the default description), so a page can mark it up with `lang`.
    pub fn describe_in<'a>(&'a self, preferred: &[String]) -> (Option<&'a str>, &'a str) {
        for lang in preferred {
            let lang = lang.to_ascii_lowercase();
            let primary = lang.split('-').next().unwrap_or("");
            let hit = self
                .translations
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase() == lang)
                .or_else(|| self.translations.iter().find(|(k, _)| k.to_ascii_lowercase() == primary));
            if let Some((tag, text)) = hit {
                return (Some(tag), text);
            }
        }
        (None, &self.description)
    }

    /// Validate a scope name for registration.
    pub fn valid_name(name: &str) -> bool {
        valid_token(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_sorted() {
        let s = ScopeSet::parse("b a c").ok();
        assert_eq!(s.map(|s| s.to_string()), Some("a b c".to_owned()));
    }

    #[test]
    fn description_follows_preferred_languages_then_falls_back() {
        let def = ScopeDef {
            name: "notes:read".into(),
            description: "Read your notes".into(),
            is_default: false,
            translations: [
                ("de".to_owned(), "Notizen lesen".to_owned()),
                ("pt-BR".to_owned(), "Ler notas".to_owned()),
            ]
            .into_iter()
            .collect(),
        };
        let langs = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(def.describe_in(&langs(&["de-CH", "en"])), (Some("de"), "Notizen lesen"));
        assert_eq!(def.describe(&langs(&["pt-br"])), "Ler notas");
        assert_eq!(def.describe(&langs(&["fr", "pt"])), "Read your notes", "pt does not match pt-BR");
        assert_eq!(def.describe_in(&langs(&[])), (None, "Read your notes"));
    }

    #[test]
    fn rejects_bad_characters_and_empty_tokens() {
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a  b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("caf\u{e9}").is_err());
        assert!(ScopeSet::parse("invoices:read openid").is_ok());
    }
}
