//! The component's allocator: an arena inside the module's initial memory first, then
//! `memory.grow`.
//!
//! Why: every request runs in a fresh instance, and Rust's default wasm allocator (dlmalloc)
//! starts empty and takes its first block with `memory.grow`. In wasmtime's pooling
//! allocator each grow makes pages accessible with an `mprotect` (and TLB shootdowns), and
//! the next instance in that slot revokes them with another: two system calls per request,
//! most of the boundary's cost for small requests (docs/performance.md). The arena is
//! zero-initialised data (`.bss`), so it is part of the initial memory, which the slot keeps
//! accessible between instances: a request that fits never grows memory. Streams and big
//! requests still grow as before, with the same limits.

use core::alloc::Layout;
use core::arch::wasm32::memory_grow;
use core::ptr::addr_of_mut;

use talc::{OomHandler, Span, Talc, Talck, locking::AssumeUnlockable};

/// Covers a metadata, stat or listing request with room to spare.
const ARENA_BYTES: usize = 1 << 20;
const PAGE: usize = 64 * 1024;

static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];

/// Claims the arena on the first allocation, then grows memory for anything more.
struct ArenaThenGrow {
    arena_claimed: bool,
}

impl OomHandler for ArenaThenGrow {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        if !talc.oom_handler.arena_claimed {
            talc.oom_handler.arena_claimed = true;
            // SAFETY: the arena is only ever handed to this allocator, once.
            unsafe { talc.claim(Span::from_array(addr_of_mut!(ARENA)))? };
            return Ok(());
        }
        // Room for the allocation plus the allocator's bookkeeping, in whole pages, and at
        // least 1 MiB so a growing stream does not grow page by page.
        let wanted = layout.size() + layout.align() + 1024;
        let pages = wanted.div_ceil(PAGE).max(16);
        let previous = memory_grow(0, pages);
        if previous == usize::MAX {
            return Err(());
        }
        let base = (previous * PAGE) as *mut u8;
        // SAFETY: the pages were just added to memory and nothing else refers to them.
        unsafe { talc.claim(Span::from_base_size(base, pages * PAGE))? };
        Ok(())
    }
}

// SAFETY (AssumeUnlockable): a component instance runs on one thread, without re-entrance
// into the allocator.
#[global_allocator]
static ALLOCATOR: Talck<AssumeUnlockable, ArenaThenGrow> = Talc::new(ArenaThenGrow {
    arena_claimed: false,
})
.lock();
