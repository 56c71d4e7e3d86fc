//! The machinery of the differential suite: run one config under runc and
//! under rbox, normalise both outputs the same way, and fail with a line
//! diff when they part.
//!
//! Each runtime gets its own busybox bundle (own temp dir, container id
//! and cgroup `/rbox-test/<id>`), built from the same spec edits. runc runs
//! with its own `--root` inside that temp dir, so nothing is shared with a
//! runc the machine may be using. A case is a `run` of the bundle, or
//! ([`Case::exec`]) create, start, optional steps such as `update`, and an
//! `exec` whose output is compared. Only stdout and the exit code are
//! compared: the runtimes' own messages on stderr differ by design, so a
//! case that cares about the container's stderr sends it to stdout (`2>&1`).
//! `RBOX_DIFF_SHOW=1` prints both normalised outputs of every case.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use rbox_integration::{Bundle, privileged, stderr, stdout};
use rbox_test_support::{have_command, require};
use serde_json::Value;

/// What a normaliser knows about the run whose output it rewrites.
pub struct Ctx {
    /// The bundle directory (differs between the two runs).
    pub bundle: String,
    /// The container id, also the last component of its cgroup path.
    pub id: String,
}

type Edit = Box<dyn Fn(&mut Value)>;
type Normalise = Box<dyn Fn(&str, &Ctx) -> String>;
type Requirement = (&'static str, Box<dyn Fn() -> bool>);

/// One row of the table: a command, the spec edits, and how to normalise.
pub struct Case {
    args: Vec<String>,
    edits: Vec<Edit>,
    normalise: Vec<Normalise>,
    code: i32,
    rbox_contains: Vec<String>,
    requires: Vec<Requirement>,
    exec: Option<Vec<String>>,
    before_exec: Vec<Vec<String>>,
}

impl Case {
    /// `sh -c SCRIPT` in the default busybox bundle.
    pub fn sh(script: &str) -> Case {
        Case::args(&["sh", "-c", script])
    }

    /// `args` in the default busybox bundle.
    pub fn args(args: &[&str]) -> Case {
        Case {
            args: args.iter().map(|s| (*s).to_string()).collect(),
            edits: Vec::new(),
            normalise: Vec::new(),
            code: 0,
            rbox_contains: Vec::new(),
            requires: Vec::new(),
            exec: None,
            before_exec: Vec::new(),
        }
    }

    /// `exec FLAGS ID sh -c SCRIPT` into a created and started container
    /// whose own process sleeps; the exec's output is what is compared.
    pub fn exec(flags: &[&str], script: &str) -> Case {
        let mut c = Case::args(&["sleep", "1000"]);
        let mut argv: Vec<String> = flags.iter().map(|s| (*s).to_string()).collect();
        argv.push(ID_SLOT.into());
        argv.extend(["sh", "-c", script].map(String::from));
        c.exec = Some(argv);
        c
    }

    /// For an exec case: a runtime command run (and required to succeed)
    /// after start and before the exec; `{id}` stands for the container.
    pub fn before_exec(mut self, args: &[&str]) -> Case {
        self.before_exec
            .push(args.iter().map(|s| (*s).to_string()).collect());
        self
    }

    /// Edits the spec (applied to both bundles, in order).
    pub fn edit(mut self, f: impl Fn(&mut Value) + 'static) -> Case {
        self.edits.push(Box::new(f));
        self
    }

    /// Adds a normalisation step, applied to both outputs after the
    /// generic one (bundle path and container id).
    pub fn normalise(mut self, f: impl Fn(&str, &Ctx) -> String + 'static) -> Case {
        self.normalise.push(Box::new(f));
        self
    }

    /// The exit code runc must give, so a config that both runtimes
    /// reject cannot pass as "same result".
    pub fn code(mut self, code: i32) -> Case {
        self.code = code;
        self
    }

    /// For a documented deliberate difference that the normaliser hides:
    /// rbox's raw stdout must still contain `s`.
    pub fn rbox_contains(mut self, s: &str) -> Case {
        self.rbox_contains.push(s.to_string());
        self
    }

    /// Skips (or fails under RBOX_REQUIRE_PRIVILEGED=1) unless `ok()`.
    pub fn requires(mut self, what: &'static str, ok: impl Fn() -> bool + 'static) -> Case {
        self.requires.push((what, Box::new(ok)));
        self
    }
}

/// Removes a runc container left behind (a failed run) on drop.
struct RuncGuard {
    root: PathBuf,
    id: String,
}

impl Drop for RuncGuard {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn bundle_for(case: &Case) -> Bundle {
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let mut b = Bundle::new(&args);
    for e in &case.edits {
        e(&mut b.spec);
    }
    b
}

/// Where [`Case::exec`] puts the container id among the exec arguments.
const ID_SLOT: &str = "{id}";

#[derive(Clone, Copy)]
enum Runtime {
    Runc,
    Rbox,
}

/// One runtime command on `b`, output through files (see [`Bundle::rbox`]
/// for why not pipes); runc gets its own `--root` in the bundle's temp dir.
/// Both start in the temp dir, not the bundle, so nothing (hooks' working
/// directory, relative paths) passes by the accident of the caller's cwd.
fn runtime(rt: Runtime, b: &Bundle, args: &[&str]) -> Output {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_p = b.tmp.join(format!("out.diff.{n}"));
    let err_p = b.tmp.join(format!("err.diff.{n}"));
    let mut cmd = match rt {
        Runtime::Rbox => b.cmd(args),
        Runtime::Runc => {
            let mut c = Command::new("runc");
            c.arg("--root").arg(b.tmp.join("runc-state")).args(args);
            c
        }
    };
    let status = cmd
        .current_dir(b.tmp.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_p).expect("stdout file"))
        .stderr(std::fs::File::create(&err_p).expect("stderr file"))
        .status()
        .expect("spawn the runtime");
    Output {
        status,
        stdout: std::fs::read(&out_p).unwrap_or_default(),
        stderr: std::fs::read(&err_p).unwrap_or_default(),
    }
}

/// Runs the case on `b`: `run`, or create/start/(before_exec steps)/exec
/// for an exec case (then the exec's output is returned; a failed step's
/// output instead).
fn run_case(rt: Runtime, case: &Case, b: &Bundle) -> Output {
    b.write();
    let dir = b.dir();
    let dir = dir.to_str().expect("utf-8 temp path");
    let Some(exec) = &case.exec else {
        return runtime(rt, b, &["run", "--bundle", dir, &b.id]);
    };
    let with_id = |args: &[String]| -> Vec<String> {
        args.iter()
            .map(|a| {
                if a == ID_SLOT {
                    b.id.clone()
                } else {
                    a.clone()
                }
            })
            .collect()
    };
    let mut steps: Vec<Vec<String>> = vec![
        vec!["create".into(), "--bundle".into(), dir.into(), b.id.clone()],
        vec!["start".into(), b.id.clone()],
    ];
    steps.extend(case.before_exec.iter().map(|s| with_id(s)));
    for step in &steps {
        let step: Vec<&str> = step.iter().map(String::as_str).collect();
        let o = runtime(rt, b, &step);
        if !o.status.success() {
            return o;
        }
    }
    let mut args = vec!["exec".to_string()];
    args.extend(with_id(exec));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    runtime(rt, b, &args)
}

fn normalised(case: &Case, b: &Bundle, out: &Output) -> String {
    let ctx = Ctx {
        bundle: b.dir().to_str().expect("utf-8 temp path").to_string(),
        id: b.id.clone(),
    };
    // Generic: the bundle path and the container id (in cgroup paths)
    // differ between the two runs by construction.
    let mut s = stdout(out)
        .replace(&ctx.bundle, "<bundle>")
        .replace(&ctx.id, "<id>");
    for n in &case.normalise {
        s = n(&s, &ctx);
    }
    format!("{s}[exit {:?}]\n", out.status.code())
}

/// Runs `case` under both runtimes and panics with a diff if they differ.
pub fn check(name: &str, case: Case) {
    if !privileged(name)
        || !require(
            name,
            "needs runc (apt-get install runc)",
            have_command("runc"),
        )
    {
        return;
    }
    for (what, ok) in &case.requires {
        if !require(name, what, ok()) {
            return;
        }
    }
    let runc_b = bundle_for(&case);
    let _runc_guard = RuncGuard {
        root: runc_b.tmp.join("runc-state"),
        id: runc_b.id.clone(),
    };
    let runc_out = run_case(Runtime::Runc, &case, &runc_b);
    assert_eq!(
        runc_out.status.code(),
        Some(case.code),
        "{name}: runc itself did not give the expected result, so the case proves nothing\n\
         stdout:\n{}\nstderr:\n{}",
        stdout(&runc_out),
        stderr(&runc_out)
    );
    let rbox_b = bundle_for(&case);
    let rbox_out = run_case(Runtime::Rbox, &case, &rbox_b);

    let want = normalised(&case, &runc_b, &runc_out);
    let got = normalised(&case, &rbox_b, &rbox_out);
    if std::env::var_os("RBOX_DIFF_SHOW").is_some() {
        eprintln!("{name}: normalised output\n--- runc\n{want}+++ rbox\n{got}");
    }
    if want != got {
        panic!(
            "{name}: rbox and runc differ (after normalisation)\n\
             --- runc\n+++ rbox\n{}\n\
             runc stderr:\n{}\nrbox stderr:\n{}",
            line_diff(&want, &got),
            stderr(&runc_out),
            stderr(&rbox_out)
        );
    }
    let raw = stdout(&rbox_out);
    for s in &case.rbox_contains {
        assert!(
            raw.contains(s.as_str()),
            "{name}: rbox output lacks {s:?}:\n{raw}"
        );
    }
}

/// A unified-style line diff (`-` runc only, `+` rbox only, ` ` both),
/// from a longest common subsequence: outputs here are a few dozen lines.
pub fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("- {}\n", a[i]);
            i += 1;
        } else {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        }
    }
    out
}

/// Keeps the lines for which `keep` holds.
pub fn filter_lines(s: &str, keep: impl Fn(&str) -> bool) -> String {
    s.lines()
        .filter(|l| keep(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Rewrites each line with `f`.
pub fn map_lines(s: &str, f: impl Fn(&str) -> String) -> String {
    s.lines().map(|l| format!("{}\n", f(l))).collect()
}

#[test]
fn line_diff_marks_both_sides() {
    let d = line_diff("a\nb\nc\n", "a\nx\nc\n");
    assert_eq!(d, "  a\n- b\n+ x\n  c\n");
}
