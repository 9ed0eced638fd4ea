//! Where each key sits in the text, and the toml crate's parse errors reworded
//! for a person.
//!
//! serde reports a bad file by byte offset and in its own words ("invalid
//! type: string, expected u16"). A person needs `line:column`, the dotted key,
//! the table it belongs in and, for a typo, the key that was meant. Positions
//! come from a span-preserving `toml_edit` parse of the same text, made once
//! and shared with validation so that its problems point at the line to fix
//! too.

use std::ops::Range;

use super::schema::{SCHEMA, TABLE_KEYS};

// ---------------------------------------------------------------------------
// Positions: which key sits where in the text
// ---------------------------------------------------------------------------

/// One key written in the file: its path and the spans of the key and its value.
pub(super) struct Entry {
    path: Vec<String>,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

/// 1-based line and character column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Maps dotted key paths to positions and back, from a span-preserving parse.
pub(super) struct Locator<'a> {
    text: &'a str,
    entries: Vec<Entry>,
}

impl<'a> Locator<'a> {
    pub(super) fn new(text: &'a str, doc: &toml_edit::ImDocument<&str>) -> Self {
        fn walk(table: &dyn toml_edit::TableLike, prefix: &[String], out: &mut Vec<Entry>) {
            for (name, item) in table.iter() {
                let mut path = prefix.to_vec();
                path.push(name.to_string());
                let key = table.get_key_value(name).and_then(|(k, _)| k.span());
                out.push(Entry {
                    path: path.clone(),
                    key,
                    value: item.span(),
                });
                walk_item(item, &path, out);
            }
        }
        /// Into tables, and into arrays by index (`[0]`), so that an element of a list of
        /// tables (`[[task_role.statements]]`) or of a list (`actions = [..]`) has a position.
        fn walk_item(item: &toml_edit::Item, path: &[String], out: &mut Vec<Entry>) {
            if let Some(inner) = item.as_table_like() {
                walk(inner, path, out);
                return;
            }
            let elements: Vec<(Option<Range<usize>>, toml_edit::Item)> = match item {
                toml_edit::Item::ArrayOfTables(array) => array
                    .iter()
                    .map(|t| (t.span(), toml_edit::Item::Table(t.clone())))
                    .collect(),
                toml_edit::Item::Value(toml_edit::Value::Array(array)) => array
                    .iter()
                    .map(|v| (v.span(), toml_edit::Item::Value(v.clone())))
                    .collect(),
                _ => return,
            };
            for (index, (span, element)) in elements.iter().enumerate() {
                let mut at = path.to_vec();
                at.push(format!("[{index}]"));
                out.push(Entry {
                    path: at.clone(),
                    key: None,
                    value: span.clone(),
                });
                walk_item(element, &at, out);
            }
        }
        let mut entries = Vec::new();
        walk(doc.as_table(), &[], &mut entries);
        Locator { text, entries }
    }

    pub(super) fn find(&self, path: &[&str]) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// 1-based line and character column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(self.text, offset)
    }

    /// Position of a key's value; for a key left out, the position of its
    /// closest enclosing key that is written in the file.
    pub(super) fn value_pos(&self, path: &[&str]) -> Option<(usize, usize)> {
        (1..=path.len()).rev().find_map(|n| {
            let entry = self.find(&path[..n])?;
            let span = entry.value.clone().or_else(|| entry.key.clone())?;
            Some(self.line_col(span.start))
        })
    }

    /// Position of a key itself (for problems with the name, not the value).
    pub(super) fn key_pos(&self, path: &[&str]) -> Option<(usize, usize)> {
        let span = self.find(path)?.key.clone()?;
        Some(self.line_col(span.start))
    }

    /// The innermost entry whose key or value starts at, or contains, `offset`.
    fn path_at(&self, offset: usize) -> Option<&[String]> {
        let contains = |r: &Option<Range<usize>>| {
            r.as_ref()
                .is_some_and(|r| r.start <= offset && offset < r.end.max(r.start + 1))
        };
        self.entries
            .iter()
            .filter(|e| contains(&e.key) || contains(&e.value))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.as_slice())
    }
}

