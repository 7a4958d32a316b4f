//! `prequel serve`: the scheduler and the JSON API on the embedded default (SQLite, local
//! code-server instances, challenges from a folder, secrets in files).

use std::io::{ErrorKind, IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use prequel_core::challenge::{ChallengeSource as _, DirChallenges};
use prequel_core::domain::{ChallengeId, SecretString};
use prequel_core::provision::Provisioner;
use prequel_core::provision::local::{LocalConfig, LocalProvisioner, find_code_server};
use prequel_core::scheduler::SchedulerConfig;
use prequel_core::secrets::file::FileSecrets;
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::{Prequel, PrequelConfig};
use prequel_web::WebConfig;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

use crate::app::{App, AppConfig};
use crate::config::{self, ServeConfig};

/// Arguments of `prequel serve`. Settings are read with their own precedence (flag > variable >
/// file > default), so these are plain strings and the variables are not clap's `env`.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (keys: data_dir, listen, challenges, tz,
    /// code_server, instance_bind, lease_seconds, open_status_on_loopback, backend; the Slack,
    /// Discord and AWS settings as in the README) [env: PREQUEL_CONFIG]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Where the database, secrets, admin token and workspaces live [env: PREQUEL_DATA_DIR]
    /// [default: ./.prequel]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,

    /// Where the API listens [env: PREQUEL_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,

    /// The challenges folder; each sub-folder with a challenge.toml is a challenge
    /// [env: PREQUEL_CHALLENGES] [default: ./challenge]
    #[arg(long, value_name = "DIR")]
    challenges: Option<String>,

    /// The zone commands are read in when a request names none [env: PREQUEL_TZ]
    /// [default: the system's zone, else UTC]
    #[arg(long, value_name = "IANA")]
    tz: Option<String>,

    /// The code-server executable [env: PREQUEL_CODE_SERVER] [default: found in the data dir's
    /// tools or on PATH]
    #[arg(long, value_name = "PATH")]
    code_server: Option<String>,

    /// The address interview instances listen on [env: PREQUEL_INSTANCE_BIND]
    /// [default: 127.0.0.1]
    #[arg(long, value_name = "IP")]
    instance_bind: Option<String>,

    /// How long a claim on work lasts unless renewed: after a crash, unfinished work is taken
    /// over by another server (or this one, restarted) once it runs out
    /// [env: PREQUEL_LEASE_SECONDS] [default: 60]
    #[arg(long, value_name = "SECONDS")]
    lease_seconds: Option<String>,

    /// Opens the status page (`/`) and its read-only data to requests from this machine's
    /// loopback addresses without the admin token. Leave it off behind a reverse proxy on the
    /// same machine: every request would then come from loopback
    /// [env: PREQUEL_OPEN_STATUS_ON_LOOPBACK=true|false] [default: false]
    #[arg(
        long = "open-status-page-on-loopback",
        value_name = "true|false",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    open_status_on_loopback: Option<String>,

    /// Runs every interview instance in a sandbox of its own: namespaces (no view of this
    /// machine's files, processes or network), its own user and a cgroup with limits. `off` runs
    /// code-server as this server's user: a candidate can then read the data dir (the admin
    /// token, every password), kill serve and reach every local service. serve refuses to start
    /// when the sandbox cannot be made here, naming what is missing
    /// [env: PREQUEL_SANDBOX=on|off] [default: on]
    #[arg(long, value_name = "on|off")]
    sandbox: Option<String>,

    /// Each instance's limits unless its challenge says otherwise
    /// [env: PREQUEL_SANDBOX_LIMITS] [default: memory=2GiB,tasks=512,cpus=1]
    #[arg(long, value_name = "memory=…,tasks=…,cpus=…")]
    sandbox_limits: Option<String>,

    /// The most a challenge's `[sandbox]` may ask for [env: PREQUEL_SANDBOX_MAX]
    /// [default: memory=8GiB,tasks=4096,cpus=4]
    #[arg(long, value_name = "memory=…,tasks=…,cpus=…")]
    sandbox_max: Option<String>,

    /// Folders bound read-only into every sandbox, their bin/ first on PATH: toolchains the
    /// challenges need beyond /usr, comma-separated [env: PREQUEL_SANDBOX_TOOLS]
    /// [default: <data dir>/tools/python when ./scripts/run installed it]
    #[arg(long, value_name = "DIR,…")]
    sandbox_tools: Option<String>,

    /// The cgroup (relative to the hierarchy's root) under which instance groups are made
    /// [env: PREQUEL_SANDBOX_CGROUP] [default: as root `prequel`; unprivileged on cgroup v2,
    /// serve's own delegated cgroup]
    #[arg(long, value_name = "PATH")]
    sandbox_cgroup: Option<String>,

    /// As root, the host user ids instances run as, one each [env: PREQUEL_SANDBOX_UIDS]
    /// [default: 1900000000-1900065535]
    #[arg(long, value_name = "FIRST-LAST")]
    sandbox_uids: Option<String>,

    /// Where interviews are kept and run: `local` (SQLite, code-server processes, files under the
    /// data dir) or `aws` (DynamoDB, ECS Fargate, S3, SSM; settings from infra/'s Terraform
    /// outputs, see the deploy guide) [env: PREQUEL_BACKEND] [default: local]
    #[arg(long, value_name = "local|aws")]
    backend: Option<String>,

    /// How log lines are written on stderr (filter them with RUST_LOG)
    #[arg(long, value_enum, env = "PREQUEL_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

const AFTER_HELP: &str = "\
Every setting comes from its flag, else its environment variable, else the config file, else
the default; with nothing set, `prequel serve` runs from the repository as it is. Relative paths
in the config file are relative to the file's folder.

At the first start an admin token is written to <data dir>/admin-token (mode 0600), unless
PREQUEL_ADMIN_TOKEN gives one (replicas share it that way); the API and `prequel interview` need
it. The token itself is never logged.

Each interview instance runs in a sandbox (bubblewrap namespaces, a user and a cgroup of its
own, no network unless its challenge asks for HTTP(S) through serve's filtering proxy); serve
passes the instance's URL to its code-server. serve checks at start that the sandbox can be made
and refuses to start otherwise, naming what is missing (`apt-get install bubblewrap`, user
namespaces, writable cgroups). `--sandbox off` runs without it and warns at every start.

Ctrl-C or SIGTERM stops the server gracefully: the API and the scheduler stop, while
running interview instances stay up (their URLs answer again once a serve runs). The next
`prequel serve` on the same data dir adopts them and destroys each at its time.

On AWS (a build with `--features aws`), PREQUEL_BACKEND=aws takes the names of the shared
infrastructure from infra/'s Terraform outputs (PREQUEL_DOMAIN, PREQUEL_ECS_CLUSTER, …; see the
README and docs/deploy.md) and the connection from the standard AWS variables; every table,
bucket, the cluster and the listener are checked before anything runs.

Example:
  prequel serve --listen 127.0.0.1:9090 --tz Europe/Berlin";

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// What the log shows when `RUST_LOG` is not set.
const DEFAULT_LOG_FILTER: &str =
    "prequel=info,prequel_core=info,prequel_web=info,prequel_bot=info,tower_http=info";

/// What `--sandbox off` means, said at every start.
const SANDBOX_OFF_WARNING: &str = "the sandbox is off (--sandbox off): each candidate's terminal \
    runs as this server's user, so a candidate can read the data dir (the admin token, the \
    database, every interview's password and work), kill serve and other interviews, reach every \
    service on this machine and its network, and exhaust its memory and processes; run with the \
    sandbox unless you trust every candidate with this machine";

/// The admin token's file in the data dir.
const TOKEN_FILE: &str = "admin-token";

/// Runs `prequel serve` until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_format);
    let flags = config::Flags {
        config: args.config,
        data_dir: args.data_dir,
        listen: args.listen,
        challenges: args.challenges,
        tz: args.tz,
        code_server: args.code_server,
        instance_bind: args.instance_bind,
        lease_seconds: args.lease_seconds,
        open_status_on_loopback: args.open_status_on_loopback,
        backend: args.backend,
        sandbox: config::SandboxFlags {
            sandbox: args.sandbox,
            limits: args.sandbox_limits,
            max: args.sandbox_max,
            tools: args.sandbox_tools,
            cgroup: args.sandbox_cgroup,
            uids: args.sandbox_uids,
        },
    };
    let config = match config::resolve(
        &flags,
        &|name| std::env::var(name).ok(),
        config::system_zone(),
    ) {
        Ok(config) => config,
        Err(error) => return super::refuse(&error.to_string()),
    };
    harden_process();
    // On ECS, secrets come as ECS secrets into a container that runs serve alone: no warning.
    if std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_none() {
        for var in &config.secrets_in_environment {
            tracing::warn!("{}", config::environment_warning(var));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// What serve writes is its own (umask 077: the data dir, the database, its journal and every
/// other file are for its user alone), and its memory cannot be read through `/proc` or a core
/// dump by other processes of its user (`PR_SET_DUMPABLE` 0): the secrets it holds stay there.
/// Children get the usual setting back when they `exec`.
fn harden_process() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    if let Err(error) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(%error, "cannot make serve non-dumpable; its memory is readable through /proc by its own user");
    }
}

/// Makes `dir` (the data dir) if needed and leaves it to serve's user alone (0700), tightening
/// one made by an earlier version or by hand.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make the data dir {} private", dir.display()))
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed; the first one stays.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let prequel = build_engine(&config).await?;
    let (admin_token, token_path) = match &config.admin_token {
        Some(token) if token.expose().len() >= 32 => (token.clone(), None),
        Some(_) => bail!(
            "{}: the admin token must be at least 32 characters",
            config::ADMIN_TOKEN_ENV
        ),
        None => {
            let (token, path) = admin_token(&config.data_dir)?;
            (token, Some(path))
        }
    };
    // Bind before starting the engine: a second `prequel serve` on a taken port stops here,
    // before its scheduler or start-up sweep could touch the first one's instances.
    let listener = bind(config.listen).await?;
    let signals = Signals::install()?;
    let app = App::start(
        prequel,
        AppConfig {
            admin_token,
            zone: config.tz,
            web: WebConfig {
                open_on_loopback: config.open_status_on_loopback,
                ..WebConfig::default()
            },
            slack: slack_config(&config),
            discord: discord_config(&config),
        },
    )
    .await?;
    announce(listener.local_addr()?, token_path.as_deref())?;
    app.serve(listener, signals.received()).await
}

