//! API tokens: the file a Kubernetes Secret mounts (`<engineer> <role> <sha256-hex>` per
//! line), parsed, and polled for changes so a new or revoked token counts without a
//! restart. Only hashes are kept; a token itself is never stored nor logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Identity, Role};

/// How often the token file is read for changes. Kubernetes updates a Secret mount by
/// swapping a `..data` symlink, which a poll of the content sees whatever the filesystem.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

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
    /// Signs session cookies. Derived from the file, so every replica that mounts the
    /// same Secret accepts the same sessions, and a change of the file ends them all.
    session_key: [u8; 32],
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
        let mut key = Sha256::new();
        key.update(b"metrics-app session key v1\0");
        key.update(text.as_bytes());
        Ok(Self {
            by_hash,
            session_key: key.finalize().into(),
        })
    }

    /// Who a token names, if it is in the file.
    pub fn identify(&self, token: &str) -> Option<&Identity> {
        self.by_hash.get(&token_hash(token))
    }

    /// Who a token hash names (session cookies carry the hash, not the token).
    pub fn identify_hash(&self, hash: &[u8; 32]) -> Option<&Identity> {
        self.by_hash.get(hash)
    }

    pub fn session_key(&self) -> &[u8; 32] {
        &self.session_key
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The current tokens of a file, replaced when the file changes.
#[derive(Clone)]
pub struct Tokens {
    path: Arc<PathBuf>,
    current: Arc<RwLock<Current>>,
}

struct Current {
    set: Arc<TokenSet>,
    /// SHA-256 of the file as last read, so an unchanged file is not parsed again.
    content: [u8; 32],
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({}: {:?})", self.path.display(), self.current())
    }
}

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the token file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the token file {path} is malformed")]
    Malformed {
        path: String,
        #[source]
        source: TokenFileError,
    },
}

fn read(path: &Path) -> Result<(TokenSet, [u8; 32]), LoadError> {
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: shown(),
        source,
    })?;
    let set = TokenSet::parse(&text).map_err(|source| LoadError::Malformed {
        path: shown(),
        source,
    })?;
    Ok((set, Sha256::digest(text.as_bytes()).into()))
}

impl Tokens {
    /// Reads the file; at startup a file that cannot be read or parsed is an error.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let path = path.into();
        let (set, content) = read(&path)?;
        Ok(Self {
            path: Arc::new(path),
            current: Arc::new(RwLock::new(Current {
                set: Arc::new(set),
                content,
            })),
        })
    }

    /// The tokens in force.
    pub fn current(&self) -> Arc<TokenSet> {
        match self.current.read() {
            Ok(current) => current.set.clone(),
            Err(poisoned) => poisoned.into_inner().set.clone(),
        }
    }

    /// Reads the file again. A changed, valid file replaces the tokens (true); an
    /// unchanged one does nothing (false); a broken one keeps the previous tokens (error).
    pub fn reload(&self) -> Result<bool, LoadError> {
        let (set, content) = read(&self.path)?;
        let mut current = match self.current.write() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.content == content {
            return Ok(false);
        }
        *current = Current {
            set: Arc::new(set),
            content,
        };
        Ok(true)
    }

    /// Polls the file every `every` until the process ends, logging each change (never
    /// a token: only how many there are) and each failure.
    pub fn spawn_reload(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let tokens = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match tokens.reload() {
                    Ok(true) => tracing::info!(
                        path = %tokens.path.display(),
                        tokens = tokens.current().len(),
                        "token file changed: tokens reloaded"
                    ),
                    Ok(false) => {}
                    Err(error) => tracing::error!(
                        error = %crate::error::report(&error),
                        "token file not reloaded; the previous tokens stay in force"
                    ),
                }
            }
        })
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
