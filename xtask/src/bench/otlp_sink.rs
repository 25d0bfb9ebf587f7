//! A local OTLP/HTTP endpoint that accepts every export and keeps nothing:
//! the collector for measuring what traces cost the service itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crate::{Error, Result};

/// The sink, listening until the process ends.
#[derive(Debug)]
pub(super) struct OtlpSink {
    pub(super) endpoint: String,
    exports: Arc<AtomicU64>,
}

impl OtlpSink {
    pub(super) fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error(format!("cannot listen for OTLP exports: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error(format!("the OTLP sink has no address: {e}")))?;
        let exports = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&exports);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counted = Arc::clone(&counted);
                thread::spawn(move || answer(stream, &counted));
            }
        });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            exports,
        })
    }

    /// Exports received so far: zero after a traced run means the figure
    /// measured no export.
    pub(super) fn exports(&self) -> u64 {
        self.exports.load(Ordering::Relaxed)
    }
}

const REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";

/// Answers each request of a keep-alive connection with an empty 200 (an
/// empty `ExportTraceServiceResponse`).
fn answer(stream: TcpStream, exports: &AtomicU64) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(length) = read_head(&mut reader) {
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        exports.fetch_add(1, Ordering::Relaxed);
        if writer.write_all(REPLY).is_err() {
            return;
        }
    }
}

/// Reads one request head; returns its `content-length` (0 when absent),
/// or `None` when the connection ends.
fn read_head(reader: &mut impl BufRead) -> Option<usize> {
    let mut length = 0;
    let mut started = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if started {
                return Some(length);
            }
            continue;
        }
        started = true;
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_its_content_length() {
        let mut input: &[u8] =
            b"POST /v1/traces HTTP/1.1\r\nContent-Length: 42\r\nhost: x\r\n\r\nbody";
        assert_eq!(read_head(&mut input), Some(42));
        assert_eq!(input, b"body");
    }

    #[test]
    fn a_closed_connection_ends_the_loop() {
        let mut input: &[u8] = b"";
        assert_eq!(read_head(&mut input), None);
        let mut partial: &[u8] = b"POST /v1/traces HTTP/1.1\r\n";
        assert_eq!(read_head(&mut partial), None);
    }

    #[test]
    fn exports_are_answered_and_counted() {
        let sink = OtlpSink::start().expect("starts");
        let addr = sink.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connects");
        for _ in 0..2 {
            stream
                .write_all(b"POST /v1/traces HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc")
                .expect("sends");
            let mut reply = vec![0; REPLY.len()];
            stream.read_exact(&mut reply).expect("an answer");
            assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
        }
        assert_eq!(sink.exports(), 2);
    }
}
