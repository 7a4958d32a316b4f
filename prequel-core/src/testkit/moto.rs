//! moto, a real AWS API server on loopback, for the AWS backends' tests (features `testkit` and
//! `aws`).
//!
//! One setting differs from moto's defaults: ECS tasks stay `RUNNING` until stopped, as real ones
//! do (moto otherwise advances a task's status at every `DescribeTasks`).
//!
//! [`moto`] starts one `moto_server` per test process on a free loopback port, the first time a
//! test asks, and every test shares it; tests keep out of each other's way by naming their
//! resources with [`unique_name`], never by resetting the server. The server dies with the test
//! process: it is started under a shell that kills it when the process's end of a pipe closes.
//! A test whose load would slow everyone else's requests takes a server of its own,
//! [`dedicated`], which the same pipe stops when the value is dropped.
//!
//! Where moto comes from: `PREQUEL_MOTO_SERVER` (what `scripts/setup-test-tools` exports: moto
//! 5.2.5 in a venv of its own; the image's 5.2.1 breaks the SDK's ECS calls). The server is run
//! with the `python` beside it, one request at a time (see [`Moto`]'s start for why). When it is not set,
//! a test outside CI prints a loud `SKIPPED:` line and gets `None`; under `CI=true` it fails.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::aws::sdk::elb::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum,
};
use crate::aws::{AwsClients, ConnectOptions, RequestCounter, ResourceNames};

/// The program that serves moto (run with `python -c`).
const MOTO_SERVER_PY: &str = include_str!("moto_server.py");

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
    let program = moto_program(test)?;
    match MOTO.get_or_init(|| Moto::start(&program)) {
        Ok(moto) => Some(moto),
        Err(err) => panic!("{test}: moto did not start: {err}"),
    }
}

/// A moto server of the caller's own, stopped when dropped: for a test whose load would slow
/// every other test's requests on the shared one (moto serves one request at a time). `None`
/// as for [`moto`].
pub fn dedicated(test: &str) -> Option<Moto> {
    let program = moto_program(test)?;
    match Moto::start(&program) {
        Ok(moto) => Some(moto),
        Err(err) => panic!("{test}: moto did not start: {err}"),
    }
}

/// `PREQUEL_MOTO_SERVER`, or `None` after a loud skip outside CI (a panic under `CI=true`).
fn moto_program(test: &str) -> Option<std::path::PathBuf> {
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
    Some(program.into())
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
        // Served one request at a time, with transactions rolled back item by item: see
        // moto_server.py for why.
        let python = program.with_file_name("python");
        let launcher = MOTO_SERVER_PY;
        // `cat` returns when our end of its stdin closes, i.e. when this process exits, however
        // it exits; the shell then kills moto.
        let script = r#"exec 3<&0; "$0" -c "$2" "$1" </dev/null >/dev/null 2>&1 & pid=$!; cat <&3 >/dev/null; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null"#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&python)
            .arg(port.to_string())
            .arg(launcher)
            .env("MOTO_PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _guard: Mutex::new(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if moto.raw_get("/moto-api/").is_ok() {
                // By default moto moves an ECS task one status further (RUNNING → DEACTIVATING →
                // … → STOPPED) at every DescribeTasks, so a task would stop on its own after a
                // few polls. Real tasks run until stopped; make moto's do the same.
                moto.raw_request(
                    "POST",
                    "/moto-api/state-manager/set-transition",
                    r#"{"model_name":"ecs::task","transition":{"progression":"manual","times":1000000000}}"#,
                )
                .map_err(|e| format!("moto's state manager: {e}"))?;
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
        let groups = self
            .raw_get("/?Action=DescribeSecurityGroups&Version=2016-11-15")
            .map_err(|e| format!("DescribeSecurityGroups: {e}"))?;
        let security_group_id = xml_values(&groups, "groupId")
            .into_iter()
            .next()
            .ok_or_else(|| format!("no security group in moto's default VPC: {groups}"))?;
        Ok(DefaultNetwork {
            vpc_id: vpc,
            subnet_ids: subnets,
            security_group_id,
        })
    }

    fn raw_get(&self, path: &str) -> std::io::Result<String> {
        self.raw_request("GET", path, "")
    }

    fn raw_request(&self, method: &str, path: &str, body: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        // moto reads the region from the credential scope of the Authorization header.
        // A content type only with a body: moto's EC2 reads a JSON content type as a JSON
        // request and fails on the query string.
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/json\r\n"
        };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, \
             Signature=0\r\n{content_type}Content-Length: {length}\r\nConnection: close\r\n\r\n{body}",
            port = self.port,
            length = body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if !response.starts_with("HTTP/1.1 2") && !response.starts_with("HTTP/1.0 2") {
            return Err(std::io::Error::other(
                response.lines().next().unwrap_or("no answer").to_owned(),
            ));
        }
        Ok(response)
    }
}

/// What `infra/` makes for one deployment, made on moto by [`Moto::deployment`].
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The names everything was made under.
    pub names: ResourceNames,
    /// moto's default VPC, where the load balancer and the tasks go.
    pub network: DefaultNetwork,
    /// The ECS cluster (named after the stem).
    pub cluster: String,
    /// The shared load balancer's listener: HTTP on port 80, since moto refuses an HTTPS
    /// listener without an ACM certificate.
    pub listener_arn: String,
}

impl Moto {
    /// Makes a deployment's shared infrastructure as `infra/` would: both DynamoDB tables, both
    /// buckets, the ECS cluster, and a load balancer over two subnets with a listener whose
    /// default answer is 404. Panics (it is test set-up) when moto refuses any of it.
    pub async fn deployment(&self, clients: &AwsClients, names: &ResourceNames) -> Deployment {
        let network = self.default_network().expect("moto's default VPC");
        crate::store::dynamo::create_tables(&clients.dynamodb, names)
            .await
            .expect("DynamoDB tables");
        for bucket in [names.challenges_bucket(), names.history_bucket()] {
            clients
                .s3
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .expect("S3 bucket");
        }
        let cluster = names.stem();
        clients
            .ecs
            .create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .expect("ECS cluster");
        let balancer = clients
            .elb
            .create_load_balancer()
            .name(names.stem())
            .set_subnets(Some(network.subnet_ids.iter().take(2).cloned().collect()))
            .send()
            .await
            .expect("load balancer");
        let balancer_arn = balancer
            .load_balancers()
            .first()
            .and_then(|b| b.load_balancer_arn())
            .expect("load balancer ARN")
            .to_owned();
        let listener = clients
            .elb
            .create_listener()
            .load_balancer_arn(balancer_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::FixedResponse)
                    .fixed_response_config(
                        FixedResponseActionConfig::builder()
                            .status_code("404")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("listener");
        let listener_arn = listener
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .expect("listener ARN")
            .to_owned();
        Deployment {
            names: names.clone(),
            network,
            cluster,
            listener_arn,
        }
    }
}

/// moto's default VPC.
#[derive(Debug, Clone)]
pub struct DefaultNetwork {
    /// The VPC id.
    pub vpc_id: String,
    /// Its subnets.
    pub subnet_ids: Vec<String>,
    /// Its default security group.
    pub security_group_id: String,
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
