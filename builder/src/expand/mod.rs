//! Variable expansion and word splitting, as BuildKit's `shell.Lex` does it.
//!
//! The frontend expands `$VAR`, `${VAR}` and the modifiers `:-` `-` `:+`
//! `+` `:?` `?` `#` `##` `%` `%%` `/` `//` in the arguments of ADD, COPY,
//! ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and the
//! instruction flags; it never expands RUN, CMD, ENTRYPOINT or SHELL (the
//! shell in the container does). Quotes are removed: `'...'` is literal,
//! `"..."` expands `$` and lets the escape token quote `"`, `$` and itself.
//! Outside quotes the escape token quotes any character.
//!
//! There is no command substitution, arithmetic or globbing: `$(` stays as
//! text, as in BuildKit. Unset variables expand to nothing.

mod pattern;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// A quote was opened and never closed.
    #[error("unexpected end of statement while looking for matching {quote}")]
    UnterminatedQuote {
        /// The quote (or closing character) that was expected.
        quote: char,
    },
    /// `${` with no closing `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:x}`, `${{x}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${NAME/pat` without the second `/`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${NAME?msg}` or `${NAME:?msg}` with the variable unset (or empty).
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message given, or the default one.
        message: String,
    },
    /// A modifier this lexer (and BuildKit) does not know, such as `${A=b}`.
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The modifier text.
        modifier: String,
    },
    /// `${A:-${B:-...}}` nested deeper than [`MAX_NESTING`].
    #[error("substitutions nested deeper than {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A `#`, `%` or `/` pattern with a bad escape.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern text.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How deep `${...}` may nest: real Dockerfiles use two or three levels;
/// the limit keeps hostile input from exhausting the stack.
pub const MAX_NESTING: usize = 100;

/// Where the lexer reads variables from.
pub trait Vars {
    /// The value of `name`, `None` when unset (set-but-empty is `Some("")`).
    fn var(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Vars for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Vars for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An ordered environment; the last entry for a name wins, as in an image
/// config's `Env` list.
impl Vars for [(String, String)] {
    fn var(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Vars for Vec<(String, String)> {
    fn var(&self, name: &str) -> Option<&str> {
        self.as_slice().var(name)
    }
}

/// The result of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expanded {
    /// The word with variables substituted and quotes removed, keeping
    /// whitespace (single-word processing: ENV values, WORKDIR, ...).
    pub text: String,
    /// The same split into words on unquoted whitespace, where whitespace
    /// that came out of a variable splits too (EXPOSE).
    pub words: Vec<String>,
    /// Variables referenced and set: what the result depends on.
    pub used: BTreeSet<String>,
    /// Variables referenced but unset, except where a `-`, `+` or `?`
    /// modifier shows the author expected them to be unset (`${X:-d}`):
    /// candidates for an "undefined variable" warning.
    pub unset: BTreeSet<String>,
}

/// A shell-word lexer with a Dockerfile escape token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    process_quotes: bool,
}

impl Default for Lexer {
    fn default() -> Self {
        Self::new('\\')
    }
}

impl Lexer {
    /// A lexer for a Dockerfile whose escape token is `escape` (`\` or `` ` ``).
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            process_quotes: true,
        }
    }

    /// Leave quotes as text: how heredoc bodies with an unquoted delimiter
    /// are expanded (`COPY <<EOF`), where `'` is just a character.
    pub fn without_quote_processing(mut self) -> Self {
        self.process_quotes = false;
        self
    }

    /// The escape token.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word` against `vars`.
    pub fn expand<V: Vars + ?Sized>(&self, word: &str, vars: &V) -> Result<Expanded, ExpandError> {
        let mut scan = Scan {
            lexer: *self,
            chars: word.chars().collect(),
            pos: 0,
            depth: 0,
            vars,
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
        };
        let (text, words) = scan.until(None, false)?;
        Ok(Expanded {
            text,
            words,
            used: scan.used,
            unset: scan.unset,
        })
    }

    /// Single-word processing: the expanded text, whitespace kept.
    pub fn expand_word<V: Vars + ?Sized>(
        &self,
        word: &str,
        vars: &V,
    ) -> Result<String, ExpandError> {
        self.expand(word, vars).map(|e| e.text)
    }

    /// List processing: the expanded words.
    pub fn expand_words<V: Vars + ?Sized>(
        &self,
        word: &str,
        vars: &V,
    ) -> Result<Vec<String>, ExpandError> {
        self.expand(word, vars).map(|e| e.words)
    }
}

/// Collects words: whitespace produced by unquoted text or by a variable
/// ends a word; quoted text never does, and `""` alone makes no word.
#[derive(Default)]
struct Words {
    word: String,
    in_word: bool,
    words: Vec<String>,
}

