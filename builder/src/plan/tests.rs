use super::*;
use crate::args::Platform;
use crate::parser::parse_str;

fn options(args: &[&str]) -> BuildOptions {
    BuildOptions {
        build_args: BuildArgs::parse(args, &BTreeMap::new()).unwrap(),
        build_platform: Platform::new("linux", "amd64", ""),
        target_platform: Platform::new("linux", "arm64", "v8"),
        ..BuildOptions::default()
    }
}

fn plan_of(text: &str, opts: &BuildOptions) -> Plan {
    let d = parse_str(text).unwrap_or_else(|e| panic!("{e}"));
    plan(&d, opts).unwrap_or_else(|e| panic!("{e}"))
}

fn plan_err(text: &str, opts: &BuildOptions) -> Error {
    plan(&parse_str(text).unwrap(), opts).unwrap_err()
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn run_of(step: &PlannedStep) -> (&Vec<String>, &Vec<(String, String)>) {
    match &step.op {
        Op::Run { argv, env, .. } => (argv, env),
        other => panic!("not a RUN: {other:?}"),
    }
}

use crate::error::Error;

const APP: &str = r#"# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETARCH
ARG VERSION=dev
ENV CGO_ENABLED=0 OUT=/out
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build,id=go-$TARGETARCH go build -o $OUT/app .
FROM alpine:3.19 AS test
RUN echo test
FROM scratch
COPY --from=build /out/app /app
LABEL org.opencontainers.image.version=$VERSION
EXPOSE 8080 9090/udp
USER 65534
ENTRYPOINT ["/app"]
"#;

#[test]
fn plans_the_stages_a_target_needs() {
    let p = plan_of(
        APP,
        &options(&["VERSION=1.0", "UNUSED=x", "HTTP_PROXY=http://proxy:3128"]),
    );
    assert_eq!(p.target, 2);
    let indexes: Vec<usize> = p.stages.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 2]);
    assert_eq!(p.waves, [vec![0], vec![2]]);
    assert_eq!(p.unused_build_args, ["UNUSED"]);

    let build = p.stage(0).unwrap();
    assert_eq!(build.base, Base::Image("golang:1.22".into()));
    assert_eq!(build.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(build.config.workdir, "/src");
    let Op::Copy { sources, dest, .. } = &build.steps[2].op else {
        panic!()
    };
    assert_eq!(
        sources,
        &[
            CopySource::Path("go.mod".into()),
            CopySource::Path("go.sum".into())
        ]
    );
    assert_eq!(dest, "/src/");

    let run = &build.steps[3];
    let (argv, env) = run_of(run);
    // RUN is not expanded by the frontend: the shell sees $OUT.
    assert_eq!(argv, &v(&["/bin/sh", "-c", "go build -o $OUT/app ."]));
    let env: BTreeMap<_, _> = env.iter().cloned().collect();
    assert_eq!(env["CGO_ENABLED"], "0");
    assert_eq!(env["TARGETARCH"], "arm64");
    assert_eq!(env["VERSION"], "1.0");
    assert_eq!(env["HTTP_PROXY"], "http://proxy:3128");
    assert!(
        !env.contains_key("GO_VERSION"),
        "global ARG leaked into the stage"
    );
    // Proxies never enter the key; declared ARGs do.
    assert!(!run.key.vars.contains_key("HTTP_PROXY"));
    assert_eq!(run.key.vars["VERSION"], "1.0");
    let Op::Run {
        mounts, workdir, ..
    } = &run.op
    else {
        panic!()
    };
    assert_eq!(mounts[0].id.as_deref(), Some("go-arm64"));
    assert_eq!(workdir, "/src");

    let fin = p.stage(2).unwrap();
    assert_eq!(fin.base, Base::Scratch);
    assert_eq!(fin.deps, BTreeSet::from([0]));
    let Op::Copy { from, .. } = &fin.steps[0].op else {
        panic!()
    };
    assert_eq!(from, &Some(Source::Stage(0)));
    // VERSION is not declared in this stage: the label is empty.
    assert_eq!(fin.config.labels["org.opencontainers.image.version"], "");
    assert_eq!(
        fin.config.exposed_ports,
        BTreeSet::from(["8080/tcp".to_owned(), "9090/udp".to_owned()])
    );
    assert_eq!(fin.config.user, "65534");
    assert_eq!(fin.config.command.entrypoint, Some(v(&["/app"])));
}

#[test]
fn target_and_unknown_target() {
    let p = plan_of(APP, &options(&[]).with_target("TEST"));
    assert_eq!(p.target, 1);
    assert_eq!(p.stages.len(), 1);
    assert!(matches!(
        plan_err(APP, &options(&[]).with_target("nope")),
        Error::UnknownTarget { .. }
    ));
}

