//! Privileged networking tests: rbox-engine's CNI driving against the real
//! plugins, with fake "containers" (a netns from `attach` and a busybox
//! process started in it with nsenter). Each test uses its own data root,
//! network, bridge name and subnet, and removes every netns, veth, bridge,
//! iptables rule and process it made; iptables-save before and after is
//! compared for anything mentioning the test's containers or subnet.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rbox_engine::network::{
    self, Attachment, NetworkError, NetworkMode, NetworkOptions, NetworkRequest,
};
use rbox_test_support::{ChildGuard, TempRoot, have_command, require, require_root, unique_id};

/// Tests share iptables and the plugin binaries' locks; one at a time keeps
/// the before/after comparisons about one test.
static SERIAL: Mutex<()> = Mutex::new(());

fn guard(test: &str) -> bool {
    require_root(test)
        && require(test, "ip command (iproute2)", have_command("ip"))
        && require(test, "iptables-save", have_command("iptables-save"))
        && require(test, "nsenter (util-linux)", have_command("nsenter"))
        && require(test, "busybox", have_command("busybox"))
        && require(
            test,
            "CNI plugins (containernetworking-plugins)",
            network::PLUGIN_DIRS
                .iter()
                .any(|d| Path::new(d).join("bridge").exists()),
        )
}

/// A data root with one user network; drop detaches every container it
/// attached, removes the network and (as a backstop) its bridge.
struct Net {
    tmp: TempRoot,
    name: String,
    bridge: String,
    subnet: String,
    ids: Vec<String>,
}

impl Net {
    fn new(third_octet: u8) -> Net {
        let tmp = TempRoot::new("rbox-net-it").expect("temp root");
        let name = unique_id("net");
        let bridge = format!("rbt{}x{third_octet}", std::process::id() % 100_000);
        let subnet = format!("10.209.{third_octet}.0/24");
        network::create_network(
            tmp.path(),
            &name,
            &NetworkOptions::default()
                .subnet(subnet.clone())
                .bridge(bridge.clone()),
        )
        .expect("create network");
        Net {
            tmp,
            name,
            bridge,
            subnet,
            ids: Vec::new(),
        }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn request(&self, id: &str, name: &str) -> NetworkRequest {
        NetworkRequest {
            container_id: id.to_string(),
            name: name.to_string(),
            mode: NetworkMode::Bridge(self.name.clone()),
            ports: Vec::new(),
            dns: Vec::new(),
            extra_hosts: vec![("gw".into(), "host-gateway".into())],
            hostname: id.to_string(),
        }
    }

    fn attach(&mut self, req: &NetworkRequest) -> network::Result<Attachment> {
        self.ids.push(req.container_id.clone());
        network::attach(self.root(), req)
    }

    fn subnet_prefix(&self) -> String {
        let p = self.subnet.trim_end_matches("0/24");
        p.to_string()
    }

    /// Leases host-local holds in this network.
    fn leases(&self) -> Vec<String> {
        let dir = self.root().join("networks/ipam").join(&self.name);
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("10."))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Interfaces enslaved to the bridge.
    fn bridge_ports(&self) -> Vec<String> {
        std::fs::read_dir(Path::new("/sys/class/net").join(&self.bridge).join("brif"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for id in &self.ids {
            if let Err(e) = network::detach(self.root(), id) {
                eprintln!("network test cleanup: detach {id}: {e}");
            }
        }
        if let Err(e) = network::remove_network(self.root(), &self.name) {
            eprintln!("network test cleanup: rm {}: {e}", self.name);
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.bridge])
                .status();
        }
    }
}

fn iptables_save() -> Vec<String> {
    let out = Command::new("iptables-save")
        .stderr(Stdio::null())
        .output()
        .expect("iptables-save");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        // Chain counters change with traffic.
        .map(|l| match l.split_once(" [") {
            Some((head, _)) if l.starts_with(':') => head.to_string(),
            _ => l.to_string(),
        })
        .collect()
}

/// Rules present after but not before that mention the test's containers,
/// network or subnet; and non-CNI rules that were there before but are gone.
fn iptables_diff(
    before: &[String],
    after: &[String],
    marks: &[&str],
) -> (Vec<String>, Vec<String>) {
    let left: Vec<String> = after
        .iter()
        .filter(|l| !before.contains(l) && marks.iter().any(|m| l.contains(m)))
        .cloned()
        .collect();
    let lost: Vec<String> = before
        .iter()
        .filter(|l| {
            !after.contains(l) && !l.contains("CNI") && !l.starts_with("*") && *l != "COMMIT"
        })
        .cloned()
        .collect();
    (left, lost)
}

/// busybox httpd serving `body` on :8080 inside `netns`.
fn httpd(netns: &Path, dir: &Path, body: &str) -> ChildGuard {
    std::fs::create_dir_all(dir).expect("www dir");
    std::fs::write(dir.join("index.html"), body).expect("index");
    let child = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["busybox", "httpd", "-f", "-p", "8080", "-h"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start httpd");
    ChildGuard::from_child(child)
}

/// `GET /` from inside `netns` (a thread that joins it), retrying while
/// the server starts. (Debian's static busybox wget crashes, so not that.)
fn get_in(netns: &Path, ip: IpAddr, port: u16) -> String {
    let ns = std::fs::File::open(netns).expect("open netns");
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            http_get((ip, port))
        })
        .join()
        .expect("client thread")
    })
}

