//! The one authentication path of custody messages.
//!
//! Every custody call is an unsigned extrinsic. [`Pallet::validate_custody_message`] checks
//! it in full: the sender's signature (custody identity, or session key and identity for a
//! registration), then the state checks the call itself repeats at dispatch (round,
//! membership, duplicates, counts), then what only the bytes can tell (proofs of knowledge,
//! public key packages, commitment encodings). The pool runs it, and block execution runs it
//! again right before dispatch (`pre_dispatch`), so a message in a block has passed it against
//! the state it is applied to: calls only repeat the cheap state checks and never verify a
//! signature again. Whatever the pool accepts has an effect at dispatch.

use crate::*;
use alloc::vec::Vec;
use codec::Encode;
use frame_support::pallet_prelude::*;
use sp_runtime::RuntimeAppPublic;
use tapchain_primitives::custody::{
	registration_digest, verify_auth, AuthSignature, CustodyMessage, RegistrationPayload,
};

impl<T: Config> Pallet<T> {
	/// See the module docs: the full check of a custody message, and its pool entry.
	pub(crate) fn validate_custody_message(call: &Call<T>) -> TransactionValidity {
		let (tag, longevity) = Self::verify_custody_message(call).map_err(|e| match e {
			Some(error) => Self::invalid(error),
			None => InvalidTransaction::Call.into(),
		})?;
		ValidTransaction::with_tag_prefix("BtcCustody")
			.priority(T::UnsignedPriority::get())
			.and_provides(tag)
			.longevity(longevity)
			.propagate(true)
			.build()
	}

	/// Checks a custody message in full (see the module docs); returns its pool tag and
	/// longevity, or what is wrong with it (`None`: not a custody message).
	pub fn verify_custody_message(call: &Call<T>) -> Result<(Vec<u8>, u64), Option<Error<T>>> {
		Ok(match call {
			Call::register_custody_keys {
				payload,
				session_key,
				session_signature,
				identity_signature,
			} => {
				Self::authenticate_registration(
					payload,
					session_key,
					session_signature,
					identity_signature,
				)?;
				Self::check_registration_state(payload, session_key)?;
				// One registration per validator in the pool: the nonce allows only one anyway.
				((b"register", &payload.validator).encode(), 64)
			},
			Call::submit_dkg_commitment { message, signature } => {
				let run = Self::check_dkg_commitment_state(message)?;
				Self::authenticate_dkg(&run, message.sender, message, signature)?;
				frost_checks::check_commitment(message.sender, &message.package, run.threshold)
					.map_err(|e| match e {
						frost_checks::PackageError::BadProofOfKnowledge => {
							Error::<T>::BadProofOfKnowledge
						},
						_ => Error::<T>::MalformedCommitment,
					})?;
				((b"dkg1", message.dkg_id, message.sender).encode(), 64)
			},
			Call::submit_dkg_shares { message, signature } => {
				let run = Self::check_dkg_shares_state(message)?;
				Self::authenticate_dkg(&run, message.sender, message, signature)?;
				((b"dkg2", message.dkg_id, message.sender).encode(), 64)
			},
			Call::attest_dkg_key { message, signature } => {
				let run = Self::check_dkg_attestation_state(message)?;
				Self::authenticate_dkg(&run, message.sender, message, signature)?;
				Self::check_public_key_package(&run, &message.public_key_package)?;
				// An attestation and a complaint are the same round's answer: one of the two.
				((b"dkg3", message.dkg_id, message.sender).encode(), 64)
			},
			Call::report_dkg_complaint { message, signature } => {
				let run = Self::check_dkg_complaint_state(message)?;
				Self::authenticate_dkg(&run, message.sender, message, signature)?;
				((b"dkg3", message.dkg_id, message.sender).encode(), 64)
			},
			Call::submit_signing_commitment { message, signature } => {
				let (_, epoch) = Self::check_signing_commitment_state(message)?;
				Self::authenticate_member(&epoch, message.sender, message, signature)?;
				ensure!(
					frost_checks::check_signing_commitments(&message.commitments),
					Error::<T>::MalformedSigningMessage
				);
				((b"sig1", message.session_id, message.attempt, message.sender).encode(), 32)
			},
			Call::submit_signature_shares { message, signature } => {
				let (_, epoch) = Self::check_signature_shares_state(message)?;
				Self::authenticate_member(&epoch, message.sender, message, signature)?;
				((b"sig2", message.session_id, message.attempt, message.sender).encode(), 32)
			},
			_ => return Err(None),
		})
	}

	/// How the pool sees a refusal: a bad signature is a bad proof; a message of the past
	/// (a finished round, a replay, an old attempt) is stale; anything else is this pallet's
	/// error, by its index, so a node's log names it.
	pub(crate) fn invalid(error: Error<T>) -> TransactionValidityError {
		match error {
			Error::<T>::BadMessageSignature
			| Error::<T>::BadSessionSignature
			| Error::<T>::BadIdentitySignature => InvalidTransaction::BadProof.into(),
			Error::<T>::UnknownSender | Error::<T>::NotAllowedSigner => {
				InvalidTransaction::BadSigner.into()
			},
			Error::<T>::Duplicate
			| Error::<T>::AlreadyAttested
			| Error::<T>::AlreadyRegistered
			| Error::<T>::StaleRegistrationNonce
			| Error::<T>::UnknownDkg
			| Error::<T>::WrongDkgPhase
			| Error::<T>::UnknownSession
			| Error::<T>::WrongAttempt
			| Error::<T>::SigningSetFull
			| Error::<T>::SigningSetNotChosen => InvalidTransaction::Stale.into(),
			error => InvalidTransaction::Custom(error.encode().first().copied().unwrap_or(u8::MAX))
				.into(),
		}
	}

