//! Which peers are trusted to speak for others: `--forwarded-allow-ips`,
//! `--proxy-allow-from` and `--uwsgi-allow-from` are each one `TrustedPeers`, a list of
//! addresses and CIDR ranges (IPv4 and IPv6) or `*`. Unix-socket peers are always trusted,
//! as in gunicorn: only processes that can open the socket file reach them.

use std::fmt;
use std::net::IpAddr;

/// One address range: an address and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_matches(net: u128, ip: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix));
    net & mask == ip & mask
}

/// A set of trusted peers. The empty set trusts only unix-socket peers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrustedPeers {
    /// `*`: every peer.
    any: bool,
    ranges: Vec<Cidr>,
    /// The entries as given, for the conversion back (`Config` → settings dict) and logs.
    spelled: Vec<String>,
}

/// An entry that is neither an address, a CIDR range, nor `*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address, a CIDR range (10.0.0.0/8, fd00::/8) or *")]
pub struct BadPeer(pub String);

impl TrustedPeers {
    /// Parses entries such as `127.0.0.1`, `::1`, `10.0.0.0/8`, `fd00::/8` or `*`.
    ///
    /// # Errors
    /// The first entry that is none of these.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedPeers, BadPeer> {
        let mut peers = TrustedPeers::default();
        for entry in entries {
            let text = entry.as_ref().trim();
            peers.spelled.push(text.to_owned());
            if text == "*" {
                peers.any = true;
                continue;
            }
            let bad = || BadPeer(text.to_owned());
            let (addr, prefix) = if let Some((addr, bits)) = text.split_once('/') {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max && !bits.starts_with('+'))
                    .ok_or_else(bad)?;
                (addr, bits)
            } else {
                let addr: IpAddr = text.parse().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            };
            peers.ranges.push(Cidr {
                addr: canonical(addr),
                prefix,
            });
        }
        Ok(peers)
    }

    /// Whether a TCP peer at `ip` is trusted. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`, what a dual-stack socket reports) is matched as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.any || {
            let ip = canonical(ip);
            self.ranges.iter().any(|range| range.contains(ip))
        }
    }

    /// Whether a connection's peer is trusted: `None` is a unix-socket peer, always trusted.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_none_or(|ip| self.contains(ip))
    }

    /// Whether any TCP peer at all is trusted.
    pub fn is_empty(&self) -> bool {
        !self.any && self.ranges.is_empty()
    }

    /// The entries as they were given.
    pub fn entries(&self) -> &[String] {
        &self.spelled
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into the IPv4 address it maps.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl fmt::Display for TrustedPeers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spelled.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(entries: &[&str]) -> TrustedPeers {
        TrustedPeers::parse(entries).expect("valid entries")
    }

    #[test]
    fn matches_addresses_ranges_and_star() {
        let rows: &[(&[&str], &str, bool)] = &[
            (&["127.0.0.1", "::1"], "127.0.0.1", true),
            (&["127.0.0.1", "::1"], "127.0.0.2", false),
            (&["127.0.0.1", "::1"], "::1", true),
            (&["127.0.0.1"], "::ffff:127.0.0.1", true),
            (&["10.0.0.0/8"], "10.255.1.2", true),
            (&["10.0.0.0/8"], "11.0.0.1", false),
            (&["10.1.2.3/0"], "192.0.2.1", true),
            (&["10.1.2.3/0"], "2001:db8::1", false),
            (&["fd00::/8"], "fdab::1", true),
            (&["fd00::/8"], "fe80::1", false),
            (&["2001:db8::/32"], "2001:db8:ffff::1", true),
            (&["*"], "203.0.113.9", true),
            (&["*"], "2001:db8::9", true),
            (&[], "127.0.0.1", false),
        ];
        for (entries, ip, want) in rows {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(peers(entries).contains(ip), *want, "{entries:?} {ip}");
        }
    }

    #[test]
    fn unix_socket_peers_are_always_trusted() {
        assert!(peers(&[]).trusts(None));
        assert!(!peers(&[]).trusts(Some("127.0.0.1".parse().expect("ip"))));
    }

    #[test]
    fn refuses_what_is_not_an_address_a_range_or_star() {
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "/8",
            "1.2.3.4/+8",
            "**",
        ] {
            assert_eq!(
                TrustedPeers::parse(&[bad]),
                Err(BadPeer(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
