//! Driving CNI plugins ourselves, per the CNI 1.0 spec: each plugin of a
//! conflist is exec'd with `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`,
//! `CNI_IFNAME` and `CNI_PATH` in its environment and its own config on
//! stdin (the list's `name` and `cniVersion`, the previous plugin's
//! result as `prevResult`, and `runtimeConfig` for the capabilities it
//! declares). ADD runs the list in order, DEL in reverse with the final ADD
//! result. DEL keeps going past a failing plugin so cleanup is as complete
//! as it can be, and reports the first failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::PortMapping;
use super::error::{NetworkError, Result};

/// Where Debian (`containernetworking-plugins`) and upstream install plugins.
pub const PLUGIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"];

/// The PATH plugins run with: they exec iptables from sbin.
const PLUGIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Who a plugin acts for.
pub(crate) struct Target<'a> {
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
}

/// What a chain needs besides the conflist.
pub(crate) struct Runtime<'a> {
    pub ports: &'a [PortMapping],
    /// host-local's data directory, injected into every host-local IPAM.
    pub ipam_dir: &'a Path,
}

fn find_plugin(ty: &str) -> Result<PathBuf> {
    let ok_name = !ty.is_empty() && !ty.contains('/') && ty != "." && ty != "..";
    if ok_name {
        for d in PLUGIN_DIRS {
            let p = Path::new(d).join(ty);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(NetworkError::PluginNotFound {
        plugin: ty.to_string(),
        dirs: PLUGIN_DIRS.join(":"),
    })
}

/// One plugin's stdin config.
pub(crate) fn plugin_conf(
    list: &Value,
    plugin: &Value,
    prev: Option<&Value>,
    rt: &Runtime<'_>,
) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    if conf["ipam"]["type"] == "host-local" {
        conf["ipam"]["dataDir"] = json!(rt.ipam_dir);
    }
    if plugin["capabilities"]["portMappings"] == true && !rt.ports.is_empty() {
        let maps: Vec<Value> = rt
            .ports
            .iter()
            .map(|m| {
                let mut v = json!({"hostPort": m.host_port, "containerPort": m.container_port,
                                   "protocol": m.protocol.as_str()});
                if let Some(ip) = m.host_ip {
                    v["hostIP"] = json!(ip.to_string());
                }
                v
            })
            .collect();
        conf["runtimeConfig"] = json!({"portMappings": maps});
    }
    conf
}

/// Runs one plugin; returns its parsed stdout for ADD/CHECK with output.
fn exec(
    command: &'static str,
    ty: &str,
    target: &Target<'_>,
    conf: &Value,
) -> Result<Option<Value>> {
    let path = find_plugin(ty)?;
    tracing::debug!(
        plugin = ty,
        command,
        container = target.container_id,
        "running CNI plugin"
    );
    let spawn_err = |source| NetworkError::PluginSpawn {
        plugin: path.clone(),
        source,
    };
    let mut child = Command::new(&path)
        .env_clear()
        .env("PATH", PLUGIN_PATH)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", target.container_id)
        .env("CNI_NETNS", target.netns)
        .env("CNI_IFNAME", target.ifname)
        .env("CNI_PATH", PLUGIN_DIRS.join(":"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let input = serde_json::to_vec(conf).expect("a JSON value always serialises");
    if let Some(mut stdin) = child.stdin.take() {
        // A plugin that exits without reading gives EPIPE; its exit status
        // and output tell the real story.
        let _ = stdin.write_all(&input);
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if !out.status.success() {
        let err: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NetworkError::Plugin {
            plugin: ty.to_string(),
            command,
            code: err["code"].as_u64().unwrap_or(0),
            msg: err["msg"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("exited with {}", out.status)),
            details: err["details"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .unwrap_or(stderr),
        });
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .map_err(|source| NetworkError::PluginOutput {
            plugin: ty.to_string(),
            command,
            source,
        })
}

fn plugins(list: &Value) -> Vec<Value> {
    list["plugins"].as_array().cloned().unwrap_or_default()
}

/// ADD through the whole list. `last` holds the newest result so far,
/// also on error: the caller runs DEL with it as prevResult.
pub(crate) fn add(
    list: &Value,
    target: &Target<'_>,
    rt: &Runtime<'_>,
    last: &mut Option<Value>,
) -> Result<()> {
    for p in plugins(list) {
        let ty = p["type"].as_str().unwrap_or_default().to_string();
        let conf = plugin_conf(list, &p, last.as_ref(), rt);
        match exec("ADD", &ty, target, &conf)? {
            Some(r) => *last = Some(r),
            None => {
                return Err(NetworkError::Plugin {
                    plugin: ty,
                    command: "ADD",
                    code: 0,
                    msg: "printed no result".into(),
                    details: String::new(),
                });
            }
        }
    }
    Ok(())
}

/// DEL through the list in reverse, every plugin even after a failure.
pub(crate) fn del(
    list: &Value,
    target: &Target<'_>,
    rt: &Runtime<'_>,
    prev: Option<&Value>,
) -> Result<()> {
    let mut first: Option<NetworkError> = None;
    for p in plugins(list).iter().rev() {
        let ty = p["type"].as_str().unwrap_or_default().to_string();
        let conf = plugin_conf(list, p, prev, rt);
        if let Err(e) = exec("DEL", &ty, target, &conf) {
            tracing::warn!(plugin = %ty, container = target.container_id, error = %e, "CNI DEL failed");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// CHECK through the list with the ADD result.
pub(crate) fn check(
    list: &Value,
    target: &Target<'_>,
    rt: &Runtime<'_>,
    prev: &Value,
) -> Result<()> {
    for p in plugins(list) {
        let ty = p["type"].as_str().unwrap_or_default().to_string();
        exec("CHECK", &ty, target, &plugin_conf(list, &p, Some(prev), rt))?;
    }
    Ok(())
}

/// The IPs (without prefix) and first gateway of a CNI result.
pub(crate) fn result_ips(result: &Value) -> (Vec<std::net::IpAddr>, Option<std::net::IpAddr>) {
    let mut ips = Vec::new();
    let mut gw = None;
    for ip in result["ips"].as_array().into_iter().flatten() {
        if let Some(a) = ip["address"]
            .as_str()
            .and_then(|a| a.split('/').next()?.parse().ok())
        {
            ips.push(a);
        }
        if gw.is_none() {
            gw = ip["gateway"].as_str().and_then(|g| g.parse().ok());
        }
    }
    (ips, gw)
}

/// Removes the bridge plugin's masquerade rules for a container whose
/// netns is gone: the plugin learns the address from the interface, so
/// its DEL cannot. Only the rule and chain the plugin made for exactly
/// this network and container are touched: the chain is named
/// `CNI-` + the first 24 hex digits of sha512(network + container id) and
/// every rule carries the comment `name: "<network>" id: "<id>"`.
pub(crate) fn remove_masquerade(network: &str, container_id: &str, ips: &[std::net::IpAddr]) {
    use sha2::{Digest, Sha512};
    let digest = Sha512::digest(format!("{network}{container_id}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let chain = format!("CNI-{}", &hex[..24]);
    let comment = format!("name: \"{network}\" id: \"{container_id}\"");
    let iptables = |args: &[&str]| {
        Command::new("iptables")
            .env("PATH", PLUGIN_PATH)
            .args(["-w", "-t", "nat"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !iptables(&["-S", &chain]) {
        return;
    }
    for ip in ips.iter().filter(|ip| ip.is_ipv4()) {
        let src = format!("{ip}/32");
        iptables(&[
            "-D",
            "POSTROUTING",
            "-s",
            &src,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            &chain,
        ]);
    }
    if iptables(&["-F", &chain]) && iptables(&["-X", &chain]) {
        tracing::info!(%chain, container = container_id, "removed masquerade rules of a container whose netns was gone");
    } else {
        tracing::warn!(%chain, container = container_id, "cannot remove masquerade chain (still referenced?)");
    }
}

/// Deletes a network's bridge device if it is a bridge with no ports left
/// (the bridge plugin creates it but never removes it).
pub(crate) fn delete_bridge(name: &str) {
    let sys = Path::new("/sys/class/net").join(name);
    if name.is_empty() || name.contains('/') || !sys.join("bridge").exists() {
        return;
    }
    let ports = std::fs::read_dir(sys.join("brif"))
        .map(|d| d.count())
        .unwrap_or(1);
    if ports != 0 {
        tracing::warn!(bridge = name, ports, "bridge still has ports; leaving it");
        return;
    }
    match Command::new("ip")
        .args(["link", "delete", name, "type", "bridge"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => tracing::info!(bridge = name, "deleted bridge"),
        Ok(o) => {
            tracing::warn!(bridge = name, stderr = %String::from_utf8_lossy(&o.stderr).trim(), "cannot delete bridge")
        }
        Err(e) => tracing::warn!(bridge = name, error = %e, "cannot run ip to delete bridge"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Protocol;

    #[test]
    fn conf_injects_name_prev_ipam_and_ports() {
        let list = json!({"cniVersion": "1.0.0", "name": "n1", "plugins": [
            {"type": "bridge", "ipam": {"type": "host-local"}},
            {"type": "portmap", "capabilities": {"portMappings": true}}]});
        let ports = [PortMapping {
            host_ip: Some("127.0.0.1".parse().expect("ip")),
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
        }];
        let rt = Runtime {
            ports: &ports,
            ipam_dir: Path::new("/d/networks/ipam"),
        };
        let c0 = plugin_conf(&list, &list["plugins"][0], None, &rt);
        assert_eq!(c0["name"], "n1");
        assert_eq!(c0["ipam"]["dataDir"], "/d/networks/ipam");
        assert!(c0.get("prevResult").is_none());
        assert!(c0.get("runtimeConfig").is_none());
        let prev = json!({"ips": [{"address": "10.209.0.2/24", "gateway": "10.209.0.1"}]});
        let c1 = plugin_conf(&list, &list["plugins"][1], Some(&prev), &rt);
        assert_eq!(c1["prevResult"], prev);
        assert_eq!(
            c1["runtimeConfig"]["portMappings"][0],
            json!({"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"})
        );
        let (ips, gw) = result_ips(&prev);
        assert_eq!(ips, ["10.209.0.2".parse::<std::net::IpAddr>().expect("ip")]);
        assert_eq!(gw.map(|g| g.to_string()).as_deref(), Some("10.209.0.1"));
    }

    #[test]
    fn unknown_plugin_is_a_clear_error() {
        let e = find_plugin("../bridge").expect_err("refused");
        assert!(e.to_string().contains("containernetworking-plugins"), "{e}");
    }
}
