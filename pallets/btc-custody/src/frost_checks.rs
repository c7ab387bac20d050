//! The FROST checks the runtime makes as DKG and signing coordinator, over the bytes the
//! custody messages carry. Pure functions, all from `frost-secp256k1-tr`/`frost-core`.

use alloc::{collections::BTreeMap, vec::Vec};
use frost_core::keys::{dkg::verify_proof_of_knowledge, sum_commitments};
use frost_core::Group;
use frost_secp256k1_tr::{
	self as frost,
	keys::{dkg::round1, PublicKeyPackage, SecretShare, SigningShare, Tweak},
	round1::SigningCommitments,
	round2::SignatureShare,
	Identifier, Secp256K1Group, Secp256K1Sha256TR, SigningPackage, VerifyingKey,
};
use tapchain_primitives::custody::{
	decrypt_share, verify_shared_point, DleqProof, EncryptedShare, EncryptionKey, ParticipantIndex,
	ShareContext, SharedPoint,
};

/// Why a DKG package was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PackageError {
	/// The bytes do not decode as the expected FROST structure.
	Malformed,
	/// The commitment has another number of coefficients than the DKG's threshold.
	WrongThreshold,
	/// The proof of knowledge of the constant term does not verify for the sender.
	BadProofOfKnowledge,
}

pub(crate) fn identifier(index: ParticipantIndex) -> Option<Identifier> {
	Identifier::try_from(index).ok()
}

/// Decodes a round-1 package and checks it is `sender`'s, for a `threshold`-of-n DKG.
pub fn check_commitment(
	sender: ParticipantIndex,
	bytes: &[u8],
	threshold: u16,
) -> Result<round1::Package, PackageError> {
	let package = round1::Package::deserialize(bytes).map_err(|_| PackageError::Malformed)?;
	if package.commitment().coefficients().len() != threshold as usize {
		return Err(PackageError::WrongThreshold);
	}
	let id = identifier(sender).ok_or(PackageError::Malformed)?;
	verify_proof_of_knowledge::<Secp256K1Sha256TR>(
		id,
		package.commitment(),
		package.proof_of_knowledge(),
	)
	.map_err(|_| PackageError::BadProofOfKnowledge)?;
	Ok(package)
}

/// Decodes a round-1 package the pallet stored: [`check_commitment`] accepted it on the way
/// in, so its proof of knowledge is not verified again.
pub fn stored_commitment(bytes: &[u8]) -> Option<round1::Package> {
	round1::Package::deserialize(bytes).ok()
}

/// The Taproot output key (x-only) of the group the commitments define: the sum of the
/// constant terms, with the BIP-341 tweak `frost-secp256k1-tr` applies after a DKG.
pub fn group_output_key(commitments: &[round1::Package], threshold: u16) -> Option<[u8; 32]> {
	let refs: Vec<_> = commitments.iter().map(|p| p.commitment()).collect();
	let sum = sum_commitments(&refs).ok()?;
	let key = VerifyingKey::from_commitment(&sum).ok()?;
	let tweaked = PublicKeyPackage::new(BTreeMap::new(), key, Some(threshold)).tweak::<&[u8]>(None);
	x_only(tweaked.verifying_key())
}

/// Adds a checked round-1 package's constant term (its part of the group key) to a DKG's
/// running sum (`None`: no package yet). `None` if the sum is the point at infinity.
pub fn add_constant_term(sum: Option<&[u8; 33]>, package: &round1::Package) -> Option<[u8; 33]> {
	let term = package.commitment().coefficients().first()?.value();
	let total = match sum {
		None => term,
		Some(bytes) => <Secp256K1Group as Group>::deserialize(bytes).ok()? + term,
	};
	<Secp256K1Group as Group>::serialize(&total).ok()
}

/// The Taproot output key (x-only) of a group whose constant terms sum to `sum`: the same
/// key as [`group_output_key`] over the commitments that were summed.
pub fn output_key_of_group_commitment(sum: &[u8; 33], threshold: u16) -> Option<[u8; 32]> {
	let key = VerifyingKey::deserialize(sum).ok()?;
	let tweaked = PublicKeyPackage::new(BTreeMap::new(), key, Some(threshold)).tweak::<&[u8]>(None);
	x_only(tweaked.verifying_key())
}

/// The x-only form of a verifying key.
pub fn x_only(key: &VerifyingKey) -> Option<[u8; 32]> {
	let bytes = key.serialize().ok()?;
	bytes.get(1..33)?.try_into().ok()
}

/// The Taproot output key of an epoch: the group key itself (key path only), or the group
/// key as internal key tweaked with the script tree's Merkle root (BIP-341).
pub fn output_key(package: &PublicKeyPackage, merkle_root: Option<&[u8; 32]>) -> Option<[u8; 32]> {
	match merkle_root {
		None => x_only(package.verifying_key()),
		Some(root) => x_only(package.clone().tweak(Some(&root[..])).verifying_key()),
	}
}

