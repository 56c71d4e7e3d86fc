//! The small shell pattern language of `${VAR#pat}`, `${VAR%pat}` and
//! `${VAR/pat/repl}`: `*` (any run of characters), `?` (one character) and
//! `\` quoting `*`, `?`, `\`, `}` and `/`. Bracket expressions are not part
//! of it, as in BuildKit.
//!
//! Matching runs a position-set automaton over the value, so finding every
//! matching prefix costs O(len(value) * len(pattern)) whatever the pattern:
//! a hostile `${X##*a*a*a*b}` cannot make it backtrack exponentially.

use super::ExpandError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Literal(char),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `text`; an escape other than the five above is refused, as
    /// BuildKit does, so a typo does not silently match something else.
    pub(crate) fn compile(text: &str) -> Result<Self, ExpandError> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '\\' => match chars.peek().copied() {
                    // `\}` and `\/` only protected the character from the
                    // `${}` syntax: the next loop turn takes it literally.
                    Some('}' | '/') => {}
                    Some(n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        tokens.push(Token::Literal(n));
                    }
                    other => {
                        return Err(ExpandError::InvalidPattern {
                            pattern: text.to_owned(),
                            reason: match other {
                                Some(n) => format!("invalid escape '\\{n}'"),
                                None => "trailing escape".to_owned(),
                            },
                        });
                    }
                },
                other => tokens.push(Token::Literal(other)),
            }
        }
        Ok(Self { tokens })
    }

    fn reversed(&self) -> Self {
        let mut tokens = self.tokens.clone();
        tokens.reverse();
        Self { tokens }
    }

    /// Lengths (in chars) of every prefix of `value` the whole pattern
    /// matches, shortest first.
    fn prefix_lengths(&self, value: &[char]) -> Vec<usize> {
        let m = self.tokens.len();
        let mut active = vec![false; m + 1];
        active[0] = true;
        self.close(&mut active);
        let mut found = Vec::new();
        if active[m] {
            found.push(0);
        }
        for (i, &c) in value.iter().enumerate() {
            let mut next = vec![false; m + 1];
            let mut any = false;
            for k in 0..m {
                if !active[k] {
                    continue;
                }
                match self.tokens[k] {
                    Token::Star => next[k] = true,
                    Token::Any => next[k + 1] = true,
                    Token::Literal(l) if l == c => next[k + 1] = true,
                    Token::Literal(_) => {}
                }
                any = true;
            }
            if !any {
                break;
            }
            self.close(&mut next);
            active = next;
            if active[m] {
                found.push(i + 1);
            }
        }
        found
    }

    /// A star may match nothing, so the state after it is live too.
    fn close(&self, active: &mut [bool]) {
        for k in 0..self.tokens.len() {
            if active[k] && self.tokens[k] == Token::Star {
                active[k + 1] = true;
            }
        }
    }
}

/// `${VAR#pat}` (shortest) and `${VAR##pat}` (longest).
pub(crate) fn trim_prefix(value: &str, pattern: &Pattern, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let lengths = pattern.prefix_lengths(&chars);
    let cut = if longest {
        lengths.last()
    } else {
        lengths.first()
    };
    match cut {
        Some(&n) => chars[n..].iter().collect(),
        None => value.to_owned(),
    }
}

/// `${VAR%pat}` (shortest) and `${VAR%%pat}` (longest): a prefix trim of
/// the reversed value with the reversed pattern.
pub(crate) fn trim_suffix(value: &str, pattern: &Pattern, longest: bool) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    chars.reverse();
    let lengths = pattern.reversed().prefix_lengths(&chars);
    let cut = if longest {
        lengths.last()
    } else {
        lengths.first()
    };
    match cut {
        Some(&n) => {
            let mut kept: Vec<char> = chars[n..].to_vec();
            kept.reverse();
            kept.into_iter().collect()
        }
        None => value.to_owned(),
    }
}

