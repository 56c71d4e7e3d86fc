//! attach and detach: the order of operations and their undoing.
//!
//! Attach records the endpoint before anything exists, then makes the
//! netns, brings `lo` up and runs ADD; any failure runs the teardown with
//! `force` so nothing is left. Detach runs the same teardown without
//! `force`: if DEL fails the record stays for a retry. All under the
//! networks lock.

use std::net::IpAddr;
use std::path::Path;

use super::endpoint::{self, Endpoint, Kind};
use super::error::{NetworkError, Result, io_err};
use super::store::{self, DEFAULT_NETWORK, NetworkInfo, NetworkOptions};
use super::subnet::{self, DEFAULT_BRIDGE_SUBNET};
use super::{
    Attachment, IFNAME, NetworkMode, NetworkRequest, PortMapping, cni, files, netns, publish,
};

pub(super) fn check_id(id: &str) -> Result<()> {
    if store::valid_name(id) {
        Ok(())
    } else {
        Err(NetworkError::InvalidContainerId { id: id.into() })
    }
}

fn read_or_empty(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn ip_forward() -> Option<String> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Connects container `req.container_id` as `req.mode` says: makes its
/// netns (unless host or container mode), runs the CNI plugins, publishes
/// ports, and writes its hosts and resolv.conf. On error nothing is left.
pub(crate) fn attach(data_root: &Path, req: &NetworkRequest) -> Result<Attachment> {
    check_id(&req.container_id)?;
    let _lock = store::lock(data_root)?;
    if endpoint::load(data_root, &req.container_id)?.is_some() {
        return Err(NetworkError::AlreadyAttached {
            container: req.container_id.clone(),
        });
    }
    let mut ep = Endpoint {
        container_id: req.container_id.clone(),
        name: req.name.clone(),
        hostname: req.hostname.clone(),
        kind: Kind::None,
        network: None,
        joined: None,
        netns: None,
        own_netns: false,
        ifname: IFNAME.into(),
        ips: Vec::new(),
        gateway: None,
        ports: Vec::new(),
        extra_hosts: Vec::new(),
        cni_result: None,
    };
    let host_resolv = read_or_empty("/etc/resolv.conf");
    match &req.mode {
        NetworkMode::Container(other) => return attach_container(data_root, ep, other),
        NetworkMode::Host => {
            ep.kind = Kind::Host;
            ep.extra_hosts = resolve_extra_hosts(&req.extra_hosts, default_gateway(data_root)?)?;
            let hosts = endpoint::render_other_hosts(&ep, &read_or_empty("/etc/hosts"));
            let resolv = files::resolv_conf(&host_resolv, &req.dns, true);
            endpoint::save(data_root, &ep)?;
            return finish(data_root, &ep, hosts, resolv);
        }
        NetworkMode::None => {
            ep.kind = Kind::None;
            ep.extra_hosts = resolve_extra_hosts(&req.extra_hosts, default_gateway(data_root)?)?;
        }
        NetworkMode::Bridge(name) => {
            ep.kind = Kind::Bridge;
            ep.network = Some(name.clone());
        }
    }
    // None and bridge: our own netns, recorded before it exists.
    let ns = netns::netns_path(&req.container_id);
    ep.netns = Some(ns.clone());
    ep.own_netns = true;
    let conflist = match &req.mode {
        NetworkMode::Bridge(name) => {
            let (list, info) = load_network(data_root, name)?;
            ep.extra_hosts = resolve_extra_hosts(&req.extra_hosts, Some(info.gateway))?;
            ep.ports = resolve_ports(data_root, &req.container_id, &req.ports)?;
            Some(list)
        }
        _ => None,
    };
    endpoint::save(data_root, &ep)?;
    if let Err(e) = setup_netns(data_root, &mut ep, conflist.as_ref()) {
        rollback(data_root, &ep, conflist.as_ref());
        return Err(e);
    }
    let (hosts, resolv) = if ep.kind == Kind::Bridge {
        let everyone = endpoint::all(data_root)?;
        (
            endpoint::render_bridge_hosts(&ep, &everyone),
            files::resolv_conf(&host_resolv, &req.dns, false),
        )
    } else {
        (
            endpoint::render_other_hosts(&ep, ""),
            files::resolv_conf(&host_resolv, &req.dns, false),
        )
    };
    let done = endpoint::save(data_root, &ep).and_then(|()| finish(data_root, &ep, hosts, resolv));
    if done.is_err() {
        rollback(data_root, &ep, conflist.as_ref());
    }
    done
}

/// Makes the netns (with `lo` up), and for a bridge runs the ADD chain.
fn setup_netns(root: &Path, ep: &mut Endpoint, conflist: Option<&serde_json::Value>) -> Result<()> {
    let ns = ep.netns.clone().expect("set before setup");
    netns::create(&ns)?;
    let Some(list) = conflist else {
        return Ok(());
    };
    let before = ip_forward();
    let ipam = store::ipam_dir(root);
    let mut last = None;
    let result = cni::add(
        list,
        &cni::Target {
            container_id: &ep.container_id,
            netns: &ns,
            ifname: &ep.ifname,
        },
        &cni::Runtime {
            ports: &ep.ports,
            ipam_dir: &ipam,
        },
        &mut last,
    );
    // Keep what ADD returned even on error: DEL wants it as prevResult.
    ep.cni_result = last;
    let after = ip_forward();
    if before.as_deref() == Some("0") && after.as_deref() == Some("1") {
        tracing::info!(
            network = ep.network.as_deref().unwrap_or_default(),
            "the bridge plugin enabled net.ipv4.ip_forward (containers need it for outside access)"
        );
    }
    result?;
    let (ips, gw) = cni::result_ips(ep.cni_result.as_ref().unwrap_or(&serde_json::Value::Null));
    ep.ips = ips;
    ep.gateway = gw;
    Ok(())
}

/// Undoes a failed attach: DEL, netns, record. Errors are logged; the
/// attach error is what the caller reports.
fn rollback(root: &Path, ep: &Endpoint, conflist: Option<&serde_json::Value>) {
    if let Err(e) = teardown(root, ep, conflist, true) {
        tracing::warn!(container = %ep.container_id, error = %e, "cleanup after a failed attach");
    }
}

/// DEL, netns, record, peers' hosts. A failed DEL stops here (the record
/// stays for a retry) unless `force`.
fn teardown(
    root: &Path,
    ep: &Endpoint,
    conflist: Option<&serde_json::Value>,
    force: bool,
) -> Result<()> {
    let mut first: Option<NetworkError> = None;
    if let (Some(list), Some(ns)) = (conflist, &ep.netns) {
        let ipam = store::ipam_dir(root);
        let target = cni::Target {
            container_id: &ep.container_id,
            netns: ns,
            ifname: &ep.ifname,
        };
        let rt = cni::Runtime {
            ports: &ep.ports,
            ipam_dir: &ipam,
        };
        let ns_gone = ep.own_netns && !ns.exists();
        let del = cni::del(list, &target, &rt, ep.cni_result.as_ref());
        if ns_gone && let Some(net) = &ep.network {
            cni::remove_masquerade(net, &ep.container_id, &ep.ips);
        }
        if let Err(e) = del {
            if !force {
                return Err(e);
            }
            first = Some(e);
        }
    }
    if ep.own_netns
        && let Some(ns) = &ep.netns
        && let Err(e) = netns::remove(ns)
    {
        first.get_or_insert(e);
    }
    if let Err(e) = endpoint::remove(root, &ep.container_id) {
        first.get_or_insert(e);
    }
    if let Some(net) = &ep.network
        && let Err(e) = endpoint::refresh_network_hosts(root, net)
    {
        first.get_or_insert(e);
    }
    first.map_or(Ok(()), Err)
}

fn attach_container(root: &Path, mut ep: Endpoint, other: &str) -> Result<Attachment> {
    check_id(other)?;
    let no_ns = || NetworkError::NoContainerNetns {
        container: other.to_string(),
    };
    let mut target = endpoint::load(root, other)?.ok_or_else(no_ns)?;
    // Joining a joiner joins its target.
    if let Some(t) = &target.joined {
        target = endpoint::load(root, t)?.ok_or_else(no_ns)?;
    }
    if target.kind == Kind::Host {
        return Err(no_ns());
    }
    ep.kind = Kind::Container;
    ep.joined = Some(target.container_id.clone());
    ep.netns = target.netns.clone();
    ep.ips = target.ips.clone();
    endpoint::save(root, &ep)?;
    let hosts_path = endpoint::hosts_path(root, &target.container_id);
    let resolv_path = endpoint::resolv_path(root, &target.container_id);
    Ok(Attachment {
        netns_path: target.netns,
        ips: target.ips,
        hosts_file: std::fs::read_to_string(&hosts_path).map_err(io_err("reading", &hosts_path))?,
        resolv_conf: std::fs::read_to_string(&resolv_path)
            .map_err(io_err("reading", &resolv_path))?,
        ports: Vec::new(),
        hosts_path,
        resolv_conf_path: resolv_path,
        gateway: target.gateway,
        network: target.network,
    })
}

/// Writes the endpoint's files (and its network peers') and builds the answer.
fn finish(root: &Path, ep: &Endpoint, hosts: String, resolv: String) -> Result<Attachment> {
    let hosts_path = endpoint::hosts_path(root, &ep.container_id);
    let resolv_path = endpoint::resolv_path(root, &ep.container_id);
    endpoint::write_in_place(&resolv_path, &resolv)?;
    endpoint::write_in_place(&hosts_path, &hosts)?;
    if let Some(net) = &ep.network {
        endpoint::refresh_network_hosts(root, net)?;
    }
    Ok(Attachment {
        netns_path: ep.netns.clone(),
        ips: ep.ips.clone(),
        hosts_file: hosts,
        resolv_conf: resolv,
        ports: ep.ports.clone(),
        hosts_path,
        resolv_conf_path: resolv_path,
        gateway: ep.gateway,
        network: ep.network.clone(),
    })
}

fn load_network(root: &Path, name: &str) -> Result<(serde_json::Value, NetworkInfo)> {
    if name == DEFAULT_NETWORK {
        store::ensure_default_locked(root, &NetworkOptions::default())?;
    }
    let list = store::load_conflist(root, name)?.ok_or_else(|| NetworkError::NetworkNotFound {
        name: name.to_string(),
    })?;
    let info = store::info_from_conflist(name, &list);
    Ok((list, info))
}

/// The default network's gateway, for `host-gateway` outside bridge mode.
fn default_gateway(root: &Path) -> Result<Option<IpAddr>> {
    Ok(match store::load_conflist(root, DEFAULT_NETWORK)? {
        Some(c) => Some(store::info_from_conflist(DEFAULT_NETWORK, &c).gateway),
        None => subnet::Subnet::parse(DEFAULT_BRIDGE_SUBNET)
            .ok()
            .map(|s| IpAddr::V4(s.gateway())),
    })
}

pub(super) fn resolve_extra_hosts(
    extra: &[(String, String)],
    gateway: Option<IpAddr>,
) -> Result<Vec<(String, IpAddr)>> {
    extra
        .iter()
        .map(|(host, addr)| {
            let bad = || NetworkError::InvalidExtraHost {
                host: host.clone(),
                addr: addr.clone(),
            };
            let ip = if addr == "host-gateway" {
                gateway.ok_or_else(bad)?
            } else {
                addr.parse().map_err(|_| bad())?
            };
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(bad());
            }
            Ok((host.clone(), ip))
        })
        .collect()
}

