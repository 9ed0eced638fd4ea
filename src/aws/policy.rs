//! IAM policy documents as IAM returns and means them: URL-encoded on the way back, and equal
//! whatever the order of a statement's fields or whether a one-element list is written as the
//! element alone. Every role compares its policies through these.

use serde_json::{json, Value};

/// The trust policy of a role that ECS tasks assume (`ecs-tasks.amazonaws.com`); with `account`,
/// only on behalf of that account (`aws:SourceAccount`), AWS's confused-deputy protection for
/// task roles ("Task IAM role" in the Amazon ECS Developer Guide).
pub fn ecs_tasks_trust_policy(account: Option<&str>) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": { "Service": "ecs-tasks.amazonaws.com" },
        "Action": "sts:AssumeRole",
    });
    if let Some(account) = account {
        statement["Condition"] = json!({ "StringEquals": { "aws:SourceAccount": account } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

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

/// [`same_policy`] for a policy that may be absent (an inline policy not put, or not wanted).
pub fn same_optional_policy(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_policy(a, b),
        (a, b) => a == b,
    }
}
