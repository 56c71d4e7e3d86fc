//! Typed instructions: each parser [`Node`] becomes an [`Instruction`],
//! checked the way BuildKit's `instructions.Parse` checks it (argument
//! counts, forms, flag values, mount specs, stage names).
//!
//! Values are kept as written, quotes and `$VAR`s included: expansion
//! depends on the ARG/ENV state at that point of the stage, which only the
//! planner knows (see [`mod@crate::plan`]). Exec-form (JSON) arguments are
//! already plain strings.

mod healthcheck;
mod mount;

use crate::error::{Error, Result, SyntaxError};
use crate::parser::{Dockerfile, Heredoc, Keyword, Node, node_from_line, words};

pub use healthcheck::Healthcheck;
pub use mount::{MountSpec, MountType, Sharing};

/// A command in shell form (run through SHELL) or exec form (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// `RUN make all`: one string for the shell.
    Shell(String),
    /// `RUN ["make", "all"]`: argv as given.
    Exec(Vec<String>),
}

/// `FROM [--platform=P] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FromSpec {
    /// Image reference or earlier stage name (unexpanded).
    pub image: String,
    /// `--platform` (unexpanded).
    pub platform: Option<String>,
    /// The stage name, lower-cased.
    pub alias: Option<String>,
}

/// RUN's network mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The builder's default (a private network namespace with access out).
    #[default]
    Default,
    /// No network at all.
    None,
    /// The host's network (needs the builder to allow it).
    Host,
}

/// `RUN [--mount=...] [--network=...] [--security=...] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunSpec {
    /// The command (never expanded by the frontend).
    pub cmd: ShellOrExec,
    /// `--mount`s, in order.
    pub mounts: Vec<MountSpec>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--security=insecure|sandbox`, as given.
    pub security: Option<String>,
    /// Heredoc bodies opened on the line.
    pub heredocs: Vec<Heredoc>,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopySpec {
    /// Sources (unexpanded); `<<NAME` sources are heredocs.
    pub sources: Vec<String>,
    /// Destination (unexpanded).
    pub dest: String,
    /// `--from` (COPY only).
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--checksum` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// Heredoc bodies, for the `<<NAME` sources.
    pub heredocs: Vec<Heredoc>,
}

impl CopySpec {
    /// The heredoc a source word stands for, if it is one.
    pub fn heredoc(&self, source: &str) -> Option<&Heredoc> {
        let name = source.trim_start_matches(|c: char| c.is_ascii_digit());
        let name = name.strip_prefix("<<")?;
        let name = name.strip_prefix('-').unwrap_or(name);
        let name = name.trim_matches(['\'', '"']);
        self.heredocs.iter().find(|h| h.name == name)
    }
}

/// A Dockerfile instruction with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Instruction {
    /// FROM.
    From(FromSpec),
    /// RUN.
    Run(RunSpec),
    /// COPY.
    Copy(CopySpec),
    /// ADD.
    Add(CopySpec),
    /// ENV: `(key, value)` pairs as written (quotes kept).
    Env(Vec<(String, String)>),
    /// ARG: names with optional defaults as written.
    Arg(Vec<(String, Option<String>)>),
    /// WORKDIR.
    Workdir(String),
    /// USER.
    User(String),
    /// EXPOSE: the words as written (each may expand to several).
    Expose(Vec<String>),
    /// LABEL: `(key, value)` pairs as written.
    Label(Vec<(String, String)>),
    /// ENTRYPOINT.
    Entrypoint(ShellOrExec),
    /// CMD.
    Cmd(ShellOrExec),
    /// VOLUME: paths as written.
    Volume(Vec<String>),
    /// STOPSIGNAL.
    Stopsignal(String),
    /// HEALTHCHECK.
    Healthcheck(Healthcheck),
    /// SHELL: always exec form.
    Shell(Vec<String>),
    /// ONBUILD: the trigger, parsed to check it, and its text, which is
    /// what the image config records.
    Onbuild {
        /// The parsed trigger.
        trigger: Box<Instruction>,
        /// The trigger's text (`RUN echo hi`).
        text: String,
    },
    /// MAINTAINER (deprecated): the author.
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step {
    /// The instruction.
    pub instruction: Instruction,
    /// The node it was parsed from (location, text, flags).
    pub node: Node,
}

