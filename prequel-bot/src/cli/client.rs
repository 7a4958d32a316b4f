//! The JSON API client the command line's server commands share (`prequel interview`,
//! `prequel token`): which server, which token, and one way to turn an answer into an exit code.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use prequel_core::domain::SecretString;
use prequel_core::looks_like_api_token;
use reqwest::StatusCode;
use serde_json::Value;

/// Where the server is and which token to present.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The `prequel serve` to talk to
    #[arg(long, value_name = "URL", env = "PREQUEL_SERVER", default_value = DEFAULT_SERVER)]
    server: String,

    /// The admin token or your personal API token; prefer --token-file (a flag shows in every
    /// process listing) [default: read from <data dir>/admin-token]
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PREQUEL_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,

    /// A file holding the admin token or your personal API token (`pqt_…`)
    #[arg(long, value_name = "FILE", env = "PREQUEL_TOKEN_FILE")]
    token_file: Option<PathBuf>,

    /// The server's data dir, where its admin token is
    #[arg(
        long,
        value_name = "DIR",
        env = "PREQUEL_DATA_DIR",
        default_value = "./.prequel"
    )]
    data_dir: PathBuf,
}

const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Why a request did not produce an answer.
pub enum Failure {
    /// The server refused the input or the caller (400, 403, 404, 409): exit 2.
    Refused(String),
    /// Anything else (no server, bad token, server error): exit 1.
    Failed(String),
}

impl Failure {
    /// Says what went wrong in one `error:` line and gives the exit code for it.
    pub fn report(self) -> anyhow::Result<std::process::ExitCode> {
        match self {
            Self::Refused(message) => super::refuse(&message),
            Self::Failed(message) => super::fail(&message),
        }
    }
}

/// The API client: the server's address and the token.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
    /// Where the token was looked for, for the hint on a 401.
    token_hint: String,
}

impl Client {
    /// A client for the server and token `args` name. Reading the token file is the only thing
    /// that can fail here: a missing default token is left for the server's 401 to explain.
    pub fn new(args: &ServerArgs) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::Failed(format!("cannot make an HTTP client: {e}")))?;
        let token_file = args.data_dir.join("admin-token");
        let (token, token_hint) = match (&args.token, &args.token_file) {
            (Some(token), _) => {
                if std::env::var("PREQUEL_TOKEN").ok().as_deref() != Some(token.as_str()) {
                    say_err(
                        "warning: --token shows the token to everyone who can list this \
                         machine's processes; use --token-file FILE instead",
                    );
                }
                (
                    Some(SecretString::new(token.trim())),
                    "from --token or PREQUEL_TOKEN".to_owned(),
                )
            }
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    Failure::Failed(format!(
                        "cannot read the token file {}: {e}",
                        file.display()
                    ))
                })?;
                (
                    Some(SecretString::new(text.trim())),
                    format!("read from {}", file.display()),
                )
            }
            // No token is not an error yet: the server may be down (the better hint), and its
            // 401 says what is missing.
            (None, None) => (
                std::fs::read_to_string(&token_file)
                    .ok()
                    .map(|t| SecretString::new(t.trim())),
                format!(
                    "read from {}; pass --token-file or set PREQUEL_TOKEN_FILE",
                    token_file.display()
                ),
            ),
        };
        Ok(Self {
            http,
            base: args.server.trim_end_matches('/').to_owned(),
            token,
            token_hint,
        })
    }

    /// Whether the token is a personal API token (which acts as its own user, so the request
    /// must not name one).
    pub fn is_personal(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(|token| looks_like_api_token(token.expose()))
    }

    /// `POST` a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> Result<Value, Failure> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map_or_else(|| format!("the server answered {status}"), str::to_owned);
        Err(match status {
            StatusCode::BAD_REQUEST
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::CONFLICT => Failure::Refused(message),
            StatusCode::UNAUTHORIZED => {
                Failure::Failed(format!("{message} (token {})", self.token_hint))
            }
            _ => Failure::Failed(message),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> Failure {
        let why = if error.is_timeout() {
            "it did not answer in time"
        } else if error.is_connect() {
            "nothing answered"
        } else if error.is_builder() {
            return Failure::Failed(format!(
                "`{}` is not a server URL like {DEFAULT_SERVER}",
                self.base
            ));
        } else {
            "the connection failed"
        };
        Failure::Failed(format!(
            "cannot reach the Prequel server at {}: {why}; is `prequel serve` running? (choose the server with --server or PREQUEL_SERVER)",
            self.base
        ))
    }
}

/// Prints a line on stdout; a closed stdout (`| head`) is not worth an error of our own.
pub fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Prints a line on stderr.
pub fn say_err(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
