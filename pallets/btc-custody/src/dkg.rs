//! Distributed key generation: who takes part, its three rounds, their deadlines, and how
//! a finished DKG becomes a key epoch.
//!
//! A vault's DKG starts when its members (see [`crate::vaults`]) differ from its current
//! epoch's, or that epoch is degraded. Its rounds: every participant's round-1 commitment, then every
//! participant's encrypted shares, then every participant's attestation of the public key
//! package it derived (or a complaint about a share). A round that is not complete by its
//! deadline excludes its silent participants and restarts the DKG without them; a complaint
//! restarts it at once without whoever lied; attestations that disagree exclude the ones
//! that differ from the majority (honest participants, more than two thirds, all derive the
//! same package).
//!
//! **Quorum: every participant.** A key epoch starts only when every participant attested
//! the same package. With `n` participants, threshold `t = floor(2n/3) + 1` and at most
//! `f = n - t` faulty, that leaves at least `t` honest holders of verified shares whatever
//! the faulty ones do next. A smaller quorum `q` only guarantees `q - f` honest holders, which
//! is below `t` for any `q < n`.

use crate::*;
use alloc::{collections::BTreeMap, vec, vec::Vec};
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{Hash, Saturating};

impl<T: Config> Pallet<T> {
	fn active_run(dkg_id: DkgId, phase: DkgPhase) -> Result<DkgRun<T>, Error<T>> {
		let run =
			ActiveDkg::<T>::get().filter(|r| r.dkg_id == dkg_id).ok_or(Error::<T>::UnknownDkg)?;
		ensure!(run.phase == phase, Error::<T>::WrongDkgPhase);
		Ok(run)
	}

	fn dkg_sender(run: &DkgRun<T>, sender: ParticipantIndex) -> Result<(), Error<T>> {
		ensure!(run.participant(sender).is_some(), Error::<T>::UnknownSender);
		Ok(())
	}

	/// What a round-1 commitment must find: its DKG in round 1, a participant that has not
	/// committed yet.
	pub(crate) fn check_dkg_commitment_state(
		message: &DkgCommitment,
	) -> Result<DkgRun<T>, Error<T>> {
		let run = Self::active_run(message.dkg_id, DkgPhase::Commit)?;
		Self::dkg_sender(&run, message.sender)?;
		ensure!(
			!DkgCommitments::<T>::contains_key(run.dkg_id, message.sender),
			Error::<T>::Duplicate
		);
		ensure!(
			message.package.len() as u32 <= MaxCommitmentLen::<T>::get(),
			Error::<T>::MalformedCommitment
		);
		Ok(run)
	}

	pub(crate) fn apply_dkg_commitment(
		run: DkgRun<T>,
		message: DkgCommitment,
	) -> Result<(), Error<T>> {
		// Its proof of knowledge was verified in `validate_unsigned`; decoding is enough here.
		let package = frost_checks::stored_commitment(&message.package)
			.ok_or(Error::<T>::MalformedCommitment)?;
		let bytes: BoundedVec<_, _> =
			message.package.try_into().map_err(|_| Error::<T>::MalformedCommitment)?;
		DkgCommitments::<T>::insert(run.dkg_id, message.sender, bytes);
		let count = DkgCommitments::<T>::iter_prefix(run.dkg_id).count();
		let sum = match (count, DkgGroupCommitment::<T>::get(run.dkg_id)) {
			(1, _) => frost_checks::add_constant_term(None, &package),
			(_, Some(previous)) => frost_checks::add_constant_term(Some(&previous), &package),
			// An earlier partial sum was the point at infinity: it stays unknown, and
			// attestations are checked against the sum of every commitment instead.
			(_, None) => None,
		};
		DkgGroupCommitment::<T>::set(run.dkg_id, sum);
		if count == run.participants.len() {
			Self::advance_dkg(run, DkgPhase::Share);
		}
		Ok(())
	}

	/// What round-2 shares must find: round 2, a participant that has not sent them, one
	/// share per other participant and a valid ephemeral key.
	pub(crate) fn check_dkg_shares_state(message: &DkgShares) -> Result<DkgRun<T>, Error<T>> {
		let run = Self::active_run(message.dkg_id, DkgPhase::Share)?;
		Self::dkg_sender(&run, message.sender)?;
		ensure!(
			!DkgShareSets::<T>::contains_key(run.dkg_id, message.sender),
			Error::<T>::Duplicate
		);
		ensure!(
			message.shares.len() + 1 == run.participants.len()
				&& tapchain_primitives::custody::x_only(&message.ephemeral_key).is_ok(),
			Error::<T>::MalformedShares
		);
		Ok(run)
	}

