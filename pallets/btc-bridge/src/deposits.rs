//! Deposits: outputs paying a live custody key, proven to the light client, recorded once,
//! credited to their memo's account or kept as unclaimed.

use crate::*;
use alloc::{collections::BTreeMap, vec::Vec};
use frame_support::{pallet_prelude::*, traits::fungible::Mutate};
use tapchain_primitives::{
	bitcoin::{
		address::p2tr_script_pubkey, BitcoinAddress, BlockHash, OutPoint, Transaction, Txid,
	},
	bridge::{DepositRecipient, MemoParse},
	sats_to_base_units,
};

/// Bitcoin block hashes for custody's vault partitions, from the light client, once buried
/// under the confirmations the bridge asks of deposits.
pub struct BuriedBitcoinBlocks<T>(core::marker::PhantomData<T>);
impl<T: Config> tapchain_primitives::custody::PartitionRandomness for BuriedBitcoinBlocks<T> {
	fn best_height() -> Option<u32> {
		pallet_btc_light_client::Pallet::<T>::best_tip().map(|tip| tip.height)
	}
	fn buried_block_hash(height: u32) -> Option<BlockHash> {
		let confirmations = RequiredConfirmations::<T>::get().max(1);
		let best = Self::best_height()?;
		if best.checked_sub(height)? + 1 < confirmations {
			return None;
		}
		pallet_btc_light_client::Pallet::<T>::best_hash_at(height)
	}
}

impl<T: Config> Pallet<T> {
	/// Custody output keys deposits are credited to: every live epoch's, oldest first.
	pub fn deposit_epochs() -> Vec<(u32, [u8; 32])> {
		T::Custody::live_epochs()
			.into_iter()
			.filter_map(|epoch| T::Custody::output_key(epoch).map(|key| (epoch, key)))
			.collect()
	}

	/// Sats the bridge's UTXOs hold, per custody key epoch.
	pub fn holdings_by_epoch() -> BTreeMap<u32, u64> {
		let mut holdings = BTreeMap::new();
		for utxo in Utxos::<T>::iter_values() {
			*holdings.entry(utxo.epoch).or_insert(0u64) += utxo.value_sats;
		}
		holdings
	}

	/// What a current key may hold: its members' backing stake times the governed ratio.
	pub fn capacity_sats(epoch: u32) -> u64 {
		VaultCapacityRatio::<T>::get().mul_floor(T::Custody::backing_stake_sats(epoch))
	}

	/// A key's room: its capacity less what it holds (negative when over).
	pub(crate) fn free_capacity_sats(epoch: u32, holdings: &BTreeMap<u32, u64>) -> i128 {
		Self::capacity_sats(epoch) as i128 - holdings.get(&epoch).copied().unwrap_or(0) as i128
	}

	/// The current key with the most free capacity (capacity less holdings; the first in
	/// vault order among equals): where deposits and change go.
	pub fn freest_epoch(currents: &[u32], holdings: &BTreeMap<u32, u64>) -> Option<u32> {
		currents
			.iter()
			.map(|epoch| (Self::free_capacity_sats(*epoch, holdings), *epoch))
			.fold(None, |best: Option<(i128, u32)>, candidate| match best {
				Some(best) if best.0 >= candidate.0 => Some(best),
				_ => Some(candidate),
			})
			.map(|(_, epoch)| epoch)
	}

	/// The P2TR address deposits should pay now: the vault with the most free capacity's.
	/// A deposit to any other live key is credited all the same.
	pub fn deposit_address() -> Option<(u32, [u8; 32], alloc::string::String)> {
		let epoch = Self::freest_epoch(&T::Custody::current_epochs(), &Self::holdings_by_epoch())?;
		let key = T::Custody::output_key(epoch)?;
		let network = pallet_btc_light_client::BitcoinNetwork::<T>::get();
		Some((epoch, key, BitcoinAddress::P2tr(key).to_address_string(network)))
	}

	pub(crate) fn recipient_account(recipient: DepositRecipient) -> T::AccountId {
		match recipient {
			DepositRecipient::Evm(address) => T::DepositAccounts::evm_account(address),
			DepositRecipient::Native(account) => T::DepositAccounts::native_account(account),
		}
	}

