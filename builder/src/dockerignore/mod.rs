//! `.dockerignore` (and `COPY --exclude`) patterns with Docker's exact
//! semantics, after moby/patternmatcher:
//!
//! - Lines starting with `#` in the first column are comments; lines are
//!   trimmed; a leading `!` makes an exception (re-include).
//! - Patterns are cleaned like Go's `filepath.Clean` (`./a//b/` is `a/b`)
//!   and a leading `/` is dropped: everything is relative to the context.
//! - `*` is any run of non-`/` characters, `?` one non-`/` character,
//!   `[...]` a character class, `\` quotes the next character, `**` any
//!   number of directories (`**/` also none).
//! - The last pattern that matches decides. A pattern that matches a
//!   parent directory matches everything under it, so `!dir/keep` after
//!   `dir` re-includes `dir/keep`.
//!
//! Matching runs a small position-set automaton, linear in the path length
//! times the pattern length whatever the pattern. The tests check it
//! against a regex rewrite of patternmatcher. One deliberate difference:
//! patternmatcher hands a `^` outside brackets to its regex as an anchor,
//! so `a^*` can never match; here (as in Go's `filepath.Match`) it is a
//! plain character.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run without `/`.
    Star,
    /// `**` at the end: anything at all.
    AnyStar,
    /// `**` followed by more: `(.*/)?`.
    Dirs,
    /// `[...]` (regex semantics: may match `/`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// No wildcard: the whole path.
    Exact(String),
    /// `prefix**`.
    Prefix(String),
    /// `**rest`, rest without wildcards.
    Suffix(String),
    Tokens(Vec<Token>),
}

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    /// The cleaned pattern, without `!`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is a `!` exception.
    pub fn is_exception(&self) -> bool {
        self.exclusion
    }

    fn compile(raw: &str) -> Result<Self, &'static str> {
        let mut p = raw.trim();
        let exclusion = p.starts_with('!');
        if exclusion {
            p = p[1..].trim();
            if p.is_empty() {
                return Err("illegal exclusion pattern \"!\"");
            }
        }
        let mut text = clean(p);
        if text.len() > 1 && text.starts_with('/') {
            text.remove(0);
        }
        check_go_syntax(&text)?;
        let kind = compile_kind(&text);
        Ok(Self {
            text,
            exclusion,
            kind,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact(s) => path == s,
            Kind::Prefix(s) => path.starts_with(s.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Tokens(tokens) => run(tokens, path).1,
        }
    }

    /// Whether the pattern matches `path` or one of its parent directories.
    fn matches_path_or_parent(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact(s) => {
                path == s
                    || (path.len() > s.len()
                        && path.as_bytes()[s.len()] == b'/'
                        && path.starts_with(s.as_str()))
            }
            // A parent starting with the prefix means the path does too.
            Kind::Prefix(s) => path.starts_with(s.as_str()),
            Kind::Suffix(_) => {
                self.matches(path) || ancestors(path).any(|parent| self.matches(parent))
            }
            Kind::Tokens(tokens) => {
                let (_, whole, parent) = run_with_parents(tokens, path);
                whole || parent
            }
        }
    }

    /// Whether some path starting with `prefix` (a directory with a
    /// trailing `/`) might match. Conservative: never false when one can.
    fn may_match_below(&self, prefix: &str) -> bool {
        match &self.kind {
            Kind::Exact(s) => s.starts_with(prefix),
            Kind::Prefix(s) => s.starts_with(prefix) || prefix.starts_with(s.as_str()),
            Kind::Suffix(_) => true,
            Kind::Tokens(tokens) => run(tokens, prefix).0,
        }
    }
}

/// Mirrors patternmatcher's compile: which fast path a pattern takes
/// decides its meaning in corner cases (`**foo` matches `afoo`), so they
/// are kept.
fn compile_kind(text: &str) -> Kind {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut detected = Detected::Exact;
    let mut i = 0;
    while i < chars.len() {
        let first = i == 0;
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        detected = Detected::Regex;
                    }
                    tokens.push(Token::AnyStar);
                } else {
                    tokens.push(Token::Dirs);
                    detected = Detected::Regex;
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                detected = Detected::Regex;
            }
            '?' => {
                tokens.push(Token::One);
                detected = Detected::Regex;
            }
            '\\' => match chars.get(i) {
                Some(&n) => {
                    i += 1;
                    tokens.push(Token::Literal(n));
                    detected = Detected::Regex;
                }
                None => tokens.push(Token::Literal('\\')),
            },
            '[' => {
                let (token, next) = parse_class(&chars, i);
                tokens.push(token);
                i = next;
                detected = Detected::Regex;
            }
            other => tokens.push(Token::Literal(other)),
        }
    }
    match detected {
        Detected::Exact => Kind::Exact(text.to_owned()),
        Detected::Prefix => Kind::Prefix(text[..text.len() - 2].to_owned()),
        Detected::Suffix => Kind::Suffix(text[2..].to_owned()),
        Detected::Regex => Kind::Tokens(tokens),
    }
}

