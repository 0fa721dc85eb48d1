//! The `hookfence` command; see [`cli`].

mod cli;

/// mimalloc instead of glibc's malloc: the data path allocates and frees
/// request-sized buffers all the time, and glibc spent a seventh of the
/// proxy's CPU in malloc/free/consolidation under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
