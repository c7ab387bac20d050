//! Proposals: one Bitcoin transaction at a time, from its construction through the vote and
//! custody's signatures to its confirmation.
//!
//! Each block without a proposal in flight: old epochs that hold nothing are retired; old
//! epochs' UTXOs are swept to their vault's current key (fee from the reserve; dust topped up
//! with a UTXO of that key), or else the queue is paid, change to the vault with the most
//! free capacity. The vote takes [`Config::VotingBlocks`]; a
//! rejected or expired proposal is dropped and its requests wait again. Once approved, the
//! transaction is final: custody signs its inputs (one session per key epoch; a failed
//! session is opened again for the same messages) until it is signed, and its confirmation,
//! proven by anyone, pays its requests. Only a fee bump of it replaces it: the same inputs
//! and payouts, its change lowered by an extra fee the reserve pays, voted and signed the same
//! way; whichever of them confirms pays the requests, and the others spend the same inputs
//! and so never can. No burned request is ever paid twice.

use crate::{
	builder::{self, BuildError, PayoutRequest, SpendableUtxo},
	*,
};
use alloc::vec::Vec;
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::Saturating;
use tapchain_primitives::{
	bitcoin::{
		address::{dust_limit_sats, p2tr_script_pubkey},
		key_spend_sighashes, BlockHash, OutPoint, Transaction, TxOut,
	},
	bridge::ProposalVote,
	custody::verify_bip340,
};

impl<T: Config> Pallet<T> {
	/// What a vote must find: a current validator's identity, the proposal still taking
	/// votes (voting, or decided with its window open), its exact txid, no earlier vote.
	pub(crate) fn check_vote_state(vote: &ProposalVote) -> Result<T::AccountId, Error<T>> {
		let validator = Self::current_validator_of(&vote.voter)?;
		let proposal = Proposals::<T>::get(vote.proposal_id).ok_or(Error::<T>::UnknownProposal)?;
		// After a decision a vote is still taken (and only recorded) until the window
		// closes: a validator one block late is not silent.
		ensure!(
			matches!(proposal.status, ProposalStatus::Voting { .. })
				|| VoteWindows::<T>::contains_key(vote.proposal_id),
			Error::<T>::NotVoting
		);
		ensure!(proposal.txid.0 == vote.txid, Error::<T>::TxidMismatch);
		ensure!(
			!ProposalVotes::<T>::contains_key(vote.proposal_id, &validator),
			Error::<T>::AlreadyVoted
		);
		Ok(validator)
	}

	/// Weight of a vote: the deciding one, approval or rejection, whichever costs more, with
	/// the most validators (a vote that decides nothing costs less than either).
	pub fn vote_weight() -> Weight {
		let validators = T::MaxVoters::get();
		<T as Config>::WeightInfo::approve_proposal(validators)
			.max(<T as Config>::WeightInfo::reject_proposal(validators))
	}

	/// Records a vote and decides the proposal once two thirds approved or more than a third
	/// rejected; returns whether the proposal was rejected (its requests queued again).
	pub(crate) fn apply_vote(
		vote: ProposalVote,
		validator: T::AccountId,
	) -> Result<bool, DispatchError> {
		let mut proposal =
			Proposals::<T>::get(vote.proposal_id).ok_or(Error::<T>::UnknownProposal)?;
		// One entry per validator and proposal (`check_vote_state` refused a second): a
		// vote costs the same whether it is the first or the thousandth.
		ProposalVotes::<T>::insert(
			vote.proposal_id,
			&validator,
			Ballot::from_approve(vote.approve),
		);
		let tally = if vote.approve { &mut proposal.approvals } else { &mut proposal.rejections };
		*tally = tally.saturating_add(1);
		Self::deposit_event(Event::ProposalVoted {
			proposal_id: vote.proposal_id,
			validator,
			approve: vote.approve,
		});
		if !matches!(proposal.status, ProposalStatus::Voting { .. }) {
			// Decided already: the late vote only counts against silence.
			Proposals::<T>::insert(vote.proposal_id, proposal);
			return Ok(false);
		}
		let validator_count = T::Custody::validators().len() as u32;
		let approvals_needed = validator_count * 2 / 3 + 1;
		if proposal.approvals >= approvals_needed {
			proposal.status = ProposalStatus::Approved;
			Self::deposit_event(Event::ProposalApproved { proposal_id: vote.proposal_id });
			Self::start_signing(vote.proposal_id, &mut proposal);
			Proposals::<T>::insert(vote.proposal_id, proposal);
		} else if proposal.rejections.saturating_mul(3) > validator_count {
			proposal.status = ProposalStatus::Rejected;
			Self::deposit_event(Event::ProposalRejected { proposal_id: vote.proposal_id });
			Self::drop_proposal(vote.proposal_id, proposal, None);
			return Ok(true);
		} else {
			Proposals::<T>::insert(vote.proposal_id, proposal);
		}
		Ok(false)
	}

	/// The sighashes of the inputs of `epoch`, in input order.
	fn sighashes_of_epoch(proposal: &Proposal<T>, epoch: u32) -> Vec<[u8; 32]> {
		proposal
			.inputs
			.iter()
			.zip(&proposal.sighashes)
			.filter(|((_, _, e), _)| *e == epoch)
			.map(|(_, sighash)| *sighash)
			.collect()
	}

	/// Opens custody's signing sessions of an approved proposal: one per key epoch of its
	/// inputs (any `t` of that key's members sign what two thirds of the validators
	/// approved). Epochs with a session already keep it. If custody cannot open one now (too
	/// many sessions open), the next block tries again.
	pub(crate) fn start_signing(proposal_id: ProposalId, proposal: &mut Proposal<T>) {
		for epoch in proposal.input_epochs() {
			if proposal.signing_sessions.iter().any(|(e, _)| *e == epoch) {
				continue;
			}
			match T::Custody::request_signatures(epoch, Self::sighashes_of_epoch(proposal, epoch)) {
				Ok(session_id) => {
					// At most `MaxSigningEpochs` epochs: the builder never mixes more.
					let _ = proposal.signing_sessions.try_push((epoch, session_id));
					Self::deposit_event(Event::SigningStarted { proposal_id, epoch, session_id });
				},
				Err(error) => {
					log::warn!(target: "btc-bridge", "proposal {proposal_id}: signing by epoch {epoch} not opened: {error:?}");
				},
			}
		}
		if proposal.signing_sessions.len() == proposal.input_epochs().len() {
			proposal.status = ProposalStatus::Signing;
		}
	}

