//! The client address of a request: the TCP peer, or, when the peer is a trusted proxy, the
//! `X-Forwarded-For` entry added by the outermost trusted proxy (read from the right, skipping
//! entries that are trusted proxies themselves). Entries may carry a port.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::config::TrustedProxy;

#[derive(Debug, Clone, Default)]
pub struct ClientAddresses {
    trusted_proxies: Vec<TrustedProxy>,
}

impl ClientAddresses {
    pub fn new(trusted_proxies: Vec<TrustedProxy>) -> Self {
        Self { trusted_proxies }
    }

    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        // A `[::]` listener reports IPv4 peers as `::ffff:a.b.c.d`; one client is one address.
        let peer = peer?.ip().to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let mut client = peer;
        for entry in forwarded.rsplit(',') {
            // An entry the proxy did not write in a form we know ends the walk: what is left
            // of it was written by someone we do not trust.
            let Some(address) = parse_entry(entry) else {
                break;
            };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        Some(client)
    }

    /// Whether the TCP peer is a trusted proxy (whose forwarded headers may be believed).
    pub fn peer_is_trusted(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|peer| self.is_trusted(peer.ip().to_canonical()))
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|proxy| proxy.contains(address))
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataMap;

    use super::*;

    fn forwarded(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("x-forwarded-for", value.parse().unwrap());
        metadata
    }

    fn trusting(proxies: &[&str]) -> ClientAddresses {
        ClientAddresses::new(proxies.iter().map(|p| p.parse().unwrap()).collect())
    }

    #[test]
    fn only_a_trusted_proxy_can_name_the_client() {
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let metadata = forwarded("1.1.1.1, 2.2.2.2");
        let untrusting = ClientAddresses::default();
        assert_eq!(
            untrusting.client_ip(Some(proxy), metadata.as_ref()),
            Some(proxy.ip())
        );
        assert_eq!(
            trusting(&["10.0.0.1"]).client_ip(Some(proxy), metadata.as_ref()),
            Some("2.2.2.2".parse().unwrap())
        );
    }

    #[test]
    fn a_range_of_proxies_is_trusted_and_walked_from_the_right() {
        let proxy: SocketAddr = "10.0.0.7:443".parse().unwrap();
        let addresses = trusting(&["10.0.0.0/8"]);
        assert_eq!(
            addresses.client_ip(
                Some(proxy),
                forwarded("6.6.6.6, 7.7.7.7, 10.9.9.9").as_ref()
            ),
            Some("7.7.7.7".parse().unwrap())
        );
        assert_eq!(
            addresses.client_ip(Some(proxy), forwarded("10.1.1.1").as_ref()),
            Some("10.1.1.1".parse().unwrap())
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_its_ipv4_proxy_entry() {
        let proxy: SocketAddr = "[::ffff:127.0.0.1]:50000".parse().unwrap();
        assert_eq!(
            trusting(&["127.0.0.1"]).client_ip(Some(proxy), forwarded("203.0.113.5").as_ref()),
            Some("203.0.113.5".parse().unwrap())
        );
        assert_eq!(
            ClientAddresses::default().client_ip(Some(proxy), &HeaderMap::new()),
            Some("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn forwarded_entries_may_carry_a_port() {
        assert_eq!(
            parse_entry(" 1.2.3.4:5678"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            parse_entry("[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_entry("[2001:db8::1]"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_entry("::ffff:1.2.3.4"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse_entry("unknown"), None);
    }

    #[test]
    fn an_unreadable_last_entry_leaves_the_proxy_as_the_client() {
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        assert_eq!(
            trusting(&["10.0.0.1"]).client_ip(Some(proxy), forwarded("1.1.1.1, garbage").as_ref()),
            Some(proxy.ip())
        );
    }
}
