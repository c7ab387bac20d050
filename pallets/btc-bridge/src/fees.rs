//! The fee rate no single party sets, and the fee reserve.
//!
//! Proposals use the median of the current validators' fresh reports (no older than
//! [`FEE_REPORT_MAX_AGE_BLOCKS`]) once at least `floor(2n/3) + 1` of the `n` validators
//! reported: with fewer than a third of them faulty, the median then lies between honest
//! reports. With fewer reports, the governed [`DefaultFeeRate`]. Either is clamped to the
//! governed [`FeeRateBounds`]. Each validator's node also refuses to approve a proposal whose
//! rate is more than a factor of two from its own Bitcoin node's estimate
//! (`tapchain_signer::proposal_check`).
//!
//! The fee reserve ([`BridgeLedger::reserve_sats`]) pays sweep fees: a sweep moves bitcoin
//! from an old key to the current one and pays no user, so its fee is charged to the reserve
//! rather than taken silently from the backing. Anyone funds it by burning bridged BTC
//! ([`Pallet::do_fund_fee_reserve`]).

use crate::*;
use alloc::vec::Vec;
use frame_support::pallet_prelude::*;
use tapchain_primitives::{bridge::FeeRateReport, Balance};

impl<T: Config> Pallet<T> {
	/// The fee rate proposals use now, sat/vB (see the module docs).
	pub fn fee_rate() -> u64 {
		let (min, max) = FeeRateBounds::<T>::get();
		let now: u32 = frame_system::Pallet::<T>::block_number().try_into().unwrap_or(u32::MAX);
		let oldest = now.saturating_sub(FEE_REPORT_MAX_AGE_BLOCKS);
		let validators = T::Custody::validators();
		let mut rates: Vec<u64> = validators
			.iter()
			.filter_map(FeeRateReports::<T>::get)
			.filter(|(_, at_block)| *at_block >= oldest)
			.map(|(rate, _)| rate)
			.collect();
		let quorum = 2 * validators.len() / 3 + 1;
		if rates.len() < quorum {
			return DefaultFeeRate::<T>::get().clamp(min, max);
		}
		rates.sort_unstable();
		rates[rates.len() / 2].clamp(min, max)
	}

	/// Weight of [`Self::fee_rate`]: the validator set and one report per validator.
	pub fn fee_rate_weight() -> Weight {
		T::DbWeight::get().reads(3 + T::MaxVoters::get() as u64)
	}

	/// What a fee report must find: a current validator, a positive rate, and a block at
	/// least [`MIN_FEE_REPORT_INTERVAL_BLOCKS`] after the reporter's last report, recent
	/// enough to count and not in the future.
	pub(crate) fn check_fee_report_state(report: &FeeRateReport) -> Result<T::AccountId, Error<T>> {
		let validator = Self::current_validator_of(&report.reporter)?;
		ensure!(report.sat_per_vbyte > 0, Error::<T>::InvalidFeeRate);
		let now: u32 = frame_system::Pallet::<T>::block_number().try_into().unwrap_or(u32::MAX);
		let previous = FeeRateReports::<T>::get(&validator).map(|(_, at)| at);
		ensure!(
			report.at_block <= now
				&& report.at_block >= now.saturating_sub(FEE_REPORT_MAX_AGE_BLOCKS)
				&& previous.is_none_or(|at| {
					report.at_block >= at.saturating_add(MIN_FEE_REPORT_INTERVAL_BLOCKS)
				}),
			Error::<T>::StaleReport
		);
		Ok(validator)
	}

	/// Burns `amount` of `who`'s BTC into the fee reserve: bridged BTC outstanding shrinks
	/// and the reserve grows by as much, so the backing is unchanged.
	pub fn do_fund_fee_reserve(who: T::AccountId, amount: Balance) -> DispatchResult {
		let sats = Self::whole_sats(amount)?;
		let mut ledger = Self::burn_bridged(&who, sats)?;
		ledger.reserve_sats += sats;
		Ledger::<T>::put(ledger);
		SweepAwaitingReserve::<T>::kill();
		Self::deposit_event(Event::FeeReserveFunded { who, sats });
		Ok(())
	}
}
