//! `btc-sim`: a regtest bitcoind stand-in for tests. See the library docs.

use btc_sim::{RpcAuth, RpcServer, SimConfig, SimNode};
use clap::Parser;
use std::{net::TcpListener, path::PathBuf, sync::Arc, time::Duration};

/// An in-memory regtest Bitcoin node speaking bitcoind's JSON-RPC (for tests).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
	/// Address to listen on.
	#[arg(long, default_value = "127.0.0.1")]
	rpcbind: String,
	/// Port to listen on (bitcoind's regtest default).
	#[arg(long, default_value_t = 18443)]
	rpcport: u16,
	/// RPC user; without it a cookie is written to `<datadir>/regtest/.cookie`.
	#[arg(long, requires = "rpcpassword")]
	rpcuser: Option<String>,
	/// RPC password.
	#[arg(long, requires = "rpcuser")]
	rpcpassword: Option<String>,
	/// Where the cookie file goes (nothing else is stored).
	#[arg(long, default_value = "btc-sim-data")]
	datadir: PathBuf,
	/// What `estimatesmartfee` answers, sat/vB (0: no estimate, as a fresh regtest node).
	#[arg(long, default_value_t = 2)]
	fee_rate: u64,
	/// Fee rate of the wallet's payments, sat/vB.
	#[arg(long, default_value_t = 2)]
	wallet_fee_rate: u64,
	/// Seed of the wallet's key.
	#[arg(long, default_value = "btc-sim wallet")]
	wallet_seed: String,
	/// Blocks mined to the wallet at start (101 makes its first coinbase spendable).
	#[arg(long, default_value_t = 0)]
	initial_blocks: u32,
	/// Mine a block to the wallet every this many seconds (0: only on `generatetoaddress`).
	#[arg(long, default_value_t = 0)]
	mine_interval_secs: u64,
	/// Mined blocks leave out packages paying less than this, sat/vB (Core's
	/// `-blockmintxfee`; 0 mines every transaction). A transaction below it waits in the
	/// mempool until it is replaced by one paying more, or a child pays for it.
	#[arg(long, default_value_t = 0)]
	block_min_fee_rate: u64,
}

fn main() {
	let cli = Cli::parse();
	let config = SimConfig {
		fee_rate_sat_per_vb: (cli.fee_rate > 0).then_some(cli.fee_rate),
		wallet_fee_rate_sat_per_vb: cli.wallet_fee_rate.max(1),
		wallet_seed: cli.wallet_seed.into_bytes(),
	};
	let node = Arc::new(SimNode::new(config));
	let wallet_script = node.wallet_address().script_pubkey();
	node.mine(cli.initial_blocks, &wallet_script);
	node.chain().block_min_fee_rate_sat_per_kvb = cli.block_min_fee_rate.saturating_mul(1000);

	let auth = match (cli.rpcuser, cli.rpcpassword) {
		(Some(user), Some(password)) => RpcAuth { user, password },
		_ => {
			let cookie = RpcAuth::random_cookie();
			match cookie.write_cookie(&cli.datadir) {
				Ok(path) => eprintln!("btc-sim: cookie written to {}", path.display()),
				Err(e) => {
					eprintln!(
						"btc-sim: cannot write the cookie under {}: {e}",
						cli.datadir.display()
					);
					std::process::exit(1);
				},
			}
			cookie
		},
	};
	let listener = match TcpListener::bind((cli.rpcbind.as_str(), cli.rpcport)) {
		Ok(listener) => listener,
		Err(e) => {
			eprintln!("btc-sim: cannot listen on {}:{}: {e}", cli.rpcbind, cli.rpcport);
			std::process::exit(1);
		},
	};
	let server = RpcServer::start(node.clone(), listener, Some(auth));
	eprintln!(
		"btc-sim: regtest JSON-RPC on {}, wallet address {}, height {}",
		server.url(),
		node.wallet_address(),
		node.chain().height()
	);
	loop {
		if cli.mine_interval_secs == 0 {
			std::thread::park();
			continue;
		}
		std::thread::sleep(Duration::from_secs(cli.mine_interval_secs));
		let hash = node.mine(1, &wallet_script);
		eprintln!("btc-sim: mined {} at height {}", hash[0], node.chain().height());
	}
}
