use super::*;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::StreamBody;
use hyper::body::Frame;

const TIMEOUT: Duration = Duration::from_secs(30);

type Chunk = Result<Frame<Bytes>, std::convert::Infallible>;

fn chunks(sizes: &[usize]) -> Vec<Chunk> {
    sizes
        .iter()
        .map(|&n| Ok(Frame::data(Bytes::from(vec![b'x'; n]))))
        .collect()
}

/// A body that sends these chunks, then nothing more, never ending.
fn stalled(sizes: &[usize]) -> StreamBody<impl futures_util::Stream<Item = Chunk> + Unpin> {
    StreamBody::new(stream::iter(chunks(sizes)).chain(stream::pending()))
}

/// A short grace, so that the tests do not wait 5 s; the outcomes, not the times, are
/// what is checked.
const RATE: MinDataRate = MinDataRate {
    bytes_per_second: 240,
    grace: Duration::from_millis(50),
};

#[tokio::test]
async fn a_whole_body_is_read() {
    let body = StreamBody::new(stream::iter(chunks(&[100; 100])));
    let read = read_body(body, 1 << 20, TIMEOUT, Some(RATE)).await;
    assert_eq!(read.map(|b| b.len()), Ok(10_000));
}

#[tokio::test]
async fn a_stalled_body_is_cut_for_its_rate_before_the_timeout() {
    let read = read_body(stalled(&[1]), 1 << 20, TIMEOUT, Some(RATE)).await;
    assert_eq!(read, Err(BodyError::TooSlow));
}

#[tokio::test]
async fn without_a_rate_only_the_timeout_holds() {
    let timeout = Duration::from_millis(50);
    let read = read_body(stalled(&[1]), 1 << 20, timeout, None).await;
    assert_eq!(read, Err(BodyError::TimedOut));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let read = read_body(stalled(&[600, 600]), 1000, TIMEOUT, Some(RATE)).await;
    assert_eq!(read, Err(BodyError::TooLarge));
}

#[test]
fn bytes_received_earn_time_at_the_rate_after_the_grace() {
    let rate = MinDataRate::DEFAULT;
    assert_eq!(rate.allowance(0), Duration::from_secs(5), "the grace");
    assert_eq!(rate.allowance(240), Duration::from_secs(5));
    assert_eq!(rate.allowance(2400), Duration::from_secs(10));
}

#[test]
fn the_per_client_cap_is_at_most_an_eighth_of_the_descriptors() {
    assert_eq!(conns_per_client(100, 65_536), 100);
    assert_eq!(conns_per_client(100, 256), 32);
    assert_eq!(conns_per_client(100, 4), 1);
    assert_eq!(conns_per_client(0, 256), 0, "no cap stays no cap");
    assert_eq!(conns_per_client(100, u64::MAX), 100);
}

#[tokio::test]
async fn accepted_connections_do_not_wait_for_delayed_acks() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut acceptor = Acceptor::new(listener);
    let _client = TcpStream::connect(addr).await.unwrap();
    let (stream, _) = acceptor.accept().await;
    assert!(stream.nodelay().unwrap(), "Nagle's algorithm is still on");
}
