use super::*;
use crate::args::{Platform, platform_args};
use crate::instructions::parse_all;
use crate::parser::parse_str;

fn stages(text: &str) -> Stages {
    let d = parse_str(text).unwrap_or_else(|e| panic!("{e}"));
    Stages::split(parse_all(&d).unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"))
}

fn split_err(text: &str) -> Error {
    let d = parse_str(text).unwrap();
    Stages::split(parse_all(&d).unwrap()).unwrap_err()
}

fn graph(s: &Stages, args: &[&str]) -> Result<Graph> {
    let build = BuildArgs::parse(args, &BTreeMap::new()).unwrap();
    let predefined = platform_args(
        &Platform::new("linux", "amd64", ""),
        &Platform::new("linux", "arm64", ""),
    );
    s.graph(&Lexer::default(), &build, &predefined)
}

const MULTI: &str = "\
ARG GO=1.22
ARG BASE=alpine
FROM golang:${GO} AS Build
RUN go build
FROM ${BASE} AS test
COPY --from=build /out /out
FROM node AS web
RUN --mount=type=cache,target=/c,from=build npm ci
FROM build AS final
COPY --from=web /dist /dist
COPY --from=busybox:latest /bin/sh /sh
FROM scratch AS unrelated
";

#[test]
fn splits_and_names() {
    let s = stages(MULTI);
    assert_eq!(s.global_args.len(), 2);
    let names: Vec<String> = s.stages.iter().map(Stage::display_name).collect();
    assert_eq!(names, ["build", "test", "web", "final", "unrelated"]);
    assert_eq!(s.stages[0].steps.len(), 1);
    assert_eq!(s.find("BUILD"), Some(0));
    assert_eq!(s.find("3"), Some(3));
    assert_eq!(s.find("9"), None);
    assert_eq!(s.target(None).unwrap(), 4);
    assert_eq!(s.target(Some("Final")).unwrap(), 3);
    assert!(matches!(
        s.target(Some("nope")),
        Err(Error::UnknownTarget { .. })
    ));
}

#[test]
fn graph_and_needed_stages() {
    let s = stages(MULTI);
    let g = graph(&s, &[]).unwrap();
    assert_eq!(g.bases[0], Base::Image("golang:1.22".into()));
    assert_eq!(g.bases[1], Base::Image("alpine".into()));
    assert_eq!(g.bases[3], Base::Stage(0));
    assert_eq!(g.bases[4], Base::Scratch);
    assert_eq!(g.deps[1], BTreeSet::from([0]));
    assert_eq!(g.deps[2], BTreeSet::from([0]));
    assert_eq!(g.deps[3], BTreeSet::from([0, 2]));
    assert_eq!(g.images[3], BTreeSet::from(["busybox:latest".to_owned()]));
    assert_eq!(g.needed(3), [0, 2, 3]);
    assert_eq!(g.needed(4), [4]);
    assert_eq!(g.needed(1), [0, 1]);
    assert_eq!(g.waves(&[0, 1, 2, 3]), [vec![0], vec![1, 2], vec![3]]);
    assert_eq!(g.waves(&[0, 1, 2, 3, 4]), [vec![0, 4], vec![1, 2], vec![3]]);

    let g = graph(&s, &["GO=1.23", "BASE=debian"]).unwrap();
    assert_eq!(g.bases[0], Base::Image("golang:1.23".into()));
    assert_eq!(g.bases[1], Base::Image("debian".into()));
}

#[test]
fn references_expand_with_stage_scope() {
    // The global ARG is invisible in the stage until redeclared.
    let s = stages("ARG SRC=build\nFROM a AS build\nFROM b\nCOPY --from=$SRC x y\n");
    let g = graph(&s, &[]).unwrap();
    assert!(g.deps[1].is_empty());
    assert_eq!(g.images[1], BTreeSet::new());

    let s = stages("ARG SRC=build\nFROM a AS build\nFROM b\nARG SRC\nCOPY --from=$SRC x y\n");
    assert_eq!(graph(&s, &[]).unwrap().deps[1], BTreeSet::from([0]));

    let s = stages(
        "FROM a AS one\nFROM a AS two\nFROM c\nARG S=one\nENV S=two\nCOPY --from=${S} x y\n",
    );
    assert_eq!(graph(&s, &[]).unwrap().deps[2], BTreeSet::from([1]));

    // ENV carries over to a stage built FROM another.
    let s = stages("FROM a AS one\nENV S=one\nFROM one\nCOPY --from=$S x y\n");
    assert_eq!(graph(&s, &[]).unwrap().deps[1], BTreeSet::from([0]));

    // Predefined ARGs are global: FROM sees them, a stage after ARG.
    let s = stages(
        "FROM --platform=$BUILDPLATFORM a AS amd64\nFROM b\nARG TARGETARCH\nCOPY --from=${TARGETARCH} x y\n",
    );
    assert_eq!(graph(&s, &[]).unwrap().deps[1], BTreeSet::new());
    let s = stages("FROM a AS arm64\nFROM b\nARG TARGETARCH\nCOPY --from=${TARGETARCH} x y\n");
    assert_eq!(graph(&s, &[]).unwrap().deps[1], BTreeSet::from([0]));

    // Redeclaring a predefined ARG globally keeps its value.
    let s = stages("ARG TARGETARCH\nFROM img:${TARGETARCH}\n");
    assert_eq!(
        graph(&s, &[]).unwrap().bases[0],
        Base::Image("img:arm64".into())
    );

    // Numeric --from.
    let s = stages("FROM a\nFROM b\nCOPY --from=0 x y\n");
    assert_eq!(graph(&s, &[]).unwrap().deps[1], BTreeSet::from([0]));
}

#[test]
fn cycles_and_forward_references() {
    let s = stages("FROM a AS one\nCOPY --from=one x y\n");
    assert!(matches!(graph(&s, &[]), Err(Error::StageCycle { .. })));
    let s = stages("FROM a AS one\nCOPY --from=two x y\nFROM b AS two\n");
    assert!(matches!(graph(&s, &[]), Err(Error::StageCycle { .. })));
    let s = stages("FROM a\nCOPY --from=1 x y\nFROM b\n");
    assert!(matches!(graph(&s, &[]), Err(Error::StageCycle { .. })));
    // FROM a later name is an image of that name.
    let s = stages("FROM later AS first\nFROM x AS later\n");
    assert_eq!(
        graph(&s, &[]).unwrap().bases[0],
        Base::Image("later".into())
    );
}

#[test]
fn split_errors() {
    assert!(matches!(
        split_err("RUN x\nFROM a"),
        Error::BeforeFrom { .. }
    ));
    assert!(matches!(split_err("ARG A\n"), Error::NoStage));
    let e = split_err("FROM a AS x\nFROM b AS X\n");
    assert!(
        matches!(e, Error::DuplicateStage { ref name, .. } if name == "x"),
        "{e}"
    );
    let s = stages("FROM a\nRUN ${");
    assert_eq!(s.stages.len(), 1);
    let s = stages("ARG A=${\nFROM a");
    assert!(matches!(graph(&s, &[]), Err(Error::Expand { .. })));
}