	pub(crate) fn record_deposit(
		transaction: &Transaction,
		txid: Txid,
		block_hash: BlockHash,
	) -> DispatchResult {
		let scripts: Vec<(u32, Vec<u8>)> = Self::deposit_epochs()
			.iter()
			.map(|(epoch, key)| (*epoch, p2tr_script_pubkey(key)))
			.collect();
		let custody_outputs: Vec<(u32, u64, u32)> = transaction
			.outputs
			.iter()
			.enumerate()
			.filter_map(|(vout, output)| {
				scripts
					.iter()
					.find(|(_, script)| *script == output.script_pubkey)
					.map(|(epoch, _)| (vout as u32, output.value_sats, *epoch))
			})
			.collect();
		ensure!(!custody_outputs.is_empty(), Error::<T>::NoCustodyOutput);
		let fresh: Vec<_> = custody_outputs
			.into_iter()
			.filter(|(vout, _, _)| !Deposits::<T>::contains_key(OutPoint { txid, vout: *vout }))
			.collect();
		ensure!(!fresh.is_empty(), Error::<T>::AlreadyCredited);

		let mut memo = None;
		let mut ambiguous = false;
		for output in &transaction.outputs {
			match DepositRecipient::parse_memo(&output.script_pubkey) {
				MemoParse::NotAMemo => {},
				MemoParse::Malformed => ambiguous = true,
				MemoParse::Recipient(recipient) => {
					ambiguous |= memo.is_some();
					memo = Some(recipient);
				},
			}
		}
		let mut ledger = Ledger::<T>::get();
		for (vout, value_sats, epoch) in fresh {
			let outpoint = OutPoint { txid, vout };
			let outcome = match (memo, ambiguous) {
				(_, true) => DepositOutcome::Unclaimed { reason: UnclaimedReason::AmbiguousMemo },
				(None, false) => DepositOutcome::Unclaimed { reason: UnclaimedReason::NoMemo },
				(Some(_), false) if value_sats < T::MinDepositSats::get() => {
					DepositOutcome::Unclaimed { reason: UnclaimedReason::BelowMinimum }
				},
				(Some(recipient), false) => {
					let account = Self::recipient_account(recipient);
					match T::Currency::mint_into(&account, sats_to_base_units(value_sats)) {
						Ok(_) => DepositOutcome::Credited { account },
						Err(_) => {
							DepositOutcome::Unclaimed { reason: UnclaimedReason::CreditFailed }
						},
					}
				},
			};
			match &outcome {
				DepositOutcome::Credited { account } => {
					ledger.issued_sats = ledger.issued_sats.saturating_add(value_sats);
					Self::deposit_event(Event::DepositCredited {
						outpoint,
						account: account.clone(),
						sats: value_sats,
						epoch,
					})
				},
				DepositOutcome::Unclaimed { reason } => {
					ledger.unclaimed_sats = ledger.unclaimed_sats.saturating_add(value_sats);
					Self::deposit_event(Event::DepositUnclaimed {
						outpoint,
						sats: value_sats,
						reason: *reason,
					})
				},
				_ => {},
			}
			Utxos::<T>::insert(outpoint, BridgeUtxo { value_sats, epoch });
			Deposits::<T>::insert(
				outpoint,
				DepositRecord { value_sats, epoch, bitcoin_block: block_hash, outcome },
			);
		}
		Ledger::<T>::put(ledger);
		Ok(())
	}

	pub(crate) fn do_assign_unclaimed(
		outpoint: OutPoint,
		recipient: DepositRecipient,
	) -> DispatchResult {
		let mut record = Deposits::<T>::get(outpoint).ok_or(Error::<T>::NotUnclaimed)?;
		ensure!(
			matches!(record.outcome, DepositOutcome::Unclaimed { .. }),
			Error::<T>::NotUnclaimed
		);
		let account = Self::recipient_account(recipient);
		T::Currency::mint_into(&account, sats_to_base_units(record.value_sats))
			.map_err(|_| Error::<T>::CreditFailed)?;
		Ledger::<T>::mutate(|ledger| {
			ledger.unclaimed_sats = ledger.unclaimed_sats.saturating_sub(record.value_sats);
			ledger.issued_sats = ledger.issued_sats.saturating_add(record.value_sats);
		});
		record.outcome = DepositOutcome::Assigned { account: account.clone() };
		Deposits::<T>::insert(outpoint, &record);
		Self::deposit_event(Event::UnclaimedDepositAssigned {
			outpoint,
			account,
			sats: record.value_sats,
		});
		Ok(())
	}

	/// Weight of a deposit proof of `tx_bytes`: the benchmarked one-output deposit, plus
	/// hashing and parsing the bytes (20 ns/byte, generous for wasm SHA-256) and, for
	/// every further 43 bytes (the smallest P2TR output), one more credited output.
	pub fn submit_deposit_weight(tx_bytes: usize) -> Weight {
		let tx_bytes = tx_bytes as u64;
		<T as Config>::WeightInfo::submit_deposit()
			.saturating_add(Weight::from_parts(20_000u64.saturating_mul(tx_bytes), tx_bytes))
			.saturating_add(T::DbWeight::get().reads_writes(2, 4).saturating_mul(tx_bytes / 43))
	}
}