#[test]
fn keys_change_with_what_matters_only() {
    let text = "FROM a\nARG V\nRUN make\nCOPY x /y\n";
    let key = |args: &[&str]| -> Vec<Vec<u8>> {
        plan_of(text, &options(args)).stages[0]
            .steps
            .iter()
            .map(|s| s.key.bytes())
            .collect()
    };
    let base = key(&[]);
    let with_v = key(&["V=1"]);
    let with_proxy = key(&["https_proxy=http://p", "no_proxy=x"]);
    assert_ne!(base[0], with_v[0], "a declared ARG value busts RUN");
    assert_eq!(base[1], with_v[1], "COPY does not use V");
    assert_eq!(base, with_proxy, "proxies never bust the cache");
    assert_eq!(key(&["UNDECLARED=1"]), base);

    let text = "FROM a\nARG DEST=/opt\nCOPY x $DEST\n";
    let one = plan_of(text, &options(&[])).stages[0].steps[0].key.clone();
    let two = plan_of(text, &options(&["DEST=/srv"])).stages[0].steps[0]
        .key
        .clone();
    assert_ne!(one, two);
    assert_eq!(one.vars["DEST"], "/opt");
}

#[test]
fn env_arg_and_base_config() {
    let mut opts = options(&[]);
    let base = ConfigState {
        env: vec![
            ("PATH".into(), "/usr/bin".into()),
            ("HOME".into(), "/root".into()),
        ],
        command: CommandConfig::inherit(None, Some(v(&["sh"])), None),
        workdir: "/base".into(),
        onbuild: vec!["ENV TRIGGERED=yes".into()],
        ..ConfigState::default()
    };
    opts.base_configs.insert("img:1".into(), base);
    let text = "FROM img:1\nENV PATH=$PATH:/opt/bin A=$HOME B=${A:-x}\nWORKDIR sub\nENTRYPOINT [\"/e\"]\nRUN true\n";
    let p = plan_of(text, &opts);
    let s = &p.stages[0];
    let env: BTreeMap<_, _> = s.config.env.iter().cloned().collect();
    assert_eq!(env["PATH"], "/usr/bin:/opt/bin");
    assert_eq!(env["A"], "/root");
    // Pairs of one ENV line see the scope before the line.
    assert_eq!(env["B"], "x");
    assert_eq!(env["TRIGGERED"], "yes");
    assert!(s.config.onbuild.is_empty());
    assert_eq!(s.config.workdir, "/base/sub");
    assert_eq!(
        s.config.command.cmd, None,
        "ENTRYPOINT resets the inherited CMD"
    );
    assert_eq!(s.steps[0].original, "ENV TRIGGERED=yes");
    let (_, run_env) = run_of(s.steps.last().unwrap());
    assert!(
        run_env
            .iter()
            .any(|(k, v)| k == "PATH" && v == "/usr/bin:/opt/bin")
    );
}

#[test]
fn stage_inherits_config_from_stage() {
    let text = "FROM a AS base\nENV X=1\nSHELL [\"/bin/bash\", \"-c\"]\nCMD [\"run\"]\nONBUILD RUN echo child\nFROM base\nRUN echo $X\n";
    let p = plan_of(text, &options(&[]));
    let child = p.stage(1).unwrap();
    assert_eq!(child.deps, BTreeSet::from([0]));
    assert_eq!(child.config.command.cmd, Some(v(&["run"])));
    // The ONBUILD trigger of the base stage runs first in the child.
    let (argv, _) = run_of(&child.steps[0]);
    assert_eq!(argv, &v(&["/bin/bash", "-c", "echo child"]));
    let (argv, env) = run_of(&child.steps[1]);
    assert_eq!(argv, &v(&["/bin/bash", "-c", "echo $X"]));
    assert!(env.contains(&("X".into(), "1".into())));
}

