//! Link options of the `simgate` binary (BENCHMARKS.md, "Process").
//!
//! On GNU/Linux the position-independent executable's relative relocations are packed
//! (`-z pack-relative-relocs`, DT_RELR): the dynamic loader reads a few KiB at start instead of
//! a 570 KiB `.rela.dyn`, which stayed resident, and the binary is that much smaller. The
//! executable keeps its address-space randomisation. It needs glibc 2.36 or later at run time
//! (Debian 12, Raspberry Pi OS bookworm); `cargo deb` records that in the package's `libc6`
//! dependency. A linker without the option (binutils before 2.38) warns and ignores it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
