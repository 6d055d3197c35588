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
mod tests;
