use super::*;

#[test]
fn reserved_blocks_are_neither_used_nor_available() {
    // 1,000 blocks of 4 KiB: 770 free, of which 50 reserved for root (720 available).
    let usage = DiskUsage::from_statvfs(&Statvfs {
        block_size: 4096,
        blocks: 1000,
        blocks_free: 770,
        blocks_available: 720,
        files: 200,
        files_free: 150,
    });
    assert_eq!(usage.size, 4_096_000);
    assert_eq!(usage.used, 230 * 4096);
    assert_eq!(usage.available, 720 * 4096);
    // 230 / (230 + 720), as gopsutil and `df`; not 230 / 1000 nor (1000 - 720) / 1000.
    assert!((usage.used_percent - 230.0 / 950.0 * 100.0).abs() < 1e-9);
    assert!((usage.inodes_used_percent - 25.0).abs() < 1e-9);
}

#[test]
fn empty_or_inode_less_filesystems_report_zero() {
    let empty = Statvfs {
        block_size: 4096,
        blocks: 0,
        blocks_free: 0,
        blocks_available: 0,
        files: 0,
        files_free: 0,
    };
    assert_eq!(DiskUsage::from_statvfs(&empty), DiskUsage::default());
    let odd = Statvfs {
        files: 1,
        files_free: 5,
        ..empty
    };
    assert_eq!(DiskUsage::from_statvfs(&odd).inodes_used_percent, 0.0);
    assert_eq!(DiskUsage::of(Path::new("/nonexistent/x")), None);
    let here = DiskUsage::of(Path::new(".")).unwrap();
    assert!(here.size > 0 && here.used <= here.size);
    assert!((0.0..=100.0).contains(&here.used_percent));
}
