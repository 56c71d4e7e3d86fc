//! Network definitions under `<data-root>/networks/`.
//!
//! ```text
//! networks/<name>.json          the network's CNI conflist (bridge + host-local,
//!                               portmap, firewall), with rbox's own metadata
//!                               under the "rbox" key that plugins never see
//! networks/ipam/<name>/<ip>     host-local's leases (injected as dataDir)
//! networks/endpoints/<id>/      one attached container (see endpoint.rs)
//! networks/.lock                flock serialising every change below networks/
//! ```
//!
//! Conflists are replaced atomically (temp + rename); they are read far
//! more often than written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};

use super::error::{NetworkError, Result, io_err};
use super::subnet::{self, DEFAULT_BRIDGE_SUBNET, Subnet};

/// The predefined network that `--network bridge` (and no flag) attaches to.
pub const DEFAULT_NETWORK: &str = "bridge";

/// The default network's Linux bridge.
pub const DEFAULT_BRIDGE: &str = "rbox0";

/// The CNI spec version of the conflists rbox writes.
const CNI_VERSION: &str = "1.0.0";

/// How to create a network. `Default` gives a bridge named after the
/// network's id and a free /24 from rbox's pool.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NetworkOptions {
    /// IPv4 subnet in CIDR form (OPTIONAL; picked from the pool if absent).
    pub subnet: Option<String>,
    /// Linux bridge name (OPTIONAL; `rbox-<id prefix>` if absent).
    pub bridge: Option<String>,
    /// No route to the outside world and no masquerading (docker's `--internal`).
    pub internal: bool,
    /// User labels.
    pub labels: BTreeMap<String, String>,
}

impl NetworkOptions {
    /// Sets the subnet.
    pub fn subnet(mut self, subnet: impl Into<String>) -> Self {
        self.subnet = Some(subnet.into());
        self
    }

    /// Sets the bridge name.
    pub fn bridge(mut self, bridge: impl Into<String>) -> Self {
        self.bridge = Some(bridge.into());
        self
    }

    /// Makes the network internal.
    pub fn internal(mut self, internal: bool) -> Self {
        self.internal = internal;
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// A network as `network ls` / `inspect` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkInfo {
    /// Name (unique).
    pub name: String,
    /// 64-hex id.
    pub id: String,
    /// Always "bridge" for now.
    pub driver: String,
    /// The Linux bridge device.
    pub bridge: String,
    /// IPv4 subnet (CIDR).
    pub subnet: String,
    /// The bridge's address, containers' default gateway.
    pub gateway: IpAddr,
    /// RFC 3339 creation time.
    pub created: String,
    /// No outside access.
    pub internal: bool,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Ids of the containers attached now (filled by list/inspect).
    pub containers: Vec<String>,
}

impl NetworkInfo {
    /// Docker's `network inspect` object for this network; `endpoints`
    /// gives (container id, name, IPv4 address with prefix) per container.
    pub fn docker_json(&self, endpoints: &[(String, String, String)]) -> Value {
        let containers: serde_json::Map<String, Value> = endpoints
            .iter()
            .map(|(id, name, ip)| {
                (
                    id.clone(),
                    json!({"Name": name, "EndpointID": "", "MacAddress": "",
                           "IPv4Address": ip, "IPv6Address": ""}),
                )
            })
            .collect();
        json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": {},
                     "Config": [{"Subnet": self.subnet, "Gateway": self.gateway.to_string()}]},
            "Internal": self.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": {"com.docker.network.bridge.name": self.bridge},
            "Labels": self.labels,
        })
    }
}

/// `<data-root>/networks`.
pub(crate) fn networks_dir(root: &Path) -> PathBuf {
    root.join("networks")
}

/// `<data-root>/networks/ipam`, host-local's data directory.
pub(crate) fn ipam_dir(root: &Path) -> PathBuf {
    networks_dir(root).join("ipam")
}

