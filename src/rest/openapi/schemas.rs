//! JSON Schemas of proto messages as the REST layer reads and writes them (proto3 JSON):
//! lowerCamelCase names, 64-bit integers as strings in responses (the transcoder reads only
//! JSON numbers), enums as their names, well-known types in their JSON forms, messages as
//! `$ref` components. Request fields carry the `cloudsigma.v1.constraints` of the protos.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{
    DescriptorPool, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
};
use serde_json::{Map, Value as Json, json};

use super::rules::Rules;
use crate::descriptors;

/// Which way a message travels: the two differ in presence, nulls and 64-bit integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Request,
    Response,
}

/// The component schemas met so far, built on demand as operations refer to messages.
pub struct Schemas {
    constraints: Option<ExtensionDescriptor>,
    at_least_one_field: Option<ExtensionDescriptor>,
    names: HashMap<(String, Direction), String>,
    components: BTreeMap<String, Json>,
}

impl Schemas {
    pub fn new(pool: &DescriptorPool) -> Self {
        Self {
            constraints: pool.get_extension_by_name("cloudsigma.v1.constraints"),
            at_least_one_field: pool.get_extension_by_name("cloudsigma.v1.at_least_one_field"),
            names: HashMap::new(),
            components: BTreeMap::new(),
        }
    }

    pub fn into_components(self) -> Map<String, Json> {
        self.components.into_iter().collect()
    }

    /// A `$ref` to the message's component, built (with the messages it uses) the first time.
    pub fn reference(&mut self, desc: &MessageDescriptor, direction: Direction) -> Json {
        let key = (desc.full_name().to_owned(), direction);
        if let Some(name) = self.names.get(&key) {
            return json!({"$ref": format!("#/components/schemas/{name}")});
        }
        let mut name = if desc.package_name() == descriptors::PACKAGE {
            desc.name().to_owned()
        } else {
            desc.full_name().to_owned()
        };
        // A message used both ways gets a second component: presence and nulls differ.
        if self.components.contains_key(&name) {
            name.push_str(match direction {
                Direction::Request => "Input",
                Direction::Response => "Output",
            });
        }
        self.names.insert(key, name.clone());
        // Claimed before the fields are walked, so a recursive message refers to itself.
        self.components.insert(name.clone(), Json::Null);
        let schema = self.object(desc, direction, &[]);
        self.components.insert(name.clone(), schema);
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// The object schema of a message, less the fields in `except` (those bound by the path).
    pub fn object(
        &mut self,
        desc: &MessageDescriptor,
        direction: Direction,
        except: &[FieldDescriptor],
    ) -> Json {
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut optional = Vec::new();
        for field in desc.fields().filter(|f| !except.contains(f)) {
            let name = field.json_name().to_owned();
            let must = match direction {
                Direction::Request => self.rules(&field).required,
                // Every field is written except unset optional scalars (messages become null).
                Direction::Response => !field.supports_presence() || is_singular_message(&field),
            };
            let mut schema = self.field(&field, direction);
            // proto3 JSON reads `null` as "not set": an optional request field may be null, and
            // an unset message is written as null.
            let nullable = match direction {
                Direction::Request => !must,
                Direction::Response => is_singular_message(&field),
            };
            if nullable {
                schema = nullable_schema(schema);
            }
            if let Some(text) =
                descriptors::comments(field.parent_file().file_descriptor_proto(), field.path())
            {
                schema["description"] = Json::String(text);
            }
            if must {
                required.push(Json::String(name.clone()));
            } else {
                optional.push(name.clone());
            }
            properties.insert(name, schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            schema["required"] = Json::Array(required);
        }
        if direction == Direction::Request {
            // Unknown fields are refused (400), so the document says so.
            schema["additionalProperties"] = Json::Bool(false);
            if self.at_least_one_field(desc) && !optional.is_empty() {
                let alternatives: Vec<Json> = optional
                    .iter()
                    .map(|name| json!({"required": [name], "properties": {name: {"not": {"type": "null"}}}}))
                    .collect();
                schema["anyOf"] = Json::Array(alternatives);
            }
        }
        if let Some(text) =
            descriptors::comments(desc.parent_file().file_descriptor_proto(), desc.path())
        {
            schema["description"] = Json::String(text);
        }
        schema
    }

    /// Whether the request body must be sent (it has required fields or needs one of them).
    pub fn body_is_required(&self, desc: &MessageDescriptor, except: &[FieldDescriptor]) -> bool {
        self.at_least_one_field(desc)
            || desc
                .fields()
                .filter(|f| !except.contains(f))
                .any(|f| self.rules(&f).required)
    }

    /// The schema of one field's value (an array for a repeated field).
    pub fn field(&mut self, field: &FieldDescriptor, direction: Direction) -> Json {
        if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => return json!({"type": "object"}),
            };
            let values = self.value(&value, direction);
            return json!({"type": "object", "additionalProperties": values});
        }
        let value = self.value(field, direction);
        if field.is_list() {
            json!({"type": "array", "items": value})
        } else {
            value
        }
    }

