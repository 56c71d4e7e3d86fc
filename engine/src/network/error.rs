//! Errors of the networking module: each names the network, container,
//! port, plugin or path it is about.

use std::net::IpAddr;
use std::path::PathBuf;

use super::Protocol;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// A file or directory operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored JSON document could not be parsed or written.
    #[error("invalid JSON in {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A `-p` / `--publish` value is not valid docker syntax.
    #[error("invalid publish spec {spec:?}: {reason}")]
    InvalidPublish {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A network name does not match `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
    #[error("invalid network name {name:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    InvalidNetworkName {
        /// The name.
        name: String,
    },
    /// `bridge`, `host` and `none` are predefined and cannot be created or removed.
    #[error("network {name:?} is predefined and cannot be {action}")]
    Predefined {
        /// The name.
        name: String,
        /// "created" or "removed".
        action: &'static str,
    },
    /// A bridge name cannot be used.
    #[error("invalid bridge name {bridge:?}: {reason}")]
    InvalidBridge {
        /// The name.
        bridge: String,
        /// Why not.
        reason: &'static str,
    },
    /// A container id has characters that cannot name a file.
    #[error("invalid container id {id:?}")]
    InvalidContainerId {
        /// The id.
        id: String,
    },
    /// A network with this name exists already.
    #[error("network {name:?} already exists")]
    NetworkExists {
        /// The name.
        name: String,
    },
    /// No network with this name.
    #[error("network {name:?} not found")]
    NetworkNotFound {
        /// The name.
        name: String,
    },
    /// The network still has containers attached.
    #[error("network {name:?} has active endpoints: {}", containers.join(", "))]
    NetworkInUse {
        /// The name.
        name: String,
        /// Attached container ids.
        containers: Vec<String>,
    },
    /// A subnet string is not an IPv4 CIDR this module supports.
    #[error("invalid subnet {subnet:?}: {reason}")]
    InvalidSubnet {
        /// The subnet as given.
        subnet: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The subnet overlaps a host route or another rbox network.
    #[error("subnet {subnet} overlaps {other}")]
    SubnetOverlap {
        /// The requested subnet.
        subnet: String,
        /// What it overlaps (a route on an interface, or a network).
        other: String,
    },
    /// Every /24 of the address pool is taken.
    #[error("no free subnet left in the pool {pool}")]
    NoFreeSubnet {
        /// The pool.
        pool: String,
    },
    /// An `--add-host` address is neither an IP nor `host-gateway`.
    #[error("invalid --add-host {host}:{addr}: not an IP address or host-gateway")]
    InvalidExtraHost {
        /// The host name.
        host: String,
        /// The address given.
        addr: String,
    },
    /// A host port cannot be bound: something on the host uses it.
    #[error("host port {host_ip}:{port}/{protocol} is already in use")]
    PortInUse {
        /// The host address tested.
        host_ip: IpAddr,
        /// The port.
        port: u16,
        /// The protocol.
        protocol: Protocol,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// A host port is published by another rbox container already.
    #[error("host port {port}/{protocol} is already published by container {container}")]
    PortPublished {
        /// The port.
        port: u16,
        /// The protocol.
        protocol: Protocol,
        /// The container publishing it.
        container: String,
    },
    /// No free host port could be found for a random publish.
    #[error("no free host port for {protocol} on {host_ip}")]
    NoFreePort {
        /// The host address.
        host_ip: IpAddr,
        /// The protocol.
        protocol: Protocol,
        /// The last bind error.
        #[source]
        source: std::io::Error,
    },
    /// A CNI plugin binary is not in any plugin directory.
    #[error("CNI plugin {plugin:?} not found in {dirs} (install containernetworking-plugins)")]
    PluginNotFound {
        /// Plugin type.
        plugin: String,
        /// The directories searched, `:`-joined.
        dirs: String,
    },
    /// A CNI plugin could not be run.
    #[error("running CNI plugin {plugin}")]
    PluginSpawn {
        /// The plugin path.
        plugin: PathBuf,
        /// The exec error.
        #[source]
        source: std::io::Error,
    },
    /// A CNI plugin reported failure.
    #[error("CNI plugin {plugin} {command} failed (code {code}): {msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
    Plugin {
        /// Plugin type.
        plugin: String,
        /// ADD, DEL or CHECK.
        command: &'static str,
        /// The CNI error code (0 when the plugin printed none).
        code: u64,
        /// The plugin's message.
        msg: String,
        /// The plugin's details.
        details: String,
    },
    /// A CNI plugin printed something that is not a CNI result.
    #[error("CNI plugin {plugin} {command} printed an invalid result")]
    PluginOutput {
        /// Plugin type.
        plugin: String,
        /// ADD or CHECK.
        command: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A network namespace file could not be made or removed.
    #[error("{op} network namespace {path}")]
    Netns {
        /// What was being done.
        op: &'static str,
        /// The namespace file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
    /// `container:<id>` names a container that has no network namespace here.
    #[error("container {container} has no network namespace to join")]
    NoContainerNetns {
        /// The container whose netns was asked for.
        container: String,
    },
    /// The container is attached already.
    #[error("container {container} is already attached to a network")]
    AlreadyAttached {
        /// The container.
        container: String,
    },
    /// Taking the networks lock failed.
    #[error("locking {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
}

/// Result of the networking module.
pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

/// Wraps an io error with its operation and path.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> NetworkError {
    let path = path.into();
    move |source| NetworkError::Io { op, path, source }
}