fn conflist_path(root: &Path, name: &str) -> PathBuf {
    networks_dir(root).join(format!("{name}.json"))
}

/// Takes the exclusive lock over everything under `networks/`, creating
/// the directory on first use. Held for the whole of an attach or detach
/// so hosts files and port checks see a consistent set of endpoints.
pub(crate) fn lock(root: &Path) -> Result<Flock<File>> {
    let dir = networks_dir(root);
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let path = dir.join(".lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening", &path))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, source)| NetworkError::Lock { path, source })
}

/// Docker's rule for network (and volume) names.
pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(NetworkError::InvalidNetworkName {
            name: name.to_string(),
        })
    }
}

/// 64 random hex digits.
pub(crate) fn random_id() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io_err("reading", "/dev/urandom"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Writes `bytes` to `path` through a temp file and rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    f.write_all(bytes).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("renaming into place", path))
}

/// The conflist of network `name`, if it exists.
pub(crate) fn load_conflist(root: &Path, name: &str) -> Result<Option<Value>> {
    let path = conflist_path(root, name);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| NetworkError::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

/// Reads a network's summary back from its conflist.
pub(crate) fn info_from_conflist(name: &str, c: &Value) -> NetworkInfo {
    let plugins = c["plugins"].as_array().cloned().unwrap_or_default();
    let bridge_conf = plugins
        .iter()
        .find(|p| p["type"] == "bridge")
        .cloned()
        .unwrap_or(Value::Null);
    let range = &bridge_conf["ipam"]["ranges"][0][0];
    let meta = &c["rbox"];
    NetworkInfo {
        name: name.to_string(),
        id: meta["id"].as_str().unwrap_or_default().to_string(),
        driver: "bridge".into(),
        bridge: bridge_conf["bridge"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        subnet: range["subnet"].as_str().unwrap_or_default().to_string(),
        gateway: range["gateway"]
            .as_str()
            .and_then(|g| g.parse().ok())
            .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        created: meta["created"].as_str().unwrap_or_default().to_string(),
        internal: meta["internal"].as_bool().unwrap_or(false),
        labels: serde_json::from_value(meta["labels"].clone()).unwrap_or_default(),
        containers: Vec::new(),
    }
}

fn build_conflist(name: &str, id: &str, bridge: &str, net: Subnet, opts: &NetworkOptions) -> Value {
    let routes = if opts.internal {
        json!([])
    } else {
        json!([{"dst": "0.0.0.0/0"}])
    };
    json!({
        "cniVersion": CNI_VERSION,
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": !opts.internal,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.to_string(), "gateway": net.gateway().to_string()}]],
                    "routes": routes,
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "firewall", "backend": "iptables"},
        ],
        "rbox": {
            "id": id,
            "created": rbox_runtime::state::now_rfc3339(),
            "internal": opts.internal,
            "labels": opts.labels,
        },
    })
}

/// Every stored network (unsorted), as (name, conflist).
pub(crate) fn all_conflists(root: &Path) -> Result<Vec<(String, Value)>> {
    let dir = networks_dir(root);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err("reading", &dir))?;
        let fname = ent.file_name().to_string_lossy().into_owned();
        let Some(name) = fname.strip_suffix(".json") else {
            continue;
        };
        if !valid_name(name) {
            continue;
        }
        if let Some(c) = load_conflist(root, name)? {
            out.push((name.to_string(), c));
        }
    }
    Ok(out)
}

