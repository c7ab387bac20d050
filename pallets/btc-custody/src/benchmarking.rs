//! Benchmarks of `pallet-btc-custody`, with real FROST data made inside the runtime from a
//! deterministic generator: each call on its most expensive path, for `n` participants
//! (threshold `t = floor(2n/3) + 1`) and `m` messages per signing session.
//!
//! Only the data a call reads is real (a proof of knowledge, the commitments an attestation
//! is checked against, the shares that are aggregated); the entries a call merely counts or
//! deletes are copies.

use super::*;
use crate::Pallet as BtcCustody;
use alloc::{collections::BTreeMap, vec, vec::Vec};
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{Get, Hooks},
	BoundedVec,
};
use frame_system::RawOrigin;
use frost_secp256k1_tr::{
	self as frost,
	keys::{dkg::round1, KeyPackage, PublicKeyPackage, SigningShare, Tweak},
	rand_core::{CryptoRng, RngCore},
	Identifier, SigningPackage,
};
use sp_runtime::{
	traits::{Hash, Zero},
	RuntimeAppPublic, Saturating,
};
use tapchain_primitives::custody::{
	encrypt_share, prove_shared_point, registration_digest, sign_auth, AuthSignature,
	CustodyMessage, EncryptedShare, RegistrationPayload, SecretScalar, ShareContext,
};

/// What the benchmarks need from the runtime: a validator set and session keys that can
/// sign (in the benchmark's keystore).
pub trait BenchmarkHelper<AccountId, AuthorityId> {
	/// Makes `validators` the current validator set.
	fn set_validators(validators: &[AccountId]);
	/// Makes a new key `validator`'s current session key and returns it.
	fn session_key(validator: &AccountId) -> AuthorityId;
}

fn blake2(bytes: &[u8]) -> [u8; 32] {
	<sp_runtime::traits::BlakeTwo256 as Hash>::hash(bytes).0
}

/// Deterministic randomness for FROST inside the runtime: BLAKE2-256 of a seed and a
/// counter. For benchmark data only; real nonces and keys come from the signer's OS RNG.
struct BenchRng {
	seed: [u8; 32],
	counter: u64,
}

impl BenchRng {
	fn new(tag: &[u8]) -> Self {
		Self { seed: blake2(tag), counter: 0 }
	}
}

impl RngCore for BenchRng {
	fn next_u32(&mut self) -> u32 {
		self.next_u64() as u32
	}

	fn next_u64(&mut self) -> u64 {
		let mut bytes = [0u8; 8];
		self.fill_bytes(&mut bytes);
		u64::from_le_bytes(bytes)
	}

	fn fill_bytes(&mut self, dest: &mut [u8]) {
		for chunk in dest.chunks_mut(32) {
			self.counter += 1;
			let block = blake2(&(self.seed, self.counter).encode());
			chunk.copy_from_slice(&block[..chunk.len()]);
		}
	}

	fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), frost::rand_core::Error> {
		self.fill_bytes(dest);
		Ok(())
	}
}

impl CryptoRng for BenchRng {}

fn threshold_of(n: u32) -> u16 {
	(2 * n / 3 + 1) as u16
}

fn validator<T: Config>(i: u32) -> T::AccountId {
	account("validator", i, 0)
}

/// Participant `i`'s custody identity key (deterministic; a zero scalar is impossible).
fn identity_key(i: u32) -> k256::schnorr::SigningKey {
	let bytes = blake2(&(b"identity", i).encode());
	k256::schnorr::SigningKey::from_bytes(&bytes).expect("a hash is a valid key; qed")
}

fn identity(i: u32) -> CustodyIdentity {
	CustodyIdentity(identity_key(i).verifying_key().to_bytes().into())
}

fn encryption_secret(i: u32) -> SecretScalar {
	SecretScalar::from_bytes(&blake2(&(b"encryption", i).encode()))
		.expect("a hash is below the group order; qed")
}

/// Signs a custody message as participant `i` would.
fn sign<T: Config>(i: u32, message: CustodyMessage) -> AuthSignature {
	sign_auth(&identity_key(i), &message.digest(&BtcCustody::<T>::genesis_hash()), &[0; 32])
}

