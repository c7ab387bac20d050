//! What must hold after every block (`try_state`, and every test and simulation block).

use crate::*;
use alloc::{collections::BTreeSet, format, vec::Vec};
use frame_support::pallet_prelude::*;
use sp_runtime::TryRuntimeError;

fn check(
	condition: bool,
	what: impl FnOnce() -> alloc::string::String,
) -> Result<(), TryRuntimeError> {
	if condition {
		Ok(())
	} else {
		let what = what();
		log::error!(target: "btc-custody", "try_state: {what}");
		#[cfg(feature = "std")]
		eprintln!("btc-custody try_state: {what}");
		Err(TryRuntimeError::Other("btc-custody invariant broken; see the log"))
	}
}

impl<T: Config> Pallet<T> {
	/// Checks the custody invariants (see the crate docs' promises):
	///
	/// - every key epoch has `t = floor(2n/3) + 1`, at least two members, distinct members,
	///   and (when live) each member's stake held;
	/// - each vault's current epoch is live and its own; vault sizes differ by at most one,
	///   nobody sits in two vaults, and a dissolved vault keeps nothing; live and retired
	///   epochs are disjoint;
	/// - the active DKG has a valid threshold, its data only for its own id and round, and a
	///   deadline at most one round ahead;
	/// - every open session is listed once, signs with a live epoch, allows only members (at
	///   least the threshold), has a signing set of exactly `t` allowed members or none, holds
	///   data only for its current attempt, and has a deadline at most one round ahead;
	/// - recorded faults name members only.
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let now = frame_system::Pallet::<T>::block_number();
		for (index, epoch) in Epochs::<T>::iter() {
			let n = epoch.members.len();
			check(n >= 2 && epoch.threshold == threshold_of(n), || {
				format!("epoch {index}: threshold {} for {n} members", epoch.threshold)
			})?;
			let distinct: BTreeSet<_> = epoch.members.iter().map(|m| m.0.encode()).collect();
			check(distinct.len() == n, || format!("epoch {index}: a member twice"))?;
			let live = LiveEpochs::<T>::contains_key(index);
			check(live != RetiredEpochs::<T>::contains_key(index), || {
				format!("epoch {index}: live and retired disagree")
			})?;
			if live {
				for (member, _) in &epoch.members {
					check(T::MemberStake::is_held(member), || {
						format!("epoch {index}: a member's stake is not held")
					})?;
				}
			}
			let faults = EpochFaults::<T>::get(index);
			check(faults.iter().all(|i| (1..=n as ParticipantIndex).contains(i)), || {
				format!("epoch {index}: a fault names no member")
			})?;
		}
		let vaults = VaultCount::<T>::get();
		let mut seated = BTreeSet::new();
		let members_of: Vec<_> = (0..vaults).map(VaultMembers::<T>::get).collect();
		let sizes: Vec<usize> = members_of.iter().map(|members| members.len()).collect();
		let (smallest, largest) =
			(sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
		check(largest <= smallest + 1, || format!("vault sizes {sizes:?} are not balanced"))?;
		for (vault, members) in (0..vaults).zip(&members_of) {
			for member in members {
				check(seated.insert(member.encode()), || {
					format!("vault {vault}: a member sits in two vaults")
				})?;
			}
			if let Some(current) = VaultEpochs::<T>::get(vault) {
				let key = Epochs::<T>::get(current);
				check(LiveEpochs::<T>::contains_key(current) && key.is_some(), || {
					format!("vault {vault}: current epoch {current} is not live")
				})?;
				check(key.is_some_and(|k| k.vault == vault), || {
					format!("vault {vault}: current epoch {current} is another vault's")
				})?;
			}
		}
		for (vault, _) in VaultEpochs::<T>::iter() {
			check(vault < vaults, || format!("dissolved vault {vault} has a current epoch"))?;
		}
		for (vault, _) in VaultMembers::<T>::iter() {
			check(vault < vaults, || format!("dissolved vault {vault} has members"))?;
		}

		if let Some(run) = ActiveDkg::<T>::get() {
			let n = run.participants.len();
			check(n >= 2 && run.threshold == threshold_of(n), || {
				format!("DKG {}: threshold {} for {n}", run.dkg_id, run.threshold)
			})?;
			check(run.deadline <= now + T::DkgRoundBlocks::get(), || {
				format!("DKG {}: deadline beyond one round", run.dkg_id)
			})?;
			let in_range = |i: &ParticipantIndex| (1..=n as ParticipantIndex).contains(i);
			check(DkgCommitments::<T>::iter_key_prefix(run.dkg_id).all(|i| in_range(&i)), || {
				format!("DKG {}: a commitment from no participant", run.dkg_id)
			})?;
			let rounds_ok = match run.phase {
				DkgPhase::Commit => {
					DkgShareSets::<T>::iter_key_prefix(run.dkg_id).next().is_none()
						&& DkgAttestations::<T>::iter_key_prefix(run.dkg_id).next().is_none()
				},
				DkgPhase::Share => {
					DkgCommitments::<T>::iter_key_prefix(run.dkg_id).count() == n
						&& DkgAttestations::<T>::iter_key_prefix(run.dkg_id).next().is_none()
				},
				DkgPhase::Finish => {
					DkgShareSets::<T>::iter_key_prefix(run.dkg_id).count() == n
						&& DkgAttestations::<T>::iter_key_prefix(run.dkg_id).count() < n
				},
			};
			check(rounds_ok, || format!("DKG {}: data of another round", run.dkg_id))?;
		}
		let active = ActiveDkg::<T>::get().map(|r| r.dkg_id);
		for dkg_id in DkgCommitments::<T>::iter_keys().map(|(id, _)| id) {
			check(Some(dkg_id) == active, || format!("leftover data of DKG {dkg_id}"))?;
		}

		let open = OpenSessions::<T>::get();
		let listed: BTreeSet<_> = open.iter().copied().collect();
		check(listed.len() == open.len(), || "a session listed twice".into())?;
		let stored: BTreeSet<_> = SigningSessions::<T>::iter_keys().collect();
		check(listed == stored, || "open sessions and stored sessions differ".into())?;
		let mut attempts = BTreeSet::new();
		for (session_id, session) in SigningSessions::<T>::iter() {
			attempts.insert((session_id, session.attempt));
			let epoch = Epochs::<T>::get(session.epoch);
			check(LiveEpochs::<T>::contains_key(session.epoch) && epoch.is_some(), || {
				format!("session {session_id}: epoch {} does not sign", session.epoch)
			})?;
			let Some(epoch) = epoch else { continue };
			let n = epoch.members.len() as ParticipantIndex;
			let t = epoch.threshold as usize;
			check(
				session.allowed.len() >= t && session.allowed.iter().all(|i| (1..=n).contains(i)),
				|| format!("session {session_id}: allowed signers not enough members"),
			)?;
			check(
				session.signing_set.is_empty()
					|| (session.signing_set.len() == t
						&& session.signing_set.iter().all(|i| session.allowed.contains(i))),
				|| format!("session {session_id}: signing set is not t allowed members"),
			)?;
			check(session.deadline <= now + T::SigningAttemptBlocks::get(), || {
				format!("session {session_id}: deadline beyond one round")
			})?;
			let committed: Vec<_> =
				SigningCommitments::<T>::iter_key_prefix((session_id, session.attempt)).collect();
			check(committed.iter().all(|i| session.allowed.contains(i)), || {
				format!("session {session_id}: a commitment from a signer not allowed")
			})?;
		}
		for (key, _) in SigningCommitments::<T>::iter_keys() {
			check(attempts.contains(&key), || format!("leftover commitments of {key:?}"))?;
		}
		for (key, _) in SignatureShareSets::<T>::iter_keys() {
			check(attempts.contains(&key), || format!("leftover shares of {key:?}"))?;
		}
		Ok(())
	}
}
