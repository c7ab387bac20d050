//! Threshold signing sessions: one key epoch signs a list of 32-byte messages.
//!
//! Every member of the epoch may sign (members proven faulty in earlier sessions are left
//! out while at least `t` others remain). An attempt has two rounds, each with a deadline of
//! [`Config::SigningAttemptBlocks`]:
//!
//! 1. allowed members send nonce commitments; the first `t` form the signing set;
//! 2. the set's members send signature shares; the last share triggers aggregation, verified
//!    once against the epoch key (shares one by one only if that fails).
//!
//! A deadline that passes excludes who did not answer (round 1: the allowed members that sent
//! no commitment; round 2: the set's members that sent no share) and starts a new attempt; a
//! bad share excludes its signer at once. Exclusions are reported as offences and recorded
//! in [`EpochFaults`]. Every failed attempt excludes at least one faulty member, so with at
//! most `f = n - t` faulty and the `t` honest members online, a session ends signed within
//! `f + 1` attempts: `(f + 1) * 2 * SigningAttemptBlocks` blocks. Only with more than `f`
//! faulty can too few allowed members remain; the session then fails and the requester
//! decides (the bridge asks again: the same transaction, never another).

use crate::*;
use alloc::{collections::BTreeMap, vec::Vec};
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::Saturating;

impl<T: Config> Pallet<T> {
	/// Opens a session in which epoch `epoch`'s key signs `messages`; returns its id. The
	/// signatures arrive with [`Event::SignaturesReady`] and in [`Signatures`].
	pub fn open_session(epoch: u32, messages: Vec<[u8; 32]>) -> Result<SigningSessionId, Error<T>> {
		let key_epoch = Epochs::<T>::get(epoch).ok_or(Error::<T>::UnknownEpoch)?;
		ensure!(!RetiredEpochs::<T>::contains_key(epoch), Error::<T>::EpochRetired);
		ensure!(!messages.is_empty(), Error::<T>::BadMessageCount);
		let messages: BoundedVec<_, _> =
			messages.try_into().map_err(|_| Error::<T>::BadMessageCount)?;
		let faults = EpochFaults::<T>::get(epoch);
		let members = 1..=key_epoch.members.len() as ParticipantIndex;
		let trusted: Vec<ParticipantIndex> =
			members.clone().filter(|i| !faults.contains(i)).collect();
		// Members that failed before sit this session out while the others can sign alone;
		// otherwise everyone gets another chance.
		let allowed =
			if trusted.len() >= key_epoch.threshold as usize { trusted } else { members.collect() };
		let session_id = NextSessionId::<T>::get().max(1);
		OpenSessions::<T>::try_append(session_id).map_err(|_| Error::<T>::TooManySessions)?;
		NextSessionId::<T>::put(session_id + 1);
		let now = frame_system::Pallet::<T>::block_number();
		let message_count = messages.len() as u32;
		SigningSessions::<T>::insert(
			session_id,
			SigningSession {
				epoch,
				messages,
				allowed: BoundedVec::truncate_from(allowed),
				attempt: 0,
				signing_set: BoundedVec::new(),
				deadline: now.saturating_add(T::SigningAttemptBlocks::get()),
				requested_at: now,
				shares_published: false,
			},
		);
		Self::deposit_event(Event::SigningRequested { session_id, epoch, messages: message_count });
		Ok(session_id)
	}

	/// The session of a signing message, at the message's attempt, with its epoch; `sender`
	/// must be a member.
	fn session_at(
		session_id: SigningSessionId,
		attempt: u32,
		sender: ParticipantIndex,
	) -> Result<(SigningSession<T>, EpochOf<T>), Error<T>> {
		let session = SigningSessions::<T>::get(session_id).ok_or(Error::<T>::UnknownSession)?;
		ensure!(session.attempt == attempt, Error::<T>::WrongAttempt);
		let epoch = Epochs::<T>::get(session.epoch).ok_or(Error::<T>::UnknownEpoch)?;
		ensure!(
			(1..=epoch.members.len() as ParticipantIndex).contains(&sender),
			Error::<T>::UnknownSender
		);
		Ok((session, epoch))
	}

