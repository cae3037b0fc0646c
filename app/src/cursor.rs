//! Opaque pagination cursors: the sort key (`<date>#<id>`) of the last activity a page
//! returned, base64url-encoded so clients treat it as a token, not something to build.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::activity::parse_date;
use crate::error::{Error, Result};

/// Longest id a cursor may carry (ids are UUIDs; this leaves room).
const MAX_ID_LEN: usize = 64;

pub fn encode(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

/// The sort key inside `cursor`, or a 400 naming `cursor`.
pub fn decode(cursor: &str) -> Result<String> {
    let invalid = || Error::InvalidParameter {
        name: "cursor",
        message: "not a cursor this API returned; start again without it".to_owned(),
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let key = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (date, id) = key.split_once('#').ok_or_else(invalid)?;
    parse_date(date).map_err(|_| invalid())?;
    let id_ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(invalid());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_carries_its_sort_key() {
        let key = "2026-11-20#0193a4c1-7f0e-7c3a-9a51-3b0f6f2d9a10";
        assert_eq!(decode(&encode(key)).expect("valid"), key);
    }

    #[test]
    fn foreign_cursors_name_the_parameter() {
        for cursor in [
            "",
            "!!!",
            "bm90IGEgY3Vyc29y",
            &encode("2026-13-01#abc"),
            &encode("2026-11-20#"),
            &encode("2026-11-20#a~b"),
        ] {
            let error = decode(cursor).expect_err(cursor);
            assert!(error.to_string().contains("`cursor`"), "{error}");
        }
    }
}