	/// Ends a proposal that was never approved (rejected, expired, cancelled): its requests
	/// are queued again (or refunded), the reserve gets back what a sweep took, and the next
	/// proposal waits a voting period.
	pub(crate) fn drop_proposal(
		proposal_id: ProposalId,
		proposal: Proposal<T>,
		refund: Option<RefundReason>,
	) {
		if let ProposalKind::FeeBump { replaces } = proposal.kind {
			return Self::drop_fee_bump(proposal_id, proposal, replaces);
		}
		let ids: Vec<WithdrawalId> = proposal.payouts.iter().map(|(id, _)| *id).collect();
		for id in &ids {
			Withdrawals::<T>::mutate(id, |w| {
				if let Some(w) = w {
					w.status = WithdrawalStatus::Queued;
				}
			});
			Self::enqueue(*id);
		}
		if let Some(reason) = refund {
			Self::refund(&ids, reason);
		}
		Self::release_reserve(proposal.reserve_fee_sats);
		for (_, session_id) in &proposal.signing_sessions {
			T::Custody::close_session(*session_id);
		}
		ProposalByTxid::<T>::remove(proposal.txid);
		Proposals::<T>::insert(proposal_id, proposal);
		ActiveProposal::<T>::kill();
		NextProposalAt::<T>::put(
			frame_system::Pallet::<T>::block_number().saturating_add(T::VotingBlocks::get()),
		);
	}

	/// Closes the voting windows that ended before `now`, reporting the current
	/// validators who cast no vote on their proposal.
	pub(crate) fn close_vote_windows(now: BlockNumberFor<T>) -> Weight {
		let db = T::DbWeight::get();
		let windows: Vec<(ProposalId, BlockNumberFor<T>)> = VoteWindows::<T>::iter().collect();
		let closed: Vec<ProposalId> =
			windows.iter().filter(|(_, end)| now > *end).map(|(id, _)| *id).collect();
		let mut weight = db.reads(1 + windows.len() as u64);
		if closed.is_empty() {
			return weight;
		}
		let validators = T::Custody::validators();
		for proposal_id in &closed {
			let (silent, voted): (Vec<T::AccountId>, Vec<T::AccountId>) = validators
				.iter()
				.cloned()
				.partition(|v| !ProposalVotes::<T>::contains_key(proposal_id, v));
			weight.saturating_accrue(<T as Config>::WeightInfo::close_vote_window(
				voted.len() as u32,
				silent.len() as u32,
			));
			Self::end_vote_window(*proposal_id);
			if !silent.is_empty() {
				T::Custody::report_vote_silence(&silent);
				Self::deposit_event(Event::VoteSilenceReported {
					proposal_id: *proposal_id,
					validators: silent,
				});
			}
		}
		weight
	}

	/// Removes a proposal's voting window and the votes recorded in it (one per validator
	/// that voted, so at most the validators of the window's blocks).
	pub(crate) fn end_vote_window(proposal_id: ProposalId) {
		VoteWindows::<T>::remove(proposal_id);
		let _ = ProposalVotes::<T>::clear_prefix(proposal_id, u32::MAX, None);
	}

	/// Moves the proposal in flight on (expiry, signing); returns the weight used.
	pub(crate) fn advance_active_proposal(now: BlockNumberFor<T>) -> Weight {
		let db = T::DbWeight::get();
		let Some(proposal_id) = ActiveProposal::<T>::get() else { return db.reads(1) };
		let Some(mut proposal) = Proposals::<T>::get(proposal_id) else {
			ActiveProposal::<T>::kill();
			return db.reads_writes(2, 1);
		};
		let payouts = proposal.payouts.len() as u64;
		let inputs = proposal.inputs.len() as u64;
		match proposal.status {
			ProposalStatus::Voting { deadline } if now > deadline => {
				proposal.status = ProposalStatus::Expired;
				Self::deposit_event(Event::ProposalExpired { proposal_id });
				Self::drop_proposal(proposal_id, proposal, None);
				db.reads_writes(3 + payouts, 5 + 2 * payouts)
			},
			ProposalStatus::Approved => {
				Self::start_signing(proposal_id, &mut proposal);
				Proposals::<T>::insert(proposal_id, proposal);
				db.reads_writes(8, 6)
			},
			ProposalStatus::Signing => {
				let mut signatures: Vec<(u32, Vec<[u8; 64]>)> = Vec::new();
				let mut failed = Vec::new();
				for (epoch, session_id) in &proposal.signing_sessions {
					match T::Custody::signing_status(*session_id) {
						SigningStatus::Ready(list) => signatures.push((*epoch, list)),
						SigningStatus::Failed => failed.push(*epoch),
						SigningStatus::Pending { .. } => {},
					}
				}
				if !failed.is_empty() {
					// More members failed than the key tolerates: ask again, for the same
					// messages (the transaction is approved and never changes).
					proposal.signing_sessions.retain(|(e, _)| !failed.contains(e));
					proposal.status = ProposalStatus::Approved;
					Self::start_signing(proposal_id, &mut proposal);
					Proposals::<T>::insert(proposal_id, proposal);
					return db.reads_writes(8, 6);
				}
				if signatures.len() == proposal.signing_sessions.len() {
					Self::finish_signing(proposal_id, &mut proposal, signatures);
					Proposals::<T>::insert(proposal_id, proposal);
					return SIGNATURE_CHECK_WEIGHT
						.saturating_mul(inputs)
						.saturating_add(db.reads_writes(6, 4));
				}
				db.reads(4)
			},
			_ => db.reads(2),
		}
	}

