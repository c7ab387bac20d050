//! Fault schedules: which validators misbehave, how, and from when, drawn from a seed; and
//! the Bitcoin fee market around them.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// How a validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
	/// Sends nothing from `from_block` on.
	Silent,
	/// Its node stops at `from_block` and restarts at `until_block` from its key store
	/// (signing nonces are lost).
	Crash,
	/// Votes like an honest validator, never takes part in signing.
	VoteThenSilent,
	/// Sends one corrupted encrypted share in DKG round 2.
	BadDkgShare,
	/// Sends corrupted signature shares.
	BadSignatureShare,
	/// Attests a public key package with two verifying shares swapped.
	WrongAttestation,
	/// Accuses another participant of a bad share with a made-up proof.
	FalseComplaint,
	/// Resubmits earlier messages (its own: registrations, DKG and signing messages, votes,
	/// fee reports) every block.
	Replayer,
	/// Sends every message twice, plus malformed and wrong-attempt variants.
	Spammer,
	/// Votes `delay_blocks` after a proposal is made.
	LateVoter,
	/// Rejects every proposal.
	RejectAll,
}

const KINDS: [FaultKind; 11] = [
	FaultKind::Silent,
	FaultKind::Crash,
	FaultKind::VoteThenSilent,
	FaultKind::BadDkgShare,
	FaultKind::BadSignatureShare,
	FaultKind::WrongAttestation,
	FaultKind::FalseComplaint,
	FaultKind::Replayer,
	FaultKind::Spammer,
	FaultKind::LateVoter,
	FaultKind::RejectAll,
];

/// One validator's fault.
#[derive(Clone, Debug)]
pub struct Fault {
	pub validator: u64,
	pub kind: FaultKind,
	pub from_block: u32,
	pub until_block: u32,
	pub delay_blocks: u32,
}

/// The scenario of `seed`: 4 to 7 validators, up to the number a key tolerates
/// (`n - floor(2n/3) - 1`) of them faulty in any of the ways above, from any block; sometimes
/// a validator joins or leaves (a rotation in the middle of everything), a fee spike, or a
/// theft by a threshold of a key's members.
pub fn scenario(seed: u64, blocks: u32) -> crate::world::Scenario {
	let mut rng = ChaCha20Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
	let mut below = |n: u64| rng.next_u64() % n.max(1);
	let n = 4 + below(4);
	let tolerated = n - (2 * n / 3 + 1);
	let faulty = below(tolerated + 1);
	let mut faults = Vec::new();
	let mut chosen = Vec::new();
	while (chosen.len() as u64) < faulty {
		let validator = 1 + below(n);
		if chosen.contains(&validator) {
			continue;
		}
		chosen.push(validator);
		let kind = KINDS[below(KINDS.len() as u64) as usize];
		let from_block = below(blocks as u64 / 2) as u32;
		faults.push(Fault {
			validator,
			kind,
			from_block,
			until_block: from_block + 5 + below(40) as u32,
			delay_blocks: 1 + below(12) as u32,
		});
	}
	// A joining validator is honest; only an honest one leaves, and only while the set keeps
	// its fault budget.
	let mut joins = Vec::new();
	let mut leaves = Vec::new();
	if below(4) == 0 {
		joins.push((20 + below(blocks as u64 / 2) as u32, 50 + n));
	}
	if below(5) == 0 && n > 4 {
		let honest: Vec<u64> = (1..=n).filter(|v| !chosen.contains(v)).collect();
		let smaller = n - 1;
		if faulty <= smaller - (2 * smaller / 3 + 1) {
			let leaving = honest[below(honest.len() as u64) as usize];
			leaves.push((20 + below(blocks as u64 / 2) as u32, leaving));
		}
	}
	// Sometimes Bitcoin's fees double (within what validators accept of a rate the bridge
	// has not caught up with yet) and miners leave out the cheaper transactions.
	let fee_spike = (below(3) == 0).then(|| {
		let from_block = 10 + below(blocks as u64 / 2) as u32;
		crate::world::FeeSpike {
			from_block,
			until_block: from_block + 15 + below(40) as u32,
			sat_per_vb: 3 + below(2),
		}
	});
	// Sometimes a threshold of a key's members steal (outside every fault budget: the
	// bridge cannot prevent it, it must prove it, slash them and keep its books).
	let theft_from_block = (below(5) == 0).then(|| 20 + below(blocks as u64 / 2) as u32);
	// Sometimes custody runs as two vaults. A vault of `k` tolerates `k - floor(2k/3) - 1`
	// faults, fewer than the whole set: which validators share a vault is the partition's
	// draw, so the faults budget here is the smallest vault's (none for vaults of three).
	let vault_size = (below(3) == 0 && n >= 6).then(|| n.div_ceil(2) as u32);
	let vault_tolerated = vault_size.map_or(tolerated, |k| {
		let smallest = n - k as u64;
		smallest - (2 * smallest / 3 + 1)
	});
	let vault_size = vault_size.filter(|_| faulty <= vault_tolerated);
	crate::world::Scenario {
		fee_spike,
		theft_from_block,
		validators: n,
		blocks,
		faults,
		joins,
		leaves,
		activity_percent: 60,
		adversarial_users: below(2) == 0,
		vault_size,
	}
}
