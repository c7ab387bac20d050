//! `tapchain-relayer`: see the library docs.

use clap::Parser;
use std::{net::TcpListener, path::PathBuf, process::ExitCode, str::FromStr, time::Duration};
use subxt_signer::{sr25519::Keypair, SecretUri};
use tapchain_relayer::{
	bitcoind::{BitcoindClient, BitcoindError},
	metrics::Metrics,
	tapchain::TapchainClient,
	RelayConfig, RelayError, Relayer,
};

/// Relays Bitcoin headers and deposits to Tapchain, and signed withdrawals to Bitcoin.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
	/// bitcoind's JSON-RPC URL, `http://[user:password@]host:port` (regtest: 18443).
	#[arg(long)]
	bitcoind_url: String,
	/// bitcoind's cookie file (`<datadir>/<network>/.cookie`), instead of credentials in the URL.
	#[arg(long)]
	bitcoind_cookie: Option<PathBuf>,
	/// The Tapchain node's RPC URL: `ws://` or `http://` (same port), `wss://` or `https://`
	/// with TLS.
	#[arg(long, default_value = "http://127.0.0.1:9944")]
	node_url: String,
	/// The account submitting (and paying for) proofs, as a secret URI (`//Alice` for dev).
	#[arg(long, conflicts_with = "signer_file", required_unless_present = "signer_file")]
	signer: Option<String>,
	/// A file holding the signer's secret URI or 0x-prefixed seed.
	#[arg(long)]
	signer_file: Option<PathBuf>,
	/// Headers per submission (at most 2016).
	#[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=2016))]
	batch_size: u32,
	/// Blocks below bitcoind's tip searched for deposits and withdrawals at start.
	#[arg(long, default_value_t = 1008)]
	scan_depth: u32,
	/// Pause between rounds, milliseconds.
	#[arg(long, default_value_t = 2000)]
	poll_interval_ms: u64,
	/// Seconds before a submission left out of every block (dropped from the pool) is sent
	/// again; one included without effect is sent again at once.
	#[arg(long, default_value_t = 120)]
	resubmit_secs: u64,
	/// Seconds between broadcasts of a signed withdrawal not yet confirmed.
	#[arg(long, default_value_t = 60)]
	rebroadcast_secs: u64,
	/// Prometheus metrics port on 127.0.0.1 (0: none).
	#[arg(long, default_value_t = 9618)]
	prometheus_port: u16,
	/// Log level: error, warn, info, debug.
	#[arg(long, default_value = "info")]
	log_level: log::LevelFilter,
}

/// Lines on stderr: time, level, target, message.
struct StderrLogger;

impl log::Log for StderrLogger {
	fn enabled(&self, metadata: &log::Metadata) -> bool {
		metadata.level() <= log::max_level()
	}

	fn log(&self, record: &log::Record) {
		if self.enabled(record.metadata()) {
			let now = std::time::SystemTime::now()
				.duration_since(std::time::UNIX_EPOCH)
				.unwrap_or_default();
			eprintln!(
				"{}.{:03} {:5} {}: {}",
				now.as_secs(),
				now.subsec_millis(),
				record.level(),
				record.target(),
				record.args()
			);
		}
	}

	fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

fn config_error(message: impl std::fmt::Display) -> ExitCode {
	log::error!(target: "relayer", "configuration error: {message}");
	ExitCode::from(2)
}

fn main() -> ExitCode {
	let cli = Cli::parse();
	let _ = log::set_logger(&LOGGER);
	log::set_max_level(cli.log_level);

	let mut bitcoind = match BitcoindClient::from_url(&cli.bitcoind_url) {
		Ok(client) => client,
		Err(error) => return config_error(format!("--bitcoind-url: {error}")),
	};
	if let Some(cookie) = cli.bitcoind_cookie {
		bitcoind = match bitcoind.with_cookie_file(cookie) {
			Ok(client) => client,
			Err(error) => return config_error(format!("--bitcoind-cookie: {error}")),
		};
	}
	let secret = match (&cli.signer, &cli.signer_file) {
		(Some(uri), _) => uri.clone(),
		(None, Some(path)) => match std::fs::read_to_string(path) {
			Ok(text) => text.trim().to_string(),
			Err(error) => {
				return config_error(format!("--signer-file {}: {error}", path.display()))
			},
		},
		(None, None) => return config_error("--signer or --signer-file is required"),
	};
	let signer = match SecretUri::from_str(&secret).map(|uri| Keypair::from_uri(&uri)) {
		Ok(Ok(keypair)) => keypair,
		Ok(Err(error)) => {
			return config_error(format!("the signer's secret does not parse: {error}"))
		},
		Err(error) => return config_error(format!("the signer's secret does not parse: {error}")),
	};
	let chain = match TapchainClient::new(&cli.node_url, signer) {
		Ok(client) => client,
		Err(error) => return config_error(format!("--node-url: {error}")),
	};
	let metrics = Metrics::new();
	if cli.prometheus_port != 0 {
		match TcpListener::bind(("127.0.0.1", cli.prometheus_port)) {
			Ok(listener) => metrics.serve(listener),
			Err(error) => {
				return config_error(format!("--prometheus-port {}: {error}", cli.prometheus_port))
			},
		}
	}
	let config = RelayConfig {
		batch_size: cli.batch_size,
		scan_depth: cli.scan_depth,
		resubmit_after: Duration::from_secs(cli.resubmit_secs),
		rebroadcast_after: Duration::from_secs(cli.rebroadcast_secs),
		..RelayConfig::default()
	};
	log::info!(
		target: "relayer",
		"relaying between bitcoind at {} and the node at {} as {}",
		bitcoind.endpoint(),
		chain.endpoint(),
		chain.account()
	);
	let mut relayer = Relayer::new(bitcoind, chain, config, metrics.clone());

	let poll = Duration::from_millis(cli.poll_interval_ms);
	let max_backoff = Duration::from_secs(60);
	let mut backoff = poll;
	let mut networks_checked = false;
	loop {
		let result = if networks_checked {
			relayer.round().map(|_| ())
		} else {
			relayer.check_networks().inspect(|_| networks_checked = true)
		};
		match result {
			Ok(()) => {
				backoff = poll;
				std::thread::sleep(poll);
			},
			Err(RelayError::Fatal(message)) => return config_error(message),
			Err(RelayError::Bitcoind(BitcoindError::Unauthorized)) => {
				return config_error("bitcoind refused the credentials")
			},
			Err(RelayError::Bitcoind(BitcoindError::BadCookie(message))) => {
				return config_error(message)
			},
			Err(error) => {
				let source = match error {
					RelayError::Chain(_) => "chain",
					_ => "bitcoind",
				};
				metrics.errors.with_label_values(&[source]).inc();
				log::warn!(target: "relayer", "round failed ({error}); retrying in {backoff:?}");
				std::thread::sleep(backoff);
				backoff = (backoff * 2).min(max_backoff);
			},
		}
	}
}
