//! Container networking for `rbox run`, daemonless: docker's network modes
//! built from the standard CNI plugins (bridge + host-local, portmap,
//! firewall from Debian's `containernetworking-plugins`), which rbox
//! executes itself per the CNI spec; `lo` of a new netns rbox brings up
//! itself (no loopback plugin run per container).
//!
//! - `bridge` (default) and user networks: a named netns under
//!   `/run/rbox/netns/<id>`, a veth into the network's Linux bridge, an
//!   address from host-local (leases under `<data-root>/networks/ipam`),
//!   published ports as portmap DNAT rules. On a user network the
//!   containers find each other by name through their hosts files.
//! - `host`: no netns; `none`: a fresh netns with only `lo` up;
//!   `container:<id>`: that container's netns, hosts and resolv.conf.
//!
//! How the engine uses it: call [`attach`] before creating the container;
//! put [`Attachment::netns_path`] in the spec's network namespace `path`
//! (no network namespace entry for host mode), bind-mount
//! [`Attachment::hosts_path`] and [`Attachment::resolv_conf_path`] (not
//! copies: hosts files change as peers come and go); call [`detach`] when
//! the container is removed or its creation failed.
//!
//! Invariants: the host's own interfaces, routes and iptables chains are
//! never touched — only what the plugins create for rbox's networks, and
//! the bridges rbox's networks own. A failed attach runs DEL and leaves
//! nothing behind; detach is idempotent and works after a crash (the
//! endpoint record is written before any plugin runs). Every change under
//! `networks/` happens under one flock.

mod cni;
mod endpoint;
mod error;
mod files;
mod lifecycle;
mod netns;
mod publish;
mod store;
mod subnet;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use cni::PLUGIN_DIRS;
pub use error::{NetworkError, Result};
pub use netns::{NETNS_DIR, netns_path};
pub use publish::{parse_publish, publish_all};
pub use store::{
    DEFAULT_BRIDGE, DEFAULT_NETWORK, NetworkInfo, NetworkOptions, create_network,
    ensure_default_network, inspect_network, list_networks, remove_network,
};
pub use subnet::{DEFAULT_BRIDGE_SUBNET, POOL as SUBNET_POOL, Subnet};

/// The interface name containers get on a bridge network.
const IFNAME: &str = "eth0";

/// docker's `--network` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// A network namespace with only `lo`.
    None,
    /// The host's network namespace.
    Host,
    /// A bridge network by name; [`DEFAULT_NETWORK`] is the default one.
    Bridge(String),
    /// Another container's network namespace, by container id.
    Container(String),
}

impl FromStr for NetworkMode {
    type Err = NetworkError;

