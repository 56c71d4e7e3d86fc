//! `rbox build` end to end on the busybox fixture image: a multi-stage
//! build's config and files, the cache, reproducibility across data
//! roots, and clear errors that leave no image behind.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use rbox_integration::{ok, rbox_bin, stderr};
use rbox_test_support::{CgroupGuard, TempRoot, require_root, unique_id};
use serde_json::Value;

struct Env {
    tmp: TempRoot,
    data: String,
    cgroup: String,
    _guard: CgroupGuard,
}

impl Env {
    fn new() -> Env {
        let tmp = TempRoot::new("rbox-build").expect("temp root");
        let data = tmp.join("data").display().to_string();
        let cgroup = format!("/rbox-test/{}", unique_id("build"));
        let guard = CgroupGuard::new(cgroup.clone());
        let archive = tmp.join("busybox.tar");
        rbox_fixtures::busybox_archive(&archive, "busybox", &tmp.join("scratch")).unwrap();
        let env = Env {
            tmp,
            data,
            cgroup,
            _guard: guard,
        };
        ok(&env.rbox(&["load", "-i", archive.to_str().unwrap()], &[]));
        env
    }

    fn rbox(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        Command::new(rbox_bin())
            .arg("--data-root")
            .arg(&self.data)
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .expect("run rbox")
    }

    fn context(&self, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
        let dir = self.tmp.join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        for (p, c) in files {
            let path = dir.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        }
        dir.display().to_string()
    }

    fn build(&self, ctx: &str, extra: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut args = vec!["build", "--cgroup-parent", &self.cgroup];
        args.extend_from_slice(extra);
        args.push(ctx);
        self.rbox(&args, envs)
    }

    fn inspect(&self, image: &str) -> Value {
        let v: Value =
            serde_json::from_str(&ok(&self.rbox(&["image", "inspect", image], &[]))).unwrap();
        v[0].clone()
    }
}

/// Context files: (path, content).
type Files<'a> = &'a [(&'a str, &'a str)];

const MULTI: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS base
ARG GREETING=hi
ENV APP=/app
WORKDIR $APP
COPY src/ ./src/
RUN echo "$GREETING from $(pwd)" > msg.txt && ls src > list.txt
RUN --mount=type=cache,target=/cache echo cached > /cache/x && cat /cache/x > from-cache.txt

FROM base AS unused
RUN exit 1

FROM busybox
COPY --from=base /app /app
COPY <<EOF /etc/motd
welcome
EOF
USER 1000:1000
EXPOSE 8080/tcp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD ["true"]
LABEL org.example.name=demo
ENTRYPOINT ["/bin/cat"]
CMD ["/app/msg.txt"]
"#;

