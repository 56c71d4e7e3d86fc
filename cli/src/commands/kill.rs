//! `kill`: signal a container by name (`TERM`, `SIGTERM`) or number.

use anyhow::{Result, bail};
use nix::sys::signal::Signal;

use crate::runtime_cli::Ctx;

/// Parses `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow::anyhow!("unknown signal number {n}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    match name.parse::<Signal>() {
        Ok(sig) => Ok(sig),
        Err(_) => bail!("unknown signal {s:?}: use a name like TERM or KILL, or a number"),
    }
}

/// Runs `kill`.
pub fn run(ctx: &Ctx, id: &str, sig: &str, all: bool) -> Result<()> {
    let sig = parse_signal(sig)?;
    super::load(ctx, id)?.kill(sig, all)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
