//! Heredocs (`RUN <<EOF`, `COPY <<EOF /file`), as BuildKit's Dockerfile
//! 1.4 syntax has them.
//!
//! A word of a RUN, COPY or ADD line of the form `[fd]<<[-]NAME` opens a
//! heredoc; several on one line are read one after the other from the
//! lines that follow the instruction. `<<-` strips leading tabs from the
//! body and the terminator; a quoted (or escaped) name means the body is
//! not expanded.

use super::words;
use crate::error::SyntaxError;

/// A heredoc body attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The body: every line with its `\n`, without the terminator.
    pub content: String,
    /// False when the delimiter was quoted: the body is used verbatim.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
    /// `3<<EOF`: the file descriptor the body feeds (stdin when `None`).
    pub fd: Option<u32>,
}

/// A heredoc opener found on an instruction line, body not read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub(crate) name: String,
    pub(crate) expand: bool,
    pub(crate) chomp: bool,
    pub(crate) fd: Option<u32>,
}

/// The heredoc openers among the words of `args`. `<<"EOF'` is an error,
/// as in BuildKit.
pub(crate) fn markers(args: &str, escape: char) -> Result<Vec<Marker>, SyntaxError> {
    let mut out = Vec::new();
    for word in words::words(args, escape) {
        if let Some(m) = marker(&word, escape) {
            out.push(m?);
        }
    }
    Ok(out)
}

/// Whether `text` is nothing but one heredoc opener (`RUN <<EOF`): then
/// the body is the whole command.
pub(crate) fn sole_marker(text: &str, escape: char) -> bool {
    match words::words(text, escape).as_slice() {
        [word] => matches!(marker(word, escape), Some(Ok(_))),
        _ => false,
    }
}

fn marker(word: &str, escape: char) -> Option<Result<Marker, SyntaxError>> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (fd, rest) = word.split_at(digits);
    let rest = rest.strip_prefix("<<")?;
    let (chomp, raw) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if raw.is_empty() || raw.contains('<') {
        return None;
    }
    let is_quote = |c: Option<char>| matches!(c, Some('\'' | '"'));
    let (open, close) = (raw.chars().next(), raw.chars().last());
    if raw.chars().count() > 1 && is_quote(open) && is_quote(close) && open != close {
        return Some(Err(SyntaxError::InvalidHeredoc {
            word: word.to_owned(),
        }));
    }
    let quoted = raw.contains(['\'', '"']) || raw.contains(escape);
    let name = if quoted {
        unquote(raw, escape)
    } else {
        raw.to_owned()
    };
    if name.is_empty() {
        return None;
    }
    Some(Ok(Marker {
        name,
        expand: !quoted,
        chomp,
        fd: if fd.is_empty() { None } else { fd.parse().ok() },
    }))
}

fn unquote(raw: &str, escape: char) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == escape => out.extend(chars.next()),
            None => out.push(c),
        }
    }
    out
}

/// Reads the body for `marker` from `lines`, consuming the terminator.
/// `None` when the input ends first.
pub(crate) fn read_body<'a, I>(marker: &Marker, lines: &mut I) -> Option<Heredoc>
where
    I: Iterator<Item = &'a str>,
{
    let mut content = String::new();
    for line in lines {
        let line = if marker.chomp {
            line.trim_start_matches('\t')
        } else {
            line
        };
        if line == marker.name {
            return Some(Heredoc {
                name: marker.name.clone(),
                content,
                expand: marker.expand,
                chomp: marker.chomp,
                fd: marker.fd,
            });
        }
        content.push_str(line);
        content.push('\n');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, expand: bool, chomp: bool, fd: Option<u32>) -> Marker {
        Marker {
            name: name.to_owned(),
            expand,
            chomp,
            fd,
        }
    }

    #[test]
    fn finds_markers() {
        let cases: &[(&str, &[Marker])] = &[
            ("<<EOF", &[m("EOF", true, false, None)]),
            ("<<-EOF", &[m("EOF", true, true, None)]),
            ("<<'EOF'", &[m("EOF", false, false, None)]),
            ("<<\"EOF\"", &[m("EOF", false, false, None)]),
            ("<<-\"E O F\"", &[m("E O F", false, true, None)]),
            ("<<\\EOF", &[m("EOF", false, false, None)]),
            (
                "cat <<A > x <<B",
                &[m("A", true, false, None), m("B", true, false, None)],
            ),
            ("3<<EOF cat", &[m("EOF", true, false, Some(3))]),
            ("python3 <<EOF", &[m("EOF", true, false, None)]),
            ("echo '<<EOF'", &[]),
            ("echo \"a <<EOF\"", &[]),
            ("cat<<EOF", &[]),
            ("<<", &[]),
            ("<<<EOF", &[]),
            ("<<''", &[]),
            ("a << b", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(&markers(input, '\\').unwrap(), want, "{input:?}");
        }
    }

    #[test]
    fn sole_markers() {
        for yes in ["<<EOF", "<<-EOF", "<<'EOF'", " <<EOF "] {
            assert!(sole_marker(yes, '\\'), "{yes:?}");
        }
        for no in ["cat <<EOF", "<<EOF bash", "<<", "echo", "<<\"A'"] {
            assert!(!sole_marker(no, '\\'), "{no:?}");
        }
    }

    #[test]
    fn mismatched_quotes_are_refused() {
        assert!(markers("<<\"EOF'", '\\').is_err());
        assert!(markers("<<'EOF\"", '\\').is_err());
    }

    #[test]
    fn reads_bodies() {
        let text = "line 1\n\tline 2\nEOF\nrest";
        let mut lines = text.lines();
        let body = read_body(&m("EOF", true, false, None), &mut lines).expect("terminated");
        assert_eq!(body.content, "line 1\n\tline 2\n");
        assert_eq!(lines.next(), Some("rest"));

        let text = "\t\tline 1\n\tline 2\n\tEOF\n";
        let body = read_body(&m("EOF", true, true, None), &mut text.lines()).expect("terminated");
        assert_eq!(body.content, "line 1\nline 2\n");

        let text = "x\n EOF\nEOF \n";
        assert!(read_body(&m("EOF", true, false, None), &mut text.lines()).is_none());
        let empty = read_body(&m("EOF", true, false, None), &mut "EOF".lines()).expect("empty");
        assert_eq!(empty.content, "");
    }
}
