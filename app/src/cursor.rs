//! Pagination cursors: the sort key (`<date>#<id>`) of the last activity a page returned,
//! written `<date>.<id>` so it needs no escaping in a URL. Clients pass it back as given;
//! its shape is stated in the OpenAPI document ([`PATTERN`]), and every cursor of that
//! shape is a position in the list, so the server accepts exactly what the document allows.

use crate::error::{Error, Result};

/// Longest id a cursor may carry (ids are UUIDs; this leaves room).
const MAX_ID_LEN: usize = 64;

/// The shape of a cursor, as a regular expression for the OpenAPI document.
pub const PATTERN: &str =
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\.[A-Za-z0-9-]{1,64}$";

pub fn encode(sort_key: &str) -> String {
    sort_key.replacen('#', ".", 1)
}

/// The sort key inside `cursor`, or a 400 naming `cursor`.
pub fn decode(cursor: &str) -> Result<String> {
    let invalid = || Error::InvalidParameter {
        name: "cursor",
        message: "not a cursor this API returned; start again without it".to_owned(),
    };
    let (date, id) = cursor.split_once('.').ok_or_else(invalid)?;
    let two = |text: &str, low: u8, high: u8| {
        text.parse::<u8>()
            .is_ok_and(|n| (low..=high).contains(&n) && text.len() == 2)
    };
    let date_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
        && two(&date[5..7], 1, 12)
        && two(&date[8..10], 1, 31);
    let id_ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !date_ok || !id_ok {
        return Err(invalid());
    }
    Ok(format!("{date}#{id}"))
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
            "2026-11-20#abc",
            "2026-00-20.abc",
        ] {
            let error = decode(cursor).expect_err(cursor);
            assert!(error.to_string().contains("`cursor`"), "{error}");
        }
    }
}
