//! The unit that per-address limits count against. An IPv4 client is one address; an IPv6
//! client is its routing prefix (a /64 by default), because a single subscriber is usually given
//! a whole /64 and could otherwise rotate through 2^64 addresses, one fresh bucket each.

use std::net::{IpAddr, Ipv6Addr};

/// IPv6 prefix length used when none is configured: what one subscriber is usually given.
pub const DEFAULT_IPV6_PREFIX_LENGTH: u8 = 64;

/// A client address reduced to the bucket it is limited in. Built only by [`bucket`], so an
/// IPv6 bucket never carries host bits and an IPv4-mapped address is the IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressBucket(IpAddr);

impl AddressBucket {
    /// The network address of the bucket (the IPv4 address, or the IPv6 prefix with its
    /// host bits zeroed).
    pub fn network(&self) -> IpAddr {
        self.0
    }
}

/// The bucket of `address`, grouping IPv6 addresses by their first `ipv6_prefix_length` bits
/// (clamped to 1..=128). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack
/// listener reports for IPv4 clients) counts as the IPv4 address it carries.
pub fn bucket(address: IpAddr, ipv6_prefix_length: u8) -> AddressBucket {
    match address {
        IpAddr::V4(v4) => AddressBucket(IpAddr::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => AddressBucket(IpAddr::V4(v4)),
            None => {
                let length = u32::from(ipv6_prefix_length.clamp(1, 128));
                let mask = u128::MAX << (128 - length);
                AddressBucket(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_bucket_and_neighbours_do_not() {
        let a = bucket(ip("2001:db8:1:2::1"), 64);
        let b = bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64);
        let c = bucket(ip("2001:db8:1:3::1"), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.network(), ip("2001:db8:1:2::"));
    }

    #[test]
    fn the_ipv6_prefix_length_is_configurable() {
        assert_eq!(
            bucket(ip("2001:db8:1:2::1"), 48),
            bucket(ip("2001:db8:1:ff::1"), 48)
        );
        assert_ne!(
            bucket(ip("2001:db8::1"), 128),
            bucket(ip("2001:db8::2"), 128)
        );
        // Out-of-range lengths are clamped rather than panicking on the shift.
        assert_eq!(bucket(ip("2001:db8::1"), 0).network(), ip("::"));
        assert_eq!(bucket(ip("2001:db8::1"), 200).network(), ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_counts_by_full_address_and_a_mapped_address_is_ipv4() {
        assert_ne!(bucket(ip("192.0.2.1"), 64), bucket(ip("192.0.2.2"), 64));
        assert_eq!(
            bucket(ip("::ffff:192.0.2.1"), 64),
            bucket(ip("192.0.2.1"), 64)
        );
        assert_eq!(
            bucket(ip("::ffff:192.0.2.1"), 64).network(),
            ip("192.0.2.1")
        );
    }
}