/// Slack's settings when they are set (else says once that it is off).
fn slack_config(config: &ServeConfig) -> Option<crate::slack::SlackConfig> {
    match &config.slack {
        config::SlackSetup::Off => {
            tracing::info!(
                "slack is off: set PREQUEL_SLACK_SIGNING_SECRET and PREQUEL_SLACK_BOT_TOKEN \
                 (or PREQUEL_SLACK_MODE=socket with PREQUEL_SLACK_APP_TOKEN) to turn it on"
            );
            None
        }
        config::SlackSetup::On(slack) => Some((**slack).clone()),
    }
}

/// Discord's settings and zone when they are set (else says once that it is off).
fn discord_config(config: &ServeConfig) -> Option<(crate::discord::DiscordConfig, Tz)> {
    match &config.discord {
        config::DiscordSetup::Off => {
            tracing::info!(
                "discord is off: set PREQUEL_DISCORD_PUBLIC_KEY, PREQUEL_DISCORD_BOT_TOKEN and \
                 PREQUEL_DISCORD_APPLICATION_ID to turn it on"
            );
            None
        }
        config::DiscordSetup::On(discord, zone) => Some(((**discord).clone(), *zone)),
    }
}

/// Opens the configured backends and builds the facade over them.
async fn build_engine(config: &ServeConfig) -> anyhow::Result<Prequel> {
    let builder = match &config.backend {
        config::Backend::Local => local_engine(config).await?,
        config::Backend::Aws(setup) => aws_engine(setup).await?,
    };
    builder
        .config(PrequelConfig {
            scheduler: SchedulerConfig {
                lease: chrono::Duration::from_std(config.lease)
                    .context("the lease does not fit a duration")?,
                ..SchedulerConfig::default()
            },
        })
        .build()
        .context("cannot build the engine")
}

