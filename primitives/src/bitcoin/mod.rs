//! Bitcoin wire types and consensus rules for the runtime (no_std, no C).
//!
//! Every encoder, parser and rule here is tested against the `bitcoin` crate and real
//! mainnet data in native tests.

pub mod address;
mod encode;
pub mod hash;
pub mod header;
pub mod merkle;
pub mod network;
pub mod pow;
pub mod taproot;
pub mod transaction;

pub use address::{AddressError, BitcoinAddress};
pub use encode::DecodeError;
pub use hash::{BlockHash, TxMerkleNode, Txid, Wtxid};
pub use header::{BlockHeader, HEADER_SIZE};
pub use merkle::{merkle_root, verify_merkle_branch, MerkleError, MAX_MERKLE_DEPTH};
pub use network::{Network, NetworkParams};
pub use pow::{CompactTarget, Target, TargetError, Work};
pub use taproot::{key_spend_sighashes, SighashError};
pub use transaction::{OutPoint, Transaction, TxIn, TxOut};

/// Double SHA-256, Bitcoin's hash for headers, transactions and Merkle nodes.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
	use bitcoin_hashes::{sha256d, Hash};
	sha256d::Hash::hash(data).to_byte_array()
}
