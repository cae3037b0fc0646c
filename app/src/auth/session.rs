//! Session cookies for people signed in through the form: the token's hash and an
//! expiry, signed with HMAC-SHA256 under a key derived from the token file. Nothing is
//! kept on the server, so every replica accepts them; a revoked token ends its sessions
//! because each request looks its hash up in the tokens in force.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::Identity;
use super::tokens::TokenSet;

/// The session cookie's name.
pub const COOKIE: &str = "metrics_session";
/// How long a sign-in lasts, in seconds.
pub const LIFETIME_SECS: u64 = 12 * 60 * 60;

type HmacSha256 = hmac::Hmac<Sha256>;

fn mac(key: &[u8; 32], payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"session\0");
    mac.update(payload);
    mac
}

/// The cookie value for the token with this hash, valid until `expires` (Unix seconds).
pub fn issue(tokens: &TokenSet, token_hash: &[u8; 32], expires: u64) -> String {
    let mut value = Vec::with_capacity(72);
    value.extend_from_slice(token_hash);
    value.extend_from_slice(&expires.to_be_bytes());
    let tag = mac(tokens.session_key(), &value).finalize().into_bytes();
    value.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(value)
}

/// Who a cookie value signs in at `now` (Unix seconds): none if it is forged, expired,
/// signed under an older token file, or its token is no longer in the file.
pub fn verify<'a>(tokens: &'a TokenSet, value: &str, now: u64) -> Option<&'a Identity> {
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    if bytes.len() != 72 {
        return None;
    }
    let (payload, tag) = bytes.split_at(40);
    mac(tokens.session_key(), payload).verify_slice(tag).ok()?;
    let expires = u64::from_be_bytes(payload[32..40].try_into().ok()?);
    if expires <= now {
        return None;
    }
    let hash: [u8; 32] = payload[..32].try_into().ok()?;
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

    #[test]
    fn a_session_signs_in_until_it_expires() {
        let set = tokens("mapp_ada");
        let value = issue(&set, &token_hash("mapp_ada"), 1_000);
        assert_eq!(
            verify(&set, &value, 999).map(|i| i.engineer.as_str()),
            Some("ada")
        );
        assert!(verify(&set, &value, 1_000).is_none());
    }

    #[test]
    fn a_forged_or_foreign_session_is_refused() {
        let set = tokens("mapp_ada");
        let value = issue(&set, &token_hash("mapp_ada"), 1_000);
        let mut forged = URL_SAFE_NO_PAD.decode(&value).expect("base64");
        forged[35] ^= 1;
        assert!(verify(&set, &URL_SAFE_NO_PAD.encode(forged), 0).is_none());
        // Another token file (a rotated Secret) signs with another key.
        assert!(verify(&tokens("mapp_other"), &value, 0).is_none());
        assert!(verify(&set, "not a cookie", 0).is_none());
    }
}
