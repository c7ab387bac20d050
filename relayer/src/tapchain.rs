//! A client of a Tapchain node through subxt, typed by the runtime metadata checked in at
//! `relayer/metadata/tapchain.scale`: the light client's and the bridge's view (runtime APIs
//! and storage at the best block) and signed extrinsics from the relayer's account.
//!
//! The relayer links no runtime or pallet crate. What it needs of the chain is named in
//! [`USED_BY_THE_RELAYER`]; on connecting, each of those calls, storage entries and runtime
//! API methods is compared (by subxt's shape hash) with the connected chain's metadata, and a
//! chain that changed any of them is refused with the names of what changed. Call and pallet
//! indices, and the transaction extensions, are taken from the connected chain's metadata,
//! so an upgrade that only moves them needs no new relayer.

use std::{
	future::Future,
	sync::{Arc, Mutex},
};
use subxt::{
	backend::LegacyBackend,
	client::{ClientAtBlock, OnlineClientAtBlockImpl},
	config::{DefaultExtrinsicParamsBuilder, PolkadotConfig},
	rpcs::{methods::LegacyRpcMethods, RpcClient},
	utils::{AccountId32, Static, H256},
	Metadata, OnlineClient,
};

use subxt_signer::sr25519::Keypair;
use tapchain_primitives::bitcoin::{BlockHash, BlockHeader, Network, OutPoint, Txid};

/// The chain's calls, storage and runtime APIs, generated from the checked-in metadata. The
/// Bitcoin wire types are the chain's own (`tapchain-primitives`), so headers, hashes and
/// outpoints keep their parsing and hashing.
#[subxt::subxt(
	runtime_metadata_path = "metadata/tapchain.scale",
	substitute_type(
		path = "tapchain_primitives::bitcoin::header::BlockHeader",
		with = "::subxt::utils::Static<::tapchain_primitives::bitcoin::BlockHeader>"
	),
	substitute_type(
		path = "tapchain_primitives::bitcoin::hash::BlockHash",
		with = "::subxt::utils::Static<::tapchain_primitives::bitcoin::BlockHash>"
	),
	substitute_type(
		path = "tapchain_primitives::bitcoin::hash::Txid",
		with = "::subxt::utils::Static<::tapchain_primitives::bitcoin::Txid>"
	),
	substitute_type(
		path = "tapchain_primitives::bitcoin::transaction::OutPoint",
		with = "::subxt::utils::Static<::tapchain_primitives::bitcoin::OutPoint>"
	),
	substitute_type(
		path = "tapchain_primitives::bitcoin::network::Network",
		with = "::subxt::utils::Static<::tapchain_primitives::bitcoin::Network>"
	)
)]
pub mod runtime {}

pub use runtime::runtime_types::pallet_btc_light_client::types::MerkleProof;
use runtime::runtime_types::{
	bounded_collections::bounded_vec::BoundedVec, pallet_btc_bridge::types::ProposalStatus,
};

type Config = PolkadotConfig;
type AtBlock = ClientAtBlock<Config, OnlineClientAtBlockImpl<Config>>;

/// Why a call to the Tapchain node failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
	/// The node could not be reached, or its RPC failed (the message is subxt's).
	Rpc(String),
	/// A reply that does not have the expected shape.
	BadReply(String),
	/// The connected chain's runtime changed a call, storage entry or runtime API the relayer
	/// uses: this relayer's metadata is not the chain's (a configuration error, not retried).
	IncompatibleRuntime(String),
}

impl std::fmt::Display for ChainError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			ChainError::Rpc(message) => write!(f, "node RPC: {message}"),
			ChainError::BadReply(message) => write!(f, "unexpected reply from the node: {message}"),
			ChainError::IncompatibleRuntime(message) => write!(f, "{message}"),
		}
	}
}

impl std::error::Error for ChainError {}

fn rpc_error(error: impl std::fmt::Display) -> ChainError {
	ChainError::Rpc(error.to_string())
}

/// The light client's best tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClientTip {
	pub hash: bitcoin::BlockHash,
	pub height: u32,
}

