//! Dockerfile text to a list of instruction nodes, as BuildKit's parser
//! reads it.
//!
//! - Parser directives (`# syntax=`, `# escape=`, `# check=`) count only at
//!   the very top: the first line that is not a directive (an instruction,
//!   a comment, an empty line) ends them. Each may appear once.
//! - A line ending in the escape token (then optional blanks) continues on
//!   the next; comment lines inside a continuation are dropped and empty
//!   ones are dropped with a warning, as BuildKit does.
//! - Instruction words are case-insensitive; leading `--flags` are split
//!   off and checked against the instruction's flag table.
//! - RUN, COPY and ADD lines in shell form may open heredocs, whose bodies
//!   are the lines that follow.
//!
//! Nothing is expanded here: nodes keep the text as written.

mod heredoc;
mod keyword;
pub(crate) mod words;

use crate::error::{Error, Location, Result, SyntaxError};

pub use heredoc::Heredoc;
pub(crate) use heredoc::sole_marker;
pub(crate) use keyword::distance;
pub use keyword::{FlagKind, Keyword};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dockerfile {
    /// The parser directives at the top.
    pub directives: Directives,
    /// The instructions, in order.
    pub nodes: Vec<Node>,
    /// Things BuildKit accepts but warns about.
    pub warnings: Vec<Warning>,
}

/// Parser directives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Directives {
    /// `# syntax=`: the frontend image the author asked for. Recorded only:
    /// rbox always uses its own frontend.
    pub syntax: Option<String>,
    /// `# escape=`: `\` (default) or `` ` ``.
    pub escape: char,
    /// `# check=`: build-check settings, recorded only.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Self {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Something the syntax accepts but BuildKit warns about (lint rules on
/// the instructions themselves live in [`crate::checks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// Where.
    pub location: Location,
    /// What.
    pub kind: WarningKind,
}

/// The kinds of [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// An empty line inside a line continuation (BuildKit: "will become
    /// errors in a future release").
    EmptyContinuationLine,
}

/// A `--name[=value]` flag of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flag {
    /// Name without dashes.
    pub name: String,
    /// The value after `=`, quotes removed; `None` for a bare `--link`.
    pub value: Option<String>,
    /// Where the flag is.
    pub location: Location,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Node {
    /// The instruction.
    pub keyword: Keyword,
    /// Its flags, in order, checked against [`Keyword::flags`].
    pub flags: Vec<Flag>,
    /// The text after the keyword and flags, continuations joined.
    pub args: String,
    /// Heredoc bodies opened on the line, in order.
    pub heredocs: Vec<Heredoc>,
    /// The whole logical line (continuations joined), for messages.
    pub original: String,
    /// Where the keyword is.
    pub location: Location,
    /// The last line of the instruction, heredoc bodies included.
    pub end_line: usize,
}

impl Node {
    /// The value of a single-valued flag (the last one given).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .and_then(|f| f.value.as_deref())
    }

    /// Every value of a repeatable flag, in order.
    pub fn flag_values(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|f| f.name == name)
            .filter_map(|f| f.value.as_deref())
            .collect()
    }

    /// A boolean flag: present without value, or `=true`.
    pub fn flag_bool(&self, name: &str) -> bool {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .is_some_and(|f| {
                f.value
                    .as_deref()
                    .is_none_or(|v| v.eq_ignore_ascii_case("true"))
            })
    }

    /// The arguments as a JSON array of strings (exec form), if they are one.
    pub fn json_args(&self) -> Option<Vec<String>> {
        words::json_array(&self.args)
    }

    /// An error about this node.
    pub fn error(&self, kind: SyntaxError) -> Error {
        Error::syntax(self.location, &self.original, kind)
    }
}

/// Parses a Dockerfile. Bytes that are not UTF-8 are an error naming the
/// line.
pub fn parse(input: &[u8]) -> Result<Dockerfile> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| {
            let shown = String::from_utf8_lossy(&raw[..e.valid_up_to()]).into_owned();
            Error::syntax(
                Location::new(i + 1, e.valid_up_to() + 1),
                &shown,
                SyntaxError::InvalidUtf8,
            )
        })?;
        lines.push(line);
    }
    // "a\n" splits into ["a", ""]: the last empty piece is not a line.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    Parser::default().run(&lines)
}

/// Parses a Dockerfile held in a string.
pub fn parse_str(input: &str) -> Result<Dockerfile> {
    parse(input.as_bytes())
}

#[derive(Default)]
struct Parser {
    directives: Directives,
    seen: Vec<String>,
    directives_done: bool,
    warnings: Vec<Warning>,
}

