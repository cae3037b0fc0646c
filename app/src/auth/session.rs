//! Session cookies for people signed in through the form: the token's hash and an
//! expiry, signed with HMAC-SHA256 under the session key — a secret of its own
//! (`--session-key-file`), never derived from the token file, which holds only hashes
//! and is not a secret. Nothing is kept on the server, so every replica that mounts the
//! same key accepts the same sessions; a cookie names its key, so a rotated key refuses
//! old cookies; a revoked token ends its sessions because each request looks its hash up
//! in the tokens in force.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::Identity;
use super::tokens::TokenSet;
use super::watched::{FileContent, Watched};

/// The session cookie's name.
pub const COOKIE: &str = "metrics_session";
/// How long a sign-in lasts, in seconds.
pub const LIFETIME_SECS: u64 = 12 * 60 * 60;
/// The fewest random bytes a session key file may hold.
pub const MIN_KEY_BYTES: usize = 32;

/// Key id (4) ‖ token hash (32) ‖ expiry (8) ‖ HMAC-SHA256 (32).
const COOKIE_BYTES: usize = 4 + 32 + 8 + 32;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The key that signs session cookies, and its public id.
pub struct SessionKey {
    mac_key: [u8; 32],
    id: [u8; 4],
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKey(id {})", hex::encode(self.id))
    }
}

/// A session key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "the session key must be at least {MIN_KEY_BYTES} random bytes written as hex or base64 \
     (e.g. `openssl rand -hex 32`); this file holds {found}"
)]
pub struct SessionKeyError {
    found: String,
}

impl SessionKey {
    /// A key from secret bytes (at least [`MIN_KEY_BYTES`] of them).
    fn from_secret(secret: &[u8]) -> Self {
        let mac_key: [u8; 32] = Sha256::new_with_prefix(b"metrics-app session key v2\0")
            .chain_update(secret)
            .finalize()
            .into();
        // The id is a hash of the key: it tells keys apart and says nothing of the key.
        let digest = Sha256::new_with_prefix(b"metrics-app session key id\0")
            .chain_update(mac_key)
            .finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        Self { mac_key, id }
    }

    /// 256 random bits drawn now: sessions last until the process ends and only this
    /// replica accepts them.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self::from_secret(&secret))
    }

    /// The key in a session key file: hex or base64 of at least 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SessionKeyError> {
        let text = text.trim();
        let decoded = if text.is_empty() {
            None
        } else if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .ok()
        };
        match decoded {
            Some(secret) if secret.len() >= MIN_KEY_BYTES => Ok(Self::from_secret(&secret)),
            Some(secret) => Err(SessionKeyError {
                found: format!("{} bytes", secret.len()),
            }),
            None if text.is_empty() => Err(SessionKeyError {
                found: "nothing".into(),
            }),
            None => Err(SessionKeyError {
                found: "text that is neither hex nor base64".into(),
            }),
        }
    }

    /// The key's public id, as cookies carry it (hex).
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.mac_key).expect("HMAC takes a key of any length");
        mac.update(b"session v2\0");
        mac.update(payload);
        mac
    }
}

impl FileContent for SessionKey {
    const WHAT: &'static str = "the session key file";
    type Error = SessionKeyError;

    fn parse(text: &str) -> Result<Self, SessionKeyError> {
        SessionKey::parse(text)
    }

    fn summary(&self) -> String {
        format!("key id {}; earlier sessions end", self.id())
    }
}

/// Where the session key comes from.
#[derive(Clone, Debug)]
pub enum SessionKeys {
    /// `--session-key-file`, re-read when it changes (a new key ends every session).
    File(Watched<SessionKey>),
    /// Drawn at start because no file was given.
    Drawn(Arc<SessionKey>),
}

impl SessionKeys {
    /// The key in force.
    pub fn current(&self) -> Arc<SessionKey> {
        match self {
            SessionKeys::File(file) => file.current(),
            SessionKeys::Drawn(key) => key.clone(),
        }
    }
}

/// The cookie value for the token with this hash, valid until `expires` (Unix seconds).
pub fn issue(key: &SessionKey, token_hash: &[u8; 32], expires: u64) -> String {
    let mut value = Vec::with_capacity(COOKIE_BYTES);
    value.extend_from_slice(&key.id);
    value.extend_from_slice(token_hash);
    value.extend_from_slice(&expires.to_be_bytes());
    let tag = key.mac(&value).finalize().into_bytes();
    value.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(value)
}

