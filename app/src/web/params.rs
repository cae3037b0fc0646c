//! Query parameters shared by the JSON API and the pages: filters, days and page sizes,
//! read the same way everywhere so a link from a page and an API call agree.

use chrono::NaiveDate;

use crate::activity::parse_date;
use crate::error::{Error, Result};
use crate::store::ActivityQuery;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 500;
/// An optional day parameter: empty is the same as absent; anything else is exactly
/// `YYYY-MM-DD`, as the OpenAPI document states.
fn day(name: &'static str, value: Option<&str>) -> Result<Option<NaiveDate>> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => parse_date(text)
            .map(Some)
            .map_err(|message| Error::InvalidParameter { name, message }),
    }
}

fn text_filter(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub fn activity_query(
    customer: Option<String>,
    project: Option<String>,
    engineer: Option<String>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ActivityQuery> {
    Ok(ActivityQuery {
        customer: text_filter(customer),
        project: text_filter(project),
        engineer: text_filter(engineer),
        from: day("from", from)?,
        to: day("to", to)?,
    })
}

pub fn limit(value: Option<&str>) -> Result<usize> {
    let Some(text) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    // Digits only: `+5` or ` 5` are not the integer the document declares.
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<usize>() {
        Ok(n) if digits && (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Error::InvalidParameter {
            name: "limit",
            message: format!("must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"),
        }),
    }
}
