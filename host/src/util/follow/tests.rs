use super::*;
use crate::util::testing::PATIENCE;
use futures_util::FutureExt;
use std::io::Write;

fn append(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// Wait until every event caused before this call has been handed out. The one watcher
/// delivers events in order, so once a fresh entry of `dir` wakes its own subscriber,
/// every earlier event has been through [`wake`]. The entry is a directory: creating
/// one is a single event, so none is left in flight after it.
async fn settle(follower: &Arc<Follower>, dir: &Path, round: u32) {
    let fence = dir.join(format!("fence{round}"));
    let waker = Arc::new(Notify::new());
    let _sub = follower.subscribe(&fence, false, waker.clone()).unwrap();
    std::fs::create_dir(&fence).unwrap();
    tokio::time::timeout(PATIENCE, waker.notified())
        .await
        .expect("a fence entry wakes its subscriber");
}

#[tokio::test]
async fn appends_wake_and_dropping_unsubscribes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.0");
    std::fs::write(&file, "a").unwrap();
    let follower = Follower::new().unwrap();
    let waker = Arc::new(Notify::new());
    let sub = follower.subscribe(&file, false, waker.clone()).unwrap();
    std::fs::write(dir.path().join("other"), "x").unwrap();
    append(&file, b"b");
    tokio::time::timeout(PATIENCE, waker.notified())
        .await
        .expect("an append wakes the stream");
    assert_eq!(follower.subscriptions(), 1);
    // The append's later events (its close) may have left a wake-up behind; use it up.
    settle(&follower, dir.path(), 1).await;
    let _ = waker.notified().now_or_never();
    // Reading the file (as the stream does on every pull) is not a change.
    std::fs::read(&file).unwrap();
    settle(&follower, dir.path(), 2).await;
    assert!(
        waker.notified().now_or_never().is_none(),
        "a read woke the stream"
    );
    assert_eq!(follower.subscriptions(), 1, "the fences unsubscribed");
    // Nothing is in flight here (see `settle`): dropping the last subscription of a
    // directory while an event is being handed out deadlocks today (`unsubscribe`
    // holds the state lock while `unwatch` waits for the event thread, which waits
    // for that lock).
    drop(sub);
    assert_eq!(follower.subscriptions(), 0);
    assert!(follower.watching.lock().unwrap().dirs.is_empty());
}
