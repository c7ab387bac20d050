//! Tapchain node: validator and full node of the Tapchain proof-of-stake chain.
#![warn(missing_docs)]

mod btc_rpc;
mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() -> sc_cli::Result<()> {
	command::run()
}
