use super::*;

fn pairs(raw: &str) -> Vec<(String, String)> {
    Query::parse(raw).pairs().to_vec()
}

fn p(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn query_basic_pairs_in_order() {
    assert_eq!(
        pairs("a=1&b=2&a=3"),
        vec![p("a", "1"), p("b", "2"), p("a", "3")]
    );
    let q = Query::parse("a=1&b=2&a=3");
    assert_eq!(q.get("a"), Some("1"));
    assert_eq!(q.get("b"), Some("2"));
    assert_eq!(q.get("c"), None);
    assert!(q.has("a"));
    assert!(!q.has("c"));
}

#[test]
fn query_empty_and_missing_values() {
    assert_eq!(pairs(""), vec![]);
    assert_eq!(pairs("&&"), vec![]);
    assert_eq!(
        pairs("a&b=&=c&="),
        vec![p("a", ""), p("b", ""), p("", "c"), p("", "")]
    );
    let q = Query::parse("pretty");
    assert!(q.has("pretty"));
    assert_eq!(q.get("pretty"), Some(""));
}

#[test]
fn query_splits_at_first_equals() {
    assert_eq!(pairs("a=b=c"), vec![p("a", "b=c")]);
}

#[test]
fn query_decodes_plus_and_percent() {
    assert_eq!(
        pairs("path=%2Falloc%2Flogs+x&k%20y=a%2bb"),
        vec![p("path", "/alloc/logs x"), p("k y", "a+b")]
    );
    assert_eq!(pairs("u=%E2%98%83"), vec![p("u", "☃")]);
    assert_eq!(pairs("u=%e2%98%83"), vec![p("u", "☃")]);
}

#[test]
fn query_skips_bad_escapes_and_semicolons() {
    assert_eq!(pairs("a=%zz&b=1"), vec![p("b", "1")]);
    assert_eq!(pairs("a=%4&b=1"), vec![p("b", "1")]);
    assert_eq!(pairs("a=%&b=1"), vec![p("b", "1")]);
    assert_eq!(pairs("%=1&b=1"), vec![p("b", "1")]);
    assert_eq!(pairs("a=1;c=2&b=1"), vec![p("b", "1")]);
    assert_eq!(pairs("a;=1&b=1"), vec![p("b", "1")]);
    assert_eq!(pairs("a=%3B"), vec![p("a", ";")]);
}

#[test]
fn query_non_utf8_is_lossy() {
    assert_eq!(pairs("a=%FF%41"), vec![p("a", "\u{FFFD}A")]);
}

#[test]
fn decode_path_rules() {
    assert_eq!(
        decode_path("/v1/client/fs/ls/abc").as_deref(),
        Some("/v1/client/fs/ls/abc")
    );
    assert_eq!(decode_path("a%20b+c").as_deref(), Some("a b+c"));
    assert_eq!(decode_path("%2F%2f").as_deref(), Some("//"));
    assert_eq!(decode_path("%C3%A9").as_deref(), Some("é"));
    assert_eq!(decode_path("%C3").as_deref(), Some("\u{FFFD}"));
    assert_eq!(decode_path(""), Some(String::new()));
    assert_eq!(decode_path("%"), None);
    assert_eq!(decode_path("%2"), None);
    assert_eq!(decode_path("%g0"), None);
    assert_eq!(decode_path("ok%"), None);
}

#[test]
fn parse_bool_accepts_go_spellings() {
    for s in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(parse_bool(s), Ok(true), "{s}");
    }
    for s in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(parse_bool(s), Ok(false), "{s}");
    }
}

