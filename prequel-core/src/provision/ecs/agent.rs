//! The one HTTP call Prequel makes to an instance: asking its archive agent (part of the
//! instance image) to upload the workspace. Plain HTTP/1.1 over a TCP stream, inside the VPC:
//! prequel-core has no HTTP client dependency and one POST does not justify one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::domain::SecretString;

/// Why the agent did not archive.
#[derive(Debug)]
pub(super) struct AgentError(pub(super) String);

/// `POST http://{address}/archive` with `{"upload_url": …}` and the interview's archive token
/// (not the candidate's password) as a bearer token; `Ok` when the agent answers 2xx (it answers
/// after the upload finished). Error messages never contain the URL or the token.
///
/// A blocking socket on the blocking pool, with `timeout` on every read and write (the agent
/// answers once the upload is done) and at most 10 s to connect: prequel-core's tokio has no `net` feature, and one request per destroy needs no more.
pub(super) async fn request_archive(
    address: SocketAddr,
    upload_url: &str,
    password: &SecretString,
    timeout: Duration,
) -> Result<(), AgentError> {
    let body = serde_json::json!({ "upload_url": upload_url }).to_string();
    let request = format!(
        "POST /archive HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        password.expose(),
        body.len()
    );
    tokio::task::spawn_blocking(move || post(address, request.as_bytes(), timeout))
        .await
        .map_err(|e| AgentError(format!("the archive request to {address} was aborted: {e}")))?
}

/// How long connecting may take: a running task in the same VPC answers at once, and a task that
/// is gone (or an address nothing routes to) must not hold a destroy for the whole archive time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn post(address: SocketAddr, request: &[u8], timeout: Duration) -> Result<(), AgentError> {
    let mut stream = TcpStream::connect_timeout(&address, timeout.min(CONNECT_TIMEOUT))
        .map_err(|e| AgentError(format!("cannot reach the archive agent at {address}: {e}")))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    stream.write_all(request).map_err(|e| {
        AgentError(format!(
            "cannot send to the archive agent at {address}: {e}"
        ))
    })?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| {
        AgentError(format!(
            "no answer from the archive agent at {address}: {e}"
        ))
    })?;
    let head = String::from_utf8_lossy(&response);
    let status_line = head.lines().next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(AgentError(format!(
            "the archive agent at {address} answered {:?}",
            status_line.chars().take(80).collect::<String>()
        )))
    }
}
