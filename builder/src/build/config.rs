//! Image config <-> the planner's [`ConfigState`]: a base image's config
//! read in, the built stage's state written out as the new image's
//! config (fields no Dockerfile instruction touches are kept from the
//! base, as docker does).

use std::collections::BTreeMap;
use std::time::Duration;

use rbox_image::manifest::{
    ContainerConfig, Healthcheck as ImageHealthcheck, ImageConfig, Platform, RootFs,
};

use super::{BuildRequest, StageResult};
use crate::config::CommandConfig;
use crate::instructions::{Healthcheck, ShellOrExec};
use crate::plan::ConfigState;

/// The planner's view of a base image's config.
pub(crate) fn state_from_image(c: &ImageConfig) -> ConfigState {
    let cc = c.container_config();
    let env = cc
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect();
    let healthcheck = cc.healthcheck.as_ref().map(|h| {
        let dur = |ns: Option<i64>| {
            ns.filter(|n| *n > 0)
                .map(|n| Duration::from_nanos(n as u64))
        };
        let test = match h.test.first().map(String::as_str) {
            Some("CMD") => Some(ShellOrExec::Exec(h.test[1..].to_vec())),
            Some("CMD-SHELL") => Some(ShellOrExec::Shell(
                h.test.get(1).cloned().unwrap_or_default(),
            )),
            _ => None,
        };
        Healthcheck {
            test,
            interval: dur(h.interval),
            timeout: dur(h.timeout),
            start_period: dur(h.start_period),
            start_interval: dur(h.start_interval),
            retries: h.retries.and_then(|r| u32::try_from(r).ok()),
        }
    });
    ConfigState {
        env,
        workdir: cc.working_dir.clone().unwrap_or_default(),
        user: cc.user.clone().unwrap_or_default(),
        labels: cc.labels.clone().unwrap_or_default(),
        exposed_ports: cc
            .exposed_ports
            .clone()
            .unwrap_or_default()
            .into_keys()
            .collect(),
        volumes: cc.volumes.clone().unwrap_or_default().into_keys().collect(),
        stop_signal: cc.stop_signal.clone(),
        healthcheck,
        command: CommandConfig::inherit(cc.entrypoint.clone(), cc.cmd.clone(), cc.shell.clone()),
        onbuild: Vec::new(), // a base's triggers run in this build, not inherited
        author: c.author.clone(),
    }
}

/// RFC 3339 (UTC, whole seconds, as docker writes image times) of a
/// Unix time.
pub(crate) fn rfc3339(secs: u64) -> String {
    let full = rbox_runtime::state::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX), 0);
    match full.strip_suffix(".000000000Z") {
        Some(s) => format!("{s}Z"),
        None => full,
    }
}

/// Creation time: the epoch when reproducible, else now.
pub(crate) fn created(req: &BuildRequest) -> String {
    let secs = req.epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    rfc3339(secs)
}

fn ns(d: Option<Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// The built image's config.
pub(crate) fn final_config(
    stage: &StageResult,
    req: &BuildRequest,
    platform: &Platform,
) -> ImageConfig {
    let s = &stage.config;
    let mut out = stage.base_config.clone().unwrap_or_default();
    let mut cc: ContainerConfig = out.config.clone().unwrap_or_default();
    let opt_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
    cc.env = opt_vec(s.env.iter().map(|(k, v)| format!("{k}={v}")).collect());
    cc.working_dir = (!s.workdir.is_empty()).then(|| s.workdir.clone());
    cc.user = (!s.user.is_empty()).then(|| s.user.clone());
    let mut labels = s.labels.clone();
    labels.extend(req.labels.clone());
    cc.labels = (!labels.is_empty()).then_some(labels);
    cc.exposed_ports = (!s.exposed_ports.is_empty()).then(|| {
        s.exposed_ports
            .iter()
            .map(|p| (p.clone(), serde_json::json!({})))
            .collect::<BTreeMap<_, _>>()
    });
    cc.volumes = (!s.volumes.is_empty()).then(|| {
        s.volumes
            .iter()
            .map(|p| (p.clone(), serde_json::json!({})))
            .collect::<BTreeMap<_, _>>()
    });
    cc.stop_signal = s.stop_signal.clone();
    cc.healthcheck = s.healthcheck.as_ref().map(|h| ImageHealthcheck {
        test: h.test_array(),
        interval: ns(h.interval),
        timeout: ns(h.timeout),
        start_period: ns(h.start_period),
        start_interval: ns(h.start_interval),
        retries: h.retries.map(i64::from),
    });
    cc.entrypoint = s.command.entrypoint.clone();
    cc.cmd = s.command.cmd.clone();
    cc.shell = s.command.shell.clone();
    cc.on_build = opt_vec(s.onbuild.clone());
    out.config = Some(cc);
    out.author = s.author.clone();
    // The newest step's time (a cached step keeps its first run's), so a
    // fully cached build reproduces the image id; SOURCE_DATE_EPOCH wins.
    out.created = Some(match (req.epoch, &stage.last_created) {
        (None, Some(t)) => t.clone(),
        _ => created(req),
    });
    out.architecture = platform.architecture.clone();
    out.os = platform.os.clone();
    out.variant = platform.variant.clone();
    out.rootfs = RootFs {
        kind: "layers".into(),
        diff_ids: stage.layers.iter().map(|(_, d)| d.clone()).collect(),
    };
    out.history = stage.history.clone();
    // Fields of the base that describe its own build, not this one.
    for k in ["container", "container_config", "docker_version", "comment"] {
        out.extra.remove(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_epochs() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_208_000), "2024-02-29T12:00:00Z");
    }

    #[test]
    fn base_config_round_trips_through_the_state() {
        let raw = br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","A=b=c"],"Cmd":["sh"],"WorkingDir":"/w","User":"app","ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":2000000000}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::parse(raw).unwrap();
        let s = state_from_image(&c);
        assert_eq!(s.env[1], ("A".to_string(), "b=c".to_string()));
        assert_eq!(s.workdir, "/w");
        assert_eq!(s.command.cmd.as_deref(), Some(&["sh".to_string()][..]));
        let stage = StageResult {
            base_config: Some(c.clone()),
            config: s,
            ..Default::default()
        };
        let req = BuildRequest {
            epoch: Some(0),
            ..BuildRequest::new(Vec::new(), "/")
        };
        let out = final_config(&stage, &req, &Platform::parse("linux/amd64").unwrap());
        let cc = out.container_config();
        assert_eq!(cc.env, c.container_config().env);
        assert_eq!(cc.healthcheck, c.container_config().healthcheck);
        assert_eq!(cc.exposed_ports, c.container_config().exposed_ports);
        assert_eq!(out.created.as_deref(), Some("1970-01-01T00:00:00Z"));
    }
}
