//! Who is calling: the client's IP address, believing `X-Forwarded-For` only from trusted
//! proxies, and whether a caller may see the operator-only endpoints.

use std::net::IpAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use warp::Filter;

use super::server::PeerAddr;
use crate::domain::Client;

/// The client's IP address as far as it can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The socket peer; when the peer is a trusted proxy, the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(
    trusted: Arc<[IpAddr]>,
) -> impl Filter<Extract = (ClientIp,), Error = warp::Rejection> + Clone {
    warp::ext::optional::<PeerAddr>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .map(move |peer: Option<PeerAddr>, forwarded: Option<String>| {
            let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
            ClientIp(resolve(peer, forwarded.as_deref(), &trusted))
        })
}

/// The client: its IP as [`client_ip`] finds it, and its User-Agent, cleaned.
pub fn client(
    trusted: Arc<[IpAddr]>,
) -> impl Filter<Extract = (Client,), Error = warp::Rejection> + Clone {
    client_ip(trusted)
        .and(warp::header::optional::<String>("user-agent"))
        .map(|ip: ClientIp, user_agent: Option<String>| Client::new(ip.0, user_agent.as_deref()))
}

fn resolve(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(forwarded) = forwarded else {
        return peer;
    };
    let mut client = peer;
    for hop in forwarded.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            // A malformed entry: stop believing the chain here.
            Err(_) => return client,
        }
    }
    client
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case), if any.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    header
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// Whether the caller may read operator endpoints (`/metrics`): the admin token, or a
/// loopback peer that is not relaying someone else's request.
pub fn is_operator(
    admin_token: &str,
    authorization: Option<&str>,
    peer: Option<PeerAddr>,
    forwarded: bool,
) -> bool {
    // Comparing digests keeps the comparison constant-time whatever the lengths.
    let token_ok = !admin_token.is_empty()
        && bearer(authorization).is_some_and(|token| {
            bool::from(crate::auth::digest(token).ct_eq(&crate::auth::digest(admin_token)))
        });
    let local = peer.is_some_and(|p| p.0.ip().is_loopback()) && !forwarded;
    token_ok || local
}

/// Whether a request comes straight from a browser on this machine: a loopback peer, no
/// header by which a proxy relays someone else's request (`Forwarded`, `X-Forwarded-For`,
/// `X-Real-IP`), and a `Host` that names this machine (`localhost`, `127.0.0.1` or `[::1]`,
/// any port). A proxy on the same machine passes the first test for every client on the
/// internet; it fails the others unless it was configured to hide what it does.
pub fn is_local_browser(peer: Option<PeerAddr>, headers: &http::HeaderMap) -> bool {
    let relayed = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| headers.contains_key(*name));
    let local_host = headers
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(names_this_machine);
    peer.is_some_and(|p| p.0.ip().is_loopback()) && !relayed && local_host
}

/// Whether a `Host` value is `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn names_this_machine(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [ip("10.0.0.1")];
        assert_eq!(
            resolve(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        // A client cannot smuggle an address in front of the real one.
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("6.6.6.6, 1.2.3.4"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("1.2.3.4, 10.0.0.1"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("garbage"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(resolve(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn only_this_machine_s_names_are_local_hosts() {
        for local in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:3000",
        ] {
            assert!(names_this_machine(local), "{local}");
        }
        for other in [
            "shop.example.com",
            "localhost.example.com",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "::1",
            "[::1]:x",
            ":8080",
            "",
        ] {
            assert!(!names_this_machine(other), "{other}");
        }
    }

    #[test]
    fn operators_are_the_admin_token_or_a_direct_loopback_peer() {
        let local = Some(PeerAddr("127.0.0.1:5000".parse().unwrap()));
        let remote = Some(PeerAddr("203.0.113.9:5000".parse().unwrap()));
        assert!(is_operator("", None, local, false));
        assert!(
            !is_operator("", None, local, true),
            "a local proxy relaying a client is not the operator"
        );
        assert!(!is_operator("", None, remote, false));
        assert!(is_operator("s3cret", Some("Bearer s3cret"), remote, true));
        assert!(!is_operator("s3cret", Some("Bearer s3cre"), remote, false));
        assert!(
            !is_operator("", Some("Bearer "), remote, false),
            "an unset token opens nothing"
        );
    }
}
