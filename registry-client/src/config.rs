//! Client settings: parallelism, retries, timeouts, TLS and which hosts
//! may be spoken to over plain HTTP.

use std::path::PathBuf;
use std::time::Duration;

/// The smallest PATCH chunk ECR accepts for all but the last chunk.
pub const MIN_CHUNK_SIZE: u64 = 5 * 1024 * 1024;

/// How a [`Client`](crate::Client) talks to registries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Blobs transferred at once by pull and push.
    pub parallelism: usize,
    /// Retries of a failed request (5xx, 429, reset, timeout) after the
    /// first attempt.
    pub retries: u32,
    /// The first backoff; doubled after each retry, with jitter.
    pub backoff: Duration,
    /// The longest backoff (and the cap on a Retry-After).
    pub max_backoff: Duration,
    /// Connecting to a registry.
    pub connect_timeout: Duration,
    /// Waiting for response headers, and for each read of a body.
    pub timeout: Duration,
    /// The User-Agent header.
    pub user_agent: String,
    /// Verify TLS certificates (`--tls-verify=false` turns this off for
    /// every registry).
    pub tls_verify: bool,
    /// Hosts (`host` or `host:port`) that may be used over plain HTTP and
    /// without certificate checks, tried with HTTPS first as docker does.
    /// `localhost`, `127.0.0.0/8` and `::1` are always in this set.
    pub insecure_registries: Vec<String>,
    /// Directories holding `<host[:port]>/*.crt` extra CA certificates and
    /// `<host>/client.cert` + `client.key` client identities.
    pub certs_dirs: Vec<PathBuf>,
    /// Upload blobs in PATCH chunks of this size (at least
    /// [`MIN_CHUNK_SIZE`]); `None` uploads in one PUT, except to ECR
    /// which always gets chunks.
    pub chunk_size: Option<u64>,
    /// The largest manifest or index accepted.
    pub max_manifest_size: u64,
    /// Redirects followed for one request before giving up.
    pub max_redirects: u32,
    /// Static name resolution, as curl's `--resolve`: `(host, address)`
    /// pairs used instead of DNS (the host without its port).
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// Unpack each layer (into the store's `layers/<chain id>`) as soon as
    /// it is downloaded, in the same worker, so `run` finds the image
    /// ready — docker's "Extracting". Needs root (overlay whiteouts are
    /// device nodes); off, layers are unpacked on first use.
    pub unpack_layers: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            parallelism: 3,
            retries: 4,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            user_agent: concat!("rbox/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls_verify: true,
            insecure_registries: Vec::new(),
            certs_dirs: vec![
                PathBuf::from("/etc/containers/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            chunk_size: None,
            max_manifest_size: 4 * 1024 * 1024,
            max_redirects: 10,
            resolve: Vec::new(),
            unpack_layers: running_as_root(),
        }
    }
}

/// True for hosts docker treats as insecure without being told:
/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = strip_port(host);
    if name == "localhost" {
        return true;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// `host` without its `:port` (brackets of an IPv6 literal kept).
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        // A bare IPv6 address has several colons: no port to strip.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// True for an ECR registry host, `ACCOUNT.dkr.ecr.REGION.amazonaws.com`
/// (or `.amazonaws.com.cn`), which needs chunked uploads.
pub fn is_ecr_host(host: &str) -> bool {
    let name = strip_port(host);
    let rest = name
        .strip_suffix(".amazonaws.com")
        .or_else(|| name.strip_suffix(".amazonaws.com.cn"));
    let Some(rest) = rest else { return false };
    let parts: Vec<&str> = rest.split('.').collect();
    // ACCOUNT.dkr.ecr.REGION, optionally with -fips in the ecr part.
    parts.len() == 4
        && !parts[0].is_empty()
        && parts[1] == "dkr"
        && parts[2].starts_with("ecr")
        && !parts[3].is_empty()
}

/// Unpacking needs root (device-node whiteouts, owners): on by default
/// only then. `/proc/self` belongs to the process's effective uid.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.3.4.5:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn ecr_hosts() {
        assert!(is_ecr_host("123456789012.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(is_ecr_host(
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"
        ));
        assert!(is_ecr_host(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
        ));
        assert!(!is_ecr_host("public.ecr.aws"));
        assert!(!is_ecr_host("dkr.ecr.us-east-1.amazonaws.com"));
        assert!(!is_ecr_host("example.com"));
    }
}