/// A class starting after `[` at `i` (syntax already checked).
fn parse_class(chars: &[char], mut i: usize) -> (Token, usize) {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let esc = |i: &mut usize| -> char {
        let mut c = chars.get(*i).copied().unwrap_or(']');
        if c == '\\' {
            *i += 1;
            c = chars.get(*i).copied().unwrap_or('\\');
        }
        *i += 1;
        c
    };
    while i < chars.len() && chars[i] != ']' {
        let lo = esc(&mut i);
        let hi = if chars.get(i) == Some(&'-') && chars.get(i + 1) != Some(&']') {
            i += 1;
            esc(&mut i)
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    (Token::Class { negated, ranges }, i + 1)
}

/// Go's `filepath.Match` syntax check: classes closed and not empty, no
/// `-` or `]` where a character is expected, no trailing `\`.
fn check_go_syntax(p: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let bad = "syntax error in pattern";
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(bad);
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut n = 0;
                loop {
                    match chars.get(i) {
                        None => return Err(bad),
                        Some(']') if n > 0 => {
                            i += 1;
                            break;
                        }
                        _ => {}
                    }
                    let char_at = |i: &mut usize| -> Result<(), &'static str> {
                        match chars.get(*i) {
                            None | Some('-' | ']') => Err(bad),
                            Some('\\') => {
                                if *i + 1 >= chars.len() {
                                    return Err(bad);
                                }
                                *i += 2;
                                Ok(())
                            }
                            Some(_) => {
                                *i += 1;
                                Ok(())
                            }
                        }
                    };
                    char_at(&mut i)?;
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        char_at(&mut i)?;
                    }
                    n += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Runs the automaton over `text`: (some state still alive, accepted).
fn run(tokens: &[Token], text: &str) -> (bool, bool) {
    let (alive, accepted, _) = run_with_parents(tokens, text);
    (alive, accepted)
}

/// Like [`run`], also telling whether a parent directory of `text` (a
/// prefix ending before a `/`) was accepted: one pass serves the
/// "pattern matches a parent" rule.
fn run_with_parents(tokens: &[Token], text: &str) -> (bool, bool, bool) {
    let mut parent = false;
    let m = tokens.len();
    // State k: k tokens matched. `inside[k]`: within a Dirs group at k.
    let mut at = vec![false; m + 1];
    let mut inside = vec![false; m + 1];
    at[0] = true;
    close(tokens, &mut at);
    for (i, c) in text.chars().enumerate() {
        if c == '/' && i > 0 && at[m] {
            parent = true;
        }
        let mut next = vec![false; m + 1];
        let mut next_inside = vec![false; m + 1];
        for k in 0..m {
            if !(at[k] || inside[k]) {
                continue;
            }
            match &tokens[k] {
                Token::Dirs => {
                    next_inside[k] = true;
                    if c == '/' {
                        next[k + 1] = true;
                    }
                }
                _ if !at[k] => {}
                Token::Literal(l) => next[k + 1] |= *l == c,
                Token::One => next[k + 1] |= c != '/',
                Token::Star => next[k] |= c != '/',
                Token::AnyStar => next[k] = true,
                Token::Class { negated, ranges } => {
                    let hit = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
                    next[k + 1] |= hit != *negated;
                }
            }
        }
        close(tokens, &mut next);
        at = next;
        inside = next_inside;
        if !at.iter().chain(inside.iter()).any(|s| *s) {
            return (false, false, parent);
        }
    }
    (true, at[m], parent)
}

/// Tokens that can match nothing let the next state start here too.
fn close(tokens: &[Token], at: &mut [bool]) {
    for k in 0..tokens.len() {
        if at[k] && matches!(tokens[k], Token::Star | Token::AnyStar | Token::Dirs) {
            at[k + 1] = true;
        }
    }
}

/// Go's `path.Clean` for slash-separated paths.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// A list of patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Reads a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            patterns.push(
                Pattern::compile(line).map_err(|reason| Error::IgnorePattern {
                    line: i + 1,
                    pattern: line.trim().to_owned(),
                    reason,
                })?,
            );
        }
        Ok(Self { patterns })
    }

    /// Builds a matcher from patterns (`COPY --exclude`); empty ones are
    /// skipped. Errors name the pattern's position from 1.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self> {
        let mut out = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let p = p.as_ref();
            if p.trim().is_empty() {
                continue;
            }
            out.push(Pattern::compile(p).map_err(|reason| Error::IgnorePattern {
                line: i + 1,
                pattern: p.to_owned(),
                reason,
            })?);
        }
        Ok(Self { patterns: out })
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is a `!` exception.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    /// The context root itself never is.
    pub fn matches(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            // An include pattern cannot change an excluded path, nor an
            // exception a path that is not excluded.
            if p.exclusion != excluded {
                continue;
            }
            if p.matches_path_or_parent(&path) {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether an exception could re-include something beneath `dir`. A
    /// walk may skip an excluded directory when this is false.
    pub fn could_match_under(&self, dir: &str) -> bool {
        let dir = clean(dir);
        let prefix = if dir == "." {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| p.may_match_below(&prefix) || p.matches_path_or_parent(&dir))
    }

    /// Whether a walk can skip `dir` and everything in it.
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        self.matches(dir) && !self.could_match_under(dir)
    }
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .filter(|(i, _)| *i > 0)
        .map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests;
