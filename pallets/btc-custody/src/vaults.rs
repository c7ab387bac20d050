//! Vaults: who holds which key when the custody set is larger than one DKG can take.
//!
//! The custody candidates (registered, not excluded validators, at least two thirds of the
//! set) are dealt into `ceil(n / VaultSize)` vaults by [`tapchain_primitives::vault`]'s
//! stake-balanced partition (vaults grow past `VaultSize` when `n` would need more than
//! `MaxVaults` of them: [`Pallet::effective_vault_size`]). Each vault is an independent custody key under this pallet's
//! rules: its own DKGs, key epochs ([`VaultEpochs`] is its current one), signing sessions
//! and theft liability. The vote on withdrawals stays the whole set's (the bridge's).
//!
//! **The seed.** While everyone fits in one vault, the partition is that vault and needs no
//! randomness. Otherwise, when the set changes (or governance changes the vault size so that
//! the count of vaults changes), the pallet fixes the next Bitcoin height, one above the
//! light client's best, and who the candidates are ([`PendingPartition`]). Once the block at
//! that height is buried under the bridge's confirmations, its hash deals the seats. Nobody
//! knew the hash when the height and the candidates were fixed; a miner that dislikes it must
//! withhold a block it found (a block reward per try), and a validator that joins after it
//! is known waits for the next partition. A candidate that leaves meanwhile is dealt no seat.
//!
//! **Waiting.** Until the seed is buried, every vault's current key keeps signing and taking
//! deposits, so nothing waits on it but the re-key; the light client's relayers decide how
//! long (one Bitcoin block and its confirmations, about an hour on mainnet).
//!
//! **What moves.** [`tapchain_primitives::vault::repartition`] keeps members where they sat,
//! so only vaults whose members changed start a DKG; a vault whose DKG is running when its
//! members change starts it again with the new ones. A vault dissolved because the count fell
//! keeps its key epochs live until the bridge has swept their coins to its successor (the
//! vault its index folds onto).
//!
//! **Re-deals.** Keeping members where they sat has a price: a newcomer's seat is drawn at
//! random, but an adversary can leave and join again until one of its validators sits in the
//! vault it wants, and keep it there. So every [`RedealInterval`] blocks every seat is dealt
//! again from a fresh seed ([`tapchain_primitives::vault::partition`], the seed fixed and
//! buried as above): whatever an adversary gathered in one vault is scattered, and each vault
//! whose members changed re-keys (its coins are swept to its new key, as after any change).
//! A proven theft calls a re-deal at once ([`RedealAfterTheft`]): the threshold that signed
//! it still holds the robbed key, so its members are scattered and the vault re-keys, and
//! the coins the key still holds move to the new key as soon as the bridge can sweep them.
//! With one vault there is nothing to scatter: the slashed members lose their bonds, and
//! with them their seats at the next election.

use crate::*;
use alloc::vec::Vec;
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{Saturating, Zero};
use tapchain_primitives::vault::{
	partition, repartition, vault_count, Partition, PartitionSeed, VaultCandidate, VaultIndex,
};

impl<T: Config> Pallet<T> {
	/// Whether governance may set vaults of `size` members.
	pub(crate) fn vault_size_fits(size: u32) -> bool {
		(2..=T::MaxParticipants::get()).contains(&size)
	}

	/// Members per vault when `n` validators are dealt: the governed [`VaultSize`], enlarged
	/// when `n` would otherwise need more than `MaxVaults` vaults. Governance sets a size for
	/// the set it sees; the set may grow past what that size can seat, and then vaults grow
	/// rather than the partition failing. `MaxParticipants * MaxVaults >= MaxValidators`
	/// (the integrity test) keeps the result a DKG the chain can run.
	pub fn effective_vault_size(n: u32) -> u32 {
		VaultSize::<T>::get().max(n.div_ceil(T::MaxVaults::get().max(1)))
	}

	/// The partition as stored: every vault's members.
	pub fn current_partition() -> Partition<T::AccountId> {
		Partition {
			vaults: (0..VaultCount::<T>::get())
				.map(|vault| VaultMembers::<T>::get(vault).into_inner())
				.collect(),
		}
	}

