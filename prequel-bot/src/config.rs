//! The settings of `prequel serve`, and where each one came from.
//!
//! Every setting can come from a flag, an environment variable, the TOML config file or the
//! default, in that order of precedence. A bad value is reported with the place it came from
//! (`PREQUEL_LISTEN: "foo" is not an address like 127.0.0.1:8080`), so the person knows which of
//! the four to fix.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use prequel_core::command::parse_zone;
use prequel_core::domain::SecretString;
use serde::Deserialize;
use thiserror::Error;

use crate::discord::{DiscordConfig, DiscordMode};

mod aws;
mod sandbox;
mod secret_files;

pub use secret_files::environment_warning;

use crate::slack::{DEFAULT_API_URL, SlackConfig, SlackMode};
pub use aws::{AwsSetup, Backend};
pub use sandbox::{SandboxFlags, SandboxSetup};

/// What `prequel serve` runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Where the database, secrets, admin token and instance workspaces live.
    pub data_dir: PathBuf,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The challenges folder: one sub-folder per challenge.
    pub challenges: PathBuf,
    /// The zone commands are read in when a request names none.
    pub tz: Tz,
    /// The `code-server` executable, when not found by the usual search.
    pub code_server: Option<PathBuf>,
    /// The address interview instances listen on.
    pub instance_bind: IpAddr,
    /// How long a claim on work lasts without renewal: after a crash, the unfinished work waits
    /// this long before another server (or this one, restarted) takes it over.
    pub lease: std::time::Duration,
    /// Whether the status page and its read-only data are open without the admin token to
    /// requests from loopback addresses.
    pub open_status_on_loopback: bool,
    /// Whether the Slack frontend runs, and with what.
    pub slack: SlackSetup,
    /// Whether the Discord frontend runs, and with what.
    pub discord: DiscordSetup,
    /// The backends: the embedded default or AWS.
    pub backend: Backend,
    /// Whether local instances run in the sandbox, and with what.
    pub sandbox: SandboxSetup,
    /// `PREQUEL_ADMIN_TOKEN` (or `_FILE`): the admin token, for replicas that must share one (on
    /// AWS it comes from an ECS secret); unset, a token is made in the data dir at the first start.
    pub admin_token: Option<SecretString>,
    /// The secret settings that came from serve's environment rather than from files: serve
    /// warns about each at start.
    pub secrets_in_environment: Vec<&'static str>,
}

/// Whether the Discord frontend runs: on when its public key, bot token and application id are
/// set.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscordSetup {
    /// Off: none of the three is set.
    Off,
    /// On, with these settings and the zone for users who set none (`PREQUEL_DISCORD_DEFAULT_TZ`,
    /// else the server's zone).
    On(Box<DiscordConfig>, Tz),
}

/// Whether the Slack frontend runs: on when its secrets for the chosen mode are set (HTTP: the
/// signing secret and the bot token; Socket Mode: the app token and the bot token).
#[derive(Debug, Clone, PartialEq)]
pub enum SlackSetup {
    /// Off: no Slack secret is set.
    Off,
    /// On, with these settings (boxed: they are large beside `Off`).
    On(Box<SlackConfig>),
}

/// The settings given as flags (each `None` when the flag was not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--challenges`.
    pub challenges: Option<String>,
    /// `--tz`.
    pub tz: Option<String>,
    /// `--code-server`.
    pub code_server: Option<String>,
    /// `--instance-bind`.
    pub instance_bind: Option<String>,
    /// `--lease-seconds`.
    pub lease_seconds: Option<String>,
    /// `--open-status-page-on-loopback` (`"true"` when given bare).
    pub open_status_on_loopback: Option<String>,
    /// `--backend`.
    pub backend: Option<String>,
    /// The `--sandbox…` flags.
    pub sandbox: SandboxFlags,
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A file holding one secret (`PREQUEL_X_FILE`, or systemd's credentials folder).
    SecretFile(PathBuf),
    /// A key of the config file.
    File {
        /// The key.
        key: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(flag) => f.write_str(flag),
            Self::Env(var) => f.write_str(var),
            Self::File { key, path } => write!(f, "`{key}` in {}", path.display()),
            Self::SecretFile(path) => write!(f, "the secret file {}", path.display()),
            Self::Default => f.write_str("the default"),
        }
    }
}

/// Why the settings could not be read.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A value is not what its setting needs.
    #[error("{origin}: {value:?} {problem}")]
    Invalid {
        /// Where the value came from.
        origin: Source,
        /// The value as given.
        value: String,
        /// What is wrong, e.g. "is not an address like 127.0.0.1:8080".
        problem: String,
    },
    /// The config file could not be read or is not valid TOML for these settings.
    #[error("config file {}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong (names the unknown key, the line, …).
        reason: String,
    },
}