    fn value(&mut self, field: &FieldDescriptor, direction: Direction) -> Json {
        let mut schema = match field.kind() {
            Kind::Message(desc) => match well_known(&desc, direction) {
                Some(schema) => schema,
                None => self.reference(&desc, direction),
            },
            Kind::Enum(desc) => {
                json!({"type": "string", "enum": desc.values().map(|v| v.name().to_owned()).collect::<Vec<_>>()})
            }
            kind => scalar(&kind, direction),
        };
        if direction == Direction::Request {
            self.rules(field).apply(&mut schema);
        }
        schema
    }

    pub(super) fn rules(&self, field: &FieldDescriptor) -> Rules {
        let Some(extension) = &self.constraints else {
            return Rules::default();
        };
        let options = field.options();
        if !options.has_extension(extension) {
            return Rules::default();
        }
        match options.get_extension(extension).as_message() {
            Some(message) => Rules::read(message),
            None => Rules::default(),
        }
    }

    fn at_least_one_field(&self, desc: &MessageDescriptor) -> bool {
        self.at_least_one_field.as_ref().is_some_and(|extension| {
            desc.options().get_extension(extension).as_bool() == Some(true)
        })
    }
}

fn is_singular_message(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(_)) && !field.is_list() && !field.is_map()
}

/// The schema, also allowing `null`.
fn nullable_schema(mut schema: Json) -> Json {
    match schema.get("type").cloned() {
        Some(Json::String(kind)) => {
            schema["type"] = json!([kind, "null"]);
            if let Some(Json::Array(values)) = schema.get_mut("enum") {
                values.push(Json::Null);
            }
            schema
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

fn scalar(kind: &Kind, direction: Direction) -> Json {
    let sixty_four = |format: &str, pattern: &str, min: Json, max: Json| match direction {
        Direction::Request => {
            json!({"type": "integer", "format": format, "minimum": min, "maximum": max})
        }
        Direction::Response => json!({"type": "string", "format": format, "pattern": pattern}),
    };
    match kind {
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32", "minimum": i32::MIN, "maximum": i32::MAX})
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": u32::MAX})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            sixty_four("int64", "^-?[0-9]+$", i64::MIN.into(), i64::MAX.into())
        }
        Kind::Uint64 | Kind::Fixed64 => sixty_four("uint64", "^[0-9]+$", 0.into(), u64::MAX.into()),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Message(_) | Kind::Enum(_) => json!({}),
    }
}

/// The JSON forms of the well-known types that proto3 JSON writes specially.
fn well_known(desc: &MessageDescriptor, direction: Direction) -> Option<Json> {
    let name = desc.full_name().strip_prefix("google.protobuf.")?;
    let wrapped = |kind: Kind| Some(scalar(&kind, direction));
    match name {
        "Timestamp" => Some(json!({"type": "string", "format": "date-time"})),
        "Duration" => Some(json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"})),
        "FieldMask" => Some(json!({"type": "string"})),
        "Struct" | "Empty" => Some(json!({"type": "object"})),
        "ListValue" => Some(json!({"type": "array"})),
        "Value" => Some(json!({})),
        "Any" => Some(json!({"type": "object", "required": ["@type"]})),
        "BoolValue" => wrapped(Kind::Bool),
        "StringValue" => wrapped(Kind::String),
        "BytesValue" => wrapped(Kind::Bytes),
        "Int32Value" => wrapped(Kind::Int32),
        "UInt32Value" => wrapped(Kind::Uint32),
        "Int64Value" => wrapped(Kind::Int64),
        "UInt64Value" => wrapped(Kind::Uint64),
        "FloatValue" => wrapped(Kind::Float),
        "DoubleValue" => wrapped(Kind::Double),
        _ => None,
    }
}