// ---------------------------------------------------------------------------
// Parse errors: the toml crate's messages, reworded for a person
// ---------------------------------------------------------------------------

/// `file:line:col: invalid TOML: ...` followed by the line and a caret,
/// because a syntax error's wording alone rarely shows what is wrong.
pub(super) fn describe_syntax_error(
    text: &str,
    message: &str,
    span: Option<Range<usize>>,
) -> String {
    let reworded = if message.starts_with("invalid string\nexpected `\"`, `'`") {
        "expected a value; strings need quotes, like \"simhill\"".to_string()
    } else {
        message.trim().lines().collect::<Vec<_>>().join("; ")
    };
    let Some(span) = span else {
        return format!("invalid TOML: {reworded}");
    };
    let (line, column) = line_col(text, span.start);
    let source_line = text.lines().nth(line - 1).unwrap_or("").replace('\t', " ");
    let gutter = " ".repeat(line.to_string().len());
    format!(
        "{line}:{column}: invalid TOML: {reworded}\n  {line} | {source_line}\n  {gutter} | {}^",
        " ".repeat(column - 1)
    )
}

/// Rejects arrays (`[[task]]`) and scalars where a table belongs, before serde
/// sees them: serde would read an array of tables as a struct written as a
/// sequence and report a confusing type error about its first field.
pub(super) fn check_table_shapes(
    locator: &Locator<'_>,
    doc: &toml_edit::ImDocument<&str>,
) -> Option<String> {
    let lookup = |path: &[&str]| {
        path.iter()
            .try_fold(doc.as_item(), |item, part| item.as_table_like()?.get(part))
    };
    for path in TABLE_KEYS {
        let Some(item) = lookup(path) else { continue };
        if item.is_table_like() {
            continue;
        }
        let found = match item {
            toml_edit::Item::ArrayOfTables(_) => {
                format!("an array of tables [[{}]]", path.join("."))
            }
            toml_edit::Item::Value(v) => format!("{} {}", v.type_name(), v.to_string().trim()),
            _ => "nothing".to_string(),
        };
        let located = locator
            .value_pos(path)
            .map(|(l, c)| format!("{l}:{c}: "))
            .unwrap_or_default();
        return Some(format!(
            "{located}{}: expected a table [{}], found {found}",
            path.join("."),
            path.join(".")
        ));
    }
    None
}

