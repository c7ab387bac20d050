//! `tapchain-relayer`: carries Bitcoin headers and deposit proofs to Tapchain, and signed
//! withdrawal transactions from Tapchain to Bitcoin.
//!
//! It speaks bitcoind's JSON-RPC (a real bitcoind, or btc-sim in tests) and a Tapchain node's
//! RPC, and signs its submissions with its own account (it pays the fees of deposit and
//! withdrawal proofs; header batches that import only new headers are free). Anyone may run
//! one, and several at once: every step is decided from the chain's current state, and what
//! another relayer did first is seen there and skipped.

/// The bitcoind client (`tapchain-bitcoind`), shared with the node.
pub use tapchain_bitcoind as bitcoind;
pub mod metrics;
pub mod relay;
pub mod tapchain;

pub use relay::{RelayConfig, RelayError, Relayer, RoundReport};
