//! `portcullis`: the ready-to-run authorization server and its management CLI.

mod civil;
mod cli;
mod logwriter;
mod pages;
mod serve;
mod settings;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::settings::Settings;

/// mimalloc rather than glibc's malloc: under load glibc spreads allocations over per-thread
/// arenas and keeps what is freed (an idle server stayed at its peak RSS); mimalloc returns
/// freed pages to the system, and allocates faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis: an OAuth 2.0 and OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, propagate_version = true)]
struct Cli {
    /// Settings file (TOML). Also PORTCULLIS_CONFIG.
    #[arg(long, global = true, value_name = "FILE", env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL (overrides the file and PORTCULLIS_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Print JSON instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Settings.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    #[command(flatten)]
    Manage(cli::Manage),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print every setting with its default, as TOML.
    PrintDefault,
    /// Print the effective settings (file, environment and flags applied).
    Show,
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// Issuer URL, e.g. https://auth.example.com.
    #[arg(long)]
    issuer: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long)]
    access_token_lifetime: Option<i64>,
    /// Refresh token lifetime in seconds.
    #[arg(long)]
    refresh_token_lifetime: Option<i64>,
    /// Authorization code lifetime in seconds.
    #[arg(long)]
    authorization_code_lifetime: Option<i64>,
    /// Apply pending database migrations at start (default true); with false the schema must
    /// be current (`portcullis migrate`).
    #[arg(long, value_name = "BOOL")]
    auto_migrate: Option<bool>,
}

impl Cli {
    fn flags(&self) -> Vec<(&'static str, String)> {
        let mut f = Vec::new();
        if let Some(u) = &self.database_url {
            f.push(("database_url", u.clone()));
        }
        if let Command::Serve(a) = &self.command {
            let opt = [
                ("listen", a.listen.clone()),
                ("issuer", a.issuer.clone()),
                ("access_token_lifetime", a.access_token_lifetime.map(|v| v.to_string())),
                ("refresh_token_lifetime", a.refresh_token_lifetime.map(|v| v.to_string())),
                ("authorization_code_lifetime", a.authorization_code_lifetime.map(|v| v.to_string())),
                ("auto_migrate", a.auto_migrate.map(|v| v.to_string())),
            ];
            f.extend(opt.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        }
        f
    }
}

fn log_filter(default_filter: &str) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Log to stderr, line by line (management commands).
fn init_logging(default_filter: &str) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(log_filter(default_filter))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Log to stderr through the buffered writer (`serve`, see `logwriter.rs`): a request copies
/// its formatted line into memory; a thread writes the lines, at most `FLUSH_EVERY` later. The
/// guard writes what is left when dropped.
fn init_server_logging(default_filter: &str) -> Option<logwriter::FlushGuard> {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    match logwriter::start(std::io::stderr()) {
        Ok((writer, guard)) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(log_filter(default_filter))
                .with_ansi(ansi)
                .with_writer(writer.clone())
                .try_init();
            if !ansi {
                writer.serve_request_lines();
            }
            Some(guard)
        }
        Err(e) => {
            // No thread: log line by line instead.
            init_logging(default_filter);
            tracing::warn!(error = %e, "cannot start the log writer thread; logging unbuffered");
            None
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let flags = cli.flags();
    let settings = Settings::load(cli.config.as_deref(), |k| std::env::var(k).ok(), &flags)?;
    match cli.command {
        Command::Serve(_) => {
            let _flush_on_exit = init_server_logging(&settings.log);
            serve::run(settings).await
        }
        Command::Migrate => {
            init_logging("warn");
            store::migrate(&settings.database_url).await?;
            let url = store::redact_url(&settings.database_url);
            if cli.json {
                println!("{}", serde_json::json!({ "migrated": url }));
            } else {
                println!("migrations applied to {url}");
            }
            Ok(())
        }
        Command::Config { command: ConfigCommand::PrintDefault } => {
            print!("{}", Settings::default_toml());
            Ok(())
        }
        Command::Config { command: ConfigCommand::Show } => {
            print!("{}", toml::to_string(&settings.redacted()).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Manage(command) => {
            init_logging("warn");
            let store =
                store::open(&settings.database_url, settings.auto_migrate, store::Use::Command).await?;
            cli::run(command, cli::Ctx { store, json: cli.json, settings }).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
