//! Where headsets connect: this machine's network addresses, for the admin page to show.
//!
//! The Unity app connects to the address a teacher typed into it (its `IP` setting, `localhost`
//! until then), so the page says which address to type: the likely classroom one first (private
//! ranges: 10/8, 172.16/12, 192.168/16), then the others; never a loopback or link-local address,
//! which a headset cannot reach. Addresses change (a laptop joins the Wi-Fi after the relay
//! started), so they are read again every few seconds, not at every look.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// How long a reading of the addresses is used before it is read again.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// One address headsets may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadsetAddress {
    /// The address, as typed into the app (IPv6 without brackets).
    pub ip: String,
    /// `private` (the likely classroom network) or `other`.
    pub kind: &'static str,
    /// The network interface it belongs to (`wlan0`, `Wi-Fi`…).
    pub interface: String,
}

/// The addresses headsets can reach the headset port on, read again every few seconds.
#[derive(Debug, Default)]
pub struct Addresses {
    cached: Mutex<Option<(Instant, Vec<HeadsetAddress>)>>,
}

impl Addresses {
    /// The addresses for a headset port bound to `listen`: every usable address of the machine
    /// when it listens on all of them, that one address when on one, none on loopback.
    pub fn for_listener(&self, listen: SocketAddr) -> Vec<HeadsetAddress> {
        let ip = listen.ip();
        if ip.is_loopback() {
            return Vec::new();
        }
        if !ip.is_unspecified() {
            return vec![HeadsetAddress {
                ip: ip.to_string(),
                kind: kind(ip),
                interface: String::new(),
            }];
        }
        let mut cached = self.cached.lock();
        if let Some((at, list)) = cached.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return filter_family(list, ip);
        }
        let list = read();
        *cached = Some((Instant::now(), list.clone()));
        filter_family(&list, ip)
    }
}

/// IPv4 addresses for a listener on `0.0.0.0`; both families for `::` (dual stack).
fn filter_family(list: &[HeadsetAddress], listen: IpAddr) -> Vec<HeadsetAddress> {
    list.iter()
        .filter(|a| listen.is_ipv6() || a.ip.parse::<Ipv4Addr>().is_ok())
        .cloned()
        .collect()
}

/// This machine's addresses a headset can use, the likely classroom ones first.
fn read() -> Vec<HeadsetAddress> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list this machine's network addresses");
            return Vec::new();
        }
    };
    let mut list: Vec<HeadsetAddress> = interfaces
        .into_iter()
        .map(|i| (i.ip(), i.name))
        .filter(|(ip, _)| usable(*ip))
        .map(|(ip, name)| HeadsetAddress {
            ip: ip.to_string(),
            kind: kind(ip),
            interface: name,
        })
        .collect();
    list.sort_by_key(rank);
    list.dedup_by(|a, b| a.ip == b.ip);
    list
}

/// Whether a headset on the network could connect to it.
fn usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified() || is_unicast_link_local(v6)),
    }
}

fn is_unicast_link_local(v6: Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xffc0) == 0xfe80
}

/// `private` for the networks classrooms use, `other` for the rest.
fn kind(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) if v4.is_private() => "private",
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => "private",
        _ => "other",
    }
}

/// Private IPv4 first (192.168, then 10, then 172.16: home and school routers' usual order), then
/// other IPv4, then IPv6.
fn rank(a: &HeadsetAddress) -> (u8, u8) {
    match a.ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) if v4.is_private() => {
            let o = v4.octets();
            (
                0,
                if o[0] == 192 {
                    0
                } else if o[0] == 10 {
                    1
                } else {
                    2
                },
            )
        }
        Ok(IpAddr::V4(_)) => (1, 0),
        Ok(IpAddr::V6(_)) if a.kind == "private" => (2, 0),
        _ => (3, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: &str) -> HeadsetAddress {
        let parsed: IpAddr = ip.parse().unwrap();
        HeadsetAddress {
            ip: ip.into(),
            kind: kind(parsed),
            interface: "x".into(),
        }
    }

    #[test]
    fn the_classroom_address_comes_first_and_loopback_never() {
        assert!(!usable("127.0.0.1".parse().unwrap()));
        assert!(!usable("::1".parse().unwrap()));
        assert!(!usable("169.254.3.4".parse().unwrap()));
        assert!(!usable("fe80::1".parse().unwrap()));
        assert!(usable("192.168.1.20".parse().unwrap()));
        let mut list = [
            address("2001:db8::5"),
            address("8.8.4.4"),
            address("172.20.0.3"),
            address("10.0.0.12"),
            address("fd00::7"),
            address("192.168.1.20"),
        ];
        list.sort_by_key(rank);
        let ips: Vec<&str> = list.iter().map(|a| a.ip.as_str()).collect();
        assert_eq!(
            ips,
            [
                "192.168.1.20",
                "10.0.0.12",
                "172.20.0.3",
                "8.8.4.4",
                "fd00::7",
                "2001:db8::5"
            ]
        );
        assert_eq!(list[0].kind, "private");
        assert_eq!(list[3].kind, "other");
    }

    #[test]
    fn a_headset_port_on_one_address_or_on_loopback() {
        let addresses = Addresses::default();
        assert!(
            addresses
                .for_listener("127.0.0.1:8080".parse().unwrap())
                .is_empty()
        );
        let one = addresses.for_listener("10.1.2.3:8080".parse().unwrap());
        assert_eq!(
            one,
            vec![address("10.1.2.3")]
                .into_iter()
                .map(|mut a| {
                    a.interface.clear();
                    a
                })
                .collect::<Vec<_>>()
        );
        // Every usable address of this machine, none of them loopback.
        for a in addresses.for_listener("0.0.0.0:8080".parse().unwrap()) {
            let ip: IpAddr = a.ip.parse().unwrap();
            assert!(ip.is_ipv4() && usable(ip), "{a:?}");
        }
    }
}
