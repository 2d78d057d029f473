//! The client address of a request: the TCP peer, or the last `X-Forwarded-For` entry when
//! the peer is a trusted proxy (that entry is the one the proxy itself added).

use std::net::{IpAddr, SocketAddr};

use tonic::metadata::MetadataMap;

#[derive(Debug, Clone, Default)]
pub struct ClientAddresses {
    trusted_proxies: Vec<IpAddr>,
}

impl ClientAddresses {
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self { trusted_proxies }
    }

    pub fn client_ip(&self, peer: Option<SocketAddr>, metadata: &MetadataMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = metadata
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        forwarded
            .rsplit(',')
            .next()
            .and_then(|last| last.trim().parse().ok())
            .or(Some(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_can_name_the_client() {
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let mut metadata = MetadataMap::new();
        metadata.insert("x-forwarded-for", "1.1.1.1, 2.2.2.2".parse().unwrap());
        let untrusting = ClientAddresses::default();
        assert_eq!(
            untrusting.client_ip(Some(proxy), &metadata),
            Some(proxy.ip())
        );
        let trusting = ClientAddresses::new(vec![proxy.ip()]);
        assert_eq!(
            trusting.client_ip(Some(proxy), &metadata),
            Some("2.2.2.2".parse().unwrap())
        );
    }
}
