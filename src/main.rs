//! The `gama-vr-relay` binary: command line, configuration, logging and signals. Everything else
//! lives in the library.
//!
//! It is often started by a double-click or from a shortcut, so it finds its `.env` and
//! `learning-packages/` beside itself when the working directory has none (`config::Places`), and
//! it stops as cleanly when its window is closed (Windows' console, a Unix terminal: SIGHUP) or on
//! Ctrl-C, Ctrl-Break (Windows) and SIGTERM: headsets get a close frame with a reason, a recording
//! is flushed.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gama_vr_relay::config::{self, DotEnv, IGNORED_LEGACY_ENV, Places, Sources};
use gama_vr_relay::{Config, RotatingFile, Server};
use tracing::{error, info, warn};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Relay between a GAMA simulation (SIMPLE plugin) and Unity VR headsets, with an admin page.
///
/// Settings come from built-in defaults, then --config FILE, then the environment (with a `.env`
/// file: the working directory's, or else the one beside the program; the SIMPLE webplatform's
/// variable names work), then these flags. See config/default.toml for every setting.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Configuration file (TOML), layered over the built-in defaults.
    #[arg(
        long,
        short = 'c',
        env = "GAMA_VR_RELAY_CONFIG",
        value_name = "FILE",
        global = true
    )]
    config: Option<PathBuf>,
    /// GAMA server host (gama.host, GAMA_IP_ADDRESS).
    #[arg(long, value_name = "HOST", global = true)]
    gama_host: Option<String>,
    /// GAMA server port (gama.port, GAMA_WS_PORT).
    #[arg(long, value_name = "PORT", global = true)]
    gama_port: Option<String>,
    /// Port headsets connect to (headsets.port, HEADSET_WS_PORT).
    #[arg(long, value_name = "PORT", global = true)]
    headset_port: Option<String>,
    /// Address the admin page listens on (admin.host, WEB_APPLICATION_HOST).
    #[arg(long, value_name = "HOST", global = true)]
    admin_host: Option<String>,
    /// Port of the admin page (admin.port, WEB_APPLICATION_PORT).
    #[arg(long, value_name = "PORT", global = true)]
    admin_port: Option<String>,
    /// Learning-package folder (session.learning_package_path, LEARNING_PACKAGE_PATH).
    #[arg(long, value_name = "DIR", global = true)]
    learning_packages: Option<String>,
    /// Debug logs (log.verbose, VERBOSE).
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    /// Log format: `text` for people, `json` for log collectors (log.format).
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"], global = true)]
    log_format: Option<String>,
    /// Validate the configuration, print the effective one (TOML) and exit: 0 if valid, 2 if not.
    #[arg(long)]
    check_config: bool,
    /// Print the built-in default configuration, every setting documented, and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Record every message of the session to FILE, for `replay` (record.file).
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// Any setting, as section.key=value (e.g. --set headsets.missed_heartbeats=5). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Commands>,
}