/// Parses every node of `dockerfile`.
pub fn parse_all(dockerfile: &Dockerfile) -> Result<Vec<Step>> {
    dockerfile
        .nodes
        .iter()
        .map(|node| {
            Ok(Step {
                instruction: Instruction::from_node(node, dockerfile.directives.escape)?,
                node: node.clone(),
            })
        })
        .collect()
}

const AT_LEAST_ONE: &str = "at least one argument";

fn args_err(keyword: Keyword, expected: &'static str) -> SyntaxError {
    SyntaxError::Arguments {
        instruction: keyword.as_str(),
        expected,
    }
}

impl Instruction {
    /// Builds the instruction for `node`; `escape` is the file's escape
    /// token (ENV and LABEL words honour it).
    pub fn from_node(node: &Node, escape: char) -> Result<Self> {
        Self::parse(node, escape).map_err(|kind| node.error(kind))
    }

    fn parse(node: &Node, escape: char) -> Result<Self, SyntaxError> {
        let args = node.args.as_str();
        let kw = node.keyword;
        let nonempty = |s: &str| {
            if s.is_empty() {
                Err(args_err(kw, "exactly one argument"))
            } else {
                Ok(s.to_owned())
            }
        };
        Ok(match kw {
            Keyword::From => Instruction::From(parse_from(node)?),
            Keyword::Run => {
                if args.is_empty() && node.heredocs.is_empty() {
                    return Err(args_err(kw, AT_LEAST_ONE));
                }
                let mounts = node
                    .flag_values("mount")
                    .into_iter()
                    .map(MountSpec::parse)
                    .collect::<Result<_, _>>()?;
                let network = match node.flag("network") {
                    None | Some("default") => NetworkMode::Default,
                    Some("none") => NetworkMode::None,
                    Some("host") => NetworkMode::Host,
                    Some(other) => {
                        return Err(SyntaxError::InvalidFlagValue {
                            flag: "network".to_owned(),
                            value: other.to_owned(),
                            reason: "use default, none or host",
                        });
                    }
                };
                let security = node.flag("security").map(str::to_owned);
                if let Some(s) = &security
                    && s != "insecure"
                    && s != "sandbox"
                {
                    return Err(SyntaxError::InvalidFlagValue {
                        flag: "security".to_owned(),
                        value: s.clone(),
                        reason: "use insecure or sandbox",
                    });
                }
                Instruction::Run(RunSpec {
                    cmd: shell_or_exec(args),
                    mounts,
                    network,
                    security,
                    heredocs: node.heredocs.clone(),
                })
            }
            Keyword::Copy | Keyword::Add => {
                let mut list = list_args(args);
                if list.len() < 2 {
                    return Err(args_err(
                        kw,
                        "at least two arguments, a source and a destination",
                    ));
                }
                let dest = list.pop().unwrap_or_default();
                let spec = CopySpec {
                    sources: list,
                    dest,
                    from: node.flag("from").map(str::to_owned),
                    chown: node.flag("chown").map(str::to_owned),
                    chmod: node.flag("chmod").map(str::to_owned),
                    link: node.flag_bool("link"),
                    parents: node.flag_bool("parents"),
                    exclude: node
                        .flag_values("exclude")
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                    checksum: node.flag("checksum").map(str::to_owned),
                    keep_git_dir: node.flag_bool("keep-git-dir"),
                    heredocs: node.heredocs.clone(),
                };
                if kw == Keyword::Copy {
                    Instruction::Copy(spec)
                } else {
                    Instruction::Add(spec)
                }
            }
            Keyword::Env => Instruction::Env(name_values(kw, args, escape)?),
            Keyword::Label => Instruction::Label(name_values(kw, args, escape)?),
            Keyword::Arg => {
                let words = words::checked_words(args, escape)?;
                if words.is_empty() {
                    return Err(args_err(kw, AT_LEAST_ONE));
                }
                let mut out = Vec::with_capacity(words.len());
                for w in words {
                    let (name, default) = match w.split_once('=') {
                        Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                        None => (w, None),
                    };
                    if name.is_empty() {
                        return Err(SyntaxError::BlankName { instruction: "ARG" });
                    }
                    out.push((name, default));
                }
                Instruction::Arg(out)
            }
            Keyword::Workdir => Instruction::Workdir(nonempty(args)?),
            Keyword::User => Instruction::User(nonempty(args)?),
            Keyword::Stopsignal => Instruction::Stopsignal(nonempty(args)?),
            Keyword::Maintainer => Instruction::Maintainer(nonempty(args)?),
            Keyword::Expose => {
                let ports: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
                if ports.is_empty() {
                    return Err(args_err(kw, AT_LEAST_ONE));
                }
                Instruction::Expose(ports)
            }
            Keyword::Entrypoint | Keyword::Cmd => {
                if args.is_empty() {
                    return Err(args_err(kw, AT_LEAST_ONE));
                }
                let cmd = shell_or_exec(args);
                if kw == Keyword::Cmd {
                    Instruction::Cmd(cmd)
                } else {
                    Instruction::Entrypoint(cmd)
                }
            }
            Keyword::Volume => {
                let list = list_args(args);
                if list.is_empty() {
                    return Err(args_err(kw, AT_LEAST_ONE));
                }
                if list.iter().any(|v| v.trim().is_empty()) {
                    return Err(args_err(kw, "non-empty paths"));
                }
                Instruction::Volume(list)
            }
            Keyword::Shell => match words::json_array(args) {
                Some(list) if !list.is_empty() => Instruction::Shell(list),
                Some(_) => return Err(args_err(kw, AT_LEAST_ONE)),
                None => return Err(SyntaxError::ShellNotJson),
            },
            Keyword::Healthcheck => Instruction::Healthcheck(Healthcheck::from_node(node)?),
            Keyword::Onbuild => {
                if args.is_empty() {
                    return Err(args_err(kw, AT_LEAST_ONE));
                }
                let trigger = node_from_line(args, node.location).map_err(|e| match e {
                    Error::Syntax { kind, .. } => kind,
                    _ => args_err(kw, "a valid trigger instruction"),
                })?;
                if matches!(
                    trigger.keyword,
                    Keyword::Onbuild | Keyword::From | Keyword::Maintainer
                ) {
                    return Err(SyntaxError::OnbuildForbidden {
                        instruction: trigger.keyword.as_str(),
                    });
                }
                Instruction::Onbuild {
                    trigger: Box::new(Self::parse(&trigger, escape)?),
                    text: trigger.original,
                }
            }
        })
    }
}

