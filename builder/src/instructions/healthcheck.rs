//! HEALTHCHECK: `NONE`, or `CMD` with options, as the image config's
//! `Healthcheck` records it (`Test` is `["NONE"]`, `["CMD", args...]` or
//! `["CMD-SHELL", command]`).

use std::time::Duration;

use super::ShellOrExec;
use crate::error::SyntaxError;
use crate::parser::{Node, words};

/// A parsed HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Healthcheck {
    /// `None` for `HEALTHCHECK NONE` (disable the inherited check).
    pub test: Option<ShellOrExec>,
    /// `--interval`; `None` keeps the default.
    pub interval: Option<Duration>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--start-period`.
    pub start_period: Option<Duration>,
    /// `--start-interval`.
    pub start_interval: Option<Duration>,
    /// `--retries`.
    pub retries: Option<u32>,
}

impl Healthcheck {
    /// The config's `Test` array.
    pub fn test_array(&self) -> Vec<String> {
        match &self.test {
            None => vec!["NONE".to_owned()],
            Some(ShellOrExec::Exec(args)) => std::iter::once("CMD".to_owned())
                .chain(args.iter().cloned())
                .collect(),
            Some(ShellOrExec::Shell(cmd)) => vec!["CMD-SHELL".to_owned(), cmd.clone()],
        }
    }

    pub(crate) fn from_node(node: &Node) -> Result<Self, SyntaxError> {
        let bad = |reason: String| SyntaxError::InvalidHealthcheck { reason };
        let (kind, rest) = words::split_command(&node.args);
        let kind = kind.to_ascii_uppercase();
        match kind.as_str() {
            "" => Err(SyntaxError::Arguments {
                instruction: "HEALTHCHECK",
                expected: "at least one argument",
            }),
            "NONE" => {
                if !rest.is_empty() {
                    return Err(bad("HEALTHCHECK NONE takes no arguments".to_owned()));
                }
                if !node.flags.is_empty() {
                    return Err(bad("HEALTHCHECK NONE takes no options".to_owned()));
                }
                Ok(Self {
                    test: None,
                    interval: None,
                    timeout: None,
                    start_period: None,
                    start_interval: None,
                    retries: None,
                })
            }
            "CMD" => {
                let test = match words::json_array(rest) {
                    Some(args) if args.is_empty() => None,
                    Some(args) => Some(ShellOrExec::Exec(args)),
                    None if rest.is_empty() => None,
                    None => Some(ShellOrExec::Shell(rest.to_owned())),
                };
                let Some(test) = test else {
                    return Err(bad("missing command after HEALTHCHECK CMD".to_owned()));
                };
                let duration = |flag: &'static str| -> Result<Option<Duration>, SyntaxError> {
                    let Some(v) = node.flag(flag) else {
                        return Ok(None);
                    };
                    let d = parse_duration(v).ok_or_else(|| SyntaxError::InvalidFlagValue {
                        flag: flag.to_owned(),
                        value: v.to_owned(),
                        reason: "not a duration such as 30s or 1m30s",
                    })?;
                    // Zero means "inherit"; anything else must be at least 1ms.
                    if d != Duration::ZERO && d < Duration::from_millis(1) {
                        return Err(SyntaxError::InvalidFlagValue {
                            flag: flag.to_owned(),
                            value: v.to_owned(),
                            reason: "cannot be less than 1ms",
                        });
                    }
                    Ok(Some(d))
                };
                let retries = match node.flag("retries") {
                    None => None,
                    Some(v) => {
                        Some(
                            v.parse::<u32>()
                                .map_err(|_| SyntaxError::InvalidFlagValue {
                                    flag: "retries".to_owned(),
                                    value: v.to_owned(),
                                    reason: "not a non-negative integer",
                                })?,
                        )
                    }
                };
                Ok(Self {
                    test: Some(test),
                    interval: duration("interval")?,
                    timeout: duration("timeout")?,
                    start_period: duration("start-period")?,
                    start_interval: duration("start-interval")?,
                    retries,
                })
            }
            other => Err(bad(format!("unknown type {other:?}: use CMD or NONE"))),
        }
    }
}

/// Go's `time.ParseDuration`: `300ms`, `1.5h`, `2h45m`; units ns, us (µs),
/// ms, s, m, h. Negative durations are refused.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * nanos;
    }
    (total.is_finite() && total < u64::MAX as f64).then(|| Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("30s", Some(Duration::from_secs(30))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("1.5h", Some(Duration::from_secs(5400))),
            ("100ms", Some(Duration::from_millis(100))),
            ("2us", Some(Duration::from_micros(2))),
            ("0", Some(Duration::ZERO)),
            ("0s", Some(Duration::ZERO)),
            ("30", None),
            ("s", None),
            ("-1s", None),
            ("1x", None),
            ("", None),
            ("99999999999999999999h", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), want, "{text:?}");
        }
    }
}
