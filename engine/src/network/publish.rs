//! Docker's `-p` syntax and host port checks.
//!
//! `parse_publish` is pure: host port 0 means "pick a free one at attach
//! time". `check_host_port` bind-tests a port before the portmap plugin
//! installs its DNAT rules, because DNAT never binds a socket and would
//! silently shadow a host service on the same port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use super::error::{NetworkError, Result};
use super::{PortMapping, Protocol};

/// Parses one docker `-p` value into its mappings:
/// `[ip:][hostPort:]containerPort[/proto]`, where both ports may be ranges
/// (`8000-8010:80-90`, equal lengths) and the ip may be bracketed IPv6
/// (`[::1]:8080:80`). A missing host port is 0: a random free port.
pub fn parse_publish(s: &str) -> Result<Vec<PortMapping>> {
    let bad = |reason: &str| NetworkError::InvalidPublish {
        spec: s.to_string(),
        reason: reason.to_string(),
    };
    let (rest, protocol) = match s.rsplit_once('/') {
        Some((r, p)) => (r, parse_protocol(p).map_err(|r| bad(&r))?),
        None => (s, Protocol::Tcp),
    };
    let (host_ip, rest) = split_ip(rest).map_err(&bad)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (host, container) = match parts.as_slice() {
        [c] => ("", *c),
        [h, c] => (*h, *c),
        _ => return Err(bad("too many colons (an IPv6 address needs brackets)")),
    };
    if container.is_empty() {
        return Err(bad("no container port"));
    }
    let (c_lo, c_hi) = parse_range(container, "container").map_err(|r| bad(&r))?;
    let (h_lo, h_hi) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host, "host").map_err(|r| bad(&r))?
    };
    let count = c_hi - c_lo;
    if h_lo != 0 && h_hi - h_lo != count {
        if count == 0 {
            return Err(bad(
                "a host port range with a single container port is not supported",
            ));
        }
        return Err(bad("host and container port ranges differ in length"));
    }
    Ok((0..=count)
        .map(|i| PortMapping {
            host_ip,
            host_port: if h_lo == 0 { 0 } else { h_lo + i },
            container_port: c_lo + i,
            protocol,
        })
        .collect())
}

/// `-P`: every exposed port of the image published on a random free host
/// port (on all addresses). The ports are chosen by the kernel now; attach
/// checks them again.
pub fn publish_all(exposed: &[(u16, Protocol)]) -> Result<Vec<PortMapping>> {
    let mut out: Vec<PortMapping> = Vec::with_capacity(exposed.len());
    for &(container_port, protocol) in exposed {
        let taken: Vec<u16> = out
            .iter()
            .filter(|m| m.protocol == protocol)
            .map(|m| m.host_port)
            .collect();
        let host_port = free_port(None, protocol, &taken)?;
        out.push(PortMapping {
            host_ip: None,
            host_port,
            container_port,
            protocol,
        });
    }
    Ok(out)
}

fn parse_protocol(p: &str) -> std::result::Result<Protocol, String> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Err("sctp is not supported".into()),
        "" => Err("empty protocol".into()),
        other => Err(format!("unknown protocol {other:?}")),
    }
}

/// Splits a leading `ip:` (bracketed for IPv6) off the spec.
fn split_ip(s: &str) -> std::result::Result<(Option<IpAddr>, &str), &'static str> {
    if let Some(after) = s.strip_prefix('[') {
        let (ip, rest) = after.split_once(']').ok_or("unclosed '[' in the address")?;
        let ip: IpAddr = ip.parse().map_err(|_| "invalid IP address")?;
        let rest = rest
            .strip_prefix(':')
            .ok_or("expected ':' after the address")?;
        return Ok((Some(ip), rest));
    }
    // With three fields the first is an IPv4 address; IPv6 must be bracketed.
    if s.matches(':').count() == 2 {
        let (ip, rest) = s.split_once(':').ok_or("unreachable")?;
        if ip.is_empty() {
            return Ok((None, rest));
        }
        let ip: Ipv4Addr = ip.parse().map_err(|_| "invalid IP address")?;
        return Ok((Some(IpAddr::V4(ip)), rest));
    }
    Ok((None, s))
}

fn parse_range(s: &str, which: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| -> std::result::Result<u16, String> {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => {
                Ok(u16::try_from(n).expect("checked to be in 1..=65535"))
            }
            _ => Err(format!("invalid {which} port {p:?} (must be 1-65535)")),
        }
    };
    match s.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if hi < lo {
                return Err(format!(
                    "invalid {which} port range {s:?}: end before start"
                ));
            }
            Ok((lo, hi))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

