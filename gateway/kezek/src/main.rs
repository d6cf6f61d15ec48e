//! `kezek`: parses the command line and hands over to [`kezek::cli`].

fn main() -> std::process::ExitCode {
    kezek::cli::main()
}