	/// What a nonce commitment must find: the attempt still choosing its set, an allowed
	/// member that has not committed, one well-sized commitment per message.
	pub(crate) fn check_signing_commitment_state(
		message: &SigningCommitment,
	) -> Result<(SigningSession<T>, EpochOf<T>), Error<T>> {
		let (session, epoch) =
			Self::session_at(message.session_id, message.attempt, message.sender)?;
		ensure!(session.allowed.contains(&message.sender), Error::<T>::NotAllowedSigner);
		ensure!(session.signing_set.is_empty(), Error::<T>::SigningSetFull);
		ensure!(
			!SigningCommitments::<T>::contains_key(
				(message.session_id, message.attempt),
				message.sender
			),
			Error::<T>::Duplicate
		);
		ensure!(
			message.commitments.len() == session.messages.len()
				&& message
					.commitments
					.iter()
					.all(|c| c.len() as u32 <= <MaxSigningCommitmentLen as Get<u32>>::get()),
			Error::<T>::MalformedSigningMessage
		);
		Ok((session, epoch))
	}

	pub(crate) fn apply_signing_commitment(
		mut session: SigningSession<T>,
		epoch: &EpochOf<T>,
		message: SigningCommitment,
	) -> Result<(), Error<T>> {
		let key = (message.session_id, message.attempt);
		let commitments: BoundedVec<BoundedVec<u8, MaxSigningCommitmentLen>, _> = message
			.commitments
			.into_iter()
			.map(BoundedVec::try_from)
			.collect::<Result<Vec<_>, _>>()
			.ok()
			.and_then(|v| v.try_into().ok())
			.ok_or(Error::<T>::MalformedSigningMessage)?;
		SigningCommitments::<T>::insert(key, message.sender, commitments);
		let mut committed: Vec<ParticipantIndex> =
			SigningCommitments::<T>::iter_key_prefix(key).collect();
		if committed.len() >= epoch.threshold as usize {
			committed.sort();
			session.signing_set = BoundedVec::truncate_from(committed.clone());
			session.deadline = frame_system::Pallet::<T>::block_number()
				.saturating_add(T::SigningAttemptBlocks::get());
			Self::deposit_event(Event::SigningSetChosen {
				session_id: message.session_id,
				attempt: message.attempt,
				signers: committed,
			});
		}
		SigningSessions::<T>::insert(message.session_id, session);
		Ok(())
	}

	/// What signature shares must find: the attempt's set chosen, a member of it that has
	/// not sent its shares, one share per message.
	pub(crate) fn check_signature_shares_state(
		message: &SignatureShares,
	) -> Result<(SigningSession<T>, EpochOf<T>), Error<T>> {
		let (session, epoch) =
			Self::session_at(message.session_id, message.attempt, message.sender)?;
		ensure!(!session.signing_set.is_empty(), Error::<T>::SigningSetNotChosen);
		ensure!(session.signing_set.contains(&message.sender), Error::<T>::NotAllowedSigner);
		ensure!(
			!SignatureShareSets::<T>::contains_key(
				(message.session_id, message.attempt),
				message.sender
			),
			Error::<T>::Duplicate
		);
		ensure!(
			message.shares.len() == session.messages.len(),
			Error::<T>::MalformedSigningMessage
		);
		Ok((session, epoch))
	}

	/// Stores a member's shares; the set's last one triggers aggregation. Returns whether
	/// it did.
	pub(crate) fn apply_signature_shares(
		mut session: SigningSession<T>,
		epoch: &EpochOf<T>,
		message: SignatureShares,
	) -> Result<bool, Error<T>> {
		let key = (message.session_id, message.attempt);
		let shares: BoundedVec<_, _> =
			message.shares.try_into().map_err(|_| Error::<T>::MalformedSigningMessage)?;
		SignatureShareSets::<T>::insert(key, message.sender, shares);
		session.shares_published = true;
		if SignatureShareSets::<T>::iter_key_prefix(key).count() == session.signing_set.len() {
			Self::finish_attempt(message.session_id, session, epoch);
			Ok(true)
		} else {
			SigningSessions::<T>::insert(message.session_id, session);
			Ok(false)
		}
	}

