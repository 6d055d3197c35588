//! Standard base64 (with padding) appended to a buffer: the bulk of every stream frame.
//!
//! Built for wasm with `simd128` (as `host/build.rs` builds the core), 12 input bytes become
//! 16 characters per step in 128-bit registers; elsewhere, and for the last few bytes, the
//! `base64` crate's scalar encoder does the work. Both give the same bytes (tests below and
//! the shared vectors, which run the component).

use ::base64::Engine as _;

/// Append the standard base64 encoding of `data` (padded) to `out`.
pub fn encode_into(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    let len = ::base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let dst = &mut out[start..];
    let (read, written) = simd_prefix(data, dst);
    let rest = ::base64::engine::general_purpose::STANDARD
        .encode_slice(&data[read..], &mut dst[written..])
        .unwrap_or(0);
    out.truncate(start + written + rest);
}

/// Encode whole 12-byte groups while 16 bytes can be loaded; returns (bytes read, written).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn simd_prefix(data: &[u8], dst: &mut [u8]) -> (usize, usize) {
    use core::arch::wasm32::*;

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let table = |i: usize| {
        // SAFETY: 16 readable bytes of the alphabet (i is 0, 16, 32 or 48).
        unsafe { v128_load(ALPHABET[i..].as_ptr().cast()) }
    };
    let (t0, t1, t2, t3) = (table(0), table(16), table(32), table(48));
    // Per 32-bit lane, the group's bytes b0 b1 b2 as [b1, b0, b2, b1] (little endian).
    let spread = i8x16(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    let (mut read, mut written) = (0, 0);
    while read + 16 <= data.len() && written + 16 <= dst.len() {
        // SAFETY: 16 bytes from `read` are in `data`, 16 from `written` in `dst` (checked
        // above); wasm loads and stores need no alignment.
        unsafe {
            let input = v128_load(data.as_ptr().add(read).cast());
            let v = i8x16_swizzle(input, spread);
            // The four 6-bit indices of each group, one per byte, in output order.
            let indices = v128_or(
                v128_or(
                    v128_and(u32x4_shr(v, 10), u32x4_splat(0x0000_003f)),
                    v128_and(u32x4_shl(v, 4), u32x4_splat(0x0000_3f00)),
                ),
                v128_or(
                    v128_and(u32x4_shr(v, 6), u32x4_splat(0x003f_0000)),
                    v128_and(u32x4_shl(v, 8), u32x4_splat(0x3f00_0000)),
                ),
            );
            // A swizzle reads 16 entries and yields 0 for any index past them, so the four
            // quarters of the alphabet are looked up with the index shifted into range.
            let sixteen = u8x16_splat(16);
            let i1 = u8x16_sub(indices, sixteen);
            let i2 = u8x16_sub(i1, sixteen);
            let i3 = u8x16_sub(i2, sixteen);
            let chars = v128_or(
                v128_or(i8x16_swizzle(t0, indices), i8x16_swizzle(t1, i1)),
                v128_or(i8x16_swizzle(t2, i2), i8x16_swizzle(t3, i3)),
            );
            v128_store(dst.as_mut_ptr().add(written).cast(), chars);
        }
        read += 12;
        written += 16;
    }
    (read, written)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn simd_prefix(_data: &[u8], _dst: &mut [u8]) -> (usize, usize) {
    (0, 0)
}

#[cfg(test)]
mod tests;
