//! Activities as CSV (RFC 4180, via the `csv` crate), for billing: streamed page by page
//! from the store, so memory stays one page whatever the number of activities.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::activity::Activity;
use crate::error::{Error, Result, report};
use crate::store::{ActivityQuery, Page, SharedStore};

/// Activities read from the store per chunk of the response.
const PAGE: usize = 500;

const HEADER: [&str; 9] = [
    "id",
    "date",
    "customer",
    "project",
    "engineer",
    "hours",
    "description",
    "created_at",
    "updated_at",
];

/// A cell a spreadsheet would not run as a formula: text starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (OWASP's advice for CSV injection).
pub fn safe_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

fn record(activity: &Activity) -> [String; 9] {
    let f = &activity.fields;
    let cell = |text: &str| safe_cell(text).into_owned();
    [
        cell(&activity.id),
        f.date.format("%Y-%m-%d").to_string(),
        cell(&f.customer),
        cell(&f.project),
        cell(&f.engineer),
        f.hours.to_string(),
        cell(&f.description),
        activity
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        activity
            .updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ]
}

/// One page as CSV rows (with the header row first when `header`).
fn rows(activities: &[Activity], header: bool) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(activities.len() * 160 + 100));
    if header {
        writer.write_record(HEADER)?;
    }
    for activity in activities {
        writer.write_record(record(activity))?;
    }
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Where a streamed export is: a page read and not yet written, or done.
enum Export {
    Page {
        store: SharedStore,
        query: ActivityQuery,
        page: Page,
        header: bool,
    },
    Done,
}

async fn next_chunk(export: Export) -> Option<(std::io::Result<Bytes>, Export)> {
    let Export::Page {
        store,
        query,
        page,
        header,
    } = export
    else {
        return None;
    };
    let chunk = match rows(&page.activities, header) {
        Ok(chunk) => Bytes::from(chunk),
        Err(error) => return Some((Err(error), Export::Done)),
    };
    let Some(after) = page.next else {
        return Some((Ok(chunk), Export::Done));
    };
    match store.list_activities(&query, PAGE, Some(&after)).await {
        Ok(page) => Some((
            Ok(chunk),
            Export::Page {
                store,
                query,
                page,
                header: false,
            },
        )),
        Err(error) => {
            // The status is sent already: a cut body is how the client learns of it.
            tracing::error!(error = %report(&error), after, "CSV export stopped: the store failed");
            Some((Err(std::io::Error::other(error.to_string())), Export::Done))
        }
    }
}

/// Every activity matching `query` after sort key `after`, as a CSV download.
pub async fn csv_response(
    store: SharedStore,
    query: ActivityQuery,
    after: Option<String>,
) -> Result<Response, Error> {
    // The first page is read before answering, so an unavailable store is still a 503.
    let page = store
        .list_activities(&query, PAGE, after.as_deref())
        .await?;
    let chunks = futures::stream::unfold(
        Export::Page {
            store,
            query,
            page,
            header: true,
        },
        next_chunk,
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/csv; charset=utf-8; header=present",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"activities.csv\"",
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        for (text, safe) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Acme", "Acme"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(safe_cell(text), safe, "{text:?}");
        }
    }

    #[test]
    fn rows_are_rfc_4180() {
        let activity = Activity {
            id: "0193a4c1-7f0e-7c3a-9a51-3b0f6f2d9a10".to_owned(),
            fields: crate::activity::ActivityFields {
                customer: "Acme, \"Inc\"".to_owned(),
                project: "=HYPERLINK(\"x\")".to_owned(),
                engineer: "ada".to_owned(),
                date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).expect("day"),
                hours: 1.5,
                description: "two\nlines".to_owned(),
            },
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let text = String::from_utf8(rows(&[activity], true).expect("rows")).expect("utf-8");
        assert_eq!(
            text,
            "id,date,customer,project,engineer,hours,description,created_at,updated_at\r\n\
             0193a4c1-7f0e-7c3a-9a51-3b0f6f2d9a10,2026-11-20,\"Acme, \"\"Inc\"\"\",\
             \"'=HYPERLINK(\"\"x\"\")\",ada,1.5,\"two\nlines\",\
             1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z\r\n"
        );
    }
}
