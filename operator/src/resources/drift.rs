//! What "put back" means for the parts of a child the operator sets whole.
//!
//! Server-side apply gives back the fields the operator owns, but leaves what others
//! added: a Service port replaced by hand (`spec.ports` is a list keyed by port and
//! protocol) becomes a new item owned by `kubectl-patch`, and a forced apply adds the
//! spec's port beside it instead of replacing it. For these fields the spec is the whole
//! truth, so items the spec does not name are strays, removed with a merge patch that
//! sets the field to the spec's value (a JSON merge patch replaces a list whole, and
//! removes a map key set to null).

use serde_json::{Map, Value};

/// A field the operator sets whole, and how its items are told apart.
struct WholeField {
    /// JSON pointer to the field.
    pointer: &'static str,
    /// How the field is written in messages.
    shown: &'static str,
    /// The key of a list item (map fields are keyed by their own keys).
    key: fn(&Value) -> String,
}

fn port_key(port: &Value) -> String {
    let protocol = port["protocol"].as_str().unwrap_or("TCP");
    format!("{}/{protocol}", port["port"])
}

fn name_key(item: &Value) -> String {
    item["name"].as_str().unwrap_or_default().to_owned()
}

fn whole_fields(kind: &str) -> &'static [WholeField] {
    match kind {
        "Service" => &[WholeField {
            pointer: "/spec/ports",
            shown: "spec.ports",
            key: port_key,
        }],
        "Deployment" => &[
            WholeField {
                pointer: "/spec/template/spec/containers",
                shown: "spec.template.spec.containers",
                key: name_key,
            },
            WholeField {
                pointer: "/spec/template/spec/volumes",
                shown: "spec.template.spec.volumes",
                key: name_key,
            },
        ],
        "ConfigMap" => &[WholeField {
            pointer: "/data",
            shown: "data",
            key: name_key,
        }],
        _ => &[],
    }
}

/// Items of a whole field that the spec does not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strays {
    /// The field, as users write it (`spec.ports`).
    pub field: &'static str,
    /// The keys of the items found there and not in the spec (`8999/TCP`).
    pub items: Vec<String>,
}

impl std::fmt::Display for Strays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} had {} not in the spec",
            self.field,
            self.items.join(", ")
        )
    }
}

fn keys(value: Option<&Value>, key: fn(&Value) -> String) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().map(key).collect(),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// What `live` (as the API server answered an apply) holds in the whole fields of `kind`
/// beyond `desired`.
pub fn strays(kind: &str, desired: &Value, live: &Value) -> Vec<Strays> {
    whole_fields(kind)
        .iter()
        .filter_map(|field| {
            let wanted = keys(desired.pointer(field.pointer), field.key);
            let items: Vec<String> = keys(live.pointer(field.pointer), field.key)
                .into_iter()
                .filter(|key| !wanted.contains(key))
                .collect();
            (!items.is_empty()).then_some(Strays {
                field: field.shown,
                items,
            })
        })
        .collect()
}

/// The merge patch that sets the whole fields of `kind` to `desired`: lists replaced,
/// map keys in `strays` removed. Without `strays` (the live object is not known), every
/// list is replaced and maps are left alone. `None` when there is nothing to send.
pub fn put_back(kind: &str, desired: &Value, strays: Option<&[Strays]>) -> Option<Value> {
    let mut patch = Value::Object(Map::new());
    let mut any = false;
    for field in whole_fields(kind) {
        let named = strays.is_some_and(|strays| strays.iter().any(|s| s.field == field.shown));
        let Some(wanted) = desired.pointer(field.pointer) else {
            // The spec sets none: what others added goes.
            if named {
                set(&mut patch, field.pointer, Value::Null);
                any = true;
            }
            continue;
        };
        let value = match (wanted, strays) {
            (Value::Array(_), Some(_)) if !named => continue,
            (Value::Array(_), _) => wanted.clone(),
            (Value::Object(_), Some(strays)) => {
                let Some(found) = strays.iter().find(|s| s.field == field.shown) else {
                    continue;
                };
                Value::Object(
                    found
                        .items
                        .iter()
                        .map(|key| (key.clone(), Value::Null))
                        .collect(),
                )
            }
            (_, _) => continue,
        };
        set(&mut patch, field.pointer, value);
        any = true;
    }
    any.then_some(patch)
}

fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut at = target;
    let mut parts = pointer.trim_start_matches('/').split('/').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = at else { return };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        at = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ports: Value) -> Value {
        json!({"spec": {"type": "ClusterIP", "ports": ports}})
    }

    #[test]
    fn a_port_replaced_by_hand_is_a_stray_and_the_list_is_set_whole() {
        let desired = service(json!([{"name": "http", "port": 80, "protocol": "TCP"}]));
        let live = service(json!([
            {"name": "http", "port": 8999, "protocol": "TCP"},
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
        ]));
        let found = strays("Service", &desired, &live);
        assert_eq!(
            found,
            [Strays {
                field: "spec.ports",
                items: vec!["8999/TCP".into()]
            }]
        );
        assert_eq!(
            found[0].to_string(),
            "spec.ports had 8999/TCP not in the spec"
        );
        assert_eq!(
            put_back("Service", &desired, Some(&found)),
            Some(json!({"spec": {"ports": desired["spec"]["ports"]}}))
        );
        assert!(strays("Service", &desired, &desired).is_empty());
        assert_eq!(put_back("Service", &desired, Some(&[])), None);
    }

    #[test]
    fn unknown_live_state_replaces_every_list_and_leaves_maps() {
        let desired = json!({
            "data": {"A": "1"},
            "spec": {"template": {"spec": {"containers": [{"name": "app"}]}}},
        });
        assert_eq!(put_back("ConfigMap", &desired, None), None);
        assert_eq!(
            put_back("Deployment", &desired, None),
            Some(json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}))
        );
    }

    #[test]
    fn a_config_key_added_by_hand_is_removed_and_others_are_left() {
        let desired = json!({"data": {"A": "1"}});
        let live = json!({"data": {"A": "2", "B": "x"}});
        let found = strays("ConfigMap", &desired, &live);
        assert_eq!(found[0].items, ["B"]);
        assert_eq!(
            put_back("ConfigMap", &desired, Some(&found)),
            Some(json!({"data": {"B": null}}))
        );
    }

    #[test]
    fn a_renamed_container_or_an_added_volume_is_a_stray() {
        let desired = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app"}], "volumes": [{"name": "auth"}]}}}});
        let live = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app"}, {"name": "debug"}],
            "volumes": [{"name": "auth"}, {"name": "scratch"}]}}}});
        let found = strays("Deployment", &desired, &live);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].to_string(),
            "spec.template.spec.containers had debug not in the spec"
        );
        assert_eq!(found[1].items, ["scratch"]);
        assert!(strays("ServiceAccount", &desired, &live).is_empty());
        // Volumes the spec has none of are removed whole.
        let without_volumes = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app"}]}}}});
        let found = strays("Deployment", &without_volumes, &live);
        assert_eq!(
            put_back("Deployment", &without_volumes, Some(&found)),
            Some(json!({"spec": {"template": {"spec": {
                "containers": [{"name": "app"}], "volumes": null}}}}))
        );
    }
}
