//! What must hold after every block (`try_state`, and every test and simulation block).

use crate::*;
use alloc::{collections::BTreeSet, format, string::String};
use sp_runtime::TryRuntimeError;

fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), TryRuntimeError> {
	if condition {
		Ok(())
	} else {
		let what = what();
		log::error!(target: "btc-bridge", "try_state: {what}");
		#[cfg(feature = "std")]
		eprintln!("btc-bridge try_state: {what}");
		Err(TryRuntimeError::Other("btc-bridge invariant broken; see the log"))
	}
}

impl<T: Config> Pallet<T> {
	/// Checks the bridge's promises (see the crate docs):
	///
	/// - **conservation:** the custody UTXOs add up to exactly the ledger's total; the
	///   pending withdrawals are exactly the burned, unpaid, unrefunded requests; the
	///   unclaimed sats exactly the deposits recorded as unclaimed; the committed reserve
	///   exactly the fee of the sweep in flight;
	/// - every UTXO belongs to a live key epoch (nothing held by a retired key);
	/// - the queue holds exactly the `Queued` requests; every `Proposed` request belongs to
	///   the proposal in flight, which is listed by its txid and spends only bridge UTXOs;
	/// - a payout pays its requests what they burned minus the fee, and the reserve pays any
	///   change given up as dust.
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let ledger = Ledger::<T>::get();
		let live: BTreeSet<u32> = T::Custody::live_epochs().into_iter().collect();
		let mut utxo_sats: u128 = 0;
		for (outpoint, utxo) in Utxos::<T>::iter() {
			utxo_sats += utxo.value_sats as u128;
			check(live.contains(&utxo.epoch), || {
				format!("UTXO {outpoint:?} of epoch {} which no live key holds", utxo.epoch)
			})?;
			check(Deposits::<T>::contains_key(outpoint), || {
				format!("UTXO {outpoint:?} without a record")
			})?;
		}
		let shortfall = TheftShortfall::<T>::get();
		check(utxo_sats + shortfall as u128 == ledger.total_sats(), || {
			format!(
				"custody UTXOs hold {utxo_sats} sats and {shortfall} were stolen, the books say {ledger:?}"
			)
		})?;

		let mut pending: u128 = 0;
		let mut queued = BTreeSet::new();
		let active = ActiveProposal::<T>::get();
		for (id, withdrawal) in Withdrawals::<T>::iter() {
			match withdrawal.status {
				WithdrawalStatus::Queued => {
					pending += withdrawal.amount_sats as u128;
					queued.insert(id);
				},
				WithdrawalStatus::Proposed { proposal_id } => {
					pending += withdrawal.amount_sats as u128;
					check(active == Some(proposal_id), || {
						format!("withdrawal {id} in proposal {proposal_id}, which is not in flight")
					})?;
				},
				WithdrawalStatus::Paid { .. } | WithdrawalStatus::Refunded => {},
			}
		}
		check(pending == ledger.pending_withdrawal_sats as u128, || {
			format!("requests burned and unpaid: {pending} sats, the books say {ledger:?}")
		})?;
		let in_queue: BTreeSet<WithdrawalId> =
			WithdrawalQueue::<T>::iter_keys().map(u64::from_be_bytes).collect();
		check(in_queue == queued, || "the queue and the queued requests differ".into())?;
		check(WithdrawalQueue::<T>::count() as usize == in_queue.len(), || {
			"the queue's counter is off".into()
		})?;

		let unclaimed: u128 = Deposits::<T>::iter_values()
			.filter(|record| matches!(record.outcome, DepositOutcome::Unclaimed { .. }))
			.map(|record| record.value_sats as u128)
			.sum();
		check(unclaimed == ledger.unclaimed_sats as u128, || {
			format!("unclaimed deposits: {unclaimed} sats, the books say {ledger:?}")
		})?;

		match active.and_then(|id| Proposals::<T>::get(id).map(|p| (id, p))) {
			Some((id, proposal)) => {
				check(ProposalByTxid::<T>::get(proposal.txid) == Some(id), || {
					format!("proposal {id} not listed by its txid")
				})?;
				check(proposal.reserve_fee_sats == ledger.reserve_committed_sats, || {
					format!(
						"proposal {id} commits {} of the reserve, the books say {ledger:?}",
						proposal.reserve_fee_sats
					)
				})?;
				for (outpoint, sats, epoch) in &proposal.inputs {
					check(
						Utxos::<T>::get(outpoint)
							== Some(BridgeUtxo { value_sats: *sats, epoch: *epoch }),
						|| format!("proposal {id} spends {outpoint:?}, not a bridge UTXO"),
					)?;
				}
				let inputs: u64 = proposal.inputs.iter().map(|(_, sats, _)| sats).sum();
				let change = proposal.custody_output.map_or(0, |(_, sats, _)| sats);
				let paid: u64 = proposal.payouts.iter().map(|(_, sats)| sats).sum();
				check(inputs == paid + change + proposal.fee_sats, || {
					format!("proposal {id}: inputs {inputs} != paid {paid} + change {change} + fee")
				})?;
				let burned: u64 = proposal
					.payouts
					.iter()
					.filter_map(|(w, _)| Withdrawals::<T>::get(w).map(|w| w.amount_sats))
					.sum();
				// The requests pay the outputs and the fee; change given up as dust, a
				// sweep's fee and a fee bump's extra are the reserve's.
				check(burned + proposal.reserve_fee_sats == paid + proposal.fee_sats, || {
					format!(
						"proposal {id}: requests burned {burned}, paid {paid} + fee {} - reserve's {}",
						proposal.fee_sats, proposal.reserve_fee_sats
					)
				})?;
				// The transactions a fee bump replaces stay signed, over the same inputs,
				// until one of the family confirms.
				for replaced in Self::family_in_flight().into_iter().skip(1) {
					let member = Proposals::<T>::get(replaced);
					check(
						member.as_ref().is_some_and(|m| {
							m.status == ProposalStatus::Signed && m.inputs == proposal.inputs
						}),
						|| {
							format!("proposal {id} replaces {replaced}, not a signed transaction of the same inputs")
						},
					)?;
				}
			},
			None => {
				check(active.is_none(), || "the active proposal is not stored".into())?;
				check(ledger.reserve_committed_sats == 0, || {
					format!("reserve committed without a proposal in flight: {ledger:?}")
				})?;
			},
		}
		Ok(())
	}
}
