//! API tokens: the file a Kubernetes Secret mounts (`<engineer> <role> <sha256-hex>` per
//! line), parsed, and polled for changes so a new or revoked token counts without a
//! restart. Only hashes are kept; a token itself is never stored nor logged. The file is
//! not a secret (it holds only hashes): nothing is derived from it that signs anything.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::watched::{FileContent, Watched};
use super::{Identity, Role};

/// A line of the token file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TokenFileError {
    pub line: usize,
    pub message: String,
}

/// The tokens of one version of the file, by hash.
pub struct TokenSet {
    by_hash: HashMap<[u8; 32], Identity>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.by_hash.len())
    }
}

/// The SHA-256 of a token, as the file holds it (in hex).
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenSet {
    /// Parses the token file; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        let mut by_hash = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let error = |message: String| TokenFileError {
                line: line_no,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [engineer, role, hash] = fields[..] else {
                return Err(error(format!(
                    "expected `<engineer> <role> <sha256-hex>`, found {} fields",
                    fields.len()
                )));
            };
            if engineer.chars().count() > 200 {
                return Err(error("the engineer is longer than 200 characters".into()));
            }
            let role = match role {
                "engineer" => Role::Engineer,
                "admin" => Role::Admin,
                other => {
                    return Err(error(format!(
                        "the role must be `engineer` or `admin`, not {other:?}"
                    )));
                }
            };
            let mut digest = [0u8; 32];
            let lowercase_hex = hash.len() == 64
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !lowercase_hex || hex::decode_to_slice(hash, &mut digest).is_err() {
                return Err(error(
                    "the hash must be the SHA-256 of the token in lowercase hex (64 characters)"
                        .into(),
                ));
            }
            let identity = Identity {
                engineer: engineer.to_owned(),
                role,
            };
            if by_hash.insert(digest, identity).is_some() {
                return Err(error("the same token hash is listed twice".into()));
            }
        }
        Ok(Self { by_hash })
    }

    /// Who a token names, if it is in the file.
    pub fn identify(&self, token: &str) -> Option<&Identity> {
        self.by_hash.get(&token_hash(token))
    }

    /// Who a token hash names (session cookies carry the hash, not the token).
    pub fn identify_hash(&self, hash: &[u8; 32]) -> Option<&Identity> {
        self.by_hash.get(hash)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The tokens of the file in force, replaced when the file changes.
pub type Tokens = Watched<TokenSet>;

impl FileContent for TokenSet {
    const WHAT: &'static str = "the token file";
    type Error = TokenFileError;

    fn parse(text: &str) -> Result<Self, TokenFileError> {
        TokenSet::parse(text)
    }

    fn summary(&self) -> String {
        format!("{} tokens", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(engineer: &str, role: &str, token: &str) -> String {
        format!("{engineer} {role} {}\n", hex::encode(token_hash(token)))
    }

    #[test]
    fn a_token_names_its_engineer_and_role() {
        let text = format!(
            "# team tokens\n\n{}{}",
            line("admin", "admin", "mapp_one"),
            line("ada", "engineer", "mapp_two")
        );
        let set = TokenSet::parse(&text).expect("valid");
        assert_eq!(set.len(), 2);
        let ada = set.identify("mapp_two").expect("known");
        assert_eq!((ada.engineer.as_str(), ada.role), ("ada", Role::Engineer));
        assert_eq!(set.identify("mapp_one").map(|i| i.role), Some(Role::Admin));
        assert!(set.identify("mapp_three").is_none());
    }

    #[test]
    fn a_malformed_line_is_named_by_number() {
        let good = line("ada", "engineer", "t");
        for (text, line_no, says) in [
            (format!("{good}\nada engineer\n"), 3, "fields"),
            (format!("{good}bob owner {}\n", "a".repeat(64)), 2, "role"),
            (
                format!("bob admin {}\n", "A".repeat(64)),
                1,
                "lowercase hex",
            ),
            (format!("bob admin {}\n", "a".repeat(63)), 1, "64"),
            (format!("{good}{good}"), 2, "twice"),
        ] {
            let error = TokenSet::parse(&text).expect_err("malformed");
            assert_eq!(error.line, line_no, "{text}");
            assert!(error.to_string().contains(says), "{error}");
        }
    }

    #[test]
    fn debug_output_shows_no_hash() {
        let set = TokenSet::parse(&line("ada", "engineer", "secret")).expect("valid");
        let shown = format!("{set:?}");
        assert_eq!(shown, "TokenSet(1 tokens)");
    }

    #[test]
    fn a_reload_replaces_changed_tokens_and_keeps_them_when_the_file_breaks() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, line("ada", "engineer", "old")).expect("write");
        let tokens = Tokens::load(&path).expect("load");
        assert!(!tokens.reload().expect("unchanged"));
        std::fs::write(&path, line("ada", "engineer", "new")).expect("write");
        assert!(tokens.reload().expect("changed"));
        assert!(tokens.current().identify("old").is_none());
        assert!(tokens.current().identify("new").is_some());
        std::fs::write(&path, "ada engineer nothex\n").expect("write");
        let error = crate::error::report(&tokens.reload().expect_err("broken"));
        assert!(error.contains("line 1"), "{error}");
        assert!(tokens.current().identify("new").is_some());
    }
}
