//! What wallets, relayers and validators' nodes ask the bridge.

use super::*;
use alloc::vec::Vec;
use codec::{Decode, Encode};
use frame_support::traits::Get;
use scale_info::TypeInfo;
use tapchain_primitives::bitcoin::OutPoint;
use tapchain_primitives::bitcoin::{address::p2tr_script_pubkey, AddressError, BitcoinAddress};

/// Where deposits go now.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct DepositAddress {
	/// The custody key epoch.
	pub epoch: u32,
	/// The Taproot output key.
	pub output_key: [u8; 32],
	/// The bech32m address for the light client's network.
	pub address: Vec<u8>,
	/// The P2TR output script.
	pub script_pubkey: Vec<u8>,
	/// Smallest deposit credited, in sats.
	pub min_deposit_sats: u64,
}

/// A vault's current key and how much it may still take.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct VaultCapacity {
	/// The vault's current custody key epoch.
	pub epoch: u32,
	/// Its Taproot output key.
	pub output_key: [u8; 32],
	/// Its bech32m address for the light client's network.
	pub address: Vec<u8>,
	/// What it may hold: its members' backing stake times the governed ratio, in sats.
	pub capacity_sats: u64,
	/// What the bridge's UTXOs of this key hold, in sats.
	pub holdings_sats: u64,
}

sp_api::decl_runtime_apis! {
	/// The bridge's state for wallets, relayers and validators.
	pub trait BtcBridgeApi<AccountId, BlockNumber, Proposal>
	where
		AccountId: codec::Codec,
		BlockNumber: codec::Codec,
		Proposal: codec::Codec,
	{
		/// The deposit address and minimum (memo format: `tapchain_primitives::bridge`).
		fn deposit_address() -> Option<DepositAddress>;
		/// The fee rate proposals use now, sat/vB.
		fn fee_rate() -> u64;
		/// Smallest withdrawal to `address` at today's fee rate, in sats.
		fn minimum_withdrawal_sats(address: Vec<u8>) -> Result<u64, AddressError>;
		/// A withdrawal request and its status.
		fn withdrawal(id: WithdrawalId) -> Option<Withdrawal<AccountId, BlockNumber>>;
		/// The proposal in flight.
		fn active_proposal() -> Option<(ProposalId, Proposal)>;
		/// A proposal by id.
		fn proposal(id: ProposalId) -> Option<Proposal>;
		/// What a validator checks before voting on a proposal.
		fn proposal_check(id: ProposalId) -> Option<ProposalCheck>;
		/// A proposal's signed transaction (raw bytes), for relayers to broadcast.
		fn signed_transaction(id: ProposalId) -> Option<Vec<u8>>;
		/// The bridge's record of a custody output.
		fn deposit(outpoint: OutPoint) -> Option<DepositRecord<AccountId>>;
		/// The bitcoin the bridge holds and what it owes (see [`BridgeLedger`]).
		fn backing() -> BridgeBacking;
		/// Output scripts of every live custody key, oldest first: a deposit to any of them
		/// is credited.
		fn deposit_scripts() -> Vec<(u32, Vec<u8>)>;
		/// Every signed transaction in flight, newest first: the proposal in flight and the
		/// transactions its fee bumps replace. Relayers broadcast the first and prove
		/// whichever confirms.
		fn signed_in_flight() -> Vec<(ProposalId, Vec<u8>)>;
		/// Every vault's current key, in vault order, with its capacity and holdings: the
		/// deposit address is the one with the most room.
		fn vault_capacities() -> Vec<VaultCapacity>;
		/// A validator's vote on a proposal whose voting window is open.
		fn ballot(id: ProposalId, validator: AccountId) -> Option<Ballot>;
	}
}

impl<T: Config> Pallet<T> {
	/// See [`BtcBridgeApi::deposit_address`].
	pub fn deposit_address_info() -> Option<DepositAddress> {
		let (epoch, output_key, address) = Self::deposit_address()?;
		Some(DepositAddress {
			epoch,
			output_key,
			address: address.into_bytes(),
			script_pubkey: p2tr_script_pubkey(&output_key),
			min_deposit_sats: T::MinDepositSats::get(),
		})
	}