fn unspecified_for(ip: Option<IpAddr>) -> IpAddr {
    ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Bind-tests `port` on the mapping's host address: an error means a host
/// process (or another engine's proxy) already holds it.
pub(crate) fn check_host_port(
    host_ip: Option<IpAddr>,
    port: u16,
    protocol: Protocol,
) -> Result<()> {
    let ip = unspecified_for(host_ip);
    bind(ip, port, protocol)
        .map(drop)
        .map_err(|source| NetworkError::PortInUse {
            host_ip: ip,
            port,
            protocol,
            source,
        })
}

/// A free port on the host address, chosen by the kernel, not in `taken`.
pub(crate) fn free_port(host_ip: Option<IpAddr>, protocol: Protocol, taken: &[u16]) -> Result<u16> {
    let ip = unspecified_for(host_ip);
    let mut last = std::io::Error::other("no attempt");
    for _ in 0..64 {
        match bind(ip, 0, protocol) {
            Ok(p) if !taken.contains(&p) => return Ok(p),
            Ok(_) => {}
            Err(e) => last = e,
        }
    }
    Err(NetworkError::NoFreePort {
        host_ip: ip,
        protocol,
        source: last,
    })
}

/// Binds and releases; returns the bound port.
fn bind(ip: IpAddr, port: u16, protocol: Protocol) -> std::io::Result<u16> {
    let addr = SocketAddr::new(ip, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ip: Option<&str>, h: u16, c: u16, p: Protocol) -> PortMapping {
        PortMapping {
            host_ip: ip.map(|i| i.parse().expect("test ip")),
            host_port: h,
            container_port: c,
            protocol: p,
        }
    }

    #[test]
    fn valid_specs() {
        use Protocol::{Tcp, Udp};
        let table: &[(&str, Vec<PortMapping>)] = &[
            ("80", vec![m(None, 0, 80, Tcp)]),
            ("8080:80", vec![m(None, 8080, 80, Tcp)]),
            ("8080:80/udp", vec![m(None, 8080, 80, Udp)]),
            ("53:53/UDP", vec![m(None, 53, 53, Udp)]),
            (
                "127.0.0.1:8080:80",
                vec![m(Some("127.0.0.1"), 8080, 80, Tcp)],
            ),
            ("127.0.0.1::80", vec![m(Some("127.0.0.1"), 0, 80, Tcp)]),
            ("[::1]:80:80", vec![m(Some("::1"), 80, 80, Tcp)]),
            ("[::1]::80/tcp", vec![m(Some("::1"), 0, 80, Tcp)]),
            (
                "8000-8002:80-82",
                vec![
                    m(None, 8000, 80, Tcp),
                    m(None, 8001, 81, Tcp),
                    m(None, 8002, 82, Tcp),
                ],
            ),
            ("80-81", vec![m(None, 0, 80, Tcp), m(None, 0, 81, Tcp)]),
            ("65535:1", vec![m(None, 65535, 1, Tcp)]),
        ];
        for (spec, want) in table {
            assert_eq!(&parse_publish(spec).expect(spec), want, "{spec}");
        }
    }

    #[test]
    fn invalid_specs() {
        let table: &[(&str, &str)] = &[
            ("99999", "container port"),
            ("0", "container port"),
            ("8080:0", "container port"),
            ("99999:80", "host port"),
            ("8080:", "no container port"),
            ("", "no container port"),
            ("abc", "container port"),
            ("80/sctp", "sctp"),
            ("80/icmp", "unknown protocol"),
            ("80/", "empty protocol"),
            ("8000-8010:80-85", "differ in length"),
            ("8000-8010:80", "not supported"),
            ("90-80", "end before start"),
            ("1.2.3:80:80", "invalid IP"),
            ("::1:80:80", "too many colons"),
            ("[::1:80:80", "unclosed"),
            ("[::1]80", "expected ':'"),
            ("a:b:c:d", "too many colons"),
        ];
        for (spec, want) in table {
            let err = parse_publish(spec).expect_err(spec).to_string();
            assert!(err.contains(want), "{spec}: {err}");
            assert!(err.contains(&format!("{spec:?}")), "{spec}: {err}");
        }
    }

    #[test]
    fn publish_all_picks_distinct_ports() {
        let got = publish_all(&[
            (80, Protocol::Tcp),
            (53, Protocol::Udp),
            (443, Protocol::Tcp),
        ])
        .expect("free ports");
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|m| m.host_port != 0));
        assert_ne!(got[0].host_port, got[2].host_port);
        assert_eq!(got[1].protocol, Protocol::Udp);
    }

    #[test]
    fn bound_port_is_reported_in_use() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let err = check_host_port(Some("127.0.0.1".parse().expect("ip")), port, Protocol::Tcp)
            .expect_err("in use");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{port}/tcp is already in use"))
        );
        drop(l);
        check_host_port(Some("127.0.0.1".parse().expect("ip")), port, Protocol::Tcp)
            .expect("free again");
    }
}
