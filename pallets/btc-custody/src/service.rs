//! Custody as other pallets use it ([`ThresholdCustody`]).

use crate::*;
use alloc::vec::Vec;

impl<T: Config> ThresholdCustody<T::AccountId> for Pallet<T> {
	fn current_epochs() -> Vec<u32> {
		Self::vault_current_epochs()
	}

	fn successor(epoch: u32) -> Option<u32> {
		Self::successor_of(epoch)
	}

	fn backing_stake_sats(epoch: u32) -> u64 {
		Epochs::<T>::get(epoch).map_or(0, |key| key.stake_sats)
	}

	fn live_epochs() -> Vec<u32> {
		let mut epochs: Vec<u32> = LiveEpochs::<T>::iter_keys().collect();
		epochs.sort_unstable();
		epochs
	}

	fn output_key(epoch: u32) -> Option<[u8; 32]> {
		if !LiveEpochs::<T>::contains_key(epoch) {
			return None;
		}
		Epochs::<T>::get(epoch).map(|e| e.output_key)
	}

	fn validators() -> Vec<T::AccountId> {
		T::Validators::validators()
	}

	fn validator_of_identity(identity: &[u8; 32]) -> Option<T::AccountId> {
		IdentityOwners::<T>::get(CustodyIdentity(*identity))
	}

	fn request_signatures(
		epoch: u32,
		messages: Vec<[u8; 32]>,
	) -> Result<SigningSessionId, SigningRequestError> {
		Self::open_session(epoch, messages).map_err(|error| match error {
			Error::<T>::EpochRetired => SigningRequestError::EpochRetired,
			Error::<T>::BadMessageCount => SigningRequestError::BadMessageCount,
			Error::<T>::TooManySessions => SigningRequestError::TooManySessions,
			_ => SigningRequestError::UnknownEpoch,
		})
	}

	fn signing_status(session_id: SigningSessionId) -> SigningStatus {
		if let Some(signatures) = Signatures::<T>::get(session_id) {
			SigningStatus::Ready(signatures.into_inner())
		} else if let Some(session) = SigningSessions::<T>::get(session_id) {
			SigningStatus::Pending { shares_published: session.shares_published }
		} else {
			SigningStatus::Failed
		}
	}

	fn close_session(session_id: SigningSessionId) {
		Self::do_close_session(session_id)
	}

	fn retire_epoch(epoch: u32) -> bool {
		Self::do_retire_epoch(epoch).is_ok()
	}

	fn report_vote_silence(validators: &[T::AccountId]) {
		T::OffenceReporter::report(CustodyOffence::ProposalVoteSilence, validators);
	}

	fn slash_for_theft(epoch: u32, stolen_sats: u64) -> TheftSlash {
		Self::do_slash_for_theft(epoch, stolen_sats)
	}
}
