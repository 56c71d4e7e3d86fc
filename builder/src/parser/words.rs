//! Splitting an instruction's text into its parts without expanding
//! anything: the keyword, the leading `--flags`, JSON arrays, and
//! quote-aware words that keep their quotes (for ENV/LABEL/ARG pairs and
//! heredoc markers, which the expander or the heredoc reader unquote later).

use crate::error::SyntaxError;

/// Splits `line` at the first run of whitespace: `(keyword, rest)`, both
/// trimmed.
pub(crate) fn split_command(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    }
}

/// A `--name[=value]` word found before the arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawFlag {
    /// Without the dashes, quotes removed.
    pub(crate) word: String,
    /// Byte offset of the word in the text given.
    pub(crate) offset: usize,
}

/// Takes the `--flag` words at the start of `args` (quotes removed, `\`
/// quoting the next character as BuildKit does here whatever the escape
/// token), stopping at the first word that does not start with `--` or at
/// a bare `--`. Returns the flags and the untouched rest.
pub(crate) fn extract_flags(args: &str) -> Result<(Vec<RawFlag>, &str), SyntaxError> {
    let mut flags = Vec::new();
    let mut chars = args.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok((flags, ""));
        };
        if !args[start..].starts_with("--") {
            return Ok((flags, &args[start..]));
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
            match c {
                '\'' | '"' => {
                    quoted = true;
                    let quote = c;
                    loop {
                        match chars.next() {
                            None => return Err(SyntaxError::UnterminatedQuote { quote }),
                            Some((_, q)) if q == quote => break,
                            Some((_, '\\')) => {
                                if let Some((_, n)) = chars.next() {
                                    word.push(n);
                                }
                            }
                            Some((_, other)) => word.push(other),
                        }
                    }
                }
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                }
                other => word.push(other),
            }
        }
        if word == "--" && !quoted {
            let rest = chars.peek().map_or("", |&(i, _)| &args[i..]);
            return Ok((flags, rest.trim_start()));
        }
        flags.push(RawFlag {
            word: word.trim_start_matches('-').to_owned(),
            offset: start,
        });
    }
}

/// The JSON exec form: `["a", "b"]`. `None` when the text is not a JSON
/// array of strings, in which case BuildKit (and we) fall back to the
/// shell form.
pub(crate) fn json_array(args: &str) -> Option<Vec<String>> {
    let args = args.trim();
    if !args.starts_with('[') {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(args).ok()?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Words separated by whitespace, quotes kept and respected: `a="b c" d`
/// is `a="b c"`, `d`. The escape token quotes the next character (kept
/// with it) except inside single quotes. An unclosed quote runs to the end
/// (see [`checked_words`] for the strict form).
pub(crate) fn words(text: &str, escape: char) -> Vec<String> {
    split_words(text, escape).0
}

/// [`words`], refusing an unclosed quote: ENV, LABEL and ARG values would
/// fail to expand later anyway, and here the error comes at parse time.
pub(crate) fn checked_words(text: &str, escape: char) -> Result<Vec<String>, SyntaxError> {
    match split_words(text, escape) {
        (words, None) => Ok(words),
        (_, Some(quote)) => Err(SyntaxError::UnterminatedQuote { quote }),
    }
}

/// The words and the quote left open at the end, if any.
fn split_words(text: &str, escape: char) -> (Vec<String>, Option<char>) {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    word.push(c);
                } else if c == escape {
                    // A trailing escape is dropped, as BuildKit does.
                    if let Some(n) = chars.next() {
                        word.push(c);
                        word.push(n);
                    }
                } else {
                    word.push(c);
                }
            }
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some(n) => word.push(n),
                        None => {
                            word.pop();
                        }
                    }
                }
            }
        }
    }
    if in_word {
        out.push(word);
    }
    (out, quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands() {
        assert_eq!(split_command("  RUN   echo  hi "), ("RUN", "echo  hi"));
        assert_eq!(split_command("RUN"), ("RUN", ""));
        assert_eq!(split_command("run\techo"), ("run", "echo"));
    }

    #[test]
    fn extracts_flags() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("--from=a /x /y", &["from=a"], "/x /y"),
            ("--link --chown=1:1 a b", &["link", "chown=1:1"], "a b"),
            (
                "--mount=\"type=cache,target=/x y\" make",
                &["mount=type=cache,target=/x y"],
                "make",
            ),
            ("-- --notaflag x", &[], "--notaflag x"),
            ("a --from=b", &[], "a --from=b"),
            ("--from='a b'", &["from=a b"], ""),
            ("--a\\ b c", &["a b"], "c"),
            ("", &[], ""),
            ("-x y", &[], "-x y"),
        ];
        for (input, want_flags, want_rest) in cases {
            let (flags, rest) = extract_flags(input).expect(input);
            let words: Vec<&str> = flags.iter().map(|f| f.word.as_str()).collect();
            assert_eq!(&words, want_flags, "{input:?}");
            assert_eq!(rest, *want_rest, "{input:?}");
        }
        assert_eq!(
            extract_flags("--from=\"a b"),
            Err(SyntaxError::UnterminatedQuote { quote: '"' })
        );
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            json_array(r#"["a", "b c"]"#),
            Some(vec!["a".into(), "b c".into()])
        );
        assert_eq!(json_array("[]"), Some(vec![]));
        assert_eq!(json_array(r#"["a\u0041\n"]"#), Some(vec!["aA\n".into()]));
        assert_eq!(json_array("[a, b]"), None);
        assert_eq!(json_array(r#"["a", 1]"#), None);
        assert_eq!(json_array(r#"["a"] x"#), None);
        assert_eq!(json_array("echo [a]"), None);
        assert_eq!(json_array(r#"['a']"#), None);
    }

    #[test]
    fn quote_aware_words() {
        let cases: &[(&str, char, &[&str])] = &[
            ("a=b c=d", '\\', &["a=b", "c=d"]),
            ("a=\"b c\" d", '\\', &["a=\"b c\"", "d"]),
            ("a='b \\' c", '\\', &["a='b \\'", "c"]),
            ("a=b\\ c d", '\\', &["a=b\\ c", "d"]),
            ("a=\"b\\\" c\" d", '\\', &["a=\"b\\\" c\"", "d"]),
            ("a=b` c d", '`', &["a=b` c", "d"]),
            ("  ", '\\', &[]),
            ("x\\", '\\', &["x"]),
            ("\"\"", '\\', &["\"\""]),
            ("\"open", '\\', &["\"open"]),
        ];
        for (input, escape, want) in cases {
            assert_eq!(&words(input, *escape), want, "{input:?}");
        }
        assert_eq!(
            checked_words("a='b c", '\\'),
            Err(SyntaxError::UnterminatedQuote { quote: '\'' })
        );
        assert_eq!(
            checked_words("a='b \"c' d", '\\').unwrap(),
            ["a='b \"c'", "d"]
        );
    }
}
