//! Vaults: the custody set split into groups of at most `vault_size` members, each holding
//! its own FROST key with threshold `floor(2k/3)+1` of its `k` members.
//!
//! One FROST key among a thousand members cannot run on a chain (a DKG's round-1 packages
//! alone would be megabytes), so a large validator set holds the bridge's bitcoin as several
//! vaults. What a vault can be trusted with depends on who is in it, so nobody may choose:
//!
//! - **Random.** Seats are drawn from a [`PartitionSeed`], the hash of a Bitcoin block at a
//!   height fixed before that block is mined and buried under the bridge's confirmations.
//!   Biasing it means withholding a block that was found, a block reward per try.
//! - **Balanced.** Vault sizes differ by at most one. A fresh [`partition`] sorts the
//!   candidates by stake and deals them out in rounds of one member per vault, each round in
//!   a random order, so no two vaults' stakes differ by more than the largest single stake.
//! - **Stable.** [`repartition`] keeps every member that stays where it was, so only vaults
//!   whose membership changed need a new key. A newcomer is placed in a vault drawn at
//!   random; if that vault is full, a member drawn at random from it moves to a vault with
//!   room (one extra move per newcomer). Filling the holes that leavers left instead would
//!   let a newcomer predict its vault and wait for an honest member of a target vault to
//!   leave. Displacement only slows a join-and-leave adversary down, it does not bound it:
//!   the caller re-deals everything from a fresh seed ([`partition`]) at a governed interval
//!   so that drift cannot accumulate.
//!
//! The probabilities that an adversary holding a share of the seats gets a threshold (or a
//! blocking third) of some vault are computed by `scripts/vault_security.py`.

use crate::Balance;
use alloc::{collections::BTreeMap, vec::Vec};
use bitcoin_hashes::{sha256, Hash, HashEngine};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::bitcoin::BlockHash;

/// The randomness a partition draws from: the hash of a Bitcoin block the light client holds
/// under the bridge's confirmations, at a height fixed before that block was mined.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	TypeInfo,
	MaxEncodedLen,
)]
pub struct PartitionSeed(pub BlockHash);

/// A validator that holds a seat in custody, with the stake that backs it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VaultCandidate<AccountId> {
	pub who: AccountId,
	pub stake: Balance,
}

/// Index of a vault in a [`Partition`]. Indices are stable across [`repartition`]s: a vault
/// that is dissolved is always the last one.
pub type VaultIndex = u32;

/// Why a partition could not be drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PartitionError {
	/// There is nobody to hold custody.
	NoCandidates,
	/// The governed vault size is zero.
	ZeroVaultSize,
	/// The same account was given twice.
	DuplicateCandidate,
}

/// The custody set split into vaults; each vault's members are sorted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Partition<AccountId> {
	pub vaults: Vec<Vec<AccountId>>,
}

/// A [`repartition`]'s result: the new partition, and what it changed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Repartition<AccountId> {
	pub partition: Partition<AccountId>,
	/// Vaults whose membership differs from before (new vaults included): each needs a new
	/// key. Vaults past the new count were dissolved and are not listed.
	pub changed: Vec<VaultIndex>,
	/// Members that stayed in the set but sit in another vault than before.
	pub moved: u32,
}

/// Number of vaults for `members` seats of at most `vault_size` each: `ceil(members /
/// vault_size)`, and at least one.
pub fn vault_count(members: u32, vault_size: u32) -> u32 {
	members.div_ceil(vault_size.max(1)).max(1)
}

/// Signing threshold of a vault of `members`: `floor(2k/3)+1`.
pub fn vault_threshold(members: u32) -> u32 {
	members * 2 / 3 + 1
}

impl<AccountId: Ord> Partition<AccountId> {
	/// The vault `who` sits in.
	pub fn vault_of(&self, who: &AccountId) -> Option<VaultIndex> {
		self.vaults
			.iter()
			.position(|members| members.binary_search(who).is_ok())
			.map(|index| index as VaultIndex)
	}
}

/// A uniform draw from `seed`, bound to a purpose (`domain`), an item and a counter.
fn draw(seed: &PartitionSeed, domain: &[u8], item: &[u8], counter: u32) -> u64 {
	let mut engine = sha256::Hash::engine();
	engine.input(b"tapchain/vault-partition");
	engine.input(&seed.0 .0);
	engine.input(domain);
	engine.input(&(item.len() as u32).to_le_bytes());
	engine.input(item);
	engine.input(&counter.to_le_bytes());
	let digest = sha256::Hash::from_engine(engine).to_byte_array();
	u64::from_le_bytes(digest[..8].try_into().expect("a digest has 32 bytes"))
}

