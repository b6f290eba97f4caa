//! The client address that the rate limits are keyed on, read so that a client cannot choose it.
//!
//! - No proxy configured: the socket peer (axum's `ConnectInfo`). Every forwarding header is
//!   ignored.
//! - `AUTH_TRUSTED_PROXIES=N` (N proxy hops in front of the app): each proxy appends the address
//!   it received the request from to `X-Forwarded-For`, so the client is the N-th value from the
//!   right. Everything left of it was sent by the client and is never used.
//! - `AUTH_TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7` (the proxies' CIDRs): only when the peer is one
//!   of them is `X-Forwarded-For` read, from the right, skipping trusted addresses; the first
//!   address that is not a trusted proxy is the client.
//! - `AUTH_TRUSTED_IP_HEADER` (e.g. `x-real-ip`): a single-valued header that the proxy
//!   *overwrites* with the client address. It is used when it holds exactly one address and,
//!   with trusted CIDRs, only when the peer is one of them; otherwise the rules above apply.
//!   `X-Forwarded-For` and `Forwarded` are refused as its value (their first entry is the
//!   client's own choice): use `AUTH_TRUSTED_PROXIES` for them.
//!
//! Addresses are canonical (`::ffff:192.0.2.1` is `192.0.2.1`), and [`group`] maps an IPv6
//! address to its /64 network: one subscriber usually gets a whole /64, so rotating through it
//! must not buy fresh budgets.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Which peers are trusted reverse proxies (`AUTH_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustedProxies {
    /// No proxy: the socket peer is the client (the default).
    #[default]
    None,
    /// This many proxy hops in front of the app (1..=[`MAX_PROXY_HOPS`]), each appending to
    /// `X-Forwarded-For`.
    Hops(u8),
    /// The proxies' networks; a peer outside them is the client itself.
    Cidrs(Vec<IpNet>),
}

/// Largest accepted hop count.
pub const MAX_PROXY_HOPS: u8 = 16;

/// Longest accepted list of trusted networks.
const MAX_CIDRS: usize = 64;

impl FromStr for TrustedProxies {
    type Err = String;

    /// `N` (a hop count) or a comma-separated list of CIDRs or single addresses.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(hops) = s.parse::<u8>() {
            return match hops {
                1..=MAX_PROXY_HOPS => Ok(Self::Hops(hops)),
                _ => Err(format!("a hop count must be from 1 to {MAX_PROXY_HOPS}")),
            };
        }
        let nets = s
            .split(',')
            .map(str::trim)
            .map(|item| {
                IpNet::from_str(item)
                    .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!(
                            "{item:?} is neither a hop count nor an IP address or CIDR \
                             (e.g. 2, or 10.0.0.0/8,192.0.2.7)"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if nets.len() > MAX_CIDRS {
            return Err(format!("at most {MAX_CIDRS} networks"));
        }
        Ok(Self::Cidrs(nets))
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            Self::None => false,
            Self::Hops(_) => true,
            Self::Cidrs(nets) => nets.iter().any(|net| net.contains(&ip)),
        }
    }
}

/// Whether `name` may be `AUTH_TRUSTED_IP_HEADER`: not a list header whose first entry the
/// client writes.
pub(crate) fn single_valued_header(name: &http::HeaderName) -> bool {
    !matches!(name.as_str(), "x-forwarded-for" | "forwarded")
}

/// The client address of a request (see the module documentation), or `None` when it cannot be
/// known (no `ConnectInfo` and no usable proxy header).
pub(crate) fn client_address(
    proxies: &TrustedProxies,
    ip_header: Option<&http::HeaderName>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    let peer = peer.map(|ip| ip.to_canonical());
    let peer_is_proxy = match proxies {
        TrustedProxies::Cidrs(_) => peer.is_some_and(|ip| proxies.trusts(ip)),
        _ => true,
    };
    if let Some(name) = ip_header
        && peer_is_proxy
    {
        let mut values = headers.get_all(name).iter();
        if let (Some(value), None) = (values.next(), values.next())
            && let Some(ip) = value.to_str().ok().and_then(parse_address)
        {
            return Some(ip);
        }
    }
    match proxies {
        TrustedProxies::None => peer,
        TrustedProxies::Hops(hops) => {
            let chain = forwarded_for(headers);
            let hops = usize::from(*hops);
            if chain.len() < hops {
                // Fewer entries than proxies: the request did not come through all of them.
                return peer;
            }
            // The entry the outermost proxy wrote, or (if it is not an address) the nearest
            // address to its right, which a proxy wrote too.
            chain[chain.len() - hops..]
                .iter()
                .find_map(|entry| parse_address(entry))
                .or(peer)
        }
        TrustedProxies::Cidrs(_) => {
            let mut client = peer?;
            if !proxies.trusts(client) {
                return Some(client);
            }
            for entry in forwarded_for(headers).iter().rev() {
                let Some(ip) = parse_address(entry) else {
                    // A trusted proxy wrote something that is not an address: the last proxy
                    // is as far as the chain can be followed.
                    break;
                };
                client = ip;
                if !proxies.trusts(ip) {
                    break;
                }
            }
            Some(client)
        }
    }
}

