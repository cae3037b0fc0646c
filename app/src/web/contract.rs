//! The exact contract: what the generated OpenAPI document cannot say from Rust types
//! alone, stated here next to the rules it mirrors (`activity.rs`, `item.rs`,
//! `cursor.rs`, `api.rs`), so the document allows exactly what the server accepts.
//! `scripts/checks/api-contract` holds the two to each other with schemathesis.

use serde_json::{Value, json};

use super::params::MAX_LIMIT;
use crate::activity::{MAX_DESCRIPTION_CHARS, MAX_HOURS, MAX_NAME_CHARS};
use crate::cursor;
use crate::item::{MAX_DEPTH, RESERVED};

/// Unicode White_Space, what Rust's `str::trim` removes.
const SPACE: &str = r"\t\n\x0B\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// `char::is_control`: Unicode Cc.
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";

/// A name: not blank once trimmed, no control characters inside (ends are trimmed).
fn name_pattern() -> String {
    let edge = format!("[^{CONTROL}{SPACE}]");
    format!("^[{SPACE}]*(?:{edge}|{edge}[^{CONTROL}]*{edge})[{SPACE}]*$")
}

fn name_schema(example: &str) -> Value {
    json!({"type": "string", "maxLength": MAX_NAME_CHARS, "pattern": name_pattern(),
           "description": format!("Leading and trailing spaces are trimmed; at most {MAX_NAME_CHARS} characters as sent, not blank, no control characters."),
           "example": example})
}

/// A day query parameter: `YYYY-MM-DD`, or empty for none.
fn day_or_empty() -> Value {
    json!({"anyOf": [
        {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        {"type": "string", "maxLength": 0},
    ]})
}

/// A `/picus` value nested `depth` levels deep: DynamoDB's number range and nesting
/// limit, non-empty attribute names. One schema per level, so the limit is exact.
fn picus_value(depth: usize) -> Value {
    let child = if depth == MAX_DEPTH {
        json!({"not": {}})
    } else {
        json!({"$ref": format!("#/components/schemas/PicusValue{}", depth + 1)})
    };
    json!({"anyOf": [
        {"type": "null"}, {"type": "boolean"}, {"type": "string"},
        {"$ref": "#/components/schemas/PicusNumber"},
        {"type": "array", "items": child},
        {"type": "object", "propertyNames": {"minLength": 1}, "additionalProperties": child},
    ]})
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    match doc.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => panic!("the OpenAPI document has no {pointer}"),
    }
}

/// Sets the schema of the query parameter `name` of the operation at `operation`.
fn param(doc: &mut Value, operation: &str, name: &str, schema: Value) {
    let params = doc
        .pointer_mut(&format!("{operation}/parameters"))
        .and_then(Value::as_array_mut)
        .unwrap_or_else(|| panic!("{operation} has no parameters"));
    let param = params
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{operation} has no parameter {name}"));
    param["schema"] = schema;
}