/// A draw below `bound` (> 0). The modulo bias is below `bound / 2^64`, negligible for the
/// vault counts and sizes a chain has.
fn draw_below(
	seed: &PartitionSeed,
	domain: &[u8],
	item: &[u8],
	counter: u32,
	bound: usize,
) -> usize {
	(draw(seed, domain, item, counter) % bound as u64) as usize
}

fn check_candidates<AccountId: Ord + Encode>(
	candidates: &[VaultCandidate<AccountId>],
	vault_size: u32,
) -> Result<(), PartitionError> {
	if vault_size == 0 {
		return Err(PartitionError::ZeroVaultSize);
	}
	if candidates.is_empty() {
		return Err(PartitionError::NoCandidates);
	}
	let mut accounts: Vec<&AccountId> = candidates.iter().map(|c| &c.who).collect();
	accounts.sort();
	if accounts.windows(2).any(|pair| pair[0] == pair[1]) {
		return Err(PartitionError::DuplicateCandidate);
	}
	Ok(())
}

/// Deals `candidates` into `vault_count(n, vault_size)` vaults from `seed`.
///
/// Candidates are sorted by stake (largest first; equal stakes in an order drawn from the
/// seed) and dealt in rounds: each round gives one member to every vault, in an order drawn
/// for that round. Sizes differ by at most one, and two vaults' stakes by at most the largest
/// stake; where a candidate lands depends on the seed alone, never on its stake or its
/// position in `candidates`.
pub fn partition<AccountId: Ord + Clone + Encode>(
	candidates: &[VaultCandidate<AccountId>],
	vault_size: u32,
	seed: &PartitionSeed,
) -> Result<Partition<AccountId>, PartitionError> {
	check_candidates(candidates, vault_size)?;
	let vaults = vault_count(candidates.len() as u32, vault_size) as usize;
	let mut order: Vec<(Balance, u64, &VaultCandidate<AccountId>)> =
		candidates.iter().map(|c| (c.stake, draw(seed, b"order", &c.who.encode(), 0), c)).collect();
	order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.who.cmp(&b.2.who)));

	let mut members = vec_of_empty(vaults);
	for (round, dealt) in order.chunks(vaults).enumerate() {
		// This round's order of vaults: a seeded shuffle of all of them (the last round may
		// not reach every vault, and which ones it reaches is drawn too).
		let mut seats: Vec<(u64, usize)> = (0..vaults)
			.map(|vault| (draw(seed, b"round", &(round as u32).encode(), vault as u32), vault))
			.collect();
		seats.sort();
		for ((_, vault), (_, _, candidate)) in seats.iter().zip(dealt) {
			members[*vault].push(candidate.who.clone());
		}
	}
	for vault in &mut members {
		vault.sort();
	}
	Ok(Partition { vaults: members })
}

fn vec_of_empty<T>(count: usize) -> Vec<Vec<T>> {
	(0..count).map(|_| Vec::new()).collect()
}