/// The config file's keys; anything else is an error, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<String>,
    listen: Option<String>,
    challenges: Option<String>,
    tz: Option<String>,
    code_server: Option<String>,
    instance_bind: Option<String>,
    lease_seconds: Option<String>,
    /// A TOML boolean (`true`) or the same words as the variable (`"true"`).
    #[serde(default, deserialize_with = "open_status_switch")]
    open_status_on_loopback: Option<String>,
    slack_mode: Option<String>,
    slack_signing_secret: Option<String>,
    slack_bot_token: Option<String>,
    slack_app_token: Option<String>,
    slack_api_url: Option<String>,
    slack_allowed_users: Option<String>,
    slack_allowed_groups: Option<String>,
    slack_allowed_channels: Option<String>,
    slack_admins: Option<String>,
    discord_public_key: Option<String>,
    discord_bot_token: Option<String>,
    discord_application_id: Option<String>,
    discord_api_url: Option<String>,
    discord_mode: Option<String>,
    discord_guild_id: Option<String>,
    discord_default_tz: Option<String>,
    discord_allowed_guilds: Option<String>,
    discord_allowed_roles: Option<String>,
    discord_allowed_users: Option<String>,
    discord_admins: Option<String>,
    discord_admin_roles: Option<String>,
    backend: Option<String>,
    prefix: Option<String>,
    environment: Option<String>,
    domain: Option<String>,
    ecs_cluster: Option<String>,
    subnets: Option<String>,
    security_groups: Option<String>,
    vpc_id: Option<String>,
    alb_listener_arn: Option<String>,
    execution_role_arn: Option<String>,
    task_role_arn: Option<String>,
    instance_image: Option<String>,
    log_group: Option<String>,
    #[serde(default, deserialize_with = "public_ip_switch")]
    assign_public_ip: Option<String>,
    /// `on`/`off`, or a TOML boolean.
    #[serde(default, deserialize_with = "sandbox_switch")]
    sandbox: Option<String>,
    sandbox_limits: Option<String>,
    sandbox_max: Option<String>,
    sandbox_tools: Option<String>,
    sandbox_cgroup: Option<String>,
    sandbox_uids: Option<String>,
}

/// Reads a switch written either as a TOML boolean or as text, as text: one parser then checks
/// every source alike. A wrong type names the key.
fn bool_or_text<'de, D>(deserializer: D, key: &'static str) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Switch(&'static str);
    impl serde::de::Visitor<'_> for Switch {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "true or false for `{}`", self.0)
        }
        fn visit_bool<E>(self, value: bool) -> Result<String, E> {
            Ok(value.to_string())
        }
        fn visit_str<E>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }
    }
    deserializer.deserialize_any(Switch(key)).map(Some)
}

fn open_status_switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    bool_or_text(d, "open_status_on_loopback")
}

fn public_ip_switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    bool_or_text(d, "assign_public_ip")
}

fn sandbox_switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    bool_or_text(d, "sandbox")
}

/// The built-in defaults: everything on this machine, next to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./.prequel";
/// Loopback only: the API holds the admin door, so exposing it is a deliberate choice.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The repository's challenges.
pub const DEFAULT_CHALLENGES: &str = "./challenge";
/// Instances on loopback by default, like the API.
pub const DEFAULT_INSTANCE_BIND: &str = "127.0.0.1";
/// A minute: long enough that a busy server never loses work it is doing (it renews every
/// third of it), short enough that a crashed server's work resumes soon.
pub const DEFAULT_LEASE_SECONDS: &str = "60";
/// Closed: the status page asks for the admin token like everything else, because a loopback
/// peer may be a reverse proxy on the same machine forwarding anyone's requests.
pub const DEFAULT_OPEN_STATUS_ON_LOOPBACK: &str = "false";

/// HTTP mode: Slack posts to this server.
pub const DEFAULT_SLACK_MODE: &str = "http";

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "PREQUEL_CONFIG";

/// The variable holding a shared admin token.
pub const ADMIN_TOKEN_ENV: &str = "PREQUEL_ADMIN_TOKEN";

/// One setting's lookup: its flag, its environment variable and its file key.
struct Setting {
    flag: &'static str,
    env: &'static str,
    key: &'static str,
}

const DATA_DIR: Setting = Setting {
    flag: "--data-dir",
    env: "PREQUEL_DATA_DIR",
    key: "data_dir",
};
const LISTEN: Setting = Setting {
    flag: "--listen",
    env: "PREQUEL_LISTEN",
    key: "listen",
};
const CHALLENGES: Setting = Setting {
    flag: "--challenges",
    env: "PREQUEL_CHALLENGES",
    key: "challenges",
};
const TZ: Setting = Setting {
    flag: "--tz",
    env: "PREQUEL_TZ",
    key: "tz",
};
const CODE_SERVER: Setting = Setting {
    flag: "--code-server",
    env: "PREQUEL_CODE_SERVER",
    key: "code_server",
};
const INSTANCE_BIND: Setting = Setting {
    flag: "--instance-bind",
    env: "PREQUEL_INSTANCE_BIND",
    key: "instance_bind",
};
const LEASE_SECONDS: Setting = Setting {
    flag: "--lease-seconds",
    env: "PREQUEL_LEASE_SECONDS",
    key: "lease_seconds",
};
const OPEN_STATUS_ON_LOOPBACK: Setting = Setting {
    flag: "--open-status-page-on-loopback",
    env: "PREQUEL_OPEN_STATUS_ON_LOOPBACK",
    key: "open_status_on_loopback",
};

// The Slack settings have no flags: secrets on a command line are visible to every local user
// (`ps`), and the rest are set once per deployment. `flag` is `""` and never consulted.
const SLACK_MODE: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_MODE",
    key: "slack_mode",
};
const SLACK_SIGNING_SECRET: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_SIGNING_SECRET",
    key: "slack_signing_secret",
};
const SLACK_BOT_TOKEN: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_BOT_TOKEN",
    key: "slack_bot_token",
};
const SLACK_APP_TOKEN: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_APP_TOKEN",
    key: "slack_app_token",
};
const SLACK_API_URL: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_API_URL",
    key: "slack_api_url",
};
const SLACK_ALLOWED_USERS: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_ALLOWED_USERS",
    key: "slack_allowed_users",
};
const SLACK_ALLOWED_GROUPS: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_ALLOWED_GROUPS",
    key: "slack_allowed_groups",
};
const SLACK_ALLOWED_CHANNELS: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_ALLOWED_CHANNELS",
    key: "slack_allowed_channels",
};
const SLACK_ADMINS: Setting = Setting {
    flag: "",
    env: "PREQUEL_SLACK_ADMINS",
    key: "slack_admins",
};