	pub(crate) fn apply_dkg_shares(run: DkgRun<T>, message: DkgShares) -> Result<(), Error<T>> {
		let shares: BoundedVec<_, _> =
			message.shares.try_into().map_err(|_| Error::<T>::MalformedShares)?;
		DkgShareSets::<T>::insert(run.dkg_id, message.sender, (message.ephemeral_key, shares));
		if DkgShareSets::<T>::iter_prefix(run.dkg_id).count() == run.participants.len() {
			Self::advance_dkg(run, DkgPhase::Finish);
		}
		Ok(())
	}

	/// What an attestation must find: round 3 and a participant that has neither attested
	/// nor complained (a complaint ends the run).
	pub(crate) fn check_dkg_attestation_state(
		message: &DkgKeyAttestation,
	) -> Result<DkgRun<T>, Error<T>> {
		let run = Self::active_run(message.dkg_id, DkgPhase::Finish)?;
		Self::dkg_sender(&run, message.sender)?;
		ensure!(
			!DkgAttestations::<T>::contains_key(run.dkg_id, message.sender),
			Error::<T>::Duplicate
		);
		ensure!(
			message.public_key_package.len() as u32 <= MaxPackageLen::<T>::get(),
			Error::<T>::BadPublicKeyPackage
		);
		Ok(run)
	}

	/// Checks an attested package against the group key the commitments define, unless the
	/// same package was checked already.
	pub(crate) fn check_public_key_package(
		run: &DkgRun<T>,
		package: &[u8],
	) -> Result<(), Error<T>> {
		if DkgCandidateKeys::<T>::contains_key(run.dkg_id, T::Hashing::hash(package)) {
			return Ok(());
		}
		let expected = Self::dkg_output_key(run).ok_or(Error::<T>::BadPublicKeyPackage)?;
		frost_checks::check_public_key_package(
			package,
			run.participants.len() as u16,
			run.threshold,
			&expected,
		)
		.map(|_| ())
		.map_err(|_| Error::<T>::BadPublicKeyPackage)
	}

	/// Records an attestation; once every participant attested, starts the key epoch (all
	/// agree) or restarts without the ones that differ from the majority. Returns whether
	/// this was a decisive attestation (a new package, or the last one).
	pub(crate) fn apply_dkg_attestation(
		run: DkgRun<T>,
		message: DkgKeyAttestation,
	) -> Result<bool, Error<T>> {
		let hash = T::Hashing::hash(&message.public_key_package);
		let new_package = !DkgCandidateKeys::<T>::contains_key(run.dkg_id, hash);
		if new_package {
			let package: BoundedVec<_, _> = message
				.public_key_package
				.try_into()
				.map_err(|_| Error::<T>::BadPublicKeyPackage)?;
			DkgCandidateKeys::<T>::insert(run.dkg_id, hash, package);
		}
		DkgAttestations::<T>::insert(run.dkg_id, message.sender, hash);
		let attestations: Vec<(ParticipantIndex, T::Hash)> =
			DkgAttestations::<T>::iter_prefix(run.dkg_id).collect();
		if attestations.len() < run.participants.len() {
			return Ok(new_package);
		}
		let majority = Self::majority_package(&attestations);
		let dissenters: Vec<T::AccountId> = attestations
			.iter()
			.filter(|(_, h)| Some(*h) != majority)
			.filter_map(|(i, _)| run.participant(*i).map(|p| p.0.clone()))
			.collect();
		match (majority, dissenters.is_empty()) {
			(Some(hash), true) => {
				Self::start_epoch(&run, hash);
				Self::clear_dkg(run.dkg_id);
			},
			_ => Self::restart_dkg(run, dissenters, CustodyOffence::DkgWrongKey),
		}
		Ok(true)
	}

	/// The package most participants attested (the first of equals by hash order, which
	/// cannot matter: honest participants, more than two thirds, all attest the same one).
	fn majority_package(attestations: &[(ParticipantIndex, T::Hash)]) -> Option<T::Hash> {
		let mut counts: BTreeMap<T::Hash, usize> = BTreeMap::new();
		for (_, hash) in attestations {
			*counts.entry(*hash).or_default() += 1;
		}
		let most = counts.values().copied().max()?;
		counts.into_iter().find(|(_, count)| *count == most).map(|(hash, _)| hash)
	}

