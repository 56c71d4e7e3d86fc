//! `/etc/hosts` and `/etc/resolv.conf` content for a container, by
//! docker's rules. Pure functions: the endpoint code decides what goes in
//! and writes the files.

use std::net::IpAddr;

/// The lines every container's hosts file starts with (docker's set).
const LOCALHOST_LINES: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// Public resolvers docker falls back to when the host has only local ones.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// One name-to-address line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostEntry {
    pub ip: IpAddr,
    pub names: Vec<String>,
}

impl HostEntry {
    /// An entry with the names de-duplicated and empties dropped.
    pub fn new(ip: IpAddr, names: &[&str]) -> Self {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            if !n.is_empty() && !out.iter().any(|o| o == n) {
                out.push((*n).to_string());
            }
        }
        Self { ip, names: out }
    }
}

/// A container's hosts file: localhost lines, then `--add-host` entries,
/// then its own address and names, then the other containers on the same
/// user network (docker's embedded DNS, done with plain hosts lines).
pub(crate) fn hosts(extra: &[HostEntry], own: Option<&HostEntry>, peers: &[HostEntry]) -> String {
    let mut s = String::from(LOCALHOST_LINES);
    for e in extra.iter().chain(own).chain(peers) {
        if e.names.is_empty() {
            continue;
        }
        s.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    s
}

/// A `--network host` container's hosts file: the host's own, then the
/// `--add-host` entries.
pub(crate) fn host_mode_hosts(host_hosts: &str, extra: &[HostEntry]) -> String {
    let mut s = host_hosts.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    for e in extra {
        s.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    s
}

/// A container's resolv.conf from the host's. With `dns` given, those are
/// the nameservers and the host's search/options lines stay. Otherwise the
/// host's nameservers minus loopback ones (unreachable from a container's
/// own network namespace) — unless `keep_loopback` (host network) — and
/// 8.8.8.8/8.8.4.4 when none is left.
pub(crate) fn resolv_conf(host: &str, dns: &[String], keep_loopback: bool) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            let keep = dns.is_empty() && (keep_loopback || !is_loopback(addr));
            if !keep {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
        servers += 1;
    }
    if servers == 0 {
        tracing::info!("no usable nameserver in the host's resolv.conf; using 8.8.8.8 and 8.8.4.4");
        for d in FALLBACK_NAMESERVERS {
            out.push_str(&format!("nameserver {d}\n"));
        }
    }
    out
}

fn is_loopback(addr: &str) -> bool {
    // A scoped IPv6 address ("fe80::1%eth0") is not loopback either way.
    addr.split('%')
        .next()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    #[test]
    fn hosts_order_and_content() {
        let extra = [HostEntry::new(ip("10.0.0.9"), &["db"])];
        let own = HostEntry::new(ip("10.209.1.2"), &["abc123", "web", "abc123"]);
        let peers = [HostEntry::new(ip("10.209.1.3"), &["api", "api-host"])];
        let h = hosts(&extra, Some(&own), &peers);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost"));
        let tail: Vec<&str> = h.lines().skip(6).collect();
        assert_eq!(
            tail,
            [
                "10.0.0.9\tdb",
                "10.209.1.2\tabc123 web",
                "10.209.1.3\tapi api-host"
            ]
        );
    }

    #[test]
    fn hosts_without_own_entry() {
        assert_eq!(hosts(&[], None, &[]), LOCALHOST_LINES);
    }

    #[test]
    fn host_mode_appends_extra() {
        let h = host_mode_hosts(
            "127.0.0.1 localhost",
            &[HostEntry::new(ip("1.2.3.4"), &["x"])],
        );
        assert_eq!(h, "127.0.0.1 localhost\n1.2.3.4\tx\n");
    }

    #[test]
    fn resolv_drops_loopback_servers() {
        let host = "# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host, &[], false),
            "# generated\nsearch example.com\nnameserver 192.0.2.53\noptions ndots:2\n"
        );
    }

    #[test]
    fn resolv_falls_back_to_public_servers() {
        let host = "nameserver 127.0.0.53\nsearch lan\n";
        assert_eq!(
            resolv_conf(host, &[], false),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf("", &[], false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn resolv_with_dns_flag_keeps_search() {
        let host = "nameserver 192.0.2.53\nsearch lan\n";
        assert_eq!(
            resolv_conf(host, &["1.1.1.1".into(), "9.9.9.9".into()], false),
            "search lan\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n"
        );
    }

    #[test]
    fn resolv_host_mode_keeps_loopback() {
        let host = "nameserver 127.0.0.53\n";
        assert_eq!(resolv_conf(host, &[], true), host);
    }
}
