use super::*;

fn data(frames: &[Frame]) -> String {
    frames
        .iter()
        .map(|f| String::from_utf8(f.bytes().unwrap()).unwrap())
        .collect()
}

#[test]
fn concatenated_frames_and_heartbeats() {
    let mut decoder = Decoder::new();
    let frames = decoder
            .push(br#"{"Data":"aGVsbG8K","File":"alloc/logs/web.stdout.0","Offset":6}{}{}{"Data":"d29ybGQK","File":"alloc/logs/web.stdout.0","Offset":12}"#)
            .unwrap();
    assert_eq!(frames.len(), 4);
    assert!(!frames[0].is_heartbeat());
    assert!(frames[1].is_heartbeat() && frames[2].is_heartbeat());
    assert_eq!(frames[3].offset, Some(12));
    assert_eq!(data(&frames), "hello\nworld\n");
    decoder.finish().unwrap();
}

#[test]
fn a_frame_split_across_chunks_waits_for_its_end() {
    let wire = br#"{"Data":"aGVsbG8K","File":"f","Offset":6}{}"#;
    for cut in 0..wire.len() {
        let mut decoder = Decoder::new();
        let mut frames = decoder.push(&wire[..cut]).unwrap();
        frames.extend(decoder.push(&wire[cut..]).unwrap());
        assert_eq!(frames.len(), 2, "cut at {cut}");
        assert_eq!(data(&frames), "hello\n");
        decoder.finish().unwrap();
    }
    // Byte by byte, as a slow connection might deliver it.
    let mut decoder = Decoder::new();
    let frames: Vec<Frame> = wire
        .iter()
        .flat_map(|b| decoder.push(&[*b]).unwrap())
        .collect();
    assert_eq!(frames.len(), 2);
}

#[test]
fn whitespace_between_frames_is_fine() {
    let mut decoder = Decoder::new();
    let frames = decoder.push(b"{}\n {\"Offset\":3}\r\n").unwrap();
    assert_eq!(frames.len(), 2);
    assert!(!frames[1].is_heartbeat());
    decoder.finish().unwrap();
}

#[test]
fn file_events_are_kept() {
    let mut decoder = Decoder::new();
    let frames = decoder
        .push(br#"{"File":"x","FileEvent":"file deleted","Offset":9}"#)
        .unwrap();
    assert_eq!(frames[0].file_event.as_deref(), Some("file deleted"));
    assert!(frames[0].bytes().unwrap().is_empty());
}

#[test]
fn error_text_appended_mid_stream_is_reported() {
    let mut decoder = Decoder::new();
    let err = decoder
        .push(br#"{"Data":"aGk=","Offset":2}failed to stream "x": boom"#)
        .unwrap_err();
    assert!(err.to_string().contains("failed to stream"), "{err}");
    // A truncated frame at the end of the body is an error too.
    let mut decoder = Decoder::new();
    assert!(decoder.push(br#"{"Data":"aG"#).unwrap().is_empty());
    assert!(decoder.finish().is_err());
}

#[test]
fn bad_base64_is_an_error() {
    let frame = Frame {
        data: Some("***".into()),
        ..Frame::default()
    };
    assert!(frame.bytes().is_err());
}
