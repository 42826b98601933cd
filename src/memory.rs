//! Giving freed heap back to the kernel.
//!
//! glibc's malloc keeps what the daemon frees for later: each burst of traffic leaves free
//! chunks inside the heap that still count as resident, and over hours the resident set
//! creeps up with the holes (BENCHMARKS.md, "Soak"). `malloc_trim` releases the free pages
//! wherever they are in the heap. It is cheap at this heap's size; the SQLite checkpoint
//! thread ([`crate::store`]) calls it after each look that saw traffic, i.e. at most once a
//! second and only after traffic.

/// Releases free heap pages now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it is thread-safe.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
