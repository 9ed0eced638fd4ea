//! The `deployer` binary: parse the command line, run the command, turn the outcome into an exit
//! code. Everything else lives in the library so that it can be tested without a process.

fn main() -> std::process::ExitCode {
    deployer::cli::main()
}