/// Where a withdrawal proposal stands, as far as the relayer acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStage {
	/// Voted on, or being signed: nothing to broadcast yet.
	Pending,
	/// Signed: to broadcast, then to prove once confirmed.
	Signed,
	/// Confirmed on Bitcoin (proved).
	Confirmed,
	/// Rejected, expired, cancelled, superseded by a fee bump or spent by a theft: never to
	/// be broadcast.
	Abandoned,
}

impl ProposalStage {
	fn of(status: &ProposalStatus<u32>) -> Self {
		match status {
			ProposalStatus::Voting { .. } | ProposalStatus::Approved | ProposalStatus::Signing => {
				ProposalStage::Pending
			},
			ProposalStatus::Signed => ProposalStage::Signed,
			ProposalStatus::Confirmed { .. } => ProposalStage::Confirmed,
			ProposalStatus::Rejected
			| ProposalStatus::Expired
			| ProposalStatus::Cancelled
			| ProposalStatus::Superseded { .. }
			| ProposalStatus::SpentByTheft => ProposalStage::Abandoned,
		}
	}
}

impl std::fmt::Display for ProposalStage {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str(match self {
			ProposalStage::Pending => "pending",
			ProposalStage::Signed => "signed",
			ProposalStage::Confirmed => "confirmed",
			ProposalStage::Abandoned => "rejected, expired or cancelled",
		})
	}
}

/// What the relayer uses of the chain, by the names in its metadata.
pub const USED_BY_THE_RELAYER: UsedItems = UsedItems {
	calls: &[
		("BtcLightClient", "submit_headers"),
		("BtcBridge", "submit_deposit"),
		("BtcBridge", "submit_withdrawal_proof"),
		("BtcBridge", "report_theft"),
	],
	storage: &[
		("System", "Account"),
		("BtcLightClient", "BitcoinNetwork"),
		("BtcBridge", "RequiredConfirmations"),
		("BtcBridge", "Deposits"),
		("BtcBridge", "ProposalByTxid"),
		("BtcBridge", "Utxos"),
		("BtcBridge", "ProvenThefts"),
	],
	constants: &[("BtcLightClient", "MaxHeadersPerSubmission")],
	runtime_apis: &[
		("BtcLightClientApi", "best_tip"),
		("BtcLightClientApi", "height_of"),
		("BtcLightClientApi", "header_at"),
		("BtcLightClientApi", "confirmations"),
		("BtcBridgeApi", "deposit_scripts"),
		("BtcBridgeApi", "proposal"),
		("BtcBridgeApi", "signed_in_flight"),
	],
};

/// Calls, storage entries, constants and runtime API methods, as `(pallet or trait, name)`.
pub struct UsedItems {
	pub calls: &'static [(&'static str, &'static str)],
	pub storage: &'static [(&'static str, &'static str)],
	pub constants: &'static [(&'static str, &'static str)],
	pub runtime_apis: &'static [(&'static str, &'static str)],
}

/// Compares what the relayer uses in `expected` (its own metadata) with the same items in
/// `chain` (the connected chain's): every difference is named in the error.
pub fn check_compatibility(
	expected: &Metadata,
	chain: &Metadata,
	used: &UsedItems,
) -> Result<(), ChainError> {
	let mut differences = Vec::new();
	let mut compare =
		|what: String, expected: Option<[u8; 32]>, found: Option<[u8; 32]>| match (expected, found)
		{
			(None, _) => differences.push(format!("{what} is not in the relayer's own metadata")),
			(Some(_), None) => differences.push(format!("{what} is missing")),
			(Some(expected), Some(found)) if expected != found => {
				differences.push(format!("{what} has changed"))
			},
			_ => {},
		};
	for (pallet, call) in used.calls {
		let hash = |metadata: &Metadata| metadata.pallet_by_name(pallet)?.call_hash(call);
		compare(format!("call {pallet}.{call}"), hash(expected), hash(chain));
	}
	for (pallet, entry) in used.storage {
		let hash = |metadata: &Metadata| metadata.pallet_by_name(pallet)?.storage_hash(entry);
		compare(format!("storage {pallet}.{entry}"), hash(expected), hash(chain));
	}
	for (pallet, constant) in used.constants {
		let hash = |metadata: &Metadata| metadata.pallet_by_name(pallet)?.constant_hash(constant);
		compare(format!("constant {pallet}.{constant}"), hash(expected), hash(chain));
	}
	for (api, method) in used.runtime_apis {
		let hash = |metadata: &Metadata| {
			Some(metadata.runtime_api_trait_by_name(api)?.method_by_name(method)?.hash())
		};
		compare(format!("runtime API {api}_{method}"), hash(expected), hash(chain));
	}
	if differences.is_empty() {
		Ok(())
	} else {
		Err(ChainError::IncompatibleRuntime(format!(
			"the chain's runtime is not the one this relayer was built for ({}); run a relayer built from the chain's release",
			differences.join("; ")
		)))
	}
}

