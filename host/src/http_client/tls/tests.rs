use super::host_name;

#[test]
fn host_names() {
    assert_eq!(host_name("127.0.0.1:4646"), "127.0.0.1");
    assert_eq!(host_name("[::1]:4646"), "::1");
    assert_eq!(host_name("nomad.example:4646"), "nomad.example");
    assert_eq!(host_name("nomad.example"), "nomad.example");
}
