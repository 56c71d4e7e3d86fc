//! Stand-in for the network module (`network/`, written in parallel):
//! the same request/attachment shapes and functions, so the engine codes
//! against them now and the lead swaps this file for `pub use
//! crate::network::*` when it lands. Until then `bridge` networks get an
//! isolated network namespace with loopback only (logged), and the hosts
//! and resolv.conf files are generated here the way docker does.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where a container's network comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Loopback only.
    None,
    /// The host's network namespace.
    Host,
    /// A bridge network by name (`bridge` is the default one).
    Bridge(String),
    /// Another container's namespace.
    Container(String),
}

impl NetworkMode {
    /// Parses `--network`.
    pub fn parse(s: Option<&str>) -> NetworkMode {
        match s {
            None | Some("") | Some("default") => NetworkMode::Bridge("bridge".into()),
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some(s) => match s.strip_prefix("container:") {
                Some(id) => NetworkMode::Container(id.into()),
                None => NetworkMode::Bridge(s.into()),
            },
        }
    }
}

/// A published port (`-p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// Host address ("" = all).
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
    /// tcp or udp.
    pub protocol: String,
}

/// What the engine asks of the network module.
#[derive(Debug, Clone)]
pub struct NetworkRequest {
    /// The container id.
    pub container_id: String,
    /// The container name.
    pub name: String,
    /// The mode.
    pub mode: NetworkMode,
    /// `-p`.
    pub ports: Vec<PortMapping>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host` (name, ip).
    pub extra_hosts: Vec<(String, String)>,
    /// The hostname.
    pub hostname: String,
}

/// What a container got.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// A namespace to join (bridge, container:), `None` otherwise.
    pub netns_path: Option<PathBuf>,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// /etc/hosts content.
    pub hosts_file: String,
    /// /etc/resolv.conf content.
    pub resolv_conf: String,
    /// Published ports.
    pub ports: Vec<PortMapping>,
}

/// Network failures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NetworkError(pub String);

/// Attaches a container to its network.
pub fn attach(_data_root: &Path, req: &NetworkRequest) -> Result<Attachment, NetworkError> {
    match &req.mode {
        NetworkMode::Bridge(n) => {
            tracing::warn!(network = %n, "bridge networking is not built in yet: the container gets loopback only");
        }
        NetworkMode::Container(_) => {
            return Err(NetworkError(
                "--network container:ID is not available yet".into(),
            ));
        }
        NetworkMode::None | NetworkMode::Host => {}
    }
    if !req.ports.is_empty() {
        return Err(NetworkError(
            "-p needs bridge networking, which is not available yet".into(),
        ));
    }
    let host = req.mode == NetworkMode::Host;
    Ok(Attachment {
        netns_path: None,
        ips: vec![],
        hosts_file: hosts_file(&req.hostname, &req.extra_hosts, host),
        resolv_conf: resolv_conf(&req.dns, host),
        ports: vec![],
    })
}

/// Releases a container's network (idempotent).
pub fn detach(_data_root: &Path, _container_id: &str) -> Result<(), NetworkError> {
    Ok(())
}

/// Parses `-p`.
pub fn parse_publish(s: &str) -> Result<Vec<PortMapping>, NetworkError> {
    Err(NetworkError(format!(
        "-p {s}: port publishing is not available yet"
    )))
}

/// docker's /etc/hosts for a container without a bridge address.
fn hosts_file(hostname: &str, extra: &[(String, String)], host_net: bool) -> String {
    if host_net && let Ok(h) = std::fs::read_to_string("/etc/hosts") {
        let mut s = h;
        for (n, ip) in extra {
            s.push_str(&format!("{ip}\t{n}\n"));
        }
        return s;
    }
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (n, ip) in extra {
        s.push_str(&format!("{ip}\t{n}\n"));
    }
    s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    s
}

/// The host's resolv.conf without loopback nameservers (they do not
/// answer inside the container's namespace), `--dns` replacing the
/// nameservers; docker's fallback to public resolvers is left out:
/// no nameserver is better than an unexpected one.
fn resolv_conf(dns: &[String], host_net: bool) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    for line in host.lines() {
        let t = line.trim_start();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if !dns.is_empty() || (!host_net && (ns.starts_with("127.") || ns == "::1")) {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_files() {
        assert_eq!(
            NetworkMode::parse(None),
            NetworkMode::Bridge("bridge".into())
        );
        assert_eq!(
            NetworkMode::parse(Some("container:ab")),
            NetworkMode::Container("ab".into())
        );
        let h = hosts_file("box", &[("db".into(), "10.0.0.2".into())], false);
        assert!(h.contains("127.0.1.1\tbox") && h.contains("10.0.0.2\tdb"));
        let r = resolv_conf(&["9.9.9.9".into()], false);
        assert!(r.contains("nameserver 9.9.9.9"));
        assert!(!resolv_conf(&[], false).contains("nameserver 127."));
    }
}
