use std::time::Duration;

use super::*;
use crate::parser::parse_str;

fn one(text: &str) -> Instruction {
    let d = parse_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let node = d.nodes.last().expect("a node");
    Instruction::from_node(node, d.directives.escape).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn err(text: &str) -> SyntaxError {
    let d = parse_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let node = d.nodes.last().expect("a node");
    match Instruction::from_node(node, d.directives.escape) {
        Err(Error::Syntax { kind, .. }) => kind,
        other => panic!("{text:?}: expected an error, got {other:?}"),
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (s(k), s(v))).collect()
}

#[test]
fn from() {
    let cases = [
        ("FROM alpine", "alpine", None, None),
        (
            "FROM alpine:3.19 AS Build",
            "alpine:3.19",
            None,
            Some("build"),
        ),
        (
            "FROM --platform=$BUILDPLATFORM golang as b-1.x_y",
            "golang",
            Some("$BUILDPLATFORM"),
            Some("b-1.x_y"),
        ),
        ("FROM ${BASE}", "${BASE}", None, None),
    ];
    for (text, image, platform, alias) in cases {
        let Instruction::From(f) = one(text) else {
            panic!("{text}")
        };
        assert_eq!(f.image, image, "{text}");
        assert_eq!(f.platform.as_deref(), platform, "{text}");
        assert_eq!(f.alias.as_deref(), alias, "{text}");
    }
    assert!(matches!(err("FROM"), SyntaxError::Arguments { .. }));
    assert!(matches!(err("FROM a b"), SyntaxError::Arguments { .. }));
    assert!(matches!(
        err("FROM a AS b c"),
        SyntaxError::Arguments { .. }
    ));
    assert!(matches!(err("FROM a FOR b"), SyntaxError::Arguments { .. }));
    for bad in ["1abc", "a$b", "-x", "a/b"] {
        assert!(
            matches!(
                err(&format!("FROM a AS {bad}")),
                SyntaxError::InvalidStageName { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn run() {
    let Instruction::Run(r) =
        one("RUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none make")
    else {
        panic!()
    };
    assert_eq!(r.cmd, ShellOrExec::Shell(s("make")));
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].kind, MountType::Cache);
    assert_eq!(r.mounts[1].id.as_deref(), Some("s"));
    assert_eq!(r.network, NetworkMode::None);

    let Instruction::Run(r) = one("RUN [\"echo\", \"$HOME\"]") else {
        panic!()
    };
    assert_eq!(r.cmd, ShellOrExec::Exec(vec![s("echo"), s("$HOME")]));
    let Instruction::Run(r) = one("RUN [ \"echo\", 'x' ]") else {
        panic!()
    };
    assert_eq!(r.cmd, ShellOrExec::Shell(s("[ \"echo\", 'x' ]")));
    let Instruction::Run(r) = one("RUN <<EOF\necho hi\nEOF") else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "echo hi\n");

    assert!(matches!(err("RUN"), SyntaxError::Arguments { .. }));
    assert!(matches!(
        err("RUN --network=bridge x"),
        SyntaxError::InvalidFlagValue { .. }
    ));
    assert!(matches!(
        err("RUN --security=root x"),
        SyntaxError::InvalidFlagValue { .. }
    ));
    assert!(matches!(
        err("RUN --mount=type=cache x"),
        SyntaxError::InvalidMount { .. }
    ));
}

#[test]
fn copy_and_add() {
    let Instruction::Copy(c) =
        one("COPY --from=build --chown=app:app --chmod=644 --link --exclude=*.md a b /dst/")
    else {
        panic!()
    };
    assert_eq!(c.sources, [s("a"), s("b")]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("644"));
    assert!(c.link && !c.parents);
    assert_eq!(c.exclude, [s("*.md")]);

    let Instruction::Copy(c) = one("COPY [\"a b\", \"/c d/\"]") else {
        panic!()
    };
    assert_eq!(c.sources, [s("a b")]);
    assert_eq!(c.dest, "/c d/");

    let Instruction::Copy(c) = one("COPY <<EOF <<'RAW' /etc/\nx=$X\nEOF\ny\nRAW") else {
        panic!()
    };
    assert_eq!(c.sources, [s("<<EOF"), s("<<'RAW'")]);
    assert_eq!(
        c.heredoc("<<EOF").map(|h| h.content.as_str()),
        Some("x=$X\n")
    );
    let raw = c.heredoc("<<'RAW'").expect("raw heredoc");
    assert!(!raw.expand);
    assert!(c.heredoc("file").is_none());

    let Instruction::Add(a) = one("ADD --checksum=sha256:00 --keep-git-dir=true https://x/a.tgz /")
    else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:00"));
    assert!(a.keep_git_dir);

    assert!(matches!(err("COPY a"), SyntaxError::Arguments { .. }));
    assert!(matches!(err("ADD [\"a\"]"), SyntaxError::Arguments { .. }));
}

#[test]
fn env_label_arg() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("ENV A=1", &[("A", "1")]),
        (
            "ENV A=1 B=\"two words\" C='x y'",
            &[("A", "1"), ("B", "\"two words\""), ("C", "'x y'")],
        ),
        ("ENV A b c  d", &[("A", "b c  d")]),
        ("ENV A=b\\ c D=e", &[("A", "b\\ c"), ("D", "e")]),
        ("ENV A=", &[("A", "")]),
        ("ENV A=a=b", &[("A", "a=b")]),
        ("ENV A=1 \\\n    B=2", &[("A", "1"), ("B", "2")]),
        ("# escape=`\nENV A=b` c", &[("A", "b` c")]),
    ];
    for (text, want) in cases {
        assert_eq!(one(text), Instruction::Env(pairs(want)), "{text:?}");
    }
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0"),
        Instruction::Label(pairs(&[
            ("\"com.example.vendor\"", "\"ACME\""),
            ("version", "1.0")
        ]))
    );
    assert_eq!(
        one("LABEL maintainer me@x"),
        Instruction::Label(pairs(&[("maintainer", "me@x")]))
    );
    assert!(matches!(err("ENV"), SyntaxError::Arguments { .. }));
    assert!(matches!(err("ENV A"), SyntaxError::Arguments { .. }));
    assert!(matches!(
        err("ENV A=1 B"),
        SyntaxError::MissingEquals { .. }
    ));
    assert!(matches!(err("ENV =1"), SyntaxError::BlankName { .. }));
    assert_eq!(
        err("ENV A=\"open"),
        SyntaxError::UnterminatedQuote { quote: '"' }
    );
    assert_eq!(
        err("ENV A it's"),
        SyntaxError::UnterminatedQuote { quote: '\'' }
    );
    assert_eq!(
        err("LABEL a='b"),
        SyntaxError::UnterminatedQuote { quote: '\'' }
    );
    assert_eq!(
        err("ARG A=\"x"),
        SyntaxError::UnterminatedQuote { quote: '"' }
    );
    assert!(matches!(err("LABEL"), SyntaxError::Arguments { .. }));

    assert_eq!(
        one("ARG A B=2 C=\"x y\" D="),
        Instruction::Arg(vec![
            (s("A"), None),
            (s("B"), Some(s("2"))),
            (s("C"), Some(s("\"x y\""))),
            (s("D"), Some(s(""))),
        ])
    );
    assert!(matches!(err("ARG"), SyntaxError::Arguments { .. }));
    assert!(matches!(err("ARG =x"), SyntaxError::BlankName { .. }));
}

