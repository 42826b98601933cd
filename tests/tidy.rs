//! Invariants of the code's shape, checked by reading the source (rust-analyzer's "tidy"):
//!
//! - **Pure modules stay pure**: the modules in [`PURE_MODULES`] import no I/O: no tokio,
//!   rusqlite, `std::fs`, `std::net` (`core::net` has the address types), reqwest or axum. They
//!   are tested without I/O; the modem session is driven by a virtual clock (tests/modem_session.rs).
//! - **One storage door**: SQL and the database connection appear only under `src/store/`
//!   (tests/ and benches/ may poke the database). Both backends (SQLite, PostgreSQL) sit behind
//!   it; nothing else knows which one runs.
//!
//! Add a module to [`PURE_MODULES`] when it becomes pure; list it in ARCHITECTURE.md too.

use std::path::{Path, PathBuf};

/// Files or directories (relative to the crate root) that must stay free of I/O.
const PURE_MODULES: &[&str] = &[
    "src/codec/",
    "src/at/",
    "src/phone.rs",
    "src/states.rs",
    "src/observe.rs",
    "src/verify/code.rs",
    "src/verify/factor.rs",
    "src/verify/ratelimit.rs",
    "src/verify/sender.rs",
    "src/verify/template.rs",
    "src/webhook/policy.rs",
    "src/webhook/sign.rs",
    "src/modem/session/",
    "src/modem/vendor/",
    "src/modem/state.rs",
    "src/modem/recovery.rs",
    "src/store/db/dialect.rs",
];

/// What a pure module may not name.
const IO_CRATES: &[&str] = &[
    "tokio", "rusqlite", "std::fs", "std::net", "reqwest", "axum",
];

/// Where SQL may be written.
const STORE: &str = "src/store/";

/// Directories outside the store that hold no SQL but use the same words: the simulator's
/// "storage" is the simulated SIM's memory, and its interpreter `execute`s AT commands.
const SQL_EXEMPT: &[&str] = &["src/sim/"];

/// Method calls of rusqlite's connection, statement and transaction API.
const SQL_CALLS: &[&str] = &[
    ".execute(",
    ".execute_batch(",
    ".query_row(",
    ".query_map(",
    ".prepare(",
    ".prepare_cached(",
    ".transaction(",
    ".unchecked_transaction(",
];

/// SQL statements in string literals.
const SQL_WORDS: &[&str] = &[
    "SELECT ",
    "UPDATE ",
    "INSERT INTO",
    "DELETE FROM",
    "CREATE TABLE",
    "CREATE INDEX",
    "DROP TABLE",
    "PRAGMA ",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `src/...` with forward slashes.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The code of a file without its comments (line comments, doc comments, block comments),
/// line by line, so that prose may say "SELECT" or "tokio".
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        let mut code = String::new();
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(end) => {
                        in_block = false;
                        rest = &rest[end + 2..];
                    }
                    None => break,
                }
            } else {
                let line_comment = rest.find("//");
                let block = rest.find("/*");
                match (line_comment, block) {
                    (Some(l), Some(b)) if b < l => {
                        code.push_str(&rest[..b]);
                        in_block = true;
                        rest = &rest[b + 2..];
                    }
                    (Some(l), _) => {
                        // `//` inside a string literal (a URL) is not a comment.
                        if rest[..l].matches('"').count() % 2 == 1 {
                            code.push_str(rest);
                        } else {
                            code.push_str(&rest[..l]);
                        }
                        break;
                    }
                    (None, Some(b)) => {
                        code.push_str(&rest[..b]);
                        in_block = true;
                        rest = &rest[b + 2..];
                    }
                    (None, None) => {
                        code.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push((n + 1, code));
    }
    out
}

/// The I/O a pure file names, as `line: what`.
fn io_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, code) in code_lines(text) {
        for name in IO_CRATES {
            let named = code.match_indices(name).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + name.len()..].chars().next();
                let word_start = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
                let word_end = !after.is_some_and(|c| c.is_alphanumeric() || c == '_');
                word_start && word_end
            });
            if named {
                found.push(format!("{n}: {name}"));
            }
        }
    }
    found
}

/// SQL or the connection API in a file, as `line: what`.
fn sql_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, code) in code_lines(text) {
        if code.contains("rusqlite") {
            found.push(format!("{n}: rusqlite"));
        }
        for call in SQL_CALLS {
            if code.contains(call) {
                found.push(format!("{n}: {call}"));
            }
        }
        for word in SQL_WORDS {
            if code.contains(word) {
                found.push(format!("{n}: {word:?}"));
            }
        }
    }
    found
}

#[test]
fn pure_modules_do_no_io() {
    let mut files = Vec::new();
    for module in PURE_MODULES {
        let path = root().join(module);
        assert!(
            path.exists(),
            "{module} is listed as pure but does not exist"
        );
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for what in io_in(&text) {
            offences.push(format!("{}:{what}", relative(file)));
        }
    }
    assert!(
        offences.is_empty(),
        "pure modules name I/O (move the I/O to an edge, or take the module off PURE_MODULES \
         and ARCHITECTURE.md's list):\n{}",
        offences.join("\n")
    );
}

#[test]
fn sql_only_in_the_store() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut offences = Vec::new();
    let mut store_files = 0;
    for file in &files {
        let rel = relative(file);
        if rel.starts_with(STORE) {
            store_files += 1;
            continue;
        }
        if SQL_EXEMPT.iter().any(|dir| rel.starts_with(dir)) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for what in sql_in(&text) {
            offences.push(format!("{rel}:{what}"));
        }
    }
    assert!(store_files > 5, "the walk found the store");
    assert!(
        offences.is_empty(),
        "SQL outside src/store/ (make it a store operation):\n{}",
        offences.join("\n")
    );
}

#[test]
fn simulator_storage_is_not_sql() {
    for dir in SQL_EXEMPT {
        let mut files = Vec::new();
        rust_files(&root().join(dir), &mut files);
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, code) in code_lines(&text) {
                assert!(
                    !code.contains("rusqlite") && !SQL_WORDS.iter().any(|w| code.contains(w)),
                    "{}:{n}: SQL in an exempt directory",
                    relative(file)
                );
            }
        }
    }
}

/// The checks find what they look for (a tidy test that can never fail proves nothing).
#[test]
fn the_checks_catch_offences() {
    let impure =
        "use std::fs;\nuse tokio::sync::Notify;\n// tokio in a comment is fine\nfn f() {}\n";
    assert_eq!(io_in(impure), ["1: std::fs", "2: tokio"]);
    assert!(io_in("use core::net::IpAddr; // not std::net\nlet tokio_like = 1;\n").is_empty());
    let sql = "fn f(c: &rusqlite::Connection) {\n    c.execute(\"UPDATE t SET x = 1\", [])?;\n}\n";
    assert_eq!(
        sql_in(sql),
        ["1: rusqlite", "2: .execute(", "2: \"UPDATE \""]
    );
    assert!(sql_in("/// Runs SELECT on the store.\nlet url = \"https://x//y\";\n").is_empty());
    assert!(sql_in("/* SELECT\n UPDATE */ fn g() {}\n").is_empty());
}
