//! Theft: a confirmed Bitcoin transaction that spends the bridge's coins and is not one the
//! validators approved.
//!
//! Custody signs only the transactions of approved proposals (and a signature aggregated
//! off-chain from published shares signs exactly what was approved), so a key-path spend of a
//! bridge UTXO by any other transaction was signed by a threshold of the key's members
//! without approval. Anyone proves it with the transaction and its inclusion proof: the
//! stolen UTXOs leave the books into [`TheftShortfall`] (the backing they no longer hold),
//! the proposals in flight that spent them end (their requests wait again: the coins they
//! would have been paid from are gone), and the epochs whose coins were taken are named for
//! slashing.

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

impl<T: Config> Pallet<T> {
	/// See [`Call::report_theft`].
	pub(crate) fn do_report_theft(
		raw_tx: &[u8],
		proof: &MerkleProof,
		block_hash: BlockHash,
	) -> DispatchResult {
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
		let record = TheftRecord {
			bitcoin_block: block_hash,
			stolen: stolen
				.iter()
				.map(|(outpoint, utxo)| (*outpoint, utxo.value_sats, utxo.epoch))
				.collect::<Vec<_>>()
				.try_into()
				.map_err(|_| Error::<T>::TransactionTooLarge)?,
		};
		ProvenThefts::<T>::insert(inclusion.txid, record);
		Self::deposit_event(Event::TheftProven {
			txid: inclusion.txid,
			stolen_sats,
			epochs: by_epoch.into_iter().collect(),
			ended_proposals: ended,
		});
		Ok(())
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
			VoteWindows::<T>::remove(id);
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
