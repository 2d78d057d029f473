//! The error side of the description: the contract's envelope, and one response per HTTP status
//! of the error table, each naming the codes it stands for (from `ErrorCode`, the one mapping).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

use crate::grpc::errors::ErrorCode;

/// One response component per HTTP status of the error table, and `Error` for any of them.
pub fn error_responses() -> Json {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in ErrorCode::ALL {
        by_status.entry(code.http_status()).or_default().push(code);
    }
    let mut responses = Map::new();
    for (status, codes) in by_status {
        let names: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
        let mut response = json!({
            "description": format!("Error envelope with code {}.", names.join(" or ")),
            "content": {"application/json": {"schema": error_envelope(&codes)}},
        });
        if status == 401 {
            response["headers"] = json!({"WWW-Authenticate": {"schema": {"type": "string"}}});
        }
        if status == 429 {
            response["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 1},
            }});
        }
        responses.insert(response_name(status), response);
    }
    responses.insert(
        "Error".to_owned(),
        json!({
            "description": "Error envelope.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }),
    );
    Json::Object(responses)
}

pub fn response_name(status: u16) -> String {
    format!("Error{status}")
}

/// The error envelope, its `code` one of `codes`.
pub fn error_envelope(codes: &[ErrorCode]) -> Json {
    let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"const": false},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                },
            },
        },
    })
}
