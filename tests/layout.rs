//! The repository's layout rules that a reviewer would otherwise have to remember.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("source directory is readable");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code before a file's `#[cfg(test)]` module: production code only.
fn production_part(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Production modules never depend on the lab tools (sandbox, simulator runners, demo):
/// only `main.rs`, which dispatches the lab commands, and test code may.
#[test]
fn production_code_never_imports_the_lab() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let lab = src.join("lab");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&lab) && !f.ends_with("main.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("source is readable");
            production_part(&text)
                .lines()
                .any(|l| !l.trim_start().starts_with("//") && l.contains("lab::"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "production modules importing src/lab: {offenders:?}"
    );
}

/// Documents in the repository are the design of record: no source file points outside it.
#[test]
fn code_cites_only_documents_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "pump-protocols/src", "pump-protocols/tests"] {
        let dir = root.join(dir);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    let needle = ["..", "/shared"].concat();
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .expect("source is readable")
                .contains(&needle)
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "files citing documents outside the repository: {offenders:?}"
    );
}