/// Every `X-Forwarded-For` entry, in order (several header lines are one list).
fn forwarded_for(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, or with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if text.len() > 64 {
        return None;
    }
    text.parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The unit the limits count: an IPv4 address, or an IPv6 address's /64 network.
pub(crate) fn group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(s: &str) -> TrustedProxies {
        s.parse().unwrap()
    }

    #[test]
    fn parses_hops_and_cidrs() {
        assert_eq!(proxies("2"), TrustedProxies::Hops(2));
        assert_eq!(
            proxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32"),
            TrustedProxies::Cidrs(vec![
                "10.0.0.0/8".parse().unwrap(),
                "192.0.2.7/32".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ])
        );
        // Host bits are dropped.
        assert_eq!(
            proxies("10.1.2.3/8"),
            TrustedProxies::Cidrs(vec!["10.0.0.0/8".parse().unwrap()])
        );
        for bad in [
            "0",
            "17",
            "-1",
            "10.0.0.0/33",
            "proxy",
            "10.0.0.1,",
            "",
            "1.2.3",
        ] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad:?}");
        }
        let many = vec!["10.0.0.1"; 65].join(",");
        assert!(many.parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn no_proxy_means_the_peer() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-real-ip", "1.1.1.1")]);
        let got = client_address(&TrustedProxies::None, None, &h, Some(ip("192.0.2.1")));
        assert_eq!(got, Some(ip("192.0.2.1")));
        assert_eq!(client_address(&TrustedProxies::None, None, &h, None), None);
        // A v4-mapped peer (a dual-stack listener) is its IPv4 address.
        let got = client_address(
            &TrustedProxies::None,
            None,
            &h,
            Some(ip("::ffff:192.0.2.1")),
        );
        assert_eq!(got, Some(ip("192.0.2.1")));
    }

    /// The leftmost entries are the client's own: only the N-th from the right counts.
    #[test]
    fn hops_read_from_the_right() {
        let peer = Some(ip("10.0.0.2"));
        let one = TrustedProxies::Hops(1);
        let spoofed = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4")]);
        assert_eq!(
            client_address(&one, None, &spoofed, peer),
            Some(ip("198.51.100.4"))
        );
        // Several header lines are one list; the last line's last entry is the proxy's.
        let lines = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "7.7.7.7, 198.51.100.4"),
        ]);
        assert_eq!(
            client_address(&one, None, &lines, peer),
            Some(ip("198.51.100.4"))
        );
        let two = TrustedProxies::Hops(2);
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.9")]);
        assert_eq!(
            client_address(&two, None, &chain, peer),
            Some(ip("198.51.100.4"))
        );
        // Fewer entries than hops: not through the proxies, the peer.
        let short = headers(&[("x-forwarded-for", "198.51.100.4")]);
        assert_eq!(client_address(&two, None, &short, peer), peer);
        assert_eq!(client_address(&one, None, &HeaderMap::new(), peer), peer);
        // Ports, brackets.
        let port = headers(&[("x-forwarded-for", "6.6.6.6, [2001:db8::1]:4711")]);
        assert_eq!(
            client_address(&one, None, &port, peer),
            Some(ip("2001:db8::1"))
        );
    }

    #[test]
    fn cidrs_skip_trusted_hops_from_the_right() {
        let trusted = proxies("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.1.1.1")]);
        assert_eq!(
            client_address(&trusted, None, &h, Some(ip("10.0.0.2"))),
            Some(ip("198.51.100.4"))
        );
        // A peer that is not a trusted proxy is the client, whatever it forwards.
        assert_eq!(
            client_address(&trusted, None, &h, Some(ip("203.0.113.5"))),
            Some(ip("203.0.113.5"))
        );
        // All trusted: the leftmost (an internal client).
        let internal = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(
            client_address(&trusted, None, &internal, Some(ip("10.0.0.2"))),
            Some(ip("10.9.9.9"))
        );
        // Garbage where a proxy should have written an address: the last proxy.
        let garbage = headers(&[("x-forwarded-for", "6.6.6.6, unknown, 10.1.1.1")]);
        assert_eq!(
            client_address(&trusted, None, &garbage, Some(ip("10.0.0.2"))),
            Some(ip("10.1.1.1"))
        );
        // An unknown peer cannot be checked: no address.
        assert_eq!(client_address(&trusted, None, &h, None), None);
    }

    #[test]
    fn the_single_valued_header() {
        let name = http::HeaderName::from_static("x-real-ip");
        let h = headers(&[
            ("x-real-ip", " 198.51.100.4 "),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        let peer = Some(ip("10.0.0.2"));
        assert_eq!(
            client_address(&TrustedProxies::None, Some(&name), &h, peer),
            Some(ip("198.51.100.4"))
        );
        // A list, two lines, or no address: not used.
        for bad in [
            headers(&[("x-real-ip", "6.6.6.6, 198.51.100.4")]),
            headers(&[("x-real-ip", "6.6.6.6"), ("x-real-ip", "198.51.100.4")]),
            headers(&[("x-real-ip", "unknown")]),
        ] {
            assert_eq!(
                client_address(&TrustedProxies::None, Some(&name), &bad, peer),
                peer
            );
        }
        // With CIDRs, only from a trusted peer.
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            client_address(&trusted, Some(&name), &h, Some(ip("203.0.113.5"))),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            client_address(&trusted, Some(&name), &h, peer),
            Some(ip("198.51.100.4"))
        );
        assert!(!single_valued_header(&http::HeaderName::from_static(
            "x-forwarded-for"
        )));
        assert!(!single_valued_header(&http::HeaderName::from_static(
            "forwarded"
        )));
        assert!(single_valued_header(&name));
    }

    #[test]
    fn ipv6_groups_by_64() {
        assert_eq!(
            group(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(group(ip("2001:db8:1:2::1")), group(ip("2001:db8:1:2::2")));
        assert_ne!(group(ip("2001:db8:1:2::1")), group(ip("2001:db8:1:3::1")));
        assert_eq!(group(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(group(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
