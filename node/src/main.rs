//! Tapchain node: validator and full node of the Tapchain proof-of-stake chain.
#![warn(missing_docs)]
// `sc_cli::Error` and `sc_service::Error` are large by design; every command returns them.
#![allow(clippy::result_large_err)]

mod bridge_rpc;
mod btc_rpc;
mod chain_spec;
mod cli;
mod command;
mod custody_worker;
mod rpc;
mod service;
mod tcp_nodelay;

fn main() -> sc_cli::Result<()> {
	command::run()
}