/// Creates network `name` with `bridge` and `subnet`; the lock is held.
pub(crate) fn create_locked(
    root: &Path,
    name: &str,
    default_bridge: Option<&str>,
    opts: &NetworkOptions,
) -> Result<NetworkInfo> {
    if load_conflist(root, name)?.is_some() {
        return Err(NetworkError::NetworkExists {
            name: name.to_string(),
        });
    }
    let id = random_id()?;
    let bridge = opts
        .bridge
        .clone()
        .or(default_bridge.map(str::to_string))
        .unwrap_or_else(|| format!("rbox-{}", &id[..10]));
    if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ', ':']) {
        return Err(NetworkError::InvalidBridge {
            bridge,
            reason: "must be 1 to 15 characters without '/', ':' or spaces",
        });
    }
    // Never adopt someone else's device (docker0, eth0...): rm would delete it.
    if opts.bridge.is_some() && Path::new("/sys/class/net").join(&bridge).exists() {
        return Err(NetworkError::InvalidBridge {
            bridge,
            reason: "a network device with this name exists already",
        });
    }
    let mut others = Vec::new();
    for (n, c) in all_conflists(root)? {
        let info = info_from_conflist(&n, &c);
        if info.bridge == bridge {
            return Err(NetworkError::NetworkExists {
                name: format!("{n} (bridge {bridge})"),
            });
        }
        if let Ok(s) = Subnet::parse(&info.subnet) {
            others.push((n, s));
        }
    }
    let routes = subnet::host_routes();
    let net = match &opts.subnet {
        Some(s) => {
            let net = Subnet::parse(s)?;
            subnet::check_free(net, &bridge, &routes, &others)?;
            net
        }
        None => subnet::pick_free(&routes, &others)?,
    };
    let c = build_conflist(name, &id, &bridge, net, opts);
    let bytes = serde_json::to_vec_pretty(&c).expect("a JSON value always serialises");
    write_atomic(&conflist_path(root, name), &bytes)?;
    tracing::info!(network = name, %bridge, subnet = %net, "created network");
    Ok(info_from_conflist(name, &c))
}

/// Creates a user network. `bridge`, `host` and `none` are reserved.
pub fn create_network(data_root: &Path, name: &str, opts: &NetworkOptions) -> Result<NetworkInfo> {
    check_name(name)?;
    if matches!(name, DEFAULT_NETWORK | "host" | "none") {
        return Err(NetworkError::Predefined {
            name: name.to_string(),
            action: "created",
        });
    }
    let _lock = lock(data_root)?;
    create_locked(data_root, name, None, opts)
}

/// Creates the default `bridge` network (bridge `rbox0`, subnet
/// [`DEFAULT_BRIDGE_SUBNET`](super::DEFAULT_BRIDGE_SUBNET) unless `opts`
/// say otherwise) if it does not exist yet; the way to configure it, like
/// dockerd's `--bip`. Attach calls this with defaults.
pub fn ensure_default_network(data_root: &Path, opts: &NetworkOptions) -> Result<NetworkInfo> {
    let _lock = lock(data_root)?;
    ensure_default_locked(data_root, opts)
}

pub(crate) fn ensure_default_locked(root: &Path, opts: &NetworkOptions) -> Result<NetworkInfo> {
    if let Some(c) = load_conflist(root, DEFAULT_NETWORK)? {
        return Ok(info_from_conflist(DEFAULT_NETWORK, &c));
    }
    let mut opts = opts.clone();
    if opts.subnet.is_none() {
        opts.subnet = Some(DEFAULT_BRIDGE_SUBNET.to_string());
    }
    create_locked(root, DEFAULT_NETWORK, Some(DEFAULT_BRIDGE), &opts)
}