impl Words {
    fn push_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.push_raw_char(c);
        }
    }

    fn push_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push_char(c));
    }

    fn push_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Scan<'a, V: Vars + ?Sized> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    vars: &'a V,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
}

impl<V: Vars + ?Sized> Scan<'_, V> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.vars.var(name) {
            Some(v) => {
                self.used.insert(name.to_owned());
                Some(v.to_owned())
            }
            None => {
                self.unset.insert(name.to_owned());
                None
            }
        }
    }

    /// Processes up to `stop` (consumed) or the end. `raw_escapes` keeps
    /// escape tokens in the text, for patterns that interpret them later.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut text = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((text, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    text.push_str(&value);
                    words.push_str(&value);
                }
                '\'' if self.lexer.process_quotes => {
                    let value = self.single_quoted()?;
                    text.push_str(&value);
                    words.push_raw_str(&value);
                }
                '"' if self.lexer.process_quotes => {
                    let value = self.double_quoted(raw_escapes)?;
                    text.push_str(&value);
                    words.push_raw_str(&value);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if raw_escapes {
                            words.push_raw_char(c);
                            text.push(c);
                        }
                        let Some(quoted) = self.next() else { break };
                        words.push_raw_char(quoted);
                        text.push(quoted);
                    } else {
                        words.push_char(c);
                        text.push(c);
                    }
                }
            }
        }
        match stop {
            Some(quote) => Err(ExpandError::UnterminatedQuote { quote }),
            None => Ok((text, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedQuote { quote: '\'' }),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedQuote { quote: '"' }),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(c) => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            // A lone escape at the very end is dropped; the
                            // missing quote is reported next turn.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                self.pos += 1;
                                out.push(n);
                            }
                            // Any other escape stays literal inside "...".
                            Some(_) => {
                                if !raw_escapes {
                                    out.push(c);
                                }
                            }
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')) => {
                self.pos += 1;
                name.push(c);
                return name;
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
            name.push(c);
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        if self.depth >= MAX_NESTING {
            return Err(ExpandError::TooDeep { limit: MAX_NESTING });
        }
        self.depth += 1;
        let result = self.braced();
        self.depth -= 1;
        result
    }

    /// `${...}` after the brace.
    fn braced(&mut self) -> Result<String, ExpandError> {
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut modifier) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        let mut modifier_text = modifier.to_string();
        let mut null_is_unset = false;
        match modifier {
            '}' => return Ok(self.lookup(&name).unwrap_or_default()),
            '/' => return self.replace(&name),
            ':' => {
                null_is_unset = true;
                let Some(m) = self.next() else {
                    return Err(ExpandError::MissingBrace);
                };
                modifier = m;
                modifier_text.push(m);
            }
            '+' | '-' | '?' | '#' | '%' => {}
            _ => {
                return Err(ExpandError::UnsupportedModifier {
                    modifier: modifier_text,
                });
            }
        }
        let raw = modifier == '#' || modifier == '%';
        let word = self.word_until_brace(raw)?;
        // `${X:-d}` and friends anticipate an unset X; `#`, `%` do not.
        let value = if raw {
            self.lookup(&name)
        } else {
            let already = self.unset.contains(&name);
            let v = self.lookup(&name);
            if !already {
                self.unset.remove(&name);
            }
            v
        };
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match modifier {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' => match value {
                Some(v) if !unset => Ok(v),
                other => {
                    let message = if !word.is_empty() {
                        word
                    } else if other.is_none() {
                        "is not allowed to be unset".to_owned()
                    } else {
                        "is not allowed to be empty".to_owned()
                    };
                    Err(ExpandError::Required { name, message })
                }
            },
            '#' | '%' => {
                let (longest, pat) = match word.strip_prefix(modifier) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let pat = pattern::Pattern::compile(pat)?;
                let value = value.unwrap_or_default();
                Ok(if modifier == '%' {
                    pattern::trim_suffix(&value, &pat, longest)
                } else {
                    pattern::trim_prefix(&value, &pat, longest)
                })
            }
            _ => Err(ExpandError::UnsupportedModifier {
                modifier: modifier_text,
            }),
        }
    }

    fn word_until_brace(&mut self, raw: bool) -> Result<String, ExpandError> {
        match self.until(Some('}'), raw) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(ExpandError::MissingBrace),
            Err(e) => Err(e),
        }
    }

    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pat = match self.until(Some('/'), true) {
            Ok((p, _)) => p,
            Err(_) if self.peek().is_none() => return Err(ExpandError::MissingSlash),
            Err(e) => return Err(e),
        };
        let replacement = self.word_until_brace(true)?;
        let value = self.lookup(name).unwrap_or_default();
        let pat = pattern::Pattern::compile(&pat)?;
        Ok(pattern::replace(&value, &pat, &replacement, all))
    }
}

#[cfg(test)]
mod tests;
