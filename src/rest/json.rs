//! Proto3 JSON in and out of dynamic messages, with the contract's stricter edges: numbers must
//! be JSON numbers (not strings), unknown fields are refused, unset timestamps are `null` and
//! zeros are explicit. Error messages name fields, never the values sent.

use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, SerializeOptions,
    Value,
};
use serde_json::{Map, Value as Json};

/// Builds a request message from a JSON object.
pub fn message_from_json(desc: MessageDescriptor, body: &[u8]) -> Result<DynamicMessage, String> {
    let json: Json = if body.iter().all(u8::is_ascii_whitespace) {
        Json::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| format!("malformed JSON at line {} column {}", e.line(), e.column()))?
    };
    let Json::Object(object) = &json else {
        return Err("the request body must be a JSON object".to_owned());
    };
    check_object(&desc, object)?;
    DynamicMessage::deserialize(desc, json)
        .map_err(|_| "the request body does not match the expected fields".to_owned())
}

fn field_by_json_name(desc: &MessageDescriptor, key: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_json_name(key)
        .or_else(|| desc.get_field_by_name(key))
}

fn check_object(desc: &MessageDescriptor, object: &Map<String, Json>) -> Result<(), String> {
    for (key, value) in object {
        let Some(field) = field_by_json_name(desc, key) else {
            let expected: Vec<_> = desc.fields().map(|f| f.json_name().to_owned()).collect();
            return Err(if expected.is_empty() {
                "the request body takes no fields".to_owned()
            } else {
                format!("unknown field; expected: {}", expected.join(", "))
            });
        };
        if value.is_null() {
            continue;
        }
        let name = field.json_name();
        if field.is_list() {
            let Json::Array(items) = value else {
                return Err(format!("{name} must be an array"));
            };
            for item in items {
                check_value(name, &field.kind(), item)?;
            }
        } else if !field.is_map() {
            check_value(name, &field.kind(), value)?;
        }
    }
    Ok(())
}

/// Whether a JSON number is a whole number. JSON has one number type, so `100.0` and `1e2` are
/// the integer 100 (as JSON Schema and other proto3 JSON parsers read them); `2.5` is not.
fn is_whole(value: &Json) -> bool {
    value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn check_value(name: &str, kind: &Kind, value: &Json) -> Result<(), String> {
    let ok = match kind {
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64 => is_whole(value),
        Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64 => {
            is_whole(value) && value.as_f64().is_some_and(|f| f >= 0.0)
        }
        Kind::Float | Kind::Double => value.is_number(),
        Kind::Bool => value.is_boolean(),
        Kind::String | Kind::Bytes | Kind::Enum(_) => value.is_string(),
        Kind::Message(desc) => {
            if desc.full_name().starts_with("google.protobuf.") {
                true
            } else if let Json::Object(object) = value {
                return check_object(desc, object);
            } else {
                false
            }
        }
    };
    if ok {
        Ok(())
    } else {
        let expected = match kind {
            Kind::Int32
            | Kind::Sint32
            | Kind::Sfixed32
            | Kind::Int64
            | Kind::Sint64
            | Kind::Sfixed64 => "an integer",
            Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64 => "a non-negative integer",
            Kind::Float | Kind::Double => "a number",
            Kind::Bool => "true or false",
            Kind::String | Kind::Bytes | Kind::Enum(_) => "a string",
            Kind::Message(_) => "an object",
        };
        Err(format!("{name} must be {expected}"))
    }
}

/// Sets a scalar field from a path variable or query parameter.
pub fn set_from_text(
    message: &mut DynamicMessage,
    field: &FieldDescriptor,
    text: &str,
) -> Result<(), String> {
    let name = field.json_name();
    let bad = || format!("{name} has an invalid value");
    let value = match field.kind() {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bool => Value::Bool(text.parse().map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(text.parse().map_err(|_| bad())?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(text.parse().map_err(|_| bad())?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(|_| bad())?),
        _ => return Err(format!("{name} cannot be given in the URL")),
    };
    message.set_field(field, value);
    Ok(())
}

/// A response message as proto3 JSON: every field present, unset messages as `null`.
pub fn message_to_json(message: &DynamicMessage) -> Result<Json, serde_json::Error> {
    let options = SerializeOptions::new().skip_default_fields(false);
    let mut json = message.serialize_with_options(serde_json::value::Serializer, &options)?;
    fill_nulls(message, &mut json);
    Ok(json)
}

fn fill_nulls(message: &DynamicMessage, json: &mut Json) {
    let Json::Object(object) = json else {
        return;
    };
    for field in message.descriptor().fields() {
        if !matches!(field.kind(), Kind::Message(_)) || field.is_map() {
            continue;
        }
        let name = field.json_name();
        if field.is_list() {
            if let (Value::List(items), Some(Json::Array(array))) =
                (message.get_field(&field).as_ref(), object.get_mut(name))
            {
                for (item, json) in items.iter().zip(array) {
                    if let Some(item) = item.as_message() {
                        fill_nulls(item, json);
                    }
                }
            }
        } else if !message.has_field(&field) {
            object.insert(name.to_owned(), Json::Null);
        } else if let (Some(inner), Some(json)) =
            (message.get_field(&field).as_message(), object.get_mut(name))
        {
            fill_nulls(inner, json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors;

    fn desc(name: &str) -> MessageDescriptor {
        descriptors::pool()
            .get_message_by_name(&format!("cloudsigma.v1.{name}"))
            .unwrap()
    }

    #[test]
    fn numbers_sent_as_strings_or_fractions_are_refused() {
        let create = desc("CreateApiKeyRequest");
        for body in [
            r#"{"name":"ci","dailyLimit":"100"}"#,
            r#"{"name":"ci","dailyLimit":2.5}"#,
            r#"{"name":"ci","dailyLimit":true}"#,
        ] {
            let err = message_from_json(create.clone(), body.as_bytes()).unwrap_err();
            assert_eq!(err, "dailyLimit must be an integer", "{body}");
        }
        assert!(message_from_json(create, br#"{"name":"ci","dailyLimit":100}"#).is_ok());
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_or_exponent_are_integers() {
        let create = desc("CreateApiKeyRequest");
        for body in [
            r#"{"name":"ci","dailyLimit":100.0}"#,
            r#"{"name":"ci","dailyLimit":1e2}"#,
        ] {
            let message = message_from_json(create.clone(), body.as_bytes()).unwrap();
            let limit = message.get_field_by_name("daily_limit").unwrap();
            assert_eq!(limit.as_i32(), Some(100), "{body}");
        }
        let err = message_from_json(create, br#"{"name":"ci","dailyLimit":3e9}"#).unwrap_err();
        assert_eq!(err, "the request body does not match the expected fields");
    }

    #[test]
    fn unknown_fields_are_refused_without_echoing_them() {
        let err = message_from_json(
            desc("SignUpRequest"),
            br#"{"email":"a@b.co","password":"x","csk_live_secret":1}"#,
        )
        .unwrap_err();
        assert!(!err.contains("csk_live_secret"));
        assert!(err.contains("email, password"));
    }

    #[test]
    fn unset_timestamps_are_null_and_zeros_explicit() {
        let key = DynamicMessage::new(desc("ApiKey"));
        let json = message_to_json(&key).unwrap();
        assert_eq!(json["lastUsedAt"], Json::Null);
        assert_eq!(json["usedToday"], 0);
        assert_eq!(json["name"], "");
    }
}
