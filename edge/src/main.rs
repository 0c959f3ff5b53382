//! Runs the edge: `cargo run -p edge`, then open the logged URL in a browser.

/// Every page view allocates and frees thousands of strings (the middle tier's answer decoded,
/// the page rendered) on whichever worker thread runs it; mimalloc's per-thread free lists do
/// that for about half of what glibc's malloc costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platform::service::run::<edge::Application>().await
}