	fn finish_attempt(
		session_id: SigningSessionId,
		session: SigningSession<T>,
		epoch: &EpochOf<T>,
	) {
		let key = (session_id, session.attempt);
		let Ok(public) =
			frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(&epoch.public_key_package)
		else {
			return;
		};
		let commitments: BTreeMap<ParticipantIndex, Vec<Vec<u8>>> =
			Self::signing_set_commitments(&session, key).into_iter().collect();
		let shares: BTreeMap<ParticipantIndex, Vec<[u8; 32]>> =
			SignatureShareSets::<T>::iter_prefix(key)
				.map(|(i, list)| (i, list.into_inner()))
				.collect();
		let merkle_root = epoch.recovery.map(|leaf| leaf.leaf_hash());
		let mut signatures = Vec::with_capacity(session.messages.len());
		for (position, message) in session.messages.iter().enumerate() {
			match frost_checks::aggregate(
				&public,
				message,
				position,
				&commitments,
				&shares,
				merkle_root.as_ref(),
			) {
				Ok(signature) => signatures.push(signature),
				Err(frost_checks::AggregationError::BadShares(culprits)) => {
					Self::retry(
						session_id,
						session,
						&culprits,
						Some(CustodyOffence::BadSignatureShare),
					);
					return;
				},
				Err(frost_checks::AggregationError::Malformed) => {
					Self::retry(session_id, session, &[], None);
					return;
				},
			}
		}
		Self::clear_attempt(key);
		SigningSessions::<T>::remove(session_id);
		OpenSessions::<T>::mutate(|open| open.retain(|id| *id != session_id));
		Signatures::<T>::insert(session_id, BoundedVec::truncate_from(signatures.clone()));
		Self::deposit_event(Event::SignaturesReady { session_id, signatures });
	}

	/// The nonce commitments of an attempt's signing set, by signer.
	pub(crate) fn signing_set_commitments(
		session: &SigningSession<T>,
		key: (SigningSessionId, u32),
	) -> Vec<(ParticipantIndex, Vec<Vec<u8>>)> {
		SigningCommitments::<T>::iter_prefix(key)
			.filter(|(i, _)| session.signing_set.contains(i))
			.map(|(i, list)| (i, list.into_iter().map(|c| c.into_inner()).collect()))
			.collect()
	}

	fn clear_attempt(key: (SigningSessionId, u32)) {
		let _ = SigningCommitments::<T>::clear_prefix(key, u32::MAX, None);
		let _ = SignatureShareSets::<T>::clear_prefix(key, u32::MAX, None);
	}

	/// Records members of `epoch` proven silent or dishonest while signing, and degrades the
	/// current epoch once too few trusted members remain (see [`Pallet::is_degraded`]): the
	/// next DKG leaves every recorded member out.
	fn record_faults(index: u32, culprits: &[ParticipantIndex]) {
		let Some(epoch) = Epochs::<T>::get(index) else { return };
		let was_degraded = Self::is_degraded(index, &epoch);
		EpochFaults::<T>::mutate(index, |faults| {
			for culprit in culprits {
				if !faults.contains(culprit) {
					let _ = faults.try_push(*culprit);
				}
			}
		});
		if Self::is_vault_current(index) && !was_degraded && Self::is_degraded(index, &epoch) {
			let faulty: Vec<T::AccountId> = EpochFaults::<T>::get(index)
				.iter()
				.filter_map(|i| epoch.members.get(*i as usize - 1).map(|m| m.0.clone()))
				.collect();
			DkgExcluded::<T>::mutate(|excluded| {
				for member in faulty {
					if !excluded.contains(&member) {
						let _ = excluded.try_push(member);
					}
				}
			});
			Self::deposit_event(Event::KeyEpochDegraded {
				epoch: index,
				trusted_members: Self::trusted_members(index, &epoch),
				threshold: epoch.threshold,
			});
		}
	}

