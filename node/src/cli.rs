//! Command line of `tapchain-node`.

use sc_cli::RunCmd;

/// The node's command line: run a node, or one of the subcommands.
#[derive(Debug, clap::Parser)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[clap(flatten)]
	pub run: RunCmd,

	/// JSON-RPC URL of this validator's own Bitcoin node,
	/// `http://user:password@127.0.0.1:8332`. A validator reports the node's fee estimate
	/// (`estimatesmartfee 6`) to the bridge every 10 blocks; the bridge pays the median of the
	/// validators' reports. Without it this validator reports nothing.
	#[arg(long, value_name = "URL")]
	pub bitcoind_rpc_url: Option<String>,
}

/// Subcommands of `tapchain-node`.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management cli utilities
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Build a chain specification.
	/// DEPRECATED: `export-chain-spec` is the same without needing a database.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Export the chain specification.
	ExportChainSpec(sc_cli::ExportChainSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Runtime pallet benchmarks (build with `--features runtime-benchmarks`).
	#[cfg(feature = "runtime-benchmarks")]
	#[command(subcommand)]
	Benchmark(frame_benchmarking_cli::BenchmarkCmd),

	/// Db meta columns information.
	ChainInfo(sc_cli::ChainInfoCmd),

	/// Serve the Ethereum JSON-RPC (MetaMask, ethers, Hardhat, Foundry) for a Tapchain node,
	/// by default on 127.0.0.1:8545, connecting to the node at `--node-rpc-url`
	/// (ws://127.0.0.1:9944). This is pallet-revive's eth-rpc server.
	#[command(name = "eth-rpc")]
	EthRpc(Box<pallet_revive_eth_rpc::cli::CliCommand>),
}