#[cfg(feature = "aws")]
async fn aws_engine(setup: &config::AwsSetup) -> anyhow::Result<prequel_core::PrequelBuilder> {
    let engine = super::aws::connect(setup).await?;
    Ok(Prequel::builder()
        .store(engine.store)
        .secrets(engine.secrets)
        .provisioner(engine.provisioner)
        .archive(engine.archive)
        .challenges(engine.challenge_ids))
}

#[cfg(not(feature = "aws"))]
async fn aws_engine(_: &config::AwsSetup) -> anyhow::Result<prequel_core::PrequelBuilder> {
    bail!(
        "this prequel was built without AWS support; build it with `cargo build --release \
         --features aws` (the bot's image in instance/ does) or use PREQUEL_BACKEND=local"
    )
}

/// The embedded default: SQLite, files and local code-server processes under the data dir.
async fn local_engine(config: &ServeConfig) -> anyhow::Result<prequel_core::PrequelBuilder> {
    let data_dir = &config.data_dir;
    private_dir(data_dir)?;
    let database = data_dir.join("prequel.sqlite3");
    let store = SqliteStore::open(&database)
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))?;
    // Made 0600 under serve's umask; a database from before is tightened the same way.
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", database.display()));
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(error) if error.kind() != ErrorKind::NotFound => {
                return Err(error)
                    .with_context(|| format!("cannot make {} private", file.display()));
            }
            _ => {}
        }
    }
    let secrets = FileSecrets::open(data_dir.join("secrets"))
        .with_context(|| format!("cannot open the secrets in {}", data_dir.display()))?;
    let (challenges, ids) = load_challenges(&config.challenges).await?;
    let provisioner = provisioner(config, challenges)?;
    tracing::info!(challenges = ?ids.iter().map(ChallengeId::as_str).collect::<Vec<_>>(), "challenges loaded");
    Ok(Prequel::builder()
        .store(Arc::new(store))
        .secrets(Arc::new(secrets))
        .provisioner(provisioner)
        .challenges(ids))
}