// The Discord settings have no flags either, for the same reasons.
const DISCORD_PUBLIC_KEY: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_PUBLIC_KEY",
    key: "discord_public_key",
};
const DISCORD_BOT_TOKEN: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_BOT_TOKEN",
    key: "discord_bot_token",
};
const DISCORD_APPLICATION_ID: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_APPLICATION_ID",
    key: "discord_application_id",
};
const DISCORD_API_URL: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_API_URL",
    key: "discord_api_url",
};
const DISCORD_MODE: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_MODE",
    key: "discord_mode",
};
const DISCORD_GUILD_ID: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_GUILD_ID",
    key: "discord_guild_id",
};
const DISCORD_DEFAULT_TZ: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_DEFAULT_TZ",
    key: "discord_default_tz",
};
const DISCORD_ALLOWED_GUILDS: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_ALLOWED_GUILDS",
    key: "discord_allowed_guilds",
};
const DISCORD_ALLOWED_ROLES: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_ALLOWED_ROLES",
    key: "discord_allowed_roles",
};
const DISCORD_ALLOWED_USERS: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_ALLOWED_USERS",
    key: "discord_allowed_users",
};
const DISCORD_ADMINS: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_ADMINS",
    key: "discord_admins",
};
const DISCORD_ADMIN_ROLES: Setting = Setting {
    flag: "",
    env: "PREQUEL_DISCORD_ADMIN_ROLES",
    key: "discord_admin_roles",
};

/// The system's zone, or UTC when it cannot be found or is not a known IANA name.
pub fn system_zone() -> Tz {
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| parse_zone(&name).ok())
        .unwrap_or(chrono_tz::UTC)
}

