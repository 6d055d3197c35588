use super::*;

#[test]
fn frames_round_trip() {
    assert_eq!(
        data_frame(Output::Stdout, b"hi\n"),
        r#"{"stdout":{"data":"aGkK"}}"#
    );
    assert_eq!(close_frame(Output::Stderr), r#"{"stderr":{"close":true}}"#);
    assert_eq!(
        exited_frame(3),
        r#"{"exited":true,"result":{"exit_code":3}}"#
    );
    assert_eq!(
        decode_input(br#"{"stdin":{"data":"aGkK"}}"#),
        Ok(Input::Stdin(b"hi\n".to_vec()))
    );
    assert_eq!(
        decode_input(br#"{"stdin":{"close":true}}"#),
        Ok(Input::StdinClose)
    );
    assert_eq!(
        decode_input(br#"{"tty_size":{"height":24,"width":80}}"#),
        Ok(Input::TtySize {
            height: 24,
            width: 80
        })
    );
    assert_eq!(decode_input(b"{}"), Ok(Input::Other));
    assert!(decode_input(b"[").is_err());
}

#[test]
fn command_is_a_json_array_of_strings() {
    assert_eq!(
        parse_command(r#"["/bin/sh","-c","echo hi"]"#).unwrap(),
        ["/bin/sh", "-c", "echo hi"]
    );
    assert_eq!(parse_command("null").unwrap(), Vec::<String>::new());
    assert_eq!(parse_command("[]").unwrap(), Vec::<String>::new());
    assert_eq!(
        parse_command("").unwrap_err().message,
        "failed to marshal command into json: unexpected end of JSON input"
    );
    assert!(parse_command("[1]").is_err());
    assert!(parse_command("\"sh\"").is_err());
}