/// The relayer's own metadata (the checked-in file the code was generated from).
pub fn own_metadata() -> Metadata {
	use codec::Decode;
	Metadata::decode(&mut &include_bytes!("../metadata/tapchain.scale")[..])
		.expect("the checked-in metadata decodes: the code generated from it compiled")
}

/// A live connection, and the best block it last read at.
struct Connection {
	client: OnlineClient<Config>,
	rpc: LegacyRpcMethods<subxt::config::RpcConfigFor<Config>>,
	/// The best block of the last read, reused while it is still the best (saves asking the
	/// node for its runtime version each time).
	at: Mutex<Option<(H256, Arc<AtBlock>)>>,
	/// The spec version whose metadata was checked against the relayer's.
	checked_spec_version: Mutex<Option<u32>>,
}

/// A Tapchain node and the account the relayer signs with. It connects on first use and
/// again after the connection failed, so a node that restarts is ridden out.
pub struct TapchainClient {
	url: String,
	signer: Keypair,
	runtime: tokio::runtime::Runtime,
	connection: Mutex<Option<Arc<Connection>>>,
	own_metadata: Metadata,
}

impl TapchainClient {
	/// `url` is the node's RPC address, `ws://127.0.0.1:9944` or `wss://` (`http(s)://` is
	/// taken for `ws(s)://`: the node serves both on one port).
	pub fn new(url: &str, signer: Keypair) -> Result<Self, ChainError> {
		let url = match url.split_once("://") {
			Some(("http", rest)) => format!("ws://{rest}"),
			Some(("https", rest)) => format!("wss://{rest}"),
			Some(("ws" | "wss", rest)) if !rest.is_empty() => url.to_string(),
			_ => {
				return Err(ChainError::Rpc(format!(
					"'{url}' is not a ws://, wss://, http:// or https:// URL"
				)))
			},
		};
		let runtime = tokio::runtime::Builder::new_current_thread()
			.enable_all()
			.build()
			.map_err(|e| ChainError::Rpc(format!("cannot start the async runtime: {e}")))?;
		Ok(TapchainClient {
			url,
			signer,
			runtime,
			connection: Mutex::new(None),
			own_metadata: own_metadata(),
		})
	}

	/// The relayer's account.
	pub fn account(&self) -> AccountId32 {
		self.signer.public_key().to_account_id()
	}

	/// The node's URL, for logs.
	pub fn endpoint(&self) -> String {
		self.url.clone()
	}

	fn block_on<F: Future>(&self, future: F) -> F::Output {
		self.runtime.block_on(future)
	}

	/// The connection, opened if there is none.
	fn connection(&self) -> Result<Arc<Connection>, ChainError> {
		if let Some(connection) = self.connection.lock().expect("not poisoned").as_ref() {
			return Ok(connection.clone());
		}
		let connection = self.block_on(async {
			let rpc_client = RpcClient::from_insecure_url(&self.url).await.map_err(rpc_error)?;
			let backend = LegacyBackend::<Config>::builder().build(rpc_client.clone());
			let client = OnlineClient::from_backend(Arc::new(backend)).await.map_err(rpc_error)?;
			Ok::<_, ChainError>(Connection {
				client,
				rpc: LegacyRpcMethods::new(rpc_client),
				at: Mutex::new(None),
				checked_spec_version: Mutex::new(None),
			})
		})?;
		let connection = Arc::new(connection);
		*self.connection.lock().expect("not poisoned") = Some(connection.clone());
		Ok(connection)
	}

	/// Runs `read` at the best block. A failure of the connection drops it (the next call
	/// reconnects); a runtime the relayer does not fit is refused before anything is read.
	fn at_best<T, F, Fut>(&self, read: F) -> Result<T, ChainError>
	where
		F: FnOnce(Arc<AtBlock>) -> Fut,
		Fut: Future<Output = Result<T, ChainError>>,
	{
		let connection = self.connection()?;
		let result = self.block_on(async {
			let at = self.best_block(&connection).await?;
			read(at).await
		});
		self.forget_connection_after(result)
	}

