//! Who is on the other end of a loopback TCP connection: any local user may
//! connect to the listener, and one who read the login URL (the browser's
//! command line is public in `/proc`) could log in as themselves and hand
//! the code to oidc-gen, which would save *their* account as the person's
//! (authorization-code injection; RFC 9700 §4.5). PKCE and `state` do not
//! stop it: the attacker completes the person's own request. Linux lists
//! every TCP socket with its owner's uid in `/proc/net/tcp` and `tcp6`; the
//! peer's socket is the one whose local address is the peer address and
//! whose remote address is ours.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The uid owning the socket at `peer` connected to `ours`, when the
/// kernel's table says (not found: a connection already gone).
pub fn uid(ours: SocketAddr, peer: SocketAddr) -> Option<u32> {
    owner(peer, |row| {
        Some(address(row.get(1)?)? == peer && address(row.get(2)?)? == ours)
    })
}

/// The uid owning the socket that listens at `addr` (loopback TCP), when
/// the kernel's table says: `oidc-gen --codeExchange` hands a login only to
/// a listener of its own user.
pub fn listener_uid(addr: SocketAddr) -> Option<u32> {
    // State 0A: LISTEN.
    owner(addr, |row| {
        Some(row.get(3) == Some(&"0A") && address(row.get(1)?)? == addr)
    })
}

/// The uid of the first row of the kernel's TCP table for `addr`'s family
/// (`/proc/net/tcp` or `tcp6`) that `matches`, its fields split.
fn owner(addr: SocketAddr, matches: impl Fn(&[&str]) -> Option<bool>) -> Option<u32> {
    let table = match addr {
        SocketAddr::V4(_) => "/proc/net/tcp",
        SocketAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        matches(&fields)?.then(|| fields.get(7)?.parse().ok())?
    })
}

/// An address as the table writes it: the IP as 32-bit words in the
/// host's byte order, in hex, then `:` and the port in hex.
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection made here is found in the kernel's table, as ours.
    #[test]
    fn our_own_connection_is_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let ours = listener.local_addr().expect("addr");
        let client = std::net::TcpStream::connect(ours).expect("connect");
        let peer = client.local_addr().expect("peer");
        assert_eq!(
            uid(ours, peer),
            Some(rustix::process::getuid().as_raw()),
            "not found in /proc/net/tcp"
        );
        assert_eq!(listener_uid(ours), Some(rustix::process::getuid().as_raw()));
        assert_eq!(
            address("0100007F:1F90"),
            (cfg!(target_endian = "little")).then(|| "127.0.0.1:8080".parse().expect("addr"))
        );
    }
}
