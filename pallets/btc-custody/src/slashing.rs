//! Slashing the members of a key epoch for a theft the bridge proved.
//!
//! **Who is slashed, and why all of them.** A theft is a key-path spend of a custody output
//! that no approved proposal made: `t` of the epoch's members signed it. A FROST signature
//! is one BIP-340 signature of the group key; it does not say which `t` members took part
//! (the signing rounds of an off-chain theft never reach the chain). So nobody can tell the
//! thieves from the honest members, and every member of the epoch answers for its key: each
//! loses the same share of the stake it has at risk ([`CustodyStake::at_stake_sats`]).
//!
//! **How much: more than was taken.** Slashing only the amount taken, pro rata, would leave
//! thieves holding a share `f < 1` of the stake a gain of `(1 - f)` of their loot, paid by
//! the honest members. So the members lose the *penalty* ([`theft_penalty_sats`]): the amount
//! taken scaled by the stake of all the members over the stake of the poorest `t` of them.
//! Whichever `t` members signed, their own pro rata part of the penalty is at least what
//! they took: theft does not pay, as long as the stake at risk covers the penalty (a vault
//! holding no more than its poorest threshold's stake; with equal stakes a capacity ratio
//! of at most `t/k`, see the README's economic bound). Past that everything at stake goes.
//! The part of the penalty that restores the stolen backing is the amount taken; the rest is
//! burned as well (it was nobody's claim on the bridge's coins). This is the bond a member
//! gives when it takes a share of a key, as in tBTC's and Mirror's groups and THORChain's
//! 1.5x slash of a robbed vault's members.
//!
//! The slash is immediate, not deferred through `pallet-offences` like the protocol
//! offences: the proof is objective (an SPV proof of a Bitcoin transaction the chain never
//! approved), and a deferral would let the members move stake that was no longer frozen
//! once the epoch's coins were gone.

use crate::*;
use alloc::vec::Vec;

/// What the members of a key with `threshold` and these stakes at risk (`stakes_sats`) lose
/// for a theft of `stolen_sats`: `ceil(stolen * total / poorest)`, where `poorest` is the
/// stake of the `threshold` members with the least at stake, so that any `threshold` of them
/// lose at least `stolen_sats` between them. Capped at the total stake; everything at stake
/// when a threshold of members has nothing at stake.
pub fn theft_penalty_sats(stakes_sats: &[u64], threshold: u16, stolen_sats: u64) -> u64 {
	if stolen_sats == 0 {
		return 0;
	}
	let total: u128 = stakes_sats.iter().map(|s| *s as u128).sum();
	let mut ascending = stakes_sats.to_vec();
	ascending.sort_unstable();
	let poorest: u128 = ascending.iter().take(threshold.into()).map(|s| *s as u128).sum();
	let penalty = match poorest {
		0 => total,
		poorest => (stolen_sats as u128 * total).div_ceil(poorest).min(total),
	};
	// Within `total`, a sum of u64 stakes of at most `MaxParticipants` members.
	penalty.min(u64::MAX as u128) as u64
}

/// Each member's share of a slash of `stolen_sats`, pro rata to `stakes_sats` (the stakes at
/// risk, in member order): `floor(target * stake / total)`, where `target` is `stolen_sats`
/// capped at the total stake, and the few sats rounding leaves over go one each to the
/// largest stakes (the first listed among equals). No share exceeds its stake, and the
/// shares add up to exactly `target`.
pub fn theft_shares(stakes_sats: &[u64], stolen_sats: u64) -> Vec<u64> {
	let total: u128 = stakes_sats.iter().map(|s| *s as u128).sum();
	let target = (stolen_sats as u128).min(total);
	if target == 0 {
		return alloc::vec![0; stakes_sats.len()];
	}
	let mut shares: Vec<u64> =
		stakes_sats.iter().map(|s| (target * *s as u128 / total) as u64).collect();
	let mut left = target - shares.iter().map(|s| *s as u128).sum::<u128>();
	// Each floor dropped less than one sat, so `left` is below the member count and one pass
	// over the members with room gives it out.
	let mut by_stake: Vec<usize> = (0..stakes_sats.len()).collect();
	by_stake.sort_by(|a, b| stakes_sats[*b].cmp(&stakes_sats[*a]).then(a.cmp(b)));
	for i in by_stake {
		if left == 0 {
			break;
		}
		if shares[i] < stakes_sats[i] {
			shares[i] += 1;
			left -= 1;
		}
	}
	shares
}

impl<T: Config> Pallet<T> {
	/// See [`ThresholdCustody::slash_for_theft`].
	pub(crate) fn do_slash_for_theft(epoch: u32, stolen_sats: u64) -> TheftSlash {
		let Some(key) = Epochs::<T>::get(epoch) else { return TheftSlash::default() };
		let members: Vec<T::AccountId> = key.members.into_iter().map(|(who, _)| who).collect();
		let stakes: Vec<u64> = members.iter().map(T::MemberStake::at_stake_sats).collect();
		let penalty_sats = theft_penalty_sats(&stakes, key.threshold, stolen_sats);
		let shares = theft_shares(&stakes, penalty_sats);
		let mut slashed = Vec::new();
		let mut burned_sats = 0u64;
		for (who, share) in members.into_iter().zip(shares) {
			if share == 0 {
				continue;
			}
			let burned = T::MemberStake::seize_sats(&who, share).min(share);
			burned_sats = burned_sats.saturating_add(burned);
			slashed.push((who, burned));
		}
		// A threshold of this key's members still holds it: deal every seat again (with one
		// vault there is nothing to scatter).
		if VaultCount::<T>::get() > 1 {
			RedealAfterTheft::<T>::put(true);
		}
		Self::deposit_event(Event::MembersSlashedForTheft {
			epoch,
			stolen_sats,
			penalty_sats,
			slashed,
		});
		TheftSlash { burned_sats, members: stakes.len() as u32 }
	}
}