fn http_get(addr: impl std::net::ToSocketAddrs + Copy + std::fmt::Debug) -> String {
    let mut last = None;
    for _ in 0..100 {
        match TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut buf = String::new();
            s.read_to_string(&mut buf)?;
            Ok(buf)
        }) {
            Ok(body) if body.contains("200 OK") => return body,
            Ok(body) => last = Some(body),
            Err(e) => last = Some(e.to_string()),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("GET {addr:?} never succeeded: {last:?}");
}

fn ipv4(a: &Attachment) -> IpAddr {
    *a.ips.first().expect("an address")
}

#[test]
fn user_network_containers_reach_each_other_by_ip_and_hosts_name_them() {
    const T: &str = "user_network_containers_reach_each_other_by_ip_and_hosts_name_them";
    if !guard(T) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = iptables_save();
    let mut net = Net::new(201);
    let (a_id, b_id) = (unique_id("ca"), unique_id("cb"));
    let a = net.attach(&net.request(&a_id, "web")).expect("attach a");
    let b = net.attach(&net.request(&b_id, "client")).expect("attach b");
    let (a_ns, b_ns) = (
        a.netns_path.clone().expect("netns a"),
        b.netns_path.clone().expect("netns b"),
    );
    assert!(ipv4(&a).to_string().starts_with(&net.subnet_prefix()));
    assert_ne!(ipv4(&a), ipv4(&b));
    assert_eq!(
        a.gateway.map(|g| g.to_string()),
        Some(format!("{}1", net.subnet_prefix()))
    );
    assert_eq!(net.leases().len(), 2);
    assert_eq!(net.bridge_ports().len(), 2);

    let server = httpd(&a_ns, &net.tmp.join("www"), "hello from a");
    let resp = get_in(&b_ns, ipv4(&a), 8080);
    assert!(resp.ends_with("hello from a"), "{resp}");

    // Both hosts files name both containers; a's was rewritten in place when b joined.
    let a_hosts = std::fs::read_to_string(&a.hosts_path).expect("a hosts");
    let b_hosts = std::fs::read_to_string(&b.hosts_path).expect("b hosts");
    for h in [&a_hosts, &b_hosts] {
        assert!(h.contains(&format!("{}\t{a_id} web", ipv4(&a))), "{h}");
        assert!(h.contains(&format!("{}\t{b_id} client", ipv4(&b))), "{h}");
        assert!(h.contains(&format!("{}1\tgw", net.subnet_prefix())), "{h}");
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"), "{h}");
    }
    assert_eq!(b.hosts_file, b_hosts);
    // What a resolver in b makes of it, with the file bind-mounted as the
    // engine will: the peer's name gives the peer's address.
    if have_command("getent") && have_command("unshare") {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", b_ns.display()))
            .args([
                "unshare",
                "-m",
                "sh",
                "-c",
                "mount --bind \"$0\" /etc/hosts && getent hosts web",
            ])
            .arg(&b.hosts_path)
            .output()
            .expect("getent");
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(
            got.starts_with(&format!("{} ", ipv4(&a))),
            "{got} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        !b.resolv_conf.contains("nameserver 127."),
        "{}",
        b.resolv_conf
    );
    network::check(net.root(), &a_id).expect("CNI CHECK");

    // Removing the network while in use is refused.
    let e = network::remove_network(net.root(), &net.name).expect_err("in use");
    assert!(matches!(e, NetworkError::NetworkInUse { .. }), "{e}");

    drop(server);
    network::detach(net.root(), &b_id).expect("detach b");
    assert!(!b_ns.exists(), "netns file of b is gone");
    assert_eq!(net.leases().len(), 1, "b's address is released");
    assert_eq!(net.bridge_ports().len(), 1, "b's veth is gone");
    let a_hosts = std::fs::read_to_string(&a.hosts_path).expect("a hosts");
    assert!(!a_hosts.contains("client"), "{a_hosts}");
    network::detach(net.root(), &b_id).expect("detach is idempotent");
    network::detach(net.root(), &a_id).expect("detach a");
    assert!(net.leases().is_empty());
    assert!(net.bridge_ports().is_empty());
    assert!(!a_ns.exists());

    let after = iptables_save();
    let (left, lost) = iptables_diff(&before, &after, &[&a_id, &b_id, &net.subnet_prefix()]);
    assert!(left.is_empty(), "rules left behind: {left:#?}");
    assert!(lost.is_empty(), "host rules removed: {lost:#?}");
    let bridge = net.bridge.clone();
    drop(net);
    assert!(
        !Path::new("/sys/class/net").join(bridge).exists(),
        "bridge removed with the network"
    );
}

#[test]
fn published_port_reaches_container_from_host_loopback() {
    const T: &str = "published_port_reaches_container_from_host_loopback";
    if !guard(T) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = iptables_save();
    let mut net = Net::new(202);
    let id = unique_id("cp");
    let mut req = net.request(&id, "pub");
    // Host port 0: attach picks a free one.
    // Host port 0 twice: on loopback only, and on all addresses.
    req.ports = network::parse_publish("127.0.0.1::8080").expect("spec");
    req.ports
        .extend(network::parse_publish("8080").expect("spec"));
    let a = net.attach(&req).expect("attach with -p");
    let port = a.ports[0].host_port;
    let any_port = a.ports[1].host_port;
    assert!(
        port != 0 && any_port != 0 && port != any_port,
        "{:?}",
        a.ports
    );
    let _server = httpd(
        a.netns_path.as_ref().expect("netns"),
        &net.tmp.join("www"),
        "published",
    );
    for p in [port, any_port] {
        let resp = http_get(("127.0.0.1", p));
        assert!(resp.ends_with("published"), "{resp}");
    }

    // The same host port again: refused before any plugin runs, nothing left.
    let other = unique_id("cq");
    let mut req2 = net.request(&other, "second");
    req2.ports = a.ports[..1].to_vec();
    let e = net.attach(&req2).expect_err("published twice");
    assert!(matches!(e, NetworkError::PortPublished { .. }), "{e}");
    // A port a host process holds: a clear "in use" error.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let held = holder.local_addr().expect("addr").port();
    req2.ports = network::parse_publish(&format!("127.0.0.1:{held}:80")).expect("spec");
    let e = net.attach(&req2).expect_err("in use");
    assert!(
        e.to_string()
            .contains(&format!("127.0.0.1:{held}/tcp is already in use")),
        "{e}"
    );
    assert!(!network::netns_path(&other).exists());
    assert!(!net.root().join("networks/endpoints").join(&other).exists());
    assert_eq!(net.leases().len(), 1);

    network::detach(net.root(), &id).expect("detach");
    let after = iptables_save();
    let (left, lost) = iptables_diff(
        &before,
        &after,
        &[
            &id,
            &other,
            &net.subnet_prefix(),
            &format!("dport {port}"),
            &format!("dport {any_port}"),
        ],
    );
    assert!(left.is_empty(), "rules left behind: {left:#?}");
    assert!(lost.is_empty(), "host rules removed: {lost:#?}");
    for p in [port, any_port] {
        assert!(
            TcpStream::connect(("127.0.0.1", p)).is_err(),
            "port {p} is no longer forwarded"
        );
    }
}

#[test]
fn failed_add_leaves_nothing_behind() {
    const T: &str = "failed_add_leaves_nothing_behind";
    if !guard(T) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = iptables_save();
    let mut net = Net::new(203);
    // Break the list after bridge, portmap and firewall have run.
    let path = net
        .root()
        .join("networks")
        .join(format!("{}.json", net.name));
    let mut list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("conflist")).expect("json");
    list["plugins"]
        .as_array_mut()
        .expect("plugins")
        .push(serde_json::json!({"type": "rbox-no-such-plugin"}));
    std::fs::write(&path, serde_json::to_vec(&list).expect("json")).expect("write");

    let id = unique_id("cf");
    let mut req = net.request(&id, "broken");
    req.ports = network::parse_publish("127.0.0.1::80").expect("spec");
    let e = net.attach(&req).expect_err("ADD fails");
    assert!(matches!(e, NetworkError::PluginNotFound { .. }), "{e}");
    assert!(!network::netns_path(&id).exists(), "no netns left");
    assert!(net.leases().is_empty(), "address released");
    assert!(net.bridge_ports().is_empty(), "no veth left");
    assert!(!net.root().join("networks/endpoints").join(&id).exists());
    let after = iptables_save();
    let (left, lost) = iptables_diff(&before, &after, &[&id, &net.subnet_prefix()]);
    assert!(left.is_empty(), "rules left behind: {left:#?}");
    assert!(lost.is_empty(), "host rules removed: {lost:#?}");
}

