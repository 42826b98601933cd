//! Link options of the `simgate` binary (BENCHMARKS.md, "Process").
//!
//! On GNU/Linux the position-independent executable's relative relocations are packed
//! (`-z pack-relative-relocs`, DT_RELR): the dynamic loader reads a few KiB at start instead of
//! a 570 KiB `.rela.dyn`, which stayed resident, and the binary is that much smaller. The
//! executable keeps its address-space randomisation. It needs glibc 2.36 or later at run time
//! (Debian 12, Raspberry Pi OS bookworm); `cargo deb` records that in the package's `libc6`
//! dependency. A linker without the option (binutils before 2.38) warns and ignores it.
//!
//! In the release build for x86_64 GNU/Linux, which rustc links with its own LLD, the
//! functions listed in `link/hot-functions.txt` (those the daemon runs at start and under
//! traffic, found by `benches/hot_functions.sh`) are laid out first and side by side. The
//! kernel maps a binary's pages 64 KiB at a time around each page the process touches, so
//! scattered hot functions made nearly the whole 6.8 MB of code resident; packed, the resident
//! code is about what runs. Names the list has and the binary lacks are skipped silently.
//! `SIMGATE_SYMBOL_ORDER=off` builds without it (for a linker other than LLD). The names carry
//! their crates' hashes, so the list records the compiler and `Cargo.lock` it was made with: a
//! build with another `Cargo.lock` warns that it is stale, one with another compiler warns and
//! leaves it out.
//!
//! `SIMGATE_LINK_MAP=PATH` asks the linker for a map of the binary (where each function
//! landed), which `benches/hot_functions.sh` reads.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SIMGATE_LINK_MAP");
    println!("cargo:rerun-if-env-changed=SIMGATE_SYMBOL_ORDER");
    println!("cargo:rerun-if-changed=link/hot-functions.txt");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    let ordered = std::env::var("SIMGATE_SYMBOL_ORDER").map_or(true, |v| v != "off");
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/hot-functions.txt");
    if ordered && target == "x86_64-unknown-linux-gnu" && profile == "release" && list.exists() {
        println!("cargo:rerun-if-changed=Cargo.lock");
        order_functions(&list);
    }
    if let Ok(map) = std::env::var("SIMGATE_LINK_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={map}");
        // What the list made from this map is good for (benches/hot_functions.sh copies it in).
        let _ = std::fs::write(format!("{map}.made-for"), made_for());
    }
}

/// Gives the list to the linker, unless another compiler made it: every name would differ
/// (the crates' hashes include the compiler), and a compiler before 1.90 links this target
/// with the system's linker, which does not know the option.
fn order_functions(list: &Path) {
    let here = made_for();
    let text = std::fs::read_to_string(list).unwrap_or_default();
    let recorded = text.lines().take(4).find(|line| line.starts_with(MADE_FOR));
    let compiler = |line: &str| line.split(';').next().unwrap_or_default().to_string();
    if recorded.map(compiler) != Some(compiler(&here)) {
        println!(
            "cargo:warning=link/hot-functions.txt was made with another compiler and is not \
             used (this build: \"{here}\"); rerun benches/hot_functions.sh"
        );
        return;
    }
    if recorded != Some(here.as_str()) {
        println!(
            "cargo:warning=link/hot-functions.txt was made for another Cargo.lock (this build: \
             \"{here}\"); rerun benches/hot_functions.sh"
        );
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
        list.display()
    );
}

const MADE_FOR: &str = "# made for: ";

/// The line the list records: this compiler and this lockfile.
fn made_for() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    let lock = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"));
    // FNV-1a: stable, and enough to tell two lockfiles apart.
    let digest = lock
        .unwrap_or_default()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{MADE_FOR}{version}; Cargo.lock fnv1a {digest:016x}")
}