#[cfg(test)]
mod tests {
	use super::{theft_penalty_sats, theft_shares};

	/// One step of a xorshift generator: the sweeps below are deterministic, so a failure
	/// prints the same case every run.
	fn xorshift(x: &mut u64) {
		*x ^= *x << 13;
		*x ^= *x >> 7;
		*x ^= *x << 17;
	}

	#[test]
	fn any_threshold_of_members_loses_at_least_what_it_took() {
		// Equal stakes, 3 of 4: the penalty is 4/3 of the theft.
		assert_eq!(theft_penalty_sats(&[100, 100, 100, 100], 3, 60), 80);
		// Rounded up, so that the poorest threshold's part is never a sat short.
		assert_eq!(theft_penalty_sats(&[100, 100, 100, 100], 3, 61), 82);
		// Uneven stakes: the poorest three hold 0 + 200 + 200 of 800.
		assert_eq!(theft_penalty_sats(&[400, 200, 200, 0], 3, 300), 600);
		// Capped at everything at stake; everything when a threshold has nothing at stake.
		assert_eq!(theft_penalty_sats(&[100, 100, 100, 100], 3, 1_000), 400);
		assert_eq!(theft_penalty_sats(&[500, 0, 0], 2, 1), 500);
		assert_eq!(theft_penalty_sats(&[100, 100], 2, 0), 0);
		assert_eq!(theft_penalty_sats(&[], 1, 5), 0);

		// A deterministic sweep: every `threshold`-subset's pro rata part of the penalty is at
		// least the theft, unless the penalty took everything at stake.
		let mut x: u64 = 0x2545_f491_4f6c_dd1d;
		for _ in 0..2_000 {
			xorshift(&mut x);
			let members = (x % 9) as usize + 1;
			let threshold = (x.rotate_left(7) % members as u64) as u16 + 1;
			let stakes: Vec<u64> =
				(0..members).map(|i| x.rotate_left(i as u32 * 7) % 1_000_003).collect();
			let stolen = x.rotate_right(17) % 3_000_000;
			let penalty = theft_penalty_sats(&stakes, threshold, stolen);
			let total: u64 = stakes.iter().sum();
			let shares = theft_shares(&stakes, penalty);
			if penalty == total {
				assert_eq!(shares, stakes, "{stakes:?} {threshold} {stolen}");
				continue;
			}
			for subset in 0u32..(1 << members) {
				if subset.count_ones() != threshold as u32 {
					continue;
				}
				let lost: u64 =
					(0..members).filter(|i| subset & (1 << i) != 0).map(|i| shares[i]).sum();
				// Shares are floors with the leftover sats spread: a subset may be short of
				// its exact part by less than one sat per member.
				assert!(
					lost + threshold as u64 > stolen,
					"{stakes:?} t={threshold} stolen {stolen}: penalty {penalty}, subset lost {lost}"
				);
			}
		}
	}

	#[test]
	fn shares_are_pro_rata_and_add_up_to_the_theft() {
		assert_eq!(theft_shares(&[100, 100, 100, 100], 200), vec![50, 50, 50, 50]);
		assert_eq!(theft_shares(&[300, 100], 200), vec![150, 50]);
		// Rounding: 100 over three equal stakes, the leftover sat to the first.
		assert_eq!(theft_shares(&[10, 10, 10], 100), vec![10, 10, 10], "capped at the stake");
		assert_eq!(theft_shares(&[50, 50, 50], 100), vec![34, 33, 33]);
		// Leftovers go to the largest stakes first.
		assert_eq!(theft_shares(&[1, 5, 3], 4), vec![0, 3, 1]);
		// Nothing stolen, or nothing at stake.
		assert_eq!(theft_shares(&[5, 5], 0), vec![0, 0]);
		assert_eq!(theft_shares(&[0, 0], 7), vec![0, 0]);
		assert_eq!(theft_shares(&[], 7), Vec::<u64>::new());
	}

	#[test]
	fn shares_never_exceed_a_stake_and_sum_to_the_capped_theft() {
		// A deterministic sweep of awkward stakes and amounts.
		let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
		for _ in 0..2_000 {
			xorshift(&mut x);
			let members = (x % 12) as usize + 1;
			let stakes: Vec<u64> = (0..members)
				.map(|i| (x.rotate_left(i as u32 * 5) % 1_000_003) * (i as u64 % 3))
				.collect();
			let stolen = x.rotate_right(11) % 5_000_000;
			let shares = theft_shares(&stakes, stolen);
			let total: u64 = stakes.iter().sum();
			assert_eq!(shares.iter().sum::<u64>(), stolen.min(total), "{stakes:?} {stolen}");
			for (share, stake) in shares.iter().zip(&stakes) {
				assert!(share <= stake, "{stakes:?} {stolen}");
			}
		}
	}
}
