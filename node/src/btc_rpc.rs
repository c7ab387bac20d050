//! `btc_*` RPC methods over the runtime's Bitcoin light client, for relayers and wallets.
//!
//! Hashes are in Bitcoin's display order (as bitcoind shows them); raw headers and
//! transactions are hex in serialized order; Merkle branch entries are hex in internal
//! order, leaf level first (as `merkle_branch` in the fixtures and relayer).

use jsonrpsee::{
	core::RpcResult,
	proc_macros::rpc,
	types::error::{ErrorObject, ErrorObjectOwned},
};
use pallet_btc_light_client::{runtime_api::BtcLightClientApi as RuntimeApi, MerkleProof};
use serde::{Deserialize, Serialize};
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_core::Bytes;
use sp_runtime::traits::Block as BlockT;
use std::sync::Arc;
use tapchain_primitives::bitcoin::BlockHash;

/// The best tip as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BestTip {
	/// Block hash, display order.
	pub hash: String,
	/// Bitcoin height.
	pub height: u32,
	/// Cumulative work from the checkpoint, `0x`-prefixed hex.
	pub chain_work: String,
}

/// RPC error codes of the `btc_*` methods.
pub mod error_code {
	/// A parameter could not be parsed.
	pub const INVALID_PARAMS: i32 = -32602;
	/// The runtime call failed.
	pub const RUNTIME: i32 = 9000;
	/// The inclusion proof was refused; the message names the reason.
	pub const PROOF_REFUSED: i32 = 9001;
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
	ErrorObject::owned(error_code::INVALID_PARAMS, message.into(), None::<()>)
}

fn runtime_error(error: impl std::fmt::Debug) -> ErrorObjectOwned {
	ErrorObject::owned(error_code::RUNTIME, format!("runtime call failed: {error:?}"), None::<()>)
}

fn parse_block_hash(hash: &str) -> Result<BlockHash, ErrorObjectOwned> {
	BlockHash::from_display_hex(hash.trim_start_matches("0x"))
		.ok_or_else(|| invalid_params(format!("not a 64-digit block hash: {hash}")))
}

/// The `btc_*` methods.
#[rpc(server)]
pub trait BtcLightClientRpc<Hash> {
	/// Tip of the light client's best (most-work) Bitcoin chain.
	#[method(name = "btc_bestTip")]
	fn best_tip(&self, at: Option<Hash>) -> RpcResult<Option<BestTip>>;

	/// The raw 80-byte header at `height` on the best chain.
	#[method(name = "btc_headerAt")]
	fn header_at(&self, height: u32, at: Option<Hash>) -> RpcResult<Option<Bytes>>;

	/// Height of a stored header (best chain or fork).
	#[method(name = "btc_heightOf")]
	fn height_of(&self, block_hash: String, at: Option<Hash>) -> RpcResult<Option<u32>>;

	/// Confirmations of a transaction in `block_hash` on the best chain.
	#[method(name = "btc_confirmations")]
	fn confirmations(
		&self,
		raw_tx: Bytes,
		tx_index: u32,
		merkle_branch: Vec<Bytes>,
		block_hash: String,
		at: Option<Hash>,
	) -> RpcResult<u32>;
}

/// Serves the `btc_*` methods from a client.
pub struct BtcLightClientRpcServerImpl<C, Block> {
	client: Arc<C>,
	_block: std::marker::PhantomData<Block>,
}

impl<C, Block> BtcLightClientRpcServerImpl<C, Block> {
	/// Creates the RPC handler.
	pub fn new(client: Arc<C>) -> Self {
		Self { client, _block: std::marker::PhantomData }
	}
}

impl<C, Block> BtcLightClientRpcServer<<Block as BlockT>::Hash>
	for BtcLightClientRpcServerImpl<C, Block>
where
	Block: BlockT,
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: RuntimeApi<Block>,
{
	fn best_tip(&self, at: Option<Block::Hash>) -> RpcResult<Option<BestTip>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let tip = self.client.runtime_api().best_tip(at).map_err(runtime_error)?;
		Ok(tip.map(|tip| BestTip {
			hash: tip.hash.to_display_hex(),
			height: tip.height,
			chain_work: format!("{:#x}", tip.chain_work.0),
		}))
	}

	fn header_at(&self, height: u32, at: Option<Block::Hash>) -> RpcResult<Option<Bytes>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let header = self.client.runtime_api().header_at(at, height).map_err(runtime_error)?;
		Ok(header.map(|header| Bytes(header.to_bytes().to_vec())))
	}

	fn height_of(&self, block_hash: String, at: Option<Block::Hash>) -> RpcResult<Option<u32>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let hash = parse_block_hash(&block_hash)?;
		self.client.runtime_api().height_of(at, hash).map_err(runtime_error)
	}

	fn confirmations(
		&self,
		raw_tx: Bytes,
		tx_index: u32,
		merkle_branch: Vec<Bytes>,
		block_hash: String,
		at: Option<Block::Hash>,
	) -> RpcResult<u32> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let hash = parse_block_hash(&block_hash)?;
		let branch = merkle_branch
			.into_iter()
			.map(|node| {
				<[u8; 32]>::try_from(node.0.as_slice())
					.map_err(|_| invalid_params("every merkle branch entry must be 32 bytes"))
			})
			.collect::<Result<Vec<_>, _>>()?;
		let proof = MerkleProof {
			tx_index,
			branch: branch
				.try_into()
				.map_err(|_| invalid_params("the merkle branch is deeper than any block"))?,
		};
		self.client
			.runtime_api()
			.confirmations(at, raw_tx.0, proof, hash)
			.map_err(runtime_error)?
			.map_err(|reason| {
				ErrorObject::owned(
					error_code::PROOF_REFUSED,
					format!("inclusion proof refused: {reason:?}"),
					None::<()>,
				)
			})
	}
}
