//! `middletier` runs the service; `middletier check-feed <url-or-file>` and
//! `middletier mint-certs <dir>` are tools for operators.

mod check;
mod mint;

use std::process::ExitCode;

use middletier::Application;

/// Every river answer clones and encodes a page of items; mimalloc's per-thread free lists
/// allocate and free them for about half of what glibc's malloc costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
Usage: middletier                                 run the middle tier (settings: RSS_* variables)
       middletier check-feed <url-or-file> [--json]   show what fetching and parsing a feed finds
       middletier mint-certs <dir> [--token]       mint a CA and service certificates
       middletier --help";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => platform::service::run::<Application>().await,
        Some("check-feed") => check::run(&args[1..]).await,
        Some("mint-certs") => mint::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}\n\n{}\n\n{}", check::USAGE, mint::USAGE);
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("middletier: unknown command '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