fn shell_or_exec(args: &str) -> ShellOrExec {
    match words::json_array(args) {
        Some(list) => ShellOrExec::Exec(list),
        None => ShellOrExec::Shell(args.to_owned()),
    }
}

/// COPY/ADD/VOLUME arguments: a JSON array, else whitespace-separated
/// words (not quote-aware, as in BuildKit: use the JSON form for spaces).
fn list_args(args: &str) -> Vec<String> {
    words::json_array(args).unwrap_or_else(|| args.split_whitespace().map(str::to_owned).collect())
}

/// ENV and LABEL: `k=v k2="v 2"` or the legacy `k value with spaces`.
fn name_values(
    kw: Keyword,
    args: &str,
    escape: char,
) -> Result<Vec<(String, String)>, SyntaxError> {
    let words = words::checked_words(args, escape)?;
    let Some(first) = words.first() else {
        return Err(args_err(kw, AT_LEAST_ONE));
    };
    let blank = || SyntaxError::BlankName {
        instruction: kw.as_str(),
    };
    if !first.contains('=') {
        let (key, value) = words::split_command(args);
        if value.is_empty() {
            return Err(args_err(
                kw,
                "two arguments in the legacy `NAME value` form",
            ));
        }
        return Ok(vec![(key.to_owned(), value.to_owned())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(blank()),
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(SyntaxError::MissingEquals { word: w }),
        })
        .collect()
}

fn parse_from(node: &Node) -> Result<FromSpec, SyntaxError> {
    let words: Vec<&str> = node.args.split_whitespace().collect();
    let alias = match words.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(SyntaxError::InvalidStageName {
                    name,
                    reason: "must start with a letter and hold only letters, digits, '-', '_' and '.'",
                });
            }
            Some(name)
        }
        [] => return Err(args_err(Keyword::From, "an image")),
        _ => {
            return Err(args_err(
                Keyword::From,
                "either one argument, or three: FROM <source> AS <name>",
            ));
        }
    };
    Ok(FromSpec {
        image: words[0].to_owned(),
        platform: node.flag("platform").map(str::to_owned),
        alias,
    })
}

#[cfg(test)]
mod tests;