fn links_in(netns: &Path) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["ip", "-o", "link"])
        .output()
        .expect("ip link");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn none_host_and_container_modes() {
    const T: &str = "none_host_and_container_modes";
    if !guard(T) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempRoot::new("rbox-net-it").expect("temp");
    let root = tmp.path();
    let req = |id: &str, mode: NetworkMode| NetworkRequest {
        container_id: id.to_string(),
        name: id.to_string(),
        mode,
        ports: Vec::new(),
        dns: vec!["192.0.2.53".into()],
        extra_hosts: vec![("db".into(), "192.0.2.7".into())],
        hostname: "box".into(),
    };
    let (n_id, c_id, h_id) = (unique_id("cn"), unique_id("cc"), unique_id("ch"));
    let cleanup: Vec<String> = vec![c_id.clone(), n_id.clone(), h_id.clone()];
    struct Detach<'a>(&'a Path, Vec<String>);
    impl Drop for Detach<'_> {
        fn drop(&mut self) {
            for id in &self.1 {
                let _ = network::detach(self.0, id);
            }
        }
    }
    let _cleanup = Detach(root, cleanup);

    let none = network::attach(root, &req(&n_id, NetworkMode::None)).expect("none");
    let ns = none.netns_path.clone().expect("none has a netns");
    let links = links_in(&ns);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    assert!(none.ips.is_empty());
    assert_eq!(none.resolv_conf, search_lines() + "nameserver 192.0.2.53\n");
    assert!(
        none.hosts_file.ends_with("192.0.2.7\tdb\n"),
        "{}",
        none.hosts_file
    );

    let joined = network::attach(root, &req(&c_id, NetworkMode::Container(n_id.clone())))
        .expect("container:");
    assert_eq!(joined.netns_path.as_ref(), Some(&ns));
    assert_eq!(joined.hosts_path, none.hosts_path);
    let e = network::attach(root, &req(&c_id, NetworkMode::Container("absent".into())))
        .expect_err("twice");
    assert!(matches!(e, NetworkError::AlreadyAttached { .. }), "{e}");
    let e = network::attach(root, &req("zzz", NetworkMode::Container("absent".into())))
        .expect_err("absent");
    assert!(matches!(e, NetworkError::NoContainerNetns { .. }), "{e}");

    let host = network::attach(root, &req(&h_id, NetworkMode::Host)).expect("host");
    assert!(host.netns_path.is_none());
    assert!(host.hosts_file.ends_with("192.0.2.7\tdb\n"));

    network::detach(root, &c_id).expect("detach joiner");
    assert!(ns.exists(), "the joiner does not own the netns");
    network::detach(root, &n_id).expect("detach none");
    assert!(!ns.exists());
    network::detach(root, &h_id).expect("detach host");
    network::detach(root, &h_id).expect("again");
    assert!(
        network::list_networks(root).expect("ls").is_empty(),
        "none/host create no network"
    );
}

