//! Just enough HTTP/1.1 over a blocking `TcpStream` for the tooling: one
//! request, one response with a `Content-Length` body (what the service and
//! nginx send), and whether the server asked to close the connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One response: its status, whether it carried `Connection: close`, and
/// the body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub close: bool,
    pub body: String,
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The connection closed before the first byte of a response.
    ClosedBeforeResponse,
    /// The response began but did not complete, or is not HTTP/1.x.
    Broken(String),
    /// No complete response within the read timeout.
    TimedOut,
}

/// `GET path` on a new connection; the response or a message saying what
/// failed.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, String> {
    let mut stream =
        connect(addr, timeout).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send GET {path} to {addr}: {e}"))?;
    read_response(&mut stream).map_err(|e| format!("GET {path} on {addr}: {e:?}"))
}

/// A new connection whose reads time out after `timeout`, with Nagle off
/// (each request is one small write).
pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one response from `stream` (which has a read timeout set).
pub fn read_response(stream: &mut impl Read) -> Result<Response, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = find(&buf, b"\r\n\r\n") {
            let head = parse_head(&buf[..head_end])?;
            let body_start = head_end + 4;
            while buf.len() < body_start + head.content_length {
                read_more(stream, &mut buf, &mut chunk, true)?;
            }
            let body = &buf[body_start..body_start + head.content_length];
            return Ok(Response {
                status: head.status,
                close: head.close,
                body: String::from_utf8_lossy(body).into_owned(),
            });
        }
        let started = !buf.is_empty();
        read_more(stream, &mut buf, &mut chunk, started)?;
    }
}

fn read_more(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    chunk: &mut [u8],
    started: bool,
) -> Result<(), ReadError> {
    match stream.read(chunk) {
        Ok(0) if started => Err(ReadError::Broken(
            "closed in the middle of a response".into(),
        )),
        Ok(0) => Err(ReadError::ClosedBeforeResponse),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(ReadError::TimedOut)
        }
        Err(_) if !started => Err(ReadError::ClosedBeforeResponse),
        Err(e) => Err(ReadError::Broken(e.to_string())),
    }
}

struct Head {
    status: u16,
    close: bool,
    content_length: usize,
}

fn parse_head(head: &[u8]) -> Result<Head, ReadError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            ReadError::Broken(format!("not an HTTP/1.x status line: '{status_line}'"))
        })?;
    let (mut close, mut content_length) = (false, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Broken(format!("not a header line: '{line}'")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Broken(format!(
                "transfer-encoding {value} is not supported"
            )));
        }
    }
    let content_length = content_length
        .ok_or_else(|| ReadError::Broken(format!("status {status} without Content-Length")))?;
    Ok(Head {
        status,
        close,
        content_length,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes in pieces of `step`, then EOF.
    struct Pieces<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(self.bytes.len()).min(out.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn read(bytes: &[u8], step: usize) -> Result<Response, ReadError> {
        read_response(&mut Pieces { bytes, step })
    }

    #[test]
    fn reads_a_response_in_any_number_of_pieces() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nConnection: close\r\n\r\nhello";
        for step in [1, 7, 4096] {
            assert_eq!(
                read(raw, step),
                Ok(Response {
                    status: 200,
                    close: true,
                    body: "hello".into()
                }),
                "step {step}"
            );
        }
        let keep_alive = read(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
            4096,
        );
        assert_eq!(keep_alive.map(|r| (r.status, r.close)), Ok((502, false)));
    }

    #[test]
    fn tells_a_closed_idle_connection_from_a_cut_response() {
        assert_eq!(read(b"", 1), Err(ReadError::ClosedBeforeResponse));
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\n", 4096),
            Err(ReadError::Broken(_))
        ));
        let short_body = read(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc", 4096);
        assert!(
            matches!(short_body, Err(ReadError::Broken(_))),
            "{short_body:?}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_frame() {
        for raw in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(read(raw, 4096), Err(ReadError::Broken(_))),
                "{raw:?}"
            );
        }
    }
}