#[derive(Debug, clap::Subcommand)]
enum Commands {
    /// Serve a recording (made with --record) to headsets without GAMA: a stand-in GAMA plays the
    /// recorded messages while the relay runs as usual. Headsets connect with the recorded ids.
    Replay {
        /// The recording.
        file: PathBuf,
        /// Playback speed: 1 is the recorded pace, 2 twice as fast.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Start once this many headsets are connected (default: as many as were recorded).
        #[arg(long)]
        players: Option<usize>,
        /// Exit when the recording has been played instead of serving until stopped.
        #[arg(long)]
        exit_when_done: bool,
    },
    /// A demonstration without GAMA: a stand-in GAMA plays a small town and a few simulated
    /// headsets join it, so the admin page shows a live session at once. Real headsets can join.
    Demo {
        /// How many simulated headsets join.
        #[arg(long, default_value_t = 4)]
        headsets: usize,
    },
    /// The sessions kept for debriefing (sessions.folder_path), for scripts.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
enum SessionsCommand {
    /// One line per kept session, newest first: id, start, length, players, model.
    List,
    /// One session, for analysis in Python, R or a spreadsheet.
    Export {
        /// The session's id (see `sessions list`).
        id: String,
        /// csv: one row per player (time in game, asks, expressions, disconnections); json: the
        /// timeline and that summary; events: every event, one JSON object per line.
        #[arg(long, value_parser = ["csv", "json", "events"], default_value = "csv")]
        format: String,
    },
}

impl Cli {
    fn sources(&self, dotenv: Option<DotEnv>, places: Places) -> anyhow::Result<Sources> {
        let mut cli = Vec::new();
        let mut flag = |key: &str, value: &Option<String>, name: &str| {
            if let Some(v) = value {
                cli.push((key.to_string(), v.clone(), name.to_string()));
            }
        };
        flag("gama.host", &self.gama_host, "--gama-host");
        flag("gama.port", &self.gama_port, "--gama-port");
        flag("headsets.port", &self.headset_port, "--headset-port");
        flag("admin.host", &self.admin_host, "--admin-host");
        flag("admin.port", &self.admin_port, "--admin-port");
        flag(
            "session.learning_package_path",
            &self.learning_packages,
            "--learning-packages",
        );
        flag("log.format", &self.log_format, "--log-format");
        flag("record.file", &self.record, "--record");
        if self.verbose {
            cli.push(("log.verbose".into(), "true".into(), "--verbose".into()));
        }
        for setting in &self.set {
            let (key, value) = setting
                .split_once('=')
                .with_context(|| format!("--set {setting:?}: expected section.key=value"))?;
            cli.push((key.trim().to_string(), value.to_string(), "--set".into()));
        }
        // GAMA_VR_RELAY_CONFIG may also come from the .env (clap only sees the real environment),
        // a relative file then leading from the .env's folder.
        let file = self.config.clone().or_else(|| {
            let dotenv = dotenv.as_ref()?;
            let name = dotenv
                .get("GAMA_VR_RELAY_CONFIG")
                .filter(|v| !v.is_empty())?;
            Some(config::resolve_path(
                dotenv.dir(),
                std::path::Path::new(name),
            ))
        });
        Ok(Sources {
            file,
            env: std::env::vars().collect(),
            dotenv,
            places,
            cli,
        })
    }
}

fn main() -> ExitCode {
    let code = relay_main();
    if code != ExitCode::SUCCESS {
        hold_window_open();
    }
    code
}

/// On Windows, a double-clicked program gets a console window of its own that closes the moment
/// it ends: an error (a port in use, a bad `.env`) would flash by unread. When this process is
/// alone on its console and reads from it, it waits for Enter before ending. Started from a
/// terminal, a script or a service, it ends at once.
#[cfg(windows)]
fn hold_window_open() {
    use windows_sys::Win32::System::Console::GetConsoleProcessList;
    let mut attached = [0u32; 2];
    // SAFETY: the buffer holds the 2 process ids the call is told it may write.
    #[allow(unsafe_code)]
    let count = unsafe { GetConsoleProcessList(attached.as_mut_ptr(), 2) };
    if count == 1 && std::io::stdin().is_terminal() {
        eprintln!();
        eprintln!("Press Enter to close this window.");
        let _ = std::io::stdin().read_line(&mut String::new());
    }
}

#[cfg(not(windows))]
fn hold_window_open() {}

fn relay_main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        print!("{}", config::DEFAULT_TOML);
        return ExitCode::SUCCESS;
    }
    let loaded = match Loaded::load(&cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if cli.check_config {
        print!("{}", loaded.config.to_toml());
        eprintln!("gama-vr-relay: the configuration is valid");
        return ExitCode::SUCCESS;
    }
    if let Some(Commands::Sessions { command }) = &cli.command {
        return sessions(&loaded.config, command);
    }
    let _log_file = match init_logging(&loaded.config, loaded.rust_log.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("gama-vr-relay: {e:#}");
            return ExitCode::from(2);
        }
    };
    loaded.log_start();
    run_command(cli.command, loaded.config)
}

/// The configuration, and where it was found, for the start-up log.
struct Loaded {
    config: Config,
    sources: Sources,
    /// RUST_LOG, from the environment or the .env.
    rust_log: Option<String>,
    /// The .env read, if any.
    dotenv_path: Option<PathBuf>,
    /// Where a .env was looked for.
    searched: String,
    /// A `.env.txt` (Notepad's) found where the .env was looked for.
    misnamed: Option<PathBuf>,
}