	/// Verifies every input's signature against its epoch's key and assembles the
	/// witnesses; the sessions are closed once their signatures are used.
	fn finish_signing(
		proposal_id: ProposalId,
		proposal: &mut Proposal<T>,
		signatures: Vec<(u32, Vec<[u8; 64]>)>,
	) {
		let Ok(mut transaction) = Transaction::from_bytes(&proposal.unsigned_tx) else {
			log::error!(target: "btc-bridge", "proposal {proposal_id}: stored transaction does not decode");
			return;
		};
		let mut next: Vec<(u32, core::slice::Iter<[u8; 64]>)> =
			signatures.iter().map(|(e, list)| (*e, list.iter())).collect();
		let mut invalid = Vec::new();
		for (index, ((_, _, epoch), sighash)) in
			proposal.inputs.iter().zip(&proposal.sighashes).enumerate()
		{
			let signature =
				next.iter_mut().find(|(e, _)| e == epoch).and_then(|(_, list)| list.next());
			let key = T::Custody::output_key(*epoch);
			match (signature, key) {
				(Some(signature), Some(key)) if verify_bip340(&key, sighash, signature) => {
					// SIGHASH_DEFAULT: the bare 64-byte signature is the whole witness.
					transaction.inputs[index].witness = alloc::vec![signature.to_vec()];
				},
				_ => {
					if !invalid.contains(epoch) {
						invalid.push(*epoch);
					}
				},
			}
		}
		for (_, session_id) in &proposal.signing_sessions {
			T::Custody::close_session(*session_id);
		}
		if !invalid.is_empty() {
			log::error!(target: "btc-bridge", "proposal {proposal_id}: custody signatures of epochs {invalid:?} do not verify; signing again");
			proposal.signing_sessions.retain(|(e, _)| !invalid.contains(e));
			proposal.status = ProposalStatus::Approved;
			return;
		}
		let bytes = transaction.to_bytes();
		let Ok(stored) = BoundedVec::<u8, MaxTransactionBytes>::try_from(bytes.clone()) else {
			log::error!(target: "btc-bridge", "proposal {proposal_id}: signed transaction too large");
			return;
		};
		SignedTransactions::<T>::insert(proposal_id, stored);
		proposal.signing_sessions = BoundedVec::new();
		proposal.status = ProposalStatus::Signed;
		Self::start_fee_bump_clock();
		Self::deposit_event(Event::TransactionSigned {
			proposal_id,
			txid: proposal.txid,
			transaction: bytes,
		});
	}

	pub(crate) fn confirm_proposal(
		proposal_id: ProposalId,
		proposal: &mut Proposal<T>,
		bitcoin_block: BlockHash,
	) {
		for (outpoint, _, _) in &proposal.inputs {
			Utxos::<T>::remove(outpoint);
		}
		if let Some((vout, value_sats, epoch)) = proposal.custody_output {
			let outpoint = OutPoint { txid: proposal.txid, vout };
			Utxos::<T>::insert(outpoint, BridgeUtxo { value_sats, epoch });
			Deposits::<T>::insert(
				outpoint,
				DepositRecord {
					value_sats,
					epoch,
					bitcoin_block,
					outcome: DepositOutcome::BridgeOutput { proposal_id },
				},
			);
		}
		let mut paid_requests = 0u64;
		for (id, _) in &proposal.payouts {
			Withdrawals::<T>::mutate(id, |w| {
				if let Some(w) = w {
					paid_requests = paid_requests.saturating_add(w.amount_sats);
					w.status = WithdrawalStatus::Paid { proposal_id, txid: proposal.txid };
				}
			});
		}
		// The family in flight (this proposal, and fee bumps of it or that it bumps) commits
		// the active member's reserve share; the confirmed member spent its own share, the
		// rest of the bumps' extra goes back to the reserve.
		let family = Self::family_in_flight();
		let committed = family
			.first()
			.and_then(Proposals::<T>::get)
			.map_or(proposal.reserve_fee_sats, |active| active.reserve_fee_sats);
		let unspent = committed.saturating_sub(proposal.reserve_fee_sats);
		Ledger::<T>::mutate(|ledger| {
			ledger.pending_withdrawal_sats =
				ledger.pending_withdrawal_sats.saturating_sub(paid_requests);
			ledger.reserve_committed_sats = ledger.reserve_committed_sats.saturating_sub(committed);
			ledger.reserve_sats = ledger.reserve_sats.saturating_add(unspent);
		});
		for other in family.into_iter().filter(|id| *id != proposal_id) {
			Proposals::<T>::mutate(other, |member| {
				if let Some(member) = member {
					for (_, session_id) in &member.signing_sessions {
						T::Custody::close_session(*session_id);
					}
					member.signing_sessions = BoundedVec::new();
					member.status = ProposalStatus::Superseded { confirmed: proposal_id };
				}
			});
			Self::end_vote_window(other);
			Self::deposit_event(Event::ProposalSuperseded {
				proposal_id: other,
				confirmed: proposal_id,
			});
		}
		FeeBumpBlockedFor::<T>::kill();
		InFlightSince::<T>::kill();
		// Signatures may have been aggregated off-chain while custody was still signing.
		for (_, session_id) in &proposal.signing_sessions {
			T::Custody::close_session(*session_id);
		}
		proposal.signing_sessions = BoundedVec::new();
		proposal.status = ProposalStatus::Confirmed { bitcoin_block };
		Proposals::<T>::insert(proposal_id, proposal.clone());
		ActiveProposal::<T>::kill();
		Self::deposit_event(Event::ProposalConfirmed {
			proposal_id,
			txid: proposal.txid,
			bitcoin_block,
		});
	}

	/// Notes when an epoch stops being its vault's current one: its grace period starts.
	pub(crate) fn track_epochs(now: BlockNumberFor<T>) {
		let current = T::Custody::current_epochs();
		for epoch in T::Custody::live_epochs() {
			if !current.contains(&epoch) && !EpochReplacedAt::<T>::contains_key(epoch) {
				EpochReplacedAt::<T>::insert(epoch, now);
			}
		}
	}

