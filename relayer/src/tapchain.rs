//! A client of a Tapchain node's RPC (JSON-RPC over HTTP on the node's RPC port): the light
//! client's and the bridge's view, storage reads, and signed extrinsics from the relayer's
//! account.

use crate::bitcoind::{BitcoindError, JsonRpcHttp};
use codec::{Decode, Encode};
use serde_json::{json, Value};
use sp_core::{crypto::Pair as _, sr25519, H256};
use tapchain_primitives::bitcoin::Network;
use tapchain_runtime::{Runtime, RuntimeCall};

/// Why a call to the Tapchain node failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
	/// Transport or RPC error (the node's message is kept).
	Rpc(BitcoindError),
	/// A reply that does not have the expected shape.
	BadReply(String),
}

impl std::fmt::Display for ChainError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			ChainError::Rpc(BitcoindError::Rpc { code, message }) => {
				write!(f, "node RPC error {code}: {message}")
			},
			ChainError::Rpc(error) => write!(f, "node RPC: {error}"),
			ChainError::BadReply(message) => write!(f, "unexpected reply from the node: {message}"),
		}
	}
}

impl std::error::Error for ChainError {}

impl From<BitcoindError> for ChainError {
	fn from(error: BitcoindError) -> Self {
		ChainError::Rpc(error)
	}
}

/// The light client's best tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClientTip {
	pub hash: bitcoin::BlockHash,
	pub height: u32,
}

/// The proposal in flight, as `bridge_activeProposal` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProposal {
	pub id: u64,
	pub status: String,
	pub txid: bitcoin::Txid,
}

/// A Tapchain node and the account the relayer signs with.
pub struct TapchainClient {
	rpc: JsonRpcHttp,
	signer: sr25519::Pair,
	genesis_hash: Option<H256>,
}

fn hex_of(value: &Value, what: &str) -> Result<Vec<u8>, ChainError> {
	let text = value.as_str().ok_or_else(|| ChainError::BadReply(format!("{what}: {value}")))?;
	hex::decode(text.trim_start_matches("0x"))
		.map_err(|e| ChainError::BadReply(format!("{what}: {e}")))
}

impl TapchainClient {
	/// `url` is the node's RPC address, `http://127.0.0.1:9944` (`ws://` is taken for
	/// `http://`: the node serves both on one port).
	pub fn new(url: &str, signer: sr25519::Pair) -> Result<Self, BitcoindError> {
		let url = match url.strip_prefix("ws://") {
			Some(rest) => format!("http://{rest}"),
			None => url.to_string(),
		};
		Ok(TapchainClient { rpc: JsonRpcHttp::from_url(&url, "2.0")?, signer, genesis_hash: None })
	}

	/// The relayer's account.
	pub fn account(&self) -> tapchain_runtime::AccountId {
		self.signer.public().into()
	}

	/// `host:port`, for logs.
	pub fn endpoint(&self) -> String {
		self.rpc.endpoint()
	}

