use super::*;

fn ct(data: &[u8]) -> &'static str {
    detect_content_type(data)
}

#[test]
fn empty_and_plain_text() {
    assert_eq!(ct(b""), "text/plain; charset=utf-8");
    assert_eq!(ct(b"hello world\n"), "text/plain; charset=utf-8");
    assert_eq!(
        ct("This is not HTML. It has ☃ though.".as_bytes()),
        "text/plain; charset=utf-8"
    );
    assert_eq!(ct(b"   \t\r\n\x0c"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"esc \x1b[0m ok"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"\x7f\x80\xff"), "text/plain; charset=utf-8");
}

#[test]
fn binary_bytes() {
    assert_eq!(ct(&[1, 2, 3]), "application/octet-stream");
    assert_eq!(ct(b"text\x00more"), "application/octet-stream");
    assert_eq!(ct(b"a\x0bb"), "application/octet-stream");
    assert_eq!(ct(b"a\x1fb"), "application/octet-stream");
    assert_eq!(ct(b"a\x0eb"), "application/octet-stream");
}

#[test]
fn only_first_512_bytes_count() {
    let mut data = vec![b'a'; 512];
    data.push(0);
    assert_eq!(ct(&data), "text/plain; charset=utf-8");
    data.truncate(511);
    data.push(0);
    assert_eq!(ct(&data), "application/octet-stream");
}

#[test]
fn html_signatures() {
    assert_eq!(
        ct(b"<HtMl><bOdY>blah blah blah</body></html>"),
        "text/html; charset=utf-8"
    );
    assert_eq!(ct(b"<HTML></HTML>"), "text/html; charset=utf-8");
    assert_eq!(ct(b"   <!DOCTYPE HTML>..."), "text/html; charset=utf-8");
    assert_eq!(ct(b"\r\n<html>..."), "text/html; charset=utf-8");
    assert_eq!(ct(b"<!doctype html>"), "text/html; charset=utf-8");
    assert_eq!(ct(b"<!-- c -->"), "text/html; charset=utf-8");
    assert_eq!(ct(b"<a href=x>"), "text/html; charset=utf-8");
    assert_eq!(ct(b"<p>"), "text/html; charset=utf-8");
    assert_eq!(ct(b"<h1>t</h1>"), "text/html; charset=utf-8");
    assert_eq!(ct(b"<br >"), "text/html; charset=utf-8");
    assert_eq!(ct(b"<script src=a>"), "text/html; charset=utf-8");
    assert_eq!(ct(b"\x0c<TABLE>"), "text/html; charset=utf-8");
}

#[test]
fn html_needs_terminator() {
    assert_eq!(ct(b"<html"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"<htmlx>"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"<html\n>"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"<bx"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"<!---->"), "text/plain; charset=utf-8");
    // Non-letters in a tag compare exactly: `<hq>` is not `<H1>`.
    assert_eq!(ct(b"<hq>"), "text/plain; charset=utf-8");
}

#[test]
fn xml_after_whitespace() {
    assert_eq!(ct(b"\n<?xml!"), "text/xml; charset=utf-8");
    assert_eq!(ct(b"<?xml version=\"1.0\"?>"), "text/xml; charset=utf-8");
    assert_eq!(ct(b"<?XML"), "text/plain; charset=utf-8");
}

#[test]
fn documents() {
    assert_eq!(ct(b"%PDF-1.7\n"), "application/pdf");
    assert_eq!(ct(b"%!PS-Adobe-3.0"), "application/postscript");
    // Exact signatures do not skip whitespace.
    assert_eq!(ct(b" %PDF-1.7"), "text/plain; charset=utf-8");
}

#[test]
fn byte_order_marks() {
    assert_eq!(ct(b"\xFE\xFF\x00\x41"), "text/plain; charset=utf-16be");
    assert_eq!(ct(b"\xFF\xFE\x41\x00"), "text/plain; charset=utf-16le");
    assert_eq!(ct(b"\xEF\xBB\xBFhi"), "text/plain; charset=utf-8");
    // The masks span four bytes, so a bare BOM is too short to match.
    assert_eq!(ct(b"\xFE\xFF"), "text/plain; charset=utf-8");
    assert_eq!(ct(b"\xFF\xFE\x00"), "application/octet-stream");
}

