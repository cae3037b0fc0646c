//! `/picus` items: any JSON object, stored as given. The checks here run before either
//! store sees an item, so both backends accept and refuse exactly the same bodies.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Attribute names the app keeps for itself; a body may not set them.
pub const RESERVED: [&str; 5] = [
    "id",
    metrics_app_table::PARTITION_KEY,
    metrics_app_table::SORT_KEY,
    metrics_app_table::COLLECTION_KEY,
    metrics_app_table::COLLECTION_SORT_KEY,
];
/// DynamoDB's item size limit, applied to both stores.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's nesting limit for maps and lists.
pub const MAX_DEPTH: usize = 32;
/// Bytes the app adds to an item for its keys (an upper bound).
const BOOKKEEPING_BYTES: usize = 200;

/// Checks that `body` can be stored as a `/picus` item and returns its attributes.
pub fn item_from_body(body: Value) -> Result<Map<String, Value>> {
    let Value::Object(object) = body else {
        return Err(Error::InvalidItem(format!(
            "the body must be a JSON object, not {}",
            kind(&body)
        )));
    };
    if let Some(reserved) = RESERVED.iter().find(|name| object.contains_key(**name)) {
        return Err(Error::InvalidItem(format!(
            "attribute {reserved:?} is reserved; remove it from the body"
        )));
    }
    let mut size = BOOKKEEPING_BYTES;
    for (name, value) in &object {
        check_name(name, name)?;
        size += name.len() + check_value(value, name, 1)?;
    }
    if size > MAX_ITEM_BYTES {
        return Err(Error::ItemTooLarge {
            size,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(object)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_name(name: &str, path: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidItem(format!(
            "attribute names must not be empty (at {path:?})"
        )));
    }
    Ok(())
}

/// Checks one value and returns an upper bound of its stored size in bytes, following
/// DynamoDB's item size rules.
fn check_value(value: &Value, path: &str, depth: usize) -> Result<usize> {
    if depth > MAX_DEPTH {
        return Err(Error::InvalidItem(format!(
            "{path:?} is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    match value {
        Value::Null | Value::Bool(_) => Ok(1),
        Value::String(text) => Ok(text.len()),
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                let magnitude = float.abs();
                if magnitude != 0.0 && !(1e-130..1e126).contains(&magnitude) {
                    return Err(Error::InvalidItem(format!(
                        "number at {path:?} is outside the storable range 1e-130..1e126"
                    )));
                }
            }
            Ok(number.to_string().len() / 2 + 2)
        }
        Value::Array(values) => {
            let mut size = 3;
            for (index, value) in values.iter().enumerate() {
                size += 1 + check_value(value, &format!("{path}[{index}]"), depth + 1)?;
            }
            Ok(size)
        }
        Value::Object(object) => {
            let mut size = 3;
            for (name, value) in object {
                let inner = format!("{path}.{name}");
                check_name(name, &inner)?;
                size += 1 + name.len() + check_value(value, &inner, depth + 1)?;
            }
            Ok(size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_smallest_and_largest_storable_numbers_are_accepted_as_written() {
        for text in ["-1e-130", "1e-130", "9.9e125", "-9.9e125"] {
            let body: Value = serde_json::from_str(&format!("{{\"n\": {text}}}")).unwrap();
            assert!(check_value(&body, "", 0).is_ok(), "{text}");
        }
        let body: Value = serde_json::from_str("{\"n\": 1e126}").unwrap();
        assert!(check_value(&body, "", 0).is_err());
    }

    #[test]
    fn any_object_is_kept_as_given() {
        let body = json!({"Data": "Sample Data", "n": 1.5, "ok": true, "none": null,
                          "nested": {"list": [1, "two", {"three": [3]}]}});
        let item = item_from_body(body.clone()).expect("storable");
        assert_eq!(Value::Object(item), body);
    }

    #[test]
    fn non_objects_are_refused_by_kind() {
        for (body, kind) in [
            (json!([1]), "an array"),
            (json!("x"), "a string"),
            (json!(null), "null"),
        ] {
            let error = item_from_body(body).expect_err("not an object").to_string();
            assert!(error.contains(kind), "{error}");
        }
    }

    #[test]
    fn reserved_attributes_are_named() {
        for name in RESERVED {
            let error = item_from_body(json!({ name: "x" }))
                .expect_err("reserved")
                .to_string();
            assert!(error.contains(&format!("{name:?}")), "{error}");
        }
    }

    #[test]
    fn items_over_400_kb_are_too_large() {
        let error = item_from_body(json!({"blob": "x".repeat(MAX_ITEM_BYTES)})).expect_err("large");
        assert!(matches!(error, Error::ItemTooLarge { .. }), "{error:?}");
        assert!(item_from_body(json!({"blob": "x".repeat(300 * 1024)})).is_ok());
    }

    #[test]
    fn unstorable_shapes_are_refused() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        for body in [
            json!({"deep": deep}),
            json!({"": 1}),
            json!({"a": {"": 1}}),
            json!({"big": 1e300}),
            json!({"tiny": 1e-200}),
        ] {
            assert!(
                matches!(item_from_body(body.clone()), Err(Error::InvalidItem(_))),
                "{body}"
            );
        }
    }
}