	/// What a complaint must find: round 3, a complainer that has not attested, and an
	/// accused other participant.
	pub(crate) fn check_dkg_complaint_state(message: &DkgComplaint) -> Result<DkgRun<T>, Error<T>> {
		let run = Self::active_run(message.dkg_id, DkgPhase::Finish)?;
		Self::dkg_sender(&run, message.sender)?;
		ensure!(
			!DkgAttestations::<T>::contains_key(run.dkg_id, message.sender),
			Error::<T>::AlreadyAttested
		);
		ensure!(
			message.accused != message.sender && run.participant(message.accused).is_some(),
			Error::<T>::BadComplaint
		);
		Ok(run)
	}

	/// Decides a complaint: the share the accused sent the complainer is decrypted with the
	/// revealed ECDH point and checked against the accused's commitment. Whoever lied is
	/// excluded and the DKG restarts.
	pub(crate) fn judge_dkg_complaint(
		run: DkgRun<T>,
		message: DkgComplaint,
	) -> Result<(), Error<T>> {
		let commitment = DkgCommitments::<T>::get(run.dkg_id, message.accused)
			.and_then(|bytes| frost_checks::stored_commitment(&bytes))
			.ok_or(Error::<T>::BadComplaint)?;
		let (ephemeral_key, shares) =
			DkgShareSets::<T>::get(run.dkg_id, message.accused).ok_or(Error::<T>::BadComplaint)?;
		// The accused's list skips the accused itself.
		let position =
			if message.sender < message.accused { message.sender - 1 } else { message.sender - 2 };
		let share = shares.get(position as usize).ok_or(Error::<T>::BadComplaint)?;
		let complainer_key = run.participant(message.sender).ok_or(Error::<T>::UnknownSender)?.2;
		let verdict = frost_checks::judge_complaint(
			run.dkg_id,
			message.sender,
			&complainer_key,
			message.accused,
			&commitment,
			&ephemeral_key,
			share,
			&message.shared_point,
			&message.proof,
		);
		let (guilty, offence) = match verdict {
			frost_checks::ComplaintVerdict::AccusedGuilty => {
				(message.accused, CustodyOffence::DkgBadShare)
			},
			frost_checks::ComplaintVerdict::ComplainerGuilty => {
				(message.sender, CustodyOffence::DkgFalseComplaint)
			},
		};
		let offender = run.participant(guilty).ok_or(Error::<T>::UnknownSender)?.0.clone();
		Self::restart_dkg(run, vec![offender], offence);
		Ok(())
	}

	/// Forgets exclusions made for an earlier validator set; returns the current one.
	pub(crate) fn refresh_exclusions() -> Vec<T::AccountId> {
		let validators = T::Validators::validators();
		let set_hash = T::Hashing::hash_of(&validators);
		if ExclusionValidatorSet::<T>::get() != Some(set_hash) {
			ExclusionValidatorSet::<T>::put(set_hash);
			ValidatorSetSince::<T>::put(frame_system::Pallet::<T>::block_number());
			DkgExcluded::<T>::kill();
		}
		validators
	}

	/// The validators that would take part in a DKG now: registered and not excluded, in
	/// account order, with their keys.
	pub(crate) fn dkg_candidates(
		validators: &[T::AccountId],
	) -> Vec<(T::AccountId, CustodyIdentity, EncryptionKey)> {
		let excluded = DkgExcluded::<T>::get();
		let mut participants: Vec<_> = validators
			.iter()
			.filter(|v| !excluded.contains(v))
			.filter_map(|v| {
				Registrations::<T>::get(v).map(|r| (v.clone(), r.identity, r.encryption_key))
			})
			.collect();
		participants.sort_by(|a, b| a.0.cmp(&b.0));
		participants.dedup_by(|a, b| a.0 == b.0);
		participants
	}

