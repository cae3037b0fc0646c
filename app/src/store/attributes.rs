//! JSON ↔ DynamoDB attribute values, faithfully: strings, numbers, booleans, null and
//! nested maps and lists survive a round trip unchanged.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{Map, Number, Value};

pub fn json_to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(json_to_attribute).collect()),
        Value::Object(object) => AttributeValue::M(
            object
                .iter()
                .map(|(name, value)| (name.clone(), json_to_attribute(value)))
                .collect(),
        ),
    }
}

/// The JSON form of a stored attribute. Sets and binaries, which the app never writes
/// but another writer of the table might, become arrays and base64 strings.
pub fn attribute_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => number(n),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(values) => Value::Array(values.iter().map(attribute_to_json).collect()),
        AttributeValue::M(map) => Value::Object(map_to_json(map)),
        AttributeValue::Ss(values) => values.iter().cloned().map(Value::String).collect(),
        AttributeValue::Ns(values) => values.iter().map(|n| number(n)).collect(),
        AttributeValue::B(blob) => Value::String(base64(blob.as_ref())),
        AttributeValue::Bs(blobs) => blobs
            .iter()
            .map(|b| Value::String(base64(b.as_ref())))
            .collect(),
        // A type added to DynamoDB after this SDK: keep the item readable.
        _ => Value::Null,
    }
}

pub fn map_to_json(map: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    // Sorted, so the same item always reads back the same way.
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| (name.clone(), attribute_to_json(&map[name])))
        .collect()
}

fn number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Value::Number(u.into());
    }
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) => Value::Number(n),
        // DynamoDB numbers always parse as f64; keep the digits if one ever does not.
        None => Value::String(text.to_owned()),
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_survives_a_round_trip() {
        let values = [
            json!(null),
            json!(true),
            json!(0),
            json!(-42),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.001),
            json!(1e125),
            json!(""),
            json!("ünïcødé ✓"),
            json!([]),
            json!({}),
            json!({"a": [1, "b", {"c": null, "d": [true, false]}], "e": {"f": {"g": 2.25}}}),
        ];
        for value in values {
            assert_eq!(
                attribute_to_json(&json_to_attribute(&value)),
                value,
                "{value}"
            );
        }
    }

    #[test]
    fn values_are_typed_as_dynamodb_expects() {
        assert_eq!(json_to_attribute(&json!(7)), AttributeValue::N("7".into()));
        assert_eq!(json_to_attribute(&json!(null)), AttributeValue::Null(true));
        assert_eq!(
            json_to_attribute(&json!({"k": ["v"]})),
            AttributeValue::M(
                [(
                    "k".into(),
                    AttributeValue::L(vec![AttributeValue::S("v".into())])
                )]
                .into()
            )
        );
    }

    #[test]
    fn foreign_attributes_read_without_panicking() {
        let odd = [
            AttributeValue::N("not a number".into()),
            AttributeValue::N("1e400".into()),
            AttributeValue::N("".into()),
            AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
            AttributeValue::Ss(vec!["a".into()]),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![0, 255])),
        ];
        let read: Vec<Value> = odd.iter().map(attribute_to_json).collect();
        assert_eq!(
            read,
            vec![
                json!("not a number"),
                json!("1e400"),
                json!(""),
                json!([1, 2.5]),
                json!(["a"]),
                json!("AP8=")
            ]
        );
    }
}
