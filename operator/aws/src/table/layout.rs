//! The app's key layout (from `metrics_app_table`, the one definition the app reads
//! and writes) and the check that an existing table has it. Keys cannot change on a
//! live table, so a difference is reported, never "fixed".

use aws_sdk_dynamodb::types::KeySchemaElement;

use super::actual::{IndexLayout, Layout};

/// The layout the app needs, as plain data.
pub fn expected() -> Layout {
    Layout {
        key_schema: keys(&metrics_app_table::key_schema()),
        attributes: metrics_app_table::attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect(),
        indexes: metrics_app_table::global_secondary_indexes(None)
            .iter()
            .map(|index| {
                let layout = IndexLayout {
                    key_schema: keys(index.key_schema()),
                    projection: index
                        .projection()
                        .and_then(|p| p.projection_type())
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                };
                (index.index_name().to_owned(), layout)
            })
            .collect(),
    }
}

/// Converts SDK key schema elements to `(attribute, HASH | RANGE)` pairs.
pub fn keys(schema: &[KeySchemaElement]) -> Vec<(String, String)> {
    schema
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect()
}

/// What keeps `actual` from serving the app, one phrase per difference; empty when the
/// table fits. Extra indexes are allowed: the app ignores them.
pub fn differences(expected: &Layout, actual: &Layout) -> Vec<String> {
    let mut found = Vec::new();
    if expected.key_schema != actual.key_schema {
        found.push(format!(
            "primary key is {} (the app needs {})",
            describe_keys(&actual.key_schema),
            describe_keys(&expected.key_schema)
        ));
    }
    for (name, index) in &expected.indexes {
        match actual.indexes.get(name) {
            None => found.push(format!("index `{name}` is missing")),
            Some(have) => {
                if have.key_schema != index.key_schema {
                    found.push(format!(
                        "index `{name}` key is {} (the app needs {})",
                        describe_keys(&have.key_schema),
                        describe_keys(&index.key_schema)
                    ));
                }
                if have.projection != index.projection {
                    found.push(format!(
                        "index `{name}` projects {} (the app needs {})",
                        have.projection, index.projection
                    ));
                }
            }
        }
    }
    for (attribute, kind) in &expected.attributes {
        if let Some(have) = actual.attributes.get(attribute)
            && have != kind
        {
            found.push(format!(
                "attribute `{attribute}` has type {have} (the app needs {kind})"
            ));
        }
    }
    found
}

fn describe_keys(keys: &[(String, String)]) -> String {
    if keys.is_empty() {
        return "empty".to_owned();
    }
    keys.iter()
        .map(|(name, kind)| format!("{name} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_layout_is_pk_sk_with_the_collection_index() {
        let layout = expected();
        assert_eq!(
            layout.key_schema,
            vec![
                ("pk".to_owned(), "HASH".to_owned()),
                ("sk".to_owned(), "RANGE".to_owned())
            ]
        );
        let index = &layout.indexes["by_collection"];
        assert_eq!(index.projection, "ALL");
        assert_eq!(
            index.key_schema[0],
            ("gsi1pk".to_owned(), "HASH".to_owned())
        );
        assert!(differences(&layout, &layout).is_empty());
    }

    #[test]
    fn a_different_primary_key_is_named() {
        let want = expected();
        let mut have = want.clone();
        have.key_schema = vec![("id".to_owned(), "HASH".to_owned())];
        let found = differences(&want, &have);
        assert_eq!(
            found,
            vec!["primary key is id HASH (the app needs pk HASH, sk RANGE)".to_owned()]
        );
    }

    #[test]
    fn a_missing_or_different_index_is_named_and_extra_indexes_are_allowed() {
        let want = expected();
        let mut have = want.clone();
        have.indexes.clear();
        assert_eq!(
            differences(&want, &have),
            vec!["index `by_collection` is missing"]
        );

        let mut have = want.clone();
        have.indexes.get_mut("by_collection").unwrap().projection = "KEYS_ONLY".into();
        have.indexes.insert("extra".into(), IndexLayout::default());
        assert_eq!(
            differences(&want, &have),
            vec!["index `by_collection` projects KEYS_ONLY (the app needs ALL)"]
        );
    }

    #[test]
    fn a_key_attribute_of_another_type_is_named() {
        let want = expected();
        let mut have = want.clone();
        have.attributes.insert("sk".into(), "N".into());
        assert_eq!(
            differences(&want, &have),
            vec!["attribute `sk` has type N (the app needs S)"]
        );
    }
}