	/// Passes `result` on, dropping the connection if the node failed (the next call
	/// reconnects).
	fn forget_connection_after<T>(&self, result: Result<T, ChainError>) -> Result<T, ChainError> {
		if matches!(result, Err(ChainError::Rpc(_))) {
			*self.connection.lock().expect("not poisoned") = None;
		}
		result
	}

	async fn best_block(&self, connection: &Connection) -> Result<Arc<AtBlock>, ChainError> {
		let hash = connection
			.rpc
			.chain_get_block_hash(None)
			.await
			.map_err(rpc_error)?
			.ok_or_else(|| ChainError::BadReply("the node has no best block".into()))?;
		if let Some((cached, at)) = connection.at.lock().expect("not poisoned").as_ref() {
			if *cached == hash {
				return Ok(at.clone());
			}
		}
		let at = Arc::new(connection.client.at_block(hash).await.map_err(rpc_error)?);
		let spec_version = at.spec_version();
		let mut checked = connection.checked_spec_version.lock().expect("not poisoned");
		if *checked != Some(spec_version) {
			check_compatibility(&self.own_metadata, &at.metadata(), &USED_BY_THE_RELAYER).map_err(
				|error| match error {
					ChainError::IncompatibleRuntime(message) => ChainError::IncompatibleRuntime(
						format!("node at {} (spec version {spec_version}): {message}", self.url),
					),
					other => other,
				},
			)?;
			*checked = Some(spec_version);
		}
		*connection.at.lock().expect("not poisoned") = Some((hash, at.clone()));
		Ok(at)
	}

