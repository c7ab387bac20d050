//! # Bitcoin custody
//!
//! The bridge's bitcoin sits in Taproot outputs whose key no single party holds: the
//! validators share it with FROST (`frost-secp256k1-tr`, BIP-340/341), threshold
//! `t = floor(2n/3) + 1`. This pallet knows keys and 32-byte messages, nothing about Bitcoin
//! transactions. The runtime is the coordinator of every protocol; validators' nodes take
//! part through authenticated unsigned extrinsics.
//!
//! - **Registration** ([`Pallet::register_custody_keys`]): a validator's node registers its
//!   custody identity (a BIP-340 key that signs its custody messages) and the key DKG shares
//!   are encrypted to, signed by the validator's current session key and by the identity key
//!   (proof of possession), with the validator's next registration nonce.
//! - **DKG** ([`dkg`]): round-1 commitments (each proof of knowledge checked), round-2 shares
//!   encrypted to each recipient, then every participant attests the public key package it
//!   derived or proves a share it received bad ([`DkgComplaint`]: the runtime decrypts that
//!   one share and decides who lied).
//! - **Signing** ([`signing`]): other pallets call [`ThresholdCustody::request_signatures`];
//!   members commit nonces, the first `t` form the signing set, they send shares, the runtime
//!   aggregates and verifies the BIP-340 signature once (shares one by one only on failure).
//! - **Recovery leaf**: governance may set a [`RecoveryLeaf`] ([`Pallet::set_recovery_leaf`]):
//!   key epochs started afterwards commit their Taproot output to the script
//!   `<delay> OP_CHECKSEQUENCEVERIFY OP_DROP <recovery key> OP_CHECKSIG`, where the recovery
//!   key is an n-of-n MuSig2 aggregate of a recovery committee's keys. **Trust this adds:** the
//!   committee, all members together, can take every custody output that has not moved for
//!   `delay` blocks; any single member can refuse to sign and so block recovery, but not
//!   spend. Before the delay the committee has no power at all.
//!
//! ## The promises
//!
//! With `n` members of a key, `t = floor(2n/3) + 1` and at most `f = n - t` of them faulty in
//! any way (silent from any step on, crashing and coming back, answering twice or late,
//! sending bad shares, replaying, spamming), [`Pallet::do_try_state`] checks what can be
//! checked of these after every block of the tests and the simulation:
//!
//! 1. **Liveness.** Every phase has a deadline, and every deadline makes progress or names
//!    and excludes someone:
//!    - a DKG round ends after [`Config::DkgRoundBlocks`]; the silent are excluded (and
//!      reported) and the DKG restarts without them. A DKG therefore ends within
//!      `(f + 1) * 3 * DkgRoundBlocks` blocks (each restart excludes at least one faulty
//!      participant);
//!    - a signing attempt's round ends after [`Config::SigningAttemptBlocks`]: allowed
//!      members that sent no commitment, or members of the signing set that sent no share,
//!      are excluded and reported, and a new attempt starts; a bad share excludes its signer
//!      at once. Each failed attempt excludes at least one faulty member, so with `t` honest
//!      members online a session is signed within `(f + 1) * 2 * SigningAttemptBlocks`
//!      blocks of its request.
//! 2. **No dead keys.** A key epoch starts only when **every** participant of its DKG
//!    attested the same public key package (unanimity of the participants). With at most
//!    `f = n - t` of them faulty, at least `n - f = t` honest members then hold verified
//!    shares: the key can sign even if every faulty one never comes back. (Two thirds of
//!    attestations would not do: for `n` divisible by 3 it is one below `t`, and faulty
//!    attesters count in it.) Members proven silent or dishonest while signing are recorded
//!    per epoch ([`EpochFaults`]); once the members not so recorded fall to
//!    `t + floor((n - t) / 2)` or below and a key among them alone would have a lower
//!    threshold, the epoch is *degraded*: a new DKG starts among the validators without them,
//!    before the key can no longer sign.
//! 3. **No free block space.** Every unsigned message is checked in full by the pool
//!    (`validate_unsigned`, which block execution runs again as `pre_dispatch`): signature,
//!    round, membership, duplicates, counts and cryptographic content. Whatever passes has an
//!    effect at dispatch. The signature is verified there once, not again by the call. One
//!    sender has at most one message per DKG round and two per open signing session (their
//!    pool tags), so what a validator can put in a block is bounded.
//! 4. **No replay.** Every message is signed over the genesis hash and its DKG id or
//!    session id and attempt, and a registration carries the validator's next nonce.
//! 5. **Outgoing holders stay accountable.** Members of a live (not retired) epoch have their
//!    stake held ([`Config::MemberStake`]) until the bridge retires the epoch, whose funds
//!    have then moved; nodes delete the key share of a retired epoch. A theft the bridge
//!    proves slashes every member of the robbed epoch pro rata, a penalty large enough that
//!    any threshold of them loses at least what it took ([`slashing`]: a FROST signature
//!    does not say who signed).
//!
//! **Vaults.** One FROST key among a thousand members cannot run on a chain, so the
//! validators that may hold custody (registered, not excluded) are split into
//! `ceil(n / VaultSize)` vaults of near-equal size and stake ([`vaults`],
//! [`tapchain_primitives::vault`]), each with its own key epochs, DKGs and signing sessions
//! under the rules above, `k` members and threshold `floor(2k/3) + 1`. With `n <= VaultSize`
//! there is one vault of everyone. A set too large for `MaxVaults` vaults of `VaultSize`
//! gets larger vaults ([`Pallet::effective_vault_size`]). Seats are drawn from the hash of a Bitcoin block at a
//! height fixed before it was mined ([`PartitionRandomness`]), and a change of the set moves
//! as few members as it can.
//!
//! **Rotation.** A DKG starts when a vault's members differ from its current epoch's, or its
//! current epoch is degraded (one DKG at a time, vaults in order). Old epochs sign until the
//! bridge reports their funds moved ([`ThresholdCustody::retire_epoch`]).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod dkg;
pub mod frost_checks;
mod invariants;
#[cfg(test)]
mod mock;
pub mod runtime_api;
mod service;
pub mod signing;
pub mod slashing;
#[cfg(test)]
mod tests;
mod types;
mod unsigned;
pub mod vaults;
pub mod weights;

