//! How a difference between AWS and the configuration is described: one [`Change`] per field,
//! with both values shown the way a person writes them (`7 -> 30`, `/other -> /`, `(none)`), never
//! as Rust debug text. The same strings go into the text plan and the documented JSON plan.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Shown for a value that is not set.
pub const NONE: &str = "(none)";

/// One field that differs between AWS and the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The field, in the configuration's or AWS's words (`health_check.path`).
    pub field: String,
    pub old: String,
    pub new: String,
    /// AWS cannot change this field in place: the resource must be replaced.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
}

impl Change {
    pub fn new(field: impl Into<String>, old: impl PlanValue, new: impl PlanValue) -> Self {
        Self {
            field: field.into(),
            old: old.show(),
            new: new.show(),
            forces_replacement: false,
        }
    }

    /// A change of a field AWS cannot change in place.
    pub fn replacing(field: impl Into<String>, old: impl PlanValue, new: impl PlanValue) -> Self {
        Self {
            forces_replacement: true,
            ..Self::new(field, old, new)
        }
    }
}

/// Compares one field AWS cannot change in place, and pushes a [`Change::replacing`] when it
/// differs.
pub fn compare_replacing<T: PartialEq + PlanValue + ?Sized>(
    changes: &mut Vec<Change>,
    field: &str,
    old: &T,
    new: &T,
) {
    if old != new {
        changes.push(Change::replacing(field, old, new));
    }
}

/// A value as a plan shows it.
pub trait PlanValue {
    fn show(&self) -> String;
}

impl<T: PlanValue + ?Sized> PlanValue for &T {
    fn show(&self) -> String {
        (**self).show()
    }
}

impl PlanValue for str {
    fn show(&self) -> String {
        if self.is_empty() {
            NONE.to_owned()
        } else {
            self.to_owned()
        }
    }
}

impl PlanValue for String {
    fn show(&self) -> String {
        self.as_str().show()
    }
}

macro_rules! shown_by_display {
    ($($ty:ty),*) => {
        $(impl PlanValue for $ty {
            fn show(&self) -> String {
                self.to_string()
            }
        })*
    };
}

shown_by_display!(bool, i32, i64, u16, u32, u64, usize);

impl<T: PlanValue> PlanValue for Option<T> {
    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| NONE.to_owned(), PlanValue::show)
    }
}

/// A list is its items, comma-separated; an empty one is `(none)`.
fn joined<'a, T: PlanValue + 'a>(items: impl IntoIterator<Item = &'a T>) -> String {
    let shown: Vec<String> = items.into_iter().map(PlanValue::show).collect();
    if shown.is_empty() {
        NONE.to_owned()
    } else {
        shown.join(", ")
    }
}

impl<T: PlanValue> PlanValue for Vec<T> {
    fn show(&self) -> String {
        joined(self)
    }
}

impl<T: PlanValue> PlanValue for [T] {
    fn show(&self) -> String {
        joined(self)
    }
}

impl<T: PlanValue> PlanValue for BTreeSet<T> {
    fn show(&self) -> String {
        joined(self)
    }
}

/// A map is `KEY=value` pairs in key order.
impl<V: PlanValue> PlanValue for BTreeMap<String, V> {
    fn show(&self) -> String {
        if self.is_empty() {
            return NONE.to_owned();
        }
        let pairs: Vec<String> = self
            .iter()
            .map(|(k, v)| format!("{k}={}", v.show()))
            .collect();
        pairs.join(", ")
    }
}

/// A JSON document (a policy) is shown compact, as AWS's consoles do.
impl PlanValue for serde_json::Value {
    fn show(&self) -> String {
        match self {
            serde_json::Value::Null => NONE.to_owned(),
            other => other.to_string(),
        }
    }
}

/// Compares one field and pushes a [`Change`] when it differs.
pub fn compare<T: PartialEq + PlanValue + ?Sized>(
    changes: &mut Vec<Change>,
    field: &str,
    old: &T,
    new: &T,
) {
    if old != new {
        changes.push(Change::new(field, old, new));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(old: impl PlanValue, new: impl PlanValue) -> String {
        let change = Change::new("f", old, new);
        format!("{} -> {}", change.old, change.new)
    }

    #[test]
    fn values_are_shown_as_people_write_them_not_as_debug_text() {
        assert_eq!(shown(Some(7), Some(30)), "7 -> 30");
        assert_eq!(shown(None::<i32>, Some(30)), "(none) -> 30");
        assert_eq!(shown("/other", "/"), "/other -> /");
        assert_eq!(shown(String::new(), "x".to_owned()), "(none) -> x");
        assert_eq!(shown(true, false), "true -> false");
        assert_eq!(
            shown(vec!["subnet-a".to_owned()], Vec::<String>::new()),
            "subnet-a -> (none)"
        );
        let env = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(
            shown(&env, BTreeMap::<String, String>::new()),
            "A=1 -> (none)"
        );
        assert_eq!(
            shown(serde_json::json!({"a": 1}), serde_json::Value::Null),
            r#"{"a":1} -> (none)"#
        );
    }

    #[test]
    fn compare_reports_only_what_differs() {
        let mut changes = Vec::new();
        compare(&mut changes, "same", &1, &1);
        compare(&mut changes, "port", &5000, &8080);
        assert_eq!(changes, [Change::new("port", 5000, 8080)]);
    }
}