#[test]
fn images() {
    assert_eq!(ct(b"\x00\x00\x01\x00"), "image/x-icon");
    assert_eq!(ct(b"\x00\x00\x02\x00"), "image/x-icon");
    assert_eq!(ct(b"BM..."), "image/bmp");
    assert_eq!(ct(b"GIF87a"), "image/gif");
    assert_eq!(ct(b"GIF89a..."), "image/gif");
    assert_eq!(ct(b"RIFF\x00\x00\x00\x00WEBPVP"), "image/webp");
    assert_eq!(ct(b"RIFF\x10\x20\x30\x40WEBPVP8 "), "image/webp");
    assert_eq!(ct(b"\x89PNG\x0D\x0A\x1A\x0A"), "image/png");
    assert_eq!(ct(b"\xFF\xD8\xFF\xE0"), "image/jpeg");
}

#[test]
fn audio_and_video() {
    assert_eq!(ct(b".snd\x00\x00\x00\x18"), "audio/basic");
    assert_eq!(
        ct(b"FORM\x00\x00\x00\x00AIFFCOMM\x00\x00\x00\x12\x00\x01"),
        "audio/aiff"
    );
    assert_eq!(ct(b"ID3\x03\x00\x00\x00\x00\x0f"), "audio/mpeg");
    assert_eq!(ct(b"OggS\x00\x02\x00\x00"), "application/ogg");
    assert_eq!(ct(b"owow\x00"), "application/octet-stream");
    assert_eq!(ct(b"oggS\x00"), "application/octet-stream");
    assert_eq!(ct(b"MThd\x00\x00\x00\x06\x00\x01"), "audio/midi");
    assert_eq!(ct(b"RIFF,O\n\x00AVI LIST"), "video/avi");
    assert_eq!(ct(b"RIFFb\xb8\x00\x00WAVEfmt \x12"), "audio/wave");
    assert_eq!(ct(b"\x1A\x45\xDF\xA3\x01"), "video/webm");
}

#[test]
fn mp4_box() {
    assert_eq!(
        ct(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom<\x06t\xbfmdat"),
        "video/mp4"
    );
    // Major brand at offset 8.
    assert_eq!(ct(b"\x00\x00\x00\x0cftypmp41"), "video/mp4");
    // A brand only at offset 12 (the minor version) does not count.
    assert_eq!(
        ct(b"\x00\x00\x00\x10ftypisommp41"),
        "application/octet-stream"
    );
    // Box larger than the data, or not a multiple of four.
    assert_eq!(
        ct(b"\x00\x00\x00\x20ftypmp42\x00\x00\x00\x00"),
        "application/octet-stream"
    );
    assert_eq!(
        ct(b"\x00\x00\x00\x0dftypmp42\x00\x00\x00\x00"),
        "application/octet-stream"
    );
    // Fewer than 12 bytes never match.
    assert_eq!(ct(b"\x00\x00\x00\x08ftyp"), "application/octet-stream");
    // A huge declared size is rejected without reading past the data.
    assert_eq!(
        ct(b"\xff\xff\xff\xfcftypmp42\x00\x00\x00\x00"),
        "application/octet-stream"
    );
}

#[test]
fn fonts() {
    let mut eot = vec![0x55u8; 34];
    eot.extend_from_slice(b"LP\x01");
    assert_eq!(ct(&eot), "application/vnd.ms-fontobject");
    let mut short = vec![0x55u8; 34];
    short.push(b'L');
    assert_eq!(ct(&short), "text/plain; charset=utf-8");
    assert_eq!(ct(b"\x00\x01\x00\x00\x00\x17\x01\x00"), "font/ttf");
    assert_eq!(ct(b"OTTO\x00\x0e\x00\x80"), "font/otf");
    assert_eq!(ct(b"ttcf\x00\x01\x00\x00"), "font/collection");
    assert_eq!(ct(b"wOFF\x00\x01\x00\x00"), "font/woff");
    assert_eq!(ct(b"wOF2\x00\x01\x00\x00"), "font/woff2");
}

#[test]
fn archives() {
    assert_eq!(ct(b"\x1F\x8B\x08\x00"), "application/x-gzip");
    assert_eq!(ct(b"PK\x03\x04\x14\x00"), "application/zip");
    assert_eq!(ct(b"Rar!\x1A\x07\x00"), "application/x-rar-compressed");
    assert_eq!(ct(b"Rar!\x1A\x07\x01\x00"), "application/x-rar-compressed");
    assert_eq!(ct(b"Rar \x1A\x07\x00"), "application/octet-stream");
    assert_eq!(ct(b"\x00asm\x01\x00\x00\x00"), "application/wasm");
}

#[test]
fn table_order_wins() {
    // An icon header with "LP" at 34 is still an icon: images come before fonts.
    let mut data = b"\x00\x00\x01\x00".to_vec();
    data.resize(34, 0);
    data.extend_from_slice(b"LP");
    assert_eq!(ct(&data), "image/x-icon");
    // HTML wins over a later binary byte.
    assert_eq!(ct(b"<html>\x00\x01"), "text/html; charset=utf-8");
}
