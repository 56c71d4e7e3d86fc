//! Parser cases, many after BuildKit's parser testfiles (rewritten).

use super::*;

fn parse_ok(text: &str) -> Dockerfile {
    match parse_str(text) {
        Ok(d) => d,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn syntax_err(text: &str) -> (Location, SyntaxError, String) {
    match parse_str(text) {
        Err(Error::Syntax {
            location,
            kind,
            instruction,
        }) => (location, kind, instruction),
        other => panic!("{text:?}: expected a syntax error, got {other:?}"),
    }
}

/// (keyword, flags as name=value, args) per node.
fn summary(d: &Dockerfile) -> Vec<(Keyword, Vec<String>, String)> {
    d.nodes
        .iter()
        .map(|n| {
            let flags = n
                .flags
                .iter()
                .map(|f| match &f.value {
                    Some(v) => format!("{}={v}", f.name),
                    None => f.name.clone(),
                })
                .collect();
            (n.keyword, flags, n.args.clone())
        })
        .collect()
}

/// Expected (keyword, flags, args) of each node.
type Expected<'a> = &'a [(Keyword, &'a [&'a str], &'a str)];

#[test]
fn instruction_table() {
    use Keyword::*;
    let cases: &[(&str, Expected)] = &[
        ("FROM busybox", &[(From, &[], "busybox")]),
        ("from busybox AS base", &[(From, &[], "busybox AS base")]),
        ("  Run   echo  hi  ", &[(Run, &[], "echo  hi")]),
        (
            "FROM --platform=$BUILDPLATFORM golang",
            &[(From, &["platform=$BUILDPLATFORM"], "golang")],
        ),
        (
            "COPY --from=build --chown=1:1 --chmod=0644 --link a b /c/",
            &[(
                Copy,
                &["from=build", "chown=1:1", "chmod=0644", "link"],
                "a b /c/",
            )],
        ),
        ("COPY --link=false a b", &[(Copy, &["link=false"], "a b")]),
        (
            "COPY --parents --exclude=*.md --exclude=x ./ /d",
            &[(Copy, &["parents", "exclude=*.md", "exclude=x"], "./ /d")],
        ),
        (
            "ADD --keep-git-dir --checksum=sha256:ab https://x/y /z",
            &[(
                Add,
                &["keep-git-dir", "checksum=sha256:ab"],
                "https://x/y /z",
            )],
        ),
        (
            "RUN --mount=type=cache,target=/root/.cache --network=none make",
            &[(
                Run,
                &["mount=type=cache,target=/root/.cache", "network=none"],
                "make",
            )],
        ),
        ("RUN -- --mount=x", &[(Run, &[], "--mount=x")]),
        ("RUN echo --mount=x", &[(Run, &[], "echo --mount=x")]),
        (
            "HEALTHCHECK --interval=5s --retries=3 CMD true",
            &[(Healthcheck, &["interval=5s", "retries=3"], "CMD true")],
        ),
        ("ONBUILD RUN echo hi", &[(Onbuild, &[], "RUN echo hi")]),
        ("CMD [\"a\", \"b\"]", &[(Cmd, &[], "[\"a\", \"b\"]")]),
        (
            "FROM a\n\n\n# c\n  # d\nRUN b\n",
            &[(From, &[], "a"), (Run, &[], "b")],
        ),
        // Continuations: the next line keeps its indentation; comment and
        // empty lines inside are dropped.
        (
            "RUN echo hello \\\n    world",
            &[(Run, &[], "echo hello     world")],
        ),
        ("RUN a \\\n# comment\n  b", &[(Run, &[], "a   b")]),
        ("RUN a \\\n\n  b", &[(Run, &[], "a   b")]),
        ("RUN a \\  \t\n b", &[(Run, &[], "a  b")]),
        ("RUN a \\", &[(Run, &[], "a")]),
        ("RUN a\\\\\nb", &[(Run, &[], "a\\b")]),
        (
            "RUN \\\n  a \\\n  b\nEXPOSE 80",
            &[(Run, &[], "a   b"), (Expose, &[], "80")],
        ),
        ("FROM a\r\nRUN b\r\n", &[(From, &[], "a"), (Run, &[], "b")]),
        ("\u{feff}FROM a", &[(From, &[], "a")]),
        (
            "RUN echo # not a comment",
            &[(Run, &[], "echo # not a comment")],
        ),
        ("MAINTAINER me", &[(Maintainer, &[], "me")]),
    ];
    for (text, want) in cases {
        let d = parse_ok(text);
        let got = summary(&d);
        let want: Vec<(Keyword, Vec<String>, String)> = want
            .iter()
            .map(|(k, f, a)| {
                (
                    *k,
                    f.iter().map(|s| (*s).to_owned()).collect(),
                    (*a).to_owned(),
                )
            })
            .collect();
        assert_eq!(got, want, "{text:?}");
    }
}

#[test]
fn locations_cover_continuations_and_heredocs() {
    let d = parse_ok("FROM a\n\n   RUN x \\\n  y\nCOPY <<EOF /f\nhi\nEOF\nUSER u\n");
    let spans: Vec<(usize, usize, usize)> = d
        .nodes
        .iter()
        .map(|n| (n.location.line, n.location.column, n.end_line))
        .collect();
    assert_eq!(spans, [(1, 1, 1), (3, 4, 4), (5, 1, 7), (8, 1, 8)]);
}

#[test]
fn directives() {
    let d = parse_ok("# syntax=docker/dockerfile:1.7\n# escape=`\nFROM a\nRUN dir `\n  c:\\\n");
    assert_eq!(
        d.directives.syntax.as_deref(),
        Some("docker/dockerfile:1.7")
    );
    assert_eq!(d.directives.escape, '`');
    assert_eq!(d.nodes[1].args, "dir   c:\\");

    let d = parse_ok("#ESCAPE = ` \n  #   Syntax=x\n# check=skip=all\nFROM a");
    assert_eq!(d.directives.escape, '`');
    assert_eq!(d.directives.syntax.as_deref(), Some("x"));
    assert_eq!(d.directives.check.as_deref(), Some("skip=all"));

    // After a comment, an empty line or an instruction, a directive is a
    // plain comment.
    for text in [
        "# hello\n# escape=`\nFROM a",
        "\n# escape=`\nFROM a",
        "FROM a\n# escape=`\nRUN b",
        "# unknown=1\n# escape=`\nFROM a",
    ] {
        assert_eq!(parse_ok(text).directives.escape, '\\', "{text:?}");
    }

    let (loc, kind, _) = syntax_err("# escape=`\n# escape=\\\nFROM a");
    assert_eq!(loc, Location::new(2, 1));
    assert_eq!(
        kind,
        SyntaxError::DuplicateDirective {
            name: "escape".into()
        }
    );
    let (_, kind, _) = syntax_err("# escape=x\nFROM a");
    assert_eq!(kind, SyntaxError::InvalidEscapeToken { token: "x".into() });
}

#[test]
fn json_or_shell_form() {
    let d =
        parse_ok("CMD [\"a\", \"b\"]\nCMD [ \"a\", 'b' ]\nCMD [\"a\", 1]\nCMD []\nRUN [\"a\"] b");
    let forms: Vec<Option<Vec<String>>> = d.nodes.iter().map(Node::json_args).collect();
    assert_eq!(forms[0], Some(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(forms[1], None);
    assert_eq!(forms[2], None);
    assert_eq!(forms[3], Some(vec![]));
    assert_eq!(forms[4], None);
}

#[test]
fn heredocs() {
    let d = parse_ok(
        "FROM a\nRUN <<EOF\necho $HOME\n  indented\nEOF\nRUN <<-'A' 3<<B cat\n\t\tone\n\tA\ntwo\nB\nCOPY <<EOF /file\nhello\nEOF\nRUN [\"<<EOF\"]\n",
    );
    let run = &d.nodes[1];
    assert_eq!(run.args, "<<EOF");
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].content, "echo $HOME\n  indented\n");
    assert!(run.heredocs[0].expand);

    let two = &d.nodes[2];
    assert_eq!(two.heredocs.len(), 2);
    assert_eq!(two.heredocs[0].name, "A");
    assert_eq!(two.heredocs[0].content, "one\n");
    assert!(!two.heredocs[0].expand);
    assert!(two.heredocs[0].chomp);
    assert_eq!(two.heredocs[1].content, "two\n");
    assert_eq!(two.heredocs[1].fd, Some(3));

    let copy = &d.nodes[3];
    assert_eq!(copy.keyword, Keyword::Copy);
    assert_eq!(copy.heredocs[0].content, "hello\n");
    assert!(d.nodes[4].heredocs.is_empty());
    assert_eq!(d.nodes.len(), 5);

    // Not RUN/COPY/ADD: just text.
    let d = parse_ok("FROM a\nLABEL x=<<EOF\nUSER u");
    assert_eq!(d.nodes.len(), 3);
    // Continuation then heredoc.
    let d = parse_ok("FROM a\nRUN cat \\\n <<EOF\nx\nEOF\n");
    assert_eq!(d.nodes[1].heredocs[0].content, "x\n");
    // Body lines are not comments or continuations.
    let d = parse_ok("FROM a\nRUN <<EOF\n# comment \\\n\nEOF\n");
    assert_eq!(d.nodes[1].heredocs[0].content, "# comment \\\n\n");
}

#[test]
fn warnings() {
    let d = parse_ok("FROM a\nRUN a \\\n\n b\nMAINTAINER x");
    let kinds: Vec<(usize, WarningKind)> = d
        .warnings
        .iter()
        .map(|w| (w.location.line, w.kind))
        .collect();
    assert_eq!(kinds, [(3, WarningKind::EmptyContinuationLine)]);
}

#[test]
fn errors_name_place_and_instruction() {
    let (loc, kind, text) = syntax_err("FROM a\n  FORM b");
    assert_eq!(loc, Location::new(2, 3));
    assert_eq!(
        kind,
        SyntaxError::UnknownInstruction {
            name: "FORM".into(),
            suggestion: Some("FROM".into())
        }
    );
    assert_eq!(text, "FORM b");
    let msg = parse_str("FROM a\n  FORM b").unwrap_err().to_string();
    assert_eq!(
        msg,
        "dockerfile line 2:3: unknown instruction FORM (did you mean FROM?) (in `FORM b`)"
    );

    let (loc, kind, _) = syntax_err("FROM a\nCOPY --form=x a b");
    assert_eq!(loc, Location::new(2, 6));
    assert_eq!(
        kind,
        SyntaxError::UnknownFlag {
            flag: "form".into(),
            instruction: "COPY"
        }
    );
    let (_, kind, _) = syntax_err("RUN --from=x a");
    assert!(matches!(
        kind,
        SyntaxError::UnknownFlag {
            instruction: "RUN",
            ..
        }
    ));
    let (_, kind, _) = syntax_err("USER --x a");
    assert!(matches!(
        kind,
        SyntaxError::UnknownFlag {
            instruction: "USER",
            ..
        }
    ));
    let (_, kind, _) = syntax_err("COPY --from a b");
    assert_eq!(
        kind,
        SyntaxError::FlagNeedsValue {
            flag: "from".into()
        }
    );
    let (_, kind, _) = syntax_err("COPY --link=yes a b");
    assert!(matches!(kind, SyntaxError::FlagNotBool { .. }));
    let (_, kind, _) = syntax_err("COPY --from=a --from=b a b");
    assert_eq!(
        kind,
        SyntaxError::DuplicateFlag {
            flag: "from".into()
        }
    );
    let (_, kind, _) = syntax_err("COPY --from=\"a b");
    assert_eq!(kind, SyntaxError::UnterminatedQuote { quote: '"' });

    let (loc, kind, _) = syntax_err("FROM a\nRUN <<EOF\nno end\n");
    assert_eq!(loc, Location::new(2, 1));
    assert_eq!(
        kind,
        SyntaxError::UnterminatedHeredoc {
            delimiter: "EOF".into()
        }
    );

    let (loc, kind, _) = syntax_err("FROM a\nRUN <<A <<B\nx\nA\ny\n");
    assert_eq!(loc, Location::new(2, 1));
    assert_eq!(
        kind,
        SyntaxError::UnterminatedHeredoc {
            delimiter: "B".into()
        }
    );

    let (_, kind, _) = syntax_err("");
    assert_eq!(kind, SyntaxError::NoInstructions);
    let (_, kind, _) = syntax_err("# just a comment\n\n");
    assert_eq!(kind, SyntaxError::NoInstructions);
}

#[test]
fn invalid_utf8_names_the_line() {
    let err = parse(b"FROM a\nRUN echo \xff\xfe\n").unwrap_err();
    match err {
        Error::Syntax { location, kind, .. } => {
            assert_eq!(location, Location::new(2, 10));
            assert_eq!(kind, SyntaxError::InvalidUtf8);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_messages_are_cut() {
    let text = format!("FROM a\nFORM {}", "x".repeat(100_000));
    let msg = parse_str(&text).unwrap_err().to_string();
    assert!(msg.len() < 300, "{}", msg.len());
}

#[test]
fn hostile_input_never_panics() {
    let huge = format!("FROM a\nRUN {}\n", "y".repeat(4 << 20));
    assert_eq!(parse_str(&huge).unwrap().nodes[1].args.len(), 4 << 20);
    let many = "RUN a \\\n".repeat(50_000) + "b";
    assert_eq!(parse_str(&many).unwrap().nodes.len(), 1);
    let heredocs = format!("FROM a\nRUN {}\n", "<<E ".repeat(10_000));
    assert!(parse_str(&heredocs).is_err());

    let mut fuzz = crate::fuzz::Fuzz::new(0x9e37_79b9_7f4a_7c15);
    let pieces: [&[u8]; 16] = [
        b"FROM ",
        b"RUN ",
        b"COPY ",
        b"<<EOF",
        b"EOF",
        b"\n",
        b"\\",
        b"`",
        b"--from=",
        b"\"",
        b"'",
        b"# escape=`",
        b"[\"a\"]",
        b"\xff",
        b" ",
        b"ONBUILD ",
    ];
    for _ in 0..20_000 {
        let input = fuzz.pieces(&pieces, 12);
        let _ = parse(&input);
    }
    for _ in 0..5_000 {
        let bytes = fuzz.bytes(64);
        let _ = parse(&bytes);
    }
}
