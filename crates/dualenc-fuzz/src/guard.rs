//! An allocator for the fuzzing binaries that turns an unbounded allocation into a reported
//! crash: while a target runs, any single allocation larger than [`LIMIT`] writes the input
//! being parsed to `$TMPDIR/dualenc-fuzz-oom-TARGET.bin`, says so on stderr and aborts (a
//! parser must bound what it allocates by the input's own size; inputs are at most 64 KiB).
//!
//! Declare it in a binary or test crate: `#[global_allocator] static A: Guard = Guard;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::mutate::MAX_LEN;

/// Largest single allocation a target may ask for.
pub const LIMIT: usize = 256 << 20;

/// The allocator (see the module documentation).
pub struct Guard;

struct Current {
    input: UnsafeCell<[u8; MAX_LEN]>,
    name: UnsafeCell<[u8; 64]>,
}

// SAFETY: written only by `set_current_input` before a target runs and read only when that
// run is aborted; the fuzzer runs one target at a time.
unsafe impl Sync for Current {}

static CURRENT: Current = Current {
    input: UnsafeCell::new([0; MAX_LEN]),
    name: UnsafeCell::new([0; 64]),
};
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Records the input of the run that starts (kept for the report of an abort).
pub fn set_current_input(name: &str, input: &[u8]) {
    let n = input.len().min(MAX_LEN);
    let m = name.len().min(64);
    // SAFETY: see `Current`.
    unsafe {
        (&mut *CURRENT.input.get())[..n].copy_from_slice(&input[..n]);
        (&mut *CURRENT.name.get())[..m].copy_from_slice(&name.as_bytes()[..m]);
    }
    INPUT_LEN.store(n, Ordering::SeqCst);
    NAME_LEN.store(m, Ordering::SeqCst);
    ACTIVE.store(true, Ordering::SeqCst);
}

/// The run is over: allocations are no longer checked.
pub fn clear_current_input() {
    ACTIVE.store(false, Ordering::SeqCst);
}

fn check(size: usize) {
    if size > LIMIT && ACTIVE.load(Ordering::SeqCst) {
        ACTIVE.store(false, Ordering::SeqCst);
        // SAFETY: plain syscalls on buffers we own; no allocation on this path.
        unsafe { report_and_abort(size) }
    }
}

unsafe fn report_and_abort(size: usize) -> ! {
    let name = std::slice::from_raw_parts(
        (*CURRENT.name.get()).as_ptr(),
        NAME_LEN.load(Ordering::SeqCst),
    );
    let mut path = [0u8; 256];
    let mut len = 0;
    for part in [b"/tmp/dualenc-fuzz-oom-".as_slice(), name, b".bin\0"] {
        let n = part.len().min(path.len() - len - 1);
        path[len..len + n].copy_from_slice(&part[..n]);
        len += n;
    }
    let fd = libc::open(
        path.as_ptr().cast(),
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        0o644,
    );
    if fd >= 0 {
        let input = (*CURRENT.input.get()).as_ptr();
        libc::write(fd, input.cast(), INPUT_LEN.load(Ordering::SeqCst));
        libc::close(fd);
    }
    let message = b"dualenc-fuzz: a target asked for an allocation over the limit; input saved to ";
    libc::write(2, message.as_ptr().cast(), message.len());
    libc::write(2, path.as_ptr().cast(), len.saturating_sub(1));
    let mut digits = [0u8; 24];
    let mut i = digits.len();
    let mut n = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let tail = b" (bytes asked: ";
    libc::write(2, tail.as_ptr().cast(), tail.len());
    libc::write(2, digits[i..].as_ptr().cast(), digits.len() - i);
    libc::write(2, b")\n".as_ptr().cast(), 2);
    libc::abort()
}

// SAFETY: delegates to the system allocator after a check that never allocates.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}
