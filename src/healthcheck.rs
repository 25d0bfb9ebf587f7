//! `payload healthcheck`: the image has no shell or curl, so Docker and
//! compose health checks call the binary itself.

use std::process::ExitCode;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Exits 0 when `GET http://127.0.0.1:{port}/healthz` answers 200.
pub async fn probe(port: u16) -> ExitCode {
    match tokio::time::timeout(TIMEOUT, get_status(port)).await {
        Ok(Ok(200)) => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("unhealthy: /healthz answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(err)) => {
            eprintln!("unhealthy: cannot reach 127.0.0.1:{port}/healthz: {err}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("unhealthy: no answer from /healthz within {TIMEOUT:?}");
            ExitCode::FAILURE
        }
    }
}

async fn get_status(port: u16) -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get("/healthz")
        .header(header::HOST, format!("127.0.0.1:{port}"))
        .body(Body::empty())?;
    let response = sender.send_request(request).await?;
    Ok(response.status().as_u16())
}