async fn load_challenges(dir: &Path) -> anyhow::Result<(Arc<DirChallenges>, Vec<ChallengeId>)> {
    let challenges = DirChallenges::new(dir);
    let manifests = challenges
        .list()
        .await
        .with_context(|| format!("cannot load the challenges in {}", dir.display()))?;
    if manifests.is_empty() {
        bail!(
            "no challenges found in {}: each challenge is a folder with a challenge.toml \
             (choose the folder with --challenges or PREQUEL_CHALLENGES)",
            dir.display()
        );
    }
    let ids = manifests.into_iter().map(|manifest| manifest.id).collect();
    Ok((Arc::new(challenges), ids))
}

/// The provisioner of local code-server instances; stops the start when code-server is missing
/// (the error names where it looked and the command that installs it).
fn provisioner(
    config: &ServeConfig,
    challenges: Arc<DirChallenges>,
) -> anyhow::Result<Arc<dyn Provisioner>> {
    let code_server = find_code_server(config.code_server.as_deref(), &config.data_dir)?;
    tracing::info!(path = %code_server.display(), "code-server found");
    let sandbox = match &config.sandbox {
        config::SandboxSetup::On(sandbox) => Some((**sandbox).clone()),
        config::SandboxSetup::Off => {
            tracing::warn!("{SANDBOX_OFF_WARNING}");
            None
        }
    };
    let local = LocalConfig {
        bind: config.instance_bind,
        sandbox,
        ..LocalConfig::new(&config.data_dir, code_server)
    };
    let provisioner =
        LocalProvisioner::new(local, challenges).context("cannot start the local provisioner")?;
    Ok(Arc::new(provisioner))
}

/// The admin token and its file: made at the first start (256 random bits, mode 0600), read
/// back afterwards. The token itself never goes into a log line.
fn admin_token(data_dir: &Path) -> anyhow::Result<(SecretString, PathBuf)> {
    // On AWS nothing else lives in the data dir, so it may not exist yet.
    private_dir(data_dir)?;
    let path = data_dir.join(TOKEN_FILE);
    let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(mut file) => {
            let token = new_token();
            writeln!(file, "{}", token.expose())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the admin token to {}", shown.display()))?;
            tracing::info!(path = %shown.display(), "admin token created");
            Ok((token, shown))
        }
        // Made at an earlier start (or by a racing start, which wrote it the same way).
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            Ok((read_token(&path, &shown)?, shown))
        }
        Err(error) => Err(error)
            .with_context(|| format!("cannot create the admin token file {}", shown.display())),
    }
}

fn read_token(path: &Path, shown: &Path) -> anyhow::Result<SecretString> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read the admin token file {}", shown.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        // Someone loosened it (a copy, a umask); tighten rather than serve with a readable key.
        tracing::warn!(path = %shown.display(), "the admin token file was readable by others; setting it to 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", shown.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the admin token file {}", shown.display()))?;
    let token = text.trim();
    if token.len() < 32 {
        bail!(
            "the admin token in {} is empty or too short; delete the file and a new one is made at the next start",
            shown.display()
        );
    }
    Ok(SecretString::new(token))
}

/// 32 bytes from the OS-seeded CSPRNG, as 64 hex digits.
fn new_token() -> SecretString {
    use rand::Rng as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes[..]);
    SecretString::new(hex::encode(bytes))
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| match error.kind() {
            ErrorKind::AddrInUse => anyhow::anyhow!(
                "cannot listen on {addr}: the port is already in use (is another `prequel serve` \
             running?); choose another with --listen or PREQUEL_LISTEN"
            ),
            _ => anyhow::anyhow!("cannot listen on {addr}: {error}"),
        })
}

/// The one line that says the server is up, on stdout (scripts and tests wait for it).
fn announce(addr: SocketAddr, token_path: Option<&Path>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match token_path {
        Some(path) => writeln!(
            out,
            "prequel serving on http://{addr}  (admin token: {})",
            path.display()
        )?,
        None => writeln!(
            out,
            "prequel serving on http://{addr}  (admin token: from {})",
            config::ADMIN_TOKEN_ENV
        )?,
    }
    out.flush()?;
    Ok(())
}

/// SIGINT and SIGTERM, registered before the server announces itself so that a signal sent
/// right after the announcement still shuts down gracefully.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    async fn received(mut self) {
        let name = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown requested");
    }
}