/// What block execution does with a custody message: the full check (`pre_dispatch`, the
/// one place signatures are verified), then the call. Both are what the weight pays for.
#[allow(deprecated)]
fn validate_and_dispatch<T: Config>(call: Call<T>) {
	use frame_support::traits::UnfilteredDispatchable;
	use sp_runtime::traits::ValidateUnsigned;
	BtcCustody::<T>::validate_unsigned(
		sp_runtime::transaction_validity::TransactionSource::InBlock,
		&call,
	)
	.expect("a valid message");
	call.dispatch_bypass_filter(RawOrigin::None.into()).expect("dispatches");
}

fn frost_id(index: u32) -> Identifier {
	Identifier::try_from(index as u16).expect("identifiers 1..=n are valid; qed")
}

/// A DKG among `n` validators in `phase`, stored as the active one.
fn active_dkg<T: Config>(n: u32, phase: DkgPhase) -> DkgRun<T> {
	let participants: Vec<_> = (1..=n)
		.map(|i| (validator::<T>(i), identity(i), EncryptionKey(encryption_secret(i).public_key())))
		.collect();
	let run = DkgRun::<T> {
		dkg_id: 1,
		vault: 0,
		participants: participants.try_into().expect("n <= MaxParticipants; qed"),
		threshold: threshold_of(n),
		phase,
		deadline: frame_system::Pallet::<T>::block_number()
			.saturating_add(T::DkgRoundBlocks::get()),
	};
	NextDkgId::<T>::put(2);
	ActiveDkg::<T>::put(run.clone());
	run
}

/// Real round-1 packages of participants `1..=count` of an `n`-participant DKG.
fn round1_packages(n: u32, count: u32) -> Vec<round1::Package> {
	let mut rng = BenchRng::new(b"dkg round 1");
	(1..=count)
		.map(|i| {
			frost::keys::dkg::part1(frost_id(i), n as u16, threshold_of(n), &mut rng)
				.expect("valid parameters; qed")
				.1
		})
		.collect()
}

fn store_commitment<T: Config>(sender: u32, package: &round1::Package) {
	let bytes: BoundedVec<u8, MaxCommitmentLen<T>> =
		package.serialize().expect("serializable").try_into().expect("fits the bound; qed");
	DkgCommitments::<T>::insert(1, sender as ParticipantIndex, bytes);
}

/// Round-2 share sets of senders `1..=count`: an ephemeral key and `n - 1` shares each.
fn store_share_sets<T: Config>(n: u32, count: u32) {
	let ephemeral = encryption_secret(0).public_key();
	let shares: BoundedVec<EncryptedShare, T::MaxParticipants> =
		vec![EncryptedShare([7; 48]); n as usize - 1].try_into().expect("n - 1 < bound; qed");
	for sender in 1..=count {
		DkgShareSets::<T>::insert(1, sender as ParticipantIndex, (ephemeral, shares.clone()));
	}
}

/// A key epoch of `n` members with this public key package, made current.
fn store_epoch<T: Config>(n: u32, package: Vec<u8>) {
	let members: Vec<_> = (1..=n).map(|i| (validator::<T>(i), identity(i))).collect();
	let key = frost::keys::PublicKeyPackage::deserialize(&package)
		.ok()
		.and_then(|p| frost_checks::x_only(p.verifying_key()))
		.unwrap_or([0x79; 32]);
	Epochs::<T>::insert(
		0,
		KeyEpoch {
			dkg_id: 1,
			vault: 0,
			stake_sats: 0,
			output_key: key,
			internal_key: key,
			recovery: None,
			members: members.try_into().expect("n <= MaxParticipants; qed"),
			threshold: threshold_of(n),
			public_key_package: package.try_into().expect("fits the bound; qed"),
			started_at: Zero::zero(),
		},
	);
	CurrentEpoch::<T>::put(0);
	VaultCount::<T>::put(1);
	VaultEpochs::<T>::insert(0, 0);
	LiveEpochs::<T>::insert(0, ());
}

/// An open signing session over `m` copies of one message for epoch 0.
fn open_session<T: Config>(
	id: SigningSessionId,
	n: u32,
	m: u32,
	message: [u8; 32],
	signing_set: Vec<ParticipantIndex>,
) {
	let allowed: Vec<ParticipantIndex> = (1..=n as ParticipantIndex).collect();
	SigningSessions::<T>::insert(
		id,
		SigningSession::<T> {
			epoch: 0,
			messages: vec![message; m as usize].try_into().expect("m <= bound; qed"),
			allowed: allowed.try_into().expect("n <= bound; qed"),
			attempt: 0,
			signing_set: signing_set.try_into().expect("t <= n; qed"),
			deadline: frame_system::Pallet::<T>::block_number()
				.saturating_add(T::SigningAttemptBlocks::get()),
			requested_at: frame_system::Pallet::<T>::block_number(),
			shares_published: false,
		},
	);
	OpenSessions::<T>::try_append(id).expect("fewer than MaxOpenSessions; qed");
	NextSessionId::<T>::put(id + 1);
}

