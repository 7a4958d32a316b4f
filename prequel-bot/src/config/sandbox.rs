//! The local sandbox's settings: on or off, each instance's limits and the ceiling on what a
//! challenge may ask, the toolchains bound into every sandbox, and the cgroup and uids it uses.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use prequel_core::provision::local::{DEFAULT_UIDS, Limits, SandboxConfig};

use super::{ConfigError, FileSettings, Source, parse_or_default, parse_with, path_setting};

/// Whether instances run in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxSetup {
    /// Each instance in its own sandbox (the default).
    On(Box<SandboxConfig>),
    /// `--sandbox off`: code-server as serve's own user, nothing between the candidate and the
    /// server's files.
    Off,
}

pub(super) const SANDBOX: super::Setting = super::Setting {
    flag: "--sandbox",
    env: "PREQUEL_SANDBOX",
    key: "sandbox",
};
pub(super) const SANDBOX_LIMITS: super::Setting = super::Setting {
    flag: "--sandbox-limits",
    env: "PREQUEL_SANDBOX_LIMITS",
    key: "sandbox_limits",
};
pub(super) const SANDBOX_MAX: super::Setting = super::Setting {
    flag: "--sandbox-max",
    env: "PREQUEL_SANDBOX_MAX",
    key: "sandbox_max",
};
pub(super) const SANDBOX_TOOLS: super::Setting = super::Setting {
    flag: "--sandbox-tools",
    env: "PREQUEL_SANDBOX_TOOLS",
    key: "sandbox_tools",
};
pub(super) const SANDBOX_CGROUP: super::Setting = super::Setting {
    flag: "--sandbox-cgroup",
    env: "PREQUEL_SANDBOX_CGROUP",
    key: "sandbox_cgroup",
};
pub(super) const SANDBOX_UIDS: super::Setting = super::Setting {
    flag: "--sandbox-uids",
    env: "PREQUEL_SANDBOX_UIDS",
    key: "sandbox_uids",
};

/// Where `./scripts/run` installs the challenges' Python (pandas, pytest) for the sandbox: used
/// when it is there and no tools are configured.
pub const DEFAULT_TOOLS_RELATIVE: &str = "tools/python";

/// The sandbox settings given as flags.
#[derive(Debug, Clone, Default)]
pub struct SandboxFlags {
    /// `--sandbox`.
    pub sandbox: Option<String>,
    /// `--sandbox-limits`.
    pub limits: Option<String>,
    /// `--sandbox-max`.
    pub max: Option<String>,
    /// `--sandbox-tools`.
    pub tools: Option<String>,
    /// `--sandbox-cgroup`.
    pub cgroup: Option<String>,
    /// `--sandbox-uids`.
    pub uids: Option<String>,
}

type Found = Option<(String, Source)>;

/// One setting's value and where it came from: its flag, else the environment, else the file.
type LookupWithFlag<'a> =
    &'a dyn Fn(&super::Setting, fn(&FileSettings) -> &Option<String>, &Option<String>) -> Found;

/// The sandbox settings from their lookups; `data_dir` is where the default tools live.
pub(super) fn resolve_sandbox(
    lookup: LookupWithFlag<'_>,
    flags: &SandboxFlags,
    data_dir: &Path,
) -> Result<SandboxSetup, ConfigError> {
    let on = parse_or_default(
        lookup(&SANDBOX, |f| &f.sandbox, &flags.sandbox),
        "on",
        parse_on_off,
    )?;
    let limits = lookup(&SANDBOX_LIMITS, |f| &f.sandbox_limits, &flags.limits);
    let max = lookup(&SANDBOX_MAX, |f| &f.sandbox_max, &flags.max);
    let tools = lookup(&SANDBOX_TOOLS, |f| &f.sandbox_tools, &flags.tools);
    let cgroup = lookup(&SANDBOX_CGROUP, |f| &f.sandbox_cgroup, &flags.cgroup);
    let uids = lookup(&SANDBOX_UIDS, |f| &f.sandbox_uids, &flags.uids);
    // Checked even when off, so a typo is reported before someone turns it on.
    let limits = match limits {
        Some(found) => parse_with(found, |text| parse_limits(text, Limits::DEFAULT))?,
        None => Limits::DEFAULT,
    };
    let max = match max {
        Some(found) => parse_with(found, |text| parse_limits(text, Limits::DEFAULT_MAX))?,
        None => Limits::DEFAULT_MAX,
    };
    let uids = match uids {
        Some(found) => parse_with(found, parse_uid_range)?,
        None => DEFAULT_UIDS,
    };
    let tools = match &tools {
        Some((value, source)) => value
            .split(',')
            .map(str::trim)
            .filter(|dir| !dir.is_empty())
            .filter_map(|dir| path_setting(Some((dir.to_owned(), source.clone()))))
            .collect(),
        None => {
            let default = data_dir.join(DEFAULT_TOOLS_RELATIVE);
            if default.join("bin/python3").exists() {
                vec![default]
            } else {
                Vec::new()
            }
        }
    };
    if !on {
        return Ok(SandboxSetup::Off);
    }
    Ok(SandboxSetup::On(Box::new(SandboxConfig {
        limits,
        max,
        tools,
        uids,
        cgroup_parent: cgroup.map(|(value, _)| PathBuf::from(value.trim().trim_matches('/'))),
        ..SandboxConfig::default()
    })))
}

