//! The build script of every Lambda binary (`functions/*`) and of the cold-start floors
//! (`infra/hello-dynamodb`, `infra/hello-lambda`), shared: links the binary as a non-PIE
//! executable on Linux.
//!
//! A PIE of the functions' size carries some 30,000 relative relocations that the dynamic
//! loader applies at every cold start, writing (and so copying) every page of
//! `.data.rel.ro`; a non-PIE executable is linked at a fixed address and has almost none.
//! Measured in BENCHMARKS.md ("Why the binaries are built as they are"). The code stays
//! position-independent (only the link differs), so it is a link argument of the binaries
//! alone, not a `rustflags` setting: `-no-pie` or `-C relocation-model=static` in
//! `rustflags` would also reach the proc-macro libraries a host build compiles, which then
//! fail to link. The cost: the executable's own code and data are not placed at random
//! addresses (the stack, the heap, the shared libraries and other mappings still are).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
