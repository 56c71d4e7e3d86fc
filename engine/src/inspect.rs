//! `rbox inspect` for containers: docker's JSON shape (the fields
//! scripts read: Id, Created, Path, Args, State, Image, Name,
//! RestartCount, HostConfig, Config, Mounts, NetworkSettings).

use serde_json::{Value, json};

use crate::options::{RestartPolicy, parse_bytes};
use crate::record::{Record, Status};

/// The docker-shaped inspect object of a record.
pub fn inspect(r: &Record) -> Value {
    let o = &r.options;
    let st = &r.state;
    let policy = RestartPolicy::parse(o.restart.as_deref().unwrap_or("no")).unwrap_or_default();
    let max_retry = match policy {
        RestartPolicy::OnFailure { max } => max,
        _ => 0,
    };
    let bytes = |v: &Option<String>, flag| {
        v.as_deref()
            .and_then(|s| parse_bytes(flag, s).ok())
            .unwrap_or(0)
    };
    let zero_time = "0001-01-01T00:00:00Z";
    let or_zero = |s: &str| {
        if s.is_empty() {
            zero_time.to_string()
        } else {
            s.to_string()
        }
    };
    let paused = st.paused && st.status == Status::Running;
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.command.first().cloned().unwrap_or_default(),
        "Args": r.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": if paused { "paused".to_string() } else { st.status.to_string() },
            "Running": st.status == Status::Running,
            "Paused": paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": or_zero(&st.started_at),
            "FinishedAt": or_zero(&st.finished_at),
        },
        "Image": r.image_id,
        "ResolvConfPath": r.rootfs.parent().map(|d| d.join("etc/resolv.conf")),
        "HostnamePath": r.rootfs.parent().map(|d| d.join("etc/hostname")),
        "HostsPath": r.rootfs.parent().map(|d| d.join("etc/hosts")),
        "LogPath": r.log_path,
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": if r.overlay { "overlay2" } else { "vfs" },
        "HostConfig": {
            "Binds": o.volumes,
            "NetworkMode": o.network.clone().unwrap_or_else(|| "bridge".into()),
            "PortBindings": port_bindings(&r.ports),
            "RestartPolicy": {"Name": policy.name(), "MaximumRetryCount": max_retry},
            "AutoRemove": o.rm,
            "CapAdd": o.cap_add,
            "CapDrop": o.cap_drop,
            "Dns": o.dns,
            "ExtraHosts": o.add_host,
            "GroupAdd": o.group_add,
            "OomScoreAdj": o.oom_score_adj.unwrap_or(0),
            "Privileged": o.privileged,
            "ReadonlyRootfs": o.read_only,
            "SecurityOpt": o.security_opt,
            "Tmpfs": o.tmpfs,
            "ShmSize": o.shm_size.as_deref().and_then(|s| parse_bytes("--shm-size", s).ok()).unwrap_or(64 << 20),
            "CgroupParent": o.cgroup_parent.clone().unwrap_or_default(),
            "Memory": bytes(&o.memory, "--memory"),
            "MemoryReservation": bytes(&o.memory_reservation, "--memory-reservation"),
            "MemorySwap": o.memory_swap.as_deref().map(|s| if s == "-1" { -1 } else { parse_bytes("--memory-swap", s).unwrap_or(0) }).unwrap_or(0),
            "NanoCpus": o.cpus.as_deref().and_then(|c| c.parse::<f64>().ok()).map(|c| (c * 1e9) as i64).unwrap_or(0),
            "CpuShares": o.cpu_shares.unwrap_or(0),
            "CpusetCpus": o.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": o.pids_limit,
            "Devices": o.devices,
            "Sysctls": o.sysctls,
            "Ulimits": o.ulimits,
            "Init": o.init,
            "LogConfig": {"Type": "json-file", "Config": o.log_opts},
        },
        "Mounts": r.mounts,
        "Config": {
            "Hostname": r.hostname,
            "User": r.user,
            "AttachStdin": o.interactive,
            "AttachStdout": !o.detach,
            "AttachStderr": !o.detach,
            "Tty": o.tty,
            "OpenStdin": o.interactive,
            "Env": r.env,
            "Cmd": if o.args.is_empty() { Value::Null } else { json!(o.args) },
            "Image": r.image,
            "WorkingDir": r.working_dir,
            "Entrypoint": o.entrypoint.as_ref().map(|e| json!([e])).unwrap_or(Value::Null),
            "Labels": r.labels,
            "StopSignal": r.stop_signal,
            "StopTimeout": o.stop_timeout,
        },
        "NetworkSettings": network_settings(r),
    })
}

/// `host_ip:host_port->container_port/proto` strings as docker's port
/// map: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`.
fn port_bindings(ports: &[String]) -> Value {
    let mut m = serde_json::Map::new();
    for p in ports {
        let Some((host, cont)) = p.split_once("->") else {
            continue;
        };
        let (ip, port) = host.rsplit_once(':').unwrap_or(("", host));
        let entry = m.entry(cont.to_string()).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!({"HostIp": ip, "HostPort": port}));
        }
    }
    Value::Object(m)
}

fn network_settings(r: &Record) -> Value {
    let ip = r
        .ips
        .iter()
        .find(|i| !i.contains(':'))
        .cloned()
        .unwrap_or_default();
    let mut networks = serde_json::Map::new();
    if let Some(n) = &r.network {
        networks.insert(
            n.clone(),
            json!({
                "IPAddress": ip,
                "Gateway": r.gateway.clone().unwrap_or_default(),
                "Aliases": [r.name],
            }),
        );
    }
    json!({
        "IPAddress": ip,
        "Gateway": r.gateway.clone().unwrap_or_default(),
        "Ports": port_bindings(&r.ports),
        "Networks": networks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RunOptions;
    use crate::record::State;

    #[test]
    fn docker_shape() {
        let mut o = RunOptions::new("busybox", vec!["echo".into(), "hi".into()]);
        o.restart = Some("on-failure:3".into());
        o.memory = Some("64m".into());
        let r = Record {
            id: "a".repeat(64),
            name: "web".into(),
            command: vec!["echo".into(), "hi".into()],
            state: State {
                status: Status::Exited,
                exit_code: 3,
                oom_killed: true,
                ..Default::default()
            },
            ports: vec!["0.0.0.0:8080->80/tcp".into()],
            network: Some("bridge".into()),
            ips: vec!["10.209.0.2".into()],
            options: o,
            ..Default::default()
        };
        let v = inspect(&r);
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["Path"], "echo");
        assert_eq!(v["Args"], json!(["hi"]));
        for k in [
            "Status",
            "Running",
            "Paused",
            "Restarting",
            "OOMKilled",
            "Dead",
            "Pid",
            "ExitCode",
            "Error",
            "StartedAt",
            "FinishedAt",
        ] {
            assert!(v["State"].get(k).is_some(), "State.{k}");
        }
        assert_eq!(v["State"]["Status"], "exited");
        assert_eq!(v["State"]["OOMKilled"], true);
        assert_eq!(v["State"]["StartedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(
            v["HostConfig"]["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(v["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(
            v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        assert_eq!(
            v["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
            "10.209.0.2"
        );
    }
}