/// Every network, sorted by name, with its attached containers.
pub fn list_networks(data_root: &Path) -> Result<Vec<NetworkInfo>> {
    let eps = super::endpoint::all(data_root)?;
    let mut out: Vec<NetworkInfo> = all_conflists(data_root)?
        .into_iter()
        .map(|(n, c)| {
            let mut info = info_from_conflist(&n, &c);
            info.containers = eps
                .iter()
                .filter(|e| e.network.as_deref() == Some(n.as_str()))
                .map(|e| e.container_id.clone())
                .collect();
            info
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One network by name (or by a unique id prefix, as docker allows).
pub fn inspect_network(data_root: &Path, name_or_id: &str) -> Result<NetworkInfo> {
    let all = list_networks(data_root)?;
    if let Some(n) = all.iter().find(|n| n.name == name_or_id) {
        return Ok(n.clone());
    }
    let by_id: Vec<&NetworkInfo> = all
        .iter()
        .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
        .collect();
    match by_id.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(NetworkError::NetworkNotFound {
            name: name_or_id.to_string(),
        }),
    }
}

/// Removes a user network, refusing while containers are attached. The
/// bridge device goes too (the bridge plugin never deletes it).
pub fn remove_network(data_root: &Path, name: &str) -> Result<()> {
    let _lock = lock(data_root)?;
    let info = match load_conflist(data_root, name)? {
        Some(c) => info_from_conflist(name, &c),
        None => {
            return Err(NetworkError::NetworkNotFound {
                name: name.to_string(),
            });
        }
    };
    let attached: Vec<String> = super::endpoint::all(data_root)?
        .into_iter()
        .filter(|e| e.network.as_deref() == Some(name))
        .map(|e| e.container_id)
        .collect();
    if !attached.is_empty() {
        return Err(NetworkError::NetworkInUse {
            name: name.to_string(),
            containers: attached,
        });
    }
    super::cni::delete_bridge(&info.bridge);
    let path = conflist_path(data_root, name);
    std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
    let ipam = ipam_dir(data_root).join(name);
    if let Err(e) = std::fs::remove_dir_all(&ipam)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %ipam.display(), error = %e, "cannot remove the network's IPAM leases");
    }
    tracing::info!(network = name, "removed network");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "my-net", "n.1_2", "0abc"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "a b", "a:b", "ü"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_list_remove_without_containers() {
        let tmp = rbox_test_support::TempRoot::new("rbox-net").expect("temp");
        let root = tmp.path();
        let opts = NetworkOptions::default()
            .subnet("10.209.250.0/24")
            .bridge("rbxunit0")
            .label("a", "b");
        let info = create_network(root, "n1", &opts).expect("create");
        assert_eq!(info.bridge, "rbxunit0");
        assert_eq!(info.gateway.to_string(), "10.209.250.1");
        assert_eq!(info.id.len(), 64);
        assert!(matches!(
            create_network(root, "n1", &opts),
            Err(NetworkError::NetworkExists { .. })
        ));
        let clash = NetworkOptions::default()
            .subnet("10.209.250.0/25")
            .bridge("rbxunit1");
        let e = create_network(root, "n2", &clash).expect_err("overlap");
        assert!(e.to_string().contains("network n1"), "{e}");
        assert!(matches!(
            create_network(root, "bridge", &NetworkOptions::default()),
            Err(NetworkError::Predefined { .. })
        ));
        let auto = create_network(root, "n3", &NetworkOptions::default()).expect("auto subnet");
        assert!(auto.subnet.starts_with("10.209."), "{}", auto.subnet);
        assert!(auto.bridge.starts_with("rbox-"));
        let names: Vec<String> = list_networks(root)
            .expect("ls")
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["n1", "n3"]);
        let c = load_conflist(root, "n1").expect("read").expect("exists");
        assert_eq!(c["plugins"][0]["ipam"]["type"], "host-local");
        assert_eq!(c["plugins"][1]["capabilities"]["portMappings"], true);
        let j = info.docker_json(&[]);
        assert_eq!(j["IPAM"]["Config"][0]["Subnet"], "10.209.250.0/24");
        assert_eq!(j["Labels"]["a"], "b");
        assert_eq!(
            inspect_network(root, &info.id[..12]).expect("by id").name,
            "n1"
        );
        remove_network(root, "n1").expect("rm");
        remove_network(root, "n3").expect("rm");
        assert!(matches!(
            remove_network(root, "n1"),
            Err(NetworkError::NetworkNotFound { .. })
        ));
    }
}