	/// The Bitcoin network the light client follows.
	pub fn bitcoin_network(&self) -> Result<Network, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_light_client().bitcoin_network();
			let value = at.storage().fetch(address, ()).await.map_err(rpc_error)?;
			let Static(network) = value.decode().map_err(bad_reply("bitcoin network"))?;
			Ok(network)
		})
	}

	/// Confirmations the bridge requires of deposits and withdrawal transactions.
	pub fn required_confirmations(&self) -> Result<u32, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_bridge().required_confirmations();
			let value = at.storage().fetch(address, ()).await.map_err(rpc_error)?;
			value.decode().map_err(bad_reply("required confirmations"))
		})
	}

	/// Most headers one `submit_headers` takes.
	pub fn max_headers_per_submission(&self) -> Result<u32, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::constants().btc_light_client().max_headers_per_submission();
			at.constants().entry(address).map_err(bad_reply("max headers per submission"))
		})
	}

	/// Whether the bridge has recorded this output (credited or unclaimed).
	pub fn deposit_recorded(&self, txid: Txid, vout: u32) -> Result<bool, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_bridge().deposits();
			let key = (Static(OutPoint { txid, vout }),);
			Ok(at.storage().try_fetch(address, key).await.map_err(rpc_error)?.is_some())
		})
	}

	/// Whether `txid` is one of the bridge's own transactions (a payout or sweep: its change
	/// to the custody address is not a deposit).
	pub fn is_bridge_transaction(&self, txid: Txid) -> Result<bool, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_bridge().proposal_by_txid();
			Ok(at.storage().try_fetch(address, (Static(txid),)).await.map_err(rpc_error)?.is_some())
		})
	}

	/// Every custody UTXO the bridge holds now: the coins only an approved transaction may
	/// spend.
	pub fn bridge_utxos(&self) -> Result<Vec<OutPoint>, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_bridge().utxos();
			let mut entries = at.storage().iter(address, ()).await.map_err(rpc_error)?;
			let mut outpoints = Vec::new();
			while let Some(entry) = entries.next().await {
				let entry = entry.map_err(rpc_error)?;
				let (Static(outpoint),) = entry
					.key()
					.map_err(bad_reply("bridge UTXO key"))?
					.decode()
					.map_err(bad_reply("bridge UTXO key"))?;
				outpoints.push(outpoint);
			}
			Ok(outpoints)
		})
	}

	/// Whether `outpoint` is one of the bridge's custody UTXOs now.
	pub fn is_bridge_utxo(&self, outpoint: OutPoint) -> Result<bool, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_bridge().utxos();
			Ok(at
				.storage()
				.try_fetch(address, (Static(outpoint),))
				.await
				.map_err(rpc_error)?
				.is_some())
		})
	}

	/// Whether the theft by `txid` is proven already.
	pub fn theft_proven(&self, txid: Txid) -> Result<bool, ChainError> {
		self.at_best(|at| async move {
			let address = runtime::storage().btc_bridge().proven_thefts();
			Ok(at.storage().try_fetch(address, (Static(txid),)).await.map_err(rpc_error)?.is_some())
		})
	}

	/// The relayer account's nonce on chain (transactions included so far).
	pub fn account_nonce(&self) -> Result<u32, ChainError> {
		let account = self.account();
		self.at_best(|at| async move {
			let address = runtime::storage().system().account();
			let value = at.storage().fetch(address, (account,)).await.map_err(rpc_error)?;
			Ok(value.decode().map_err(bad_reply("account"))?.nonce)
		})
	}

	/// The light client's best tip; `None` before it is initialized.
	pub fn light_client_tip(&self) -> Result<Option<LightClientTip>, ChainError> {
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_light_client_api().best_tip();
			let tip = at.runtime_apis().call(call).await.map_err(rpc_error)?;
			Ok(tip.map(|tip| LightClientTip {
				hash: bitcoin_block_hash(&tip.hash.0),
				height: tip.height,
			}))
		})
	}

	/// The height of a block the light client stores (best chain or fork); `None` if it
	/// stores no such block.
	pub fn light_client_height_of(
		&self,
		hash: &bitcoin::BlockHash,
	) -> Result<Option<u32>, ChainError> {
		let hash = chain_block_hash(hash);
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_light_client_api().height_of(Static(hash));
			at.runtime_apis().call(call).await.map_err(rpc_error)
		})
	}

	/// The header of the light client's best chain at `height`.
	pub fn light_client_header(&self, height: u32) -> Result<Option<BlockHeader>, ChainError> {
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_light_client_api().header_at(height);
			let header = at.runtime_apis().call(call).await.map_err(rpc_error)?;
			Ok(header.map(|Static(header)| header))
		})
	}

	/// Confirmations the light client counts for a transaction's inclusion proof; `None`
	/// when it refuses the proof (its block is not on the best chain, or unknown).
	pub fn confirmations(
		&self,
		raw_tx: &[u8],
		proof: MerkleProof,
		block_hash: &bitcoin::BlockHash,
	) -> Result<Option<u32>, ChainError> {
		let (raw_tx, block_hash) = (raw_tx.to_vec(), chain_block_hash(block_hash));
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_light_client_api().confirmations(
				raw_tx,
				proof,
				Static(block_hash),
			);
			Ok(at.runtime_apis().call(call).await.map_err(rpc_error)?.ok())
		})
	}

	/// Output scripts deposits are credited to: every live custody key's P2TR script, so a
	/// deposit to an address from before a rotation is proved too.
	pub fn deposit_scripts(&self) -> Result<Vec<Vec<u8>>, ChainError> {
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_bridge_api().deposit_scripts();
			let scripts = at.runtime_apis().call(call).await.map_err(rpc_error)?;
			Ok(scripts.into_iter().map(|(_epoch, script)| script).collect())
		})
	}

	/// Where a proposal stands; `None` if the chain does not know it.
	pub fn proposal_stage(&self, id: u64) -> Result<Option<ProposalStage>, ChainError> {
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_bridge_api().proposal(id);
			let proposal = at.runtime_apis().call(call).await.map_err(rpc_error)?;
			Ok(proposal.map(|proposal| ProposalStage::of(&proposal.status)))
		})
	}

	/// Every signed transaction in flight, newest first (the proposal in flight and the
	/// transactions its fee bumps replace).
	pub fn signed_in_flight(&self) -> Result<Vec<(u64, bitcoin::Transaction)>, ChainError> {
		self.at_best(|at| async move {
			let call = runtime::runtime_apis().btc_bridge_api().signed_in_flight();
			let signed = at.runtime_apis().call(call).await.map_err(rpc_error)?;
			signed
				.into_iter()
				.map(|(id, raw)| {
					bitcoin::consensus::deserialize::<bitcoin::Transaction>(&raw)
						.map(|tx| (id, tx))
						.map_err(|e| ChainError::BadReply(format!("signed transaction {id}: {e}")))
				})
				.collect()
		})
	}

	/// Submits headers, parents first.
	pub fn submit_headers(&self, headers: Vec<BlockHeader>) -> Result<u32, ChainError> {
		let headers = BoundedVec(headers.into_iter().map(Static).collect());
		self.submit(&runtime::tx().btc_light_client().submit_headers(headers))
	}

	/// Proves a deposit: its transaction, inclusion proof and block.
	pub fn submit_deposit(
		&self,
		raw_tx: Vec<u8>,
		proof: MerkleProof,
		block_hash: &bitcoin::BlockHash,
	) -> Result<u32, ChainError> {
		let block_hash = Static(chain_block_hash(block_hash));
		self.submit(&runtime::tx().btc_bridge().submit_deposit(raw_tx, proof, block_hash))
	}

	/// Proves that a proposal's transaction confirmed.
	pub fn submit_withdrawal_proof(
		&self,
		proposal_id: u64,
		raw_tx: Vec<u8>,
		proof: MerkleProof,
		block_hash: &bitcoin::BlockHash,
	) -> Result<u32, ChainError> {
		let block_hash = Static(chain_block_hash(block_hash));
		self.submit(&runtime::tx().btc_bridge().submit_withdrawal_proof(
			proposal_id,
			raw_tx,
			proof,
			block_hash,
		))
	}

	/// Proves a theft: a transaction spending bridge UTXOs that no approved proposal made,
	/// with its inclusion proof and block (free of fees when accepted).
	pub fn report_theft(
		&self,
		raw_tx: Vec<u8>,
		proof: MerkleProof,
		block_hash: &bitcoin::BlockHash,
	) -> Result<u32, ChainError> {
		let block_hash = Static(chain_block_hash(block_hash));
		self.submit(&runtime::tx().btc_bridge().report_theft(raw_tx, proof, block_hash))
	}

	/// Signs `call` with the relayer's account (next nonce, counting the pool) and submits
	/// it; returns the nonce used. Spec and transaction versions, the genesis hash, the call's
	/// indices and the transaction extensions are the chain's own.
	fn submit<Call: subxt::transactions::Payload>(&self, call: &Call) -> Result<u32, ChainError> {
		let connection = self.connection()?;
		let account = self.account();
		let result = self.block_on(async {
			let at = self.best_block(&connection).await?;
			let nonce =
				connection.rpc.system_account_next_index(&account).await.map_err(rpc_error)?;
			let params = DefaultExtrinsicParamsBuilder::<Config>::new().nonce(nonce).build();
			at.tx().sign_and_submit(call, &self.signer, params).await.map_err(rpc_error)?;
			Ok(nonce as u32)
		});
		self.forget_connection_after(result)
	}
}