/// Makes the generated document exact. Panics on a path it expects and does not find:
/// a test builds the document, so a renamed route fails there, not in production.
pub fn refine(doc: &mut Value) {
    let schemas = "/components/schemas";
    let hours = json!({"type": "number", "exclusiveMinimum": 0, "maximum": MAX_HOURS,
                       "description": "More than 0, at most 24.", "example": 1.5});
    let ignored = json!({"description": "Set by the server; ignored when sent, so a stored activity can be sent back as it is."});
    let input = json!({
        "type": "object",
        "description": "What a client sends to record or replace an activity. Fields the schema does not name are refused (422).",
        "required": ["customer", "project", "engineer", "date", "hours"],
        "additionalProperties": false,
        "properties": {
            "customer": name_schema("Acme"),
            "project": name_schema("Data platform"),
            "engineer": name_schema("ada"),
            "date": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                     "description": "The day the work was done (ISO 8601, `YYYY-MM-DD`).", "example": "2026-11-20"},
            "hours": hours,
            "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION_CHARS,
                            "description": format!("What was done; at most {MAX_DESCRIPTION_CHARS} characters; null or absent: none."),
                            "example": "Migrated the nightly export to the new cluster"},
            "id": ignored, "created_at": ignored, "updated_at": ignored,
        },
    });
    set(
        doc,
        &format!("{schemas}/ActivityFields/properties/hours"),
        hours,
    );
    doc["components"]["schemas"]["ActivityInput"] = input;
    let input_ref = json!({"$ref": "#/components/schemas/ActivityInput"});
    for op in [
        "/paths/~1api~1v1~1activities/post",
        "/paths/~1api~1v1~1activities~1{id}/put",
    ] {
        set(
            doc,
            &format!("{op}/requestBody/content/application~1json/schema"),
            input_ref.clone(),
        );
    }

    let list = "/paths/~1api~1v1~1activities/get";
    for name in ["from", "to"] {
        param(doc, list, name, day_or_empty());
        param(doc, "/paths/~1api~1v1~1summary/get", name, day_or_empty());
    }
    param(
        doc,
        list,
        "limit",
        json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}),
    );
    param(
        doc,
        list,
        "cursor",
        json!({"type": "string", "pattern": cursor::PATTERN}),
    );
    param(
        doc,
        list,
        "format",
        json!({"type": "string", "enum": ["", "json", "csv"]}),
    );
    param(
        doc,
        "/paths/~1api~1v1~1summary/get",
        "group_by",
        json!({"type": "string", "enum": ["", "customer", "project", "engineer", "week"], "default": "customer"}),
    );

    // The stateful phase follows these: record, then read, replace and delete it.
    let links = json!({
        "GetActivity": {"operationId": "get_activity", "parameters": {"id": "$response.body#/id"}},
        "ReplaceActivity": {"operationId": "replace_activity", "parameters": {"id": "$response.body#/id"}},
        "DeleteActivity": {"operationId": "delete_activity", "parameters": {"id": "$response.body#/id"}},
    });
    doc["paths"]["/api/v1/activities"]["post"]["responses"]["201"]["links"] = links.clone();
    doc["paths"]["/api/v1/activities/{id}"]["put"]["responses"]["200"]["links"] = links;
    let item_links = json!({
        "GetItem": {"operationId": "get", "parameters": {"key": "$response.body#/id"}},
        "DeleteItem": {"operationId": "delete", "parameters": {"key": "$response.body#/id"}},
    });
    doc["paths"]["/picus/put"]["post"]["responses"]["200"]["links"] = item_links;

    set(
        doc,
        "/paths/~1picus~1put/post/requestBody/content/application~1json/schema",
        json!({"$ref": "#/components/schemas/PicusItem"}),
    );
    let mut components = serde_json::Map::new();
    components.insert(
        "PicusItem".to_owned(),
        json!({
            "type": "object",
            "description": format!("Any JSON object, stored as given: attribute names not empty and none of {RESERVED:?}, numbers in DynamoDB's range, nested at most {MAX_DEPTH} levels, at most 400 KB once stored (larger: 413)."),
            "propertyNames": {"minLength": 1, "not": {"enum": RESERVED}},
            "additionalProperties": {"$ref": "#/components/schemas/PicusValue1"},
        }),
    );
    components.insert(
        "PicusNumber".to_owned(),
        json!({"anyOf": [
            {"type": "number", "const": 0},
            {"type": "number", "minimum": 1e-130, "exclusiveMaximum": 1e126},
            {"type": "number", "maximum": -1e-130, "exclusiveMinimum": -1e126},
        ]}),
    );
    for depth in 1..=MAX_DEPTH {
        components.insert(format!("PicusValue{depth}"), picus_value(depth));
    }
    let all = doc["components"]["schemas"]
        .as_object_mut()
        .expect("component schemas");
    all.extend(components);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_has_every_path_the_contract_refines() {
        // `refine` panics on a missing path; building the document runs it.
        let doc = crate::web::openapi(crate::auth::AuthMode::None);
        assert_eq!(
            doc["paths"]["/api/v1/activities"]["post"]["requestBody"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/ActivityInput"
        );
        assert!(doc["components"]["schemas"]["PicusValue32"].is_object());
    }
}