	pub(crate) fn genesis_hash() -> [u8; 32] {
		let hash = frame_system::Pallet::<T>::block_hash(
			frame_system::pallet_prelude::BlockNumberFor::<T>::default(),
		);
		let mut out = [0u8; 32];
		let bytes = hash.as_ref();
		let len = bytes.len().min(32);
		out[..len].copy_from_slice(&bytes[..len]);
		out
	}

	fn verify_identity<M: Clone + Into<CustodyMessage>>(
		identity: &CustodyIdentity,
		message: &M,
		signature: &AuthSignature,
	) -> Result<(), Error<T>> {
		let message: CustodyMessage = message.clone().into();
		let digest = message.digest(&Self::genesis_hash());
		ensure!(verify_auth(identity, &digest, signature), Error::<T>::BadMessageSignature);
		Ok(())
	}

	/// Checks that a DKG message is signed by participant `sender`'s custody identity.
	fn authenticate_dkg<M: Clone + Into<CustodyMessage>>(
		run: &DkgRun<T>,
		sender: ParticipantIndex,
		message: &M,
		signature: &AuthSignature,
	) -> Result<(), Error<T>> {
		let (_, identity, _) = run.participant(sender).ok_or(Error::<T>::UnknownSender)?;
		Self::verify_identity(identity, message, signature)
	}

	/// Checks that a signing message is signed by member `sender` of the epoch.
	fn authenticate_member<M: Clone + Into<CustodyMessage>>(
		epoch: &EpochOf<T>,
		sender: ParticipantIndex,
		message: &M,
		signature: &AuthSignature,
	) -> Result<(), Error<T>> {
		let (_, identity) = epoch
			.members
			.get((sender as usize).wrapping_sub(1))
			.ok_or(Error::<T>::UnknownSender)?;
		Self::verify_identity(identity, message, signature)
	}

	/// The signatures of a registration: the validator's current session key and the
	/// identity's proof of possession, on this chain.
	pub(crate) fn authenticate_registration(
		payload: &RegistrationPayload<T::AccountId>,
		session_key: &T::AuthorityId,
		session_signature: &<T::AuthorityId as RuntimeAppPublic>::Signature,
		identity_signature: &AuthSignature,
	) -> Result<(), Error<T>> {
		ensure!(payload.genesis_hash == Self::genesis_hash(), Error::<T>::WrongGenesis);
		ensure!(
			T::Validators::owner_of(session_key).as_ref() == Some(&payload.validator),
			Error::<T>::NotValidatorSessionKey
		);
		ensure!(
			session_key.verify(&payload.encode(), session_signature),
			Error::<T>::BadSessionSignature
		);
		ensure!(
			verify_auth(&payload.identity, &registration_digest(payload), identity_signature),
			Error::<T>::BadIdentitySignature
		);
		Ok(())
	}

	/// What a registration must still find at dispatch: its nonce next, its identity free,
	/// something new, and the session key still the validator's.
	pub(crate) fn check_registration_state(
		payload: &RegistrationPayload<T::AccountId>,
		session_key: &T::AuthorityId,
	) -> Result<(), Error<T>> {
		ensure!(
			T::Validators::owner_of(session_key).as_ref() == Some(&payload.validator),
			Error::<T>::NotValidatorSessionKey
		);
		ensure!(
			payload.nonce == RegistrationNonces::<T>::get(&payload.validator),
			Error::<T>::StaleRegistrationNonce
		);
		if let Some(owner) = IdentityOwners::<T>::get(payload.identity) {
			ensure!(owner == payload.validator, Error::<T>::IdentityInUse);
		}
		let current = Registrations::<T>::get(&payload.validator);
		ensure!(
			current.as_ref().map(|r| (&r.identity, &r.encryption_key, &r.session_key))
				!= Some((&payload.identity, &payload.encryption_key, session_key)),
			Error::<T>::AlreadyRegistered
		);
		Ok(())
	}

	pub(crate) fn apply_registration(
		payload: RegistrationPayload<T::AccountId>,
		session_key: T::AuthorityId,
	) {
		if let Some(old) = Registrations::<T>::get(&payload.validator) {
			IdentityOwners::<T>::remove(old.identity);
		}
		IdentityOwners::<T>::insert(payload.identity, &payload.validator);
		RegistrationNonces::<T>::mutate(&payload.validator, |nonce| *nonce += 1);
		Registrations::<T>::insert(
			&payload.validator,
			Registration {
				identity: payload.identity,
				encryption_key: payload.encryption_key,
				session_key,
			},
		);
		Self::deposit_event(Event::CustodyKeysRegistered {
			validator: payload.validator,
			identity: payload.identity,
		});
	}
}
