//! Content-type sniffing as Go's `net/http.DetectContentType` does it.
//!
//! Nomad's `fs/cat`, `fs/readat` and `fs/stream` responses carry whatever Content-Type
//! Go's `http.ResponseWriter` sniffs from the first bytes written, so the same WHATWG
//! table, in Go's order and with Go's deviations (RAR signatures, no MP3-without-ID3
//! sniffing), is reproduced here.

/// How many leading bytes the algorithm looks at.
const SNIFF_LEN: usize = 512;

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const BINARY: &str = "application/octet-stream";

/// One row of Go's signature table.
enum Sig {
    /// Case-insensitive tag after leading whitespace, then a space or `>`.
    Html(&'static [u8]),
    /// `data[i] & mask[i] == pat[i]` for every `i`, optionally after leading whitespace.
    Masked {
        mask: &'static [u8],
        pat: &'static [u8],
        skip_ws: bool,
        ct: &'static str,
    },
    /// A plain byte prefix, with no whitespace skipping.
    Exact(&'static [u8], &'static str),
    /// The ISO-BMFF `ftyp` box naming an `mp4` brand.
    Mp4,
}

const fn exact(sig: &'static [u8], ct: &'static str) -> Sig {
    Sig::Exact(sig, ct)
}

const fn masked(mask: &'static [u8], pat: &'static [u8], ct: &'static str) -> Sig {
    Sig::Masked {
        mask,
        pat,
        skip_ws: false,
        ct,
    }
}

/// Go's table, in Go's order; the first match wins and the text check comes last.
const SIGNATURES: &[Sig] = &[
    Sig::Html(b"<!DOCTYPE HTML"),
    Sig::Html(b"<HTML"),
    Sig::Html(b"<HEAD"),
    Sig::Html(b"<SCRIPT"),
    Sig::Html(b"<IFRAME"),
    Sig::Html(b"<H1"),
    Sig::Html(b"<DIV"),
    Sig::Html(b"<FONT"),
    Sig::Html(b"<TABLE"),
    Sig::Html(b"<A"),
    Sig::Html(b"<STYLE"),
    Sig::Html(b"<TITLE"),
    Sig::Html(b"<B"),
    Sig::Html(b"<BODY"),
    Sig::Html(b"<BR"),
    Sig::Html(b"<P"),
    Sig::Html(b"<!--"),
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\xFF",
        pat: b"<?xml",
        skip_ws: true,
        ct: "text/xml; charset=utf-8",
    },
    exact(b"%PDF-", "application/pdf"),
    exact(b"%!PS-Adobe-", "application/postscript"),
    // Byte order marks; the masks need four bytes even though only 2-3 are compared.
    masked(
        b"\xFF\xFF\x00\x00",
        b"\xFE\xFF\x00\x00",
        "text/plain; charset=utf-16be",
    ),
    masked(
        b"\xFF\xFF\x00\x00",
        b"\xFF\xFE\x00\x00",
        "text/plain; charset=utf-16le",
    ),
    masked(
        b"\xFF\xFF\xFF\x00",
        b"\xEF\xBB\xBF\x00",
        "text/plain; charset=utf-8",
    ),
    // Images.
    exact(b"\x00\x00\x01\x00", "image/x-icon"),
    exact(b"\x00\x00\x02\x00", "image/x-icon"),
    exact(b"BM", "image/bmp"),
    exact(b"GIF87a", "image/gif"),
    exact(b"GIF89a", "image/gif"),
    masked(
        b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF\xFF\xFF",
        b"RIFF\x00\x00\x00\x00WEBPVP",
        "image/webp",
    ),
    exact(b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
    exact(b"\xFF\xD8\xFF", "image/jpeg"),
    // Audio and video, in the spec's matching order.
    masked(b"\xFF\xFF\xFF\xFF", b".snd", "audio/basic"),
    masked(
        b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF",
        b"FORM\x00\x00\x00\x00AIFF",
        "audio/aiff",
    ),
    masked(b"\xFF\xFF\xFF", b"ID3", "audio/mpeg"),
    masked(b"\xFF\xFF\xFF\xFF\xFF", b"OggS\x00", "application/ogg"),
    masked(
        b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
        b"MThd\x00\x00\x00\x06",
        "audio/midi",
    ),
    masked(
        b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF",
        b"RIFF\x00\x00\x00\x00AVI ",
        "video/avi",
    ),
    masked(
        b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF",
        b"RIFF\x00\x00\x00\x00WAVE",
        "audio/wave",
    ),
    Sig::Mp4,
    exact(b"\x1A\x45\xDF\xA3", "video/webm"),
    // Fonts. Embedded OpenType only pins bytes 34-35 ("LP") of a 36-byte window.
    masked(&EOT_MASK, &EOT_PAT, "application/vnd.ms-fontobject"),
    exact(b"\x00\x01\x00\x00", "font/ttf"),
    exact(b"OTTO", "font/otf"),
    exact(b"ttcf", "font/collection"),
    exact(b"wOFF", "font/woff"),
    exact(b"wOF2", "font/woff2"),
    // Archives. RAR follows RAR Labs' signatures rather than the spec's erroneous ones.
    exact(b"\x1F\x8B\x08", "application/x-gzip"),
    exact(b"PK\x03\x04", "application/zip"),
    exact(b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
    exact(b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
    exact(b"\x00asm", "application/wasm"),
];

const EOT_MASK: [u8; 36] = {
    let mut m = [0u8; 36];
    m[34] = 0xFF;
    m[35] = 0xFF;
    m
};

const EOT_PAT: [u8; 36] = {
    let mut p = [0u8; 36];
    p[34] = b'L';
    p[35] = b'P';
    p
};

/// Returns the MIME type Go's `http.DetectContentType` gives `data`.
pub fn detect_content_type(data: &[u8]) -> &'static str {
    let data = data.get(..SNIFF_LEN).unwrap_or(data);
    let first_non_ws = data.iter().position(|&b| !is_ws(b)).unwrap_or(data.len());
    let trimmed = data.get(first_non_ws..).unwrap_or_default();
    for sig in SIGNATURES {
        if let Some(ct) = sig.matches(data, trimmed) {
            return ct;
        }
    }
    if trimmed.iter().any(|&b| is_binary(b)) {
        BINARY
    } else {
        TEXT
    }
}

impl Sig {
    fn matches(&self, data: &[u8], trimmed: &[u8]) -> Option<&'static str> {
        match *self {
            Sig::Html(tag) => html_match(tag, trimmed).then_some(HTML),
            Sig::Masked {
                mask,
                pat,
                skip_ws,
                ct,
            } => {
                let data = if skip_ws { trimmed } else { data };
                masked_match(mask, pat, data).then_some(ct)
            }
            Sig::Exact(sig, ct) => data.starts_with(sig).then_some(ct),
            Sig::Mp4 => mp4_match(data).then_some("video/mp4"),
        }
    }
}

fn html_match(tag: &[u8], data: &[u8]) -> bool {
    let Some(head) = data.get(..tag.len()) else {
        return false;
    };
    let letters_match = tag.iter().zip(head).all(|(&t, &d)| {
        // Only the pattern's letters are case-folded; `!`, `-` and digits must match as is.
        let d = if t.is_ascii_uppercase() { d & 0xDF } else { d };
        t == d
    });
    letters_match && matches!(data.get(tag.len()), Some(b' ' | b'>'))
}

fn masked_match(mask: &[u8], pat: &[u8], data: &[u8]) -> bool {
    mask.len() == pat.len()
        && data.len() >= pat.len()
        && mask
            .iter()
            .zip(pat)
            .zip(data)
            .all(|((&m, &p), &d)| d & m == p)
}

fn mp4_match(data: &[u8]) -> bool {
    let Some(&[a, b, c, d]) = data.get(..4) else {
        return false;
    };
    if data.len() < 12 {
        return false;
    }
    let box_size = u32::from_be_bytes([a, b, c, d]) as usize;
    if data.len() < box_size || !box_size.is_multiple_of(4) {
        return false;
    }
    if data.get(4..8) != Some(b"ftyp") {
        return false;
    }
    // Brands start at offset 8; offset 12 holds the minor version, not a brand.
    (8..box_size)
        .step_by(4)
        .filter(|&st| st != 12)
        .any(|st| data.get(st..st + 3) == Some(b"mp4"))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn is_binary(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F)
}

#[cfg(test)]
mod tests {
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
}