	/// See [`BtcBridgeApi::minimum_withdrawal_sats`].
	pub fn minimum_withdrawal_for(address: &[u8]) -> Result<u64, AddressError> {
		let network = pallet_btc_light_client::BitcoinNetwork::<T>::get();
		let parsed = BitcoinAddress::parse_bytes(address, network)?;
		Ok(Self::minimum_withdrawal_sats(&parsed))
	}

	/// See [`BtcBridgeApi::backing`].
	pub fn backing() -> BridgeBacking {
		let utxo_sats = Utxos::<T>::iter_values().map(|u| u.value_sats).sum();
		let in_flight_outflow_sats = ActiveProposal::<T>::get()
			.and_then(Proposals::<T>::get)
			.filter(|p| p.status.is_approved_in_flight())
			.map_or(0, |p| p.outflow_sats());
		BridgeBacking {
			utxo_sats,
			in_flight_outflow_sats,
			ledger: Ledger::<T>::get(),
			theft_shortfall_sats: TheftShortfall::<T>::get(),
		}
	}

	/// See [`BtcBridgeApi::vault_capacities`].
	pub fn vault_capacities() -> Vec<VaultCapacity> {
		let holdings = Self::holdings_by_epoch();
		let network = pallet_btc_light_client::BitcoinNetwork::<T>::get();
		T::Custody::current_epochs()
			.into_iter()
			.filter_map(|epoch| {
				let output_key = T::Custody::output_key(epoch)?;
				Some(VaultCapacity {
					epoch,
					output_key,
					address: BitcoinAddress::P2tr(output_key)
						.to_address_string(network)
						.into_bytes(),
					capacity_sats: Self::capacity_sats(epoch),
					holdings_sats: holdings.get(&epoch).copied().unwrap_or(0),
				})
			})
			.collect()
	}

	/// See [`BtcBridgeApi::signed_in_flight`].
	pub fn signed_in_flight() -> Vec<(ProposalId, Vec<u8>)> {
		Self::family_in_flight()
			.into_iter()
			.filter_map(|id| SignedTransactions::<T>::get(id).map(|tx| (id, tx.into_inner())))
			.collect()
	}

	/// See [`BtcBridgeApi::deposit_scripts`].
	pub fn deposit_scripts() -> Vec<(u32, Vec<u8>)> {
		Self::deposit_epochs()
			.into_iter()
			.map(|(epoch, key)| (epoch, p2tr_script_pubkey(&key)))
			.collect()
	}

	/// See [`BtcBridgeApi::proposal_check`].
	pub fn proposal_check(id: ProposalId) -> Option<ProposalCheck> {
		let proposal = Proposals::<T>::get(id)?;
		Some(ProposalCheck {
			proposal_id: id,
			kind: proposal.kind,
			voting: matches!(proposal.status, ProposalStatus::Voting { .. }),
			unsigned_tx: proposal.unsigned_tx.to_vec(),
			sighashes: proposal.sighashes.to_vec(),
			inputs: proposal
				.inputs
				.iter()
				.map(|(outpoint, _, _)| (*outpoint, Utxos::<T>::get(outpoint)))
				.collect(),
			epoch_output_keys: proposal
				.input_epochs()
				.into_iter()
				.filter_map(|epoch| T::Custody::output_key(epoch).map(|key| (epoch, key)))
				.collect(),
			// Change (or a sweep) goes to the key that was current when the proposal was
			// built; a rotation since then does not make it wrong while that key is live.
			current_output_key: proposal
				.custody_output
				.map(|(_, _, epoch)| epoch)
				.or_else(|| Self::deposit_address().map(|(epoch, _, _)| epoch))
				.and_then(T::Custody::output_key),
			payouts: proposal
				.payouts
				.iter()
				.filter_map(|(withdrawal_id, paid)| {
					let withdrawal = Withdrawals::<T>::get(withdrawal_id)?;
					Some((
						*withdrawal_id,
						withdrawal.script_pubkey.into_inner(),
						withdrawal.amount_sats,
						*paid,
					))
				})
				.collect(),
			fee_rate_bounds: FeeRateBounds::<T>::get(),
			fee_rate_sat_per_vb: proposal.fee_rate_sat_per_vb,
			replaced: match proposal.kind {
				ProposalKind::FeeBump { replaces } => {
					Proposals::<T>::get(replaces).map(|replaced| ReplacedTransaction {
						unsigned_tx: replaced.unsigned_tx.to_vec(),
						fee_sats: replaced.fee_sats,
					})
				},
				_ => None,
			},
		})
	}
}