	/// Whether `epoch` is some vault's current epoch.
	pub fn is_vault_current(epoch: u32) -> bool {
		Epochs::<T>::get(epoch).is_some_and(|key| VaultEpochs::<T>::get(key.vault) == Some(epoch))
	}

	/// Each vault's current epoch, in vault order.
	pub fn vault_current_epochs() -> Vec<u32> {
		(0..VaultCount::<T>::get()).filter_map(VaultEpochs::<T>::get).collect()
	}

	/// See [`ThresholdCustody::successor`].
	pub fn successor_of(epoch: u32) -> Option<u32> {
		let key = Epochs::<T>::get(epoch)?;
		let count = VaultCount::<T>::get();
		if count == 0 {
			return None;
		}
		// A dissolved vault (index past the count) folds onto `index % count`.
		VaultEpochs::<T>::get(key.vault % count).filter(|current| *current != epoch)
	}

	/// Deals the custody candidates into vaults when they, or the vault count, changed (see
	/// the module documentation).
	pub(crate) fn update_partition(now: BlockNumberFor<T>, validators: &[T::AccountId]) {
		let candidates: Vec<T::AccountId> =
			Self::dkg_candidates(validators).into_iter().map(|(who, _, _)| who).collect();
		let n = candidates.len();
		// FROST needs two signers; the keys must be held by two thirds of the validators.
		if n < 2 || n * 3 < validators.len() * 2 {
			return;
		}
		// Unless everyone who may take part is registered, give the rest a round's time
		// (nodes register in their first blocks), so one late node does not cost a re-key.
		let excluded = DkgExcluded::<T>::get();
		let eligible = validators.iter().filter(|v| !excluded.contains(v)).count();
		if n < eligible
			&& now < ValidatorSetSince::<T>::get().saturating_add(T::DkgRoundBlocks::get())
		{
			return;
		}
		let size = Self::effective_vault_size(n as u32);
		let previous = Self::current_partition();
		let mut seated: Vec<&T::AccountId> = previous.vaults.iter().flatten().collect();
		seated.sort();
		let same_set = seated.len() == n && seated.iter().zip(&candidates).all(|(a, b)| *a == b);
		let count = vault_count(n as u32, size);
		let redeal_due = Self::redeal_due(now, previous.vaults.len());
		if same_set && previous.vaults.len() as u32 == count && !redeal_due {
			PendingPartitionSeed::<T>::kill();
			return;
		}
		if count == 1 && previous.vaults.len() <= 1 {
			// One vault of everyone: nothing to draw.
			PendingPartitionSeed::<T>::kill();
			let changed = if same_set { Vec::new() } else { alloc::vec![0] };
			Self::store_partition(Partition { vaults: alloc::vec![candidates] }, None, changed, 0);
			return;
		}
		let Some(pending) = PendingPartitionSeed::<T>::get() else {
			Self::fix_partition_seed(now, &candidates);
			return;
		};
		let Some(block_hash) = T::Randomness::buried_block_hash(pending.seed_height) else {
			return;
		};
		PendingPartitionSeed::<T>::kill();
		// Those fixed with the seed, less whoever left since; newcomers wait for the next.
		let dealt: Vec<VaultCandidate<T::AccountId>> = pending
			.candidates
			.into_iter()
			.filter(|who| candidates.binary_search(who).is_ok())
			.map(|who| {
				let stake = T::MemberStake::at_stake_sats(&who) as u128;
				VaultCandidate { who, stake }
			})
			.collect();
		if dealt.len() < 2 {
			return;
		}
		let seed = PartitionSeed(block_hash);
		let full_deal = previous.vaults.is_empty() || Self::redeal_due(now, previous.vaults.len());
		let result = if full_deal {
			partition(&dealt, size, &seed).map(|partition| {
				let (changed, moved) = changes_from(&previous, &partition);
				(partition, changed, moved)
			})
		} else {
			repartition(&previous, &dealt, size, &seed).map(|r| (r.partition, r.changed, r.moved))
		};
		match result {
			Ok((partition, changed, moved)) => {
				if full_deal {
					LastFullDeal::<T>::put(now);
					RedealAfterTheft::<T>::kill();
				}
				Self::store_partition(partition, Some(seed), changed, moved)
			},
			Err(error) => log::warn!(target: "btc-custody", "no partition: {error:?}"),
		}
	}

