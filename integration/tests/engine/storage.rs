//! Storage and networking: many-layer overlays, volumes, bridge networks.

use std::path::Path;
use std::time::Duration;

use rbox_integration::{ok, stderr, stdout};
use rbox_test_support::{TempRoot, unique_id};

use crate::Engine;

#[test]
fn many_layers_mount_through_short_names() {
    guard!("many_layers_mount_through_short_names");
    let e = Engine::new();
    // busybox plus 60 one-file layers: the absolute lowerdir list (about
    // 100 bytes a layer) would not fit in a page.
    let store = rbox_image::Store::open(&e.data).expect("store");
    let base = store
        .resolve("busybox", &rbox_image::manifest::Platform::host())
        .expect("busybox");
    let mut config = base.config.clone();
    let mut layers: Vec<rbox_image::manifest::Descriptor> = base.manifest.layers.clone();
    let tmp = TempRoot::new("rbox-layers").expect("temp");
    for i in 0..60 {
        let dir = tmp.path().join(i.to_string());
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("layer{i}")), format!("{i}\n")).expect("write");
        let mut blob = Vec::new();
        let packed =
            rbox_image::layer::pack(&dir, &rbox_image::layer::PackOptions::default(), &mut blob)
                .expect("pack");
        let digest = store.write_blob(&blob).expect("blob");
        layers.push(rbox_image::manifest::Descriptor::new(
            packed.compression.oci_media_type(),
            digest,
            packed.size,
        ));
        config.rootfs.diff_ids.push(packed.diff_id);
    }
    let target = store.write_image(&config, &layers).expect("image");
    store
        .tag(
            &rbox_image::Reference::parse("tall").expect("name"),
            &target,
        )
        .expect("tag");
    let out = ok(&e.rbox(&[
        "run",
        "--name",
        "tall",
        "tall",
        "sh",
        "-c",
        "cat /layer0 /layer59; ls / | grep -c '^layer'",
    ]));
    assert_eq!(out, "0\n59\n60\n");
    assert_eq!(
        e.inspect("tall")["Driver"],
        "overlay2",
        "not the flattened fallback"
    );
    ok(&e.rbox(&["rm", "tall"]));
    e.assert_clean("");
}

#[test]
fn volumes_and_bridge_network() {
    guard!("volumes_and_bridge_network");
    if !rbox_test_support::require(
        "volumes_and_bridge_network",
        "needs the CNI plugins (containernetworking-plugins) and iptables",
        Path::new("/usr/lib/cni/bridge").exists() && rbox_test_support::have_command("iptables"),
    ) {
        return;
    }
    let e = Engine::new();
    let net = NetGuard::new(&e);
    // A named volume outlives its containers.
    ok(&e.rbox(&[
        "run",
        "--rm",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]));
    let got = ok(&e.rbox(&[
        "run",
        "--rm",
        "-v",
        "keep:/data:ro",
        "busybox",
        "cat",
        "/data/f",
    ]));
    assert_eq!(got, "kept\n");
    // An anonymous volume goes with `rm -v`.
    let id = ok(&e.rbox(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]))
    .trim()
    .to_string();
    let v = e.inspect("anon");
    assert_eq!(v["Mounts"][0]["Type"], "volume", "{v}");
    let anon = v["Mounts"][0]["Name"]
        .as_str()
        .expect("volume name")
        .to_string();
    assert!(e.data.join("volumes").join(&anon).exists());
    ok(&e.rbox(&["rm", "-v", "anon"]));
    assert!(
        !e.data.join("volumes").join(&anon).exists(),
        "anonymous volume removed"
    );
    let _ = id;
    // A bridge network: an address on eth0, shown by inspect.
    let cid = ok(&e.rbox(&[
        "run",
        "-d",
        "--name",
        "net",
        "--network",
        &net.name,
        "busybox",
        "sleep",
        "100",
    ]))
    .trim()
    .to_string();
    let v = e.inspect("net");
    let ip = v["NetworkSettings"]["IPAddress"]
        .as_str()
        .expect("ip")
        .to_string();
    assert!(!ip.is_empty(), "{v}");
    let inside = ok(&e.rbox(&["exec", "net", "ip", "-4", "addr", "show", "eth0"]));
    assert!(inside.contains(&ip), "{inside}");
    let hosts = ok(&e.rbox(&["exec", "net", "cat", "/etc/hosts"]));
    assert!(hosts.contains(&ip) && hosts.contains("net"), "{hosts}");
    ok(&e.rbox(&["rm", "-f", "net"]));
    e.assert_clean(&cid);
    ok(&e.rbox(&["volume", "rm", "keep"]));
    drop(net);
}