/// Checks every fixed host port (not published by another rbox container,
/// bindable on the host) and picks the random ones.
pub(super) fn resolve_ports(
    root: &Path,
    id: &str,
    ports: &[PortMapping],
) -> Result<Vec<PortMapping>> {
    let others = endpoint::all(root)?;
    let clash = |a: &PortMapping, b: &PortMapping| {
        a.protocol == b.protocol
            && a.host_port == b.host_port
            && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
    };
    let mut out: Vec<PortMapping> = Vec::with_capacity(ports.len());
    for m in ports {
        let mut m = *m;
        if m.host_port == 0 {
            let taken: Vec<u16> = others
                .iter()
                .flat_map(|e| e.ports.iter())
                .chain(out.iter())
                .filter(|o| o.protocol == m.protocol)
                .map(|o| o.host_port)
                .collect();
            m.host_port = publish::free_port(m.host_ip, m.protocol, &taken)?;
        } else {
            if let Some(e) = others.iter().find(|e| e.ports.iter().any(|o| clash(o, &m))) {
                return Err(NetworkError::PortPublished {
                    port: m.host_port,
                    protocol: m.protocol,
                    container: e.container_id.clone(),
                });
            }
            if out.iter().any(|o| clash(o, &m)) {
                return Err(NetworkError::PortPublished {
                    port: m.host_port,
                    protocol: m.protocol,
                    container: id.to_string(),
                });
            }
            publish::check_host_port(m.host_ip, m.host_port, m.protocol)?;
        }
        out.push(m);
    }
    Ok(out)
}

