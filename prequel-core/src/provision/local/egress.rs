//! Outbound HTTP(S) for sandboxes of challenges with `network = "internet"`.
//!
//! The sandbox has no network of its own. Inside it, a relay (`relay.js`, run with the node
//! code-server needs anyway) listens on `127.0.0.1:3128` and passes each connection to a unix
//! socket that `serve` serves (this module); `HTTP_PROXY`/`HTTPS_PROXY` point at the relay, so
//! pip, npm, git and curl work unchanged. The proxy resolves each name itself and connects only
//! to public addresses on ports 80 and 443: never this machine (loopback or any of its own
//! addresses, so not the API nor another instance), link-local (169.254.169.254, the cloud
//! metadata service), private, shared (CGNAT), multicast or reserved networks. It connects to the
//! address it checked, so a name that resolves differently the next time (DNS rebinding) gains
//! nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// The relay inside the sandbox (its port and the egress socket are its arguments).
pub(crate) const RELAY_JS: &str = "\
// Written by Prequel: relays this sandbox's HTTP(S) proxy port to the egress proxy's socket.\n\
const net = require('net');\n\
const [port, socket] = process.argv.slice(2);\n\
net.createServer((client) => {\n\
  const upstream = net.connect(socket);\n\
  client.pipe(upstream).pipe(client);\n\
  client.on('error', () => upstream.destroy());\n\
  upstream.on('error', () => client.destroy());\n\
}).listen(Number(port), '127.0.0.1');\n";

/// The relay's port on the sandbox's loopback.
pub(crate) const RELAY_PORT: u16 = 3128;

/// The ports a sandbox may reach: the web.
const ALLOWED_PORTS: [u16; 2] = [80, 443];

/// The most a request head may be.
const MAX_HEAD: usize = 16 * 1024;

/// Connections open at once per instance.
const MAX_CONNECTIONS: usize = 64;

/// How long a client has to send its request, and a connect may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves one instance's egress socket until the listener's task is aborted.
pub(super) async fn serve(listener: UnixListener, interview: String) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(client);
            continue;
        };
        let interview = interview.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(refusal) = handle(client, &interview).await {
                tracing::debug!(%interview, %refusal, "egress request ended");
            }
        });
    }
}

/// One proxied connection: the request head, the check, then the bytes both ways.
async fn handle(mut client: UnixStream, interview: &str) -> Result<(), String> {
    let head = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_head(&mut client))
        .await
        .map_err(|_| "no request in time".to_owned())??;
    let request = match parse_head(&head) {
        Ok(request) => request,
        Err(reason) => {
            refuse(&mut client, "400 Bad Request", &reason).await;
            return Err(reason);
        }
    };
    let target = match resolve(&request.host, request.port).await {
        Ok(target) => target,
        Err(reason) => {
            tracing::info!(%interview, host = %request.host, port = request.port, %reason, "egress refused");
            refuse(&mut client, "403 Forbidden", &reason).await;
            return Err(reason);
        }
    };
    let mut upstream =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                let reason = format!("cannot connect to {}: {err}", request.host);
                refuse(&mut client, "502 Bad Gateway", &reason).await;
                return Err(reason);
            }
            Err(_) => {
                let reason = format!("{} did not answer in time", request.host);
                refuse(&mut client, "504 Gateway Timeout", &reason).await;
                return Err(reason);
            }
        };
    tracing::info!(%interview, host = %request.host, port = request.port, address = %target.ip(), "egress");
    match request.forward {
        None => {
            client
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .map_err(|e| e.to_string())?;
        }
        Some(head) => upstream.write_all(&head).await.map_err(|e| e.to_string())?,
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads up to the end of the request head (and whatever came with it).
async fn read_head(client: &mut UnixStream) -> Result<Vec<u8>, String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = client.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the client closed before its request".to_owned());
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err("the request head is too long".to_owned());
        }
    }
}

/// What a client asked for.
#[derive(Debug, PartialEq, Eq)]
struct ProxyRequest {
    host: String,
    port: u16,
    /// For plain HTTP: the head to send upstream (in origin form, connection closed after);
    /// `None` for `CONNECT`.
    forward: Option<Vec<u8>>,
}

