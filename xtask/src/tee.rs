//! Running a command whose output a person watches and a file keeps.

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Result, fail};

/// Runs `command` with its stdout and stderr as one stream, copied to our
/// stdout and to `log_path` as it comes; its whole output and exit code.
pub fn tee(command: &mut Command, log_path: &Path) -> Result<(String, Option<i32>)> {
    tee_quietly(command, log_path, |_| true)
}

/// `tee`, showing only the lines `shown` accepts (the log has them all).
pub fn tee_quietly(
    command: &mut Command,
    log_path: &Path,
    shown: fn(&str) -> bool,
) -> Result<(String, Option<i32>)> {
    let (mut child, output) = match stream(command, log_path, shown) {
        Ok(streamed) => streamed,
        Err(err) => fail!(
            "cannot run or log {command:?} ({}): {err}",
            log_path.display()
        ),
    };
    let status = match child.wait() {
        Ok(status) => status,
        Err(err) => fail!("waiting for {command:?}: {err}"),
    };
    Ok((String::from_utf8_lossy(&output).into_owned(), status.code()))
}

fn stream(
    command: &mut Command,
    log_path: &Path,
    shown: fn(&str) -> bool,
) -> std::io::Result<(std::process::Child, Vec<u8>)> {
    let (reader, writer) = std::io::pipe()?;
    command.stdout(writer.try_clone()?).stderr(writer);
    let child = command.spawn()?;
    // The command's copies of the pipe's write end must close, or the
    // read below never sees the end.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut log = File::create(log_path)?;
    let mut output = Vec::new();
    let mut stdout = std::io::stdout();
    // Line by line, so `shown` sees whole lines; a stage's progress
    // output still streams, since its tools end their lines.
    for line in std::io::BufReader::new(reader).split(b'\n') {
        let mut line = line?;
        line.push(b'\n');
        if shown(&String::from_utf8_lossy(&line)) {
            stdout.write_all(&line)?;
            stdout.flush()?;
        }
        log.write_all(&line)?;
        output.extend_from_slice(&line);
    }
    Ok((child, output))
}