/// The host's search/options lines, which `--dns` keeps.
fn search_lines() -> String {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("nameserver"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn detach_after_the_netns_is_gone_releases_everything() {
    const T: &str = "detach_after_the_netns_is_gone_releases_everything";
    if !guard(T) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = iptables_save();
    let mut net = Net::new(204);
    let id = unique_id("cl");
    let mut req = net.request(&id, "lost");
    req.ports = network::parse_publish("127.0.0.1::80").expect("spec");
    let a = net.attach(&req).expect("attach");
    // As after a reboot or a killed engine: the namespace (and its veth) vanish.
    let ns = a.netns_path.expect("netns");
    let st = Command::new("umount")
        .arg("-l")
        .arg(&ns)
        .status()
        .expect("umount");
    assert!(st.success());
    std::fs::remove_file(&ns).expect("rm netns file");
    network::detach(net.root(), &id).expect("detach without a netns");
    assert!(net.leases().is_empty(), "address released");
    assert!(!net.root().join("networks/endpoints").join(&id).exists());
    let after = iptables_save();
    let (left, lost) = iptables_diff(&before, &after, &[&id, &net.subnet_prefix()]);
    assert!(left.is_empty(), "rules left behind: {left:#?}");
    assert!(lost.is_empty(), "host rules removed: {lost:#?}");
}

#[test]
fn cli_network_and_volume_commands() {
    let tmp = TempRoot::new("rbox-net-cli").expect("temp");
    let rbox = |args: &[&str]| {
        let out = Command::new(rbox_integration::rbox_bin())
            .arg("--data-root")
            .arg(tmp.path())
            .args(args)
            .output()
            .expect("run rbox");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let bridge = format!("rbc{}", std::process::id() % 100_000);
    let (ok, id, err) = rbox(&[
        "network",
        "create",
        "--subnet",
        "10.209.230.0/24",
        "-o",
        &format!("com.docker.network.bridge.name={bridge}"),
        "clinet",
    ]);
    assert!(ok, "{err}");
    assert_eq!(id.trim().len(), 64);
    let (ok, ls, _) = rbox(&["network", "ls"]);
    assert!(
        ok && ls.contains("clinet") && ls.starts_with("NETWORK ID"),
        "{ls}"
    );
    let (ok, js, _) = rbox(&["network", "inspect", "clinet"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&js).expect("inspect json");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.209.230.0/24");
    assert_eq!(
        v[0]["Options"]["com.docker.network.bridge.name"],
        bridge.as_str()
    );
    let (ok, _, err) = rbox(&["network", "create", "host"]);
    assert!(!ok && err.contains("predefined"), "{err}");
    let (ok, out, _) = rbox(&["network", "rm", "clinet"]);
    assert!(ok && out.trim() == "clinet");

    let (ok, out, err) = rbox(&["volume", "create", "--label", "a=b", "vol1"]);
    assert!(ok && out.trim() == "vol1", "{err}");
    let (ok, ls, _) = rbox(&["volume", "ls", "-q"]);
    assert!(ok && ls.trim() == "vol1", "{ls}");
    let (ok, js, _) = rbox(&["volume", "inspect", "vol1"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&js).expect("inspect json");
    assert_eq!(v[0]["Labels"]["a"], "b");
    assert_eq!(v[0]["Driver"], "local");
    let (ok, _, err) = rbox(&["volume", "create", "-x"]);
    assert!(!ok, "{err}");
    let (ok, out, _) = rbox(&["volume", "prune", "--force", "--all"]);
    assert!(ok && out.contains("vol1"), "{out}");
    let (ok, _, err) = rbox(&["volume", "rm", "vol1"]);
    assert!(!ok && err.contains("not found"), "{err}");
}