	/// Whether every seat is due to be dealt again: more than one vault (one vault of
	/// everyone has nothing to scatter), and a theft proven or `RedealInterval` blocks since
	/// the last full deal.
	fn redeal_due(now: BlockNumberFor<T>, vaults: usize) -> bool {
		let interval = RedealInterval::<T>::get();
		vaults > 1
			&& (RedealAfterTheft::<T>::get()
				|| (!interval.is_zero()
					&& now >= LastFullDeal::<T>::get().saturating_add(interval)))
	}

	/// Fixes the Bitcoin height (one above the light client's best: not mined yet) whose
	/// block will seed the next partition, and who it deals.
	fn fix_partition_seed(now: BlockNumberFor<T>, candidates: &[T::AccountId]) {
		let Some(best) = T::Randomness::best_height() else { return };
		let Ok(bounded) = BoundedVec::try_from(candidates.to_vec()) else { return };
		let seed_height = best.saturating_add(1);
		PendingPartitionSeed::<T>::put(PendingPartition {
			seed_height,
			candidates: bounded,
			since: now,
		});
		Self::deposit_event(Event::PartitionSeedFixed {
			seed_height,
			candidates: candidates.len() as u32,
		});
	}

	/// Stores a new partition. A vault that is dissolved loses its place as a current key
	/// (its coins move to its successor); a running DKG for a vault whose members changed
	/// is dropped, and the next block starts it with the new members.
	fn store_partition(
		partition: Partition<T::AccountId>,
		seed: Option<PartitionSeed>,
		changed: Vec<VaultIndex>,
		moved: u32,
	) {
		let old_count = VaultCount::<T>::get();
		let new_count = partition.vaults.len() as u32;
		for (index, members) in partition.vaults.into_iter().enumerate() {
			// Vault sizes are at most `VaultSize <= MaxParticipants`.
			VaultMembers::<T>::insert(index as VaultIndex, BoundedVec::truncate_from(members));
		}
		for dissolved in new_count..old_count {
			VaultMembers::<T>::remove(dissolved);
			VaultEpochs::<T>::remove(dissolved);
		}
		VaultCount::<T>::put(new_count);
		if let Some(run) = ActiveDkg::<T>::get() {
			if changed.contains(&run.vault) || run.vault >= new_count {
				Self::clear_dkg(run.dkg_id);
			}
		}
		Self::deposit_event(Event::VaultsPartitioned {
			seed: seed.map(|s| s.0),
			vaults: new_count,
			changed,
			moved,
		});
	}
}

/// Which vaults of `next` differ in members from the same index in `previous` (each needs a
/// new key; vaults past the previous count are new), and how many members of both sit in
/// another vault than before.
fn changes_from<AccountId: Ord>(
	previous: &Partition<AccountId>,
	next: &Partition<AccountId>,
) -> (Vec<VaultIndex>, u32) {
	let old_vault: alloc::collections::BTreeMap<&AccountId, usize> = previous
		.vaults
		.iter()
		.enumerate()
		.flat_map(|(index, members)| members.iter().map(move |who| (who, index)))
		.collect();
	let mut changed = Vec::new();
	let mut moved = 0u32;
	for (index, members) in next.vaults.iter().enumerate() {
		let same_members = previous.vaults.get(index).is_some_and(|before| {
			before.len() == members.len()
				&& members.iter().all(|who| old_vault.get(who) == Some(&index))
		});
		if !same_members {
			changed.push(index as VaultIndex);
		}
		moved += members
			.iter()
			.filter(|who| old_vault.get(*who).is_some_and(|before| *before != index))
			.count() as u32;
	}
	(changed, moved)
}