/// A bridge network of the test's own, removed (with its bridge) on drop.
struct NetGuard<'a> {
    e: &'a Engine,
    name: String,
}

impl<'a> NetGuard<'a> {
    fn new(e: &'a Engine) -> Self {
        let name = unique_id("enet");
        ok(&e.rbox(&["network", "create", &name]));
        NetGuard { e, name }
    }
}

impl Drop for NetGuard<'_> {
    fn drop(&mut self) {
        let ids = self.e.rbox(&["ps", "-aq", "--no-trunc"]);
        for id in stdout(&ids).lines() {
            let _ = self.e.rbox(&["rm", "-f", id]);
        }
        let o = self.e.rbox(&["network", "rm", &self.name]);
        assert!(
            o.status.success() || std::thread::panicking(),
            "network rm: {}",
            stderr(&o)
        );
    }
}

#[test]
fn pull_policies_through_a_local_registry() {
    guard!("pull_policies_through_a_local_registry");
    if !rbox_test_support::require(
        "pull_policies_through_a_local_registry",
        "needs docker-registry (Debian's docker-registry)",
        Path::new("/usr/bin/docker-registry").exists(),
    ) {
        return;
    }
    let e = Engine::new();
    let tmp = TempRoot::new("rbox-reg").expect("temp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let cfg = tmp.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: rbox-engine-test\n",
            tmp.path().join("storage").display()
        ),
    )
    .expect("config");
    let log = std::fs::File::create(tmp.path().join("registry.log")).expect("log");
    let child = std::process::Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start docker-registry");
    let _registry = rbox_test_support::ChildGuard::from_child(child);
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "docker-registry did not listen on {port}");

    // Push the busybox image from the test's store.
    let store = rbox_image::Store::open(&e.data).expect("store");
    let image = store
        .resolve("busybox", &rbox_image::manifest::Platform::host())
        .expect("busybox");
    let name = format!("127.0.0.1:{port}/library/busybox:latest");
    let target = rbox_image::Reference::parse(&name).expect("reference");
    let client = rbox_registry::Client::new(
        rbox_registry::ClientConfig::default(),
        std::sync::Arc::new(rbox_registry::StaticCredentials::new()),
    );
    client
        .push(
            &store,
            &image.target.digest,
            &target,
            &rbox_registry::NoProgress,
        )
        .expect("push");

    // missing: not in the store, so pulled; never: only what is there.
    let o = e.rbox(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("no such image"), "{}", stderr(&o));
    let o = e.rbox(&["run", "--rm", &name, "echo", "pulled"]);
    assert_eq!(ok(&o), "pulled\n");
    assert!(stderr(&o).contains("pulling"), "{}", stderr(&o));
    // Present now: missing does not pull again, always does.
    let o = e.rbox(&["run", "--rm", &name, "true"]);
    assert!(!stderr(&ok_output(o)).contains("pulling"));
    let o = e.rbox(&["run", "--rm", "--pull", "always", &name, "true"]);
    assert!(stderr(&ok_output(o)).contains("pulling"));
    e.assert_clean("");
}

fn ok_output(o: std::process::Output) -> std::process::Output {
    ok(&o);
    o
}
