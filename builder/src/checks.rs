//! Build checks: BuildKit's static lint rules that need no build, each a
//! warning naming the rule (as `docker build --check` spells it) and the
//! place. `# check=skip=Rule1,Rule2` (or `skip=all`) turns rules off and
//! `error=true` asks the caller to fail the build on any warning.
//!
//! Rules here: StageNameCasing, FromAsCasing, ConsistentInstructionCasing,
//! JSONArgsRecommended, LegacyKeyValueFormat, ReservedStageName,
//! MultipleInstructionsDisallowed, WorkdirRelativePath,
//! SecretsUsedInArgOrEnv, MaintainerDeprecated. UndefinedVar needs the
//! build's variables, so the planner reports it ([`StagePlan::checks`]);
//! unlike BuildKit it stays quiet for `${X:-default}`-style uses, which
//! expect X to be unset, and for stages on an image whose config (and so
//! ENV) it was not given.
//!
//! [`StagePlan::checks`]: crate::plan::StagePlan::checks

use std::fmt;

use crate::error::Location;
use crate::instructions::{Instruction, ShellOrExec, Step};
use crate::parser::words::split_command;
use crate::parser::{Directives, Keyword};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// The rule, e.g. `StageNameCasing`.
    pub rule: &'static str,
    /// What is wrong, as a sentence.
    pub message: String,
    /// Where.
    pub location: Location,
}

impl Check {
    pub(crate) fn new(rule: &'static str, message: String, location: Location) -> Self {
        Self {
            rule,
            message,
            location,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (line {})",
            self.rule, self.message, self.location
        )
    }
}

/// What `# check=` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckConfig {
    /// Rules turned off.
    pub skip: Vec<String>,
    /// `skip=all`.
    pub skip_all: bool,
    /// `error=true`: warnings should fail the build.
    pub error: bool,
}

impl CheckConfig {
    /// Reads the `# check=` directive (`skip=A,B;error=true`); unknown keys
    /// are ignored, as BuildKit does.
    pub fn from_directives(directives: &Directives) -> Self {
        let mut out = Self::default();
        let Some(text) = directives.check.as_deref() else {
            return out;
        };
        for part in text.split(';') {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "skip" => {
                    for rule in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                        if rule.eq_ignore_ascii_case("all") {
                            out.skip_all = true;
                        } else {
                            out.skip.push(rule.to_owned());
                        }
                    }
                }
                "error" => out.error = value.trim().eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        out
    }

    /// Whether `rule` is on.
    pub fn enabled(&self, rule: &str) -> bool {
        !self.skip_all && !self.skip.iter().any(|s| s.eq_ignore_ascii_case(rule))
    }
}

/// Runs the static checks over parsed steps.
pub fn check(steps: &[Step], config: &CheckConfig) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |rule: &'static str, message: String, location: Location| {
        if config.enabled(rule) {
            out.push(Check {
                rule,
                message,
                location,
            });
        }
    };

    // Casing: the majority style of the file decides.
    let written: Vec<&str> = steps
        .iter()
        .map(|s| split_command(&s.node.original).0)
        .collect();
    let lower = written.iter().filter(|w| is_lower(w)).count();
    let upper = written.iter().filter(|w| is_upper(w)).count();
    let want_lower = lower > upper;

    let mut seen_in_stage: Vec<Keyword> = Vec::new();
    let mut workdir_absolute = false;
    for (step, word) in steps.iter().zip(&written) {
        let loc = step.node.location;
        let consistent = if want_lower {
            is_lower(word)
        } else {
            is_upper(word)
        };
        if !consistent {
            push(
                "ConsistentInstructionCasing",
                format!(
                    "command '{word}' should match the case of the command majority ({})",
                    if want_lower { "lowercase" } else { "uppercase" }
                ),
                loc,
            );
        }
        match &step.instruction {
            Instruction::From(from) => {
                seen_in_stage.clear();
                workdir_absolute = false;
                let args: Vec<&str> = step.node.args.split_whitespace().collect();
                if let [_, as_word, name] = args.as_slice() {
                    if (is_upper(word) && !is_upper(as_word))
                        || (is_lower(word) && !is_lower(as_word))
                    {
                        push(
                            "FromAsCasing",
                            format!("'{as_word}' and '{word}' keywords' casing do not match"),
                            loc,
                        );
                    }
                    if !is_lower(name) {
                        push(
                            "StageNameCasing",
                            format!("stage name '{name}' should be lowercase"),
                            loc,
                        );
                    }
                }
                if let Some(alias) = &from.alias
                    && matches!(alias.as_str(), "scratch" | "context")
                {
                    push(
                        "ReservedStageName",
                        format!("'{alias}' is reserved and should not be used as a stage name"),
                        loc,
                    );
                }
            }
            Instruction::Cmd(cmd) | Instruction::Entrypoint(cmd) => {
                if let ShellOrExec::Shell(_) = cmd {
                    push(
                        "JSONArgsRecommended",
                        format!(
                            "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                            step.node.keyword
                        ),
                        loc,
                    );
                }
            }
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                let legacy = pairs.len() == 1 && !step.node.args.contains('=');
                if legacy {
                    let kw = step.node.keyword;
                    push(
                        "LegacyKeyValueFormat",
                        format!(
                            "\"{kw} key=value\" should be used instead of legacy \"{kw} key value\" format"
                        ),
                        loc,
                    );
                }
                if matches!(step.instruction, Instruction::Env(_)) {
                    for (k, _) in pairs {
                        secret_like(k, "ENV", loc, &mut push);
                    }
                }
            }
            Instruction::Arg(args) => {
                for (k, _) in args {
                    secret_like(k, "ARG", loc, &mut push);
                }
            }
            Instruction::Workdir(w) => {
                if w.starts_with('/') || w.starts_with('$') {
                    workdir_absolute = true;
                } else if !workdir_absolute {
                    push(
                        "WorkdirRelativePath",
                        format!(
                            "relative workdir \"{w}\" can have unexpected results if the base image changes"
                        ),
                        loc,
                    );
                }
            }
            Instruction::Maintainer(_) => push(
                "MaintainerDeprecated",
                "MAINTAINER instruction is deprecated in favor of using label".to_owned(),
                loc,
            ),
            _ => {}
        }
        let kw = step.node.keyword;
        if matches!(
            kw,
            Keyword::Cmd | Keyword::Entrypoint | Keyword::Healthcheck
        ) {
            if seen_in_stage.contains(&kw) {
                push(
                    "MultipleInstructionsDisallowed",
                    format!(
                        "multiple {kw} instructions should not be used in the same stage because only the last one will be used"
                    ),
                    loc,
                );
            }
            seen_in_stage.push(kw);
        }
    }
    out
}