fn bad_reply<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> ChainError {
	move |error| ChainError::BadReply(format!("{what}: {error}"))
}

/// The chain's block hash type for the `bitcoin` crate's (same bytes, internal order).
pub fn chain_block_hash(hash: &bitcoin::BlockHash) -> BlockHash {
	use bitcoin::hashes::Hash;
	BlockHash(hash.to_byte_array())
}

fn bitcoin_block_hash(hash: &BlockHash) -> bitcoin::BlockHash {
	use bitcoin::hashes::Hash;
	bitcoin::BlockHash::from_byte_array(hash.0)
}

/// A Merkle proof as the chain's calls and runtime APIs take it.
pub fn merkle_proof(tx_index: u32, branch: Vec<[u8; 32]>) -> MerkleProof {
	MerkleProof { tx_index, branch: BoundedVec(branch) }
}

#[cfg(test)]
mod tests {
	use super::*;
	use codec::Decode;
	use subxt::ext::frame_metadata::{
		v16::RuntimeMetadataV16, RuntimeMetadata, RuntimeMetadataPrefixed,
	};

	/// The checked-in metadata, altered by `change`, as a chain would serve it.
	fn altered(change: impl FnOnce(&mut RuntimeMetadataV16)) -> Metadata {
		let mut prefixed =
			RuntimeMetadataPrefixed::decode(&mut &include_bytes!("../metadata/tapchain.scale")[..])
				.unwrap();
		let RuntimeMetadata::V16(metadata) = &mut prefixed.1 else {
			panic!("the checked-in metadata is V16")
		};
		change(metadata);
		Metadata::try_from(prefixed).unwrap()
	}