#[test]
fn simple_ones() {
    assert_eq!(one("WORKDIR /app"), Instruction::Workdir(s("/app")));
    assert_eq!(one("USER app:app"), Instruction::User(s("app:app")));
    assert_eq!(
        one("STOPSIGNAL SIGTERM"),
        Instruction::Stopsignal(s("SIGTERM"))
    );
    assert_eq!(
        one("EXPOSE 80/tcp 443 $P"),
        Instruction::Expose(vec![s("80/tcp"), s("443"), s("$P")])
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Instruction::Volume(vec![s("/a"), s("/b")])
    );
    assert_eq!(
        one("VOLUME [\"/a b\"]"),
        Instruction::Volume(vec![s("/a b")])
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Instruction::Shell(vec![s("/bin/bash"), s("-c")])
    );
    assert_eq!(
        one("CMD echo hi"),
        Instruction::Cmd(ShellOrExec::Shell(s("echo hi")))
    );
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(ShellOrExec::Exec(vec![]))
    );
    assert_eq!(one("MAINTAINER me"), Instruction::Maintainer(s("me")));
    for bad in [
        "WORKDIR",
        "USER",
        "STOPSIGNAL",
        "EXPOSE",
        "VOLUME",
        "CMD",
        "ENTRYPOINT",
        "SHELL []",
        "VOLUME [\"\"]",
    ] {
        assert!(matches!(err(bad), SyntaxError::Arguments { .. }), "{bad}");
    }
    assert_eq!(err("SHELL /bin/bash -c"), SyntaxError::ShellNotJson);
}

