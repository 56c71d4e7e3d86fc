//! `RunOptions`: the flags of `rbox run`/`create`, kept as the user typed
//! them (they are stored in the container record and shown by inspect),
//! and the parsers that turn each value into what the spec needs. Every
//! parser rejects malformed input with the flag's name in the error.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The flags of `rbox run` and `rbox create`, docker's names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct RunOptions {
    /// The image (name, id or id prefix).
    pub image: String,
    /// The command after the image: replaces the image's Cmd.
    pub args: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `-e/--env` and `--env-file` entries, KEY=VALUE, in order (the
    /// caller resolves a bare KEY from its own environment; entries
    /// without `=` are dropped, as docker drops unset ones).
    pub env: Vec<String>,
    /// `-w/--workdir`.
    pub workdir: Option<String>,
    /// `-u/--user` name|uid[:group|gid].
    pub user: Option<String>,
    /// `--group-add`.
    pub group_add: Vec<String>,
    /// `-h/--hostname`.
    pub hostname: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--tmpfs PATH[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    /// `-v/--volume SRC:DST[:OPTS]`.
    pub volumes: Vec<String>,
    /// `--mount type=bind|tmpfs|volume,...`.
    pub mounts: Vec<String>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--device HOST[:CONTAINER[:PERMS]]`.
    pub devices: Vec<String>,
    /// `--sysctl KEY=VALUE`.
    pub sysctls: Vec<String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// `--init`.
    pub init: bool,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` seconds.
    pub stop_timeout: Option<i64>,
    /// `-m/--memory`.
    pub memory: Option<String>,
    /// `--memory-swap` (-1: unlimited).
    pub memory_swap: Option<String>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<String>,
    /// `--cpus`.
    pub cpus: Option<String>,
    /// `-c/--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--shm-size`.
    pub shm_size: Option<String>,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `-l/--label KEY=VALUE`.
    pub labels: Vec<String>,
    /// `--rm`.
    pub rm: bool,
    /// `-d/--detach`.
    pub detach: bool,
    /// `-i/--interactive`.
    pub interactive: bool,
    /// `-t/--tty`.
    pub tty: bool,
    /// `-a/--attach` stdin|stdout|stderr.
    pub attach: Vec<String>,
    /// `--restart`.
    pub restart: Option<String>,
    /// `--network` none|host|bridge|NAME|container:ID.
    pub network: Option<String>,
    /// `-p/--publish`.
    pub publish: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host HOST:IP`.
    pub add_host: Vec<String>,
    /// `--cgroup-parent` (absolute, e.g. `/rbox-test/x`).
    pub cgroup_parent: Option<String>,
    /// `--log-opt max-size=..,max-file=..`.
    pub log_opts: Vec<String>,
    /// `--pull` always|missing|never.
    pub pull: Option<String>,
}

impl RunOptions {
    /// Options running `image` with `args`.
    pub fn new(image: impl Into<String>, args: Vec<String>) -> Self {
        RunOptions {
            image: image.into(),
            args,
            ..Default::default()
        }
    }
}

/// Parses a size with docker's units (b, k, m, g, t, p; case-insensitive,
/// an optional trailing `b`/`ib`): `512m`, `1.5g`, `1024`.
pub fn parse_bytes(flag: &'static str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let bad = |why: &str| Error::flag(flag, s, why);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(bad(
            "expected a number with an optional unit (b, k, m, g, t)",
        ));
    }
    let unit = unit.trim_end_matches("ib").trim_end_matches('b');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return Err(bad("unknown unit: use b, k, m, g, t or p")),
    };
    let n: f64 = num.parse().map_err(|_| bad("not a number"))?;
    let v = n * mult;
    if !(0.0..9.0e18).contains(&v) {
        return Err(bad("out of range"));
    }
    Ok(v as i64)
}

/// `--cpus 1.5` → (quota, period) in microseconds, period 100 ms.
pub fn parse_cpus(s: &str) -> Result<(i64, u64)> {
    let n: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::flag("--cpus", s, "not a number"))?;
    if !(n > 0.0 && n <= 4096.0) {
        return Err(Error::flag("--cpus", s, "must be greater than 0"));
    }
    let period = 100_000u64;
    Ok(((n * period as f64).round() as i64, period))
}

/// A restart policy (`--restart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Never restart.
    #[default]
    No,
    /// Restart on a non-zero exit, at most `max` times (0 = unlimited).
    OnFailure {
        /// Maximum retries, 0 for no limit.
        max: u32,
    },
    /// Always restart.
    Always,
    /// Always, unless the user stopped it.
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses `no`, `on-failure[:N]`, `always`, `unless-stopped`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::flag("--restart", s, why);
        Ok(match s.split_once(':') {
            None => match s {
                "" | "no" => RestartPolicy::No,
                "on-failure" => RestartPolicy::OnFailure { max: 0 },
                "always" => RestartPolicy::Always,
                "unless-stopped" => RestartPolicy::UnlessStopped,
                _ => return Err(bad("use no, on-failure[:N], always or unless-stopped")),
            },
            Some(("on-failure", n)) => RestartPolicy::OnFailure {
                max: n
                    .parse()
                    .map_err(|_| bad("the retry count must be a number"))?,
            },
            Some(_) => return Err(bad("only on-failure takes a retry count")),
        })
    }

    /// Docker's name of the policy.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Whether a container that exited with `code` after `restarts`
    /// restarts, unless it was stopped by the user.
    pub fn should_restart(&self, code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match *self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure { max } => code != 0 && (max == 0 || restarts < max),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

/// json-file log options: `max-size` (bytes, -1 unlimited) and `max-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Rotate when the file passes this size; `None`: never.
    pub max_size: Option<u64>,
    /// Files kept, the current one included (at least 1).
    pub max_file: u32,
}

impl LogOptions {
    /// Parses `--log-opt` values.
    pub fn parse(opts: &[String]) -> Result<Self> {
        let mut o = LogOptions {
            max_size: None,
            max_file: 1,
        };
        for kv in opts {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| Error::flag("--log-opt", kv, "expected KEY=VALUE"))?;
            match k {
                "max-size" => {
                    let n = if v == "-1" {
                        -1
                    } else {
                        parse_bytes("--log-opt max-size", v)?
                    };
                    o.max_size = (n > 0).then_some(n as u64);
                }
                "max-file" => {
                    o.max_file = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| Error::flag("--log-opt", kv, "max-file must be >= 1"))?;
                }
                _ => {
                    return Err(Error::flag(
                        "--log-opt",
                        kv,
                        "the json-file driver knows max-size and max-file",
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// Splits `KEY=VALUE` (`--label`, `--sysctl`).
pub fn key_value<'a>(flag: &'static str, s: &'a str) -> Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(Error::flag(flag, s, "expected KEY=VALUE")),
    }
}

/// Parses a signal name (`TERM`, `SIGTERM`, `sigkill`) or number.
pub fn parse_signal(flag: &'static str, s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::flag(flag, s, "signal numbers are 1..64"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        let base = libc::SIGRTMIN();
        let off: i32 = match rest {
            "" => 0,
            r => r
                .strip_prefix('+')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Error::flag(flag, s, "unknown signal"))?,
        };
        return Ok(base + off);
    }
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::flag(flag, s, "unknown signal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("-m", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("-m", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-m", "1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("-m", "100").unwrap(), 100);
        assert_eq!(parse_bytes("-m", "64MB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("-m", "2GiB").unwrap(), 2 << 30);
        for bad in ["12q", "", "m", "-1", "1..2m"] {
            assert!(parse_bytes("-m", bad).is_err(), "{bad}");
        }
        let e = parse_bytes("--memory", "12q").unwrap_err().to_string();
        assert!(e.contains("--memory") && e.contains("12q"), "{e}");
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5").unwrap(), (150_000, 100_000));
        assert_eq!(parse_cpus("0.01").unwrap(), (1000, 100_000));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("x").is_err());
    }

    #[test]
    fn restart() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure { max: 3 }
        );
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("always:2").is_err());
        let p = RestartPolicy::OnFailure { max: 2 };
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 100, false));
        assert!(!RestartPolicy::Always.should_restart(0, 0, true));
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("-s", "TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("-s", "sigkill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("-s", "9").unwrap(), 9);
        assert_eq!(
            parse_signal("-s", "SIGRTMIN+3").unwrap(),
            libc::SIGRTMIN() + 3
        );
        assert!(parse_signal("-s", "NOPE").is_err());
    }

    #[test]
    fn log_options() {
        let o = LogOptions::parse(&["max-size=1k".into(), "max-file=3".into()]).unwrap();
        assert_eq!(o.max_size, Some(1024));
        assert_eq!(o.max_file, 3);
        assert!(LogOptions::parse(&["max-file=0".into()]).is_err());
        assert!(LogOptions::parse(&["compress=true".into()]).is_err());
    }
}