/// `CONNECT host:port HTTP/1.1`, or `GET http://host[:port]/path HTTP/1.1` (plain HTTP).
fn parse_head(head: &[u8]) -> Result<ProxyRequest, String> {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the request head")?;
    let text = std::str::from_utf8(&head[..end]).map_err(|_| "the request head is not UTF-8")?;
    let (line, headers) = text.split_once("\r\n").unwrap_or((text, ""));
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("not an HTTP request line: {line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol {version:?}"));
    }
    if method == "CONNECT" {
        let (host, port) = split_host_port(target, None)?;
        return Ok(ProxyRequest {
            host,
            port,
            forward: None,
        });
    }
    let rest = target.strip_prefix("http://").ok_or_else(|| {
        format!("only http:// URLs and CONNECT go through the proxy, not {target:?}")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_host_port(authority, Some(80))?;
    // Origin form, and one request per connection (the next may be for another host).
    let mut forward = format!("{method} {path} {version}\r\n");
    for header in headers.split("\r\n").filter(|h| !h.is_empty()) {
        let name = header.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection")
            || name.eq_ignore_ascii_case("proxy-connection")
            || name.eq_ignore_ascii_case("proxy-authorization")
        {
            continue;
        }
        forward.push_str(header);
        forward.push_str("\r\n");
    }
    forward.push_str("Connection: close\r\n\r\n");
    let mut bytes = forward.into_bytes();
    bytes.extend_from_slice(&head[end + 4..]);
    Ok(ProxyRequest {
        host,
        port,
        forward: Some(bytes),
    })
}

fn split_host_port(authority: &str, default: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed [ in the address")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match (port, default) {
        (Some(port), _) => port
            .parse()
            .map_err(|_| format!("bad port in {authority:?}"))?,
        (None, Some(default)) => default,
        (None, None) => return Err(format!("no port in {authority:?}")),
    };
    if host.is_empty() {
        return Err(format!("no host in {authority:?}"));
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// The address to connect to: the first public one the name resolves to, on an allowed port.
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if !ALLOWED_PORTS.contains(&port) {
        return Err(format!(
            "port {port} is not reachable from an interview (only 80 and 443)"
        ));
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| format!("cannot resolve {host}: {err}"))?
        .collect();
    let mut refused = None;
    for address in addresses {
        match forbidden(address.ip()) {
            None => return Ok(address),
            Some(why) => refused = Some(format!("{host} is {} ({why})", address.ip())),
        }
    }
    Err(refused.unwrap_or_else(|| format!("{host} has no address")))
}

/// Why an address must not be reached from a sandbox, if it must not.
pub(crate) fn forbidden(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    let why = match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    };
    why.or_else(|| is_local_address(ip).then_some("an address of this machine"))
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_link_local() {
        Some("link-local, where cloud metadata lives")
    } else if ip.is_private() {
        Some("a private network")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared address space (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("IETF protocol assignments")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private network (unique local)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.to_ipv4().is_some() {
        // IPv4-compatible (::a.b.c.d): deprecated, and a way around the v4 checks.
        Some("IPv4-compatible")
    } else {
        None
    }
}

/// Whether `ip` is one of this machine's own addresses (binding to it works only then).
fn is_local_address(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

async fn refuse(client: &mut UnixStream, status: &str, reason: &str) {
    let body = format!("prequel: {reason}\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_local_link_local_and_private_addresses_are_forbidden() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00::2", "unique local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::7f00:1", "IPv4-compatible"),
        ] {
            let got = forbidden(ip.parse().expect("ip"));
            assert!(got.is_some_and(|g| g.contains(why)), "{ip}: {got:?}");
        }
        for ip in ["203.0.113.80", "151.101.0.223", "2a04:4e42::223"] {
            assert_eq!(forbidden(ip.parse().expect("ip")), None, "{ip}");
        }
    }

    #[test]
    fn connect_and_absolute_urls_are_read_and_anything_else_refused() {
        let connect = parse_head(b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n")
            .expect("connect");
        assert_eq!(
            (connect.host.as_str(), connect.port, connect.forward),
            ("pypi.org", 443, None)
        );
        let get = parse_head(
            b"GET http://Example.com/simple/?q=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\n\r\nbody",
        )
        .expect("get");
        assert_eq!((get.host.as_str(), get.port), ("example.com", 80));
        assert_eq!(
            String::from_utf8(get.forward.expect("forward")).expect("utf8"),
            "GET /simple/?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\nbody"
        );
        let v6 = parse_head(b"CONNECT [2a04::1]:443 HTTP/1.1\r\n\r\n").expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("2a04::1", 443));
        for bad in [
            &b"GET /relative HTTP/1.1\r\n\r\n"[..],
            b"CONNECT pypi.org HTTP/1.1\r\n\r\n",
            b"CONNECT :443 HTTP/1.1\r\n\r\n",
            b"GET ftp://x/ HTTP/1.1\r\n\r\n",
            b"NONSENSE\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn other_ports_and_this_machine_are_refused_before_connecting() {
        let err = resolve("203.0.113.80", 22).await.expect_err("ssh");
        assert!(err.contains("port 22"), "{err}");
        let err = resolve("localhost", 443).await.expect_err("loopback");
        assert!(err.contains("loopback"), "{err}");
        let err = resolve("169.254.169.254", 80).await.expect_err("metadata");
        assert!(err.contains("link-local"), "{err}");
    }
}