/// The settings from `flags`, the environment (`env` looks a variable up) and the config file,
/// or the first bad value. `system_zone` is the default zone.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    system_zone: Tz,
) -> Result<ServeConfig, ConfigError> {
    // An empty variable counts as unset, as shells make `VAR= cmd` easy to type by accident.
    let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let config_path = flags
        .config
        .clone()
        .or_else(|| env(CONFIG_ENV).map(PathBuf::from));
    let file = match &config_path {
        Some(path) => Some((read_file(path)?, path.as_path())),
        None => None,
    };
    let secret_files = secret_files::SecretFiles::read(&env)?;
    let lookup = |setting: &Setting,
                  from_file: fn(&FileSettings) -> &Option<String>,
                  flag: &Option<String>| {
        if let Some(value) = flag {
            return Some((value.clone(), Source::Flag(setting.flag)));
        }
        if let Some(found) = secret_files.get(setting.env) {
            return Some(found);
        }
        if let Some(value) = env(setting.env) {
            return Some((value, Source::Env(setting.env)));
        }
        let (settings, path) = file.as_ref()?;
        let value = from_file(settings).clone()?;
        let source = Source::File {
            key: setting.key,
            path: path.to_path_buf(),
        };
        Some((value, source))
    };

    let data_dir = lookup(&DATA_DIR, |f| &f.data_dir, &flags.data_dir);
    let listen = lookup(&LISTEN, |f| &f.listen, &flags.listen);
    let challenges = lookup(&CHALLENGES, |f| &f.challenges, &flags.challenges);
    let tz = lookup(&TZ, |f| &f.tz, &flags.tz);
    let code_server = lookup(&CODE_SERVER, |f| &f.code_server, &flags.code_server);
    let instance_bind = lookup(&INSTANCE_BIND, |f| &f.instance_bind, &flags.instance_bind);
    let lease_seconds = lookup(&LEASE_SECONDS, |f| &f.lease_seconds, &flags.lease_seconds);
    let open_status_on_loopback = lookup(
        &OPEN_STATUS_ON_LOOPBACK,
        |f| &f.open_status_on_loopback,
        &flags.open_status_on_loopback,
    );

    let tz = match tz {
        Some(found) => parse_with(found, parse_tz)?,
        None => system_zone,
    };
    let data_dir = path_setting(data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let sandbox = sandbox::resolve_sandbox(&lookup, &flags.sandbox, &data_dir)?;
    Ok(ServeConfig {
        data_dir,
        sandbox,
        listen: parse_or_default(listen, DEFAULT_LISTEN, parse_listen)?,
        challenges: path_setting(challenges).unwrap_or_else(|| DEFAULT_CHALLENGES.into()),
        tz,
        code_server: path_setting(code_server),
        instance_bind: parse_or_default(instance_bind, DEFAULT_INSTANCE_BIND, parse_ip)?,
        lease: parse_or_default(lease_seconds, DEFAULT_LEASE_SECONDS, parse_lease)?,
        open_status_on_loopback: parse_or_default(
            open_status_on_loopback,
            DEFAULT_OPEN_STATUS_ON_LOOPBACK,
            parse_switch,
        )?,
        slack: resolve_slack(&|setting, from_file| lookup(setting, from_file, &None))?,
        discord: resolve_discord(&|setting, from_file| lookup(setting, from_file, &None), tz)?,
        backend: aws::resolve_backend(
            lookup(&aws::BACKEND, |f| &f.backend, &flags.backend),
            &|setting, from_file| lookup(setting, from_file, &None),
        )?,
        // Secret: from its file or the environment, never a flag (`ps` shows flags) nor the
        // config file (shared by replicas).
        admin_token: secret_files
            .get(ADMIN_TOKEN_ENV)
            .map(|(token, _)| token)
            .or_else(|| env(ADMIN_TOKEN_ENV))
            .map(|token| SecretString::new(token.trim())),
        secrets_in_environment: secret_files.in_environment.clone(),
    })
}

/// One setting's value and where it came from, for the Slack settings (which have no flags).
type Lookup<'a> =
    &'a dyn Fn(&Setting, fn(&FileSettings) -> &Option<String>) -> Option<(String, Source)>;

/// The Slack settings; see [`SlackSetup`]. Some but not all of a mode's secrets is an error
/// naming the missing one, since it is surely a half-done setup rather than "no Slack".
fn resolve_slack(lookup: Lookup<'_>) -> Result<SlackSetup, ConfigError> {
    let mode = lookup(&SLACK_MODE, |f| &f.slack_mode);
    let signing_secret = lookup(&SLACK_SIGNING_SECRET, |f| &f.slack_signing_secret);
    let bot_token = lookup(&SLACK_BOT_TOKEN, |f| &f.slack_bot_token);
    let app_token = lookup(&SLACK_APP_TOKEN, |f| &f.slack_app_token);
    let api_url = lookup(&SLACK_API_URL, |f| &f.slack_api_url);
    let list = |setting: &Setting, from_file: fn(&FileSettings) -> &Option<String>| {
        lookup(setting, from_file)
            .map(|(value, _)| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mode = parse_or_default(mode, DEFAULT_SLACK_MODE, parse_slack_mode)?;
    let api_url = parse_or_default(api_url, DEFAULT_API_URL, parse_api_url)?;
    let (needed, needed_setting) = match mode {
        SlackMode::Http => (&signing_secret, &SLACK_SIGNING_SECRET),
        SlackMode::Socket => (&app_token, &SLACK_APP_TOKEN),
    };
    let secret = |found: &Option<(String, Source)>| {
        found
            .as_ref()
            .map(|(value, _)| SecretString::new(value.trim()))
    };
    match (&bot_token, needed) {
        (None, None) => Ok(SlackSetup::Off),
        (Some(_), Some(_)) => Ok(SlackSetup::On(Box::new(SlackConfig {
            mode,
            signing_secret: secret(&signing_secret),
            bot_token: secret(&bot_token).unwrap_or_else(|| SecretString::new("")),
            app_token: secret(&app_token),
            api_url,
            allowed_users: list(&SLACK_ALLOWED_USERS, |f| &f.slack_allowed_users),
            allowed_groups: list(&SLACK_ALLOWED_GROUPS, |f| &f.slack_allowed_groups),
            allowed_channels: list(&SLACK_ALLOWED_CHANNELS, |f| &f.slack_allowed_channels),
            admins: list(&SLACK_ADMINS, |f| &f.slack_admins),
        }))),
        (Some((_, origin)), None) => Err(half_set(origin, needed_setting, mode)),
        (None, Some((_, origin))) => Err(half_set(origin, &SLACK_BOT_TOKEN, mode)),
    }
}

/// The Discord settings; see [`DiscordSetup`]. Some but not all of the three required ones is
/// an error naming a missing one (never a value), like Slack's.
fn resolve_discord(lookup: Lookup<'_>, server_zone: Tz) -> Result<DiscordSetup, ConfigError> {
    let public_key = lookup(&DISCORD_PUBLIC_KEY, |f| &f.discord_public_key);
    let bot_token = lookup(&DISCORD_BOT_TOKEN, |f| &f.discord_bot_token);
    let application_id = lookup(&DISCORD_APPLICATION_ID, |f| &f.discord_application_id);
    let required = [
        (&public_key, &DISCORD_PUBLIC_KEY),
        (&bot_token, &DISCORD_BOT_TOKEN),
        (&application_id, &DISCORD_APPLICATION_ID),
    ];
    let given = required.iter().find_map(|(found, _)| found.as_ref());
    let missing = required.iter().find(|(found, _)| found.is_none());
    let (public_key, bot_token, application_id) = match (given, missing) {
        (None, _) => return Ok(DiscordSetup::Off),
        (Some((_, origin)), Some((_, setting))) => {
            return Err(ConfigError::Invalid {
                origin: origin.clone(),
                value: "[redacted]".to_owned(),
                problem: format!(
                    "is set but {} is not; Discord needs PREQUEL_DISCORD_PUBLIC_KEY, \
                     PREQUEL_DISCORD_BOT_TOKEN and PREQUEL_DISCORD_APPLICATION_ID (or none, to \
                     run without Discord)",
                    setting.env
                ),
            });
        }
        (Some(_), None) => (
            public_key.map(|(value, _)| value).unwrap_or_default(),
            bot_token.map(|(value, _)| value).unwrap_or_default(),
            application_id.map(|(value, _)| value).unwrap_or_default(),
        ),
    };
    let list = |setting: &Setting, from_file: fn(&FileSettings) -> &Option<String>| {
        lookup(setting, from_file)
            .map(|(value, _)| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let api_url = parse_or_default(
        lookup(&DISCORD_API_URL, |f| &f.discord_api_url),
        crate::discord::DEFAULT_API_URL,
        parse_api_url,
    )?;
    let mode = parse_or_default(
        lookup(&DISCORD_MODE, |f| &f.discord_mode),
        "http",
        parse_discord_mode,
    )?;
    let zone = match lookup(&DISCORD_DEFAULT_TZ, |f| &f.discord_default_tz) {
        Some(found) => parse_with(found, parse_tz)?,
        None => server_zone,
    };
    let guild_id = lookup(&DISCORD_GUILD_ID, |f| &f.discord_guild_id)
        .map(|(value, _)| value.trim().to_owned())
        .filter(|value| !value.is_empty());
    let config = DiscordConfig {
        mode,
        public_key: public_key.trim().to_owned(),
        bot_token: SecretString::new(bot_token.trim()),
        application_id: application_id.trim().to_owned(),
        api_url,
        guild_id,
        allowed_guilds: list(&DISCORD_ALLOWED_GUILDS, |f| &f.discord_allowed_guilds),
        allowed_roles: list(&DISCORD_ALLOWED_ROLES, |f| &f.discord_allowed_roles),
        allowed_users: list(&DISCORD_ALLOWED_USERS, |f| &f.discord_allowed_users),
        admins: list(&DISCORD_ADMINS, |f| &f.discord_admins),
        admin_roles: list(&DISCORD_ADMIN_ROLES, |f| &f.discord_admin_roles),
    };
    Ok(DiscordSetup::On(Box::new(config), zone))
}

fn parse_discord_mode(text: &str) -> Result<DiscordMode, String> {
    match text.to_ascii_lowercase().as_str() {
        "http" => Ok(DiscordMode::Http),
        "gateway" => Ok(DiscordMode::Gateway),
        _ => Err("is not http or gateway".to_owned()),
    }
}

/// The error for a Slack setup with one of its two secrets: names the one given (never its
/// value) and the one missing.
fn half_set(origin: &Source, missing: &Setting, mode: SlackMode) -> ConfigError {
    let mode = match mode {
        SlackMode::Http => "http",
        SlackMode::Socket => "socket",
    };
    ConfigError::Invalid {
        origin: origin.clone(),
        value: "[redacted]".to_owned(),
        problem: format!(
            "is set but {} is not; Slack in {mode} mode needs both (or neither, to run without Slack)",
            missing.env
        ),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    toml::from_str(&text).map_err(|e| {
        // toml's Display is a multi-line snippet; one line with the line number reads better.
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim().to_owned();
        error(match line {
            Some(line) => format!("line {line}: {message}"),
            None => message,
        })
    })
}

/// A path from the file is relative to the file's folder (so a config file can be used from
/// any working directory); from a flag or the environment, to the working directory.
fn path_setting(found: Option<(String, Source)>) -> Option<PathBuf> {
    let (value, source) = found?;
    let path = PathBuf::from(value);
    match source {
        Source::File { path: file, .. } if path.is_relative() => Some(
            file.parent()
                .map_or_else(|| path.clone(), |folder| folder.join(&path)),
        ),
        _ => Some(path),
    }
}

fn parse_with<T>(
    (value, source): (String, Source),
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    parse(value.trim()).map_err(|problem| ConfigError::Invalid {
        origin: source,
        value,
        problem,
    })
}

fn parse_or_default<T>(
    found: Option<(String, Source)>,
    default: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    parse_with(
        found.unwrap_or_else(|| (default.to_owned(), Source::Default)),
        parse,
    )
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| "is not an address like 127.0.0.1:8080".to_owned())
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| "is not an IP address like 127.0.0.1 or 0.0.0.0".to_owned())
}

fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) if (5..=3600).contains(&seconds) => Ok(std::time::Duration::from_secs(seconds)),
        _ => Err("is not a number of seconds between 5 and 3600".to_owned()),
    }
}

fn parse_switch(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("is not true or false".to_owned()),
    }
}

