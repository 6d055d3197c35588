#[test]
fn a_close_reason_fits_a_control_frame() {
    assert_eq!(super::close_reason("short"), "short");
    let long = "é".repeat(100);
    let cut = super::close_reason(&long);
    assert_eq!(cut.len(), 122);
    assert!(long.starts_with(cut));
}