impl Parser {
    fn run(mut self, lines: &[&str]) -> Result<Dockerfile> {
        let mut nodes = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let raw = lines[i];
            let line_no = i + 1;
            i += 1;
            self.directive(raw, line_no)?;
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let column = raw[..raw.len() - trimmed.len()].chars().count() + 1;
            let location = Location::new(line_no, column);
            let (first, mut more) = self.trim_continuation(trimmed);
            let mut text = first.to_owned();
            while more && i < lines.len() {
                let next = lines[i];
                i += 1;
                self.directive(next, i)?;
                if next.trim_start().starts_with('#') {
                    continue;
                }
                if next.trim().is_empty() {
                    self.warnings.push(Warning {
                        location: Location::new(i, 1),
                        kind: WarningKind::EmptyContinuationLine,
                    });
                    continue;
                }
                let (part, again) = self.trim_continuation(next);
                text.push_str(part);
                more = again;
            }
            let mut node = node_from_line(&text, location)?;
            node.end_line = i;
            if node.keyword.takes_heredocs() && node.json_args().is_none() {
                let markers = heredoc::markers(&node.args, self.directives.escape)
                    .map_err(|kind| node.error(kind))?;
                for marker in markers {
                    let mut rest = lines[i..].iter().copied();
                    let before = rest.len();
                    let body = heredoc::read_body(&marker, &mut rest).ok_or_else(|| {
                        node.error(SyntaxError::UnterminatedHeredoc {
                            delimiter: marker.name.clone(),
                        })
                    })?;
                    i += before - rest.len();
                    node.heredocs.push(body);
                }
                node.end_line = i;
            }
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(Error::syntax(
                Location::new(lines.len().max(1), 1),
                "",
                SyntaxError::NoInstructions,
            ));
        }
        Ok(Dockerfile {
            directives: self.directives,
            nodes,
            warnings: self.warnings,
        })
    }

    /// Looks at `line` while directives are still possible.
    fn directive(&mut self, line: &str, line_no: usize) -> Result<()> {
        if self.directives_done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.directives_done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.directives_done = true;
            return Ok(());
        }
        let location = Location::new(line_no, 1);
        if self.seen.contains(&key) {
            return Err(Error::syntax(
                location,
                line,
                SyntaxError::DuplicateDirective { name: key },
            ));
        }
        match key.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(Error::syntax(
                            location,
                            line,
                            SyntaxError::InvalidEscapeToken {
                                token: other.to_owned(),
                            },
                        ));
                    }
                }
            }
            "syntax" => self.directives.syntax = Some(value.to_owned()),
            _ => self.directives.check = Some(value.to_owned()),
        }
        self.seen.push(key);
        Ok(())
    }

    /// Strips a trailing escape token (and blanks after it): `(text, true)`
    /// when the line continues.
    fn trim_continuation<'a>(&self, line: &'a str) -> (&'a str, bool) {
        let end = line.trim_end_matches([' ', '\t']);
        match end.strip_suffix(self.directives.escape) {
            Some(text) => (text, true),
            None => (line, false),
        }
    }
}

/// `# key = value` with a key of letters and digits starting with a letter.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(rest.len(), |(i, _)| i);
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// Parses one logical line (continuations already joined) into a node
/// without heredoc bodies. Also used for ONBUILD triggers.
pub(crate) fn node_from_line(text: &str, location: Location) -> Result<Node> {
    let original = text.trim().to_owned();
    let (word, rest) = words::split_command(&original);
    let keyword: Keyword = word.parse().map_err(|()| {
        Error::syntax(
            location,
            &original,
            SyntaxError::UnknownInstruction {
                name: word.to_owned(),
                suggestion: Keyword::suggest(word).map(|k| k.as_str().to_owned()),
            },
        )
    })?;
    let rest_offset = original.len() - rest.len();
    let (raw_flags, args) =
        words::extract_flags(rest).map_err(|kind| Error::syntax(location, &original, kind))?;
    let mut flags: Vec<Flag> = Vec::with_capacity(raw_flags.len());
    for raw in raw_flags {
        let flag_location = Location::new(
            location.line,
            location.column + original[..rest_offset + raw.offset].chars().count(),
        );
        let err = |kind| Error::syntax(flag_location, &original, kind);
        let (name, value) = match raw.word.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (raw.word.clone(), None),
        };
        let Some(&(_, kind)) = keyword.flags().iter().find(|(n, _)| *n == name) else {
            return Err(err(SyntaxError::UnknownFlag {
                flag: name,
                instruction: keyword.as_str(),
            }));
        };
        match (kind, &value) {
            (FlagKind::Bool, Some(v))
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") =>
            {
                return Err(err(SyntaxError::FlagNotBool {
                    flag: name,
                    value: v.clone(),
                }));
            }
            (FlagKind::String | FlagKind::List, None) => {
                return Err(err(SyntaxError::FlagNeedsValue { flag: name }));
            }
            (FlagKind::String, Some(_)) if flags.iter().any(|f| f.name == name) => {
                return Err(err(SyntaxError::DuplicateFlag { flag: name }));
            }
            _ => {}
        }
        flags.push(Flag {
            name,
            value,
            location: flag_location,
        });
    }
    Ok(Node {
        keyword,
        flags,
        args: args.trim().to_owned(),
        heredocs: Vec::new(),
        original,
        location,
        end_line: location.line,
    })
}

#[cfg(test)]
mod tests;
