use super::*;

#[test]
fn only_a_reachable_address_without_tls_or_acls_is_warned_about() {
    let open: SocketAddr = "0.0.0.0:4646".parse().unwrap();
    let lan: SocketAddr = "10.0.0.5:4646".parse().unwrap();
    for addr in ["127.0.0.1:4646", "[::1]:4646", "127.0.0.2:1"] {
        let addr: SocketAddr = addr.parse().unwrap();
        for (tls, acl) in [(false, false), (true, false), (false, true), (true, true)] {
            assert_eq!(warning(addr, tls, acl), None, "{addr} {tls} {acl}");
        }
    }
    for addr in [open, lan, "[::]:4646".parse().unwrap()] {
        assert_eq!(warning(addr, true, true), None);
        let both = warning(addr, false, false).unwrap();
        assert!(both.contains(&format!("plain HTTP on {addr}")), "{both}");
        assert!(both.contains("without TLS or ACLs"), "{both}");
        assert!(warning(addr, false, true).unwrap().contains("without TLS:"));
        let no_acl = warning(addr, true, false).unwrap();
        assert!(
            no_acl.contains("HTTPS") && no_acl.contains("without ACLs"),
            "{no_acl}"
        );
    }
}