	#[test]
	fn node_urls_are_websocket_urls_with_or_without_tls() {
		let url = |url: &str| {
			TapchainClient::new(url, subxt_signer::sr25519::dev::bob()).map(|c| c.endpoint())
		};
		assert_eq!(url("http://127.0.0.1:9944"), Ok("ws://127.0.0.1:9944".into()));
		assert_eq!(url("https://rpc.example:443"), Ok("wss://rpc.example:443".into()));
		assert_eq!(url("ws://127.0.0.1:9944"), Ok("ws://127.0.0.1:9944".into()));
		assert_eq!(url("wss://rpc.example"), Ok("wss://rpc.example".into()));
		for bad in ["ftp://x", "wss://", "127.0.0.1:9944"] {
			assert!(matches!(url(bad), Err(ChainError::Rpc(_))), "{bad} refused");
		}
	}

	#[test]
	fn the_relayers_own_metadata_has_everything_it_uses() {
		let own = own_metadata();
		assert_eq!(check_compatibility(&own, &own, &USED_BY_THE_RELAYER), Ok(()));
		// A name the relayer's metadata lacks is a defect of the relayer, and named.
		let used = UsedItems {
			calls: &[("BtcBridge", "no_such_call")],
			storage: &[],
			constants: &[],
			runtime_apis: &[],
		};
		let error = check_compatibility(&own, &own, &used).unwrap_err().to_string();
		assert!(
			error.contains("call BtcBridge.no_such_call is not in the relayer's own metadata"),
			"{error}"
		);
	}

	#[test]
	fn a_runtime_that_changed_what_the_relayer_uses_is_refused_with_the_names() {
		let chain = altered(|metadata| {
			// A storage value of another type, a storage map gone, a runtime API method gone.
			let light_client =
				metadata.pallets.iter().find(|p| p.name == "BtcLightClient").unwrap();
			let mut network_type = light_client.storage.as_ref().unwrap().entries.iter();
			let network_type =
				network_type.find(|e| e.name == "BitcoinNetwork").unwrap().ty.clone();
			let bridge = metadata.pallets.iter_mut().find(|p| p.name == "BtcBridge").unwrap();
			let storage = bridge.storage.as_mut().unwrap();
			storage.entries.iter_mut().find(|e| e.name == "RequiredConfirmations").unwrap().ty =
				network_type;
			storage.entries.retain(|e| e.name != "ProposalByTxid");
			let api = metadata.apis.iter_mut().find(|a| a.name == "BtcLightClientApi").unwrap();
			api.methods.retain(|m| m.name != "best_tip");
		});
		let error = check_compatibility(&own_metadata(), &chain, &USED_BY_THE_RELAYER).unwrap_err();
		let ChainError::IncompatibleRuntime(message) = &error else {
			panic!("not an incompatibility: {error:?}")
		};
		for named in [
			"storage BtcBridge.RequiredConfirmations has changed",
			"storage BtcBridge.ProposalByTxid is missing",
			"runtime API BtcLightClientApi_best_tip is missing",
		] {
			assert!(message.contains(named), "{named} not in: {message}");
		}
		assert!(!message.contains("Deposits"), "an unchanged entry is not named: {message}");
		// The relayer stops on it instead of retrying.
		assert!(matches!(crate::RelayError::from(error), crate::RelayError::Fatal(_)));
	}

	#[test]
	fn a_runtime_that_moved_indices_or_changed_what_the_relayer_does_not_use_is_accepted() {
		let chain = altered(|metadata| {
			for pallet in &mut metadata.pallets {
				pallet.index += 1;
			}
			let timestamp = metadata.pallets.iter_mut().find(|p| p.name == "Timestamp").unwrap();
			timestamp.storage.as_mut().unwrap().entries.clear();
			metadata.apis.retain(|api| api.name != "BtcCustodyApi");
		});
		assert_eq!(check_compatibility(&own_metadata(), &chain, &USED_BY_THE_RELAYER), Ok(()));
	}
}
