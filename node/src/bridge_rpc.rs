//! `bridge_*` RPC methods: the deposit address, withdrawal status, the proposal in flight
//! and signed transactions (raw hex and PSBT) for wallets and relayers.
//!
//! Txids are in Bitcoin's display order (as bitcoind shows them); transactions are hex in
//! serialized order; PSBTs are base64 (BIP-174), as `bitcoin-cli decodepsbt` takes them.

use base64::Engine as _;
use bitcoin::{
	consensus::deserialize, key::TweakedPublicKey, psbt::Psbt, Amount, ScriptBuf, Transaction,
	TxOut, Witness, XOnlyPublicKey,
};
use jsonrpsee::{
	core::RpcResult,
	proc_macros::rpc,
	types::error::{ErrorObject, ErrorObjectOwned},
};
use pallet_btc_bridge::{
	runtime_api::BtcBridgeApi as RuntimeApi, ProposalKind, ProposalStatus, WithdrawalStatus,
};
use serde::{Deserialize, Serialize};
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_core::Bytes;
use std::sync::Arc;
use tapchain_primitives::bridge::DepositRecipient;
use tapchain_runtime::{opaque::Block, AccountId, BlockNumber, Runtime};

type Hash = <Block as sp_runtime::traits::Block>::Hash;

/// Where to deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositAddress {
	/// Custody key epoch.
	pub epoch: u32,
	/// bech32m P2TR address.
	pub address: String,
	/// Taproot output key, hex.
	pub output_key: String,
	/// Output script, hex.
	pub script_pub_key: String,
	/// Smallest deposit credited.
	pub min_deposit_sats: u64,
	/// How to name the recipient.
	pub memo_format: String,
}

/// An output script the bridge credits deposits to: a live custody key's P2TR script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositScript {
	/// Custody key epoch.
	pub epoch: u32,
	/// Output script, hex.
	pub script_pub_key: String,
}

/// A vault's current key, and how much more it may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultView {
	/// Custody key epoch of the vault's current key.
	pub epoch: u32,
	/// bech32m P2TR address of that key.
	pub address: String,
	/// What it may hold: its members' backing stake times the governed ratio.
	pub capacity_sats: u64,
	/// What the bridge's UTXOs of this key hold.
	pub holdings_sats: u64,
	/// Room left under the capacity.
	pub free_sats: u64,
	/// Holdings above the capacity (rebalancing moves them).
	pub over_capacity_sats: u64,
}

/// A withdrawal and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawalView {
	pub id: u64,
	/// Owner account, hex.
	pub owner: String,
	pub address: String,
	pub amount_sats: u64,
	/// `queued`, `proposed`, `signed`, `paid` or `refunded`.
	pub status: String,
	pub proposal_id: Option<u64>,
	/// Txid of the transaction paying it (display order), once proposed.
	pub txid: Option<String>,
	pub requested_at: BlockNumber,
}

/// A transaction proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalView {
	pub id: u64,
	/// `payout` or `sweep`.
	pub kind: String,
	/// `voting`, `approved`, `signing`, `signed`, `confirmed`, `rejected`, `expired` or
	/// `cancelled`.
	pub status: String,
	pub txid: String,
	/// The unsigned transaction, hex.
	pub unsigned_tx: String,
	pub withdrawals: Vec<u64>,
	pub fee_sats: u64,
	pub fee_rate_sat_per_vb: u64,
	pub vsize: u64,
	pub approvals: u32,
	pub rejections: u32,
}

/// The bridge's books, in sats: custody UTXOs and the theft shortfall add up to `issued +
/// pendingWithdrawals + unclaimed + reserve + reserveCommitted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackingView {
	/// Sum of the custody UTXOs.
	pub utxo_sats: u64,
	/// What the approved transaction in flight pays out of custody.
	pub in_flight_outflow_sats: u64,
	/// Bridged BTC outstanding.
	pub issued_sats: u64,
	/// Burned by withdrawals not yet paid or refunded.
	pub pending_withdrawal_sats: u64,
	/// Deposits recorded without credit.
	pub unclaimed_sats: u64,
	/// The fee reserve (pays sweep fees and dust change).
	pub reserve_sats: u64,
	/// The reserve committed to the transaction in flight.
	pub reserve_committed_sats: u64,
	/// Proven stolen and not made good by slashing the key's members: `utxoSats +
	/// theftShortfallSats` is the books' total.
	pub theft_shortfall_sats: u64,
}

