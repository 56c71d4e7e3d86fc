//! `rbox pull`, `push`, `login` and `logout` end to end against Debian's
//! real registry (distribution 2.8) on a loopback port, with skopeo as
//! the independent client: what rbox pushes skopeo reads with the same
//! digest, and what skopeo pushes rbox pulls with the same digest and
//! image id. Without docker-registry or skopeo the tests print SKIP (or
//! fail under RBOX_REQUIRE_PRIVILEGED=1).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use rbox_integration::{ok, rbox_bin, stderr, stdout};
use rbox_test_support::distribution::{Distribution, Mode, PASSWORD, USER, available};
use rbox_test_support::{TempRoot, have_command, require};
use serde_json::Value;

/// A temp dir with data roots, archives and auth files for one test.
struct Env {
    tmp: TempRoot,
}

impl Env {
    fn new() -> Env {
        Env {
            tmp: TempRoot::new("rbox-regcli").expect("temp root"),
        }
    }

    fn path(&self, name: &str) -> String {
        self.tmp.join(name).display().to_string()
    }

    /// Runs rbox with `--data-root <tmp>/<root>`.
    fn rbox(&self, root: &str, args: &[&str]) -> Output {
        self.rbox_stdin(root, args, None)
    }

    fn rbox_stdin(&self, root: &str, args: &[&str], input: Option<&str>) -> Output {
        let mut cmd = Command::new(rbox_bin());
        cmd.arg("--data-root")
            .arg(self.path(root))
            .args(args)
            .env_remove("RBOX_PROGRESS")
            // Never read the invoking user's docker logins.
            .env("DOCKER_CONFIG", self.path("docker-config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().expect("run rbox");
        if let Some(s) = input {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(s.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("wait for rbox")
    }

    /// `rbox login -u USER --password-stdin --authfile AUTH HOST` with
    /// `password` on stdin.
    fn login(&self, auth: &str, host: &str, password: &str) -> Output {
        self.rbox_stdin(
            "a",
            &[
                "login",
                "-u",
                USER,
                "--password-stdin",
                "--authfile",
                auth,
                host,
            ],
            Some(password),
        )
    }

    /// The busybox fixture loaded into `root` as `busybox`; returns the
    /// archive's path.
    fn busybox(&self, root: &str) -> String {
        let archive = self.path("busybox.tar");
        if !Path::new(&archive).exists() {
            rbox_fixtures::busybox_archive(
                Path::new(&archive),
                "busybox",
                &self.tmp.join("scratch-busybox"),
            )
            .expect("busybox archive");
        }
        ok(&self.rbox(root, &["load", "-i", &archive]));
        archive
    }

    fn inspect(&self, root: &str, image: &str) -> Value {
        let v: Value = serde_json::from_str(&ok(&self.rbox(root, &["image", "inspect", image])))
            .expect("inspect json");
        v[0].clone()
    }
}

fn skopeo(args: &[&str]) -> String {
    let o = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn skopeo_digest(image: &str) -> String {
    let v: Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", image]))
        .expect("skopeo inspect json");
    v["Digest"].as_str().expect("Digest").to_owned()
}

fn ready(test: &str, mode: Mode) -> bool {
    available(test, mode)
        && require(
            test,
            "needs skopeo (apt-get install skopeo)",
            have_command("skopeo"),
        )
}

/// The digest in push's last line: `TAG: digest: sha256:… size: N`.
fn pushed_digest(out: &str) -> String {
    let line = out.lines().last().expect("a result line");
    let d = line
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {line:?}"));
    d.to_owned()
}

#[test]
fn push_pull_round_trip_with_skopeo() {
    if !ready("push_pull_round_trip_with_skopeo", Mode::Http) {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    let host = format!("localhost:{}", reg.port);
    let env = Env::new();
    env.busybox("a");
    let first = format!("{host}/bb:1");
    ok(&env.rbox("a", &["tag", "busybox", &first]));
    let out = env.rbox("a", &["push", &first]);
    let text = ok(&out);
    let digest = pushed_digest(&text);
    assert!(text.starts_with("1: digest: sha256:"), "{text}");
    let log = stderr(&out);
    assert!(log.contains("The push refers to repository"), "{log}");
    assert!(log.contains(": Pushed"), "{log}");

    let local = env.inspect("a", &first);
    assert_eq!(local["Descriptor"]["digest"], digest.as_str());
    assert_eq!(skopeo_digest(&format!("docker://{first}")), digest);

    // A second push finds every blob there.
    let again = env.rbox("a", &["push", &first]);
    ok(&again);
    assert!(
        stderr(&again).contains("Layer already exists"),
        "{}",
        stderr(&again)
    );

    // Another repository of the same registry gets the blobs by mount.
    let other = format!("{host}/other:1");
    ok(&env.rbox("a", &["tag", "busybox", &other]));
    let out = env.rbox("a", &["push", &other]);
    assert_eq!(pushed_digest(&ok(&out)), digest);
    assert!(stderr(&out).contains("Mounted from bb"), "{}", stderr(&out));

    // rbox push -> skopeo pull: the OCI layout holds the same manifest
    // (skopeo re-serialises JSON unless told to keep digests).
    let oci = env.path("oci");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{first}"),
        &format!("oci:{oci}:bb"),
    ]);
    let index: Value =
        serde_json::from_str(&fs::read_to_string(format!("{oci}/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    // ... and back under another tag, then rbox pull into a fresh root.
    let second = format!("{host}/bb:2");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{oci}:bb"),
        &format!("docker://{second}"),
    ]);
    let out = env.rbox("b", &["pull", &second]);
    let name = ok(&out);
    assert_eq!(name.trim(), format!("{second}"));
    let log = stderr(&out);
    assert_eq!(
        log.matches("Pull complete").count(),
        1,
        "one line for the one layer, none for the config: {log}"
    );
    assert!(log.contains(&format!("Digest: {digest}")), "{log}");
    assert!(log.contains("Status: Downloaded newer image"), "{log}");
    assert_eq!(env.inspect("b", &second)["Id"], local["Id"]);

    // Pulling again changes nothing.
    let log = stderr(&env.rbox("b", &["pull", &second]));
    assert!(log.contains("Already exists"), "{log}");
    assert!(log.contains("Image is up to date"), "{log}");
}

#[test]
fn skopeo_push_rbox_pull_same_digest() {
    if !ready("skopeo_push_rbox_pull_same_digest", Mode::Http) {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    let host = format!("localhost:{}", reg.port);
    let env = Env::new();
    let archive = env.busybox("a");
    let name = format!("{host}/from-skopeo:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{archive}"),
        &format!("docker://{name}"),
    ]);
    let digest = skopeo_digest(&format!("docker://{name}"));
    // --quiet prints the manifest digest and nothing else.
    let out = env.rbox("b", &["pull", "-q", &name]);
    assert_eq!(ok(&out), format!("{digest}\n"));
    assert_eq!(stderr(&out), "", "quiet pull printed progress");
    assert_eq!(
        env.inspect("b", &name)["Descriptor"]["digest"],
        digest.as_str()
    );
    assert_eq!(
        env.inspect("b", &name)["Id"],
        env.inspect("a", "busybox")["Id"]
    );
}

#[test]
fn multi_layer_image_with_json_progress() {
    if !ready("multi_layer_image_with_json_progress", Mode::Http) {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    let host = format!("localhost:{}", reg.port);
    let env = Env::new();
    let mut dirs = Vec::new();
    for i in 0..4 {
        let d = env.tmp.join(format!("layer{i}"));
        fs::create_dir_all(d.join(format!("dir{i}"))).unwrap();
        // Incompressible enough that layers differ in size and take a
        // few progress events.
        let data: Vec<u8> = (0..(200_000 * (i + 1)))
            .map(|n: usize| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        fs::write(d.join(format!("dir{i}/data")), data).unwrap();
        dirs.push(d);
    }
    let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let name = format!("{host}/multi:1");
    let archive = env.tmp.join("multi.tar");
    rbox_fixtures::layered_archive(&archive, &name, &refs, &env.tmp.join("scratch-multi"))
        .expect("layered archive");
    ok(&env.rbox("a", &["load", "-i", archive.to_str().unwrap()]));
    let out = env.rbox("a", &["push", "--format", "json", &name]);
    let text = ok(&out);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).expect("json result");
    assert_eq!(last["state"], "complete");
    let digest = last["digest"].as_str().unwrap().to_owned();
    let uploads = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every line is JSON"))
        .filter(|v| v["state"] == "done")
        .count();
    assert_eq!(uploads, 5, "four layers and the config: {text}");
    let configs = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "config" && v["state"] == "done")
        .count();
    assert_eq!(configs, 1, "{text}");

    let v: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]))
    .unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 4);
    assert_eq!(skopeo_digest(&format!("docker://{name}")), digest);