fn parse_slack_mode(text: &str) -> Result<SlackMode, String> {
    match text.to_ascii_lowercase().as_str() {
        "http" => Ok(SlackMode::Http),
        "socket" => Ok(SlackMode::Socket),
        _ => Err("is not http or socket".to_owned()),
    }
}

/// An http(s) URL; a missing trailing slash is added, so method names join under it.
fn parse_api_url(text: &str) -> Result<reqwest::Url, String> {
    let with_slash = if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    };
    match reqwest::Url::parse(&with_slash) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err("is not an http(s) URL like https://slack.com/api/".to_owned()),
    }
}

fn parse_tz(text: &str) -> Result<Tz, String> {
    parse_zone(text).map_err(|_| "is not an IANA time zone like Europe/Berlin or UTC".to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve_with(flags: &Flags, env: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(
            flags,
            &|name| env.get(name).cloned(),
            chrono_tz::Asia::Tokyo,
        )
    }

    fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("prequel.toml");
        std::fs::write(&path, text).expect("write config");
        (dir, path)
    }

    #[test]
    fn nothing_given_means_the_defaults() {
        let config = resolve_with(&Flags::default(), &[]).expect("valid");
        assert_eq!(
            config,
            ServeConfig {
                data_dir: "./.prequel".into(),
                listen: "127.0.0.1:8080".parse().expect("addr"),
                challenges: "./challenge".into(),
                tz: chrono_tz::Asia::Tokyo,
                code_server: None,
                instance_bind: "127.0.0.1".parse().expect("ip"),
                lease: std::time::Duration::from_secs(60),
                open_status_on_loopback: false,
                slack: SlackSetup::Off,
                discord: DiscordSetup::Off,
                backend: Backend::Local,
                sandbox: SandboxSetup::On(Box::default()),
                admin_token: None,
                secrets_in_environment: Vec::new(),
            }
        );
    }

    #[test]
    fn secrets_come_from_files_named_by_file_variables_or_systemds_credentials() {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = dir.path().join("admin-token");
        std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").expect("write");
        let bot = dir.path().join("PREQUEL_SLACK_BOT_TOKEN");
        std::fs::write(&bot, "xoxb-from-file").expect("write");
        let signing = dir.path().join("signing");
        std::fs::write(&signing, "signing-from-file").expect("write");
        let token_path = token.to_string_lossy().into_owned();
        let signing_path = signing.to_string_lossy().into_owned();
        let credentials = dir.path().to_string_lossy().into_owned();
        let config = resolve_with(
            &Flags::default(),
            &[
                ("PREQUEL_ADMIN_TOKEN_FILE", &token_path),
                ("PREQUEL_SLACK_SIGNING_SECRET_FILE", &signing_path),
                ("CREDENTIALS_DIRECTORY", &credentials),
            ],
        )
        .expect("valid");
        assert_eq!(
            config.admin_token.as_ref().map(SecretString::expose),
            Some("0123456789abcdef0123456789abcdef"),
            "the file's final newline is dropped"
        );
        let SlackSetup::On(slack) = &config.slack else {
            panic!(
                "Slack is on with its secrets from files: {:?}",
                config.slack
            )
        };
        assert_eq!(slack.bot_token.expose(), "xoxb-from-file");
        assert_eq!(
            slack.signing_secret.as_ref().map(SecretString::expose),
            Some("signing-from-file")
        );
        assert!(config.secrets_in_environment.is_empty());

        // In the environment it still works, and is reported for the warning.
        let config = resolve_with(
            &Flags::default(),
            &[("PREQUEL_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef")],
        )
        .expect("valid");
        assert_eq!(config.secrets_in_environment, ["PREQUEL_ADMIN_TOKEN"]);
    }

    #[test]
    fn a_secret_given_twice_or_in_an_empty_or_missing_file_is_an_error_that_shows_no_value() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let empty = empty.to_string_lossy().into_owned();
        let missing = dir.path().join("missing").to_string_lossy().into_owned();
        for (env, says) in [
            (
                vec![
                    ("PREQUEL_SLACK_BOT_TOKEN", "xoxb-secret-value"),
                    ("PREQUEL_SLACK_BOT_TOKEN_FILE", empty.as_str()),
                ],
                "set only PREQUEL_SLACK_BOT_TOKEN_FILE",
            ),
            (
                vec![("PREQUEL_DISCORD_BOT_TOKEN_FILE", empty.as_str())],
                "is empty",
            ),
            (
                vec![("PREQUEL_ADMIN_TOKEN_FILE", missing.as_str())],
                "No such file",
            ),
        ] {
            let error = resolve_with(&Flags::default(), &env)
                .expect_err("refused")
                .to_string();
            assert!(error.contains(says), "{error}");
            assert!(!error.contains("xoxb-secret-value"), "{error}");
        }
    }

    #[test]
    fn the_sandbox_is_on_unless_turned_off_and_its_settings_name_their_source() {
        let off = resolve_with(&Flags::default(), &[("PREQUEL_SANDBOX", "off")]).expect("valid");
        assert_eq!(off.sandbox, SandboxSetup::Off);
        let (_dir, path) = config_file("sandbox = false\n");
        let flags = Flags {
            config: Some(path),
            ..Flags::default()
        };
        assert_eq!(
            resolve_with(&flags, &[]).expect("valid").sandbox,
            SandboxSetup::Off
        );
        let flags = Flags {
            sandbox: SandboxFlags {
                limits: Some("memory=1GiB,cpus=2".into()),
                tools: Some("/opt/py, /opt/node".into()),
                ..SandboxFlags::default()
            },
            ..Flags::default()
        };
        let SandboxSetup::On(sandbox) = resolve_with(&flags, &[]).expect("valid").sandbox else {
            panic!("on by default");
        };
        assert_eq!(sandbox.limits.memory_bytes, 1 << 30);
        assert_eq!(sandbox.limits.cpu_millis, 2000);
        assert_eq!(
            sandbox.tools,
            [PathBuf::from("/opt/py"), PathBuf::from("/opt/node")]
        );
        let err = resolve_with(&Flags::default(), &[("PREQUEL_SANDBOX_MAX", "memory=lots")])
            .expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("PREQUEL_SANDBOX_MAX: \"memory=lots\" has memory `lots`"),
            "{err}"
        );
        let err =
            resolve_with(&Flags::default(), &[("PREQUEL_SANDBOX", "maybe")]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "PREQUEL_SANDBOX: \"maybe\" is not on or off"
        );
    }

    const AWS_ENV: [(&str, &str); 8] = [
        ("PREQUEL_BACKEND", "aws"),
        ("PREQUEL_DOMAIN", "interviews.example.com"),
        ("PREQUEL_ECS_CLUSTER", "prequel-prod"),
        ("PREQUEL_SUBNETS", "subnet-a, subnet-b"),
        ("PREQUEL_SECURITY_GROUPS", "sg-1"),
        ("PREQUEL_VPC_ID", "vpc-1"),
        (
            "PREQUEL_ALB_LISTENER_ARN",
            "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/x/y/z",
        ),
        (
            "PREQUEL_EXECUTION_ROLE_ARN",
            "arn:aws:iam::1:role/prequel-prod-execution",
        ),
    ];

    #[test]
    fn the_aws_backend_takes_terraforms_outputs_with_defaults_for_the_rest() {
        let mut env = AWS_ENV.to_vec();
        env.push((
            "PREQUEL_INSTANCE_IMAGE",
            "1.dkr.ecr.eu-west-1.amazonaws.com/prequel-instance:1",
        ));
        let Backend::Aws(aws) = resolve_with(&Flags::default(), &env)
            .expect("valid")
            .backend
        else {
            panic!("aws was asked for");
        };
        assert_eq!(aws.prefix, "prequel");
        assert_eq!(aws.environment, "prod");
        assert_eq!(aws.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!(
            aws.task_role_arn, None,
            "no task role unless asked: the candidate has a shell"
        );
        assert!(
            aws.assign_public_ip,
            "public subnets without NAT need a public IP"
        );
    }

    #[test]
    fn the_aws_backend_names_the_first_missing_setting_and_its_terraform_output() {
        let err = resolve_with(&Flags::default(), &AWS_ENV).expect_err("no image");
        assert_eq!(
            err.to_string(),
            "PREQUEL_BACKEND: \"aws\" needs PREQUEL_INSTANCE_IMAGE (Terraform output \
             `instance_image` of infra/; see the deploy guide)"
        );
        let err = resolve_with(&Flags::default(), &[("PREQUEL_BACKEND", "gcp")])
            .expect_err("unknown backend");
        assert_eq!(
            err.to_string(),
            "PREQUEL_BACKEND: \"gcp\" is not local or aws"
        );
    }

    #[test]
    fn the_aws_settings_can_come_from_the_config_file() {
        let (_dir, path) = config_file(
            "backend = \"aws\"\nprefix = \"acme\"\nenvironment = \"staging\"\n\
             domain = \"i.acme.dev\"\necs_cluster = \"c\"\nsubnets = \"s1,s2\"\n\
             security_groups = \"g\"\nvpc_id = \"v\"\nalb_listener_arn = \"l\"\n\
             execution_role_arn = \"r\"\ninstance_image = \"i\"\nassign_public_ip = false\n",
        );
        let flags = Flags {
            config: Some(path),
            ..Flags::default()
        };
        let Backend::Aws(aws) = resolve_with(&flags, &[]).expect("valid").backend else {
            panic!("aws from the file");
        };
        assert_eq!(
            (aws.prefix.as_str(), aws.environment.as_str()),
            ("acme", "staging")
        );
        assert!(!aws.assign_public_ip);
    }

    #[test]
    fn slack_is_on_when_its_secrets_for_the_mode_are_set() {
        let env = [
            ("PREQUEL_SLACK_SIGNING_SECRET", "s3cret"),
            ("PREQUEL_SLACK_BOT_TOKEN", "xoxb-1"),
            ("PREQUEL_SLACK_ALLOWED_USERS", "U1, U2,,"),
            ("PREQUEL_SLACK_API_URL", "http://127.0.0.1:9/api"),
        ];
        let SlackSetup::On(slack) = resolve_with(&Flags::default(), &env).expect("valid").slack
        else {
            panic!("slack should be on");
        };
        assert_eq!(slack.mode, SlackMode::Http);
        assert_eq!(slack.bot_token.expose(), "xoxb-1");
        assert_eq!(slack.allowed_users, ["U1", "U2"]);
        assert!(slack.allowed_groups.is_empty());
        assert_eq!(slack.api_url.as_str(), "http://127.0.0.1:9/api/");

        let (_dir, path) = config_file(
            "slack_mode = \"socket\"\nslack_app_token = \"xapp-1\"\nslack_bot_token = \"xoxb-1\"\n",
        );
        let flags = Flags {
            config: Some(path),
            ..Flags::default()
        };
        let SlackSetup::On(slack) = resolve_with(&flags, &[]).expect("valid").slack else {
            panic!("slack should be on");
        };
        assert_eq!(slack.mode, SlackMode::Socket);
        assert_eq!(slack.api_url.as_str(), "https://slack.com/api/");
    }

    #[test]
    fn discord_is_on_with_its_three_settings_and_a_half_set_one_is_an_error() {
        let env = [
            ("PREQUEL_DISCORD_PUBLIC_KEY", "ab"),
            ("PREQUEL_DISCORD_BOT_TOKEN", "bot-secret"),
            ("PREQUEL_DISCORD_APPLICATION_ID", "11"),
            ("PREQUEL_DISCORD_ALLOWED_ROLES", "r1, r2"),
            ("PREQUEL_DISCORD_DEFAULT_TZ", "Europe/Berlin"),
        ];
        let DiscordSetup::On(discord, zone) = resolve_with(&Flags::default(), &env)
            .expect("valid")
            .discord
        else {
            panic!("discord should be on");
        };
        assert_eq!(discord.mode, DiscordMode::Http);
        assert_eq!(discord.bot_token.expose(), "bot-secret");
        assert_eq!(discord.allowed_roles, ["r1", "r2"]);
        assert_eq!(discord.api_url.as_str(), "https://discord.com/api/v10/");
        assert_eq!(zone, chrono_tz::Europe::Berlin);

        let err = resolve_with(
            &Flags::default(),
            &[("PREQUEL_DISCORD_BOT_TOKEN", "bot-secret")],
        )
        .expect_err("half set")
        .to_string();
        assert!(err.contains("PREQUEL_DISCORD_PUBLIC_KEY is not"), "{err}");
        assert!(!err.contains("bot-secret"), "{err}");
    }

    #[test]
    fn a_half_set_slack_is_an_error_that_never_shows_the_secret() {
        let err = resolve_with(
            &Flags::default(),
            &[("PREQUEL_SLACK_BOT_TOKEN", "xoxb-secret")],
        )
        .expect_err("half set")
        .to_string();
        assert_eq!(
            err,
            "PREQUEL_SLACK_BOT_TOKEN: \"[redacted]\" is set but PREQUEL_SLACK_SIGNING_SECRET is not; \
             Slack in http mode needs both (or neither, to run without Slack)"
        );
        let env = [
            ("PREQUEL_SLACK_MODE", "socket"),
            ("PREQUEL_SLACK_SIGNING_SECRET", "s"),
            ("PREQUEL_SLACK_BOT_TOKEN", "xoxb-1"),
        ];
        let err = resolve_with(&Flags::default(), &env).expect_err("no app token");
        assert!(
            err.to_string().contains("PREQUEL_SLACK_APP_TOKEN is not"),
            "{err}"
        );
        let err = resolve_with(&Flags::default(), &[("PREQUEL_SLACK_MODE", "rtm")])
            .expect_err("bad mode");
        assert_eq!(
            err.to_string(),
            "PREQUEL_SLACK_MODE: \"rtm\" is not http or socket"
        );
    }

    #[test]
    fn the_status_page_switch_comes_from_the_flag_the_variable_or_the_file() {
        let env = [("PREQUEL_OPEN_STATUS_ON_LOOPBACK", "false")];
        let flags = Flags {
            open_status_on_loopback: Some("true".into()),
            ..Flags::default()
        };
        assert!(
            resolve_with(&flags, &env)
                .expect("valid")
                .open_status_on_loopback
        );
        let env = [("PREQUEL_OPEN_STATUS_ON_LOOPBACK", "TRUE")];
        assert!(
            resolve_with(&Flags::default(), &env)
                .expect("valid")
                .open_status_on_loopback
        );
        for text in [
            "open_status_on_loopback = true\n",
            "open_status_on_loopback = \"true\"\n",
        ] {
            let (_dir, path) = config_file(text);
            let flags = Flags {
                config: Some(path),
                ..Flags::default()
            };
            assert!(
                resolve_with(&flags, &[])
                    .expect("valid")
                    .open_status_on_loopback,
                "{text}"
            );
        }
    }

    #[test]
    fn a_bad_status_page_switch_is_named_with_where_it_came_from() {
        let env = [("PREQUEL_OPEN_STATUS_ON_LOOPBACK", "yes please")];
        let err = resolve_with(&Flags::default(), &env).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "PREQUEL_OPEN_STATUS_ON_LOOPBACK: \"yes please\" is not true or false"
        );
        let (_dir, path) = config_file("open_status_on_loopback = 1\n");
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let err = resolve_with(&flags, &[]).expect_err("bad").to_string();
        assert!(
            err.starts_with(&format!("config file {}: line 1: ", path.display()))
                && err.contains("true or false for `open_status_on_loopback`"),
            "{err}"
        );
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file() {
        let (_dir, path) = config_file(
            "listen = \"127.0.0.1:1001\"\ntz = \"Europe/Berlin\"\ninstance_bind = \"0.0.0.0\"\n",
        );
        let flags = Flags {
            config: Some(path),
            listen: Some("127.0.0.1:3003".into()),
            ..Flags::default()
        };
        let env = [
            ("PREQUEL_LISTEN", "127.0.0.1:2002"),
            ("PREQUEL_TZ", "America/New_York"),
        ];
        let config = resolve_with(&flags, &env).expect("valid");
        assert_eq!(config.listen.port(), 3003);
        assert_eq!(config.tz, chrono_tz::America::New_York);
        assert_eq!(config.instance_bind.to_string(), "0.0.0.0");
    }

    #[test]
    fn the_config_file_can_be_named_by_the_environment_and_its_paths_are_relative_to_it() {
        let (dir, path) = config_file("data_dir = \"state\"\nchallenges = \"/srv/challenges\"\n");
        let path = path.to_string_lossy().into_owned();
        let config = resolve_with(&Flags::default(), &[("PREQUEL_CONFIG", &path)]).expect("valid");
        assert_eq!(config.data_dir, dir.path().join("state"));
        assert_eq!(config.challenges, PathBuf::from("/srv/challenges"));
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let config = resolve_with(&Flags::default(), &[("PREQUEL_LISTEN", "")]).expect("valid");
        assert_eq!(config.listen.port(), 8080);
    }

    #[test]
    fn a_bad_value_is_named_with_where_it_came_from() {
        let err = resolve_with(&Flags::default(), &[("PREQUEL_LISTEN", "foo")]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "PREQUEL_LISTEN: \"foo\" is not an address like 127.0.0.1:8080"
        );

        let err =
            resolve_with(&Flags::default(), &[("PREQUEL_LEASE_SECONDS", "2")]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "PREQUEL_LEASE_SECONDS: \"2\" is not a number of seconds between 5 and 3600"
        );

        let flags = Flags {
            tz: Some("Mars/Olympus".into()),
            ..Flags::default()
        };
        let err = resolve_with(&flags, &[]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "--tz: \"Mars/Olympus\" is not an IANA time zone like Europe/Berlin or UTC"
        );

        let (_dir, path) = config_file("instance_bind = \"localhost\"\n");
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let err = resolve_with(&flags, &[]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            format!(
                "`instance_bind` in {}: \"localhost\" is not an IP address like 127.0.0.1 or 0.0.0.0",
                path.display()
            )
        );
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let (_dir, path) = config_file("listen = \"127.0.0.1:8080\"\nlisten_port = 9\n");
        let flags = Flags {
            config: Some(path),
            ..Flags::default()
        };
        let err = resolve_with(&flags, &[])
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("line 2: unknown field `listen_port`"), "{err}");

        let flags = Flags {
            config: Some("/nowhere/prequel.toml".into()),
            ..Flags::default()
        };
        let err = resolve_with(&flags, &[]).expect_err("missing").to_string();
        assert!(
            err.starts_with("config file /nowhere/prequel.toml: "),
            "{err}"
        );
    }
}
