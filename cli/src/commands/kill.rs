//! `kill`: signal a container by name (`TERM`, `SIGTERM`) or number.

use anyhow::{Result, bail};
use nix::sys::signal::Signal;

use crate::runtime_cli::Ctx;

/// Parses `KILL`, `SIGKILL`, `kill`, `9`, `SIGRTMIN+3`, `RTMAX-1` into a
/// signal number.
pub fn parse_signal(s: &str) -> Result<i32> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Ok(n) = s.parse::<i32>() {
        if (1..=max).contains(&n) {
            return Ok(n);
        }
        bail!("signal number {n} is outside 1..{max}");
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let n = base + sign * off;
        (min..=max).contains(&n).then_some(n)
    };
    let parsed = if let Some(rest) = name.strip_prefix("RTMIN") {
        rest.strip_prefix('+').map_or_else(
            || {
                if rest.is_empty() {
                    rt(min, "", 1)
                } else {
                    None
                }
            },
            |r| rt(min, r, 1),
        )
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rest.strip_prefix('-').map_or_else(
            || {
                if rest.is_empty() {
                    rt(max, "", 1)
                } else {
                    None
                }
            },
            |r| rt(max, r, -1),
        )
    } else {
        format!("SIG{name}")
            .parse::<Signal>()
            .ok()
            .map(|s| s as i32)
    };
    parsed.ok_or_else(|| {
        anyhow::anyhow!("unknown signal {s:?}: use a name like TERM, KILL or RTMIN+3, or a number")
    })
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
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        assert_eq!(parse_signal("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse_signal("37").unwrap(), 37);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
        assert!(parse_signal("RTMIN+99").is_err());
        assert!(parse_signal("RTMINX").is_err());
    }
}