	/// Every UTXO by epoch, each list in the order the builder consumes them.
	fn utxos_by_epoch() -> alloc::collections::BTreeMap<u32, Vec<SpendableUtxo>> {
		let mut by_epoch: alloc::collections::BTreeMap<u32, Vec<SpendableUtxo>> =
			Default::default();
		for (outpoint, utxo) in Utxos::<T>::iter() {
			by_epoch
				.entry(utxo.epoch)
				.or_default()
				.push(SpendableUtxo { outpoint, value_sats: utxo.value_sats });
		}
		for list in by_epoch.values_mut() {
			builder::selection_order(list);
		}
		by_epoch
	}

	/// Retires empty old epochs past their grace period, then proposes a sweep of old keys'
	/// coins to their vault's current key (they must move before their holders leave) or a
	/// payout of the queue, whose change goes to the vault with the most free capacity.
	pub(crate) fn start_next_proposal(now: BlockNumberFor<T>) {
		let currents = T::Custody::current_epochs();
		let mut by_epoch = Self::utxos_by_epoch();
		let holdings: alloc::collections::BTreeMap<u32, u64> = by_epoch
			.iter()
			.map(|(epoch, list)| (*epoch, list.iter().map(|u| u.value_sats).sum()))
			.collect();
		let Some(change_epoch) = Self::freest_epoch(&currents, &holdings) else { return };
		let Some(change_key) = T::Custody::output_key(change_epoch) else { return };
		// Every current key's coins, the change key's first; what is left is old keys'.
		let mut current_lists: Vec<(u32, Vec<SpendableUtxo>)> = Vec::new();
		for epoch in core::iter::once(change_epoch).chain(currents.iter().copied()) {
			if current_lists.iter().all(|(e, _)| *e != epoch) {
				current_lists.push((epoch, by_epoch.remove(&epoch).unwrap_or_default()));
			}
		}
		for epoch in T::Custody::live_epochs() {
			if currents.contains(&epoch) || by_epoch.contains_key(&epoch) {
				continue;
			}
			let replaced_at = EpochReplacedAt::<T>::get(epoch).unwrap_or_else(|| {
				EpochReplacedAt::<T>::insert(epoch, now);
				now
			});
			if now >= replaced_at.saturating_add(T::OldEpochGraceBlocks::get())
				&& T::Custody::retire_epoch(epoch)
			{
				EpochReplacedAt::<T>::remove(epoch);
				Self::deposit_event(Event::EpochSwept { epoch });
			}
		}
		let fee_rate = Self::fee_rate();
		let max_inputs = T::MaxInputsPerProposal::get() as usize;
		// Withdrawals come first while old keys are in their grace period; once one is past
		// it (or nothing waits), sweeping it comes first. Either wait is bounded.
		let grace_over = by_epoch.keys().any(|epoch| {
			EpochReplacedAt::<T>::get(epoch)
				.is_none_or(|at| now >= at.saturating_add(T::OldEpochGraceBlocks::get()))
		});
		let sweep_first = grace_over || WithdrawalQueue::<T>::count() == 0;
		let sweep = |by_epoch: &alloc::collections::BTreeMap<u32, Vec<SpendableUtxo>>| {
			// The oldest key whose vault has a current key goes first, with every old key
			// of that vault (one custody output per sweep).
			let Some(target) = by_epoch.keys().find_map(|epoch| T::Custody::successor(*epoch))
			else {
				return false;
			};
			let Some(target_key) = T::Custody::output_key(target) else { return false };
			let old: alloc::collections::BTreeMap<u32, Vec<SpendableUtxo>> = by_epoch
				.iter()
				.filter(|(epoch, _)| T::Custody::successor(**epoch) == Some(target))
				.map(|(epoch, list)| (*epoch, list.clone()))
				.collect();
			let target_utxos = current_lists
				.iter()
				.find(|(epoch, _)| *epoch == target)
				.map(|(_, list)| list.clone())
				.unwrap_or_default();
			Self::propose_sweep(now, target, &target_key, old, &target_utxos, fee_rate, max_inputs)
		};
		if sweep_first && sweep(&by_epoch) {
			return;
		}
		// Payouts spend any live key's UTXOs (the current keys', then the oldest keys'), so a
		// rotation, or a sweep waiting for the reserve, never holds withdrawals up; one
		// transaction may spend the coins of several vaults, each signing its own inputs.
		let mut epoch_of = alloc::collections::BTreeMap::new();
		let mut candidates = Vec::new();
		let lists = current_lists.iter().cloned().chain(by_epoch.clone());
		for (epoch, list) in lists.take(<MaxSigningEpochs as Get<u32>>::get() as usize) {
			for utxo in list {
				epoch_of.insert(utxo.outpoint, epoch);
				candidates.push(utxo);
			}
		}
		builder::selection_order(&mut candidates);
		if Self::propose_payout(
			now,
			change_epoch,
			&change_key,
			&candidates,
			&epoch_of,
			fee_rate,
			max_inputs,
		) {
			return;
		}
		if !sweep_first && sweep(&by_epoch) {
			return;
		}
		// Last, with nothing else to do: a vault over its capacity gives coins to the one
		// with the most room.
		if by_epoch.is_empty() && WithdrawalQueue::<T>::count() == 0 {
			Self::propose_rebalance(now, &current_lists, &holdings, fee_rate, max_inputs);
		}
	}