#[cfg(feature = "runtime-benchmarks")]
pub use benchmarking::BenchmarkHelper;
pub use types::*;
pub use weights::WeightInfo;

pub use tapchain_primitives::custody::{
	CustodyIdentity, CustodyTask, DkgCommitment, DkgComplaint, DkgId, DkgKeyAttestation,
	DkgParameters, DkgShares, EncryptionKey, ParticipantIndex, PartitionRandomness, RecoveryLeaf,
	SignatureShares, SigningCommitment, SigningRequestError, SigningSessionId, SigningStatus,
	TheftSlash, ThresholdCustody,
};

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{pallet_prelude::*, traits::BuildGenesisConfig};
	use frame_system::pallet_prelude::*;
	use sp_runtime::RuntimeAppPublic;
	use tapchain_primitives::custody::{AuthSignature, RegistrationPayload};

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		#[allow(deprecated)]
		type RuntimeEvent: From<Event<Self>> + IsType<<Self as frame_system::Config>::RuntimeEvent>;

		/// The session key that authenticates a validator's custody registration.
		type AuthorityId: Member + Parameter + RuntimeAppPublic + MaxEncodedLen;

		/// Current validators and owners of session keys.
		type Validators: ValidatorKeys<Self::AccountId, Self::AuthorityId>;

		/// Where custody offences are reported.
		type OffenceReporter: ReportCustodyOffence<Self::AccountId>;

		/// Holds the stake of members of live key epochs.
		type MemberStake: CustodyStake<Self::AccountId>;

		/// The Bitcoin block hashes vault partitions are seeded with (the light client).
		type Randomness: PartitionRandomness;

		/// Most participants of a DKG (and members of an epoch).
		#[pallet::constant]
		type MaxParticipants: Get<u32>;

		/// Most validators the runtime can ever have (staking's election bound): vaults of at
		/// most `MaxParticipants` members must be able to seat them all.
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		/// Members per vault until governance sets [`VaultSize`]: the largest DKG the chain
		/// runs well. At most `MaxParticipants`.
		#[pallet::constant]
		type DefaultVaultSize: Get<u32>;

		/// Most vaults at once. `MaxVaults * MaxParticipants` must seat `MaxValidators`; a set
		/// larger than `MaxVaults * VaultSize` is dealt into larger vaults.
		#[pallet::constant]
		type MaxVaults: Get<u32>;

		/// Blocks between two deals of every seat from a fresh seed, until governance sets
		/// [`RedealInterval`] (0: never). Without them, a validator that leaves and joins again
		/// can wait for a seat in the vault it wants ([`vaults`]).
		#[pallet::constant]
		type DefaultRedealInterval: Get<BlockNumberFor<Self>>;

		/// Most messages one signing session signs.
		#[pallet::constant]
		type MaxMessagesPerSession: Get<u32>;

		/// Most signing sessions open at once.
		#[pallet::constant]
		type MaxOpenSessions: Get<u32>;

		/// Blocks each DKG round may take before silent participants are excluded.
		#[pallet::constant]
		type DkgRoundBlocks: Get<BlockNumberFor<Self>>;

		/// Blocks each round of a signing attempt may take before its silent members are
		/// excluded.
		#[pallet::constant]
		type SigningAttemptBlocks: Get<BlockNumberFor<Self>>;

		/// Shortest recovery delay governance may set, in Bitcoin blocks.
		#[pallet::constant]
		type MinRecoveryDelayBlocks: Get<u16>;

		/// Priority of custody messages in the transaction pool.
		#[pallet::constant]
		type UnsignedPriority: Get<TransactionPriority>;

		/// Weights of the calls and the block hook, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Validator set and session keys for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: crate::BenchmarkHelper<Self::AccountId, Self::AuthorityId>;
	}

	/// Bytes of a serialized round-1 package with at most `MaxParticipants` coefficients.
	pub struct MaxCommitmentLen<T>(PhantomData<T>);
	impl<T: Config> Get<u32> for MaxCommitmentLen<T> {
		fn get() -> u32 {
			// header + length prefix + 33 bytes per coefficient + 65-byte proof
			16 + 33 * T::MaxParticipants::get() + 65
		}
	}

	/// Bytes of a serialized public key package with at most `MaxParticipants` shares.
	pub struct MaxPackageLen<T>(PhantomData<T>);
	impl<T: Config> Get<u32> for MaxPackageLen<T> {
		fn get() -> u32 {
			16 + (32 + 33) * T::MaxParticipants::get() + 33 + 4
		}
	}

	/// Bytes of one serialized signing commitment (hiding and binding nonce points).
	pub type MaxSigningCommitmentLen = ConstU32<80>;

	pub type EpochOf<T> = KeyEpoch<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as Config>::MaxParticipants,
		MaxPackageLen<T>,
	>;

	/// Registered custody keys per validator.
	#[pallet::storage]
	pub type Registrations<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, Registration<T::AuthorityId>>;

	/// The nonce a validator's next registration must carry (its registrations so far).
	#[pallet::storage]
	pub type RegistrationNonces<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// The validator each custody identity belongs to (an identity serves one validator).
	#[pallet::storage]
	pub type IdentityOwners<T: Config> =
		StorageMap<_, Blake2_128Concat, CustodyIdentity, T::AccountId>;

	/// Id of the next DKG.
	#[pallet::storage]
	pub type NextDkgId<T> = StorageValue<_, DkgId, ValueQuery>;

	/// The DKG in progress, if any.
	#[pallet::storage]
	pub type ActiveDkg<T: Config> = StorageValue<_, DkgRun<T>>;

	/// Round-1 packages of the active DKG, by sender.
	#[pallet::storage]
	pub type DkgCommitments<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		DkgId,
		Twox64Concat,
		ParticipantIndex,
		BoundedVec<u8, MaxCommitmentLen<T>>,
	>;

	/// Sum of the constant terms of the active DKG's round-1 commitments received so far
	/// (compressed point): once all are in, the group key. Kept as packages arrive so that
	/// checking an attestation decodes one package instead of every commitment (O(n) instead
	/// of O(n * t) point decodings).
	#[pallet::storage]
	pub type DkgGroupCommitment<T: Config> = StorageMap<_, Twox64Concat, DkgId, [u8; 33]>;

	/// Round-2 encrypted shares of the active DKG, by sender: its ephemeral key and one
	/// share per other participant.
	#[pallet::storage]
	pub type DkgShareSets<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		DkgId,
		Twox64Concat,
		ParticipantIndex,
		([u8; 33], BoundedVec<tapchain_primitives::custody::EncryptedShare, T::MaxParticipants>),
	>;

	/// Attestations of the active DKG: the hash of the public key package each sender derived.
	#[pallet::storage]
	pub type DkgAttestations<T: Config> =
		StorageDoubleMap<_, Twox64Concat, DkgId, Twox64Concat, ParticipantIndex, T::Hash>;

	/// Attested public key packages of the active DKG, by hash.
	#[pallet::storage]
	pub type DkgCandidateKeys<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		DkgId,
		Identity,
		T::Hash,
		BoundedVec<u8, MaxPackageLen<T>>,
	>;

	/// Validators left out of custody keys for this validator set (silent or cheating in a
	/// DKG, or in the signing of a degraded key); cleared when the validator set changes.
	#[pallet::storage]
	pub type DkgExcluded<T: Config> =
		StorageValue<_, BoundedVec<T::AccountId, T::MaxParticipants>, ValueQuery>;

	/// Hash of the validator set [`DkgExcluded`] refers to.
	#[pallet::storage]
	pub type ExclusionValidatorSet<T: Config> = StorageValue<_, T::Hash>;

	/// Block the current validator set was first seen at: a DKG without every validator
	/// registered waits [`Config::DkgRoundBlocks`] from here for the rest to register.
	#[pallet::storage]
	pub type ValidatorSetSince<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// Key epochs by index.
	#[pallet::storage]
	pub type Epochs<T: Config> = StorageMap<_, Twox64Concat, u32, EpochOf<T>>;

	/// Members (FROST identifiers) of a live epoch proven silent or dishonest while signing:
	/// left out of its later sessions while enough others remain, and counted against its
	/// health (a degraded epoch is replaced).
	#[pallet::storage]
	pub type EpochFaults<T: Config> = StorageMap<
		_,
		Twox64Concat,
		u32,
		BoundedVec<ParticipantIndex, T::MaxParticipants>,
		ValueQuery,
	>;

	/// Key epochs whose funds have moved (the bridge says so): they sign nothing more.
	#[pallet::storage]
	pub type RetiredEpochs<T> = StorageMap<_, Twox64Concat, u32, ()>;

	/// Key epochs that are not retired: they sign, and their members' stake is held.
	#[pallet::storage]
	pub type LiveEpochs<T> = StorageMap<_, Twox64Concat, u32, ()>;

	/// The newest key epoch, of any vault (the next one takes the following index).
	#[pallet::storage]
	pub type CurrentEpoch<T> = StorageValue<_, u32>;

	/// Members per vault (governed; [`Config::DefaultVaultSize`] until set).
	#[pallet::storage]
	pub type VaultSize<T: Config> = StorageValue<_, u32, ValueQuery, T::DefaultVaultSize>;

	/// Number of vaults in the current partition.
	#[pallet::storage]
	pub type VaultCount<T> = StorageValue<_, u32, ValueQuery>;

	/// Blocks between two deals of every seat from a fresh seed (governed;
	/// [`Config::DefaultRedealInterval`] until set; 0: never).
	#[pallet::storage]
	pub type RedealInterval<T: Config> =
		StorageValue<_, BlockNumberFor<T>, ValueQuery, T::DefaultRedealInterval>;

	/// Block at which every seat was last dealt from a fresh seed (the first partition of
	/// more than one vault, or the last re-deal).
	#[pallet::storage]
	pub type LastFullDeal<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// A theft was proven since the last full deal: the next partition deals every seat again
	/// whatever [`RedealInterval`] says, so the robbed key's members (a threshold of whom
	/// signed it) are scattered over the vaults and the robbed vault re-keys.
	#[pallet::storage]
	pub type RedealAfterTheft<T> = StorageValue<_, bool, ValueQuery>;

	/// Each vault's members (sorted): who its next key is dealt to.
	#[pallet::storage]
	pub type VaultMembers<T: Config> = StorageMap<
		_,
		Twox64Concat,
		tapchain_primitives::vault::VaultIndex,
		BoundedVec<T::AccountId, T::MaxParticipants>,
		ValueQuery,
	>;

	/// Each vault's current key epoch: where its deposits and change go, and where its old
	/// epochs' coins are swept to.
	#[pallet::storage]
	pub type VaultEpochs<T> =
		StorageMap<_, Twox64Concat, tapchain_primitives::vault::VaultIndex, u32>;

	/// A repartition waiting for its seed block to be mined and buried.
	#[pallet::storage]
	pub type PendingPartitionSeed<T: Config> = StorageValue<_, PendingPartition<T>>;

	/// The recovery leaf new key epochs commit to (governance sets it; `None`: key path only).
	/// An epoch keeps the leaf it started with.
	#[pallet::storage]
	pub type RecoveryLeafConfig<T> = StorageValue<_, RecoveryLeaf>;

	/// Id of the next signing session.
	#[pallet::storage]
	pub type NextSessionId<T> = StorageValue<_, SigningSessionId, ValueQuery>;

	/// Open signing sessions.
	#[pallet::storage]
	pub type SigningSessions<T: Config> =
		StorageMap<_, Twox64Concat, SigningSessionId, SigningSession<T>>;

	/// Ids of open signing sessions (for deadlines and the runtime API).
	#[pallet::storage]
	pub type OpenSessions<T: Config> =
		StorageValue<_, BoundedVec<SigningSessionId, T::MaxOpenSessions>, ValueQuery>;

	/// Nonce commitments of a session's attempt, by signer: one per message.
	#[pallet::storage]
	pub type SigningCommitments<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		(SigningSessionId, u32),
		Twox64Concat,
		ParticipantIndex,
		BoundedVec<BoundedVec<u8, MaxSigningCommitmentLen>, T::MaxMessagesPerSession>,
	>;

	/// Signature shares of a session's attempt, by signer: one per message.
	#[pallet::storage]
	pub type SignatureShareSets<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		(SigningSessionId, u32),
		Twox64Concat,
		ParticipantIndex,
		BoundedVec<[u8; 32], T::MaxMessagesPerSession>,
	>;

	/// Finished sessions' BIP-340 signatures, one per message, until the requester closes
	/// the session.
	#[pallet::storage]
	pub type Signatures<T: Config> = StorageMap<
		_,
		Twox64Concat,
		SigningSessionId,
		BoundedVec<[u8; 64], T::MaxMessagesPerSession>,
	>;

	/// Why custody freezes balances.
	#[pallet::composite_enum]
	pub enum FreezeReason {
		/// A member of a live key epoch: its bonded BTC stays in its account until the key's
		/// funds have moved (the epoch is retired).
		CustodyMember,
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		#[serde(skip)]
		pub _config: PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			// Identifiers start at 1 so that 0 never names a DKG or session.
			NextDkgId::<T>::put(1);
			NextSessionId::<T>::put(1);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(crate) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A validator registered (or re-registered) its custody keys.
		CustodyKeysRegistered { validator: T::AccountId, identity: CustodyIdentity },
		/// A DKG started among these validators.
		DkgStarted {
			dkg_id: DkgId,
			vault: tapchain_primitives::vault::VaultIndex,
			participants: Vec<T::AccountId>,
			threshold: u16,
		},
		/// The DKG moved to its next round.
		DkgPhaseChanged { dkg_id: DkgId, phase: DkgPhase },
		/// The DKG failed: these participants are excluded and it will restart without them.
		DkgRestarting { dkg_id: DkgId, excluded: Vec<T::AccountId>, offence: CustodyOffence },
		/// Every participant attested the key: a new custody key epoch.
		KeyEpochStarted {
			epoch: u32,
			vault: tapchain_primitives::vault::VaultIndex,
			dkg_id: DkgId,
			output_key: [u8; 32],
			internal_key: [u8; 32],
			recovery: Option<RecoveryLeaf>,
			members: u32,
			threshold: u16,
		},
		/// Too few of the epoch's members are still trusted to sign: it is replaced by a new
		/// DKG among the validators without the faulty ones.
		KeyEpochDegraded { epoch: u32, trusted_members: u32, threshold: u16 },
		/// An old key epoch was retired: its outputs have moved, it signs nothing more.
		KeyEpochRetired { epoch: u32 },
		/// A theft of `stolen_sats` by this epoch's key was proven: its members were slashed,
		/// each the same share of its stake at risk, `slashed` (member, sats) in all at most
		/// `penalty_sats` (enough that any threshold of them loses what it took).
		MembersSlashedForTheft {
			epoch: u32,
			stolen_sats: u64,
			penalty_sats: u64,
			slashed: Vec<(T::AccountId, u64)>,
		},
		/// Governance set (or removed) the recovery leaf of future key epochs.
		RecoveryLeafSet { leaf: Option<RecoveryLeaf> },
		/// The custody set changed and needs more than one vault: the block at this Bitcoin
		/// height (not mined yet) will seed the new partition once it is buried.
		PartitionSeedFixed { seed_height: u32, candidates: u32 },
		/// The custody set was dealt into vaults (`seed` is `None` for a single vault):
		/// `changed` vaults need a new key, `moved` members changed vault.
		VaultsPartitioned {
			seed: Option<tapchain_primitives::bitcoin::BlockHash>,
			vaults: u32,
			changed: Vec<tapchain_primitives::vault::VaultIndex>,
			moved: u32,
		},
		/// Governance set the members per vault.
		VaultSizeSet { size: u32 },
		/// Governance set the blocks between two deals of every seat (0: never).
		RedealIntervalSet { interval: BlockNumberFor<T> },
		/// A signing session was opened.
		SigningRequested { session_id: SigningSessionId, epoch: u32, messages: u32 },
		/// The first `threshold` committers form the attempt's signing set.
		SigningSetChosen {
			session_id: SigningSessionId,
			attempt: u32,
			signers: Vec<ParticipantIndex>,
		},
		/// The attempt failed; a new one starts without these signers.
		SigningRetry {
			session_id: SigningSessionId,
			attempt: u32,
			excluded: Vec<T::AccountId>,
			offence: Option<CustodyOffence>,
		},
		/// Too few allowed signers remain: the session is closed without signatures.
		SigningFailed { session_id: SigningSessionId },
		/// The session's BIP-340 signatures, one per message, verified against the epoch key.
		SignaturesReady { session_id: SigningSessionId, signatures: Vec<[u8; 64]> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The registration is for another chain (genesis hash).
		WrongGenesis,
		/// The session key is not the named validator's current session key.
		NotValidatorSessionKey,
		/// The session key's signature over the registration does not verify.
		BadSessionSignature,
		/// The custody identity's signature (proof of possession) does not verify.
		BadIdentitySignature,
		/// The registration's nonce is not the validator's next one (a replay, or out of order).
		StaleRegistrationNonce,
		/// This exact registration is already stored.
		AlreadyRegistered,
		/// The custody identity is registered for another validator.
		IdentityInUse,
		/// No DKG with this id is in progress.
		UnknownDkg,
		/// The DKG is not in the round this message belongs to.
		WrongDkgPhase,
		/// The sender index is not a participant (or member) of this DKG (or epoch).
		UnknownSender,
		/// The custody identity's signature over the message does not verify.
		BadMessageSignature,
		/// The sender already sent this message (a replay).
		Duplicate,
		/// The round-1 package does not decode or has the wrong number of coefficients.
		MalformedCommitment,
		/// The round-1 proof of knowledge does not verify for the sender.
		BadProofOfKnowledge,
		/// Round-2 shares must be one per other participant, with a valid ephemeral key.
		MalformedShares,
		/// The public key package does not decode, or does not fit the DKG's commitments.
		BadPublicKeyPackage,
		/// A complaint must accuse another participant that sent its round-2 shares.
		BadComplaint,
		/// The sender attested the key already: it cannot complain about its shares now.
		AlreadyAttested,
		/// No key epoch with this index.
		UnknownEpoch,
		/// A signing request needs 1..=MaxMessagesPerSession messages.
		BadMessageCount,
		/// Too many signing sessions are open.
		TooManySessions,
		/// No open signing session with this id.
		UnknownSession,
		/// The message is for another attempt of the session.
		WrongAttempt,
		/// The sender may not sign in this session (not allowed, excluded, or not in the set).
		NotAllowedSigner,
		/// The signing set is already complete for this attempt.
		SigningSetFull,
		/// The signing set is not chosen yet.
		SigningSetNotChosen,
		/// Commitments or shares must be one per message and well formed.
		MalformedSigningMessage,
		/// The key epoch is retired (or is the current one, which cannot be retired).
		EpochRetired,
		/// The recovery key is not a valid BIP-340 public key.
		InvalidRecoveryKey,
		/// The recovery delay is shorter than `MinRecoveryDelayBlocks`.
		RecoveryDelayTooShort,
		/// A vault needs two members at least and at most `MaxParticipants`, and the most
		/// validators must fit in `MaxVaults` vaults.
		BadVaultSize,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let validators = Self::refresh_exclusions();
			Self::enforce_dkg_deadline(now);
			Self::update_partition(now, &validators);
			if !ActiveDkg::<T>::exists() {
				Self::maybe_start_dkg(now);
			}
			let open_sessions = OpenSessions::<T>::decode_len().unwrap_or(0) as u32;
			Self::enforce_signing_deadlines(now);
			// The benchmark's worst case: a DKG starting among the validators and every open
			// session's signing set timing out.
			T::WeightInfo::on_initialize(validators.len() as u32, open_sessions)
				// Whether a re-deal is due (`RedealInterval`, `LastFullDeal`, `RedealAfterTheft`).
				.saturating_add(T::DbWeight::get().reads(3))
		}

		fn integrity_test() {
			assert!(
				Self::vault_size_fits(T::DefaultVaultSize::get()),
				"the default vault size {} must be 2..={}",
				T::DefaultVaultSize::get(),
				T::MaxParticipants::get(),
			);
			assert!(
				T::MaxParticipants::get().saturating_mul(T::MaxVaults::get())
					>= T::MaxValidators::get(),
				"{} vaults of at most {} members must seat {} validators",
				T::MaxVaults::get(),
				T::MaxParticipants::get(),
				T::MaxValidators::get(),
			);
			// The bounds must leave every call includable: the largest declared weights
			// (100 participants, a full session) against one normal extrinsic's limit, and
			// the block hook's worst case against a tenth of the block.
			let limits = T::BlockWeights::get();
			let max_extrinsic = limits
				.get(frame_support::dispatch::DispatchClass::Normal)
				.max_extrinsic
				.unwrap_or(Weight::MAX);
			let n = T::MaxParticipants::get();
			let m = T::MaxMessagesPerSession::get();
			for (call, weight) in [
				("submit_dkg_commitment", T::WeightInfo::submit_dkg_commitment(n)),
				("submit_dkg_shares", T::WeightInfo::submit_dkg_shares(n)),
				("attest_dkg_key", T::WeightInfo::attest_dkg_key(n)),
				("report_dkg_complaint", T::WeightInfo::report_dkg_complaint(n)),
				("submit_signing_commitment", T::WeightInfo::submit_signing_commitment(n, m)),
				(
					"submit_signature_shares",
					T::WeightInfo::submit_signature_shares(n).saturating_mul(m as u64),
				),
			] {
				assert!(
					weight.all_lte(max_extrinsic),
					"{call} at MaxParticipants/MaxMessagesPerSession weighs {weight:?}, more \
					 than a normal extrinsic may ({max_extrinsic:?})"
				);
			}
			// The hook reads every validator's registration: at the most validators.
			let hook =
				T::WeightInfo::on_initialize(T::MaxValidators::get(), T::MaxOpenSessions::get());
			assert!(
				hook.all_lte(limits.max_block / 10),
				"on_initialize's worst case {hook:?} exceeds a tenth of the block"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers (or re-registers) a validator's custody identity and encryption key.
		/// Unsigned: authenticated (in `validate_unsigned`) by the validator's session key
		/// and the identity key, over the validator's next registration nonce.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_custody_keys())]
		pub fn register_custody_keys(
			origin: OriginFor<T>,
			payload: RegistrationPayload<T::AccountId>,
			session_key: T::AuthorityId,
			session_signature: <T::AuthorityId as RuntimeAppPublic>::Signature,
			identity_signature: AuthSignature,
		) -> DispatchResult {
			ensure_none(origin)?;
			let _ = (&session_signature, &identity_signature);
			Self::check_registration_state(&payload, &session_key)?;
			Self::apply_registration(payload, session_key);
			Ok(())
		}

		/// DKG round 1: a participant's commitment with proof of knowledge.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::submit_dkg_commitment(T::MaxParticipants::get()))]
		pub fn submit_dkg_commitment(
			origin: OriginFor<T>,
			message: DkgCommitment,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let run = Self::check_dkg_commitment_state(&message)?;
			let n = run.n();
			Self::apply_dkg_commitment(run, message)?;
			Ok(Some(T::WeightInfo::submit_dkg_commitment(n)).into())
		}

		/// DKG round 2: a participant's shares, encrypted to each other participant.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::submit_dkg_shares(T::MaxParticipants::get()))]
		pub fn submit_dkg_shares(
			origin: OriginFor<T>,
			message: DkgShares,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let run = Self::check_dkg_shares_state(&message)?;
			let n = run.n();
			Self::apply_dkg_shares(run, message)?;
			Ok(Some(T::WeightInfo::submit_dkg_shares(n)).into())
		}

		/// DKG result: the public key package a participant derived. When every participant
		/// has attested the same package, its key becomes a new key epoch.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::attest_dkg_key(T::MaxParticipants::get()))]
		pub fn attest_dkg_key(
			origin: OriginFor<T>,
			message: DkgKeyAttestation,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let run = Self::check_dkg_attestation_state(&message)?;
			let n = run.n();
			let decisive = Self::apply_dkg_attestation(run, message)?;
			// Only the first attestation of a package is checked against the group key, and
			// only the last one starts the epoch (or restarts the DKG); the others only count.
			Ok(Some(if decisive {
				T::WeightInfo::attest_dkg_key(n)
			} else {
				T::WeightInfo::attest_dkg_key_known(n)
			})
			.into())
		}

		/// DKG complaint: the sender proves the share `accused` sent it is bad. The runtime
		/// decides who lied; the liar is excluded and the DKG restarts.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::report_dkg_complaint(T::MaxParticipants::get()))]
		pub fn report_dkg_complaint(
			origin: OriginFor<T>,
			message: DkgComplaint,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let run = Self::check_dkg_complaint_state(&message)?;
			let n = run.n();
			Self::judge_dkg_complaint(run, message)?;
			Ok(Some(T::WeightInfo::report_dkg_complaint(n)).into())
		}

		/// Signing round 1: a member's nonce commitments, one per message. The first
		/// `threshold` allowed members to commit form the attempt's signing set.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::submit_signing_commitment(
			T::MaxParticipants::get(),
			message.commitments.len() as u32,
		))]
		pub fn submit_signing_commitment(
			origin: OriginFor<T>,
			message: SigningCommitment,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let (session, epoch) = Self::check_signing_commitment_state(&message)?;
			let actual = T::WeightInfo::submit_signing_commitment(
				epoch.members.len() as u32,
				session.messages.len() as u32,
			);
			Self::apply_signing_commitment(session, &epoch, message)?;
			Ok(Some(actual).into())
		}

		/// Signing round 2: a signing-set member's signature shares, one per message. The
		/// last share of the set triggers aggregation.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::submit_signature_shares(T::MaxParticipants::get())
			.saturating_mul(message.shares.len().max(1) as u64))]
		pub fn submit_signature_shares(
			origin: OriginFor<T>,
			message: SignatureShares,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let _ = signature;
			let (session, epoch) = Self::check_signature_shares_state(&message)?;
			let (members, messages) = (epoch.members.len() as u32, session.messages.len() as u64);
			let aggregated = Self::apply_signature_shares(session, &epoch, message)?;
			Ok(Some(if aggregated {
				// Aggregation and verification, per message.
				T::WeightInfo::submit_signature_shares(members).saturating_mul(messages)
			} else {
				// Only stored: checked and counted like a nonce commitment.
				T::WeightInfo::submit_signing_commitment(members, messages as u32)
			})
			.into())
		}

		/// Asks the first vault's current key epoch to sign `messages` (root: tests and
		/// operations).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::request_test_signatures(messages.len() as u32))]
		pub fn request_test_signatures(
			origin: OriginFor<T>,
			messages: Vec<[u8; 32]>,
		) -> DispatchResult {
			ensure_root(origin)?;
			let epoch = VaultEpochs::<T>::get(0).ok_or(Error::<T>::UnknownEpoch)?;
			Self::open_session(epoch, messages)?;
			Ok(())
		}

		/// Sets (or removes) the recovery leaf that key epochs started from now on commit to.
		/// Existing epochs keep theirs: their outputs already commit to it.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::set_recovery_leaf())]
		pub fn set_recovery_leaf(
			origin: OriginFor<T>,
			leaf: Option<RecoveryLeaf>,
		) -> DispatchResult {
			ensure_root(origin)?;
			if let Some(leaf) = &leaf {
				ensure!(
					tapchain_primitives::custody::is_x_only_key(&leaf.recovery_key),
					Error::<T>::InvalidRecoveryKey
				);
				ensure!(
					leaf.delay_blocks >= T::MinRecoveryDelayBlocks::get(),
					Error::<T>::RecoveryDelayTooShort
				);
			}
			RecoveryLeafConfig::<T>::set(leaf);
			Self::deposit_event(Event::RecoveryLeafSet { leaf });
			Ok(())
		}

		/// Sets the members per vault. If the vault count changes with it, the vaults are
		/// dealt anew (after a seed block is buried when there is more than one); only vaults
		/// whose members change re-key.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::set_recovery_leaf())]
		pub fn set_vault_size(origin: OriginFor<T>, size: u32) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(Self::vault_size_fits(size), Error::<T>::BadVaultSize);
			VaultSize::<T>::put(size);
			Self::deposit_event(Event::VaultSizeSet { size });
			Ok(())
		}

		/// Sets the blocks between two deals of every seat from a fresh seed (0: never). The
		/// next re-deal is due `interval` blocks after the last full deal.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::set_recovery_leaf())]
		pub fn set_redeal_interval(
			origin: OriginFor<T>,
			interval: BlockNumberFor<T>,
		) -> DispatchResult {
			ensure_root(origin)?;
			RedealInterval::<T>::put(interval);
			Self::deposit_event(Event::RedealIntervalSet { interval });
			Ok(())
		}
	}

	// `#[pallet::authorize]` replaces this in newer FRAME, but needs `frame_system::AuthorizeCall`
	// in the runtime's transaction extensions, which Ethereum transactions (`EthExtraImpl`)
	// would then have to carry too; until April 2027 validate_unsigned stays supported.
	#[allow(deprecated)]
	#[pallet::validate_unsigned]
	impl<T: Config> ValidateUnsigned for Pallet<T> {
		type Call = Call<T>;

		/// The one authentication path of custody messages (see [`crate::unsigned`]): block
		/// execution runs it again as `pre_dispatch`, so calls do not verify signatures.
		fn validate_unsigned(_source: TransactionSource, call: &Self::Call) -> TransactionValidity {
			Self::validate_custody_message(call)
		}
	}
}

impl<T: Config> Call<T> {
	/// The call that carries a signed custody message to the chain (what a validator's node
	/// submits for each message its signer produces).
	pub fn from_message(
		message: tapchain_primitives::custody::CustodyMessage,
		signature: tapchain_primitives::custody::AuthSignature,
	) -> Self {
		use tapchain_primitives::custody::CustodyMessage;
		match message {
			CustodyMessage::DkgCommitment(message) => {
				Call::submit_dkg_commitment { message, signature }
			},
			CustodyMessage::DkgShares(message) => Call::submit_dkg_shares { message, signature },
			CustodyMessage::DkgComplaint(message) => {
				Call::report_dkg_complaint { message, signature }
			},
			CustodyMessage::DkgKeyAttestation(message) => {
				Call::attest_dkg_key { message, signature }
			},
			CustodyMessage::SigningCommitment(message) => {
				Call::submit_signing_commitment { message, signature }
			},
			CustodyMessage::SignatureShares(message) => {
				Call::submit_signature_shares { message, signature }
			},
		}
	}
}
