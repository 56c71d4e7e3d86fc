//! IPv4 subnets: parsing, overlap with the host's routes and with other
//! rbox networks, and picking a free /24 from rbox's pool.
//!
//! The pool (10.209.0.0/16) avoids docker's (172.17.0.0/16 and up,
//! 192.168.0.0/16) and podman's (10.88.0.0/16, 10.89.0.0/16 and up)
//! defaults; any route the host already has wins over it.

use std::fmt;
use std::net::Ipv4Addr;

use super::error::{NetworkError, Result};

/// The default `bridge` network's subnet.
pub const DEFAULT_BRIDGE_SUBNET: &str = "10.209.0.0/24";

/// Where user networks without `--subnet` get their /24 from.
pub const POOL: &str = "10.209.0.0/16";

/// An IPv4 network: address with host bits clear, and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; host bits must be clear and n in 8..=30 (a
    /// bridge needs room for a gateway and at least one container).
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = |reason| NetworkError::InvalidSubnet {
            subnet: s.to_string(),
            reason,
        };
        let (a, p) = s.split_once('/').ok_or(bad("missing /prefix"))?;
        if a.contains(':') {
            return Err(bad("IPv6 subnets are not supported yet"));
        }
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("invalid IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("invalid prefix length"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("prefix length must be 8 to 30"));
        }
        let net = Subnet { addr, prefix };
        if u32::from(addr) & !net.mask() != 0 {
            return Err(bad("host bits are set"));
        }
        Ok(net)
    }

    fn mask(self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    /// The first usable address, which rbox gives the bridge.
    pub fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// True if the two networks share an address.
    pub fn overlaps(self, other: Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// True if `ip` is inside.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A host IPv4 route that is not a default route: its interface and network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub iface: String,
    pub net: Subnet,
}

/// Parses `/proc/net/route`.
pub(crate) fn parse_proc_routes(text: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // The kernel prints the raw network-order word as a native integer.
        let mask = u32::from_be_bytes(mask.to_ne_bytes());
        let dst = u32::from_be_bytes(dst.to_ne_bytes());
        if mask == 0 {
            continue;
        }
        let prefix = u8::try_from(mask.leading_ones()).expect("at most 32");
        out.push(Route {
            iface: f[0].to_string(),
            net: Subnet {
                addr: Ipv4Addr::from(dst & mask),
                prefix,
            },
        });
    }
    out
}

/// The host's routes, or none if `/proc/net/route` is unreadable.
pub(crate) fn host_routes() -> Vec<Route> {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_proc_routes(&t))
        .unwrap_or_default()
}

/// Checks `net` against host routes (except those on `own_bridge`) and the
/// given networks.
pub(crate) fn check_free(
    net: Subnet,
    own_bridge: &str,
    routes: &[Route],
    others: &[(String, Subnet)],
) -> Result<()> {
    for r in routes {
        if r.iface != own_bridge && r.net.overlaps(net) {
            return Err(NetworkError::SubnetOverlap {
                subnet: net.to_string(),
                other: format!("host route {} on {}", r.net, r.iface),
            });
        }
    }
    for (name, o) in others {
        if o.overlaps(net) {
            return Err(NetworkError::SubnetOverlap {
                subnet: net.to_string(),
                other: format!("network {name} ({o})"),
            });
        }
    }
    Ok(())
}

/// The first /24 of the pool after the default bridge's that is free.
pub(crate) fn pick_free(routes: &[Route], others: &[(String, Subnet)]) -> Result<Subnet> {
    let pool = Subnet::parse(POOL)?;
    let base = u32::from(pool.addr);
    for i in 1..=255u32 {
        let net = Subnet {
            addr: Ipv4Addr::from(base + (i << 8)),
            prefix: 24,
        };
        if check_free(net, "", routes, others).is_ok() {
            return Ok(net);
        }
    }
    Err(NetworkError::NoFreeSubnet {
        pool: POOL.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Subnet {
        Subnet::parse(s).expect(s)
    }

    #[test]
    fn parse_and_errors() {
        assert_eq!(n("10.1.2.0/24").to_string(), "10.1.2.0/24");
        assert_eq!(n("10.1.2.0/24").gateway(), Ipv4Addr::new(10, 1, 2, 1));
        for (s, why) in [
            ("10.1.2.1/24", "host bits"),
            ("10.1.2.0", "missing /prefix"),
            ("10.1.2.0/31", "8 to 30"),
            ("fd00::/64", "IPv6"),
            ("10.1.2/24", "invalid IPv4"),
            ("10.1.2.0/x", "invalid prefix"),
        ] {
            let e = Subnet::parse(s).expect_err(s).to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn overlap() {
        assert!(n("10.0.0.0/8").overlaps(n("10.209.3.0/24")));
        assert!(n("10.209.3.0/24").overlaps(n("10.0.0.0/8")));
        assert!(!n("10.209.3.0/24").overlaps(n("10.209.4.0/24")));
        assert!(n("10.209.3.0/24").contains(Ipv4Addr::new(10, 209, 3, 77)));
    }

    #[test]
    fn proc_routes() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
rbox0\t0000D10A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_proc_routes(text);
        assert_eq!(
            r,
            [
                Route {
                    iface: "eth0".into(),
                    net: n("192.0.2.0/24")
                },
                Route {
                    iface: "rbox0".into(),
                    net: n("10.209.0.0/24")
                }
            ]
        );
        assert!(check_free(n("10.209.0.0/24"), "rbox0", &r, &[]).is_ok());
        let e = check_free(n("192.0.2.0/25"), "rbox0", &r, &[]).expect_err("clash");
        assert!(
            e.to_string().contains("host route 192.0.2.0/24 on eth0"),
            "{e}"
        );
        let others = [("a".to_string(), n("10.209.1.0/24"))];
        assert_eq!(pick_free(&r, &others).expect("free"), n("10.209.2.0/24"));
    }
}
