//! Image commands end to end: the busybox fixture archive loaded with
//! `rbox load`, listed, tagged, inspected, saved in both formats and read
//! back by skopeo and umoci (and skopeo's output read back by rbox), with
//! identical image ids; rmi and prune semantics.

use std::path::Path;
use std::process::{Command, Output};

use rbox_integration::{ok, rbox_bin, stderr, stdout};
use rbox_test_support::{TempRoot, have_command, require};
use serde_json::Value;

struct Env {
    tmp: TempRoot,
}

impl Env {
    fn new() -> Env {
        let tmp = TempRoot::new("rbox-images").expect("temp root");
        Env { tmp }
    }

    fn data(&self) -> String {
        self.tmp.join("data").display().to_string()
    }

    fn rbox(&self, args: &[&str]) -> Output {
        Command::new(rbox_bin())
            .arg("--data-root")
            .arg(self.data())
            .args(args)
            .output()
            .expect("run rbox")
    }

    fn busybox(&self) -> String {
        let archive = self.tmp.join("busybox.tar");
        rbox_fixtures::busybox_archive(&archive, "busybox", &self.tmp.join("scratch"))
            .expect("busybox archive");
        ok(&self.rbox(&["load", "-i", archive.to_str().unwrap()]));
        self.id("busybox")
    }

    fn id(&self, image: &str) -> String {
        let v: Value =
            serde_json::from_str(&ok(&self.rbox(&["image", "inspect", image]))).expect("json");
        v[0]["Id"].as_str().expect("Id").to_string()
    }
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn load_list_tag_inspect_rmi() {
    let env = Env::new();
    let id = env.busybox();
    assert!(id.starts_with("sha256:"));
    let out = ok(&env.rbox(&["images"]));
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(out.contains("busybox") && out.contains(&id[7..19]), "{out}");

    ok(&env.rbox(&["tag", "busybox", "example.com/team/bb:v1"]));
    let q = ok(&env.rbox(&["images", "-q"]));
    assert_eq!(q.lines().count(), 1, "one image, two names: {q}");
    let json = ok(&env.rbox(&["images", "--format", "json"]));
    let repos: Vec<String> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["Repository"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(repos, ["busybox", "example.com/team/bb"]);
    let inspect: Value = serde_json::from_str(&ok(&env.rbox(&[
        "image",
        "inspect",
        "example.com/team/bb:v1",
    ])))
    .unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);

    // An image a container holds is refused without -f.
    {
        let store = rbox_image::Store::open(env.data()).unwrap();
        let img = store
            .resolve("busybox", &rbox_image::manifest::Platform::host())
            .unwrap();
        store
            .hold_layers("ctr-using-it", &img.config.chain_ids())
            .unwrap();
        let o = env.rbox(&["rmi", "example.com/team/bb:v1"]);
        assert!(o.status.success(), "another name remains: {}", stderr(&o));
        let o = env.rbox(&["rmi", "busybox"]);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("in use by container ctr-using-it"),
            "{}",
            stderr(&o)
        );
        store.release_layers("ctr-using-it").unwrap();
        ok(&env.rbox(&["tag", "busybox", "example.com/team/bb:v1"]));
    }
    // An id with two names is refused without -f.
    let o = env.rbox(&["rmi", &id[7..19]]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("referenced by 2 names"),
        "{}",
        stderr(&o)
    );
    // By name: untag only.
    let out = ok(&env.rbox(&["rmi", "example.com/team/bb:v1"]));
    assert!(
        out.contains("Untagged: example.com/team/bb:v1") && !out.contains("Deleted"),
        "{out}"
    );
    let out = ok(&env.rbox(&["rmi", "busybox"]));
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(ok(&env.rbox(&["images", "-q"])), "");
    // Its blobs are gone.
    let blobs = std::fs::read_dir(env.tmp.join("data/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);

    // Errors name what is wrong.
    let o = env.rbox(&["image", "inspect", "nope"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no such image: nope"), "{}", stderr(&o));
    let o = env.rbox(&["tag", "nope", "x"]);
    assert!(stderr(&o).contains("no such image"), "{}", stderr(&o));
    let o = env.rbox(&["load", "-i", "/nonexistent.tar"]);
    assert!(stderr(&o).contains("/nonexistent.tar"), "{}", stderr(&o));
}

#[test]
fn save_formats_are_read_by_skopeo_and_umoci() {
    if !require(
        "save_formats_are_read_by_skopeo_and_umoci",
        "skopeo and umoci",
        have_command("skopeo") && have_command("umoci"),
    ) {
        return;
    }
    let env = Env::new();
    let id = env.busybox();
    let docker_tar = env.tmp.join("docker.tar");
    let oci_tar = env.tmp.join("oci.tar");
    ok(&env.rbox(&["save", "-o", docker_tar.to_str().unwrap(), "busybox"]));
    ok(&env.rbox(&[
        "save",
        "--format",
        "oci",
        "-o",
        oci_tar.to_str().unwrap(),
        "busybox",
    ]));

    let v: Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "inspect",
        &format!("docker-archive:{}", docker_tar.display()),
    ])))
    .unwrap();
    assert_eq!(
        v["Architecture"],
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64")
    );
    let v: Value = serde_json::from_str(&run(
        Command::new("skopeo").args(["inspect", &format!("oci-archive:{}", oci_tar.display())])
    ))
    .unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    let raw: Value = serde_json::from_str(&run(Command::new("skopeo").args([
        "inspect",
        "--config",
        &format!("oci-archive:{}", oci_tar.display()),
    ])))
    .unwrap();
    assert_eq!(raw["config"]["Cmd"][0], "sh");