#[test]
fn parse_bool_errors() {
    assert_eq!(
        parse_bool("yes"),
        Err(r#"strconv.ParseBool: parsing "yes": invalid syntax"#.to_string())
    );
    assert_eq!(
        parse_bool(""),
        Err(r#"strconv.ParseBool: parsing "": invalid syntax"#.to_string())
    );
    assert_eq!(
        parse_bool("tRUE"),
        Err(r#"strconv.ParseBool: parsing "tRUE": invalid syntax"#.to_string())
    );
    assert_eq!(
        parse_bool(" true"),
        Err(r#"strconv.ParseBool: parsing " true": invalid syntax"#.to_string())
    );
    assert_eq!(
        parse_bool("a\"b\n"),
        Err(r#"strconv.ParseBool: parsing "a\"b\n": invalid syntax"#.to_string())
    );
}

#[test]
fn parse_int_valid() {
    assert_eq!(parse_int("0"), Ok(0));
    assert_eq!(parse_int("42"), Ok(42));
    assert_eq!(parse_int("+42"), Ok(42));
    assert_eq!(parse_int("-42"), Ok(-42));
    assert_eq!(parse_int("007"), Ok(7));
    assert_eq!(parse_int("-0"), Ok(0));
    assert_eq!(parse_int("9223372036854775807"), Ok(i64::MAX));
    assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
}

#[test]
fn parse_int_syntax_errors() {
    for s in [
        "", "+", "-", "1_000", " 1", "1 ", "0x10", "1.5", "--1", "+-1", "١",
    ] {
        assert_eq!(
            parse_int(s),
            Err(format!(
                "strconv.ParseInt: parsing {}: invalid syntax",
                go_quote(s)
            )),
            "{s}"
        );
    }
    assert_eq!(
        parse_int("abc"),
        Err(r#"strconv.ParseInt: parsing "abc": invalid syntax"#.to_string())
    );
    assert_eq!(
        parse_int(""),
        Err(r#"strconv.ParseInt: parsing "": invalid syntax"#.to_string())
    );
}

#[test]
fn parse_int_range_errors() {
    assert_eq!(
        parse_int("9223372036854775808"),
        Err(r#"strconv.ParseInt: parsing "9223372036854775808": value out of range"#.to_string())
    );
    assert_eq!(
        parse_int("-9223372036854775809"),
        Err(r#"strconv.ParseInt: parsing "-9223372036854775809": value out of range"#.to_string())
    );
    assert_eq!(
        parse_int("+99999999999999999999999"),
        Err(
            r#"strconv.ParseInt: parsing "+99999999999999999999999": value out of range"#
                .to_string()
        )
    );
    // Go stops at the first overflow, before reaching the stray character.
    assert_eq!(
        parse_int("99999999999999999999x"),
        Err(r#"strconv.ParseInt: parsing "99999999999999999999x": value out of range"#.to_string())
    );
    assert_eq!(
        parse_int("1844674407370955161x"),
        Err(r#"strconv.ParseInt: parsing "1844674407370955161x": invalid syntax"#.to_string())
    );
}

#[test]
fn go_quote_ascii() {
    assert_eq!(go_quote(""), r#""""#);
    assert_eq!(go_quote("abc"), r#""abc""#);
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(go_quote("'"), r#""'""#);
    assert_eq!(
        go_quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"),
        r#""\a\b\f\n\r\t\v""#
    );
    assert_eq!(
        go_quote("\u{0}\u{1}\u{1b}\u{1f}\u{7f}"),
        r#""\x00\x01\x1b\x1f\x7f""#
    );
    assert_eq!(go_quote(" ~"), r#"" ~""#);
}

#[test]
fn go_quote_unicode() {
    assert_eq!(go_quote("héllo ☃ 日本"), "\"héllo ☃ 日本\"");
    assert_eq!(go_quote("𝄞😀"), "\"𝄞😀\"");
    // C1 controls, non-ASCII spaces, format characters and separators are escaped.
    assert_eq!(go_quote("\u{80}\u{9f}"), r#""\u0080\u009f""#);
    assert_eq!(
        go_quote("\u{a0}\u{2003}\u{3000}"),
        r#""\u00a0\u2003\u3000""#
    );
    assert_eq!(
        go_quote("\u{ad}\u{200b}\u{feff}"),
        r#""\u00ad\u200b\ufeff""#
    );
    assert_eq!(go_quote("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
    assert_eq!(go_quote("\u{e000}\u{f0000}"), r#""\ue000\U000f0000""#);
    assert_eq!(go_quote("\u{e0001}"), r#""\U000e0001""#);
}

#[test]
fn go_quote_unassigned_and_unicode_15() {
    // U+0378 is unassigned; U+1FFFF and U+10FFFF are noncharacters.
    assert_eq!(go_quote("\u{378}"), r#""\u0378""#);
    assert_eq!(go_quote("\u{1ffff}\u{10ffff}"), r#""\U0001ffff\U0010ffff""#);
    // Added in Unicode 15.0: Kawi letter and a CJK Extension H ideograph.
    assert_eq!(go_quote("\u{11f04}\u{31350}"), "\"\u{11f04}\u{31350}\"");
    // Still unassigned in 15.0 (assigned in 15.1 / 16.0).
    assert_eq!(go_quote("\u{2ebf0}"), r#""\U0002ebf0""#);
    assert_eq!(go_quote("\u{1cc00}"), r#""\U0001cc00""#);
}

#[test]
fn print_table_is_sorted_pairs() {
    let (ranges, rest) = PRINT_RANGES.as_chunks::<2>();
    assert!(rest.is_empty());
    for w in ranges.windows(2) {
        let [[a_lo, a_hi], [b_lo, b_hi]] = [w[0], w[1]];
        assert!(a_lo <= a_hi && a_hi + 1 < b_lo && b_lo <= b_hi);
    }
}
