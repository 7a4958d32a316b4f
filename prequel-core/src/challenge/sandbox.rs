//! The `[sandbox]` section of `challenge.toml`: what a challenge needs of the local sandbox its
//! instances run in (network, and limits above or below the server's defaults).
//!
//! ```toml
//! [sandbox]              # optional; every key is optional
//! network = "none"       # "none" (default): nothing outside the sandbox answers;
//!                        # "internet": HTTP(S) through a proxy that refuses this machine,
//!                        # link-local and private networks (for `pip install`, `npm install`)
//! memory = 2048          # MiB
//! tasks = 512            # processes and threads
//! cpus = 1.0             # CPU time, in CPUs
//! port_proxy = false     # code-server's /proxy/<port>/ to the candidate's own servers
//! ```
//!
//! The server clamps the limits to its own ceiling (`prequel serve --sandbox-max`).

use serde::Deserialize;

/// Whether a sandbox reaches anything outside itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Only the sandbox's own loopback: no host, no LAN, no internet.
    #[default]
    None,
    /// HTTP and HTTPS to public addresses through a filtering proxy (`HTTP(S)_PROXY` inside).
    /// This machine's addresses, loopback, link-local (cloud metadata) and private networks
    /// stay unreachable.
    Internet,
}

impl Network {
    /// The word used in `challenge.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Internet => "internet",
        }
    }
}

/// What a challenge asks of the sandbox; `None` means "the server's default".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SandboxRequest {
    /// The network the instance gets.
    pub network: Network,
    /// Memory limit in MiB.
    pub memory_mib: Option<u32>,
    /// Limit on processes and threads.
    pub tasks: Option<u32>,
    /// CPU limit in thousandths of a CPU.
    pub cpu_millis: Option<u32>,
    /// Whether code-server's port proxy (`/proxy/<port>/`) is on.
    pub port_proxy: bool,
}

/// `[sandbox]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSandbox {
    network: Option<String>,
    memory: Option<u32>,
    tasks: Option<u32>,
    cpus: Option<f64>,
    port_proxy: Option<bool>,
}

impl RawSandbox {
    /// Checks the values; the error names the key.
    pub(super) fn check(self) -> Result<SandboxRequest, String> {
        let network = match self.network.as_deref() {
            None | Some("none") => Network::None,
            Some("internet") => Network::Internet,
            Some(other) => {
                return Err(format!(
                    "key `sandbox.network` = `{other}` is not a network; use \"none\" or \"internet\""
                ));
            }
        };
        if let Some(memory) = self.memory
            && memory < 256
        {
            return Err(format!(
                "key `sandbox.memory` = {memory} MiB is too little for code-server; use 256 or more"
            ));
        }
        if let Some(tasks) = self.tasks
            && tasks < 64
        {
            return Err(format!(
                "key `sandbox.tasks` = {tasks} is too few for code-server; use 64 or more"
            ));
        }
        let cpu_millis = match self.cpus {
            None => None,
            Some(cpus) if cpus.is_finite() && (0.1..=256.0).contains(&cpus) => {
                // Within 0.1..=256, the product fits and rounds to a whole thousandth.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Some((cpus * 1000.0).round() as u32)
            }
            Some(cpus) => {
                return Err(format!(
                    "key `sandbox.cpus` = {cpus} is not between 0.1 and 256"
                ));
            }
        };
        Ok(SandboxRequest {
            network,
            memory_mib: self.memory,
            tasks: self.tasks,
            cpu_millis,
            port_proxy: self.port_proxy.unwrap_or(false),
        })
    }
}
