use super::*;

#[test]
fn the_cache_stays_bounded_dropping_stale_then_oldest_answers() {
    let mut cache = HashMap::new();
    let at = |ago: u64| Entry {
        outcome: Outcome::NotFound,
        fetched: Instant::now() - Duration::from_secs(ago),
    };
    let ttl = Duration::from_secs(30);
    insert_bounded(&mut cache, "stale".into(), at(60), ttl, 3);
    insert_bounded(&mut cache, "old".into(), at(20), ttl, 3);
    insert_bounded(&mut cache, "new".into(), at(10), ttl, 3);
    insert_bounded(&mut cache, "a".into(), at(0), ttl, 3);
    let mut keys: Vec<&str> = cache.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["a", "new", "old"], "the stale answer went first");
    insert_bounded(&mut cache, "b".into(), at(0), ttl, 3);
    let mut keys: Vec<&str> = cache.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "new"], "then the oldest");
    insert_bounded(&mut cache, "a".into(), at(0), ttl, 3);
    assert_eq!(cache.len(), 3, "replacing an answer evicts nothing");
}