/// Moves `previous` to the new set `candidates` with as few changes as keep the vaults
/// balanced and unsteerable (see the module documentation).
///
/// Members that stay keep their vault unless their vault is dissolved (the vault count fell:
/// the last vaults go) or has to give up seats (the count rose, or leavers unbalanced the
/// sizes); those moves, and newcomers' displacements, go to seeded random vaults. A vault is
/// reported changed exactly when its member list differs.
pub fn repartition<AccountId: Ord + Clone + Encode>(
	previous: &Partition<AccountId>,
	candidates: &[VaultCandidate<AccountId>],
	vault_size: u32,
	seed: &PartitionSeed,
) -> Result<Repartition<AccountId>, PartitionError> {
	check_candidates(candidates, vault_size)?;
	let total = candidates.len();
	let vaults = vault_count(total as u32, vault_size) as usize;
	let staying: BTreeMap<&AccountId, ()> = candidates.iter().map(|c| (&c.who, ())).collect();
	let old_vault: BTreeMap<&AccountId, usize> = previous
		.vaults
		.iter()
		.enumerate()
		.flat_map(|(index, members)| members.iter().map(move |who| (who, index)))
		.collect();

	// Stayers keep their seats in the vaults that remain; the rest wait to be placed.
	let mut members = vec_of_empty(vaults);
	let mut unplaced: Vec<AccountId> = Vec::new();
	for (index, old_members) in previous.vaults.iter().enumerate() {
		for who in old_members.iter().filter(|who| staying.contains_key(who)) {
			if index < vaults {
				members[index].push(who.clone());
			} else {
				unplaced.push(who.clone());
			}
		}
	}
	unplaced.extend(
		candidates.iter().filter(|c| !old_vault.contains_key(&c.who)).map(|c| c.who.clone()),
	);
	// Placement order is drawn, so no newcomer is placed first by choice.
	unplaced.sort_by_cached_key(|who| (draw(seed, b"arrival", &who.encode(), 0), who.clone()));

	// Sizes: `large` vaults of `base + 1`, the others `base`.
	let base = total / vaults;
	let large = total % vaults;
	let mut step = 0u32;
	let is_open = |members: &[Vec<AccountId>], vault: usize| {
		let at_large = members.iter().filter(|m| m.len() > base).count();
		members[vault].len() < base || (members[vault].len() == base && at_large < large)
	};

	// A vault over its size (the count rose, or its members stayed while others left)
	// gives random members to random open vaults.
	loop {
		let over = (0..vaults).find(|&vault| {
			let at_large = members.iter().filter(|m| m.len() > base).count();
			members[vault].len() > base + 1
				|| (members[vault].len() == base + 1 && at_large > large)
		});
		let Some(over) = over else { break };
		let pick = draw_below(seed, b"shed", &(over as u32).encode(), step, members[over].len());
		let who = members[over].remove(pick);
		step += 1;
		place_in_open_vault(&mut members, who, seed, &mut step, &is_open);
	}

	for who in unplaced {
		let target = draw_below(seed, b"target", &who.encode(), 0, vaults);
		if is_open(&members, target) {
			members[target].push(who);
			continue;
		}
		// Full: the newcomer takes the seat, a random member of that vault moves on.
		let pick = draw_below(seed, b"displace", &who.encode(), 0, members[target].len());
		let displaced = core::mem::replace(&mut members[target][pick], who);
		place_in_open_vault(&mut members, displaced, seed, &mut step, &is_open);
	}

	for vault in &mut members {
		vault.sort();
	}
	let changed = (0..vaults)
		.filter(|&index| previous.vaults.get(index) != Some(&members[index]))
		.map(|index| index as VaultIndex)
		.collect();
	let moved = members
		.iter()
		.enumerate()
		.flat_map(|(index, vault)| vault.iter().map(move |who| (who, index)))
		.filter(|(who, index)| old_vault.get(who).is_some_and(|old| old != index))
		.count() as u32;
	Ok(Repartition { partition: Partition { vaults: members }, changed, moved })
}