	/// Proposes moving coins from the current key furthest over its capacity to the current
	/// key with the most room: its smallest coins until the excess is covered, and only if
	/// the receiving key stays within its own capacity (so coins never go back and forth).
	/// An excess below the minimum deposit is not worth a transaction. The fee comes from the
	/// reserve, as a sweep's. Returns whether it proposed.
	fn propose_rebalance(
		now: BlockNumberFor<T>,
		current_lists: &[(u32, Vec<SpendableUtxo>)],
		holdings: &alloc::collections::BTreeMap<u32, u64>,
		fee_rate: u64,
		max_inputs: usize,
	) -> bool {
		let room = |epoch: u32| Self::free_capacity_sats(epoch, holdings);
		let Some((from, coins)) = current_lists
			.iter()
			.filter(|(epoch, _)| room(*epoch) < 0)
			.min_by_key(|(epoch, _)| room(*epoch))
		else {
			return false;
		};
		let excess = room(*from).unsigned_abs();
		if excess < T::MinDepositSats::get() as u128 {
			return false;
		}
		let others: Vec<u32> =
			current_lists.iter().map(|(epoch, _)| *epoch).filter(|e| e != from).collect();
		let Some(to) = Self::freest_epoch(&others, holdings) else { return false };
		let Some(to_key) = T::Custody::output_key(to) else { return false };
		let mut smallest_first = coins.clone();
		smallest_first.sort_by_key(|coin| (coin.value_sats, coin.outpoint));
		let mut moving = Vec::new();
		let mut moving_sats = 0u128;
		for coin in smallest_first {
			if moving_sats >= excess || moving.len() >= max_inputs {
				break;
			}
			moving_sats += coin.value_sats as u128;
			moving.push(coin);
		}
		if moving.is_empty() || moving_sats as i128 > room(to) {
			return false;
		}
		let Ok(built) = builder::build_sweep(&moving, &[], &to_key, fee_rate, max_inputs) else {
			return false;
		};
		if Ledger::<T>::get().reserve_sats < built.fee_sats {
			return false;
		}
		let epoch_of = moving.iter().map(|coin| (coin.outpoint, *from)).collect();
		let output = (0, built.transaction.outputs[0].value_sats, to);
		let fee = built.fee_sats;
		Self::store_proposal(
			now,
			ProposalKind::Rebalance { from_epoch: *from, to_epoch: to },
			built,
			&epoch_of,
			fee_rate,
			fee,
			Some(output),
		)
	}

	/// Proposes a sweep of old epochs' UTXOs to `current`, the current key of their vault
	/// (oldest epochs first, at most `MaxSigningEpochs` of them) if the reserve can pay its
	/// fee; returns whether it did.
	#[allow(clippy::too_many_arguments)]
	fn propose_sweep(
		now: BlockNumberFor<T>,
		current: u32,
		current_key: &[u8; 32],
		old: alloc::collections::BTreeMap<u32, Vec<SpendableUtxo>>,
		current_utxos: &[SpendableUtxo],
		fee_rate: u64,
		max_inputs: usize,
	) -> bool {
		let mut epoch_of = alloc::collections::BTreeMap::new();
		let mut candidates = Vec::new();
		let from_epoch = old.keys().next().copied().unwrap_or(current);
		// One slot stays for the top-up's epoch (the current one).
		for (epoch, list) in
			old.into_iter().take(<MaxSigningEpochs as Get<u32>>::get() as usize - 1)
		{
			for utxo in list {
				epoch_of.insert(utxo.outpoint, epoch);
				candidates.push(utxo);
			}
		}
		builder::selection_order(&mut candidates);
		for utxo in current_utxos {
			epoch_of.insert(utxo.outpoint, current);
		}
		let built = match builder::build_sweep(
			&candidates,
			current_utxos,
			current_key,
			fee_rate,
			max_inputs,
		) {
			Ok(built) => built,
			Err(error) => {
				// Dust that cannot move even topped up waits for a current UTXO (or for
				// governance to write it off).
				log::debug!(target: "btc-bridge", "no sweep yet: {error:?}");
				return false;
			},
		};
		let ledger = Ledger::<T>::get();
		if ledger.reserve_sats < built.fee_sats {
			if SweepAwaitingReserve::<T>::get() != Some(built.fee_sats) {
				SweepAwaitingReserve::<T>::put(built.fee_sats);
				Self::deposit_event(Event::SweepAwaitingReserve {
					needed_sats: built.fee_sats,
					reserve_sats: ledger.reserve_sats,
				});
			}
			return false;
		}
		SweepAwaitingReserve::<T>::kill();
		let output = (0, built.transaction.outputs[0].value_sats, current);
		let fee = built.fee_sats;
		Self::store_proposal(
			now,
			ProposalKind::Sweep { from_epoch },
			built,
			&epoch_of,
			fee_rate,
			fee,
			Some(output),
		)
	}

	/// Proposes a payout of the queue; returns whether it did.
	#[allow(clippy::too_many_arguments)]
	fn propose_payout(
		now: BlockNumberFor<T>,
		current: u32,
		current_key: &[u8; 32],
		utxos: &[SpendableUtxo],
		epoch_of: &alloc::collections::BTreeMap<OutPoint, u32>,
		fee_rate: u64,
		max_inputs: usize,
	) -> bool {
		let queued = Self::queued_withdrawals(T::MaxRequestsScanned::get() as usize);
		if queued.is_empty() {
			return false;
		}
		let requests: Vec<PayoutRequest> = queued
			.iter()
			.filter_map(|id| {
				Withdrawals::<T>::get(id).map(|w| PayoutRequest {
					id: *id,
					script_pubkey: w.script_pubkey.into_inner(),
					amount_sats: w.amount_sats,
				})
			})
			.collect();
		// Change too small to come back is paid by the reserve (nobody burned it).
		let dust_allowance = Ledger::<T>::get().reserve_sats;
		let limits = builder::PayoutLimits {
			max_inputs,
			max_payouts: T::MaxWithdrawalsPerProposal::get() as usize,
			dust_allowance_sats: dust_allowance,
		};
		let mut built = match builder::build_payout(utxos, &requests, current_key, fee_rate, limits)
		{
			Ok(built) => built,
			Err(BuildError::AllTooSmall { too_small }) => {
				Self::refund(&too_small, RefundReason::TooSmallForFee);
				return false;
			},
			Err(error) => {
				log::debug!(target: "btc-bridge", "no payout yet: {error:?}");
				return false;
			},
		};
		Self::refund(&core::mem::take(&mut built.too_small), RefundReason::TooSmallForFee);
		let custody_output = built
			.change_sats
			.map(|sats| (built.transaction.outputs.len() as u32 - 1, sats, current));
		let given_up = built.change_given_up_sats;
		Self::store_proposal(
			now,
			ProposalKind::Payout,
			built,
			epoch_of,
			fee_rate,
			given_up,
			custody_output,
		)
	}

