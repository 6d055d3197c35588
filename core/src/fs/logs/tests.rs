use super::*;

fn files(sizes: &[u64]) -> Vec<LogFile> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| LogFile {
            index: i as u64,
            size,
        })
        .collect()
}

#[test]
fn find_closest_matches_nomad() {
    let ten = files(&[100; 10]);
    // origin=end, offset=150 → 50 bytes into the second-to-last file.
    assert_eq!(find_closest(&ten, u64::MAX, -150), Some((8, 50)));
    // origin=end, offset=0 → the whole newest file (Nomad's quirk).
    assert_eq!(find_closest(&ten, u64::MAX, 0), Some((9, 0)));
    // origin=end with a negative offset counts from the start of the last file.
    assert_eq!(find_closest(&ten, u64::MAX, 30), Some((9, 30)));
    assert_eq!(find_closest(&ten, u64::MAX, 500), Some((9, 100)));
    // origin=start walks forward; past the end clamps to the end of the last file.
    assert_eq!(find_closest(&ten, 0, 250), Some((2, 50)));
    assert_eq!(find_closest(&ten, 0, 5_000), Some((9, 100)));
    // origin=start with a negative offset counts back from the end of the first file.
    assert_eq!(find_closest(&ten, 0, -30), Some((0, 70)));
    assert_eq!(find_closest(&ten, 0, -300), Some((0, 0)));
    // Gaps: the first index at or after the desired one.
    let gappy = [
        LogFile { index: 2, size: 10 },
        LogFile {
            index: 13,
            size: 10,
        },
    ];
    assert_eq!(find_closest(&gappy, 3, 0), Some((13, 0)));
    assert_eq!(find_closest(&[], 0, 0), None);
}
