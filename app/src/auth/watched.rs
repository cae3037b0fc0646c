//! A file the sign-in reads and polls for changes (the token file, the session key), so
//! a Secret rotated in Kubernetes counts without a restart. Kubernetes updates a Secret
//! mount by swapping a `..data` symlink, which a poll of the content sees whatever the
//! filesystem.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How often a watched file is read for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// What a watched file holds, parsed from its text.
pub trait FileContent: Sized + Send + Sync + 'static {
    /// What the file is, for messages ("the token file").
    const WHAT: &'static str;
    type Error: std::error::Error + Send + Sync + 'static;
    fn parse(text: &str) -> Result<Self, Self::Error>;
    /// What a log line may say of a new version (never a secret).
    fn summary(&self) -> String;
}

/// Why a watched file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {what} {path}")]
    Read {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path} is malformed")]
    Malformed {
        what: &'static str,
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The current content of a file, replaced when the file changes.
pub struct Watched<T> {
    path: Arc<PathBuf>,
    current: Arc<RwLock<Current<T>>>,
}

impl<T> Clone for Watched<T> {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            current: self.current.clone(),
        }
    }
}

struct Current<T> {
    value: Arc<T>,
    /// SHA-256 of the file as last read, so an unchanged file is not parsed again.
    content: [u8; 32],
}

impl<T: FileContent + std::fmt::Debug> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.path.display(), self.current())
    }
}

fn read<T: FileContent>(path: &Path) -> Result<(T, [u8; 32]), LoadError> {
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        what: T::WHAT,
        path: shown(),
        source,
    })?;
    let value = T::parse(&text).map_err(|source| LoadError::Malformed {
        what: T::WHAT,
        path: shown(),
        source: Box::new(source),
    })?;
    Ok((value, Sha256::digest(text.as_bytes()).into()))
}

impl<T: FileContent> Watched<T> {
    /// Reads the file; at startup a file that cannot be read or parsed is an error.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let path = path.into();
        let (value, content) = read(&path)?;
        Ok(Self {
            path: Arc::new(path),
            current: Arc::new(RwLock::new(Current {
                value: Arc::new(value),
                content,
            })),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The content in force.
    pub fn current(&self) -> Arc<T> {
        match self.current.read() {
            Ok(current) => current.value.clone(),
            Err(poisoned) => poisoned.into_inner().value.clone(),
        }
    }

    /// Reads the file again. A changed, valid file replaces the content (true); an
    /// unchanged one does nothing (false); a broken one keeps the previous content (error).
    pub fn reload(&self) -> Result<bool, LoadError> {
        let (value, content) = read(&self.path)?;
        let mut current = match self.current.write() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.content == content {
            return Ok(false);
        }
        *current = Current {
            value: Arc::new(value),
            content,
        };
        Ok(true)
    }

    /// Polls the file every `every` until the process ends, logging each change (only
    /// its summary, never a secret) and each failure.
    pub fn spawn_reload(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let watched = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match watched.reload() {
                    Ok(true) => tracing::info!(
                        path = %watched.path.display(),
                        now = %watched.current().summary(),
                        "{} changed: reloaded",
                        T::WHAT
                    ),
                    Ok(false) => {}
                    Err(error) => tracing::error!(
                        error = %crate::error::report(&error),
                        "{} not reloaded; the previous one stays in force",
                        T::WHAT
                    ),
                }
            }
        })
    }
}