	/// Stores a built transaction as the proposal in flight, its requests out of the queue
	/// and `reserve_fee_sats` committed from the reserve; returns whether it did (every
	/// input's epoch must have a live key).
	#[allow(clippy::too_many_arguments)]
	fn store_proposal(
		now: BlockNumberFor<T>,
		kind: ProposalKind,
		built: builder::BuiltTransaction,
		epoch_of: &alloc::collections::BTreeMap<OutPoint, u32>,
		fee_rate: u64,
		reserve_fee_sats: u64,
		custody_output: Option<(u32, u64, u32)>,
	) -> bool {
		let mut inputs = Vec::with_capacity(built.inputs.len());
		let mut prevouts = Vec::with_capacity(built.inputs.len());
		for utxo in &built.inputs {
			let Some(epoch) = epoch_of.get(&utxo.outpoint).copied() else { return false };
			let Some(key) = T::Custody::output_key(epoch) else { return false };
			inputs.push((utxo.outpoint, utxo.value_sats, epoch));
			prevouts.push(TxOut {
				value_sats: utxo.value_sats,
				script_pubkey: p2tr_script_pubkey(&key),
			});
		}
		let Ok(sighashes) = key_spend_sighashes(&built.transaction, &prevouts) else {
			return false;
		};
		Self::commit_reserve(reserve_fee_sats);
		let proposal_id = Self::allocate_proposal_id();
		let txid = built.transaction.txid();
		let withdrawals: Vec<WithdrawalId> = built.payouts.iter().map(|(id, _)| *id).collect();
		let deadline = now.saturating_add(T::VotingBlocks::get());
		// The builder keeps within these bounds; a transaction that does not fit is not
		// proposed (never silently cut).
		let (Ok(payouts), Ok(inputs), Ok(unsigned_tx), Ok(sighashes)) = (
			BoundedVec::try_from(built.payouts.clone()),
			BoundedVec::try_from(inputs),
			BoundedVec::try_from(built.transaction.to_bytes()),
			BoundedVec::try_from(sighashes),
		) else {
			log::error!(target: "btc-bridge", "a built transaction exceeds the proposal bounds");
			return false;
		};
		let proposal = Proposal::<T> {
			kind,
			payouts,
			inputs,
			unsigned_tx,
			txid,
			sighashes,
			fee_sats: built.fee_sats,
			fee_rate_sat_per_vb: fee_rate,
			vsize: built.vsize,
			reserve_fee_sats,
			custody_output,
			signing_sessions: BoundedVec::new(),
			approvals: 0,
			rejections: 0,
			status: ProposalStatus::Voting { deadline },
			created_at: now,
		};
		VoteWindows::<T>::insert(proposal_id, deadline);
		for id in &withdrawals {
			Self::dequeue(*id);
			Withdrawals::<T>::mutate(id, |w| {
				if let Some(w) = w {
					w.status = WithdrawalStatus::Proposed { proposal_id };
				}
			});
		}
		Self::deposit_event(Event::ProposalCreated {
			proposal_id,
			kind,
			txid,
			withdrawals,
			inputs: proposal.inputs.len() as u32,
			fee_sats: proposal.fee_sats,
			fee_rate_sat_per_vb: proposal.fee_rate_sat_per_vb,
		});
		Proposals::<T>::insert(proposal_id, proposal);
		ProposalByTxid::<T>::insert(txid, proposal_id);
		ActiveProposal::<T>::put(proposal_id);
		true
	}

	/// The proposals in flight together: the active one and, following
	/// [`ProposalKind::FeeBump`], each signed transaction it replaces (newest first). At most
	/// one of them can confirm: they spend the same inputs.
	pub fn family_in_flight() -> Vec<ProposalId> {
		let mut family = Vec::new();
		let mut next = ActiveProposal::<T>::get();
		while let Some(id) = next {
			if family.contains(&id) {
				break;
			}
			family.push(id);
			next = match Proposals::<T>::get(id).map(|p| p.kind) {
				Some(ProposalKind::FeeBump { replaces }) => Some(replaces),
				_ => None,
			};
		}
		family
	}

	/// A fee bump that was not approved (rejected, expired, cancelled): the transaction it
	/// replaces is in flight again, its extra fee goes back to the reserve, and the next bump
	/// waits the bump delay again.
	fn drop_fee_bump(proposal_id: ProposalId, proposal: Proposal<T>, replaces: ProposalId) {
		let replaced = Proposals::<T>::get(replaces);
		let extra = proposal
			.reserve_fee_sats
			.saturating_sub(replaced.as_ref().map_or(0, |p| p.reserve_fee_sats));
		Self::release_reserve(extra);
		for (_, session_id) in &proposal.signing_sessions {
			T::Custody::close_session(*session_id);
		}
		for (id, _) in &proposal.payouts {
			Withdrawals::<T>::mutate(id, |w| {
				if let Some(w) = w {
					w.status = WithdrawalStatus::Proposed { proposal_id: replaces };
				}
			});
		}
		ProposalByTxid::<T>::remove(proposal.txid);
		Proposals::<T>::insert(proposal_id, proposal);
		ActiveProposal::<T>::put(replaces);
		Self::start_fee_bump_clock();
	}

