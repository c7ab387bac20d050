//! `btc-sim`: an in-memory regtest Bitcoin node for tests, speaking the subset of bitcoind's
//! JSON-RPC that Tapchain's relayer and tests use, with the same JSON shapes and error codes.
//!
//! It exists only because Bitcoin Core is not packaged by the registries this project
//! installs from; it behaves like the real thing where it matters:
//! - blocks carry real regtest proof of work, Merkle roots and BIP-141 witness commitments,
//!   starting from regtest's real genesis block, so the chain's light client takes them as
//!   it would take bitcoind's;
//! - transactions are checked against the UTXO set (missing or double spends, coinbase
//!   maturity, value, fee and dust rules) and every input is run through Bitcoin Core's own
//!   script interpreter (`bitcoinconsensus`, Taproot flags, all spent outputs) before entering
//!   the mempool; refusals carry Core's codes and reasons;
//! - the active chain is the valid chain with the most work; `invalidateblock` and
//!   `reconsiderblock` force reorganisations, whose transactions return to the mempool.
//!
//! What it leaves out: peers, persistence (state lives in memory), fee bumping (a conflicting
//! spend is refused with `txn-mempool-conflict`, even if it signals RBF), block size limits,
//! timelocks of non-script kinds (nLockTime and BIP-68 sequence locks are not enforced).

pub mod chain;
pub mod rpc;
pub mod server;
pub mod wallet;

pub use chain::{Chain, TxRejection};
pub use rpc::{RpcError, SimConfig, SimNode};
pub use server::{RpcAuth, RpcServer};
