use super::*;
use crate::agent::config::FileConfig;

fn parse(text: &str) -> Result<FileConfig> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("agent.hcl");
    std::fs::write(&path, text)?;
    Ok(FileConfig::load(&path)?.config)
}

#[test]
fn kestrels_rate_by_default_and_configurable() {
    let default = FileConfig::default().limits.min_body_rate().unwrap();
    assert_eq!(
        default,
        Some(MinDataRate {
            bytes_per_second: 240,
            grace: Duration::from_secs(5)
        })
    );
    let config = parse(
        "limits {\n http_min_body_data_rate = 1000\n http_min_body_data_rate_grace = \"250ms\"\n}",
    )
    .unwrap();
    assert_eq!(
        config.limits.min_body_rate().unwrap(),
        Some(MinDataRate {
            bytes_per_second: 1000,
            grace: Duration::from_millis(250)
        })
    );
    let off = parse("limits {\n http_min_body_data_rate = 0\n}").unwrap();
    assert_eq!(off.limits.min_body_rate().unwrap(), None);
}

#[test]
fn a_bad_grace_or_rate_is_an_error() {
    let bad = parse("limits {\n http_min_body_data_rate_grace = \"soon\"\n}").unwrap();
    let err = bad.check().unwrap_err().to_string();
    assert!(
        err.contains("limits.http_min_body_data_rate_grace"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        parse("limits {\n http_min_body_data_rate = \"fast\"\n}").unwrap_err()
    );
    assert!(err.contains("http_min_body_data_rate"), "{err}");
}