fn store_signing_commitments<T: Config>(
	key: (SigningSessionId, u32),
	signer: ParticipantIndex,
	commitment: &[u8],
	m: u32,
) {
	let one: BoundedVec<u8, MaxSigningCommitmentLen> =
		commitment.to_vec().try_into().expect("a commitment fits; qed");
	let list: BoundedVec<_, T::MaxMessagesPerSession> =
		vec![one; m as usize].try_into().expect("m <= bound; qed");
	SigningCommitments::<T>::insert(key, signer, list);
}

/// A well-formed signing commitment (hiding and binding nonce points).
fn some_signing_commitment() -> Vec<u8> {
	let mut rng = BenchRng::new(b"signing commitment");
	let share =
		SigningShare::deserialize(&blake2(b"share")).expect("a hash is below the group order; qed");
	frost::round1::commit(&share, &mut rng).1.serialize().expect("serializable")
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// A validator replacing its registration (the old identity is released).
	#[benchmark]
	fn register_custody_keys() {
		let who = validator::<T>(1);
		T::BenchmarkHelper::set_validators(core::slice::from_ref(&who));
		let session_key = T::BenchmarkHelper::session_key(&who);
		Registrations::<T>::insert(
			&who,
			Registration {
				identity: identity(2),
				encryption_key: EncryptionKey(encryption_secret(2).public_key()),
				session_key: session_key.clone(),
			},
		);
		IdentityOwners::<T>::insert(identity(2), &who);
		let payload = RegistrationPayload {
			genesis_hash: BtcCustody::<T>::genesis_hash(),
			validator: who.clone(),
			identity: identity(1),
			encryption_key: EncryptionKey(encryption_secret(1).public_key()),
			nonce: 0,
		};
		let session_signature =
			session_key.sign(&payload.encode()).expect("the helper's key is in the keystore");
		let identity_signature =
			sign_auth(&identity_key(1), &registration_digest(&payload), &[0; 32]);

		let call = Call::<T>::register_custody_keys {
			payload,
			session_key,
			session_signature,
			identity_signature,
		};

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(Registrations::<T>::get(&who).map(|r| r.identity), Some(identity(1)));
		assert!(!IdentityOwners::<T>::contains_key(identity(2)));
	}

	/// The last round-1 package of an `n`-participant DKG: its proof of knowledge is
	/// checked and the DKG moves to round 2.
	#[benchmark]
	fn submit_dkg_commitment(n: Linear<2, { T::MaxParticipants::get() }>) {
		active_dkg::<T>(n, DkgPhase::Commit);
		let mut rng = BenchRng::new(b"last commitment");
		let (_, package) =
			frost::keys::dkg::part1(frost_id(n), n as u16, threshold_of(n), &mut rng)
				.expect("valid parameters");
		// The others' packages are only counted; their constant terms are summed already.
		for sender in 1..n {
			store_commitment::<T>(sender, &package);
		}
		DkgGroupCommitment::<T>::insert(1, encryption_secret(0).public_key());
		let message = DkgCommitment {
			dkg_id: 1,
			sender: n as ParticipantIndex,
			package: package.serialize().expect("serializable"),
		};
		let signature = sign::<T>(n, CustodyMessage::DkgCommitment(message.clone()));
		let call = Call::<T>::from_message(CustodyMessage::DkgCommitment(message), signature);

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(ActiveDkg::<T>::get().map(|r| r.phase), Some(DkgPhase::Share));
	}

	/// The last round-2 message of an `n`-participant DKG (`n - 1` encrypted shares): the
	/// DKG moves to attestations.
	#[benchmark]
	fn submit_dkg_shares(n: Linear<2, { T::MaxParticipants::get() }>) {
		active_dkg::<T>(n, DkgPhase::Share);
		store_share_sets::<T>(n, n - 1);
		let message = DkgShares {
			dkg_id: 1,
			sender: n as ParticipantIndex,
			ephemeral_key: encryption_secret(0).public_key(),
			shares: vec![EncryptedShare([7; 48]); n as usize - 1],
		};
		let signature = sign::<T>(n, CustodyMessage::DkgShares(message.clone()));
		let call = Call::<T>::from_message(CustodyMessage::DkgShares(message), signature);

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(ActiveDkg::<T>::get().map(|r| r.phase), Some(DkgPhase::Finish));
	}

	/// An attestation on every costly path at once: its package is new (decoded and checked
	/// against the group key the commitments sum to) and it is the last one (a key epoch
	/// starts and the DKG's data is deleted).
	#[benchmark]
	fn attest_dkg_key(n: Linear<2, { T::MaxParticipants::get() }>) {
		let run = active_dkg::<T>(n, DkgPhase::Finish);
		let packages = round1_packages(n, n);
		let mut sum = None;
		for (i, package) in packages.iter().enumerate() {
			store_commitment::<T>(i as u32 + 1, package);
			sum = frost_checks::add_constant_term(sum.as_ref(), package);
		}
		DkgGroupCommitment::<T>::insert(1, sum.expect("independent random terms"));
		store_share_sets::<T>(n, n);
		let commitments: BTreeMap<Identifier, _> = packages
			.iter()
			.enumerate()
			.map(|(i, p)| (frost_id(i as u32 + 1), p.commitment()))
			.collect();
		let public_key_package = PublicKeyPackage::from_dkg_commitments(&commitments)
			.expect("valid commitments")
			.tweak::<&[u8]>(None)
			.serialize()
			.expect("serializable");
		// The others attested the same package; its stored copy is left out so that this
		// attestation pays for checking it.
		let hash = T::Hashing::hash(&public_key_package);
		for sender in 1..n {
			DkgAttestations::<T>::insert(run.dkg_id, sender as ParticipantIndex, hash);
		}
		let message =
			DkgKeyAttestation { dkg_id: 1, sender: n as ParticipantIndex, public_key_package };
		let signature = sign::<T>(n, CustodyMessage::DkgKeyAttestation(message.clone()));
		let call = Call::<T>::from_message(CustodyMessage::DkgKeyAttestation(message), signature);

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(CurrentEpoch::<T>::get(), Some(0));
		assert!(!ActiveDkg::<T>::exists());
	}

	/// An attestation of a package already checked (the common case: every participant
	/// after the first attests the same one) that is not the last: `n - 2` others attested
	/// another package.
	#[benchmark]
	fn attest_dkg_key_known(n: Linear<3, { T::MaxParticipants::get() }>) {
		let run = active_dkg::<T>(n, DkgPhase::Finish);
		let public_key_package = vec![1u8; 32];
		let hash = T::Hashing::hash(&public_key_package);
		DkgCandidateKeys::<T>::insert(
			run.dkg_id,
			hash,
			BoundedVec::<u8, MaxPackageLen<T>>::try_from(public_key_package.clone())
				.expect("fits the bound"),
		);
		let other = T::Hashing::hash(b"another package");
		for sender in 1..n - 1 {
			DkgAttestations::<T>::insert(run.dkg_id, sender as ParticipantIndex, other);
		}
		let message =
			DkgKeyAttestation { dkg_id: 1, sender: n as ParticipantIndex, public_key_package };
		let signature = sign::<T>(n, CustodyMessage::DkgKeyAttestation(message.clone()));
		let call = Call::<T>::attest_dkg_key { message, signature };

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(DkgAttestations::<T>::get(run.dkg_id, n as ParticipantIndex), Some(hash));
		assert!(ActiveDkg::<T>::exists());
	}

	/// A complaint judged in full (proof of the ECDH point, decryption, the share checked
	/// against the accused's commitment of `t` coefficients); the DKG restarts without the
	/// accused and its data (`n` packages and share sets) is deleted.
	#[benchmark]
	fn report_dkg_complaint(n: Linear<2, { T::MaxParticipants::get() }>) {
		let run = active_dkg::<T>(n, DkgPhase::Finish);
		let accused = round1_packages(n, 1).remove(0);
		for sender in 1..=n {
			store_commitment::<T>(sender, &accused);
		}
		store_share_sets::<T>(n, n);
		// The accused (participant 1) sent the complainer (participant n) a share that
		// decrypts but is not on its polynomial.
		let ephemeral_secret = encryption_secret(0);
		let bad_share = encrypt_share(
			&ephemeral_secret,
			&EncryptionKey(encryption_secret(n).public_key()),
			&ShareContext { dkg_id: 1, sender: 1, recipient: n as ParticipantIndex },
			&blake2(b"not on the polynomial"),
		)
		.expect("valid keys");
		let mut shares = vec![EncryptedShare([7; 48]); n as usize - 1];
		shares[n as usize - 2] = bad_share;
		DkgShareSets::<T>::insert(
			run.dkg_id,
			1,
			(ephemeral_secret.public_key(), BoundedVec::try_from(shares).expect("n - 1 < bound")),
		);
		let (shared_point, proof) =
			prove_shared_point(&encryption_secret(n), &ephemeral_secret.public_key())
				.expect("valid key");
		let message = DkgComplaint {
			dkg_id: 1,
			sender: n as ParticipantIndex,
			accused: 1,
			shared_point,
			proof,
		};
		let signature = sign::<T>(n, CustodyMessage::DkgComplaint(message.clone()));
		let call = Call::<T>::from_message(CustodyMessage::DkgComplaint(message), signature);

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert!(DkgExcluded::<T>::get().contains(&validator::<T>(1)));
		assert!(!ActiveDkg::<T>::exists());
	}

	/// The commitment that completes the signing set of an `n`-member epoch (`t`
	/// committers) for a session of `m` messages.
	#[benchmark]
	fn submit_signing_commitment(
		n: Linear<2, { T::MaxParticipants::get() }>,
		m: Linear<1, { T::MaxMessagesPerSession::get() }>,
	) {
		store_epoch::<T>(n, Vec::new());
		open_session::<T>(1, n, m, [42; 32], Vec::new());
		let t = threshold_of(n);
		let commitment = some_signing_commitment();
		for signer in 1..t {
			store_signing_commitments::<T>((1, 0), signer, &commitment, m);
		}
		let message = SigningCommitment {
			session_id: 1,
			attempt: 0,
			sender: t,
			commitments: vec![commitment; m as usize],
		};
		let signature = sign::<T>(t as u32, CustodyMessage::SigningCommitment(message.clone()));
		let call = Call::<T>::from_message(CustodyMessage::SigningCommitment(message), signature);

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(SigningSessions::<T>::get(1).map(|s| s.signing_set.len()), Some(t as usize));
	}

	/// The last signature share of a `t`-signer set (epoch of `n` members) for one message:
	/// the signature aggregated from real FROST shares and verified against the group key.
	/// Aggregation is per message, so a session of `m` messages costs `m` times this (the
	/// pallet declares it so; measured: 598 ms for m = 64 at n = 100, 64 x 14 ms = 902 ms).
	#[benchmark]
	fn submit_signature_shares(n: Linear<2, { T::MaxParticipants::get() }>) {
		let m = 1;
		let t = threshold_of(n);
		let mut rng = BenchRng::new(b"dealer");
		let (secret_shares, public) = frost::keys::generate_with_dealer(
			n as u16,
			t,
			frost::keys::IdentifierList::Default,
			&mut rng,
		)
		.expect("valid parameters");
		store_epoch::<T>(n, public.serialize().expect("serializable"));
		let signers: Vec<ParticipantIndex> = (1..=t).collect();
		open_session::<T>(1, n, m, [42; 32], signers.clone());
		// Every message is the same, so one share per signer serves them all.
		let mut nonces = BTreeMap::new();
		let mut commitments = BTreeMap::new();
		let mut key_packages = BTreeMap::new();
		for signer in &signers {
			let id = frost_id(*signer as u32);
			let share = secret_shares.get(&id).expect("dealt to every identifier");
			let key_package = KeyPackage::new(
				id,
				*share.signing_share(),
				*public.verifying_shares().get(&id).expect("every identifier"),
				*public.verifying_key(),
				t,
			);
			let (nonce, commitment) = frost::round1::commit(share.signing_share(), &mut rng);
			store_signing_commitments::<T>(
				(1, 0),
				*signer,
				&commitment.serialize().expect("serializable"),
				m,
			);
			nonces.insert(id, nonce);
			commitments.insert(id, commitment);
			key_packages.insert(id, key_package);
		}
		let package = SigningPackage::new(commitments, &[42; 32]);
		let mut last_shares = Vec::new();
		for signer in &signers {
			let id = frost_id(*signer as u32);
			let share = frost::round2::sign(&package, &nonces[&id], &key_packages[&id])
				.expect("valid share")
				.serialize();
			let share: [u8; 32] = share.try_into().expect("32-byte scalar");
			if *signer == t {
				last_shares = vec![share; m as usize];
			} else {
				SignatureShareSets::<T>::insert(
					(1, 0),
					*signer,
					BoundedVec::<_, T::MaxMessagesPerSession>::try_from(vec![share; m as usize])
						.expect("m <= bound"),
				);
			}
		}
		let message = SignatureShares { session_id: 1, attempt: 0, sender: t, shares: last_shares };
		let signature = sign::<T>(t as u32, CustodyMessage::SignatureShares(message.clone()));
		let call = Call::<T>::from_message(CustodyMessage::SignatureShares(message), signature);

		#[block]
		{
			validate_and_dispatch::<T>(call);
		}

		assert_eq!(Signatures::<T>::get(1).map(|s| s.len()), Some(m as usize));
	}

	/// Opening a session of `m` messages on a full epoch, with all but one session slot
	/// taken.
	#[benchmark]
	fn request_test_signatures(m: Linear<1, { T::MaxMessagesPerSession::get() }>) {
		let n = T::MaxParticipants::get();
		store_epoch::<T>(n, Vec::new());
		for id in 1..T::MaxOpenSessions::get() as SigningSessionId {
			OpenSessions::<T>::try_append(id).expect("below the bound");
		}
		NextSessionId::<T>::put(T::MaxOpenSessions::get() as SigningSessionId);
		let messages = vec![[42u8; 32]; m as usize];

		#[extrinsic_call]
		_(RawOrigin::Root, messages);

		assert!(SigningSessions::<T>::contains_key(T::MaxOpenSessions::get() as SigningSessionId));
	}

	#[benchmark]
	fn set_recovery_leaf() {
		// Any valid x-only key will do.
		let leaf = RecoveryLeaf {
			recovery_key: identity(1).0,
			delay_blocks: T::MinRecoveryDelayBlocks::get(),
		};

		#[extrinsic_call]
		_(RawOrigin::Root, Some(leaf));

		assert_eq!(RecoveryLeafConfig::<T>::get(), Some(leaf));
	}

	/// A block's worst custody work: a new validator set of `n` registered validators (a
	/// DKG among them starts) and `s` open sessions whose signing sets all missed their
	/// deadline (each retried, its silent signers reported).
	#[benchmark]
	fn on_initialize(
		n: Linear<2, { T::MaxParticipants::get() }>,
		s: Linear<0, { T::MaxOpenSessions::get() }>,
	) {
		let validators: Vec<T::AccountId> = (1..=n).map(validator::<T>).collect();
		T::BenchmarkHelper::set_validators(&validators);
		for (i, who) in validators.iter().enumerate() {
			Registrations::<T>::insert(
				who,
				Registration {
					identity: identity(i as u32 + 1),
					encryption_key: EncryptionKey(encryption_secret(i as u32 + 1).public_key()),
					session_key: T::BenchmarkHelper::session_key(who),
				},
			);
		}
		// The current epoch has other members, so the new set needs a DKG.
		let members = T::MaxParticipants::get();
		let others: Vec<_> =
			(1..=members).map(|i| (account::<T::AccountId>("old", i, 0), identity(i))).collect();
		store_epoch::<T>(members, Vec::new());
		Epochs::<T>::mutate(0, |e| {
			if let Some(e) = e {
				e.members = others.try_into().expect("within the bound");
			}
		});
		let t = threshold_of(members);
		let commitment = some_signing_commitment();
		for id in 1..=s as SigningSessionId {
			open_session::<T>(id, members, 1, [42; 32], (1..=t).collect());
			for signer in 1..=t {
				store_signing_commitments::<T>((id, 0), signer, &commitment, 1);
			}
		}
		let now = frame_system::Pallet::<T>::block_number()
			.saturating_add(T::SigningAttemptBlocks::get())
			.saturating_add(T::DkgRoundBlocks::get())
			.saturating_add(1u32.into());
		frame_system::Pallet::<T>::set_block_number(now);

		#[block]
		{
			BtcCustody::<T>::on_initialize(now);
		}

		assert_eq!(ActiveDkg::<T>::get().map(|r| r.participants.len()), Some(n as usize));
		// Each attempt was dropped (with a third of the members left, the session fails).
		for id in 1..=s as SigningSessionId {
			assert!(!SigningCommitments::<T>::contains_key((id, 0), 1));
		}
	}

	impl_benchmark_test_suite!(BtcCustody, crate::mock::new_test_ext(0), crate::mock::Test);
}
