use super::*;

#[test]
fn directory() {
    assert_eq!(go_file_mode(0o40755), "drwxr-xr-x");
    assert_eq!(go_file_mode(0o40700), "drwx------");
}

#[test]
fn regular_file() {
    assert_eq!(go_file_mode(0o100644), "-rw-r--r--");
    assert_eq!(go_file_mode(0o100000), "----------");
    assert_eq!(go_file_mode(0o100777), "-rwxrwxrwx");
    assert_eq!(go_file_mode(0o100421), "-r---w---x");
}

#[test]
fn symlink() {
    assert_eq!(go_file_mode(0o120777), "Lrwxrwxrwx");
}

#[test]
fn sticky_dir() {
    assert_eq!(go_file_mode(0o41777), "dtrwxrwxrwx");
}

#[test]
fn fifo_and_socket() {
    assert_eq!(go_file_mode(0o10644), "prw-r--r--");
    assert_eq!(go_file_mode(0o140755), "Srwxr-xr-x");
}

#[test]
fn devices() {
    assert_eq!(go_file_mode(0o20666), "Dcrw-rw-rw-");
    assert_eq!(go_file_mode(0o60660), "Drw-rw----");
}

#[test]
fn setuid_setgid() {
    assert_eq!(go_file_mode(0o104755), "urwxr-xr-x");
    assert_eq!(go_file_mode(0o102755), "grwxr-xr-x");
    assert_eq!(go_file_mode(0o106755), "ugrwxr-xr-x");
    assert_eq!(go_file_mode(0o107777), "ugtrwxrwxrwx");
    assert_eq!(go_file_mode(0o42775), "dgrwxrwxr-x");
}

#[test]
fn letter_order_across_bits() {
    // Char device with every special bit: D, then u, g, c, t in Go's letter order.
    assert_eq!(go_file_mode(0o27777), "Dugctrwxrwxrwx");
    assert_eq!(go_file_mode(0o124777), "Lurwxrwxrwx");
}

#[test]
fn unknown_type_and_high_bits() {
    assert_eq!(go_file_mode(0o644), "-rw-r--r--");
    assert_eq!(go_file_mode(0o160644), "-rw-r--r--");
    assert_eq!(go_file_mode(0xFFFF_0000 | 0o100644), "-rw-r--r--");
    assert_eq!(go_file_mode(u32::MAX), "ugtrwxrwxrwx");
}

#[test]
fn type_predicates() {
    assert!(is_dir(0o40755));
    assert!(is_dir(0o41777));
    assert!(!is_dir(0o100644));
    assert!(!is_dir(0o120777));
    assert!(!is_dir(0o60660));
    assert!(is_regular(0o100644));
    assert!(is_regular(0o104755));
    assert!(!is_regular(0o40755));
    assert!(!is_regular(0o120777));
    assert!(!is_regular(0o140755));
    assert!(!is_regular(0));
}
