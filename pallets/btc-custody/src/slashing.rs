//! Slashing the members of a key epoch for a theft the bridge proved.
//!
//! **Who is slashed, and why all of them.** A theft is a key-path spend of a custody output
//! that no approved proposal made: `t` of the epoch's members signed it. A FROST signature
//! is one BIP-340 signature of the group key; it does not say which `t` members took part
//! (the signing rounds of an off-chain theft never reach the chain). So nobody can tell the
//! thieves from the honest members, and every member of the epoch answers for its key: each
//! loses the same share of the stake it has at risk ([`CustodyStake::at_stake_sats`]), the
//! amount stolen in all, or everything they have at risk if that is less. This is the bond a
//! member gives when it takes a share of a key, as in tBTC's and Mirror's groups: it makes
//! the users whole, and it makes theft pay only when the vault holds more than the thieves'
//! own part of the bond (the README's economic bound).
//!
//! The slash is immediate, not deferred through `pallet-offences` like the protocol
//! offences: the proof is objective (an SPV proof of a Bitcoin transaction the chain never
//! approved), and a deferral would let the members move stake that was no longer frozen
//! once the epoch's coins were gone.

use crate::*;
use alloc::vec::Vec;

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
		let shares = theft_shares(&stakes, stolen_sats);
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
		Self::deposit_event(Event::MembersSlashedForTheft { epoch, stolen_sats, slashed });
		TheftSlash { burned_sats, members: stakes.len() as u32 }
	}
}

#[cfg(test)]
mod tests {
	use super::theft_shares;

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
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
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