/// `${VAR/pat/repl}` and `${VAR//pat/repl}`: the leftmost match, longest at
/// that position (BuildKit compiles the pattern to a greedy regex).
pub(crate) fn replace(value: &str, pattern: &Pattern, replacement: &str, all: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut pos = 0;
    let mut replaced = false;
    let mut prev_end = None;
    while pos <= chars.len() {
        let longest = if replaced && !all {
            None
        } else {
            // Go's regexp allows no empty match right where the previous
            // match ended: `.*` on "ab" replaces once, not twice.
            pattern
                .prefix_lengths(&chars[pos..])
                .last()
                .copied()
                .filter(|&n| n > 0 || prev_end != Some(pos))
        };
        match longest {
            Some(n) => {
                out.push_str(replacement);
                replaced = true;
                prev_end = Some(pos + n);
                if n == 0 {
                    // An empty match must still move on, as Go's regexp does.
                    if let Some(&c) = chars.get(pos) {
                        out.push(c);
                    }
                    pos += 1;
                } else {
                    pos += n;
                }
            }
            None => {
                if let Some(&c) = chars.get(pos) {
                    out.push(c);
                }
                pos += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::compile(s).expect("valid pattern")
    }

    #[test]
    fn trims() {
        let cases = [
            ("abcabc", "a*c", false, false, "abc"),
            ("abcabc", "a*c", true, false, ""),
            ("abcabc", "a*c", false, true, "abc"),
            ("abcabc", "a*c", true, true, ""),
            ("abcabc", "b*", true, true, "a"),
            ("/usr/local/bin", "*/", true, false, "bin"),
            ("/usr/local/bin", "/*", false, true, "/usr/local"),
            ("file.tar.gz", ".*", false, true, "file.tar"),
            ("file.tar.gz", ".*", true, true, "file"),
            ("abc", "x", false, false, "abc"),
            ("a*b", "a\\*", false, false, "b"),
            ("abc", "?", false, false, "bc"),
            ("", "*", true, false, ""),
        ];
        for (value, pat, longest, suffix, want) in cases {
            let got = if suffix {
                trim_suffix(value, &p(pat), longest)
            } else {
                trim_prefix(value, &p(pat), longest)
            };
            assert_eq!(got, want, "{value} {pat} longest={longest} suffix={suffix}");
        }
    }

    #[test]
    fn replaces() {
        assert_eq!(replace("a-b-c", &p("-"), "_", false), "a_b-c");
        assert_eq!(replace("a-b-c", &p("-"), "_", true), "a_b_c");
        assert_eq!(replace("abcabc", &p("b*"), "X", false), "aX");
        assert_eq!(replace("abc", &p("x"), "X", true), "abc");
        assert_eq!(replace("ab", &p("*"), "X", true), "X");
    }

    #[test]
    fn bad_escape_is_refused() {
        assert!(Pattern::compile("a\\b").is_err());
        assert!(Pattern::compile("a\\").is_err());
        assert!(Pattern::compile("a\\}").is_ok());
    }

    #[test]
    fn hostile_pattern_is_linear() {
        let value = "a".repeat(20_000);
        let got = trim_prefix(&value, &p("*a*a*a*a*a*b"), true);
        assert_eq!(got.len(), value.len());
    }
}

/// BuildKit's regex translation of these patterns, rewritten on the regex
/// crate, as the reference for a differential test.
#[cfg(test)]
mod differential {
    use super::*;

    fn tokens(pattern: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                let mut t = String::from('\\');
                t.extend(chars.next());
                out.push(t);
            } else {
                out.push(c.to_string());
            }
        }
        out
    }

    fn to_regex(pattern: &str, greedy: bool, anchored: bool) -> regex::Regex {
        let mut re = String::from(if anchored { "^" } else { "" });
        for t in tokens(pattern) {
            match t.as_str() {
                "*" => re.push_str(if greedy { "(?s:.*)" } else { "(?s:.*?)" }),
                "?" => re.push_str("(?s:.)"),
                "\\}" | "\\/" => re.push_str(&regex::escape(&t[1..])),
                _ if t.starts_with('\\') => re.push_str(&regex::escape(&t[1..])),
                other => re.push_str(&regex::escape(other)),
            }
        }
        regex::Regex::new(&re).expect("reference regex")
    }

    fn trim_with(re: &regex::Regex, value: &str) -> String {
        match re.find(value) {
            Some(m) => value[m.end()..].to_owned(),
            None => value.to_owned(),
        }
    }

    /// The regexes BuildKit would build for one pattern.
    struct Reference {
        /// `#`, `##`.
        prefix: [regex::Regex; 2],
        /// `%`, `%%` (on the reversed pattern, applied to reversed values).
        suffix: [regex::Regex; 2],
        /// `/`, `//`.
        replace: regex::Regex,
    }

    impl Reference {
        fn new(pattern: &str) -> Self {
            let mut t = tokens(pattern);
            t.reverse();
            let reversed: String = t.concat();
            Self {
                prefix: [
                    to_regex(pattern, false, true),
                    to_regex(pattern, true, true),
                ],
                suffix: [
                    to_regex(&reversed, false, true),
                    to_regex(&reversed, true, true),
                ],
                replace: to_regex(pattern, true, false),
            }
        }

        fn trim_prefix(&self, value: &str, longest: bool) -> String {
            trim_with(&self.prefix[usize::from(longest)], value)
        }

        fn trim_suffix(&self, value: &str, longest: bool) -> String {
            let reversed: String = value.chars().rev().collect();
            trim_with(&self.suffix[usize::from(longest)], &reversed)
                .chars()
                .rev()
                .collect()
        }

        fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
            let r = regex::NoExpand(replacement);
            if all {
                self.replace.replace_all(value, r).into_owned()
            } else {
                self.replace.replace(value, r).into_owned()
            }
        }
    }

    #[test]
    fn agrees_with_the_regex_reference() {
        let pattern_pieces = ["a", "b", "*", "?", "\\*", "/", "x", ".", "ab", "\\\\"];
        let value_pieces = ["a", "b", "x", "/", "*", ".", "ab", "\\"];
        let mut fuzz = crate::fuzz::Fuzz::new(0xbad_5eed);
        let mut compared = 0;
        for _ in 0..400 {
            let text = String::from_utf8(fuzz.pieces(&pattern_pieces, 4)).unwrap_or_default();
            let Ok(pattern) = Pattern::compile(&text) else {
                continue;
            };
            let reference = Reference::new(&text);
            for _ in 0..20 {
                let value = String::from_utf8(fuzz.pieces(&value_pieces, 7)).unwrap_or_default();
                for longest in [false, true] {
                    assert_eq!(
                        trim_prefix(&value, &pattern, longest),
                        reference.trim_prefix(&value, longest),
                        "${{V#{text}}} longest={longest} V={value:?}"
                    );
                    assert_eq!(
                        trim_suffix(&value, &pattern, longest),
                        reference.trim_suffix(&value, longest),
                        "${{V%{text}}} longest={longest} V={value:?}"
                    );
                    assert_eq!(
                        replace(&value, &pattern, "R", longest),
                        reference.replace(&value, "R", longest),
                        "${{V/{text}/R}} all={longest} V={value:?}"
                    );
                    compared += 3;
                }
            }
        }
        assert!(compared > 30_000, "{compared}");
    }
}