fn parse_on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err("is not on or off".to_owned()),
    }
}

/// `memory=2GiB,tasks=512,cpus=1` (any of the three; the others keep `base`'s).
pub(super) fn parse_limits(text: &str, base: Limits) -> Result<Limits, String> {
    const EXAMPLE: &str = "write e.g. memory=2GiB,tasks=512,cpus=1";
    let mut limits = base;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("has `{part}` without a value; {EXAMPLE}"))?;
        let value = value.trim();
        match key.trim() {
            "memory" => {
                limits.memory_bytes = parse_memory(value).ok_or_else(|| {
                    format!("has memory `{value}`, not a size like 2GiB or 512MiB; {EXAMPLE}")
                })?;
                if limits.memory_bytes < 256 << 20 {
                    return Err(format!(
                        "has memory {value}, too little for code-server (256MiB at least)"
                    ));
                }
            }
            "tasks" => {
                limits.tasks =
                    value
                        .parse()
                        .ok()
                        .filter(|tasks| *tasks >= 64)
                        .ok_or_else(|| {
                            format!("has tasks `{value}`, not a number of 64 or more; {EXAMPLE}")
                        })?;
            }
            "cpus" => {
                let cpus: f64 = value
                    .parse()
                    .ok()
                    .filter(|c: &f64| c.is_finite() && (0.1..=256.0).contains(c))
                    .ok_or_else(|| {
                        format!("has cpus `{value}`, not a number between 0.1 and 256; {EXAMPLE}")
                    })?;
                // Within 0.1..=256 the product fits a u32.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                {
                    limits.cpu_millis = (cpus * 1000.0).round() as u32;
                }
            }
            other => return Err(format!("has an unknown limit `{other}`; {EXAMPLE}")),
        }
    }
    Ok(limits)
}

/// `2GiB`, `512MiB`, `2G`, `512M`, or a plain number of MiB.
fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let (number, shift) = if let Some(n) = lower
        .strip_suffix("gib")
        .or_else(|| lower.strip_suffix('g'))
    {
        (n, 30)
    } else if let Some(n) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix('m'))
    {
        (n, 20)
    } else {
        (lower.as_str(), 20)
    };
    let number: u64 = number.trim().parse().ok()?;
    number
        .checked_shl(shift)
        .filter(|bytes| bytes >> shift == number)
}

fn parse_uid_range(text: &str) -> Result<RangeInclusive<u32>, String> {
    let (start, end) = text
        .split_once('-')
        .ok_or("is not a range of user ids like 1900000000-1900065535")?;
    let start: u32 = start
        .trim()
        .parse()
        .map_err(|_| "does not start with a user id")?;
    let end: u32 = end
        .trim()
        .parse()
        .map_err(|_| "does not end with a user id")?;
    if start < 1000 || end < start || end == u32::MAX {
        return Err("must be ids of 1000 or more, the first not above the last".to_owned());
    }
    Ok(start..=end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_key_by_key_over_the_defaults() {
        let limits = parse_limits("memory=1GiB, cpus=0.5", Limits::DEFAULT).expect("limits");
        assert_eq!(
            limits,
            Limits {
                memory_bytes: 1 << 30,
                tasks: Limits::DEFAULT.tasks,
                cpu_millis: 500
            }
        );
        assert_eq!(
            parse_limits("memory=512", Limits::DEFAULT)
                .expect("MiB")
                .memory_bytes,
            512 << 20
        );
        for (bad, says) in [
            ("memory=lots", "not a size like 2GiB"),
            ("memory=100MiB", "too little"),
            ("tasks=8", "64 or more"),
            ("cpus=0", "between 0.1 and 256"),
            ("disk=1GiB", "unknown limit `disk`"),
            ("memory", "without a value"),
        ] {
            let err = parse_limits(bad, Limits::DEFAULT).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn uid_ranges_must_be_ordinary_ids_in_order() {
        assert_eq!(parse_uid_range("200000-200999"), Ok(200_000..=200_999));
        for bad in ["0-10", "5000-4000", "a-b", "5000"] {
            assert!(parse_uid_range(bad).is_err(), "{bad}");
        }
    }
}