#[test]
fn healthcheck() {
    let Instruction::Healthcheck(h) = one(
        "HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --start-interval=500ms --retries=3 CMD curl -f http://localhost/",
    ) else {
        panic!()
    };
    assert_eq!(h.interval, Some(Duration::from_secs(300)));
    assert_eq!(h.timeout, Some(Duration::from_secs(3)));
    assert_eq!(h.start_period, Some(Duration::from_secs(1)));
    assert_eq!(h.start_interval, Some(Duration::from_millis(500)));
    assert_eq!(h.retries, Some(3));
    assert_eq!(
        h.test_array(),
        [s("CMD-SHELL"), s("curl -f http://localhost/")]
    );

    let Instruction::Healthcheck(h) = one("HEALTHCHECK cmd [\"/bin/check\", \"-q\"]") else {
        panic!()
    };
    assert_eq!(h.test_array(), [s("CMD"), s("/bin/check"), s("-q")]);
    let Instruction::Healthcheck(h) = one("HEALTHCHECK NONE") else {
        panic!()
    };
    assert_eq!(h.test_array(), [s("NONE")]);

    for bad in [
        "HEALTHCHECK NONE x",
        "HEALTHCHECK --retries=1 NONE",
        "HEALTHCHECK CMD",
        "HEALTHCHECK CMD []",
        "HEALTHCHECK PING x",
        "HEALTHCHECK --interval=5 CMD x",
        "HEALTHCHECK --interval=1ns CMD x",
        "HEALTHCHECK --retries=-1 CMD x",
    ] {
        assert!(
            matches!(
                err(bad),
                SyntaxError::InvalidHealthcheck { .. } | SyntaxError::InvalidFlagValue { .. }
            ),
            "{bad}"
        );
    }
    assert!(matches!(err("HEALTHCHECK"), SyntaxError::Arguments { .. }));
}

#[test]
fn onbuild() {
    let Instruction::Onbuild { trigger, text } = one("ONBUILD copy --from=x a b") else {
        panic!()
    };
    assert_eq!(text, "copy --from=x a b");
    assert!(matches!(*trigger, Instruction::Copy(_)));
    assert_eq!(
        err("ONBUILD ONBUILD RUN x"),
        SyntaxError::OnbuildForbidden {
            instruction: "ONBUILD"
        }
    );
    assert_eq!(
        err("ONBUILD FROM a"),
        SyntaxError::OnbuildForbidden {
            instruction: "FROM"
        }
    );
    assert!(matches!(
        err("ONBUILD FORM a"),
        SyntaxError::UnknownInstruction { .. }
    ));
    assert!(matches!(err("ONBUILD RUN"), SyntaxError::Arguments { .. }));
    assert!(matches!(err("ONBUILD"), SyntaxError::Arguments { .. }));
    assert!(matches!(
        err("ONBUILD COPY --nope a b"),
        SyntaxError::UnknownFlag { .. }
    ));
}

#[test]
fn parse_all_keeps_nodes() {
    let d = parse_str("FROM a\nRUN b\n").unwrap();
    let steps = parse_all(&d).unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1].node.location.line, 2);
    let d = parse_str("FROM a\nRUN b\nCOPY x\n").unwrap();
    let e = parse_all(&d).unwrap_err().to_string();
    assert!(
        e.starts_with("dockerfile line 3:1: COPY requires at least two arguments"),
        "{e}"
    );
}

/// Tabs as separators, legacy ENV/LABEL, continuation lines indented with
/// tabs (kept, as BuildKit keeps them), comments between instructions.
#[test]
fn tab_separated_legacy_file() {
    let text = "# leading comment\n#\n\nFROM\tdebian:12\nLABEL\tmaintainer\tSomeone <a@b.c> (@x)\n\
RUN\tapt-get update && apt-get install -y \\\n\tcurl \\\n\tgit\n\
# note\nENV\tPATH\t/opt/bin:$PATH\nENV\tPLATFORMS\t\\\n\tlinux/amd64 linux/arm64 \\\n\tlinux/s390x\n\
VOLUME\t/var/lib/x\nENTRYPOINT\t[\"/entry\"]\nCOPY\t.\t/src\n";
    let d = parse_str(text).unwrap();
    let steps = parse_all(&d).unwrap();
    let got: Vec<Instruction> = steps.into_iter().map(|s| s.instruction).collect();
    assert_eq!(
        got,
        [
            Instruction::From(FromSpec {
                image: s("debian:12"),
                platform: None,
                alias: None
            }),
            Instruction::Label(pairs(&[("maintainer", "Someone <a@b.c> (@x)")])),
            Instruction::Run(RunSpec {
                cmd: ShellOrExec::Shell(s("apt-get update && apt-get install -y \tcurl \tgit")),
                mounts: vec![],
                network: NetworkMode::Default,
                security: None,
                heredocs: vec![],
            }),
            Instruction::Env(pairs(&[("PATH", "/opt/bin:$PATH")])),
            Instruction::Env(pairs(&[(
                "PLATFORMS",
                "linux/amd64 linux/arm64 \tlinux/s390x"
            )])),
            Instruction::Volume(vec![s("/var/lib/x")]),
            Instruction::Entrypoint(ShellOrExec::Exec(vec![s("/entry")])),
            Instruction::Copy(CopySpec {
                sources: vec![s(".")],
                dest: s("/src"),
                from: None,
                chown: None,
                chmod: None,
                link: false,
                parents: false,
                exclude: vec![],
                checksum: None,
                keep_git_dir: false,
                heredocs: vec![],
            }),
        ]
    );
}

#[test]
fn deep_json_falls_back_to_shell_form() {
    let deep = format!("RUN {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let Instruction::Run(r) = one(&deep) else {
        panic!()
    };
    assert!(matches!(r.cmd, ShellOrExec::Shell(_)));
}