	/// Starts the DKG of the first vault (in index order) that needs a key: it has none, its
	/// members differ from its current epoch's, or that epoch is degraded. One DKG runs at a
	/// time, so a block carries at most one vault's DKG messages.
	pub(crate) fn maybe_start_dkg(now: BlockNumberFor<T>) {
		let excluded = DkgExcluded::<T>::get();
		for vault in 0..VaultCount::<T>::get() {
			let members = VaultMembers::<T>::get(vault);
			// A vault with an excluded member waits for the partition that leaves it out.
			if members.iter().any(|m| excluded.contains(m)) {
				continue;
			}
			// Members registered when they were dealt; a re-registration's keys count.
			let participants: Vec<_> = members
				.iter()
				.filter_map(|v| {
					Registrations::<T>::get(v).map(|r| (v.clone(), r.identity, r.encryption_key))
				})
				.collect();
			let n = participants.len();
			if n < 2 {
				continue;
			}
			// A changed identity of a member alone starts no DKG (it would let one validator
			// force endless key rotations); changed holders, or a degraded key, do.
			let current =
				VaultEpochs::<T>::get(vault).and_then(|e| Epochs::<T>::get(e).map(|k| (e, k)));
			if let Some((index, epoch)) = &current {
				let same_holders = epoch.members.len() == n
					&& epoch.members.iter().zip(&participants).all(|(m, p)| m.0 == p.0);
				if same_holders && !Self::is_degraded(*index, epoch) {
					continue;
				}
			}
			let Ok(bounded) = BoundedVec::try_from(participants) else { continue };
			let dkg_id = NextDkgId::<T>::mutate(|id| {
				let current = (*id).max(1);
				*id = current + 1;
				current
			});
			let threshold = threshold_of(n);
			let run = DkgRun::<T> {
				dkg_id,
				vault,
				participants: bounded,
				threshold,
				phase: DkgPhase::Commit,
				deadline: now.saturating_add(T::DkgRoundBlocks::get()),
			};
			Self::deposit_event(Event::DkgStarted {
				dkg_id,
				vault,
				participants: run.participants.iter().map(|p| p.0.clone()).collect(),
				threshold,
			});
			ActiveDkg::<T>::put(run);
			return;
		}
	}

	fn advance_dkg(mut run: DkgRun<T>, phase: DkgPhase) {
		run.phase = phase;
		run.deadline =
			frame_system::Pallet::<T>::block_number().saturating_add(T::DkgRoundBlocks::get());
		Self::deposit_event(Event::DkgPhaseChanged { dkg_id: run.dkg_id, phase });
		ActiveDkg::<T>::put(run);
	}

	pub(crate) fn clear_dkg(dkg_id: DkgId) {
		ActiveDkg::<T>::kill();
		let _ = DkgCommitments::<T>::clear_prefix(dkg_id, u32::MAX, None);
		DkgGroupCommitment::<T>::remove(dkg_id);
		let _ = DkgShareSets::<T>::clear_prefix(dkg_id, u32::MAX, None);
		let _ = DkgAttestations::<T>::clear_prefix(dkg_id, u32::MAX, None);
		let _ = DkgCandidateKeys::<T>::clear_prefix(dkg_id, u32::MAX, None);
	}

	/// Leaves `offenders` out of custody keys for this validator set and reports them.
	pub(crate) fn exclude(offenders: &[T::AccountId], offence: CustodyOffence) {
		DkgExcluded::<T>::mutate(|excluded| {
			for offender in offenders {
				if !excluded.contains(offender) {
					let _ = excluded.try_push(offender.clone());
				}
			}
		});
		if !offenders.is_empty() {
			T::OffenceReporter::report(offence, offenders);
		}
	}

	fn restart_dkg(run: DkgRun<T>, offenders: Vec<T::AccountId>, offence: CustodyOffence) {
		Self::exclude(&offenders, offence);
		Self::deposit_event(Event::DkgRestarting {
			dkg_id: run.dkg_id,
			excluded: offenders,
			offence,
		});
		Self::clear_dkg(run.dkg_id);
	}