	/// Bumps the fee of the signed transaction in flight once it is unproven
	/// [`FeeBumpSettings::after_bitcoin_blocks`] light-client blocks beyond the confirmations
	/// its proof needs (it could have been mined in that many blocks): a replacement
	/// with the same inputs and outputs whose custody output pays the extra fee (BIP-125:
	/// a higher rate, and at least the old fee plus 1 sat/vB of its size). The reserve
	/// pays the extra, within [`FeeBumpSettings::max_extra_sats`]; validators vote on it and
	/// custody signs it like any proposal. Returns the weight used.
	pub(crate) fn bump_late_transaction(now: BlockNumberFor<T>) -> Weight {
		let db = T::DbWeight::get();
		let policy = FeeBumpPolicy::<T>::get();
		let Some(proposal_id) = ActiveProposal::<T>::get() else { return db.reads(2) };
		let Some(proposal) = Proposals::<T>::get(proposal_id) else { return db.reads(3) };
		if policy.after_bitcoin_blocks == 0 || proposal.status != ProposalStatus::Signed {
			return db.reads(3);
		}
		let Some(tip) = pallet_btc_light_client::BestTip::<T>::get() else { return db.reads(4) };
		let Some(signed_at) = InFlightSince::<T>::get() else {
			// Signed before this runtime kept the clock: it starts now.
			InFlightSince::<T>::put(tip.height);
			return db.reads_writes(5, 1);
		};
		// A transaction mined in the first block after its signing is provable only once it
		// has its confirmations: the delay counts from there.
		let due = signed_at
			.saturating_add(RequiredConfirmations::<T>::get())
			.saturating_add(policy.after_bitcoin_blocks);
		if tip.height < due {
			return db.reads(6);
		}
		let weight = <T as Config>::WeightInfo::build_payout_proposal(
			proposal.payouts.len() as u32,
			proposal.inputs.len() as u32,
		);
		match Self::build_fee_bump(proposal_id, &proposal, policy) {
			Ok(bump) => {
				let extra = bump.reserve_fee_sats.saturating_sub(proposal.reserve_fee_sats);
				Self::store_fee_bump(now, proposal_id, bump, extra);
			},
			Err(reason) => {
				if FeeBumpBlockedFor::<T>::get() != Some(proposal_id) {
					FeeBumpBlockedFor::<T>::put(proposal_id);
					Self::deposit_event(Event::FeeBumpBlocked { proposal_id, reason });
				}
			},
		}
		weight
	}

	/// The replacement of `proposal` at today's fee rate (at least one sat/vB above its own).
	fn build_fee_bump(
		proposal_id: ProposalId,
		proposal: &Proposal<T>,
		policy: FeeBumpSettings,
	) -> Result<Proposal<T>, FeeBumpBlocked> {
		let (vout, change_sats, epoch) =
			proposal.custody_output.ok_or(FeeBumpBlocked::NoCustodyOutput)?;
		let fee_rate = Self::fee_rate().max(proposal.fee_rate_sat_per_vb.saturating_add(1));
		// BIP-125 rules 3 and 4: at least the old fee, plus the incremental relay fee
		// (1 sat/vB) of the replacement's own size.
		let fee_sats = fee_rate
			.saturating_mul(proposal.vsize)
			.max(proposal.fee_sats.saturating_add(proposal.vsize));
		let extra = fee_sats.saturating_sub(proposal.fee_sats);
		let root_reserve_fee = Self::family_in_flight()
			.last()
			.and_then(Proposals::<T>::get)
			.map_or(proposal.reserve_fee_sats, |root| root.reserve_fee_sats);
		let reserve_fee_sats = proposal.reserve_fee_sats.saturating_add(extra);
		if reserve_fee_sats.saturating_sub(root_reserve_fee) > policy.max_extra_sats {
			return Err(FeeBumpBlocked::OverBudget);
		}
		let mut transaction = Transaction::from_bytes(&proposal.unsigned_tx)
			.map_err(|_| FeeBumpBlocked::NoCustodyOutput)?;
		let output =
			transaction.outputs.get_mut(vout as usize).ok_or(FeeBumpBlocked::NoCustodyOutput)?;
		let new_change = change_sats
			.checked_sub(extra)
			.filter(|sats| *sats >= dust_limit_sats(&output.script_pubkey))
			.ok_or(FeeBumpBlocked::CustodyOutputTooSmall)?;
		if Ledger::<T>::get().reserve_sats < extra {
			return Err(FeeBumpBlocked::ReserveTooLow);
		}
		output.value_sats = new_change;
		let mut prevouts = Vec::with_capacity(proposal.inputs.len());
		for (_, value_sats, input_epoch) in &proposal.inputs {
			let key =
				T::Custody::output_key(*input_epoch).ok_or(FeeBumpBlocked::NoCustodyOutput)?;
			prevouts
				.push(TxOut { value_sats: *value_sats, script_pubkey: p2tr_script_pubkey(&key) });
		}
		let sighashes = key_spend_sighashes(&transaction, &prevouts)
			.map_err(|_| FeeBumpBlocked::NoCustodyOutput)?;
		let (Ok(unsigned_tx), Ok(sighashes)) =
			(BoundedVec::try_from(transaction.to_bytes()), BoundedVec::try_from(sighashes))
		else {
			return Err(FeeBumpBlocked::NoCustodyOutput);
		};
		Ok(Proposal::<T> {
			kind: ProposalKind::FeeBump { replaces: proposal_id },
			payouts: proposal.payouts.clone(),
			inputs: proposal.inputs.clone(),
			unsigned_tx,
			txid: transaction.txid(),
			sighashes,
			fee_sats,
			fee_rate_sat_per_vb: fee_rate,
			vsize: proposal.vsize,
			reserve_fee_sats,
			custody_output: Some((vout, new_change, epoch)),
			signing_sessions: BoundedVec::new(),
			approvals: 0,
			rejections: 0,
			status: ProposalStatus::Voting { deadline: Default::default() },
			created_at: Default::default(),
		})
	}

	/// The next proposal id (ids start at 1).
	fn allocate_proposal_id() -> ProposalId {
		NextProposalId::<T>::mutate(|next| {
			let id = (*next).max(1);
			*next = id + 1;
			id
		})
	}

	/// Moves `sats` of the reserve to the proposal in flight's fee.
	fn commit_reserve(sats: u64) {
		Ledger::<T>::mutate(|ledger| {
			ledger.reserve_sats = ledger.reserve_sats.saturating_sub(sats);
			ledger.reserve_committed_sats = ledger.reserve_committed_sats.saturating_add(sats);
		});
	}

	/// Gives `sats` committed to a proposal's fee back to the reserve.
	pub(crate) fn release_reserve(sats: u64) {
		Ledger::<T>::mutate(|ledger| {
			ledger.reserve_committed_sats = ledger.reserve_committed_sats.saturating_sub(sats);
			ledger.reserve_sats = ledger.reserve_sats.saturating_add(sats);
		});
	}