#[test]
fn copy_heredocs_and_dest() {
    let text = "FROM a\nARG NAME=world\nWORKDIR /w\nCOPY <<EOF <<'RAW' greet/\nhello $NAME 'q'\nEOF\nkeep $NAME\nRAW\nCOPY --chmod=0755 run.sh .\n";
    let p = plan_of(text, &options(&[]));
    let Op::Copy { sources, dest, .. } = &p.stages[0].steps[1].op else {
        panic!()
    };
    assert_eq!(
        sources,
        &[
            CopySource::Inline {
                name: "EOF".into(),
                content: "hello world 'q'\n".into()
            },
            CopySource::Inline {
                name: "RAW".into(),
                content: "keep $NAME\n".into()
            },
        ]
    );
    assert_eq!(dest, "/w/greet/");
    let Op::Copy { dest, chmod, .. } = &p.stages[0].steps[2].op else {
        panic!()
    };
    assert_eq!(dest, "/w/");
    assert_eq!(chmod.as_deref(), Some("0755"));
    assert!(matches!(
        plan_err("FROM a\nCOPY --chmod=rwx a b\n", &options(&[])),
        Error::Syntax {
            kind: SyntaxError::InvalidFlagValue { .. },
            ..
        }
    ));
}

#[test]
fn expansion_errors_name_the_line() {
    let e = plan_err("FROM a\nARG X\nWORKDIR ${X:?must be set}\n", &options(&[]));
    match &e {
        Error::Expand {
            location, source, ..
        } => {
            assert_eq!(location.line, 3);
            assert_eq!(source.to_string(), "X: must be set");
        }
        other => panic!("{other:?}"),
    }
    let e = plan_err(
        "FROM a\nRUN --mount=type=cache,target=${T:?} x\n",
        &options(&[]),
    );
    assert!(matches!(e, Error::Expand { .. }), "{e}");
    let e = plan_err("FROM a\nARG P\nEXPOSE $P\n", &options(&["P=http"]));
    assert!(matches!(e, Error::Syntax { .. }), "{e}");
    let e = plan_err("FROM a\nSTOPSIGNAL SIGNOPE\n", &options(&[]));
    assert!(matches!(e, Error::Syntax { .. }), "{e}");
    let e = plan_err("FROM a\nVOLUME $UNSET\n", &options(&[]));
    assert!(matches!(e, Error::Syntax { .. }), "{e}");
}

#[test]
fn expose_splits_variables() {
    let p = plan_of(
        "FROM a\nARG PORTS=\"80 443/tcp\"\nEXPOSE $PORTS\n",
        &options(&[]),
    );
    assert_eq!(
        p.stages[0].config.exposed_ports,
        BTreeSet::from(["80/tcp".to_owned(), "443/tcp".to_owned()])
    );
}

use crate::error::SyntaxError;

#[test]
fn whole_pipeline_never_panics_on_junk() {
    let pieces: [&[u8]; 30] = [
        b"FROM a",
        b"FROM $B AS x",
        b" AS y",
        b"\nRUN ",
        b"\nCOPY ",
        b"\nADD ",
        b"\nENV ",
        b"\nARG ",
        b"\nARG B=x",
        b"\nWORKDIR ",
        b"\nEXPOSE ",
        b"\nONBUILD ",
        b"\nHEALTHCHECK ",
        b"\nLABEL ",
        b"\nSHELL ",
        b"--from=x ",
        b"--from=0 ",
        b"--mount=type=cache,target=/c,from=x ",
        b"<<EOF",
        b"\nEOF\n",
        b"${B:-",
        b"}",
        b"$B",
        b"=",
        b"\"",
        b"'",
        b"\\\n",
        b"[\"a\"]",
        b" a b ",
        b"CMD x",
    ];
    let mut fuzz = crate::fuzz::Fuzz::new(0x5eed);
    let opts = options(&["B=x"]);
    for _ in 0..20_000 {
        let input = fuzz.pieces(&pieces, 16);
        if let Ok(d) = crate::parser::parse(&input) {
            let _ = plan(&d, &opts);
        }
    }
}

#[test]
fn arg_and_env_share_one_environment() {
    let text = "FROM a\nENV V=env\nARG V=arg\nRUN x\nWORKDIR /$V\n";
    let p = plan_of(text, &options(&[]));
    let s = &p.stages[0];
    let (_, env) = run_of(&s.steps[1]);
    assert_eq!(env, &[("V".to_owned(), "arg".to_owned())]);
    assert_eq!(s.config.workdir, "/arg");
    // The image keeps the ENV value.
    assert_eq!(s.config.env, [("V".to_owned(), "env".to_owned())]);

    let text = "FROM a\nARG V=arg\nENV V=env\nRUN x\n";
    let p = plan_of(text, &options(&["V=cli"]));
    let (_, env) = run_of(&p.stages[0].steps[1]);
    assert_eq!(env, &[("V".to_owned(), "env".to_owned())]);
}

