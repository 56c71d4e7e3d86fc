//! Endpoint records: one per attached container, under
//! `<data-root>/networks/endpoints/<id>/`:
//!
//! ```text
//! endpoint.json   what attach did (mode, network, netns, ips, ports, CNI result)
//! hosts           the container's /etc/hosts (the engine bind-mounts it)
//! resolv.conf     the container's /etc/resolv.conf
//! ```
//!
//! The record is written before any plugin runs, so a detach after a crash
//! mid-attach still knows which network to run DEL against. The set of
//! records of one user network is its hosts registry: when a container
//! joins or leaves, every member's hosts file is rewritten in place
//! (truncate + write, never rename) so existing bind mounts see it.
//! Callers hold the networks lock.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PortMapping;
use super::error::{NetworkError, Result, io_err};
use super::files::{self, HostEntry};
use super::store::{DEFAULT_NETWORK, networks_dir};

/// How an endpoint is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    None,
    Host,
    Bridge,
    Container,
}

/// What attach did for one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub container_id: String,
    pub name: String,
    pub hostname: String,
    pub kind: Kind,
    /// The network (bridge kind only).
    pub network: Option<String>,
    /// The container whose namespace and files this one shares (container kind).
    pub joined: Option<String>,
    /// The netns file the runtime joins; `own_netns` if rbox made it.
    pub netns: Option<PathBuf>,
    pub own_netns: bool,
    pub ifname: String,
    pub ips: Vec<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub ports: Vec<PortMapping>,
    /// `--add-host` entries with `host-gateway` already resolved.
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// The final CNI ADD result, the prevResult of DEL.
    pub cni_result: Option<Value>,
}

impl Endpoint {
    /// This container's line in its own and its peers' hosts files.
    fn own_entry(&self) -> Option<HostEntry> {
        let ip = *self.ips.first()?;
        Some(HostEntry::new(ip, &[&self.hostname, &self.name]))
    }

    fn extra_entries(&self) -> Vec<HostEntry> {
        self.extra_hosts
            .iter()
            .map(|(h, ip)| HostEntry::new(*ip, &[h]))
            .collect()
    }
}

/// `<data-root>/networks/endpoints/<id>`.
pub(crate) fn dir(root: &Path, id: &str) -> PathBuf {
    networks_dir(root).join("endpoints").join(id)
}

/// The container's hosts file.
pub(crate) fn hosts_path(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("hosts")
}

/// The container's resolv.conf.
pub(crate) fn resolv_path(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("resolv.conf")
}

/// The record of `id`, if any.
pub(crate) fn load(root: &Path, id: &str) -> Result<Option<Endpoint>> {
    let path = dir(root, id).join("endpoint.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| NetworkError::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

/// Writes the record (atomically: it is never bind-mounted).
pub(crate) fn save(root: &Path, ep: &Endpoint) -> Result<()> {
    let d = dir(root, &ep.container_id);
    std::fs::create_dir_all(&d).map_err(io_err("creating", &d))?;
    let bytes = serde_json::to_vec_pretty(ep).expect("an endpoint always serialises");
    super::store::write_atomic(&d.join("endpoint.json"), &bytes)
}

/// Removes the record and its files.
pub(crate) fn remove(root: &Path, id: &str) -> Result<()> {
    let d = dir(root, id);
    match std::fs::remove_dir_all(&d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", d)(e)),
    }
}

/// Every record.
pub(crate) fn all(root: &Path) -> Result<Vec<Endpoint>> {
    let d = networks_dir(root).join("endpoints");
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", d)(e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err("reading", &d))?;
        let id = ent.file_name().to_string_lossy().into_owned();
        if let Some(ep) = load(root, &id)? {
            out.push(ep);
        }
    }
    out.sort_by(|a, b| a.container_id.cmp(&b.container_id));
    Ok(out)
}

/// Writes `content` into `path` in place: a bind mount of the file keeps
/// pointing at the same inode, so a running container sees the update.
pub(crate) fn write_in_place(path: &Path, content: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("opening", path))?;
    f.write_all(content.as_bytes())
        .map_err(io_err("writing", path))
}