/// Disconnects a container: DEL through its network's plugins (releasing
/// its address, veth and port rules), removes its netns and files, and
/// rewrites its peers' hosts files. Idempotent: detaching a container that
/// is not attached, or half attached before a crash, succeeds. If a plugin
/// fails, the record stays so that a later detach retries.
pub(crate) fn detach(data_root: &Path, container_id: &str) -> Result<()> {
    check_id(container_id)?;
    let _lock = store::lock(data_root)?;
    let Some(ep) = endpoint::load(data_root, container_id)? else {
        // Nothing recorded: at most a stray namespace file of ours.
        return netns::remove(&netns::netns_path(container_id));
    };
    let conflist = match (&ep.kind, &ep.network) {
        (Kind::Bridge, Some(net)) => {
            let list = store::load_conflist(data_root, net)?;
            if list.is_none() {
                tracing::warn!(network = %net, container = container_id, "network is gone; skipping CNI DEL");
            }
            list
        }
        _ => None,
    };
    teardown(data_root, &ep, conflist.as_ref(), false)
}

/// Runs CNI CHECK for an attached bridge container: its interface,
/// address and rules are still as ADD left them.
pub(crate) fn check(data_root: &Path, container_id: &str) -> Result<()> {
    check_id(container_id)?;
    let _lock = store::lock(data_root)?;
    let Some(ep) = endpoint::load(data_root, container_id)? else {
        return Err(NetworkError::NoContainerNetns {
            container: container_id.into(),
        });
    };
    let (Kind::Bridge, Some(net), Some(ns), Some(prev)) =
        (ep.kind, &ep.network, &ep.netns, &ep.cni_result)
    else {
        return Ok(());
    };
    let (list, _) = load_network(data_root, net)?;
    let ipam = store::ipam_dir(data_root);
    cni::check(
        &list,
        &cni::Target {
            container_id,
            netns: ns,
            ifname: &ep.ifname,
        },
        &cni::Runtime {
            ports: &ep.ports,
            ipam_dir: &ipam,
        },
        prev,
    )
}