impl Loaded {
    /// The webplatform's .env (the working directory's, or else the one beside the program; real
    /// environment variables win over it), the command line and the configuration they give; an
    /// error is told on stderr and its exit code returned.
    fn load(cli: &Cli) -> Result<Loaded, ExitCode> {
        let places = Places::of_process();
        let dotenv = match places
            .find_dotenv()
            .as_deref()
            .map(DotEnv::read)
            .transpose()
        {
            Ok(dotenv) => dotenv,
            Err(e) => {
                eprintln!("gama-vr-relay: {e}");
                return Err(ExitCode::from(2));
            }
        };
        let rust_log = std::env::var("RUST_LOG")
            .ok()
            .or_else(|| Some(dotenv.as_ref()?.get("RUST_LOG")?.to_string()));
        let searched = places.searched();
        let misnamed = places.misnamed_dotenv();
        let dotenv_path = dotenv.as_ref().map(|d| d.path.clone());
        let sources = match cli.sources(dotenv, places) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("gama-vr-relay: configuration error: {e:#}");
                return Err(ExitCode::from(2));
            }
        };
        let config = match config::load(&sources) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("gama-vr-relay: configuration error: {e:#}");
                return Err(ExitCode::from(2));
            }
        };
        Ok(Loaded {
            config,
            sources,
            rust_log,
            dotenv_path,
            searched,
            misnamed,
        })
    }

    /// Logs the version, where the settings came from, what of them is ignored, and the settings.
    fn log_start(&self) {
        info!(
            version = env!("CARGO_PKG_VERSION"),
            "gama-vr-relay starting"
        );
        match &self.dotenv_path {
            Some(path) => info!("read settings from {}", path.display()),
            None => info!("no .env file found (looked in {})", self.searched),
        }
        if let (None, Some(txt)) = (&self.dotenv_path, &self.misnamed) {
            warn!(
                "{} is not read: rename it to .env (Notepad adds .txt, and Windows hides it)",
                txt.display()
            );
        }
        for (name, why) in IGNORED_LEGACY_ENV {
            let in_dotenv = self
                .sources
                .dotenv
                .as_ref()
                .is_some_and(|d| d.get(name).is_some());
            if std::env::var_os(name).is_some() || in_dotenv {
                info!("{name} is ignored: {why}");
            }
        }
        for line in self.config.describe() {
            info!("config {line}");
        }
    }
}

/// Runs the relay (or its replay, or its demo) on a runtime of its own until it stops.
fn run_command(command: Option<Commands>, config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        None => runtime.block_on(run(config)),
        Some(Commands::Replay {
            file,
            speed,
            players,
            exit_when_done,
        }) => runtime.block_on(replay(config, file, speed, players, exit_when_done)),
        Some(Commands::Demo { headsets }) => runtime.block_on(demo(config, headsets)),
        Some(Commands::Sessions { .. }) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, and to a size-rotated file when `log.file` is set (written from a background
/// thread, so the runtime never waits on the disk); the returned guard flushes it on exit.
/// `rust_log` (RUST_LOG, from the environment or the .env) overrides the configured level.
fn init_logging(config: &Config, rust_log: Option<&str>) -> anyhow::Result<Option<WorkerGuard>> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(config.log_filter()));
    let json = config.log.format == "json";
    let stderr = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Windows 10's console shows colour codes as text unless the program switches it to
            // another mode first: plain text there.
            .with_ansi(cfg!(not(windows)) && std::io::stderr().is_terminal())
            .boxed()
    };
    let (file, guard) = if config.log.file.as_os_str().is_empty() {
        (None, None)
    } else {
        let rotating = RotatingFile::open(
            &config.log.file,
            config.log.file_max_bytes,
            config.log.file_count,
        )
        .with_context(|| format!("cannot open log.file {}", config.log.file.display()))?;
        let (writer, guard) = tracing_appender::non_blocking(rotating);
        let layer = if json {
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .boxed()
        };
        (Some(layer), Some(guard))
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .init();
    // Panics are contained per task; make sure each one is in the log, with where it happened.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        error!(
            panic = gama_vr_relay::panic_message(info.payload()),
            %location,
            "a task panicked"
        );
    }));
    Ok(guard)
}