/// Every key of a known table that the table does not take, in file order, as problems naming the
/// key and what the table takes: serde stops at the first one.
pub(super) fn unknown_keys(
    locator: &Locator<'_>,
    doc: &toml_edit::ImDocument<&str>,
) -> Vec<super::Problem> {
    let mut problems = Vec::new();
    for (table, fields) in SCHEMA {
        let path: Vec<&str> = if table.is_empty() {
            Vec::new()
        } else {
            table.split('.').collect()
        };
        let Some(found) = path
            .iter()
            .try_fold(doc.as_item(), |item, part| item.as_table_like()?.get(part))
            .and_then(|item| item.as_table_like())
        else {
            continue;
        };
        for (key, _) in found.iter() {
            if fields.contains(&key) {
                continue;
            }
            let mut at = path.clone();
            at.push(key);
            let position = locator.key_pos(&at);
            problems.push(super::Problem {
                key: at.join("."),
                line: position.map(|(l, _)| l),
                column: position.map(|(_, c)| c),
                message: unknown_key_message(key, table, fields),
            });
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// Rewords serde's messages (unknown field, missing field, invalid type) to
/// name the key, its table and what is expected.
pub(super) fn describe_shape_error(
    locator: &Locator<'_>,
    message: &str,
    span: Option<Range<usize>>,
) -> String {
    let located = span
        .as_ref()
        .map(|s| {
            let (l, c) = locator.line_col(s.start);
            format!("{l}:{c}: ")
        })
        .unwrap_or_default();
    let path_here: Option<Vec<&str>> = span
        .as_ref()
        .and_then(|s| locator.path_at(s.start))
        .map(|p| p.iter().map(String::as_str).collect());

    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let table = match &path_here {
                Some(p) if p.last() == Some(&field) => p[..p.len() - 1].join("."),
                _ => SCHEMA
                    .iter()
                    .find(|(_, fields)| *fields == expected.as_slice())
                    .map_or(String::new(), |(t, _)| (*t).to_string()),
            };
            return format!("{located}{}", unknown_key_message(field, &table, &expected));
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        let tables: Vec<&str> = SCHEMA
            .iter()
            .filter(|(_, fields)| fields.contains(&field))
            .map(|(t, _)| *t)
            .collect();
        let text = match (field, tables.as_slice()) {
            ("container", _) => {
                "missing required table [container]; it must set at least `image`".to_string()
            }
            (_, [""]) => format!(
                "missing required key `{field}` at the top level (before the first [table])"
            ),
            (_, [table]) => format!("missing required key `{field}` in [{table}]"),
            _ => format!("missing required key `{field}`"),
        };
        return format!("{located}{text}");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            let key = path_here.as_deref().map(dotted).unwrap_or_default();
            let mut text = format!(
                "expected {}, found {}",
                nice_type(expected),
                nice_type(found)
            );
            let scalar = ["integer", "floating point", "boolean"]
                .iter()
                .any(|t| found.starts_with(t));
            // Environment values are strings even when they look like numbers.
            let env_value = path_here
                .as_deref()
                .is_some_and(|p| p.starts_with(&["container", "environment"]));
            if expected == "a string" && scalar && env_value {
                if let Some(raw) = span.as_ref().and_then(|s| locator.text.get(s.clone())) {
                    text.push_str(&format!("; put it in quotes: \"{raw}\""));
                }
            }
            return if key.is_empty() {
                format!("{located}{text}")
            } else {
                format!("{located}{key}: {text}")
            };
        }
    }
    let key = path_here.as_deref().map(dotted).unwrap_or_default();
    let text = message.trim().lines().collect::<Vec<_>>().join("; ");
    if key.is_empty() {
        format!("{located}{text}")
    } else {
        format!("{located}{key}: {text}")
    }
}

fn unknown_key_message(field: &str, table: &str, expected: &[&str]) -> String {
    let place = if table.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in [{table}]")
    };
    let mut text = format!("unknown key `{field}` {place}");
    // A key from another table usually means a missing or misplaced [header].
    let homes: Vec<String> = SCHEMA
        .iter()
        .filter(|(t, fields)| *t != table && !t.is_empty() && fields.contains(&field))
        .map(|(t, _)| format!("[{t}]"))
        .collect();
    if !homes.is_empty() {
        text.push_str(&format!(" (`{field}` belongs in {})", join_or(&homes)));
    } else if let Some(best) = closest(field, expected.iter().copied()) {
        text.push_str(&format!(" (did you mean `{best}`?)"));
    }
    if !expected.is_empty() {
        text.push_str(&format!("; expected one of: {}", expected.join(", ")));
    }
    text
}

fn nice_type(t: &str) -> String {
    match t {
        "map" | "a map" => "a table".to_string(),
        "sequence" | "a sequence" => "an array".to_string(),
        "i64" | "u16" | "u32" => "an integer".to_string(),
        _ if t.starts_with("struct ") => "a table".to_string(),
        _ => t.replacen("floating point", "float", 1),
    }
}

/// The closest candidate by edit distance if close enough to be a typo, or
/// else the only candidate that begins with `word` (`retention` for
/// `retention_days`).
fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str> + Clone) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let typo = candidates
        .clone()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    typo.or_else(|| {
        let mut prefixed = candidates.filter(|c| word.len() >= 3 && c.starts_with(word));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}

/// A dotted key path as it would be written in TOML.
pub(super) fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    path.iter()
        .map(|part| {
            let part = part.as_ref();
            let index = part.starts_with('[')
                && part.ends_with(']')
                && part[1..part.len() - 1].chars().all(|c| c.is_ascii_digit());
            let bare = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare || index {
                part.to_string()
            } else {
                format!("{part:?}")
            }
        })
        .fold(String::new(), |mut out, part| {
            // An index (`[1]`) follows its list without a dot.
            if !out.is_empty() && !part.starts_with('[') {
                out.push('.');
            }
            out.push_str(&part);
            out
        })
}

/// `a`, `a or b`, `a, b or c`.
pub(super) fn join_or<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!(
            "{} or {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}
