//! The log filter of a running service, read from a file
//! (`LOG_FILTER_FILE`, a mounted `ConfigMap` in Kubernetes): changed without a
//! restart. The file is read every `LOG_FILTER_POLL_SECONDS` and on SIGHUP; a filter
//! that does not parse is refused with one log line, and the current one
//! stays. An empty or missing file means the start-up filter (`RUST_LOG`).
//!
//! Polling, not inotify: Kubernetes swaps a `ConfigMap` volume by replacing a
//! symlink, which file watches miss unless they watch the directory, and a
//! read of a small file every few seconds costs nothing measurable.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

/// The filter in force and the file's last reading.
#[derive(Debug)]
pub struct FilterFile {
    startup: String,
    applied: String,
    /// The last reading, so a refused filter or an unreadable file is
    /// reported once, not on every poll.
    last_reading: Option<Result<String, String>>,
}

/// What one reading of the file led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The same as the last reading.
    Unchanged,
    /// A new filter is in force.
    Changed { from: String, to: String },
    /// The file holds a filter that does not parse; `kept` stays in force.
    Refused {
        filter: String,
        error: String,
        kept: String,
    },
    /// The file could not be read (other than missing); `kept` stays.
    Unreadable { error: String, kept: String },
}

impl FilterFile {
    /// `startup`: the filter the service started with.
    pub fn new(startup: &str) -> Self {
        Self {
            startup: startup.to_owned(),
            applied: startup.to_owned(),
            last_reading: None,
        }
    }

    /// Acts on one reading of the file: `install` puts a parsed filter in
    /// force (`telemetry::set_filter` in the service).
    pub fn update(
        &mut self,
        read: io::Result<String>,
        install: impl FnOnce(EnvFilter) -> Result<(), String>,
    ) -> Outcome {
        let reading = match read {
            Ok(text) => Ok(text.trim().to_owned()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(err) => Err(err.to_string()),
        };
        if self.last_reading.as_ref() == Some(&reading) {
            return Outcome::Unchanged;
        }
        self.last_reading = Some(reading.clone());
        let wanted = match reading {
            Ok(text) if text.is_empty() => self.startup.clone(),
            Ok(text) => text,
            Err(error) => {
                return Outcome::Unreadable {
                    error,
                    kept: self.applied.clone(),
                };
            }
        };
        if wanted == self.applied {
            return Outcome::Unchanged;
        }
        let refused = |error: String| Outcome::Refused {
            filter: wanted.clone(),
            error,
            kept: self.applied.clone(),
        };
        let filter = match EnvFilter::try_new(&wanted) {
            Ok(filter) => filter,
            Err(err) => return refused(err.to_string()),
        };
        if let Err(error) = install(filter) {
            return refused(error);
        }
        let from = std::mem::replace(&mut self.applied, wanted.clone());
        Outcome::Changed { from, to: wanted }
    }
}

/// Reads `path` every `poll` and on SIGHUP, for as long as the runtime
/// runs, and logs what each change led to. SIGHUP is caught from the call
/// on, before the future first runs: once the service listens, a SIGHUP
/// never meets the default action, which terminates the process.
pub fn watch(path: PathBuf, startup: String, poll: Duration) -> impl Future<Output = ()> {
    let mut hangup = hangups();
    async move {
        let mut file = FilterFile::new(&startup);
        let mut poll = tokio::time::interval(poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick() => {}
                () = next_hangup(&mut hangup) => {}
            }
            // A small file: read on the runtime thread, as cheap as a syscall.
            let read = std::fs::read_to_string(&path);
            log(&file.update(read, crate::telemetry::set_filter), &path);
        }
    }
}

/// At `warn` and `error`, so the line is written under any usual filter,
/// the new one included.
fn log(outcome: &Outcome, path: &std::path::Path) {
    let file = path.display();
    match outcome {
        Outcome::Unchanged => {}
        Outcome::Changed { from, to } => {
            tracing::warn!(%file, from = %from, to = %to, "log filter changed");
        }
        Outcome::Refused {
            filter,
            error,
            kept,
        } => {
            tracing::error!(%file, %filter, %error, %kept, "log filter refused: it does not parse; the current one stays");
        }
        Outcome::Unreadable { error, kept } => {
            tracing::error!(%file, %error, %kept, "log filter file unreadable; the current filter stays");
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangups() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(stream) => Some(stream),
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGHUP; the log filter file is still polled");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangups() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    match hangups {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)] // the shape `update` takes
    fn installed(_: EnvFilter) -> Result<(), String> {
        Ok(())
    }

    #[allow(clippy::unnecessary_wraps)] // the shape of a file read
    fn read(text: &str) -> io::Result<String> {
        Ok(text.to_owned())
    }

    #[test]
    fn a_new_filter_is_installed_and_reported_once() {
        let mut file = FilterFile::new("info");
        assert_eq!(
            file.update(read("warn\n"), installed),
            Outcome::Changed {
                from: "info".into(),
                to: "warn".into()
            }
        );
        assert_eq!(file.update(read("warn"), installed), Outcome::Unchanged);
    }

    #[test]
    fn the_same_filter_as_in_force_installs_nothing() {
        let mut file = FilterFile::new("info");
        let outcome = file.update(read("info"), |_| panic!("nothing to install"));
        assert_eq!(outcome, Outcome::Unchanged);
    }

    #[test]
    fn a_filter_that_does_not_parse_is_refused_once_and_the_current_one_stays() {
        let mut file = FilterFile::new("info");
        let outcome = file.update(read("payload=loud"), |_| panic!("must not install"));
        let Outcome::Refused {
            filter,
            error,
            kept,
        } = outcome
        else {
            panic!("refused, got {outcome:?}");
        };
        assert_eq!((filter.as_str(), kept.as_str()), ("payload=loud", "info"));
        assert!(!error.is_empty());
        // Polled again: no second report.
        assert_eq!(
            file.update(read("payload=loud"), installed),
            Outcome::Unchanged
        );
        // Then fixed: applied from the filter that stayed.
        assert_eq!(
            file.update(read("debug"), installed),
            Outcome::Changed {
                from: "info".into(),
                to: "debug".into()
            }
        );
    }

    #[test]
    fn an_empty_or_missing_file_means_the_startup_filter() {
        let mut file = FilterFile::new("info");
        file.update(read("debug"), installed);
        assert_eq!(
            file.update(read("  \n"), installed),
            Outcome::Changed {
                from: "debug".into(),
                to: "info".into()
            }
        );
        file.update(read("warn"), installed);
        let missing = Err(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(
            file.update(missing, installed),
            Outcome::Changed {
                from: "warn".into(),
                to: "info".into()
            }
        );
    }

    #[test]
    fn an_unreadable_file_is_reported_once_and_the_filter_stays() {
        let mut file = FilterFile::new("info");
        let denied = || Err(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(
            file.update(denied(), installed),
            Outcome::Unreadable { kept, .. } if kept == "info"
        ));
        assert_eq!(file.update(denied(), installed), Outcome::Unchanged);
    }

    #[test]
    fn a_filter_the_subscriber_cannot_take_is_refused() {
        let mut file = FilterFile::new("info");
        let outcome = file.update(read("debug"), |_| Err("no subscriber".to_owned()));
        assert_eq!(
            outcome,
            Outcome::Refused {
                filter: "debug".into(),
                error: "no subscriber".into(),
                kept: "info".into()
            }
        );
    }
}