    // RBOX_PROGRESS=json does what --format json does.
    let mut cmd = Command::new(rbox_bin());
    let out = cmd
        .arg("--data-root")
        .arg(env.path("b"))
        .args(["pull", &name])
        .env("RBOX_PROGRESS", "json")
        .env("DOCKER_CONFIG", env.path("docker-config"))
        .output()
        .unwrap();
    let text = ok(&out);
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(events.iter().any(|e| e["state"] == "downloading"), "{text}");
    for e in &events[..events.len() - 1] {
        assert!(e["digest"].as_str().unwrap().starts_with("sha256:"), "{e}");
        assert!(e["current"].is_u64(), "{e}");
    }
    let last = events.last().unwrap();
    assert_eq!(last["digest"], digest.as_str());
    assert_eq!(last["id"], env.inspect("a", &name)["Id"]);
    assert_eq!(env.inspect("b", &name)["Id"], env.inspect("a", &name)["Id"]);
}

#[test]
fn pull_of_a_missing_name_fails_clearly() {
    if !ready("pull_of_a_missing_name_fails_clearly", Mode::Http) {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    let env = Env::new();
    let name = format!("localhost:{}/nothing/here:1", reg.port);
    let out = env.rbox("a", &["pull", &name]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.lines().last().unwrap().starts_with("rbox: pull "),
        "{err}"
    );
    assert!(
        err.contains("not found") && err.contains("nothing/here"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
    // A name that does not parse is refused before any request.
    let out = env.rbox("a", &["pull", "bad//name"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid reference"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn login_logout_against_htpasswd() {
    if !ready("login_logout_against_htpasswd", Mode::Htpasswd) {
        return;
    }
    let reg = Distribution::start(Mode::Htpasswd);
    let host = format!("localhost:{}", reg.port);
    let env = Env::new();
    let auth = env.path("auth/config.json");
    env.busybox("a");
    let name = format!("{host}/private/bb:1");
    ok(&env.rbox("a", &["tag", "busybox", &name]));

    // Without a login the registry's refusal says what to do.
    let out = env.rbox("a", &["push", "--authfile", &auth, &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("run `rbox login {host}`")),
        "{}",
        stderr(&out)
    );

    // A wrong password fails and writes nothing.
    let out = env.login(&auth, &host, "wrong\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("incorrect username or password"),
        "{}",
        stderr(&out)
    );
    assert!(!Path::new(&auth).exists(), "a failed login wrote {auth}");

    // The right one is saved with mode 0600.
    let out = env.login(&auth, &host, &format!("{PASSWORD}\n"));
    assert_eq!(ok(&out).trim(), "Login Succeeded");
    let mode = fs::metadata(&auth).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "auth file mode {mode:o}");
    let saved: Value = serde_json::from_str(&fs::read_to_string(&auth).unwrap()).unwrap();
    assert!(saved["auths"][&host]["auth"].is_string(), "{saved}");

    // -p works too, with docker's warning.
    let out = env.rbox(
        "a",
        &[
            "login",
            "-u",
            USER,
            "-p",
            PASSWORD,
            "--authfile",
            &auth,
            &host,
        ],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );

    ok(&env.rbox("a", &["push", "--authfile", &auth, &name]));
    let out = env.rbox("b", &["pull", "--authfile", &auth, &name]);
    ok(&out);
    assert_eq!(
        env.inspect("b", &name)["Id"],
        env.inspect("a", "busybox")["Id"]
    );

    let out = env.rbox("a", &["logout", "--authfile", &auth, &host]);
    assert_eq!(
        ok(&out).trim(),
        format!("Removing login credentials for {host}")
    );
    let saved: Value = serde_json::from_str(&fs::read_to_string(&auth).unwrap()).unwrap();
    assert!(saved["auths"].get(&host).is_none(), "{saved}");
    let out = env.rbox("a", &["logout", "--authfile", &auth, &host]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("not logged in to {host}")),
        "{}",
        stderr(&out)
    );
    // Logged out, a pull is refused again.
    let out = env.rbox("c", &["pull", "--authfile", &auth, &name]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn login_against_bearer_tokens_and_image_subcommands() {
    if !ready(
        "login_against_bearer_tokens_and_image_subcommands",
        Mode::Token,
    ) {
        return;
    }
    let reg = Distribution::start(Mode::Token);
    let host = format!("localhost:{}", reg.port);
    let env = Env::new();
    let auth = env.path("auth.json");
    // The token server refuses the wrong password: nothing is written.
    let out = env.login(&auth, &host, "nope");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&host) && err.contains("incorrect"), "{err}");
    assert!(!Path::new(&auth).exists());
    let out = env.login(&auth, &host, PASSWORD);
    assert_eq!(ok(&out).trim(), "Login Succeeded");

    // `image push` / `image pull` are the same commands.
    env.busybox("a");
    let name = format!("{host}/tok/bb:1");
    ok(&env.rbox("a", &["tag", "busybox", &name]));
    ok(&env.rbox("a", &["image", "push", "--authfile", &auth, &name]));
    let out = env.rbox("b", &["image", "pull", "-q", "--authfile", &auth, &name]);
    assert_eq!(
        ok(&out).trim(),
        env.inspect("a", &name)["Descriptor"]["digest"]
    );
}

#[test]
fn build_push_then_pull_the_built_image_elsewhere() {
    if !ready("build_push_then_pull_the_built_image_elsewhere", Mode::Http) {
        return;
    }
    if !rbox_test_support::require_root("build_push_then_pull_the_built_image_elsewhere") {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    let host = format!("localhost:{}", reg.port);
    let env = Env::new();
    // The base image comes from the registry: build pulls it itself.
    env.busybox("seed");
    let base = format!("{host}/base/busybox:1");
    ok(&env.rbox("seed", &["tag", "busybox", &base]));
    ok(&env.rbox("seed", &["push", "-q", &base]));
    let ctx = env.tmp.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nRUN echo built > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n"),
    )
    .unwrap();
    let name = format!("{host}/app/built:1");
    let cgroup = format!("/rbox-test/{}", rbox_test_support::unique_id("bpush"));
    let _guard = rbox_test_support::CgroupGuard::new(cgroup.clone());
    let o = env.rbox(
        "builder",
        &[
            "build",
            "--cgroup-parent",
            &cgroup,
            "-t",
            &name,
            "--push",
            ctx.to_str().unwrap(),
        ],
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("pulling"), "the base was pulled: {log}");
    let built = env.inspect("builder", &name);
    assert_eq!(
        skopeo_digest(&format!("docker://{name}")),
        built["Descriptor"]["digest"].as_str().unwrap()
    );
    let out = env.rbox("fresh", &["pull", &name]);
    assert!(stderr(&out).contains("Extracting"), "{}", stderr(&out));
    assert_eq!(env.inspect("fresh", &name)["Id"], built["Id"]);
    // The pull unpacked both layers, ready for run.
    let layers = std::fs::read_dir(env.tmp.join("fresh/layers"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() == 64 && e.path().is_dir()
        })
        .count();
    assert_eq!(layers, 2);
    let o = env.rbox(
        "fresh",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            &cgroup,
            &name,
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "built\n",
        "{}",
        stderr(&o)
    );
}
