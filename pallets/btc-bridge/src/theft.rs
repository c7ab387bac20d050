//! Theft: a confirmed Bitcoin transaction that spends the bridge's coins and is not one the
//! validators approved.
//!
//! Custody signs only the transactions of approved proposals (and a signature aggregated
//! off-chain from published shares signs exactly what was approved), so a key-path spend of a
//! bridge UTXO by any other transaction was signed by a threshold of the key's members
//! without approval. Anyone proves it with the transaction and its inclusion proof: the
//! stolen UTXOs leave the books into [`TheftShortfall`] (the backing they no longer hold),
//! the proposals in flight that spent them end (their requests wait again: the coins they
//! would have been paid from are gone), and the members of the epochs whose coins were taken
//! are slashed for the amount taken from each ([`ThresholdCustody::slash_for_theft`], which
//! says who, why and how much: a penalty so that any threshold of them loses at least what it
//! took). The slashed BTC is burned; the amount taken of it is booked against the shortfall,
//! so the BTC the bridge owes its holders falls by as much: the backing is whole again when
//! the stake covered the theft. The rest of the penalty was nobody's claim on the coins.

use crate::*;
use alloc::{collections::BTreeMap, vec::Vec};
use frame_support::pallet_prelude::*;
use pallet_btc_light_client::MerkleProof;
use tapchain_primitives::bitcoin::{BlockHash, OutPoint, Transaction};

/// First byte of a taproot annex (BIP-341): a key-path witness may carry one after the
/// signature.
const ANNEX_TAG: u8 = 0x50;

/// Whether a taproot input was spent by the key path (a signature, and at most an annex):
/// the validators' key. A script-path spend is the recovery committee's leaf.
fn is_key_path_spend(witness: &[Vec<u8>]) -> bool {
	match witness {
		[signature] => matches!(signature.len(), 64 | 65),
		[signature, annex] => {
			matches!(signature.len(), 64 | 65) && annex.first() == Some(&ANNEX_TAG)
		},
		_ => false,
	}
}

/// The smallest transaction input: outpoint, script length, sequence (its witness is apart).
pub const MIN_TX_INPUT_BYTES: usize = 41;

impl<T: Config> Pallet<T> {
	/// Ending the transactions in flight a theft spent from (the benchmark proves a theft with
	/// nothing in flight): each of the family's proposals, sessions and vote windows, and
	/// every request queued again.
	pub(crate) fn end_in_flight_weight() -> Weight {
		T::DbWeight::get().reads_writes(
			8 + 2 * T::MaxInputsPerProposal::get() as u64,
			8 + 3 * T::MaxWithdrawalsPerProposal::get() as u64,
		)
	}

	/// See [`Call::report_theft`].
	/// Returns the weight it took: the stolen inputs and the members slashed.
	pub(crate) fn do_report_theft(
		raw_tx: &[u8],
		proof: &MerkleProof,
		block_hash: BlockHash,
	) -> Result<Weight, DispatchError> {
		ensure!(raw_tx.len() <= MAX_DEPOSIT_TX_BYTES, Error::<T>::TransactionTooLarge);
		let inclusion = pallet_btc_light_client::Pallet::<T>::verify_confirmed_inclusion(
			raw_tx,
			proof,
			block_hash,
			RequiredConfirmations::<T>::get(),
		)
		.map_err(Error::<T>::InvalidProof)?;
		ensure!(!ProvenThefts::<T>::contains_key(inclusion.txid), Error::<T>::TheftAlreadyProven);
		if let Some(proposal) =
			ProposalByTxid::<T>::get(inclusion.txid).and_then(Proposals::<T>::get)
		{
			ensure!(!proposal.status.may_have_been_signed(), Error::<T>::ApprovedTransaction);
		}
		let stolen = Self::stolen_inputs(&inclusion.transaction)?;
		let stolen_sats: u64 = stolen.iter().map(|(_, utxo)| utxo.value_sats).sum();
		let mut by_epoch: BTreeMap<u32, u64> = BTreeMap::new();
		for (outpoint, utxo) in &stolen {
			Utxos::<T>::remove(outpoint);
			*by_epoch.entry(utxo.epoch).or_default() += utxo.value_sats;
		}
		TheftShortfall::<T>::mutate(|sats| *sats = sats.saturating_add(stolen_sats));
		let ended = Self::end_proposals_spending(&stolen);
		let (restored_sats, members_slashed) = Self::slash_thieves(&by_epoch);
		let record = TheftRecord {
			bitcoin_block: block_hash,
			stolen: stolen
				.iter()
				.map(|(outpoint, utxo)| (*outpoint, utxo.value_sats, utxo.epoch))
				.collect::<Vec<_>>()
				.try_into()
				.map_err(|_| Error::<T>::TransactionTooLarge)?,
			restored_sats,
		};
		ProvenThefts::<T>::insert(inclusion.txid, record);
		Self::deposit_event(Event::TheftProven {
			txid: inclusion.txid,
			stolen_sats,
			epochs: by_epoch.into_iter().collect(),
			ended_proposals: ended,
			restored_sats,
		});
		Ok(<T as Config>::WeightInfo::report_theft(stolen.len() as u32, members_slashed))
	}

