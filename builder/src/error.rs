//! Errors of the builder frontend.
//!
//! Every error about the Dockerfile names where it is (`line:column`, both
//! 1-based) and the instruction's text, cut short so a megabyte line does
//! not become a megabyte message. The kind of syntax error is its own enum
//! ([`SyntaxError`]) so callers and tests can match on it.

use std::fmt;

use crate::expand::ExpandError;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A place in a Dockerfile: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number, from 1.
    pub column: usize,
}

impl Location {
    /// `line:column`.
    pub fn new(line: usize, column: usize) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Instruction text as quoted in messages: first line, at most 80 chars.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    let first = text.lines().next().unwrap_or("").trim();
    if first.chars().count() > MAX {
        let cut: String = first.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        first.to_owned()
    }
}

/// ` (in `text`)`, or nothing for an empty text.
fn quoted(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" (in `{text}`)")
    }
}

/// What is wrong with a Dockerfile line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// Not a Dockerfile instruction.
    #[error("unknown instruction {name}{}", suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownInstruction {
        /// The word found, as written.
        name: String,
        /// The nearest instruction, when it is close.
        suggestion: Option<String>,
    },
    /// A flag the instruction does not take.
    #[error("unknown flag --{flag} for {instruction}")]
    UnknownFlag {
        /// Flag name without dashes.
        flag: String,
        /// The instruction.
        instruction: &'static str,
    },
    /// `--from` with no `=value`.
    #[error("flag --{flag} needs a value")]
    FlagNeedsValue {
        /// Flag name.
        flag: String,
    },
    /// `--link=maybe`.
    #[error("flag --{flag} expects true or false, not {value:?}")]
    FlagNotBool {
        /// Flag name.
        flag: String,
        /// The value given.
        value: String,
    },
    /// A single-valued flag given twice.
    #[error("flag --{flag} given more than once")]
    DuplicateFlag {
        /// Flag name.
        flag: String,
    },
    /// A flag value that does not parse.
    #[error("invalid value {value:?} for --{flag}: {reason}")]
    InvalidFlagValue {
        /// Flag name.
        flag: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Too few or too many arguments.
    #[error("{instruction} requires {expected}")]
    Arguments {
        /// The instruction.
        instruction: &'static str,
        /// What it requires, e.g. "at least two arguments".
        expected: &'static str,
    },
    /// A heredoc whose terminator never came.
    #[error("unterminated heredoc: no line {delimiter:?} before the end of the file")]
    UnterminatedHeredoc {
        /// The delimiter word.
        delimiter: String,
    },
    /// `<<"EOF'`: a heredoc delimiter with mismatched quotes.
    #[error("quoted heredoc quotes do not match in {word:?}")]
    InvalidHeredoc {
        /// The word.
        word: String,
    },
    /// A quote never closed in a flag, ENV or LABEL word.
    #[error("unterminated quote {quote}")]
    UnterminatedQuote {
        /// The quote character.
        quote: char,
    },
    /// `# escape=` with something other than `\` or `` ` ``.
    #[error("invalid escape token {token:?}: use ` or \\")]
    InvalidEscapeToken {
        /// The value given.
        token: String,
    },
    /// The same parser directive twice.
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective {
        /// The directive.
        name: String,
    },
    /// A file with no instruction at all.
    #[error("file with no instructions")]
    NoInstructions,
    /// Bytes that are not UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// ENV/LABEL `key=value` form with a word lacking `=`.
    #[error("can't find = in {word:?}: must be of the form name=value")]
    MissingEquals {
        /// The word.
        word: String,
    },
    /// An empty name in ENV, LABEL or ARG.
    #[error("{instruction} names can not be blank")]
    BlankName {
        /// The instruction.
        instruction: &'static str,
    },
    /// ONBUILD of ONBUILD, FROM or MAINTAINER.
    #[error("{instruction} isn't allowed as an ONBUILD trigger")]
    OnbuildForbidden {
        /// The trigger instruction.
        instruction: &'static str,
    },
    /// SHELL in shell form.
    #[error("SHELL requires the arguments to be in JSON form")]
    ShellNotJson,
    /// `FROM image AS` with a bad name, or `FROM a b c`.
    #[error("invalid stage name {name:?}: {reason}")]
    InvalidStageName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `--mount` specification that does not parse.
    #[error("invalid --mount {spec:?}: {reason}")]
    InvalidMount {
        /// The specification.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// HEALTHCHECK with an unknown type or a bad option.
    #[error("invalid HEALTHCHECK: {reason}")]
    InvalidHealthcheck {
        /// What is wrong.
        reason: String,
    },
}

/// Errors of the builder frontend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Dockerfile does not parse.
    #[error("dockerfile line {location}: {kind}{}", quoted(instruction))]
    Syntax {
        /// Where.
        location: Location,
        /// The instruction's text (shortened).
        instruction: String,
        /// What is wrong.
        kind: SyntaxError,
    },
    /// A word of an instruction could not be expanded.
    #[error("dockerfile line {location}: cannot expand {word:?} (in `{instruction}`)")]
    Expand {
        /// Where.
        location: Location,
        /// The instruction's text (shortened).
        instruction: String,
        /// The word.
        word: String,
        /// Why.
        #[source]
        source: ExpandError,
    },
    /// `--target` or `--from` names no stage.
    #[error("target stage {name:?} could not be found")]
    UnknownTarget {
        /// The name given.
        name: String,
    },
    /// An instruction other than ARG before the first FROM.
    #[error(
        "dockerfile line {location}: no build stage in current context: `{instruction}` comes before the first FROM"
    )]
    BeforeFrom {
        /// Where.
        location: Location,
        /// The instruction's text (shortened).
        instruction: String,
    },
    /// Only ARGs, no FROM.
    #[error("dockerfile has no FROM: no stage to build")]
    NoStage,
    /// Two stages share a name.
    #[error("dockerfile line {location}: duplicate stage name {name:?}")]
    DuplicateStage {
        /// The second definition.
        location: Location,
        /// The name.
        name: String,
    },
    /// A stage refers to itself or a later stage.
    #[error(
        "dockerfile line {location}: stage {stage:?} refers to {reference:?}, which is not an earlier stage"
    )]
    StageCycle {
        /// Where the reference is.
        location: Location,
        /// The referring stage.
        stage: String,
        /// What it refers to.
        reference: String,
    },
    /// A `.dockerignore` line that is not a valid pattern.
    #[error(".dockerignore line {line}: invalid pattern {pattern:?}: {reason}")]
    IgnorePattern {
        /// 1-based line.
        line: usize,
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `--build-arg` without a name.
    #[error("invalid build argument {arg:?}: expected NAME=VALUE or NAME")]
    BuildArg {
        /// The text given.
        arg: String,
    },
}

impl Error {
    pub(crate) fn syntax(location: Location, instruction: &str, kind: SyntaxError) -> Self {
        Self::Syntax {
            location,
            instruction: excerpt(instruction),
            kind,
        }
    }
}
