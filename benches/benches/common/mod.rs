//! What the bench files share: the proxy's allocator (mimalloc, as `main.rs` installs it) wrapped
//! in a counter, so each bench can print how many allocations one operation makes next to its
//! timing — a hot path that suddenly allocates per field shows up even when the time barely moves.

#![allow(unsafe_code, dead_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use mimalloc::MiMalloc;

/// mimalloc with a count of allocations (and reallocations) and of the bytes they asked for.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to mimalloc; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (including reallocations) and bytes requested by one call of `f`, on this thread
/// and any other that allocates meanwhile (so measure with nothing else running), and its result.
pub fn count_allocs<T>(f: impl FnOnce() -> T) -> (u64, u64, T) {
    let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let out = f();
    (ALLOCS.load(Relaxed) - a0, BYTES.load(Relaxed) - b0, out)
}

/// Runs `f` once outside any timing and prints its allocations, e.g.
/// `allocs  http/decode_head/aws_cli_get: 23 allocations, 1411 bytes per op`.
pub fn report_allocs<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let (n, bytes, out) = count_allocs(f);
    eprintln!("allocs  {name}: {n} allocations, {bytes} bytes per op");
    out
}