/// Who a cookie value signs in at `now` (Unix seconds): none if it is forged, expired,
/// signed under another key, or its token is no longer in the file.
pub fn verify<'a>(
    key: &SessionKey,
    tokens: &'a TokenSet,
    value: &str,
    now: u64,
) -> Option<&'a Identity> {
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    if bytes.len() != COOKIE_BYTES || bytes[..4] != key.id {
        return None;
    }
    let (payload, tag) = bytes.split_at(COOKIE_BYTES - 32);
    // verify_slice compares in constant time.
    key.mac(payload).verify_slice(tag).ok()?;
    let expires = u64::from_be_bytes(payload[36..44].try_into().ok()?);
    if expires <= now {
        return None;
    }
    let hash: [u8; 32] = payload[4..36].try_into().ok()?;
    tokens.identify_hash(&hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tokens::token_hash;

    fn tokens(token: &str) -> TokenSet {
        TokenSet::parse(&format!(
            "ada engineer {}\n",
            hex::encode(token_hash(token))
        ))
        .expect("valid")
    }

    fn key() -> SessionKey {
        SessionKey::random().expect("random")
    }

    #[test]
    fn a_session_signs_in_until_it_expires() {
        let (key, set) = (key(), tokens("mapp_ada"));
        let value = issue(&key, &token_hash("mapp_ada"), 1_000);
        assert_eq!(
            verify(&key, &set, &value, 999).map(|i| i.engineer.as_str()),
            Some("ada")
        );
        assert!(verify(&key, &set, &value, 1_000).is_none());
    }

    #[test]
    fn a_forged_session_or_one_under_another_key_is_refused() {
        let (key, set) = (key(), tokens("mapp_ada"));
        let value = issue(&key, &token_hash("mapp_ada"), 1_000);
        for byte in [0, 5, 40, 60] {
            let mut forged = URL_SAFE_NO_PAD.decode(&value).expect("base64");
            forged[byte] ^= 1;
            assert!(verify(&key, &set, &URL_SAFE_NO_PAD.encode(forged), 0).is_none());
        }
        // A rotated key refuses what the old one signed, even with the old id copied.
        let other = self::key();
        assert!(verify(&other, &set, &value, 0).is_none());
        let mut reid = URL_SAFE_NO_PAD.decode(&value).expect("base64");
        reid[..4].copy_from_slice(&other.id);
        assert!(verify(&other, &set, &URL_SAFE_NO_PAD.encode(reid), 0).is_none());
        assert!(verify(&key, &set, "not a cookie", 0).is_none());
    }

    /// The forgery this key replaced: HMAC under SHA-256 of a fixed label and the text
    /// of the token file, which anyone who may read that file could compute.
    #[test]
    fn a_cookie_derived_from_the_token_file_is_refused() {
        let text = format!("ada admin {}\n", hex::encode(token_hash("mapp_ada")));
        let set = TokenSet::parse(&text).expect("valid");
        let derived: [u8; 32] = Sha256::new_with_prefix(b"metrics-app session key v1\0")
            .chain_update(text.as_bytes())
            .finalize()
            .into();
        let mut payload = token_hash("mapp_ada").to_vec();
        payload.extend_from_slice(&u64::MAX.to_be_bytes());
        let mut mac = HmacSha256::new_from_slice(&derived).expect("key");
        mac.update(b"session\0");
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        let old_format = URL_SAFE_NO_PAD.encode(&payload);
        assert!(verify(&key(), &set, &old_format, 0).is_none());
        // Nor does deriving the new key from the file's text help.
        let from_file = SessionKey::from_secret(text.as_bytes());
        let cookie = issue(&from_file, &token_hash("mapp_ada"), u64::MAX);
        assert!(verify(&key(), &set, &cookie, 0).is_none());
    }

    #[test]
    fn a_key_file_holds_32_random_bytes_as_hex_or_base64() {
        let hex_key = "0f".repeat(32);
        let from_hex = SessionKey::parse(&format!("{hex_key}\n")).expect("hex");
        let from_base64 = SessionKey::parse(&STANDARD.encode([0x0f; 32])).expect("base64");
        assert_eq!(
            from_hex.id(),
            from_base64.id(),
            "the same bytes, the same key"
        );
        assert_ne!(
            from_hex.id(),
            SessionKey::parse(&"1e".repeat(32)).unwrap().id()
        );
        for (text, says) in [
            ("", "nothing"),
            (&"ab".repeat(31), "31 bytes"),
            ("correct horse battery staple!", "neither hex nor base64"),
        ] {
            let error = SessionKey::parse(text).expect_err(text).to_string();
            assert!(error.contains(says) && error.contains("openssl"), "{error}");
        }
        assert_eq!(
            format!("{from_hex:?}"),
            format!("SessionKey(id {})", from_hex.id()),
            "Debug shows only the id"
        );
    }
}