/// Decodes an attested public key package and checks its shape: `n` verifying shares for
/// identifiers 1..=n, threshold `threshold`, group key `expected_key`.
pub fn check_public_key_package(
	bytes: &[u8],
	n: u16,
	threshold: u16,
	expected_key: &[u8; 32],
) -> Result<PublicKeyPackage, PackageError> {
	let package = PublicKeyPackage::deserialize(bytes).map_err(|_| PackageError::Malformed)?;
	let ids_match = package.verifying_shares().len() == n as usize
		&& (1..=n)
			.all(|i| identifier(i).is_some_and(|id| package.verifying_shares().contains_key(&id)));
	if !ids_match || package.min_signers() != Some(threshold) {
		return Err(PackageError::WrongThreshold);
	}
	if x_only(package.verifying_key()).as_ref() != Some(expected_key) {
		return Err(PackageError::Malformed);
	}
	Ok(package)
}

/// Who a checked complaint proves guilty.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ComplaintVerdict {
	/// The share is bad: the accused sent it.
	AccusedGuilty,
	/// The share is good (or the proof is false): the complainer lied.
	ComplainerGuilty,
}

/// Decides a complaint: with the revealed ECDH point (if its proof holds), decrypt the
/// share the accused sent the complainer and check it against the accused's commitment.
#[allow(clippy::too_many_arguments)]
pub fn judge_complaint(
	dkg_id: u64,
	complainer: ParticipantIndex,
	complainer_key: &EncryptionKey,
	accused: ParticipantIndex,
	accused_commitment: &round1::Package,
	accused_ephemeral_key: &[u8; 33],
	share: &EncryptedShare,
	shared_point: &SharedPoint,
	proof: &DleqProof,
) -> ComplaintVerdict {
	if !verify_shared_point(complainer_key, accused_ephemeral_key, shared_point, proof) {
		return ComplaintVerdict::ComplainerGuilty;
	}
	let context = ShareContext { dkg_id, sender: accused, recipient: complainer };
	let Ok(plain) = decrypt_share(shared_point, &context, share) else {
		return ComplaintVerdict::AccusedGuilty;
	};
	let Ok(signing_share) = SigningShare::deserialize(&plain) else {
		return ComplaintVerdict::AccusedGuilty;
	};
	let Some(id) = identifier(complainer) else { return ComplaintVerdict::ComplainerGuilty };
	match SecretShare::new(id, signing_share, accused_commitment.commitment().clone()).verify() {
		Ok(_) => ComplaintVerdict::ComplainerGuilty,
		Err(_) => ComplaintVerdict::AccusedGuilty,
	}
}

/// Whether every commitment of a signer's list decodes.
pub fn check_signing_commitments(commitments: &[Vec<u8>]) -> bool {
	commitments.iter().all(|c| SigningCommitments::deserialize(c).is_ok())
}

/// Why aggregation failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AggregationError {
	/// These signers' shares are wrong (checked one by one after the signature failed).
	BadShares(Vec<ParticipantIndex>),
	/// The stored data does not decode (cannot happen for data the pallet checked).
	Malformed,
}

/// Aggregates the signature of message `position`: `commitments` and `shares` per signer of
/// the signing set; with a script tree, the signature is for the tweaked output key. FROST's `aggregate` verifies the BIP-340 signature against the group key
/// once, and only if that fails verifies shares one by one to name the culprits.
pub fn aggregate(
	public_key_package: &PublicKeyPackage,
	message: &[u8; 32],
	position: usize,
	commitments: &BTreeMap<ParticipantIndex, Vec<Vec<u8>>>,
	shares: &BTreeMap<ParticipantIndex, Vec<[u8; 32]>>,
	merkle_root: Option<&[u8; 32]>,
) -> Result<[u8; 64], AggregationError> {
	let mut commitment_map = BTreeMap::new();
	let mut share_map = BTreeMap::new();
	for (index, list) in commitments {
		let id = identifier(*index).ok_or(AggregationError::Malformed)?;
		let bytes = list.get(position).ok_or(AggregationError::Malformed)?;
		commitment_map.insert(
			id,
			SigningCommitments::deserialize(bytes).map_err(|_| AggregationError::Malformed)?,
		);
	}
	let mut unreadable = Vec::new();
	for (index, list) in shares {
		let id = identifier(*index).ok_or(AggregationError::Malformed)?;
		match list.get(position).map(|bytes| SignatureShare::deserialize(bytes)) {
			Some(Ok(share)) => {
				share_map.insert(id, share);
			},
			_ => unreadable.push(*index),
		}
	}
	if !unreadable.is_empty() {
		return Err(AggregationError::BadShares(unreadable));
	}
	let package = SigningPackage::new(commitment_map, message);
	let aggregated = match merkle_root {
		None => frost::aggregate(&package, &share_map, public_key_package),
		Some(root) => {
			frost::aggregate_with_tweak(&package, &share_map, public_key_package, Some(&root[..]))
		},
	};
	match aggregated {
		Ok(signature) => {
			let bytes = signature.serialize().map_err(|_| AggregationError::Malformed)?;
			bytes.try_into().map_err(|_| AggregationError::Malformed)
		},
		Err(frost::Error::InvalidSignatureShare { culprits }) => Err(AggregationError::BadShares(
			culprits
				.iter()
				.filter_map(|id| shares.keys().find(|i| identifier(**i) == Some(*id)).copied())
				.collect(),
		)),
		Err(_) => Err(AggregationError::Malformed),
	}
}
