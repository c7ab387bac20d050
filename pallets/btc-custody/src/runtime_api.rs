//! What a validator's node asks the runtime: its custody tasks, its registration, the
//! current custody key.

use super::*;
use alloc::vec::Vec;
use codec::{Decode, Encode};

sp_api::decl_runtime_apis! {
	/// The custody signer's view of the chain.
	pub trait BtcCustodyApi<AccountId> where AccountId: codec::Codec {
		/// What `validator`'s custody signer has to send now (DKG rounds, signing rounds).
		fn pending_tasks(validator: AccountId) -> Vec<CustodyTask>;
		/// The custody identity, encryption key and the (encoded) session key that signed
		/// `validator`'s registration.
		fn registration(validator: AccountId) -> Option<(CustodyIdentity, EncryptionKey, Vec<u8>)>;
		/// The current key epoch: index, DKG id and Taproot output key.
		fn current_custody_key() -> Option<(u32, DkgId, [u8; 32])>;
		/// The validator whose current session key (the key that authenticates custody
		/// registrations) is `session_key`, SCALE-encoded.
		fn validator_of_session_key(session_key: Vec<u8>) -> Option<AccountId>;
		/// The signatures of a finished signing session.
		fn signatures(session_id: SigningSessionId) -> Option<Vec<[u8; 64]>>;
		/// The nonce `validator`'s next registration must carry.
		fn next_registration_nonce(validator: AccountId) -> u32;
		/// DKG ids of the retired key epochs: their key shares are to be deleted.
		fn retired_key_dkg_ids() -> Vec<DkgId>;
	}
}

impl<T: Config> Pallet<T> {
	/// See [`BtcCustodyApi::pending_tasks`].
	pub fn pending_tasks(validator: &T::AccountId) -> Vec<CustodyTask> {
		let mut tasks = Vec::new();
		if let Some(run) = ActiveDkg::<T>::get() {
			if let Some(position) = run.participants.iter().position(|p| &p.0 == validator) {
				let me = position as ParticipantIndex + 1;
				let dkg = DkgParameters {
					dkg_id: run.dkg_id,
					threshold: run.threshold,
					participants: run.participants.iter().map(|(_, i, e)| (*i, *e)).collect(),
				};
				let commitments = || {
					DkgCommitments::<T>::iter_prefix(run.dkg_id)
						.map(|(i, c)| (i, c.into_inner()))
						.collect::<Vec<_>>()
				};
				match run.phase {
					DkgPhase::Commit if !DkgCommitments::<T>::contains_key(run.dkg_id, me) => {
						tasks.push(CustodyTask::DkgCommit { dkg, me })
					},
					DkgPhase::Share if !DkgShareSets::<T>::contains_key(run.dkg_id, me) => {
						tasks.push(CustodyTask::DkgShare { dkg, me, commitments: commitments() })
					},
					DkgPhase::Finish if !DkgAttestations::<T>::contains_key(run.dkg_id, me) => {
						let shares = DkgShareSets::<T>::iter_prefix(run.dkg_id)
							.map(|(i, (ephemeral, list))| (i, ephemeral, list.into_inner()))
							.collect();
						tasks.push(CustodyTask::DkgFinish {
							dkg,
							me,
							commitments: commitments(),
							shares,
						});
					},
					_ => {},
				}
			}
		}
		for session_id in OpenSessions::<T>::get() {
			let Some(session) = SigningSessions::<T>::get(session_id) else { continue };
			let Some(epoch) = Epochs::<T>::get(session.epoch) else { continue };
			let Some(position) = epoch.members.iter().position(|m| &m.0 == validator) else {
				continue;
			};
			let me = position as ParticipantIndex + 1;
			let key = (session_id, session.attempt);
			if session.signing_set.is_empty() {
				if session.allowed.contains(&me) && !SigningCommitments::<T>::contains_key(key, me)
				{
					tasks.push(CustodyTask::SigningCommit {
						session_id,
						attempt: session.attempt,
						key_dkg_id: epoch.dkg_id,
						me,
						message_count: session.messages.len() as u32,
					});
				}
			} else if session.signing_set.contains(&me)
				&& !SignatureShareSets::<T>::contains_key(key, me)
			{
				let commitments = Self::signing_set_commitments(&session, key);
				tasks.push(CustodyTask::SigningShare {
					session_id,
					attempt: session.attempt,
					key_dkg_id: epoch.dkg_id,
					me,
					messages: session.messages.into_inner(),
					commitments,
					merkle_root: epoch.recovery.map(|leaf| leaf.leaf_hash()),
				});
			}
		}
		tasks
	}

	/// See [`BtcCustodyApi::registration`].
	pub fn registration(
		validator: &T::AccountId,
	) -> Option<(CustodyIdentity, EncryptionKey, Vec<u8>)> {
		Registrations::<T>::get(validator)
			.map(|r| (r.identity, r.encryption_key, r.session_key.encode()))
	}

	/// See [`BtcCustodyApi::validator_of_session_key`].
	pub fn validator_of_session_key(session_key: &[u8]) -> Option<T::AccountId> {
		let key = T::AuthorityId::decode(&mut &session_key[..]).ok()?;
		T::Validators::owner_of(&key)
	}

	/// See [`BtcCustodyApi::retired_key_dkg_ids`].
	pub fn retired_key_dkg_ids() -> Vec<DkgId> {
		RetiredEpochs::<T>::iter_keys()
			.filter_map(|e| Epochs::<T>::get(e).map(|k| k.dkg_id))
			.collect()
	}

	/// See [`BtcCustodyApi::current_custody_key`].
	pub fn current_custody_key() -> Option<(u32, DkgId, [u8; 32])> {
		let index = CurrentEpoch::<T>::get()?;
		Epochs::<T>::get(index).map(|e| (index, e.dkg_id, e.output_key))
	}
}
