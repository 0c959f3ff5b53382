//! `middletier` runs the service; `middletier check-feed <url-or-file>`,
//! `middletier mint-certs <dir>` and `middletier export|import <file>` are tools for operators.

mod check;
mod mint;
mod moving;

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
       middletier export <file|-> [--force]       write every reader's data to one file
       middletier import <file|->                 load such a file into the configured store
       middletier --help";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => platform::service::run::<Application>().await,
        Some("check-feed") => check::run(&args[1..]).await,
        Some("mint-certs") => mint::run(&args[1..]),
        Some(command @ ("export" | "import")) => moving::run(command, &args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!(
                "{USAGE}\n\n{}\n\n{}\n\n{}",
                check::USAGE,
                mint::USAGE,
                moving::USAGE
            );
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("middletier: unknown command '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
