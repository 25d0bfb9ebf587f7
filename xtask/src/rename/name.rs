//! What a service name may be, and the spellings one name has.

use crate::{Result, fail};

/// Words cargo refuses as package names or that would shadow a standard crate,
/// Rust keywords (`use <name>::` must parse), directory names cargo uses in
/// target/, and Windows device names (the binary could not be created there).
/// Compared with the `snake_case` spelling of the new name.
pub const RESERVED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "test",
    "proc_macro", //
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield", //
    "deps",
    "examples",
    "build",
    "incremental", //
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// The longest name: a DNS label, as Kubernetes names and namespaces must be.
pub const MAX_LEN: usize = 63;

/// Checks a new service name on its own (the checks against the repository
/// come later); the error says what is wrong and what a valid name is.
pub fn validate(new: &str) -> Result<()> {
    if new.len() > MAX_LEN {
        fail!(
            "cannot rename to '{new}': it has {} characters; at most {MAX_LEN} fit a DNS label (Kubernetes names and namespaces use the name).",
            new.len()
        );
    }
    if !is_kebab_case(new) {
        fail!(
            "cannot rename to '{new}': use lowercase kebab-case: a lowercase letter first, then lowercase letters and digits, with single hyphens between words (e.g. 'my-service'); no underscore, no uppercase, no hyphen at either end, no '--'."
        );
    }
    if RESERVED.contains(&Spellings::of(new).snake.as_str()) {
        fail!(
            "cannot rename to '{new}': it is reserved (a Rust keyword, a standard crate, a directory cargo uses or a Windows device name). Pick another name."
        );
    }
    Ok(())
}

/// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`
fn is_kebab_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// A current name as Cargo.toml has it may hold underscores; the rename reads
/// it, so it must at least be a plain crate name.
pub(super) fn is_plain_crate_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The spellings of one name, e.g. for `my-service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spellings {
    /// `my-service`: crate, binary, image and Kubernetes names, docs.
    pub kebab: String,
    /// `my_service`: Rust paths, metric names, log filter directives.
    pub snake: String,
    /// `MY_SERVICE`: environment variables.
    pub upper: String,
    /// `MyService`: alert and type names.
    pub pascal: String,
}

impl Spellings {
    pub fn of(name: &str) -> Self {
        let snake = name.replace('-', "_");
        let pascal = snake
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Self {
            kebab: name.replace('_', "-"),
            upper: snake.to_ascii_uppercase(),
            snake,
            pascal,
        }
    }

    /// A name of one word is spelled alike in kebab and snake case.
    pub fn is_one_word(&self) -> bool {
        self.kebab == self.snake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_name() {
        assert_eq!(
            Spellings::of("my-svc2"),
            Spellings {
                kebab: "my-svc2".into(),
                snake: "my_svc2".into(),
                upper: "MY_SVC2".into(),
                pascal: "MySvc2".into(),
            }
        );
        assert_eq!(Spellings::of("my_svc").kebab, "my-svc");
        assert!(Spellings::of("svc").is_one_word());
        assert!(!Spellings::of("a-b").is_one_word());
    }

    #[test]
    fn valid_names_are_lowercase_kebab_case_dns_labels_and_not_reserved() {
        for good in ["a", "my-service", "svc2", "a1-b2-c3", &"a".repeat(63)] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        let cases = [
            ("Bad_Name", "lowercase kebab-case"),
            ("bad_name", "lowercase kebab-case"),
            ("a--b", "lowercase kebab-case"),
            ("a-", "lowercase kebab-case"),
            ("-a", "lowercase kebab-case"),
            ("1st", "lowercase kebab-case"),
            ("", "lowercase kebab-case"),
            ("test", "reserved"),
            ("proc-macro", "reserved"),
            ("fn", "reserved"),
            ("com1", "reserved"),
        ];
        for (bad, reason) in cases {
            let err = validate(bad).expect_err(bad);
            assert!(
                err.0.contains(reason) && err.0.contains(&format!("'{bad}'")),
                "{err}"
            );
        }
        let long = "a".repeat(64);
        assert!(validate(&long).expect_err("64").0.contains("at most 63"));
    }

    #[test]
    fn the_current_name_must_be_a_plain_crate_name() {
        assert!(is_plain_crate_name("svc_x-y"));
        assert!(!is_plain_crate_name("1x"));
        assert!(!is_plain_crate_name("a b"));
        assert!(!is_plain_crate_name(""));
    }
}
