//! The crate's layers, checked from its source: each module imports only modules below it, and
//! no resource file imports another. A change that breaks the layering fails here, with the file
//! and the import named, instead of slowly turning the code back into a knot.
//!
//! ```text
//! cli -> ops -> engine -> contract <- resources -> aws -> config / names / state
//!          \-> registry ------------------/
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer: a module may import modules of lower layers only.
const LAYERS: &[(&str, u8)] = &[
    ("exit", 0),
    ("printer", 0),
    ("lock", 1),
    ("state", 0),
    ("terraform", 0),
    ("config", 0),
    ("names", 1),
    ("interrupt", 2),
    ("aws", 2),
    ("iam_policy", 3),
    ("contract", 3),
    ("resources", 4),
    ("engine", 4),
    ("registry", 5),
    ("ops", 6),
    ("cli", 7),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level module a file belongs to (`src/ops/apply.rs` -> `ops`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// Whether a line is a comment, where a module may well name another.
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// The top-level modules a file names with `crate::` in code, with the line of each.
fn imports(text: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if is_comment(line) {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((name, number + 1));
        }
    }
    found
}

#[test]
fn each_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut checked = BTreeMap::new();
    for file in sources(&src) {
        let module = module_of(&src, &file);
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some(own) = layer(&module) else {
            wrong.push(format!(
                "{}: module {module} has no layer in this test",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (imported, line) in imports(&text) {
            *checked.entry(module.clone()).or_insert(0) += 1;
            if imported == module {
                continue;
            }
            match layer(&imported) {
                Some(theirs) if theirs < own => {}
                _ => wrong.push(format!(
                    "{}:{line}: {module} imports crate::{imported}",
                    file.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    // The scan found the imports it checks (a broken scan would find none and pass).
    for module in ["cli", "ops", "engine", "resources", "contract", "aws"] {
        assert!(
            checked.get(module).is_some_and(|n| *n > 0),
            "no import seen in {module}"
        );
    }
}

#[test]
fn no_resource_file_imports_another() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/resources");
    let mut wrong = Vec::new();
    for file in sources(&dir) {
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            // A file's own test module may see the file it is in.
            let own_tests = line.trim() == "use super::*;";
            if !is_comment(line)
                && !own_tests
                && (line.contains("super::") || line.contains("crate::resources"))
            {
                wrong.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "resource files importing each other:\n{}",
        wrong.join("\n")
    );
}