async fn run(config: Config) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let server = Server::bind(config).await?;
    let handle = server.spawn();
    let signal = stop.await;
    info!(signal, "shutting down");
    if !handle.shutdown(Duration::from_secs(2)).await {
        info!("some connections did not close in time; exiting anyway");
    }
    Ok(())
}

async fn replay(
    mut config: Config,
    file: PathBuf,
    speed: f64,
    players: Option<usize>,
    exit_when_done: bool,
) -> anyhow::Result<()> {
    use gama_vr_relay::{Recording, ReplayGama, ReplayOptions};
    let stop = shutdown_signal();
    let recording = Recording::read(&file)?;
    let stand_in = ReplayGama::bind()
        .await
        .context("cannot start the replay's stand-in GAMA")?;
    config.gama.host = "127.0.0.1".into();
    config.gama.port = stand_in.addr()?.port();
    // A replay is not recorded again.
    config.record.file = PathBuf::new();
    let server = Server::bind(config).await?;
    let handle = server.spawn();
    let mut done = stand_in.spawn(recording, ReplayOptions { speed, players }, &handle);
    tokio::select! {
        signal = stop => info!(signal, "shutting down"),
        _ = done.wait_for(|d| *d), if exit_when_done => info!("shutting down"),
    }
    handle.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

async fn demo(config: Config, headsets: usize) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let demo = gama_vr_relay::demo::Demo::start(config, headsets).await?;
    let signal = stop.await;
    info!(signal, "shutting down");
    demo.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// `sessions list|export`: prints to standard output; 0 on success, 1 on failure.
fn sessions(config: &Config, command: &SessionsCommand) -> ExitCode {
    let folder = config.sessions_folder();
    let mut out = std::io::stdout().lock();
    let result = match command {
        SessionsCommand::List => {
            gama_vr_relay::list_sessions(&folder, &mut out).map_err(anyhow::Error::from)
        }
        SessionsCommand::Export { id, format } => {
            let format = match format.as_str() {
                "json" => gama_vr_relay::Export::Json,
                "events" => gama_vr_relay::Export::Events,
                _ => gama_vr_relay::Export::Csv,
            };
            gama_vr_relay::export_session(&folder, id, format, &mut out)
                .map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gama-vr-relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for a request to stop and says which: Ctrl-C, SIGTERM or SIGHUP (its terminal window
/// closed) on Unix; Ctrl-C, Ctrl-Break or the console window being closed on Windows (Windows ends the process about 5 s after a close,
/// more than the 2 s the shutdown may take). The listeners are set up when this is called, so a
/// request that comes while the relay is still starting is not lost (nor does it kill the
/// process the default way): call it first.
fn shutdown_signal() -> impl Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let ctrl_c = listen("Ctrl-C", signal(SignalKind::interrupt()), async |s| {
            s.recv().await
        });
        let terminate = listen("SIGTERM", signal(SignalKind::terminate()), async |s| {
            s.recv().await
        });
        // Closing the terminal window (macOS's Terminal, a Linux desktop's).
        let hangup = listen("SIGHUP", signal(SignalKind::hangup()), async |s| {
            s.recv().await
        });
        async move {
            tokio::select! {
                () = ctrl_c => "Ctrl-C",
                () = terminate => "SIGTERM",
                () = hangup => "SIGHUP (terminal closed)",
            }
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
        let ctrl_c = listen("Ctrl-C", ctrl_c(), async |s| s.recv().await);
        let ctrl_break = listen("Ctrl-Break", ctrl_break(), async |s| s.recv().await);
        let close = listen("the console window closing", ctrl_close(), async |s| {
            s.recv().await
        });
        async move {
            tokio::select! {
                () = ctrl_c => "Ctrl-C",
                () = ctrl_break => "Ctrl-Break",
                () = close => "console window closed",
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// Resolves when the listener fires; never when it could not be set up (said once in the log).
#[cfg(any(unix, windows))]
async fn listen<S>(
    what: &str,
    listener: std::io::Result<S>,
    recv: impl AsyncFnOnce(&mut S) -> Option<()>,
) {
    match listener {
        Ok(mut s) => {
            recv(&mut s).await;
        }
        Err(e) => {
            warn!("cannot listen for {what}: {e}; stop the relay another way");
            std::future::pending::<()>().await;
        }
    }
}
