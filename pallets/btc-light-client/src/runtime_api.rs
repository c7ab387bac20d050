//! Runtime API: what the node, RPC and relayers ask the light client.

use crate::{ChainTip, MerkleProof, SpvError};
use alloc::vec::Vec;
use tapchain_primitives::bitcoin::{BlockHash, BlockHeader};

sp_api::decl_runtime_apis! {
	/// Queries of the Bitcoin light client.
	pub trait BtcLightClientApi {
		/// The tip of the best (most-work) chain, if initialised.
		fn best_tip() -> Option<ChainTip>;
		/// Height of a stored header (best chain or fork).
		fn height_of(hash: BlockHash) -> Option<u32>;
		/// The best chain's header at `height`, if stored.
		fn header_at(height: u32) -> Option<BlockHeader>;
		/// Confirmations of a transaction in `block_hash` on the best chain.
		fn confirmations(raw_tx: Vec<u8>, proof: MerkleProof, block_hash: BlockHash) -> Result<u32, SpvError>;
	}
}
