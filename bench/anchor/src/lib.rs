//! The anchor for caravan's per-request design: the smallest honest `wasi:http` handler, served by
//! `wasmtime serve` (a fresh instance per request, like caravan's core). It answers every request
//! with the bytes caravan's `GET /v1/client/metadata` answered, embedded at build time, so the
//! two servers send the same body and the difference is the host around the instance.
//!
//! `no_std`: Rust's std on wasm32-wasip2 imports `wasi:cli/environment`, which is outside the
//! `wasi:http/proxy` world that `wasmtime serve` provides by default; without std the component
//! imports only that world and runs with serve's defaults.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The metadata answer, fetched from a running agent by `scripts/bench anchor`, which sets
/// `ANCHOR_BODY` to the file holding it.
const BODY: &[u8] = include_bytes!(env!(
    "ANCHOR_BODY",
    "ANCHOR_BODY names the file of bytes to answer (scripts/bench anchor sets it)"
));

/// `blocking-write-and-flush` takes at most this many bytes per call (wasi:io/streams).
const MAX_WRITE: usize = 4096;

struct Anchor;

impl Guest for Anchor {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        // A length, as caravan sends, so neither side pays for chunked framing.
        let headers = Fields::from_list(&[
            ("content-type".into(), b"application/json".to_vec()),
            ("content-length".into(), BODY.len().to_string().into_bytes()),
        ])
        .expect("the headers are valid");
        let response = OutgoingResponse::new(headers);
        let body = response
            .body()
            .expect("a new response's body is taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("a new body's stream is taken once");
        for chunk in BODY.chunks(MAX_WRITE) {
            stream
                .blocking_write_and_flush(chunk)
                .expect("the client is reading");
        }
        drop(stream);
        OutgoingBody::finish(body, None).expect("the body has its declared length");
    }
}

wasip2::http::proxy::export!(Anchor);

/// Each instance answers one request and is dropped: a bump allocator over a small arena is all
/// the heap it needs (two header lines), and nothing is ever freed.
struct Bump {
    arena: UnsafeCell<[u8; ARENA]>,
    next: UnsafeCell<usize>,
}

const ARENA: usize = 4096;

// SAFETY: a wasip2 instance runs one thread.
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: one thread (above), and `next` is only touched here.
        let next = unsafe { &mut *self.next.get() };
        let start = next.next_multiple_of(layout.align());
        match start.checked_add(layout.size()) {
            Some(end) if end <= ARENA => {
                *next = end;
                // SAFETY: start..end lies inside the arena.
                unsafe { self.arena.get().cast::<u8>().add(start) }
            }
            _ => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static HEAP: Bump = Bump {
    arena: UnsafeCell::new([0; ARENA]),
    next: UnsafeCell::new(0),
};

/// The canonical ABI's allocator, which every component exports (wasi-libc provides it to std
/// builds): the host calls it to hand the guest lists and strings.
#[unsafe(export_name = "cabi_realloc")]
unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    let Ok(layout) = Layout::from_size_align(old_len, align) else {
        return core::ptr::null_mut();
    };
    // SAFETY: the canonical ABI passes a block this allocator returned, with its size and
    // alignment, or null with size 0.
    unsafe {
        if old.is_null() {
            HEAP.alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            HEAP.realloc(old, layout, new_len)
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