#[test]
fn multi_stage_build_config_files_and_cache() {
    if !require_root("multi_stage_build_config_files_and_cache") {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        MULTI,
        &[
            ("src/a.txt", "A"),
            ("src/b.key", "secret"),
            (".dockerignore", "**/*.key\n"),
        ],
    );
    let out = env.tmp.join("out");
    let dest = format!("type=local,dest={}", out.display());
    let o = env.build(
        &ctx,
        &[
            "-t",
            "demo:1",
            "-t",
            "example.com/demo:1",
            "--build-arg",
            "GREETING=hello",
            "-o",
            &dest,
        ],
        &[],
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("exit 1"), "the unused stage ran: {log}");

    let img = env.inspect("demo:1");
    assert_eq!(env.inspect("example.com/demo:1")["Id"], img["Id"]);
    let c = &img["Config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/cat"]));
    assert_eq!(c["Cmd"], serde_json::json!(["/app/msg.txt"]));
    assert_eq!(c["User"], "1000:1000");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD", "true"]));
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["Labels"]["org.example.name"], "demo");
    assert!(
        c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("PATH="))
    );
    assert!(
        c.get("WorkingDir").is_none_or(|w| w.is_null()),
        "the final stage sets no WORKDIR: {c}"
    );

    assert_eq!(
        fs::read_to_string(out.join("app/msg.txt")).unwrap(),
        "hello from /app\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("app/list.txt")).unwrap(),
        "a.txt\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("app/from-cache.txt")).unwrap(),
        "cached\n"
    );
    assert!(!out.join("app/src/b.key").exists(), ".dockerignore applies");
    assert!(
        !out.join("cache").exists(),
        "cache mounts are not in the image"
    );
    assert_eq!(
        fs::read_to_string(out.join("etc/motd")).unwrap(),
        "welcome\n"
    );

    // Fully cached: every executing step is CACHED, and the same image.
    let o = env.build(
        &ctx,
        &["-t", "demo:2", "--build-arg", "GREETING=hello"],
        &[],
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert_eq!(log.matches(" CACHED").count(), 6, "{log}");
    assert_eq!(env.inspect("demo:2")["Id"], img["Id"]);
    // A changed source file busts COPY and what follows, not before.
    fs::write(Path::new(&ctx).join("src/a.txt"), "changed").unwrap();
    let o = env.build(
        &ctx,
        &["-t", "demo:3", "--build-arg", "GREETING=hello"],
        &[],
    );
    let log = stderr(&o);
    assert_eq!(
        log.matches(" CACHED").count(),
        1,
        "only WORKDIR stays cached: {log}"
    );
    // --no-cache runs everything; -q prints only the id.
    let o = env.build(
        &ctx,
        &["-q", "--no-cache", "--build-arg", "GREETING=hello"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert!(!stderr(&o).contains("CACHED"));
}

#[test]
fn builds_are_reproducible_across_data_roots() {
    if !require_root("builds_are_reproducible_across_data_roots") {
        return;
    }
    let dockerfile =
        "FROM busybox\nCOPY . /src\nRUN touch /src/new && mkdir -p /x/y\nENV A=b\nCMD [\"sh\"]\n";
    let ids: Vec<String> = (0..2)
        .map(|i| {
            let env = Env::new();
            let ctx = env.context(
                &format!("ctx{i}"),
                dockerfile,
                &[("f", "same"), ("d/g", "also")],
            );
            let iid = env.tmp.join("iid");
            let o = env.build(
                &ctx,
                &["--iidfile", iid.to_str().unwrap(), "-t", "repro"],
                &[("SOURCE_DATE_EPOCH", "1700000000")],
            );
            assert!(o.status.success(), "{}", stderr(&o));
            let img = env.inspect("repro");
            assert_eq!(img["Created"], "2023-11-14T22:13:20Z");
            assert_eq!(
                fs::read_to_string(iid).unwrap(),
                img["Id"].as_str().unwrap()
            );
            format!("{} {}", img["Id"], img["Descriptor"]["digest"])
        })
        .collect();
    assert_eq!(
        ids[0], ids[1],
        "same inputs, same image and manifest digests"
    );
}

#[test]
fn build_errors_name_the_line_and_leave_no_image() {
    if !require_root("build_errors_name_the_line_and_leave_no_image") {
        return;
    }
    let env = Env::new();
    let before = ok(&env.rbox(&["images", "-q"], &[]));
    let cases: &[(&str, Files, &str)] = &[
        (
            "FROM busybox\nRUN echo one; echo two; exit 3\n",
            &[],
            "line 2: RUN echo one; echo two; exit 3: the command exited with code 3",
        ),
        ("FROM busybox\nFROBNICATE x\n", &[], "unknown instruction"),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            &[],
            "not found in the build context",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            &[],
            "outside the build context",
        ),
        (
            "FROM busybox\nCOPY *.nothing /x/\n",
            &[],
            "no file in the build context matches",
        ),
        (
            "FROM busybox\nRUN <<EOT\necho never terminated\n",
            &[],
            "unterminated heredoc",
        ),
        ("FROM localhost:1/nope\nRUN true\n", &[], "localhost:1/nope"),
        (
            "FROM busybox\nUSER nosuchuser\nRUN true\n",
            &[],
            "nosuchuser",
        ),
        (
            "FROM busybox\nCOPY --chmod=99z a /a\n",
            &[("a", "x")],
            "chmod",
        ),
    ];
    for (i, (dockerfile, files, want)) in cases.iter().enumerate() {
        let ctx = env.context(&format!("bad{i}"), dockerfile, files);
        let o = env.build(&ctx, &["-t", "broken"], &[]);
        let msg = stderr(&o);
        assert!(!o.status.success(), "{dockerfile}: succeeded");
        assert!(msg.contains(want), "{dockerfile}: {msg:?} lacks {want:?}");
    }
    // The failing RUN's output is quoted.
    let ctx = env.context("tail", "FROM busybox\nRUN echo first-line; exit 2\n", &[]);
    let msg = stderr(&env.build(&ctx, &[], &[]));
    assert!(msg.contains("first-line"), "{msg}");
    assert_eq!(
        ok(&env.rbox(&["images", "-q"], &[])),
        before,
        "no image was recorded"
    );
    let tmp = Path::new(&env.data).join("tmp");
    assert!(
        !tmp.exists() || fs::read_dir(&tmp).unwrap().next().is_none(),
        "scratch space cleaned"
    );
}

#[test]
fn shell_applies_to_shell_form_run_entrypoint_and_cmd() {
    if !require_root("shell_applies_to_shell_form_run_entrypoint_and_cmd") {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "shell",
        "FROM busybox\nSHELL [\"/bin/sh\", \"-e\", \"-c\"]\nRUN test \"$-\" != \"${-#*e}\" && echo ok > /e\nENTRYPOINT echo from entrypoint\n",
        &[],
    );
    let o = env.build(&ctx, &["-t", "shell"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = &env.inspect("shell")["Config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/bin/sh", "-e", "-c", "echo from entrypoint"]),
        "docker: SHELL applies to shell-form ENTRYPOINT"
    );
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-e", "-c"]));
}
