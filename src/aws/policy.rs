//! IAM policy documents as IAM returns and means them: URL-encoded on the way back, and equal
//! whatever the order of a statement's fields or whether a one-element list is written as the
//! element alone. Every role compares its policies through these.

use serde_json::Value;

/// IAM returns policy documents URL-encoded; some emulators return them as plain JSON.
pub fn parse_policy_document(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok().or_else(|| {
        let decoded = urlencoding::decode(text).ok()?;
        serde_json::from_str(&decoded).ok()
    })
}

/// Compares trust policies as IAM means them: a one-element list and the element alone are the
/// same, and so are statement fields in any order.
pub fn same_policy(a: &Value, b: &Value) -> bool {
    fn normalize(v: &Value) -> Value {
        match v {
            Value::Array(items) if items.len() == 1 => normalize(&items[0]),
            Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "Sid")
                    .map(|(k, v)| (k.clone(), normalize(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    normalize(a) == normalize(b)
}