    // umoci reads the layout.
    let layout = env.tmp.join("layout");
    std::fs::create_dir(&layout).unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-xf")
        .arg(&oci_tar));
    let tags = run(Command::new("umoci").args(["ls", "--layout"]).arg(&layout));
    assert_eq!(tags.trim(), "latest");
    run(Command::new("umoci")
        .args(["stat", "--image"])
        .arg(format!("{}:latest", layout.display())));

    // skopeo converts rbox's OCI archive to a docker-archive and to an
    // OCI archive of its own; rbox loads both with the same image id.
    let via_docker = env.tmp.join("via-skopeo-docker.tar");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("oci-archive:{}", oci_tar.display()),
        &format!("docker-archive:{}:skopeo/bb:1", via_docker.display()),
    ]));
    let via_oci = env.tmp.join("via-skopeo-oci.tar");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("docker-archive:{}", docker_tar.display()),
        &format!("oci-archive:{}:example.com/skopeo/bb:2", via_oci.display()),
    ]));
    let other = Env::new();
    let out = ok(&other.rbox(&["load", "-i", via_docker.to_str().unwrap()]));
    assert!(out.contains("Loaded image: skopeo/bb:1"), "{out}");
    assert_eq!(other.id("skopeo/bb:1"), id);
    let out = ok(&other.rbox(&["load", "-i", via_oci.to_str().unwrap()]));
    assert!(
        out.contains("Loaded image: example.com/skopeo/bb:2"),
        "{out}"
    );
    assert_eq!(other.id("example.com/skopeo/bb:2"), id);
}

#[test]
fn prune_and_gzip_stdin_load() {
    let env = Env::new();
    let archive = env.tmp.join("busybox.tar");
    rbox_fixtures::busybox_archive(&archive, "busybox", &env.tmp.join("scratch")).unwrap();
    // A gzip archive on stdin.
    let gz = env.tmp.join("busybox.tar.gz");
    run(Command::new("sh").arg("-c").arg(format!(
        "gzip -c {} > {}",
        archive.display(),
        gz.display()
    )));
    let o = Command::new(rbox_bin())
        .args(["--data-root", &env.data(), "load"])
        .stdin(std::fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("Loaded image: busybox:latest"),
        "{}",
        stderr(&o)
    );
    // A blob nobody references is pruned; the image stays.
    let junk = env.tmp.join("data/blobs/sha256").join("0".repeat(64));
    std::fs::write(&junk, "junk").unwrap();
    let out = ok(&env.rbox(&["image", "prune", "-f"]));
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(!junk.exists());
    assert!(ok(&env.rbox(&["images", "-q"])).trim().len() == 12);
    // prune -a removes images no container holds.
    ok(&env.rbox(&["image", "prune", "-a", "-f"]));
    assert_eq!(ok(&env.rbox(&["images", "-q"])), "");
    assert!(
        !Path::new(&env.data())
            .join("blobs/sha256")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
}

#[test]
fn an_image_a_container_uses_is_kept() {
    if !rbox_test_support::require_root("an_image_a_container_uses_is_kept") {
        return;
    }
    let env = Env::new();
    env.busybox();
    let cgroup = format!("/rbox-test/{}", rbox_test_support::unique_id("keep"));
    let _guard = rbox_test_support::CgroupGuard::new(cgroup.clone());
    let id = ok(&env.rbox(&[
        "run",
        "-d",
        "--network",
        "none",
        "--cgroup-parent",
        &cgroup,
        "busybox",
        "sleep",
        "60",
    ]));
    let id = id.trim().to_string();
    let o = env.rbox(&["rmi", "busybox"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("in use by container"), "{}", stderr(&o));
    ok(&env.rbox(&["image", "prune", "-a", "-f"]));
    assert!(
        ok(&env.rbox(&["images", "-q"])).trim().len() == 12,
        "prune -a kept the image in use"
    );
    // Its layers stay unpacked while the container lives.
    let o = env.rbox(&["exec", &id, "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    ok(&env.rbox(&["rm", "-f", &id]));
    ok(&env.rbox(&["rmi", "busybox"]));
    ok(&env.rbox(&["image", "prune", "-f"]));
    let layers = Path::new(&env.data()).join("layers");
    let left: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect();
    assert!(left.is_empty(), "unpacked layers left: {left:?}");
}