fn is_lower(word: &str) -> bool {
    !word.chars().any(|c| c.is_ascii_uppercase())
}

fn is_upper(word: &str) -> bool {
    !word.chars().any(|c| c.is_ascii_lowercase())
}

/// BuildKit's SecretsUsedInArgOrEnv: an `_`-separated word of the name is
/// one of the secret words, and none is `public`.
fn secret_like(
    name: &str,
    kind: &str,
    loc: Location,
    push: &mut impl FnMut(&'static str, String, Location),
) {
    const SECRET: [&str; 10] = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    let words: Vec<String> = name.split('_').map(str::to_ascii_lowercase).collect();
    if words.iter().any(|w| w == "public") {
        return;
    }
    if words.iter().any(|w| SECRET.contains(&w.as_str())) {
        push(
            "SecretsUsedInArgOrEnv",
            format!("do not use {kind} instructions for sensitive data ({kind} \"{name}\")"),
            loc,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::parse_all;
    use crate::parser::parse_str;

    fn rules(text: &str) -> Vec<(&'static str, usize)> {
        let d = parse_str(text).unwrap();
        let steps = parse_all(&d).unwrap();
        check(&steps, &CheckConfig::from_directives(&d.directives))
            .into_iter()
            .map(|c| (c.rule, c.location.line))
            .collect()
    }

    #[test]
    fn clean_file_has_no_findings() {
        let text = "FROM alpine AS build\nWORKDIR /src\nENV A=1\nARG VERSION\nCMD [\"run\"]\n";
        assert_eq!(rules(text), []);
    }

    #[test]
    fn each_rule() {
        let cases: &[(&str, &[(&str, usize)])] = &[
            ("FROM a AS Build\n", &[("StageNameCasing", 1)]),
            ("FROM a as b\n", &[("FromAsCasing", 1)]),
            ("from a AS b\n", &[("FromAsCasing", 1)]),
            (
                "FROM a\nrun x\nRUN y\n",
                &[("ConsistentInstructionCasing", 2)],
            ),
            ("FROM a\nCMD run\n", &[("JSONArgsRecommended", 2)]),
            ("FROM a\nENTRYPOINT run\n", &[("JSONArgsRecommended", 2)]),
            ("FROM a\nENV A 1\n", &[("LegacyKeyValueFormat", 2)]),
            ("FROM a\nLABEL a b\n", &[("LegacyKeyValueFormat", 2)]),
            ("FROM a AS context\n", &[("ReservedStageName", 1)]),
            (
                "FROM a\nCMD [\"a\"]\nCMD [\"b\"]\nFROM b\nCMD [\"c\"]\n",
                &[("MultipleInstructionsDisallowed", 3)],
            ),
            ("FROM a\nWORKDIR app\n", &[("WorkdirRelativePath", 2)]),
            ("FROM a\nWORKDIR /app\nWORKDIR sub\n", &[]),
            (
                "FROM a\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x\nARG PUBLIC_KEY\n",
                &[("SecretsUsedInArgOrEnv", 2), ("SecretsUsedInArgOrEnv", 3)],
            ),
            ("FROM a\nMAINTAINER me\n", &[("MaintainerDeprecated", 2)]),
        ];
        for (text, want) in cases {
            let want: Vec<(&str, usize)> = want.to_vec();
            assert_eq!(rules(text), want, "{text:?}");
        }
    }

    #[test]
    fn check_directive() {
        assert_eq!(
            rules("# check=skip=JSONArgsRecommended\nFROM a\nCMD run\n"),
            []
        );
        assert_eq!(rules("# check=skip=all\nFROM a AS Build\nCMD run\n"), []);
        let d = parse_str("# check=skip=A, B;error=true\nFROM a\n").unwrap();
        let c = CheckConfig::from_directives(&d.directives);
        assert_eq!(c.skip, ["A", "B"]);
        assert!(c.error && !c.skip_all);
    }
}