	/// Ends the current attempt: `culprits` are excluded from the session (reported and
	/// recorded when `offence` names what they did) and a new attempt starts, unless too few
	/// allowed members remain, which fails the session.
	fn retry(
		session_id: SigningSessionId,
		mut session: SigningSession<T>,
		culprits: &[ParticipantIndex],
		offence: Option<CustodyOffence>,
	) {
		Self::clear_attempt((session_id, session.attempt));
		let epoch = Epochs::<T>::get(session.epoch);
		let offenders: Vec<T::AccountId> = culprits
			.iter()
			.filter_map(|i| {
				epoch.as_ref().and_then(|e| e.members.get(*i as usize - 1)).map(|m| m.0.clone())
			})
			.collect();
		if let Some(offence) = offence {
			if !offenders.is_empty() {
				T::OffenceReporter::report(offence, &offenders);
				Self::record_faults(session.epoch, culprits);
			}
		}
		Self::deposit_event(Event::SigningRetry {
			session_id,
			attempt: session.attempt,
			excluded: offenders,
			offence,
		});
		session.allowed.retain(|i| !culprits.contains(i));
		session.attempt += 1;
		session.signing_set = BoundedVec::new();
		session.deadline = frame_system::Pallet::<T>::block_number()
			.saturating_add(T::SigningAttemptBlocks::get());
		let threshold = epoch.map_or(u16::MAX, |e| e.threshold);
		if session.allowed.len() < threshold as usize {
			SigningSessions::<T>::remove(session_id);
			OpenSessions::<T>::mutate(|open| open.retain(|id| *id != session_id));
			Self::deposit_event(Event::SigningFailed { session_id });
		} else {
			SigningSessions::<T>::insert(session_id, session);
		}
	}

	/// Ends every attempt whose round's deadline passed, excluding who did not answer.
	pub(crate) fn enforce_signing_deadlines(now: BlockNumberFor<T>) {
		for session_id in OpenSessions::<T>::get() {
			let Some(session) = SigningSessions::<T>::get(session_id) else { continue };
			if now <= session.deadline {
				continue;
			}
			let key = (session_id, session.attempt);
			let silent: Vec<ParticipantIndex> = if session.signing_set.is_empty() {
				session
					.allowed
					.iter()
					.copied()
					.filter(|i| !SigningCommitments::<T>::contains_key(key, i))
					.collect()
			} else {
				session
					.signing_set
					.iter()
					.copied()
					.filter(|i| !SignatureShareSets::<T>::contains_key(key, i))
					.collect()
			};
			Self::retry(session_id, session, &silent, Some(CustodyOffence::SigningSilence));
		}
	}

	/// Closes a session: an open one is abandoned, a finished one's signatures forgotten.
	pub(crate) fn do_close_session(session_id: SigningSessionId) {
		if let Some(session) = SigningSessions::<T>::take(session_id) {
			Self::clear_attempt((session_id, session.attempt));
			OpenSessions::<T>::mutate(|open| open.retain(|id| *id != session_id));
		}
		Signatures::<T>::remove(session_id);
	}

	/// Retires an epoch that is no vault's current one: it signs nothing more, its open sessions close, and its
	/// members' stake is released unless they hold another live key.
	pub(crate) fn do_retire_epoch(index: u32) -> Result<(), Error<T>> {
		let epoch = Epochs::<T>::get(index).ok_or(Error::<T>::UnknownEpoch)?;
		ensure!(!Self::is_vault_current(index), Error::<T>::EpochRetired);
		ensure!(!RetiredEpochs::<T>::contains_key(index), Error::<T>::EpochRetired);
		RetiredEpochs::<T>::insert(index, ());
		LiveEpochs::<T>::remove(index);
		EpochFaults::<T>::remove(index);
		for session_id in OpenSessions::<T>::get() {
			if SigningSessions::<T>::get(session_id).is_some_and(|s| s.epoch == index) {
				Self::do_close_session(session_id);
			}
		}
		for (member, _) in &epoch.members {
			if !Self::holds_live_key(member) {
				T::MemberStake::release(member);
			}
		}
		Self::deposit_event(Event::KeyEpochRetired { epoch: index });
		Ok(())
	}

	/// Whether `who` is a member of an epoch that is not retired.
	pub(crate) fn holds_live_key(who: &T::AccountId) -> bool {
		LiveEpochs::<T>::iter_keys().any(|index| {
			Epochs::<T>::get(index).is_some_and(|epoch| epoch.members.iter().any(|m| &m.0 == who))
		})
	}
}