	/// Slashes the members of each epoch whose coins were taken for what was taken from it
	/// (custody burns a penalty of at least as much), and books up to that amount of the
	/// burned stake against the shortfall (the rest is a plain burn). The booked BTC was
	/// issued, so what holders are owed (`issued`) falls by as much; past what is issued, the
	/// fee reserve (owed to nobody) gives up the coins it lost. The books still balance.
	/// Returns the sats restored and the members slashed.
	fn slash_thieves(by_epoch: &BTreeMap<u32, u64>) -> (u64, u32) {
		let mut restored_sats = 0u64;
		let mut members = 0u32;
		for (epoch, stolen_sats) in by_epoch {
			let ledger = Ledger::<T>::get();
			let restorable = ledger.issued_sats.saturating_add(ledger.reserve_sats);
			let owed = (*stolen_sats).min(restorable);
			let slash = T::Custody::slash_for_theft(*epoch, owed);
			let burned = slash.burned_sats.min(owed);
			Ledger::<T>::mutate(|ledger| {
				let from_issued = burned.min(ledger.issued_sats);
				ledger.issued_sats -= from_issued;
				ledger.reserve_sats -= burned - from_issued;
			});
			TheftShortfall::<T>::mutate(|sats| *sats = sats.saturating_sub(burned));
			restored_sats = restored_sats.saturating_add(burned);
			members = members.saturating_add(slash.members);
		}
		(restored_sats, members)
	}

	/// The bridge UTXOs `transaction` spends, each by the key path.
	fn stolen_inputs(transaction: &Transaction) -> Result<Vec<(OutPoint, BridgeUtxo)>, Error<T>> {
		let mut stolen = Vec::new();
		for input in &transaction.inputs {
			let Some(utxo) = Utxos::<T>::get(input.previous_output) else { continue };
			ensure!(is_key_path_spend(&input.witness), Error::<T>::NotAKeyPathSpend);
			stolen.push((input.previous_output, utxo));
		}
		ensure!(!stolen.is_empty(), Error::<T>::NotACustodySpend);
		Ok(stolen)
	}

	/// Ends the proposals in flight (the active one and the transactions its fee bumps
	/// replace) that spend a stolen UTXO: none of them can confirm any more. Their requests
	/// are queued again and the reserve gets back what they committed. Returns them.
	fn end_proposals_spending(stolen: &[(OutPoint, BridgeUtxo)]) -> Vec<ProposalId> {
		let family = Self::family_in_flight();
		// The family shares its inputs and payouts: the active member speaks for all.
		let Some(active) = family.first().copied().and_then(Proposals::<T>::get) else {
			return Vec::new();
		};
		if !active.inputs.iter().any(|(o, _, _)| stolen.iter().any(|(s, _)| s == o)) {
			return Vec::new();
		}
		let payouts = active.payouts;
		for id in &family {
			Proposals::<T>::mutate(id, |member| {
				if let Some(member) = member {
					for (_, session_id) in &member.signing_sessions {
						T::Custody::close_session(*session_id);
					}
					member.signing_sessions = BoundedVec::new();
					member.status = ProposalStatus::SpentByTheft;
					ProposalByTxid::<T>::remove(member.txid);
				}
			});
			Self::end_vote_window(*id);
		}
		for (withdrawal, _) in &payouts {
			Withdrawals::<T>::mutate(withdrawal, |w| {
				if let Some(w) = w {
					w.status = WithdrawalStatus::Queued;
				}
			});
			Self::enqueue(*withdrawal);
		}
		Self::release_reserve(Ledger::<T>::get().reserve_committed_sats);
		InFlightSince::<T>::kill();
		FeeBumpBlockedFor::<T>::kill();
		ActiveProposal::<T>::kill();
		family
	}
}

#[cfg(test)]
mod tests {
	use super::is_key_path_spend;

	#[test]
	fn a_key_path_witness_is_a_signature_and_at_most_an_annex() {
		assert!(is_key_path_spend(&[vec![7; 64]]));
		assert!(is_key_path_spend(&[vec![7; 65]]));
		assert!(is_key_path_spend(&[vec![7; 64], vec![0x50, 1]]));
		assert!(!is_key_path_spend(&[]));
		assert!(!is_key_path_spend(&[vec![7; 63]]));
		assert!(!is_key_path_spend(&[vec![7; 64], vec![0x51]]));
		// A script-path spend: signature, script, control block.
		assert!(!is_key_path_spend(&[vec![7; 64], vec![0x20; 34], vec![0xc0; 33]]));
	}
}