/// A signed bridge transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedTransaction {
	pub txid: String,
	/// Raw transaction, hex: what `sendrawtransaction` takes.
	pub hex: String,
	/// The same transaction as a finalized PSBT (base64) with every spent output.
	pub psbt: String,
}

/// RPC error codes of the `bridge_*` methods.
pub mod error_code {
	/// A parameter could not be parsed.
	pub const INVALID_PARAMS: i32 = -32602;
	/// The runtime call failed.
	pub const RUNTIME: i32 = 9000;
	/// The address is not one this chain can pay.
	pub const BAD_ADDRESS: i32 = 9010;
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
	ErrorObject::owned(error_code::INVALID_PARAMS, message.into(), None::<()>)
}

fn runtime_error(error: impl std::fmt::Debug) -> ErrorObjectOwned {
	ErrorObject::owned(error_code::RUNTIME, format!("runtime call failed: {error:?}"), None::<()>)
}

/// The `bridge_*` methods.
#[rpc(server)]
pub trait BridgeRpc {
	/// The P2TR address deposits pay now, and the memo format.
	#[method(name = "bridge_depositAddress")]
	fn deposit_address(&self, at: Option<Hash>) -> RpcResult<Option<DepositAddress>>;

	/// Every output script a deposit is credited to now (each live custody key, oldest
	/// first): what a relayer watches. Wallets should pay `bridge_depositAddress`.
	#[method(name = "bridge_depositScripts")]
	fn deposit_scripts(&self, at: Option<Hash>) -> RpcResult<Vec<DepositScript>>;

	/// Every vault's current key with its capacity, holdings and room, in vault order
	/// (`bridge_depositAddress` is the one with the most room).
	#[method(name = "bridge_vaults")]
	fn vaults(&self, at: Option<Hash>) -> RpcResult<Vec<VaultView>>;

	/// The OP_RETURN output script (hex) naming `recipient`: `0x` + 40 hex digits (an EVM
	/// address) or `0x` + 64 hex digits (a native account).
	#[method(name = "bridge_depositMemo")]
	fn deposit_memo(&self, recipient: String) -> RpcResult<Bytes>;

	/// Smallest withdrawal to `address` at today's fee rate, in sats.
	#[method(name = "bridge_minimumWithdrawal")]
	fn minimum_withdrawal(&self, address: String, at: Option<Hash>) -> RpcResult<u64>;

	/// A withdrawal by id.
	#[method(name = "bridge_withdrawal")]
	fn withdrawal(&self, id: u64, at: Option<Hash>) -> RpcResult<Option<WithdrawalView>>;

	/// The proposal in flight.
	#[method(name = "bridge_activeProposal")]
	fn active_proposal(&self, at: Option<Hash>) -> RpcResult<Option<ProposalView>>;

	/// The bridge's books: the bitcoin it holds and what it owes (sats).
	#[method(name = "bridge_backing")]
	fn backing(&self, at: Option<Hash>) -> RpcResult<BackingView>;

	/// A proposal by id.
	#[method(name = "bridge_proposal")]
	fn proposal(&self, id: u64, at: Option<Hash>) -> RpcResult<Option<ProposalView>>;

	/// A proposal's signed transaction, for broadcasting.
	#[method(name = "bridge_signedTransaction")]
	fn signed_transaction(
		&self,
		proposal_id: u64,
		at: Option<Hash>,
	) -> RpcResult<Option<SignedTransaction>>;
}

/// Serves the `bridge_*` methods from a client.
pub struct BridgeRpcServerImpl<C> {
	client: Arc<C>,
}

impl<C> BridgeRpcServerImpl<C> {
	pub fn new(client: Arc<C>) -> Self {
		Self { client }
	}
}

fn proposal_view(id: u64, proposal: &pallet_btc_bridge::Proposal<Runtime>) -> ProposalView {
	ProposalView {
		id,
		kind: match proposal.kind {
			ProposalKind::Payout => "payout".into(),
			ProposalKind::Sweep { .. } => "sweep".into(),
			ProposalKind::Rebalance { .. } => "rebalance".into(),
			ProposalKind::FeeBump { replaces } => format!("fee bump of {replaces}"),
		},
		status: match proposal.status {
			ProposalStatus::Voting { .. } => "voting",
			ProposalStatus::Approved => "approved",
			ProposalStatus::Signing => "signing",
			ProposalStatus::Signed => "signed",
			ProposalStatus::Confirmed { .. } => "confirmed",
			ProposalStatus::Rejected => "rejected",
			ProposalStatus::Expired => "expired",
			ProposalStatus::Cancelled => "cancelled",
			ProposalStatus::Superseded { .. } => "superseded",
			ProposalStatus::SpentByTheft => "spent by theft",
		}
		.into(),
		txid: proposal.txid.to_display_hex(),
		unsigned_tx: hex::encode(&proposal.unsigned_tx),
		withdrawals: proposal.payouts.iter().map(|(id, _)| *id).collect(),
		fee_sats: proposal.fee_sats,
		fee_rate_sat_per_vb: proposal.fee_rate_sat_per_vb,
		vsize: proposal.vsize,
		approvals: proposal.approvals,
		rejections: proposal.rejections,
	}
}