/// Puts `who` into a vault with room, drawn at random among them. The sizes guarantee one.
fn place_in_open_vault<AccountId: Encode>(
	members: &mut [Vec<AccountId>],
	who: AccountId,
	seed: &PartitionSeed,
	step: &mut u32,
	is_open: &impl Fn(&[Vec<AccountId>], usize) -> bool,
) {
	let open: Vec<usize> = (0..members.len()).filter(|&vault| is_open(members, vault)).collect();
	let choice = open[draw_below(seed, b"open", &who.encode(), *step, open.len())];
	*step += 1;
	members[choice].push(who);
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	fn seed(n: u64) -> PartitionSeed {
		let mut bytes = [0u8; 32];
		bytes[..8].copy_from_slice(&n.to_le_bytes());
		PartitionSeed(BlockHash(bytes))
	}

	fn candidates(stakes: &[Balance]) -> Vec<VaultCandidate<u32>> {
		stakes
			.iter()
			.enumerate()
			.map(|(i, &stake)| VaultCandidate { who: i as u32, stake })
			.collect()
	}

	fn stake_of(candidates: &[VaultCandidate<u32>], vault: &[u32]) -> Balance {
		vault
			.iter()
			.map(|who| candidates.iter().find(|c| c.who == *who).expect("a candidate").stake)
			.sum()
	}

	/// Every candidate sits in exactly one vault, the count is `ceil(n/K)`, no vault is over
	/// `K` and sizes differ by at most one.
	fn assert_balanced(partition: &Partition<u32>, candidates: &[VaultCandidate<u32>], size: u32) {
		assert_eq!(partition.vaults.len() as u32, vault_count(candidates.len() as u32, size));
		let mut seated: Vec<u32> = partition.vaults.iter().flatten().copied().collect();
		seated.sort();
		let mut expected: Vec<u32> = candidates.iter().map(|c| c.who).collect();
		expected.sort();
		assert_eq!(seated, expected);
		let sizes: Vec<usize> = partition.vaults.iter().map(Vec::len).collect();
		let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
		assert!(max - min <= 1, "sizes {sizes:?}");
		assert!(*max as u32 <= size, "sizes {sizes:?} over {size}");
		for vault in &partition.vaults {
			assert!(vault.windows(2).all(|pair| pair[0] < pair[1]), "members sorted");
		}
	}

	#[test]
	fn counts_and_thresholds() {
		assert_eq!(vault_count(1, 100), 1);
		assert_eq!(vault_count(100, 100), 1);
		assert_eq!(vault_count(101, 100), 2);
		assert_eq!(vault_count(1_000, 100), 10);
		assert_eq!(vault_count(0, 100), 1);
		assert_eq!(vault_threshold(100), 67);
		assert_eq!(vault_threshold(6), 5);
		assert_eq!(vault_threshold(3), 3);
	}

	#[test]
	fn bad_candidate_lists_are_refused() {
		assert_eq!(partition::<u32>(&[], 10, &seed(0)), Err(PartitionError::NoCandidates));
		assert_eq!(
			partition(&candidates(&[1, 2]), 0, &seed(0)),
			Err(PartitionError::ZeroVaultSize)
		);
		let twice =
			vec![VaultCandidate { who: 7u32, stake: 1 }, VaultCandidate { who: 7, stake: 2 }];
		assert_eq!(partition(&twice, 10, &seed(0)), Err(PartitionError::DuplicateCandidate));
		let previous = partition(&candidates(&[1, 2, 3]), 2, &seed(0)).unwrap();
		assert_eq!(
			repartition(&previous, &twice, 2, &seed(1)),
			Err(PartitionError::DuplicateCandidate)
		);
	}

	#[test]
	fn a_thousand_validators_make_ten_vaults_of_a_hundred() {
		let stakes: Vec<Balance> = (0..1_000).map(|i| 1_000 + (i * 7919) % 5_000).collect();
		let all = candidates(&stakes);
		let partition = partition(&all, 100, &seed(42)).unwrap();
		assert_balanced(&partition, &all, 100);
		assert!(partition.vaults.iter().all(|vault| vault.len() == 100));
		let vault_stakes: Vec<Balance> =
			partition.vaults.iter().map(|vault| stake_of(&all, vault)).collect();
		let spread = vault_stakes.iter().max().unwrap() - vault_stakes.iter().min().unwrap();
		assert!(spread <= *stakes.iter().max().unwrap(), "stakes {vault_stakes:?}");
	}

	/// Where the largest staker lands depends on the seed only: over 300 seeds it meets each
	/// of three vaults about 100 times (a fixed rule would put it in one vault every time).
	#[test]
	fn the_seed_not_the_stake_decides_the_vault() {
		let mut stakes = vec![10; 30];
		stakes[0] = 1_000;
		let all = candidates(&stakes);
		let mut landed = [0u32; 3];
		for n in 0..300 {
			let partition = partition(&all, 10, &seed(n)).unwrap();
			landed[partition.vault_of(&0).unwrap() as usize] += 1;
		}
		assert!(landed.iter().all(|&count| (60..=140).contains(&count)), "landed {landed:?}");
	}

	#[test]
	fn an_unchanged_set_changes_nothing() {
		let all = candidates(&(1..=250).collect::<Vec<_>>());
		let previous = partition(&all, 100, &seed(1)).unwrap();
		let next = repartition(&previous, &all, 100, &seed(2)).unwrap();
		assert_eq!(next.partition, previous);
		assert!(next.changed.is_empty());
		assert_eq!(next.moved, 0);
	}

	#[test]
	fn one_leaver_and_one_newcomer_rekey_at_most_two_vaults() {
		let all = candidates(&vec![5; 300]);
		let previous = partition(&all, 100, &seed(3)).unwrap();
		for n in 0..50u64 {
			let mut next_set = all.clone();
			let leaver = (n * 37 % 300) as usize;
			next_set.remove(leaver);
			next_set.push(VaultCandidate { who: 1_000 + n as u32, stake: 5 });
			let next = repartition(&previous, &next_set, 100, &seed(100 + n)).unwrap();
			assert_balanced(&next.partition, &next_set, 100);
			assert!(next.changed.len() <= 2, "changed {:?}", next.changed);
			assert!(next.moved <= 1);
		}
	}

	/// A newcomer does not simply take the seat a leaver freed (it could then pick its vault
	/// by waiting for a leaver there): over 300 seeds it lands in each of three vaults.
	#[test]
	fn a_newcomer_lands_where_the_seed_says_not_in_the_leavers_hole() {
		let all = candidates(&vec![5; 30]);
		let previous = partition(&all, 10, &seed(7)).unwrap();
		let leaver = previous.vaults[0][0];
		let mut next_set: Vec<_> = all.iter().filter(|c| c.who != leaver).cloned().collect();
		next_set.push(VaultCandidate { who: 99, stake: 5 });
		let mut landed = [0u32; 3];
		for n in 0..300 {
			let next = repartition(&previous, &next_set, 10, &seed(n)).unwrap();
			landed[next.partition.vault_of(&99).unwrap() as usize] += 1;
		}
		assert!(landed.iter().all(|&count| (60..=140).contains(&count)), "landed {landed:?}");
	}

	#[test]
	fn crossing_a_multiple_of_the_vault_size_adds_and_dissolves_a_vault() {
		let hundred = candidates(&vec![5; 100]);
		let one_vault = partition(&hundred, 100, &seed(4)).unwrap();
		let mut grown_set = hundred.clone();
		grown_set.push(VaultCandidate { who: 500, stake: 5 });
		let grown = repartition(&one_vault, &grown_set, 100, &seed(5)).unwrap();
		assert_balanced(&grown.partition, &grown_set, 100);
		assert_eq!(grown.changed, vec![0, 1]);
		// The new vault is filled from the old one: about half the members move, no more.
		assert!((49..=51).contains(&grown.moved), "moved {}", grown.moved);

		let shrunk = repartition(&grown.partition, &hundred, 100, &seed(6)).unwrap();
		assert_balanced(&shrunk.partition, &hundred, 100);
		assert_eq!(shrunk.changed, vec![0]);
	}

	proptest! {
		#![proptest_config(ProptestConfig::with_cases(200))]

		#[test]
		fn partitions_are_balanced_and_ignore_input_order(
			stakes in proptest::collection::vec(1u128..1_000_000, 1..400),
			size in 1u32..120,
			n in any::<u64>(),
		) {
			let all = candidates(&stakes);
			let partition = partition(&all, size, &seed(n)).unwrap();
			assert_balanced(&partition, &all, size);
			let vault_stakes: Vec<Balance> =
				partition.vaults.iter().map(|vault| stake_of(&all, vault)).collect();
			let spread = vault_stakes.iter().max().unwrap() - vault_stakes.iter().min().unwrap();
			prop_assert!(spread <= *stakes.iter().max().unwrap());
			let mut reversed = all.clone();
			reversed.reverse();
			prop_assert_eq!(super::partition(&reversed, size, &seed(n)).unwrap(), partition);
		}

		#[test]
		fn repartitions_stay_balanced_and_keep_stayers(
			stakes in proptest::collection::vec(1u128..1_000, 1..300),
			leave_mask in proptest::collection::vec(any::<bool>(), 300),
			newcomers in 0usize..60,
			size in 1u32..60,
			n in any::<u64>(),
		) {
			let all = candidates(&stakes);
			let previous = partition(&all, size, &seed(n)).unwrap();
			let mut next_set: Vec<VaultCandidate<u32>> = all
				.iter()
				.zip(&leave_mask)
				.filter(|(_, &leaves)| !leaves)
				.map(|(c, _)| c.clone())
				.collect();
			next_set.extend((0..newcomers).map(|i| VaultCandidate { who: 10_000 + i as u32, stake: 7 }));
			prop_assume!(!next_set.is_empty());
			let next = repartition(&previous, &next_set, size, &seed(n.wrapping_add(1))).unwrap();
			assert_balanced(&next.partition, &next_set, size);
			for index in 0..next.partition.vaults.len() {
				let differs = previous.vaults.get(index) != Some(&next.partition.vaults[index]);
				prop_assert_eq!(differs, next.changed.contains(&(index as VaultIndex)));
			}
			// With the vault count unchanged, each move answers a newcomer or a leaver.
			if next.partition.vaults.len() == previous.vaults.len() {
				let leavers = all.len() + newcomers - next_set.len();
				prop_assert!(next.moved as usize <= leavers + newcomers,
					"moved {} for {} leavers and {} newcomers", next.moved, leavers, newcomers);
			}
		}
	}
}