/// The hosts file of a bridge endpoint given every endpoint: on a user
/// network the other members are listed by name; the default `bridge`
/// network has no name resolution (as with docker).
pub(crate) fn render_bridge_hosts(ep: &Endpoint, everyone: &[Endpoint]) -> String {
    let peers: Vec<HostEntry> = match ep.network.as_deref() {
        Some(net) if net != DEFAULT_NETWORK => everyone
            .iter()
            .filter(|o| {
                o.container_id != ep.container_id
                    && o.kind == Kind::Bridge
                    && o.network.as_deref() == Some(net)
            })
            .filter_map(Endpoint::own_entry)
            .collect(),
        _ => Vec::new(),
    };
    files::hosts(&ep.extra_entries(), ep.own_entry().as_ref(), &peers)
}

/// Rewrites the hosts file of every endpoint on `network`.
pub(crate) fn refresh_network_hosts(root: &Path, network: &str) -> Result<()> {
    if network == DEFAULT_NETWORK {
        return Ok(());
    }
    let everyone = all(root)?;
    for ep in everyone
        .iter()
        .filter(|e| e.kind == Kind::Bridge && e.network.as_deref() == Some(network))
    {
        write_in_place(
            &hosts_path(root, &ep.container_id),
            &render_bridge_hosts(ep, &everyone),
        )?;
    }
    Ok(())
}

/// Hosts file content for the other kinds.
pub(crate) fn render_other_hosts(ep: &Endpoint, host_hosts: &str) -> String {
    match ep.kind {
        Kind::Host => files::host_mode_hosts(host_hosts, &ep.extra_entries()),
        _ => files::hosts(&ep.extra_entries(), None, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(id: &str, net: &str, ip: &str) -> Endpoint {
        Endpoint {
            container_id: id.into(),
            name: format!("name-{id}"),
            hostname: id.into(),
            kind: Kind::Bridge,
            network: Some(net.into()),
            joined: None,
            netns: None,
            own_netns: true,
            ifname: "eth0".into(),
            ips: vec![ip.parse().expect("ip")],
            gateway: None,
            ports: Vec::new(),
            extra_hosts: vec![("gw".into(), "10.0.0.1".parse().expect("ip"))],
            cni_result: None,
        }
    }

    #[test]
    fn user_network_lists_peers_only_from_same_network() {
        let all = [
            ep("a", "n1", "10.1.0.2"),
            ep("b", "n1", "10.1.0.3"),
            ep("c", "n2", "10.2.0.2"),
        ];
        let h = render_bridge_hosts(&all[0], &all);
        let tail: Vec<&str> = h.lines().skip(6).collect();
        assert_eq!(
            tail,
            ["10.0.0.1\tgw", "10.1.0.2\ta name-a", "10.1.0.3\tb name-b"]
        );
    }

    #[test]
    fn default_bridge_has_no_peers() {
        let all = [ep("a", "bridge", "10.1.0.2"), ep("b", "bridge", "10.1.0.3")];
        let h = render_bridge_hosts(&all[0], &all);
        assert!(!h.contains("name-b"), "{h}");
        assert!(h.contains("10.1.0.2\ta name-a"), "{h}");
    }

    #[test]
    fn records_round_trip_and_in_place_write() {
        let tmp = rbox_test_support::TempRoot::new("rbox-ep").expect("temp");
        let root = tmp.path();
        let e = ep("abc", "n1", "10.1.0.2");
        save(root, &e).expect("save");
        assert_eq!(load(root, "abc").expect("load").expect("some").ips, e.ips);
        let hp = hosts_path(root, "abc");
        write_in_place(&hp, "first version, long\n").expect("write");
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&hp).expect("stat"));
        refresh_network_hosts(root, "n1").expect("refresh");
        let meta = std::fs::metadata(&hp).expect("stat");
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&meta), ino);
        assert!(
            std::fs::read_to_string(&hp)
                .expect("read")
                .contains("name-abc")
        );
        assert_eq!(all(root).expect("all").len(), 1);
        remove(root, "abc").expect("rm");
        remove(root, "abc").expect("rm again");
        assert!(load(root, "abc").expect("load").is_none());
    }
}