	/// Calls an RPC method.
	pub fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
		Ok(self.rpc.call(method, params)?)
	}

	/// Whether a storage value exists at the best block.
	pub fn storage_exists(&self, key: &[u8]) -> Result<bool, ChainError> {
		let value = self.call("state_getStorage", json!([format!("0x{}", hex::encode(key))]))?;
		Ok(!value.is_null())
	}

	/// A storage value at the best block, SCALE-decoded; `None` if absent.
	pub fn storage<T: Decode>(&self, key: &[u8]) -> Result<Option<T>, ChainError> {
		let value = self.call("state_getStorage", json!([format!("0x{}", hex::encode(key))]))?;
		if value.is_null() {
			return Ok(None);
		}
		let bytes = hex_of(&value, "storage value")?;
		T::decode(&mut bytes.as_slice())
			.map(Some)
			.map_err(|e| ChainError::BadReply(format!("storage value does not decode: {e}")))
	}

	/// The Bitcoin network the light client follows.
	pub fn bitcoin_network(&self) -> Result<Network, ChainError> {
		let key = pallet_btc_light_client::BitcoinNetwork::<Runtime>::hashed_key();
		Ok(self.storage(&key)?.unwrap_or_default())
	}

	/// Confirmations the bridge requires of deposits and withdrawal transactions.
	pub fn required_confirmations(&self) -> Result<u32, ChainError> {
		let key = pallet_btc_bridge::RequiredConfirmations::<Runtime>::hashed_key();
		Ok(self.storage(&key)?.unwrap_or_default())
	}

	/// Whether the bridge has recorded this output (credited or unclaimed).
	pub fn deposit_recorded(&self, txid: [u8; 32], vout: u32) -> Result<bool, ChainError> {
		let outpoint = tapchain_primitives::bitcoin::OutPoint {
			txid: tapchain_primitives::bitcoin::Txid(txid),
			vout,
		};
		self.storage_exists(&pallet_btc_bridge::Deposits::<Runtime>::hashed_key_for(outpoint))
	}

	/// Whether `txid` is one of the bridge's own transactions (a payout or sweep: its change
	/// to the custody address is not a deposit).
	pub fn is_bridge_transaction(&self, txid: [u8; 32]) -> Result<bool, ChainError> {
		self.storage_exists(&pallet_btc_bridge::ProposalByTxid::<Runtime>::hashed_key_for(
			tapchain_primitives::bitcoin::Txid(txid),
		))
	}

	/// The light client's best tip; `None` before it is initialized.
	pub fn light_client_tip(&self) -> Result<Option<LightClientTip>, ChainError> {
		let tip = self.call("btc_bestTip", json!([]))?;
		if tip.is_null() {
			return Ok(None);
		}
		let hash = tip["hash"]
			.as_str()
			.and_then(|hash| hash.parse().ok())
			.ok_or_else(|| ChainError::BadReply(format!("tip: {tip}")))?;
		let height =
			tip["height"].as_u64().ok_or_else(|| ChainError::BadReply(format!("tip: {tip}")))?;
		Ok(Some(LightClientTip { hash, height: height as u32 }))
	}

	/// The header of the light client's best chain at `height`.
	pub fn light_client_header(&self, height: u32) -> Result<Option<Vec<u8>>, ChainError> {
		let header = self.call("btc_headerAt", json!([height]))?;
		if header.is_null() {
			return Ok(None);
		}
		hex_of(&header, "header").map(Some)
	}

	/// Confirmations the light client counts for a transaction's inclusion proof; `None`
	/// when it refuses the proof (its block is not on the best chain, or unknown).
	pub fn confirmations(
		&self,
		raw_tx: &[u8],
		tx_index: u32,
		branch: &[[u8; 32]],
		block_hash: &bitcoin::BlockHash,
	) -> Result<Option<u32>, ChainError> {
		let branch: Vec<String> =
			branch.iter().map(|node| format!("0x{}", hex::encode(node))).collect();
		match self.call(
			"btc_confirmations",
			json!([format!("0x{}", hex::encode(raw_tx)), tx_index, branch, block_hash.to_string()]),
		) {
			Ok(value) => Ok(value.as_u64().map(|c| c as u32)),
			// The proof was refused: not (yet) on the light client's best chain.
			Err(ChainError::Rpc(BitcoindError::Rpc { code: 9001, .. })) => Ok(None),
			Err(error) => Err(error),
		}
	}

	/// Output scripts deposits are credited to: every live custody key's P2TR script, so a
	/// deposit to an address from before a rotation is proved too.
	pub fn deposit_scripts(&self) -> Result<Vec<Vec<u8>>, ChainError> {
		let scripts = self.call("bridge_depositScripts", json!([]))?;
		let scripts = scripts
			.as_array()
			.ok_or_else(|| ChainError::BadReply(format!("deposit scripts: {scripts}")))?;
		scripts.iter().map(|script| hex_of(&script["scriptPubKey"], "scriptPubKey")).collect()
	}

	/// The bridge's proposal in flight.
	pub fn active_proposal(&self) -> Result<Option<ActiveProposal>, ChainError> {
		let proposal = self.call("bridge_activeProposal", json!([]))?;
		if proposal.is_null() {
			return Ok(None);
		}
		let field = |name: &str| {
			proposal[name]
				.as_str()
				.map(str::to_string)
				.ok_or_else(|| ChainError::BadReply(format!("proposal {name}: {proposal}")))
		};
		Ok(Some(ActiveProposal {
			id: proposal["id"]
				.as_u64()
				.ok_or_else(|| ChainError::BadReply(format!("{proposal}")))?,
			status: field("status")?,
			txid: field("txid")?
				.parse()
				.map_err(|e| ChainError::BadReply(format!("proposal txid: {e}")))?,
		}))
	}

	/// A proposal's status (`signed`, `confirmed`, ...); `None` if unknown.
	pub fn proposal_status(&self, id: u64) -> Result<Option<String>, ChainError> {
		let proposal = self.call("bridge_proposal", json!([id]))?;
		Ok(proposal["status"].as_str().map(str::to_string))
	}

	/// The signed transaction of a proposal, once signed.
	pub fn signed_transaction(&self, id: u64) -> Result<Option<bitcoin::Transaction>, ChainError> {
		let signed = self.call("bridge_signedTransaction", json!([id]))?;
		signed["hex"]
			.as_str()
			.map(|raw| {
				bitcoin::consensus::encode::deserialize_hex(raw)
					.map_err(|e| ChainError::BadReply(format!("signed transaction {id}: {e}")))
			})
			.transpose()
	}

	fn genesis_hash(&mut self) -> Result<H256, ChainError> {
		if let Some(hash) = self.genesis_hash {
			return Ok(hash);
		}
		let bytes = hex_of(&self.call("chain_getBlockHash", json!([0]))?, "genesis hash")?;
		if bytes.len() != 32 {
			return Err(ChainError::BadReply("genesis hash is not 32 bytes".into()));
		}
		let hash = H256::from_slice(&bytes);
		self.genesis_hash = Some(hash);
		Ok(hash)
	}

	/// The relayer account's nonce on chain (transactions included so far).
	pub fn account_nonce(&self) -> Result<u32, ChainError> {
		let key = frame_system::Account::<Runtime>::hashed_key_for(self.account());
		// `AccountInfo` starts with the nonce.
		Ok(self.storage::<tapchain_runtime::Nonce>(&key)?.unwrap_or_default())
	}

	/// Signs `call` with the relayer's account (next nonce, counting the pool) and submits
	/// it; returns the nonce used. The spec and transaction versions signed are the
	/// chain's own, so a runtime upgrade that keeps the call's encoding needs no new relayer.
	pub fn submit(&mut self, call: RuntimeCall) -> Result<u32, ChainError> {
		let account = self.account();
		let nonce = self
			.call("system_accountNextIndex", json!([account.to_string()]))?
			.as_u64()
			.ok_or_else(|| ChainError::BadReply("nonce is not a number".into()))?;
		let version = self.call("state_getRuntimeVersion", json!([]))?;
		let genesis = self.genesis_hash()?;
		let extension = tapchain_runtime::native_tx_extension(nonce as u32);
		let mut implicit = tapchain_runtime::native_tx_implicit(genesis);
		implicit.1 = version["specVersion"].as_u64().unwrap_or(implicit.1 as u64) as u32;
		implicit.2 = version["transactionVersion"].as_u64().unwrap_or(implicit.2 as u64) as u32;
		let payload =
			tapchain_runtime::SignedPayload::from_raw(call.clone(), extension.clone(), implicit);
		let signature = payload.using_encoded(|bytes| self.signer.sign(bytes));
		let extrinsic: tapchain_runtime::UncheckedExtrinsic =
			sp_runtime::generic::UncheckedExtrinsic::new_signed(
				call,
				account.into(),
				signature.into(),
				extension,
			)
			.into();
		self.call(
			"author_submitExtrinsic",
			json!([format!("0x{}", hex::encode(extrinsic.encode()))]),
		)?;
		Ok(nonce as u32)
	}
}