/// A finalized PSBT of `signed`, with every input's spent output (its amount and the output
/// key of its custody epoch) when the key is known.
pub fn finalized_psbt(
	signed: &Transaction,
	spent: &[(u64, Option<[u8; 32]>)],
) -> Result<Psbt, String> {
	let mut unsigned = signed.clone();
	for input in unsigned.input.iter_mut() {
		input.witness = Witness::new();
	}
	let mut psbt = Psbt::from_unsigned_tx(unsigned).map_err(|e| e.to_string())?;
	for ((input, signed_input), (sats, key)) in psbt.inputs.iter_mut().zip(&signed.input).zip(spent)
	{
		let script = key.and_then(|key| XOnlyPublicKey::from_slice(&key).ok()).map(|key| {
			ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(key))
		});
		if let Some(script) = script {
			input.witness_utxo =
				Some(TxOut { value: Amount::from_sat(*sats), script_pubkey: script });
		}
		input.final_script_witness = Some(signed_input.witness.clone());
	}
	Ok(psbt)
}

impl<C> BridgeRpcServer for BridgeRpcServerImpl<C>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: RuntimeApi<Block, AccountId, BlockNumber, pallet_btc_bridge::Proposal<Runtime>>,
{
	fn deposit_address(&self, at: Option<Hash>) -> RpcResult<Option<DepositAddress>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let info = self.client.runtime_api().deposit_address(at).map_err(runtime_error)?;
		Ok(info.map(|info| DepositAddress {
			epoch: info.epoch,
			address: String::from_utf8_lossy(&info.address).into_owned(),
			output_key: hex::encode(info.output_key),
			script_pub_key: hex::encode(&info.script_pubkey),
			min_deposit_sats: info.min_deposit_sats,
			memo_format: "one OP_RETURN output: 6a 16 5443 <20-byte EVM address> or \
			              6a 22 5443 <32-byte native account> (bridge_depositMemo builds it)"
				.into(),
		}))
	}

	fn deposit_scripts(&self, at: Option<Hash>) -> RpcResult<Vec<DepositScript>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let scripts = self.client.runtime_api().deposit_scripts(at).map_err(runtime_error)?;
		Ok(scripts
			.into_iter()
			.map(|(epoch, script)| DepositScript { epoch, script_pub_key: hex::encode(script) })
			.collect())
	}

	fn vaults(&self, at: Option<Hash>) -> RpcResult<Vec<VaultView>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let vaults = self.client.runtime_api().vault_capacities(at).map_err(runtime_error)?;
		Ok(vaults
			.into_iter()
			.map(|vault| VaultView {
				epoch: vault.epoch,
				address: String::from_utf8_lossy(&vault.address).into_owned(),
				capacity_sats: vault.capacity_sats,
				holdings_sats: vault.holdings_sats,
				free_sats: vault.capacity_sats.saturating_sub(vault.holdings_sats),
				over_capacity_sats: vault.holdings_sats.saturating_sub(vault.capacity_sats),
			})
			.collect())
	}

	fn backing(&self, at: Option<Hash>) -> RpcResult<BackingView> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let backing = self.client.runtime_api().backing(at).map_err(runtime_error)?;
		Ok(BackingView {
			utxo_sats: backing.utxo_sats,
			in_flight_outflow_sats: backing.in_flight_outflow_sats,
			issued_sats: backing.ledger.issued_sats,
			pending_withdrawal_sats: backing.ledger.pending_withdrawal_sats,
			unclaimed_sats: backing.ledger.unclaimed_sats,
			reserve_sats: backing.ledger.reserve_sats,
			reserve_committed_sats: backing.ledger.reserve_committed_sats,
			theft_shortfall_sats: backing.theft_shortfall_sats,
		})
	}

	fn deposit_memo(&self, recipient: String) -> RpcResult<Bytes> {
		let bytes = hex::decode(recipient.trim_start_matches("0x"))
			.map_err(|_| invalid_params("the recipient must be hex"))?;
		let recipient = match bytes.len() {
			20 => DepositRecipient::Evm(bytes.try_into().expect("20 bytes")),
			32 => DepositRecipient::Native(bytes.try_into().expect("32 bytes")),
			n => {
				return Err(invalid_params(format!(
					"a recipient is 20 bytes (EVM) or 32 bytes (native), not {n}"
				)))
			},
		};
		Ok(Bytes(recipient.memo_script()))
	}

	fn minimum_withdrawal(&self, address: String, at: Option<Hash>) -> RpcResult<u64> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		self.client
			.runtime_api()
			.minimum_withdrawal_sats(at, address.into_bytes())
			.map_err(runtime_error)?
			.map_err(|reason| {
				ErrorObject::owned(
					error_code::BAD_ADDRESS,
					format!("not an address this chain pays: {reason:?}"),
					None::<()>,
				)
			})
	}

	fn withdrawal(&self, id: u64, at: Option<Hash>) -> RpcResult<Option<WithdrawalView>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let api = self.client.runtime_api();
		let Some(withdrawal) = api.withdrawal(at, id).map_err(runtime_error)? else {
			return Ok(None);
		};
		let (status, proposal_id, txid) = match withdrawal.status {
			WithdrawalStatus::Queued => ("queued", None, None),
			WithdrawalStatus::Refunded => ("refunded", None, None),
			WithdrawalStatus::Paid { proposal_id, txid } => {
				("paid", Some(proposal_id), Some(txid.to_display_hex()))
			},
			WithdrawalStatus::Proposed { proposal_id } => {
				let proposal = api.proposal(at, proposal_id).map_err(runtime_error)?;
				let signed = proposal.as_ref().is_some_and(|p| p.status == ProposalStatus::Signed);
				(
					if signed { "signed" } else { "proposed" },
					Some(proposal_id),
					proposal.map(|p| p.txid.to_display_hex()),
				)
			},
		};
		Ok(Some(WithdrawalView {
			id,
			owner: format!(
				"0x{}",
				hex::encode(<AccountId as AsRef<[u8]>>::as_ref(&withdrawal.owner))
			),
			address: String::from_utf8_lossy(&withdrawal.address).into_owned(),
			amount_sats: withdrawal.amount_sats,
			status: status.into(),
			proposal_id,
			txid,
			requested_at: withdrawal.requested_at,
		}))
	}

	fn active_proposal(&self, at: Option<Hash>) -> RpcResult<Option<ProposalView>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let active = self.client.runtime_api().active_proposal(at).map_err(runtime_error)?;
		Ok(active.map(|(id, proposal)| proposal_view(id, &proposal)))
	}

	fn proposal(&self, id: u64, at: Option<Hash>) -> RpcResult<Option<ProposalView>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let proposal = self.client.runtime_api().proposal(at, id).map_err(runtime_error)?;
		Ok(proposal.map(|proposal| proposal_view(id, &proposal)))
	}

	fn signed_transaction(
		&self,
		proposal_id: u64,
		at: Option<Hash>,
	) -> RpcResult<Option<SignedTransaction>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let api = self.client.runtime_api();
		let Some(bytes) = api.signed_transaction(at, proposal_id).map_err(runtime_error)? else {
			return Ok(None);
		};
		let proposal = api
			.proposal(at, proposal_id)
			.map_err(runtime_error)?
			.ok_or_else(|| runtime_error("signed transaction without its proposal"))?;
		let epoch_keys = api
			.proposal_check(at, proposal_id)
			.map_err(runtime_error)?
			.map(|check| check.epoch_output_keys)
			.unwrap_or_default();
		let signed: Transaction = deserialize(&bytes).map_err(runtime_error)?;
		let spent: Vec<(u64, Option<[u8; 32]>)> = proposal
			.inputs
			.iter()
			.map(|(_, sats, epoch)| {
				(*sats, epoch_keys.iter().find(|(e, _)| e == epoch).map(|(_, key)| *key))
			})
			.collect();
		let psbt = finalized_psbt(&signed, &spent).map_err(runtime_error)?;
		Ok(Some(SignedTransaction {
			txid: signed.compute_txid().to_string(),
			hex: hex::encode(&bytes),
			psbt: base64::engine::general_purpose::STANDARD.encode(psbt.serialize()),
		}))
	}
}