	/// Ends a round whose deadline passed: the participants who did not answer are
	/// excluded (and, in round 3, those whose attestation differs from the majority), and
	/// the DKG restarts without them.
	pub(crate) fn enforce_dkg_deadline(now: BlockNumberFor<T>) {
		let Some(run) = ActiveDkg::<T>::get() else { return };
		if now <= run.deadline {
			return;
		}
		let answered = |index: ParticipantIndex| match run.phase {
			DkgPhase::Commit => DkgCommitments::<T>::contains_key(run.dkg_id, index),
			DkgPhase::Share => DkgShareSets::<T>::contains_key(run.dkg_id, index),
			DkgPhase::Finish => DkgAttestations::<T>::contains_key(run.dkg_id, index),
		};
		let silent: Vec<T::AccountId> = (1..=run.participants.len() as ParticipantIndex)
			.filter(|i| !answered(*i))
			.filter_map(|i| run.participant(i).map(|p| p.0.clone()))
			.collect();
		if run.phase == DkgPhase::Finish {
			let attestations: Vec<_> = DkgAttestations::<T>::iter_prefix(run.dkg_id).collect();
			let majority = Self::majority_package(&attestations);
			let dissenters: Vec<T::AccountId> = attestations
				.iter()
				.filter(|(_, h)| Some(*h) != majority)
				.filter_map(|(i, _)| run.participant(*i).map(|p| p.0.clone()))
				.collect();
			Self::exclude(&dissenters, CustodyOffence::DkgWrongKey);
		}
		Self::restart_dkg(run, silent, CustodyOffence::DkgSilence);
	}

	pub(crate) fn dkg_output_key(run: &DkgRun<T>) -> Option<[u8; 32]> {
		if let Some(sum) = DkgGroupCommitment::<T>::get(run.dkg_id) {
			return frost_checks::output_key_of_group_commitment(&sum, run.threshold);
		}
		let packages: Option<Vec<_>> = (1..=run.participants.len() as ParticipantIndex)
			.map(|i| {
				DkgCommitments::<T>::get(run.dkg_id, i)
					.and_then(|bytes| frost_checks::stored_commitment(&bytes))
			})
			.collect();
		frost_checks::group_output_key(&packages?, run.threshold)
	}

	fn start_epoch(run: &DkgRun<T>, hash: T::Hash) {
		let Some(package) = DkgCandidateKeys::<T>::get(run.dkg_id, hash) else { return };
		let recovery = RecoveryLeafConfig::<T>::get();
		let merkle_root = recovery.map(|leaf| leaf.leaf_hash());
		let Some((internal_key, output_key)) =
			frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(&package).ok().and_then(|p| {
				Some((
					frost_checks::x_only(p.verifying_key())?,
					frost_checks::output_key(&p, merkle_root.as_ref())?,
				))
			})
		else {
			return;
		};
		let epoch = CurrentEpoch::<T>::get().map_or(0, |e| e + 1);
		let members: Vec<_> = run.participants.iter().map(|(a, i, _)| (a.clone(), *i)).collect();
		let mut stake_sats = 0u64;
		for (member, _) in &members {
			T::MemberStake::hold(member);
			stake_sats = stake_sats.saturating_add(T::MemberStake::at_stake_sats(member));
		}
		let member_count = members.len() as u32;
		let Ok(members) = BoundedVec::try_from(members) else { return };
		Epochs::<T>::insert(
			epoch,
			KeyEpoch {
				dkg_id: run.dkg_id,
				vault: run.vault,
				stake_sats,
				output_key,
				internal_key,
				recovery,
				members,
				threshold: run.threshold,
				public_key_package: package,
				started_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		CurrentEpoch::<T>::put(epoch);
		VaultEpochs::<T>::insert(run.vault, epoch);
		LiveEpochs::<T>::insert(epoch, ());
		Self::deposit_event(Event::KeyEpochStarted {
			epoch,
			vault: run.vault,
			dkg_id: run.dkg_id,
			output_key,
			internal_key,
			recovery,
			members: member_count,
			threshold: run.threshold,
		});
	}

	/// Members of `epoch` still trusted to sign: not recorded in [`EpochFaults`].
	pub(crate) fn trusted_members(index: u32, epoch: &EpochOf<T>) -> u32 {
		let faults = EpochFaults::<T>::decode_len(index).unwrap_or(0) as u32;
		(epoch.members.len() as u32).saturating_sub(faults)
	}

	/// An epoch is degraded once faults left it with at most `t + floor((n - t) / 2)` trusted
	/// members (half its fault budget spent) and a key among the trusted ones alone would
	/// tolerate more (its threshold is lower): it is replaced while it can still sign. (With
	/// four members, one fault leaves three, and a 3-of-3 key tolerates no more than the old
	/// key still does: no rotation is worth its DKG and sweep then.)
	pub(crate) fn is_degraded(index: u32, epoch: &EpochOf<T>) -> bool {
		let n = epoch.members.len() as u32;
		let t = epoch.threshold as u32;
		let trusted = Self::trusted_members(index, epoch);
		trusted < n && trusted <= t + (n - t) / 2 && (threshold_of(trusted as usize) as u32) < t
	}
}
