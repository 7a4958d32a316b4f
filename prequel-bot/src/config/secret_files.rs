//! Secrets from files, so they need not sit in serve's environment.
//!
//! A process's environment is readable in `/proc/<pid>/environ` by anything running as its user
//! and is copied into every child and core dump. So every secret setting `PREQUEL_X` can also
//! come from a file:
//!
//! 1. `PREQUEL_X_FILE=/path` names the file (setting both `PREQUEL_X` and `PREQUEL_X_FILE` is an
//!    error: which one was meant?);
//! 2. otherwise `$CREDENTIALS_DIRECTORY/PREQUEL_X`, where systemd puts credentials given with
//!    `LoadCredential=PREQUEL_X:/etc/prequel/x` (or `SetCredentialEncrypted=`);
//! 3. otherwise `PREQUEL_X` itself, which still works but earns a warning at every start.
//!
//! A file holds the secret alone; surrounding whitespace (the final newline) is dropped. An
//! empty or unreadable file is an error naming the file, never the value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ConfigError, Source};

/// Every setting that holds a secret.
pub(super) const SECRET_VARS: &[&str] = &[
    "PREQUEL_ADMIN_TOKEN",
    "PREQUEL_SLACK_SIGNING_SECRET",
    "PREQUEL_SLACK_BOT_TOKEN",
    "PREQUEL_SLACK_APP_TOKEN",
    "PREQUEL_DISCORD_BOT_TOKEN",
];

/// systemd's variable naming the folder of the service's credentials.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// The secrets found in files, and the secret variables set in the environment.
#[derive(Debug, Default)]
pub(super) struct SecretFiles {
    /// Variable → (value, file).
    found: BTreeMap<&'static str, (String, PathBuf)>,
    /// The secret variables that were read from the environment itself (for the warnings).
    pub(super) in_environment: Vec<&'static str>,
}

impl SecretFiles {
    /// Reads the files of every secret setting that has one. `env` is the (non-empty)
    /// environment lookup.
    pub(super) fn read(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut files = Self::default();
        for &var in SECRET_VARS {
            let file_var = format!("{var}_FILE");
            let named = env(&file_var).map(PathBuf::from);
            if named.is_some() && env(var).is_some() {
                return Err(ConfigError::Invalid {
                    origin: Source::Env(var),
                    value: "[redacted]".to_owned(),
                    problem: format!(
                        "is set and so is {file_var}; set only {file_var} (the secret stays out \
                         of the environment)"
                    ),
                });
            }
            let path = named.or_else(|| {
                let dir = env(CREDENTIALS_DIRECTORY)?;
                let path = Path::new(&dir).join(var);
                path.exists().then_some(path)
            });
            match path {
                Some(path) => {
                    let value = read_secret(&path)?;
                    files.found.insert(var, (value, path));
                }
                None if env(var).is_some() => files.in_environment.push(var),
                None => {}
            }
        }
        Ok(files)
    }

    /// The secret `var` read from its file, with where it came from.
    pub(super) fn get(&self, var: &str) -> Option<(String, Source)> {
        let (value, path) = self.found.get(var)?;
        Some((value.clone(), Source::SecretFile(path.clone())))
    }
}

fn read_secret(path: &Path) -> Result<String, ConfigError> {
    let error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(error("is empty; it must hold the secret".to_owned()));
    }
    Ok(value.to_owned())
}

/// The warning serve logs at start for a secret read from its environment.
pub fn environment_warning(var: &str) -> String {
    format!(
        "{var} is read from the environment, where anything running as this user can read it \
         (/proc/<pid>/environ); put it in a file readable only by serve and set {var}_FILE \
         (or use systemd's LoadCredential={var}:<file>)"
    )
}
