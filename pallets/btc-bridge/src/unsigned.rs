//! The one authentication path of votes and fee reports.
//!
//! Both are unsigned extrinsics signed by a validator's custody identity.
//! [`Pallet::validate_bridge_message`] checks them in full (signature, then the state checks
//! the call repeats at dispatch); the pool runs it and block execution runs it again right
//! before dispatch (`pre_dispatch`), so the calls never verify a signature themselves, and
//! whatever the pool accepts has an effect.

use crate::*;
use alloc::vec::Vec;
use codec::Encode;
use frame_support::pallet_prelude::*;
use tapchain_primitives::{
	bridge::BridgeMessage,
	custody::{verify_bip340, AuthSignature},
};

impl<T: Config> Pallet<T> {
	/// See the module docs: the full check of a vote or fee report, and its pool entry.
	pub(crate) fn validate_bridge_message(call: &Call<T>) -> TransactionValidity {
		let (tag, longevity) = Self::verify_bridge_message(call).map_err(|e| match e {
			Some(error) => Self::invalid(error),
			None => InvalidTransaction::Call.into(),
		})?;
		ValidTransaction::with_tag_prefix("BtcBridge")
			.priority(T::UnsignedPriority::get())
			.and_provides(tag)
			.longevity(longevity)
			.propagate(true)
			.build()
	}

	/// Checks a vote or fee report in full; returns its pool tag and longevity, or what is
	/// wrong with it (`None`: not a vote or a report).
	pub fn verify_bridge_message(call: &Call<T>) -> Result<(Vec<u8>, u64), Option<Error<T>>> {
		Ok(match call {
			Call::vote_on_proposal { vote, signature } => {
				Self::verify_signature(
					&vote.voter,
					BridgeMessage::ProposalVote(vote.clone()),
					signature,
				)?;
				let validator = Self::check_vote_state(vote)?;
				((b"btc-bridge-vote", vote.proposal_id, validator).encode(), 64)
			},
			Call::report_fee_rate { report, signature } => {
				Self::verify_signature(
					&report.reporter,
					BridgeMessage::FeeRateReport(report.clone()),
					signature,
				)?;
				let validator = Self::check_fee_report_state(report)?;
				// One report per validator in the pool; the interval rule allows one per block.
				((b"btc-bridge-fee", validator).encode(), 16)
			},
			_ => return Err(None),
		})
	}

	fn verify_signature(
		identity: &[u8; 32],
		message: BridgeMessage,
		signature: &AuthSignature,
	) -> Result<(), Error<T>> {
		let digest = message.digest(&Self::genesis_hash());
		ensure!(verify_bip340(identity, &digest, &signature.0), Error::<T>::BadSignature);
		Ok(())
	}

	/// How the pool sees a refusal: a bad signature is a bad proof; a vote or report of the
	/// past is stale; a vote for a proposal this node does not know yet may become valid;
	/// anything else is this pallet's error, by its index.
	fn invalid(error: Error<T>) -> TransactionValidityError {
		match error {
			Error::<T>::BadSignature => InvalidTransaction::BadProof.into(),
			Error::<T>::NotAValidator => InvalidTransaction::BadSigner.into(),
			Error::<T>::AlreadyVoted | Error::<T>::NotVoting | Error::<T>::StaleReport => {
				InvalidTransaction::Stale.into()
			},
			Error::<T>::UnknownProposal => InvalidTransaction::Future.into(),
			error => InvalidTransaction::Custom(error.encode().first().copied().unwrap_or(u8::MAX))
				.into(),
		}
	}

	/// The chain's genesis hash: bridge messages are signed for one chain.
	pub fn genesis_hash() -> [u8; 32] {
		let hash = frame_system::Pallet::<T>::block_hash(
			frame_system::pallet_prelude::BlockNumberFor::<T>::default(),
		);
		let mut bytes = [0u8; 32];
		let len = hash.as_ref().len().min(32);
		bytes[..len].copy_from_slice(&hash.as_ref()[..len]);
		bytes
	}

	/// The current validator whose custody identity is `identity`.
	pub(crate) fn current_validator_of(identity: &[u8; 32]) -> Result<T::AccountId, Error<T>> {
		let validator =
			T::Custody::validator_of_identity(identity).ok_or(Error::<T>::NotAValidator)?;
		ensure!(T::Custody::validators().contains(&validator), Error::<T>::NotAValidator);
		Ok(validator)
	}
}
