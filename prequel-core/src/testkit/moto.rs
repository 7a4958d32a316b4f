//! moto, a real AWS API server on loopback, for the AWS backends' tests (features `testkit` and
//! `aws`).
//!
//! [`moto`] starts one `moto_server` per test process on a free loopback port, the first time a
//! test asks, and every test shares it; tests keep out of each other's way by naming their
//! resources with [`unique_name`], never by resetting the server. The server dies with the test
//! process: it is started under a shell that kills it when the process's end of a pipe closes.
//!
//! Where moto comes from: `PREQUEL_MOTO_SERVER` (what `scripts/setup-test-tools` exports: moto
//! 5.2.5 in a venv of its own; the image's 5.2.1 breaks the SDK's ECS calls). When it is not set,
//! a test outside CI prints a loud `SKIPPED:` line and gets `None`; under `CI=true` it fails.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::aws::{AwsClients, ConnectOptions, RequestCounter};

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    port: u16,
    // Held for the life of the process: when it closes (the process exits), the shell that
    // started moto kills it.
    _guard: Mutex<Child>,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The shared moto server, started on first use. `None` (after a loud `SKIPPED:` line) when
/// moto is not available outside CI; under `CI=true` a missing or broken moto panics.
pub fn moto(test: &str) -> Option<&'static Moto> {
    let Some(program) = std::env::var_os("PREQUEL_MOTO_SERVER").filter(|v| !v.is_empty()) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test} needs moto: set PREQUEL_MOTO_SERVER (see scripts/setup-test-tools)");
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED: {test}: moto is not available; run scripts/setup-test-tools and export \
             PREQUEL_MOTO_SERVER to run it"
        );
        return None;
    };
    match MOTO.get_or_init(|| Moto::start(std::path::Path::new(&program))) {
        Ok(moto) => Some(moto),
        Err(err) => panic!("{test}: moto did not start: {err}"),
    }
}

/// A name no other test in this process (or an earlier run against the same server) uses:
/// `{stem}{n}{pid}` in lowercase letters and digits, at most 14 characters plus the stem.
pub fn unique_name(stem: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{stem}{n}x{}", std::process::id() % 100_000)
}

impl Moto {
    fn start(program: &std::path::Path) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        // `read` returns when our end of stdin closes, i.e. when this process exits, however it
        // exits; the shell then kills moto.
        let script = r#"exec 3<&0; "$0" -H 127.0.0.1 -p "$1" </dev/null >/dev/null 2>&1 & pid=$!; cat <&3 >/dev/null; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null"#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(program)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _guard: Mutex::new(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if moto.raw_get("/moto-api/").is_ok() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer on port {port} within 30 s",
                    program.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How to connect to this server (static test credentials, region `us-east-1`).
    pub fn connect_options(&self, counter: Option<RequestCounter>) -> ConnectOptions {
        ConnectOptions {
            region: Some(REGION.to_owned()),
            endpoint_url: Some(self.endpoint.clone()),
            static_credentials: Some(("testing".to_owned(), "testing".to_owned())),
            counter,
        }
    }

    /// Clients for every service, pointed at this server.
    pub async fn clients(&self) -> AwsClients {
        AwsClients::connect(&self.connect_options(None)).await
    }

    /// The environment variables that point `prequel serve` (or any SDK program) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// The default VPC's id and subnet ids. moto makes them up at every start, and ECS calls
    /// need real ones; EC2 is asked directly (its query API) rather than by compiling the huge
    /// EC2 SDK for one call.
    pub fn default_network(&self) -> Result<DefaultNetwork, String> {
        let body = self
            .raw_get("/?Action=DescribeSubnets&Version=2016-11-15")
            .map_err(|e| format!("DescribeSubnets: {e}"))?;
        let subnets = xml_values(&body, "subnetId");
        let vpc = xml_values(&body, "vpcId")
            .into_iter()
            .next()
            .ok_or_else(|| format!("no subnets in moto's default VPC: {body}"))?;
        Ok(DefaultNetwork {
            vpc_id: vpc,
            subnet_ids: subnets,
        })
    }

    fn raw_get(&self, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        // moto reads the region from the credential scope of the Authorization header.
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, \
             Signature=0\r\nConnection: close\r\n\r\n",
            port = self.port
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if !response.starts_with("HTTP/1.1 200") && !response.starts_with("HTTP/1.0 200") {
            return Err(std::io::Error::other(
                response.lines().next().unwrap_or("no answer").to_owned(),
            ));
        }
        Ok(response)
    }
}

/// moto's default VPC.
#[derive(Debug, Clone)]
pub struct DefaultNetwork {
    /// The VPC id.
    pub vpc_id: String,
    /// Its subnets.
    pub subnet_ids: Vec<String>,
}

fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        let value = after[..end].to_owned();
        if !values.contains(&value) {
            values.push(value);
        }
        rest = &after[end..];
    }
    values
}
