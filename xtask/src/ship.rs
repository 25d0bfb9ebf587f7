//! What ships, as scripts/lib/ship.sh defines it (its one home, since the
//! image, scan and smoke jobs read it without Rust): the architectures, their
//! musl targets, the cargo arguments and the C flags of the build.

use std::path::Path;
use std::process::Command;

use crate::{Result, fail, output_of};

/// One architecture that ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arch {
    /// Docker's name: `amd64`, `arm64`.
    pub name: String,
    /// The Rust target: `x86_64-unknown-linux-musl`, ...
    pub triple: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ship {
    pub archs: Vec<Arch>,
    /// `--release --locked --bin <name>`.
    pub cargo_args: Vec<String>,
    /// The C flags of the C code compiled in (mimalloc).
    pub cflags: String,
}

/// The lines `read` asks ship.sh for.
const PRINT: &str = r#"source "$1" || exit 1
for arch in "${SHIP_ARCHS[@]}"; do printf 'arch %s %s\n' "$arch" "$(ship_triple "$arch")"; done
printf 'cargo %s\n' "${SHIP_CARGO_ARGS[*]}"
printf 'cflags %s\n' "$SHIP_CFLAGS""#;

impl Ship {
    /// Reads scripts/lib/ship.sh of the repository at `root`.
    pub fn read(root: &Path) -> Result<Self> {
        let ship = root.join("scripts/lib/ship.sh");
        let printed = output_of(
            Command::new("bash")
                .args(["-c", PRINT, "ship.sh"])
                .arg(&ship),
        )?;
        Self::parse(&printed)
    }

    fn parse(printed: &str) -> Result<Self> {
        let mut ship = Self {
            archs: Vec::new(),
            cargo_args: Vec::new(),
            cflags: String::new(),
        };
        for line in printed.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "arch" => {
                    let (name, triple) = value.split_once(' ').unwrap_or((value, ""));
                    ship.archs.push(Arch {
                        name: name.to_owned(),
                        triple: triple.to_owned(),
                    });
                }
                "cargo" => ship.cargo_args = value.split_whitespace().map(str::to_owned).collect(),
                "cflags" => value.clone_into(&mut ship.cflags),
                _ => {}
            }
        }
        if ship.archs.is_empty() || ship.archs.iter().any(|a| a.triple.is_empty()) {
            fail!(
                "scripts/lib/ship.sh names no architecture with a target (SHIP_ARCHS, ship_triple)"
            );
        }
        Ok(ship)
    }

    /// The architecture called `name`, or an error listing them.
    pub fn arch(&self, name: &str) -> Result<&Arch> {
        match self.archs.iter().find(|a| a.name == name) {
            Some(arch) => Ok(arch),
            None => fail!(
                "unsupported architecture '{name}': the image is built for {}",
                self.archs
                    .iter()
                    .map(|a| format!("linux/{}", a.name))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        }
    }
}

/// This machine's architecture in Docker's terms, when one ships for it.
pub fn host_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("amd64"),
        "aarch64" => Some("arm64"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repositorys_ship_sh_names_two_musl_targets() {
        let ship = Ship::read(&crate::project_root().expect("root")).expect("ship.sh");
        let triples: Vec<&str> = ship.archs.iter().map(|a| a.triple.as_str()).collect();
        assert_eq!(
            triples,
            ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]
        );
        assert_eq!(ship.cargo_args[..2], ["--release", "--locked"]);
        assert!(!ship.cflags.is_empty());
        assert_eq!(ship.arch("arm64").expect("arm64").triple, triples[1]);
        let err = ship.arch("riscv64").expect_err("not shipped").0;
        assert!(
            err.contains("'riscv64': the image is built for linux/amd64 and linux/arm64"),
            "{err}"
        );
    }

    #[test]
    fn a_ship_sh_without_targets_is_refused() {
        assert!(Ship::parse("cargo --release\n").is_err());
        assert!(Ship::parse("arch amd64 \n").is_err());
    }
}
