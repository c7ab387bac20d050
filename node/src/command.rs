//! Dispatch of the command line.

use crate::{
	chain_spec,
	cli::{Cli, Subcommand},
	service,
};
use sc_cli::SubstrateCli;
use sc_service::PartialComponents;
use tapchain_runtime::opaque::Block;

impl SubstrateCli for Cli {
	fn impl_name() -> String {
		"Tapchain Node".into()
	}

	fn impl_version() -> String {
		env!("SUBSTRATE_CLI_IMPL_VERSION").into()
	}

	fn description() -> String {
		env!("CARGO_PKG_DESCRIPTION").into()
	}

	fn author() -> String {
		env!("CARGO_PKG_AUTHORS").into()
	}

	fn support_url() -> String {
		"https://example.invalid/tapchain/issues".into()
	}

	fn copyright_start_year() -> i32 {
		2026
	}

	fn load_spec(&self, id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
		chain_spec::load_spec(id)
	}
}

/// The ports eth-rpc's server listens on, as eth-rpc derives them from its flags.
fn eth_rpc_ports(cmd: &pallet_revive_eth_rpc::cli::CliCommand) -> sc_cli::Result<Vec<u16>> {
	const ETH_RPC_DEFAULT_PORT: u16 = 8545;
	let endpoints = cmd.rpc_params.rpc_addr(cmd.shared_params.dev, false, ETH_RPC_DEFAULT_PORT)?;
	Ok(match endpoints {
		Some(endpoints) => endpoints.iter().map(|endpoint| endpoint.listen_addr.port()).collect(),
		None => vec![cmd.rpc_params.rpc_port.unwrap_or(ETH_RPC_DEFAULT_PORT)],
	})
}

/// Parse and run command line arguments.
pub fn run() -> sc_cli::Result<()> {
	let mut cli = Cli::from_args();

	// eth-rpc is a separate server process with its own logger and async runtime: it runs
	// before (and instead of) anything the node would set up.
	match cli.subcommand.take() {
		Some(Subcommand::EthRpc(cmd)) => {
			crate::tcp_nodelay::watch_for_listeners(
				eth_rpc_ports(&cmd)?,
				std::time::Duration::from_secs(600),
			);
			return pallet_revive_eth_rpc::cli::run(*cmd)
				.map_err(|error| sc_cli::Error::Application(error.into()));
		},
		other => cli.subcommand = other,
	}
	default_to_paritydb(&mut cli);

	match &cli.subcommand {
		Some(Subcommand::Key(cmd)) => cmd.run(&cli),
		#[allow(deprecated)]
		Some(Subcommand::BuildSpec(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.chain_spec, config.network))
		},
		Some(Subcommand::ExportChainSpec(cmd)) => {
			let chain_spec = cli.load_spec(&cmd.chain)?;
			cmd.run(chain_spec)
		},
		Some(Subcommand::CheckBlock(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		},
		Some(Subcommand::ExportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.database), task_manager))
			})
		},
		Some(Subcommand::ExportState(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.chain_spec), task_manager))
			})
		},
		Some(Subcommand::ImportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		},
		Some(Subcommand::PurgeChain(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.database))
		},
		Some(Subcommand::Revert(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, backend, .. } =
					service::new_partial(&config)?;
				let aux_revert = Box::new(|client, _, blocks| {
					sc_consensus_grandpa::revert(client, blocks)?;
					Ok(())
				});
				Ok((cmd.run(client, backend, Some(aux_revert)), task_manager))
			})
		},
		#[cfg(feature = "runtime-benchmarks")]
		Some(Subcommand::Benchmark(cmd)) => {
			use frame_benchmarking_cli::BenchmarkCmd;
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| match cmd {
				BenchmarkCmd::Pallet(cmd) => cmd
					.run_with_spec::<sp_runtime::traits::HashingFor<Block>, ()>(Some(
						config.chain_spec,
					)),
				_ => Err("Only `benchmark pallet` is supported by tapchain-node".into()),
			})
		},
		Some(Subcommand::ChainInfo(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run::<Block>(&config))
		},
		Some(Subcommand::EthRpc(_)) => unreachable!("eth-rpc returned before the match"),
		None => {
			let bitcoind = cli
				.bitcoind_rpc_url
				.as_deref()
				.map(tapchain_bitcoind::BitcoindClient::from_url)
				.transpose()
				.map_err(|e| sc_cli::Error::Input(format!("--bitcoind-rpc-url: {e}")))?;
			let runner = cli.create_runner(&cli.run)?;
			runner.run_node_until_exit(|config| async move {
				match config.network.network_backend {
					sc_network::config::NetworkBackendType::Libp2p => service::new_full::<
						sc_network::NetworkWorker<
							Block,
							<Block as sp_runtime::traits::Block>::Hash,
						>,
					>(config, bitcoind)
					.map_err(sc_cli::Error::Service),
					sc_network::config::NetworkBackendType::Litep2p => {
						service::new_full::<sc_network::Litep2pNetworkBackend>(config, bitcoind)
							.map_err(sc_cli::Error::Service)
					},
				}
			})
		},
	}
}

/// The node stores state in ParityDB unless `--database` says otherwise. sc-cli would default to
/// RocksDB, which is compiled in only because eth-rpc enables it; the runtime's storage weights
/// (`ParityDbWeight`) are those of ParityDB.
fn default_to_paritydb(cli: &mut Cli) {
	let params = match &mut cli.subcommand {
		None => &mut cli.run.import_params.database_params,
		Some(Subcommand::CheckBlock(cmd)) => &mut cmd.import_params.database_params,
		Some(Subcommand::ImportBlocks(cmd)) => &mut cmd.import_params.database_params,
		Some(Subcommand::ExportBlocks(cmd)) => &mut cmd.database_params,
		Some(Subcommand::ExportState(cmd)) => &mut cmd.database_params,
		Some(Subcommand::PurgeChain(cmd)) => &mut cmd.database_params,
		Some(Subcommand::Revert(cmd)) => &mut cmd.database_params,
		Some(Subcommand::ChainInfo(cmd)) => &mut cmd.database_params,
		_ => return,
	};
	params.database.get_or_insert(sc_cli::Database::ParityDb);
}