    /// `none`, `host`, `bridge`/`default`, `container:<id>`, or a network name.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "" | "bridge" | "default" => NetworkMode::Bridge(DEFAULT_NETWORK.into()),
            _ => match s.strip_prefix("container:") {
                Some(id) if !id.is_empty() => NetworkMode::Container(id.into()),
                _ if store::valid_name(s) => NetworkMode::Bridge(s.into()),
                _ => {
                    return Err(NetworkError::InvalidNetworkName { name: s.into() });
                }
            },
        })
    }
}

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// "tcp" or "udp".
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published port (`-p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address to listen on; all addresses if `None`.
    pub host_ip: Option<IpAddr>,
    /// The host port; 0 asks attach to pick a free one.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

/// What the engine asks of [`attach`].
#[derive(Debug, Clone)]
pub struct NetworkRequest {
    /// The container id (names the netns and the endpoint record).
    pub container_id: String,
    /// The container name: peers on a user network resolve it.
    pub name: String,
    /// How to connect.
    pub mode: NetworkMode,
    /// Ports to publish (bridge networks only).
    pub ports: Vec<PortMapping>,
    /// `--dns` servers; the host's (minus loopback ones) if empty.
    pub dns: Vec<String>,
    /// `--add-host` as (name, address); the address may be `host-gateway`.
    pub extra_hosts: Vec<(String, String)>,
    /// The container's hostname, listed with its own address.
    pub hostname: String,
}

/// What [`attach`] set up.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The network namespace for the runtime to join (`None` for host).
    pub netns_path: Option<PathBuf>,
    /// The container's addresses.
    pub ips: Vec<IpAddr>,
    /// `/etc/hosts` content (also written to `hosts_path`).
    pub hosts_file: String,
    /// `/etc/resolv.conf` content (also written to `resolv_conf_path`).
    pub resolv_conf: String,
    /// The published ports, with random host ports resolved.
    pub ports: Vec<PortMapping>,
    /// The file to bind-mount at `/etc/hosts`: rbox rewrites it in place
    /// when containers join or leave the network.
    pub hosts_path: PathBuf,
    /// The file to bind-mount at `/etc/resolv.conf`.
    pub resolv_conf_path: PathBuf,
    /// The default gateway (bridge networks).
    pub gateway: Option<IpAddr>,
    /// The network name (bridge networks).
    pub network: Option<String>,
}

/// One container attached to a network, for inspect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// Container id.
    pub container_id: String,
    /// Container name.
    pub name: String,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// Its published ports.
    pub ports: Vec<PortMapping>,
}

/// The containers attached to `network`.
pub fn endpoints(data_root: &Path, network: &str) -> Result<Vec<EndpointInfo>> {
    Ok(endpoint::all(data_root)?
        .into_iter()
        .filter(|e| e.network.as_deref() == Some(network))
        .map(|e| EndpointInfo {
            container_id: e.container_id,
            name: e.name,
            ips: e.ips,
            ports: e.ports,
        })
        .collect())
}

/// Connects container `req.container_id` as `req.mode` says: makes its
/// netns (unless host or container mode), runs the CNI plugins, publishes
/// ports, and writes its hosts and resolv.conf. On error nothing is left.
pub fn attach(data_root: &Path, req: &NetworkRequest) -> Result<Attachment> {
    lifecycle::attach(data_root, req)
}

/// Disconnects a container: DEL through its network's plugins (releasing
/// its address, veth and port rules), removes its netns and files, and
/// rewrites its peers' hosts files. Idempotent: detaching a container that
/// is not attached, or half attached before a crash, succeeds. If a plugin
/// fails, the record stays so that a later detach retries.
pub fn detach(data_root: &Path, container_id: &str) -> Result<()> {
    lifecycle::detach(data_root, container_id)
}

/// Runs CNI CHECK for an attached bridge container: its interface,
/// address and rules are still as ADD left them.
pub fn check(data_root: &Path, container_id: &str) -> Result<()> {
    lifecycle::check(data_root, container_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use endpoint::Endpoint;
    use lifecycle::{resolve_extra_hosts, resolve_ports};

    #[test]
    fn network_mode_from_str() {
        assert_eq!(
            "none".parse::<NetworkMode>().expect("ok"),
            NetworkMode::None
        );
        assert_eq!(
            "host".parse::<NetworkMode>().expect("ok"),
            NetworkMode::Host
        );
        assert_eq!(
            "default".parse::<NetworkMode>().expect("ok"),
            NetworkMode::Bridge("bridge".into())
        );
        assert_eq!(
            "container:abc".parse::<NetworkMode>().expect("ok"),
            NetworkMode::Container("abc".into())
        );
        assert_eq!(
            "my-net".parse::<NetworkMode>().expect("ok"),
            NetworkMode::Bridge("my-net".into())
        );
        assert!("container:".parse::<NetworkMode>().is_err());
        assert!("a/b".parse::<NetworkMode>().is_err());
    }

    #[test]
    fn extra_hosts_resolve_gateway() {
        let gw: IpAddr = "10.209.0.1".parse().expect("ip");
        let got = resolve_extra_hosts(
            &[
                ("h".into(), "host-gateway".into()),
                ("db".into(), "::1".into()),
            ],
            Some(gw),
        )
        .expect("ok");
        assert_eq!(got[0], ("h".to_string(), gw));
        assert!(resolve_extra_hosts(&[("h".into(), "nope".into())], Some(gw)).is_err());
        assert!(resolve_extra_hosts(&[("h".into(), "host-gateway".into())], None).is_err());
    }

    #[test]
    fn default_network_and_missing_network() {
        let tmp = rbox_test_support::TempRoot::new("rbox-net").expect("temp");
        let root = tmp.path();
        // Only the definition: the bridge device appears on the first ADD.
        let info = ensure_default_network(root, &NetworkOptions::default()).expect("default");
        assert_eq!(info.name, DEFAULT_NETWORK);
        assert_eq!(info.bridge, DEFAULT_BRIDGE);
        assert_eq!(info.subnet, DEFAULT_BRIDGE_SUBNET);
        assert_eq!(info.gateway.to_string(), "10.209.0.1");
        let again =
            ensure_default_network(root, &NetworkOptions::default().subnet("10.209.9.0/24"))
                .expect("exists");
        assert_eq!(again.id, info.id, "an existing default network is kept");
        let req = NetworkRequest {
            container_id: "c1".into(),
            name: "c1".into(),
            mode: NetworkMode::Bridge("nope".into()),
            ports: Vec::new(),
            dns: Vec::new(),
            extra_hosts: Vec::new(),
            hostname: "c1".into(),
        };
        let e = attach(root, &req).expect_err("no such network");
        assert!(matches!(e, NetworkError::NetworkNotFound { .. }), "{e}");
        assert!(endpoints(root, "nope").expect("eps").is_empty());
        assert!(!root.join("networks/endpoints/c1").exists());
    }

    #[test]
    fn invalid_container_ids_are_refused() {
        let tmp = rbox_test_support::TempRoot::new("rbox-net").expect("temp");
        for id in ["../x", "", "a/b"] {
            assert!(matches!(
                detach(tmp.path(), id),
                Err(NetworkError::InvalidContainerId { .. })
            ));
        }
    }

    #[test]
    fn port_conflicts_with_other_endpoints() {
        let tmp = rbox_test_support::TempRoot::new("rbox-net").expect("temp");
        let root = tmp.path();
        // A port nobody on the host holds, then recorded as rbox's.
        let free = publish::free_port(None, Protocol::Tcp, &[]).expect("port");
        let m = PortMapping {
            host_ip: None,
            host_port: free,
            container_port: 80,
            protocol: Protocol::Tcp,
        };
        let mut ep: Endpoint = serde_json::from_value(serde_json::json!({
            "container_id": "other", "name": "o", "hostname": "o", "kind": "bridge",
            "network": "n", "joined": null, "netns": null, "own_netns": true, "ifname": "eth0",
            "ips": [], "gateway": null, "ports": [], "extra_hosts": [], "cni_result": null}))
        .expect("record");
        ep.ports = vec![m];
        endpoint::save(root, &ep).expect("save");
        let e = resolve_ports(root, "me", &[m]).expect_err("published");
        assert!(
            e.to_string().contains("published by container other"),
            "{e}"
        );
        let udp = PortMapping {
            protocol: Protocol::Udp,
            ..m
        };
        assert_eq!(resolve_ports(root, "me", &[udp]).expect("udp ok"), [udp]);
        let e = resolve_ports(root, "me", &[udp, udp]).expect_err("twice");
        assert!(e.to_string().contains("container me"), "{e}");
        let random = PortMapping { host_port: 0, ..m };
        let got = resolve_ports(root, "me", &[random]).expect("random");
        assert_ne!(got[0].host_port, 0);
        assert_ne!(got[0].host_port, free);
    }
}