	/// The signed transaction in flight waits for its proof from the light client's tip.
	fn start_fee_bump_clock() {
		match pallet_btc_light_client::BestTip::<T>::get() {
			Some(tip) => InFlightSince::<T>::put(tip.height),
			None => InFlightSince::<T>::kill(),
		}
	}

	/// Puts a fee bump to the vote as the proposal in flight; the transaction it replaces
	/// stays signed and provable until one of them confirms.
	fn store_fee_bump(
		now: BlockNumberFor<T>,
		replaces: ProposalId,
		mut bump: Proposal<T>,
		extra_sats: u64,
	) {
		Self::commit_reserve(extra_sats);
		let proposal_id = Self::allocate_proposal_id();
		let deadline = now.saturating_add(T::VotingBlocks::get());
		bump.status = ProposalStatus::Voting { deadline };
		bump.created_at = now;
		let withdrawals: Vec<WithdrawalId> = bump.payouts.iter().map(|(id, _)| *id).collect();
		for id in &withdrawals {
			Withdrawals::<T>::mutate(id, |w| {
				if let Some(w) = w {
					w.status = WithdrawalStatus::Proposed { proposal_id };
				}
			});
		}
		VoteWindows::<T>::insert(proposal_id, deadline);
		Self::deposit_event(Event::ProposalCreated {
			proposal_id,
			kind: ProposalKind::FeeBump { replaces },
			txid: bump.txid,
			withdrawals,
			inputs: bump.inputs.len() as u32,
			fee_sats: bump.fee_sats,
			fee_rate_sat_per_vb: bump.fee_rate_sat_per_vb,
		});
		ProposalByTxid::<T>::insert(bump.txid, proposal_id);
		Proposals::<T>::insert(proposal_id, bump);
		ActiveProposal::<T>::put(proposal_id);
	}

	/// See [`Call::cancel_proposal`].
	pub(crate) fn do_cancel_proposal(proposal_id: ProposalId, refund: bool) -> DispatchResult {
		let mut proposal = Proposals::<T>::get(proposal_id).ok_or(Error::<T>::UnknownProposal)?;
		ensure!(
			ActiveProposal::<T>::get() == Some(proposal_id),
			Error::<T>::NotAwaitingConfirmation
		);
		let may_be_signed = match proposal.status {
			ProposalStatus::Voting { .. } => false,
			ProposalStatus::Approved | ProposalStatus::Signing => {
				proposal.signing_sessions.iter().any(|(_, session_id)| {
					!matches!(
						T::Custody::signing_status(*session_id),
						SigningStatus::Pending { shares_published: false } | SigningStatus::Failed
					)
				})
			},
			_ => true,
		};
		ensure!(!may_be_signed, Error::<T>::ProposalMayBeSigned);
		// A fee bump's requests are still paid by the signed transaction it replaces.
		ensure!(
			!(refund && matches!(proposal.kind, ProposalKind::FeeBump { .. })),
			Error::<T>::ProposalMayBeSigned
		);
		proposal.status = ProposalStatus::Cancelled;
		Self::deposit_event(Event::ProposalCancelled { proposal_id, refunded: refund });
		Self::drop_proposal(proposal_id, proposal, refund.then_some(RefundReason::Cancelled));
		Ok(())
	}

	/// See [`Call::write_off_drained_epoch`].
	pub(crate) fn do_write_off_epoch(epoch: u32) -> DispatchResult {
		ensure!(
			!T::Custody::current_epochs().contains(&epoch)
				&& T::Custody::live_epochs().contains(&epoch),
			Error::<T>::EpochNotDrained
		);
		let in_flight = ActiveProposal::<T>::get()
			.and_then(Proposals::<T>::get)
			.is_some_and(|p| p.inputs.iter().any(|(_, _, e)| *e == epoch));
		ensure!(!in_flight, Error::<T>::EpochNotDrained);
		let utxos: Vec<(OutPoint, BridgeUtxo)> =
			Utxos::<T>::iter().filter(|(_, utxo)| utxo.epoch == epoch).collect();
		// Only what no sweep can move now, even topped up with its vault's current UTXOs at
		// the lowest fee rate governance allows.
		let current = T::Custody::successor(epoch).ok_or(Error::<T>::EpochNotDrained)?;
		let current_key = T::Custody::output_key(current).ok_or(Error::<T>::EpochNotDrained)?;
		let mut by_epoch = Self::utxos_by_epoch();
		let old = by_epoch.remove(&epoch).unwrap_or_default();
		let current_utxos = by_epoch.remove(&current).unwrap_or_default();
		let (min_rate, _) = FeeRateBounds::<T>::get();
		let movable = builder::build_sweep(
			&old,
			&current_utxos,
			&current_key,
			min_rate,
			T::MaxInputsPerProposal::get() as usize,
		)
		.is_ok();
		ensure!(!movable, Error::<T>::EpochNotDrained);
		let total: u64 = utxos.iter().map(|(_, u)| u.value_sats).sum();
		let mut ledger = Ledger::<T>::get();
		let mut from_reserve = 0u64;
		let mut from_unclaimed = 0u64;
		for (outpoint, utxo) in &utxos {
			match Deposits::<T>::get(outpoint).map(|r| r.outcome) {
				Some(DepositOutcome::Unclaimed { .. }) => from_unclaimed += utxo.value_sats,
				_ => from_reserve += utxo.value_sats,
			}
		}
		ensure!(ledger.reserve_sats >= from_reserve, Error::<T>::ReserveTooLow);
		ledger.reserve_sats -= from_reserve;
		ledger.unclaimed_sats = ledger.unclaimed_sats.saturating_sub(from_unclaimed);
		Ledger::<T>::put(ledger);
		for (outpoint, _) in &utxos {
			Utxos::<T>::remove(outpoint);
			Deposits::<T>::mutate(outpoint, |record| {
				if let Some(record) = record {
					if matches!(record.outcome, DepositOutcome::Unclaimed { .. }) {
						record.outcome = DepositOutcome::WrittenOff;
					}
				}
			});
		}
		T::Custody::retire_epoch(epoch);
		EpochReplacedAt::<T>::remove(epoch);
		Self::deposit_event(Event::EpochWrittenOff { epoch, sats: total });
		Ok(())
	}
}