/// Every instruction with a handful of argument shapes: parse, type and
/// plan give a value or an error, never a panic (after BuildKit's
/// TestNilLinter).
#[test]
fn every_instruction_with_odd_arguments() {
    let keywords = [
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    let shapes = [
        "", " foo=bar", " a", " a b", " a b c", " 0 0", " []", " [\"\"]", " =", " \"", " $", " ${",
        " <<EOF",
    ];
    let opts = options(&[]);
    for kw in keywords {
        for shape in shapes {
            for prefix in ["", "ONBUILD "] {
                let text = format!("FROM busybox\n{prefix}{kw}{shape}\n");
                if let Ok(d) = parse_str(&text) {
                    let _ = plan(&d, &opts);
                }
            }
        }
    }
}

#[test]
fn context_sources_of_needed_stages() {
    let text = "FROM a AS unused\nCOPY never.txt /\nFROM a AS build\nCOPY src/ go.mod /w/\n\
RUN --mount=type=bind,target=/ctx --mount=type=bind,source=scripts,target=/s --mount=type=bind,from=unused,target=/u make\n\
FROM scratch\nCOPY --from=build /out /out\nADD https://example.com/x.tgz local.tgz /\nCOPY <<EOF src/ /x\nhi\nEOF\n";
    let p = plan_of(text, &options(&[]));
    // `unused` is needed after all: a RUN mounts from it.
    assert_eq!(
        p.context_sources(),
        ["never.txt", "src/", "go.mod", ".", "scripts", "local.tgz"]
    );
    let p = plan_of(text, &options(&[]).with_target("unused"));
    assert_eq!(p.context_sources(), ["never.txt"]);
}

#[test]
fn run_heredocs_become_commands() {
    let text = "FROM a\nSHELL [\"/bin/bash\", \"-c\"]\n\
RUN <<EOF\necho $HOME\nEOF\n\
RUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint(1)\n\tEOF\n\
RUN cat <<A > /a && cat <<'B' > /b\none $X\nA\ntwo\nB\n\
RUN [\"echo\", \"<<EOF\"]\n";
    let p = plan_of(text, &options(&[]));
    let steps = &p.stages[0].steps;
    let (argv, _) = run_of(&steps[1]);
    assert_eq!(argv, &v(&["/bin/bash", "-c", "echo $HOME\n"]));
    let Op::Run { argv, files, .. } = &steps[2].op else {
        panic!()
    };
    assert_eq!(argv, &v(&["/dev/pipes/EOF"]));
    assert_eq!(files[0].content, "#!/usr/bin/env python3\nprint(1)\n");
    assert_eq!(files[0].mode, 0o755);
    let (argv, _) = run_of(&steps[3]);
    assert_eq!(
        argv,
        &v(&[
            "/bin/bash",
            "-c",
            "cat <<A > /a && cat <<'B' > /b\none $X\nA\ntwo\nB"
        ])
    );
    let (argv, _) = run_of(&steps[4]);
    assert_eq!(argv, &v(&["echo", "<<EOF"]));
    // The body is part of the key.
    let other = plan_of(&text.replace("echo $HOME", "echo $USER"), &options(&[]));
    assert_ne!(other.stages[0].steps[1].key, steps[1].key);
}

#[test]
fn undefined_variables_are_reported() {
    let text = "FROM scratch\nARG DECLARED\nENV HOME=/root\nWORKDIR $HOEM/$DECLARED\nCOPY ${NOPE:-x} ${MISSING} /\nRUN echo $NOT_CHECKED\n";
    let p = plan_of(text, &options(&[]));
    let checks: Vec<(String, usize)> = p.stages[0]
        .checks
        .iter()
        .map(|c| (c.message.clone(), c.location.line))
        .collect();
    assert_eq!(
        checks,
        [
            (
                "Usage of undefined variable '$HOEM' (did you mean $HOME?)".to_owned(),
                4
            ),
            ("Usage of undefined variable '$MISSING'".to_owned(), 5),
        ]
    );
    // An image base whose config is unknown may define anything.
    let p = plan_of("FROM img\nWORKDIR $HOME\n", &options(&[]));
    assert!(p.stages[0].checks.is_empty());
    let p = plan_of(
        "# check=skip=UndefinedVar\nFROM scratch\nWORKDIR $HOME\n",
        &options(&[]),
    );
    assert!(p.stages[0].checks.is_empty());
}

#[test]
fn many_stages_plan_quickly() {
    let mut text = String::from("FROM scratch AS s0\n");
    for i in 1..5_000 {
        text.push_str(&format!("FROM s{} AS s{i}\nCOPY --from=s0 a b\n", i - 1));
    }
    let p = plan_of(&text, &options(&[]));
    assert_eq!(p.stages.len(), 5_000);
    assert_eq!(p.waves.len(), 5_000);
}
