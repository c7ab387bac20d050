//! Withdrawal requests: burned, queued oldest first, paid by a proposal or refunded.

use crate::*;
use alloc::vec::Vec;
use frame_support::{
	pallet_prelude::*,
	traits::{
		fungible::Mutate,
		tokens::{Fortitude, Precision, Preservation},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::Saturating;
use tapchain_primitives::{
	bitcoin::BitcoinAddress, sats_to_base_units, Balance, BASE_UNITS_PER_SAT,
};

/// Most timed-out requests refunded in one block (the rest in the next ones).
const MAX_REFUNDS_PER_BLOCK: usize = 50;

/// The queue key of a withdrawal: its id in big-endian bytes, so keys sort as ids do.
pub fn queue_key(id: WithdrawalId) -> [u8; 8] {
	id.to_be_bytes()
}

impl<T: Config> Pallet<T> {
	/// Up to `limit` queued withdrawal ids, oldest first.
	pub fn queued_withdrawals(limit: usize) -> Vec<WithdrawalId> {
		WithdrawalQueue::<T>::iter_keys().take(limit).map(u64::from_be_bytes).collect()
	}

	pub(crate) fn enqueue(id: WithdrawalId) {
		WithdrawalQueue::<T>::insert(queue_key(id), ());
	}

	pub(crate) fn dequeue(id: WithdrawalId) {
		WithdrawalQueue::<T>::remove(queue_key(id));
	}

	/// Smallest withdrawal to `address` at today's fee rate: its dust limit plus the fee
	/// of its output, one input and the transaction's fixed part with a change output.
	pub fn minimum_withdrawal_sats(address: &BitcoinAddress) -> u64 {
		let script_len = address.script_pubkey().len() as u64;
		let output_vbytes = 8 + 1 + script_len;
		// 10.5 vB fixed part (rounded up), a 57.5 vB key-path input, 43 vB change.
		let shared_vbytes = 11 + 58 + 43;
		address
			.dust_limit_sats()
			.saturating_add(Self::fee_rate().saturating_mul(output_vbytes + shared_vbytes))
	}

	/// Weight of a withdrawal request (the call and the precompile charge it).
	pub fn request_withdrawal_weight() -> Weight {
		Weight::from_parts(60_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads_writes(7, 6))
			.saturating_add(Self::fee_rate_weight())
	}

	/// `amount` (base units) in whole sats.
	pub(crate) fn whole_sats(amount: Balance) -> Result<u64, Error<T>> {
		ensure!(amount.is_multiple_of(BASE_UNITS_PER_SAT), Error::<T>::NotWholeSats);
		u64::try_from(amount / BASE_UNITS_PER_SAT).map_err(|_| Error::<T>::InsufficientBalance)
	}

	/// Burns `sats` of `who`'s BTC, never more than the bridged BTC outstanding (the bridge
	/// pays out only what came in) and never reaping the account (`Preserve`: an EVM
	/// account's nonce would go with it). Returns the books with `issued` lowered, for the
	/// caller to credit where the sats go and store.
	pub(crate) fn burn_bridged(who: &T::AccountId, sats: u64) -> Result<BridgeLedger, Error<T>> {
		let mut ledger = Ledger::<T>::get();
		ensure!(sats <= ledger.issued_sats, Error::<T>::ExceedsBridgedSupply);
		T::Currency::burn_from(
			who,
			sats_to_base_units(sats),
			Preservation::Preserve,
			Precision::Exact,
			Fortitude::Polite,
		)
		.map_err(|_| Error::<T>::InsufficientBalance)?;
		ledger.issued_sats -= sats;
		Ok(ledger)
	}

	/// Burns and queues a withdrawal (the call and the EVM precompile both use this).
	pub fn do_request_withdrawal(
		who: T::AccountId,
		address: BoundedVec<u8, MaxAddressLen>,
		amount: Balance,
	) -> Result<WithdrawalId, DispatchError> {
		let network = pallet_btc_light_client::BitcoinNetwork::<T>::get();
		let parsed =
			BitcoinAddress::parse_bytes(&address, network).map_err(Error::<T>::InvalidAddress)?;
		let sats = Self::whole_sats(amount)?;
		ensure!(sats >= Self::minimum_withdrawal_sats(&parsed), Error::<T>::WithdrawalTooSmall);
		let script_pubkey: BoundedVec<u8, MaxScriptLen> =
			parsed.script_pubkey().try_into().map_err(|_| {
				Error::<T>::InvalidAddress(
					tapchain_primitives::bitcoin::AddressError::InvalidProgramLength,
				)
			})?;
		let mut ledger = Self::burn_bridged(&who, sats)?;
		ledger.pending_withdrawal_sats = ledger.pending_withdrawal_sats.saturating_add(sats);
		Ledger::<T>::put(ledger);
		let id = NextWithdrawalId::<T>::mutate(|next| {
			let id = (*next).max(1);
			*next = id + 1;
			id
		});
		Self::enqueue(id);
		Withdrawals::<T>::insert(
			id,
			Withdrawal {
				owner: who.clone(),
				address: address.clone(),
				script_pubkey,
				amount_sats: sats,
				requested_at: frame_system::Pallet::<T>::block_number(),
				status: WithdrawalStatus::Queued,
			},
		);
		Self::deposit_event(Event::WithdrawalRequested {
			id,
			owner: who,
			address: address.into_inner(),
			sats,
		});
		Ok(id)
	}

	/// Mints back the burned amounts of queued (or just dropped) withdrawals.
	pub(crate) fn refund(ids: &[WithdrawalId], reason: RefundReason) {
		for id in ids {
			let Some(mut withdrawal) = Withdrawals::<T>::get(id) else { continue };
			if matches!(
				withdrawal.status,
				WithdrawalStatus::Paid { .. } | WithdrawalStatus::Refunded
			) {
				continue;
			}
			Self::dequeue(*id);
			let amount = sats_to_base_units(withdrawal.amount_sats);
			if let Err(error) = T::Currency::mint_into(&withdrawal.owner, amount) {
				// Minting BTC back cannot fail for an amount that was burned from this account
				// (it only fails on overflow or a too-small amount for a reaped account, and
				// burns here never reap). Should it happen, the amount stays issued, owed.
				log::error!(target: "btc-bridge", "refund of withdrawal {id} failed: {error:?}");
			}
			Ledger::<T>::mutate(|ledger| {
				ledger.pending_withdrawal_sats =
					ledger.pending_withdrawal_sats.saturating_sub(withdrawal.amount_sats);
				ledger.issued_sats = ledger.issued_sats.saturating_add(withdrawal.amount_sats);
			});
			withdrawal.status = WithdrawalStatus::Refunded;
			Self::deposit_event(Event::WithdrawalRefunded {
				id: *id,
				owner: withdrawal.owner.clone(),
				sats: withdrawal.amount_sats,
				reason,
			});
			Withdrawals::<T>::insert(id, withdrawal);
		}
	}

	/// Refunds the queued requests that waited [`Config::WithdrawalTimeoutBlocks`] (oldest
	/// first, a bounded number per block).
	pub(crate) fn refund_timed_out_withdrawals(now: BlockNumberFor<T>) -> Weight {
		let db = T::DbWeight::get();
		let mut timed_out = Vec::new();
		let mut read = 0u64;
		for id in WithdrawalQueue::<T>::iter_keys().map(u64::from_be_bytes) {
			read += 1;
			let Some(withdrawal) = Withdrawals::<T>::get(id) else { continue };
			// Ids grow with time; a request requeued after a dropped proposal keeps its id
			// and its age, so the first young one ends the scan.
			if now < withdrawal.requested_at.saturating_add(T::WithdrawalTimeoutBlocks::get()) {
				break;
			}
			timed_out.push(id);
			if timed_out.len() >= MAX_REFUNDS_PER_BLOCK {
				break;
			}
		}
		let refunded = timed_out.len() as u64;
		Self::refund(&timed_out, RefundReason::TimedOut);
		db.reads_writes(1 + 2 * read + refunded, 4 * refunded)
	}
}
