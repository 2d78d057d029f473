//! The `cloudsigma.v1.constraints` of a request field, read from its options and written as
//! JSON Schema keywords.

use prost_reflect::{DynamicMessage, Value};
use serde_json::{Value as Json, json};

/// A field's `cloudsigma.v1.constraints`, as read from the descriptor.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub required: bool,
    pub min_length: Option<u32>,
    pub max_length: Option<u32>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub format: Option<String>,
    pub pattern: Option<String>,
}

impl Rules {
    pub fn read(message: &DynamicMessage) -> Self {
        let set = |name: &str| message.has_field_by_name(name);
        let get = |name: &str| message.get_field_by_name(name).map(|v| v.into_owned());
        let text = |name: &str| match get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        Self {
            required: get("required").and_then(|v| v.as_bool()) == Some(true),
            min_length: set("min_length")
                .then(|| get("min_length")?.as_u32())
                .flatten(),
            max_length: set("max_length")
                .then(|| get("max_length")?.as_u32())
                .flatten(),
            minimum: set("minimum").then(|| get("minimum")?.as_i64()).flatten(),
            maximum: set("maximum").then(|| get("maximum")?.as_i64()).flatten(),
            format: text("format"),
            pattern: text("pattern"),
        }
    }

    pub fn apply(&self, schema: &mut Json) {
        let Json::Object(object) = schema else {
            return;
        };
        // A required string must also be non-empty: proto3 cannot tell "" from absent.
        let min_length = self
            .min_length
            .or((self.required && object.get("type") == Some(&json!("string"))).then_some(1));
        let entries = [
            ("minLength", min_length.map(Json::from)),
            ("maxLength", self.max_length.map(Json::from)),
            ("minimum", self.minimum.map(Json::from)),
            ("maximum", self.maximum.map(Json::from)),
            ("format", self.format.clone().map(Json::from)),
            ("pattern", self.pattern.clone().map(Json::from)),
        ];
        for (key, value) in entries {
            if let Some(value) = value {
                object.insert(key.to_owned(), value);
            }
        }
    }
}
