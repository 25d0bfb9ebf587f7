//! Argument handling shared by the commands: a cursor over the arguments
//! that turns every mistake into a message naming the argument and the fix.

use crate::{Error, Result, fail};

/// The arguments of one command, consumed front to back.
#[derive(Debug)]
pub struct Args {
    items: std::vec::IntoIter<String>,
    /// How to get help, appended to every error: e.g. `cargo xtask rename --help`.
    help: &'static str,
}

impl Args {
    pub fn new(args: Vec<String>, help: &'static str) -> Self {
        Self {
            items: args.into_iter(),
            help,
        }
    }

    pub fn next_arg(&mut self) -> Option<String> {
        self.items.next()
    }

    /// The value after `flag`, e.g. the `10` of `--duration 10`.
    pub fn value(&mut self, flag: &str, example: &str) -> Result<String> {
        match self.items.next() {
            Some(value) => Ok(value),
            None => fail!("{flag} needs a value, e.g. {flag} {example}"),
        }
    }

    /// A whole number from `min` to `max` after `flag`.
    pub fn number(&mut self, flag: &str, min: u64, max: u64) -> Result<u64> {
        let value = self.value(flag, &min.max(10).min(max).to_string())?;
        parse_number(flag, &value, min, max)
    }

    /// The error for an argument the command does not take.
    pub fn unknown(&self, arg: &str) -> Error {
        Error(format!("unknown argument '{arg}' (see {})", self.help))
    }
}

/// Owned arguments, as `std::env::args` gives them (for tests).
#[cfg(test)]
pub(crate) fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// `value` as a whole number from `min` to `max` (digits only: no sign, no
/// unit), or an error naming `flag`.
pub fn parse_number(flag: &str, value: &str, min: u64, max: u64) -> Result<u64> {
    match value.parse::<u64>() {
        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) && (min..=max).contains(&n) => Ok(n),
        _ => fail!("{flag} must be a whole number from {min} to {max}, got '{value}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(owned(list), "cargo xtask x --help")
    }

    #[test]
    fn numbers_in_range_are_accepted_and_others_named_in_the_error() {
        assert_eq!(parse_number("--starts", "5", 1, 99_999), Ok(5));
        for bad in ["0", "100000", "-1", "+3", "1.5", "", "ten", "5s"] {
            let err = parse_number("--starts", bad, 1, 99_999).expect_err(bad);
            assert!(
                err.0.contains("--starts") && err.0.contains(&format!("'{bad}'")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_flag_without_its_value_says_so_with_an_example() {
        let err = args(&["--duration"])
            .next_arg()
            .map(|flag| args(&[]).number(&flag, 1, 99_999))
            .expect("one argument")
            .expect_err("no value");
        assert_eq!(err.0, "--duration needs a value, e.g. --duration 10");
    }

    #[test]
    fn an_unknown_argument_points_at_the_help() {
        assert_eq!(
            args(&[]).unknown("--fast").0,
            "unknown argument '--fast' (see cargo xtask x --help)"
        );
    }
}
