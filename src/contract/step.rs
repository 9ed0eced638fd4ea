//! The identity of a step: its key (in the state file and in JSON output) and its label (for
//! people). Each resource declares its own; the registry's order is the documented order.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One resource step, named by its stable key.
///
/// Two ids are the same step when their keys are equal; the label is only for display. Ordering
/// is by key, which is arbitrary: the order of a run is the registry's, never this one.
#[derive(Debug, Clone, Copy)]
pub struct StepId {
    key: &'static str,
    label: &'static str,
}

impl StepId {
    /// `key` is lowercase with underscores (`target_group`); it is part of the state file and the
    /// JSON plan format, so it never changes once released.
    pub const fn new(key: &'static str, label: &'static str) -> Self {
        Self { key, label }
    }

    /// The key of this step in the state file and in JSON output.
    pub fn key(self) -> &'static str {
        self.key
    }

    /// What the step is, for people ("target group").
    pub fn label(self) -> &'static str {
        self.label
    }
}

impl PartialEq for StepId {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for StepId {}

impl Hash for StepId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl PartialOrd for StepId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StepId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(other.key)
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label)
    }
}
