use super::*;

#[test]
fn matches_the_base64_crate_for_every_length_up_to_a_few_groups() {
    let data: Vec<u8> = (0..100u32).map(|i| (i * 97 + 13) as u8).collect();
    for n in 0..data.len() {
        let mut out = b"prefix".to_vec();
        encode_into(&mut out, &data[..n]);
        let expected = ::base64::engine::general_purpose::STANDARD.encode(&data[..n]);
        assert_eq!(&out[6..], expected.as_bytes(), "length {n}");
    }
}
