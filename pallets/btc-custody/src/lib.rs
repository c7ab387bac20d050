//! # Bitcoin custody
//!
//! The bridge's bitcoin sits in Taproot outputs whose key no single party holds: the
//! validators share it with FROST (`frost-secp256k1-tr`, BIP-340/341), threshold
//! `t = floor(2n/3) + 1`. This pallet knows keys and 32-byte messages, nothing about Bitcoin
//! transactions. The runtime is the coordinator of every protocol; validators' nodes take
//! part through authenticated unsigned extrinsics.
//!
//! - **Registration.** A validator's node registers its custody identity (a BIP-340 key
//!   that signs its custody messages) and the key DKG shares are encrypted to, with
//!   [`Pallet::register_custody_keys`]: signed by the validator's current session key (so
//!   it works for any validator whose session keys are known, zombienet's included) and by
//!   the identity key (proof of possession). A rotated session key re-registers.
//! - **DKG.** Whenever the registered validators differ from the current key epoch's
//!   members (and at least two thirds of the validators are registered), a DKG starts among
//!   them: round-1 commitments (the runtime checks each proof of knowledge), round-2 shares
//!   encrypted to each recipient, then each participant attests the public key package it
//!   derived, or proves that a share it received is bad ([`DkgComplaint`]: the runtime
//!   decrypts that one share with the revealed ECDH point and decides who lied). When two
//!   thirds of the participants attest the same package, its key becomes the custody key
//!   of a new [`KeyEpoch`]. A participant that stays silent past [`Config::DkgRoundBlocks`]
//!   or is proved to cheat is excluded, reported through [`Config::OffenceReporter`], and
//!   the DKG restarts without it.
//! - **Signing.** Other pallets call [`Pallet::request_signatures`]. Allowed members of the
//!   epoch send nonce commitments; the first `t` form the signing set; they send signature
//!   shares; the runtime aggregates and verifies the BIP-340 signature against the epoch key
//!   once, checking shares one by one only if that fails (and then excludes the culprits
//!   and retries). Signers of the set who stay silent past [`Config::SigningAttemptBlocks`]
//!   are excluded and reported, and a new attempt starts (ROAST-style). The signatures are
//!   stored and emitted with [`Event::SignaturesReady`].
//!
//! - **Recovery leaf.** Governance may set a [`RecoveryLeaf`] ([`Pallet::set_recovery_leaf`]):
//!   key epochs started afterwards commit their Taproot output to the script
//!   `<delay> OP_CHECKSEQUENCEVERIFY OP_DROP <recovery key> OP_CHECKSIG`, where the recovery
//!   key is an n-of-n MuSig2 aggregate of a recovery committee's keys (made off-chain with
//!   the `musig2` crate; only the aggregate key and the delay are on-chain). The validators
//!   keep spending by key path (the output key is the group key tweaked with the leaf's
//!   hash); if the chain or two thirds of the validators are lost, the committee can move an
//!   output once it has `delay` confirmations.
//!
//!   **Trust this adds:** the committee, all members together, can take every custody
//!   output that has not moved for `delay` blocks (so the bridge must re-spend outputs
//!   before that, e.g. by sweeping them to the next epoch); any single member can refuse to
//!   sign and so block recovery, but not spend. Key-path spending is unaffected: before the
//!   delay the committee has no power at all. Governance chooses the committee, and a
//!   changed leaf only applies to epochs started later.
//!
//! **Rotation.** A changed validator set (or a changed registration) starts a new DKG and,
//! once attested, a new key epoch. Old epochs stay usable for signing until the bridge
//! reports their funds moved ([`Pallet::retire_epoch`]).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod frost_checks;
#[cfg(test)]
mod mock;
pub mod runtime_api;
#[cfg(test)]
mod tests;
pub mod weights;

#[cfg(feature = "runtime-benchmarks")]
pub use benchmarking::BenchmarkHelper;
pub use weights::WeightInfo;

pub use tapchain_primitives::custody::{
	CustodyIdentity, CustodyTask, DkgCommitment, DkgComplaint, DkgId, DkgKeyAttestation,
	DkgParameters, DkgShares, EncryptionKey, ParticipantIndex, RecoveryLeaf, SignatureShares,
	SigningCommitment, SigningSessionId,
};

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Misbehaviour the pallet reports.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum CustodyOffence {
	/// Sent nothing in a DKG round before its deadline.
	DkgSilence,
	/// Sent a DKG share that does not decrypt or does not match its commitment.
	DkgBadShare,
	/// Accused another participant of a bad share that was good.
	DkgFalseComplaint,
	/// Was chosen to sign and sent no share before the attempt's deadline.
	SigningSilence,
	/// Sent a signature share that does not verify.
	BadSignatureShare,
	/// Cast no vote on a bridge proposal within its voting window (reported by the bridge
	/// through this pallet's offence path).
	ProposalVoteSilence,
}

/// Where offences go (the runtime turns them into staking offences).
pub trait ReportCustodyOffence<AccountId> {
	fn report(offence: CustodyOffence, offenders: &[AccountId]);
}

impl<AccountId> ReportCustodyOffence<AccountId> for () {
	fn report(_: CustodyOffence, _: &[AccountId]) {}
}

/// The validators and their session keys, as the session pallet knows them.
pub trait ValidatorKeys<AccountId, AuthorityId> {
	/// The validators of the current session.
	fn validators() -> Vec<AccountId>;
	/// The validator whose current session key `key` is.
	fn owner_of(key: &AuthorityId) -> Option<AccountId>;
}

/// A validator's registered custody keys.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct Registration<AuthorityId> {
	pub identity: CustodyIdentity,
	pub encryption_key: EncryptionKey,
	/// The session key that signed the registration.
	pub session_key: AuthorityId,
}

/// The round a DKG is in.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum DkgPhase {
	/// Waiting for every participant's round-1 commitment.
	Commit,
	/// Waiting for every participant's encrypted shares.
	Share,
	/// Waiting for attestations (or complaints).
	Finish,
}

/// A custody key epoch: a group key from one DKG and the members holding its shares.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
#[scale_info(skip_type_params(MaxMembers, MaxPackageLen))]
pub struct KeyEpoch<
	AccountId,
	BlockNumber,
	MaxMembers: frame_support::traits::Get<u32>,
	MaxPackageLen: frame_support::traits::Get<u32>,
> {
	/// The DKG that made the key (the signers' key stores index shares by it).
	pub dkg_id: DkgId,
	/// The Taproot output key (BIP-340 x-only) of the custody address.
	pub output_key: [u8; 32],
	/// The group key (x-only): the Taproot internal key when a recovery leaf is committed,
	/// otherwise equal to `output_key`.
	pub internal_key: [u8; 32],
	/// The recovery leaf committed in the output key, if any.
	pub recovery: Option<RecoveryLeaf>,
	/// Members with their custody identities; member `i` has FROST identifier `i + 1`.
	pub members: frame_support::BoundedVec<(AccountId, CustodyIdentity), MaxMembers>,
	pub threshold: u16,
	/// FROST public key package (group key and verifying shares), as attested.
	pub public_key_package: frame_support::BoundedVec<u8, MaxPackageLen>,
	/// Block the epoch started at.
	pub started_at: BlockNumber,
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{pallet_prelude::*, traits::BuildGenesisConfig};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		traits::{Hash, Saturating},
		RuntimeAppPublic,
	};
	use tapchain_primitives::custody::{
		registration_digest, verify_auth, AuthSignature, CustodyMessage, RegistrationPayload,
	};

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

		/// Most participants of a DKG (and members of an epoch).
		#[pallet::constant]
		type MaxParticipants: Get<u32>;

		/// Most messages one signing session signs.
		#[pallet::constant]
		type MaxMessagesPerSession: Get<u32>;

		/// Most signing sessions open at once.
		#[pallet::constant]
		type MaxOpenSessions: Get<u32>;

		/// Blocks each DKG round may take before silent participants are excluded.
		#[pallet::constant]
		type DkgRoundBlocks: Get<BlockNumberFor<Self>>;

		/// Blocks a signing set has to send its shares before silent signers are excluded.
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

	/// A DKG in progress.
	#[derive(
		CloneNoBound,
		PartialEqNoBound,
		EqNoBound,
		Encode,
		Decode,
		MaxEncodedLen,
		TypeInfo,
		DebugNoBound,
	)]
	#[scale_info(skip_type_params(T))]
	pub struct DkgRun<T: Config> {
		pub dkg_id: DkgId,
		/// Participants in FROST identifier order, with the keys they registered.
		pub participants:
			BoundedVec<(T::AccountId, CustodyIdentity, EncryptionKey), T::MaxParticipants>,
		pub threshold: u16,
		pub phase: DkgPhase,
		/// Block after which the current phase's silent participants are excluded.
		pub deadline: BlockNumberFor<T>,
		/// Set once two thirds attested: the key epoch this DKG made. The DKG's data stays
		/// until every participant attested (or the deadline), so that the last third can
		/// still derive its shares.
		pub key_epoch: Option<u32>,
	}

	/// A signing session.
	#[derive(
		CloneNoBound,
		PartialEqNoBound,
		EqNoBound,
		Encode,
		Decode,
		MaxEncodedLen,
		TypeInfo,
		DebugNoBound,
	)]
	#[scale_info(skip_type_params(T))]
	pub struct SigningSession<T: Config> {
		/// The key epoch whose key signs.
		pub epoch: u32,
		pub messages: BoundedVec<[u8; 32], T::MaxMessagesPerSession>,
		/// Members (by FROST identifier) who may sign; excluded ones are removed.
		pub allowed: BoundedVec<ParticipantIndex, T::MaxParticipants>,
		/// Current attempt; commitments and shares belong to one attempt.
		pub attempt: u32,
		/// The attempt's signing set, once `threshold` members committed.
		pub signing_set: BoundedVec<ParticipantIndex, T::MaxParticipants>,
		/// Block after which the attempt is abandoned: before the signing set is complete a
		/// new attempt starts, nobody blamed (fewer than `threshold` answered, or a message was
		/// lost); after, the set's silent members are excluded.
		pub deadline: BlockNumberFor<T>,
	}

	/// Registered custody keys per validator.
	#[pallet::storage]
	pub type Registrations<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, Registration<T::AuthorityId>>;

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

	/// Validators excluded from DKGs for this validator set (silent or cheating); cleared
	/// when the validator set changes.
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

	/// Key epochs whose funds have moved (the bridge says so): they sign nothing more.
	#[pallet::storage]
	pub type RetiredEpochs<T> = StorageMap<_, Twox64Concat, u32, ()>;

	/// The newest key epoch: the one deposits should pay.
	#[pallet::storage]
	pub type CurrentEpoch<T> = StorageValue<_, u32>;

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

	/// Finished sessions' BIP-340 signatures, one per message.
	#[pallet::storage]
	pub type Signatures<T: Config> = StorageMap<
		_,
		Twox64Concat,
		SigningSessionId,
		BoundedVec<[u8; 64], T::MaxMessagesPerSession>,
	>;

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
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A validator registered (or re-registered) its custody keys.
		CustodyKeysRegistered { validator: T::AccountId, identity: CustodyIdentity },
		/// A DKG started among these validators.
		DkgStarted { dkg_id: DkgId, participants: Vec<T::AccountId>, threshold: u16 },
		/// The DKG moved to its next round.
		DkgPhaseChanged { dkg_id: DkgId, phase: DkgPhase },
		/// The DKG failed: these participants are excluded and it will restart without them.
		DkgRestarting { dkg_id: DkgId, excluded: Vec<T::AccountId>, offence: CustodyOffence },
		/// Two thirds of the participants attested the key: a new custody key epoch.
		KeyEpochStarted {
			epoch: u32,
			dkg_id: DkgId,
			output_key: [u8; 32],
			internal_key: [u8; 32],
			recovery: Option<RecoveryLeaf>,
			members: u32,
			threshold: u16,
		},
		/// An old key epoch was retired: its outputs have moved, it signs nothing more.
		KeyEpochRetired { epoch: u32 },
		/// Governance set (or removed) the recovery leaf of future key epochs.
		RecoveryLeafSet { leaf: Option<RecoveryLeaf> },
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
		/// A complaint must accuse another participant.
		BadComplaint,
		/// No key epoch with this index.
		UnknownEpoch,
		/// A signing request needs 1..=MaxMessagesPerSession messages.
		BadMessageCount,
		/// Fewer allowed signers than the epoch's threshold.
		TooFewSigners,
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
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let validators = Self::refresh_exclusions();
			Self::enforce_dkg_deadline(now);
			if !ActiveDkg::<T>::exists() {
				Self::maybe_start_dkg(now, &validators);
			}
			let open_sessions = OpenSessions::<T>::decode_len().unwrap_or(0) as u32;
			Self::enforce_signing_deadlines(now);
			// The benchmark's worst case: a DKG starting among the validators and every open
			// session's signing set timing out.
			T::WeightInfo::on_initialize(validators.len() as u32, open_sessions)
		}

		fn integrity_test() {
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
			let hook = T::WeightInfo::on_initialize(n, T::MaxOpenSessions::get());
			assert!(
				hook.all_lte(limits.max_block / 10),
				"on_initialize's worst case {hook:?} exceeds a tenth of the block"
			);
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers (or re-registers) a validator's custody identity and encryption key.
		/// Unsigned: authenticated by the validator's session key and the identity key.
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
			Self::check_registration(
				&payload,
				&session_key,
				&session_signature,
				&identity_signature,
			)?;
			if let Some(old) = Registrations::<T>::get(&payload.validator) {
				IdentityOwners::<T>::remove(old.identity);
			}
			IdentityOwners::<T>::insert(payload.identity, &payload.validator);
			Registrations::<T>::insert(
				&payload.validator,
				Registration {
					identity: payload.identity,
					encryption_key: payload.encryption_key,
					session_key,
				},
			);
			Self::deposit_event(Event::CustodyKeysRegistered {
				validator: payload.validator,
				identity: payload.identity,
			});
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
			let run = Self::check_dkg_message(
				message.dkg_id,
				message.sender,
				DkgPhase::Commit,
				&CustodyMessage::DkgCommitment(message.clone()),
				&signature,
			)?;
			let n = run.participants.len() as u32;
			ensure!(
				!DkgCommitments::<T>::contains_key(run.dkg_id, message.sender),
				Error::<T>::Duplicate
			);
			let checked =
				frost_checks::check_commitment(message.sender, &message.package, run.threshold)
					.map_err(|e| match e {
						frost_checks::PackageError::BadProofOfKnowledge => {
							Error::<T>::BadProofOfKnowledge
						},
						_ => Error::<T>::MalformedCommitment,
					})?;
			let package: BoundedVec<_, _> =
				message.package.try_into().map_err(|_| Error::<T>::MalformedCommitment)?;
			DkgCommitments::<T>::insert(run.dkg_id, message.sender, package);
			let count = DkgCommitments::<T>::iter_prefix(run.dkg_id).count();
			let sum = match (count, DkgGroupCommitment::<T>::get(run.dkg_id)) {
				(1, _) => frost_checks::add_constant_term(None, &checked),
				(_, Some(previous)) => frost_checks::add_constant_term(Some(&previous), &checked),
				// An earlier partial sum was the point at infinity: it stays unknown, and
				// attestations are checked against the sum of every commitment instead.
				(_, None) => None,
			};
			DkgGroupCommitment::<T>::set(run.dkg_id, sum);
			if count == run.participants.len() {
				Self::advance_dkg(run, DkgPhase::Share);
			}
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
			let run = Self::check_dkg_message(
				message.dkg_id,
				message.sender,
				DkgPhase::Share,
				&CustodyMessage::DkgShares(message.clone()),
				&signature,
			)?;
			let n = run.participants.len() as u32;
			ensure!(
				!DkgShareSets::<T>::contains_key(run.dkg_id, message.sender),
				Error::<T>::Duplicate
			);
			ensure!(
				message.shares.len() + 1 == run.participants.len(),
				Error::<T>::MalformedShares
			);
			ensure!(
				tapchain_primitives::custody::x_only(&message.ephemeral_key).is_ok(),
				Error::<T>::MalformedShares
			);
			let shares: BoundedVec<_, _> =
				message.shares.try_into().map_err(|_| Error::<T>::MalformedShares)?;
			DkgShareSets::<T>::insert(run.dkg_id, message.sender, (message.ephemeral_key, shares));
			if DkgShareSets::<T>::iter_prefix(run.dkg_id).count() == run.participants.len() {
				Self::advance_dkg(run, DkgPhase::Finish);
			}
			Ok(Some(T::WeightInfo::submit_dkg_shares(n)).into())
		}

		/// DKG result: the public key package a participant derived. Two thirds attesting
		/// the same package start a new key epoch.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::attest_dkg_key(T::MaxParticipants::get()))]
		pub fn attest_dkg_key(
			origin: OriginFor<T>,
			message: DkgKeyAttestation,
			signature: AuthSignature,
		) -> DispatchResultWithPostInfo {
			ensure_none(origin)?;
			let run = Self::check_dkg_message(
				message.dkg_id,
				message.sender,
				DkgPhase::Finish,
				&CustodyMessage::DkgKeyAttestation(message.clone()),
				&signature,
			)?;
			let n = run.participants.len() as u32;
			ensure!(
				!DkgAttestations::<T>::contains_key(run.dkg_id, message.sender),
				Error::<T>::Duplicate
			);
			let hash = T::Hashing::hash(&message.public_key_package);
			let known = DkgCandidateKeys::<T>::contains_key(run.dkg_id, hash);
			let mut cheap = known;
			if !known {
				let expected = Self::dkg_output_key(&run).ok_or(Error::<T>::BadPublicKeyPackage)?;
				frost_checks::check_public_key_package(
					&message.public_key_package,
					run.participants.len() as u16,
					run.threshold,
					&expected,
				)
				.map_err(|_| Error::<T>::BadPublicKeyPackage)?;
				let package: BoundedVec<_, _> = message
					.public_key_package
					.try_into()
					.map_err(|_| Error::<T>::BadPublicKeyPackage)?;
				DkgCandidateKeys::<T>::insert(run.dkg_id, hash, package);
			}
			DkgAttestations::<T>::insert(run.dkg_id, message.sender, hash);
			let attestations: Vec<T::Hash> =
				DkgAttestations::<T>::iter_prefix_values(run.dkg_id).collect();
			if run.key_epoch.is_none() {
				let agreeing = attestations.iter().filter(|h| **h == hash).count();
				if agreeing * 3 >= run.participants.len() * 2 {
					Self::start_epoch(run.clone(), hash);
					cheap = false;
				}
			}
			if attestations.len() == run.participants.len() {
				Self::clear_dkg(run.dkg_id);
				cheap = false;
			}
			// Only the first attestation of a package decodes and checks it against the group
			// key; the others, unless they start the epoch or end the DKG, only count.
			if cheap {
				Ok(Some(T::WeightInfo::attest_dkg_key_known(n)).into())
			} else {
				Ok(Some(T::WeightInfo::attest_dkg_key(n)).into())
			}
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
			let run = Self::check_dkg_message(
				message.dkg_id,
				message.sender,
				DkgPhase::Finish,
				&CustodyMessage::DkgComplaint(message.clone()),
				&signature,
			)?;
			let n = run.participants.len() as ParticipantIndex;
			ensure!(
				message.accused != message.sender && (1..=n).contains(&message.accused),
				Error::<T>::BadComplaint
			);
			let commitment = DkgCommitments::<T>::get(run.dkg_id, message.accused)
				.and_then(|bytes| frost_checks::stored_commitment(&bytes))
				.ok_or(Error::<T>::BadComplaint)?;
			let (ephemeral_key, shares) = DkgShareSets::<T>::get(run.dkg_id, message.accused)
				.ok_or(Error::<T>::BadComplaint)?;
			// The accused's list skips the accused itself.
			let position = if message.sender < message.accused {
				message.sender - 1
			} else {
				message.sender - 2
			};
			let share = shares.get(position as usize).ok_or(Error::<T>::BadComplaint)?;
			let complainer_key = run.participants[message.sender as usize - 1].2;
			let verdict = frost_checks::judge_complaint(
				run.dkg_id,
				message.sender,
				&complainer_key,
				message.accused,
				&commitment,
				&ephemeral_key,
				share,
				&message.shared_point,
				&message.proof,
			);
			let (guilty, offence) = match verdict {
				frost_checks::ComplaintVerdict::AccusedGuilty => {
					(message.accused, CustodyOffence::DkgBadShare)
				},
				frost_checks::ComplaintVerdict::ComplainerGuilty => {
					(message.sender, CustodyOffence::DkgFalseComplaint)
				},
			};
			let offender = run.participants[guilty as usize - 1].0.clone();
			Self::restart_dkg(run, alloc::vec![offender], offence);
			Ok(Some(T::WeightInfo::report_dkg_complaint(n as u32)).into())
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
			let (mut session, epoch) = Self::check_signing_message(
				message.session_id,
				message.attempt,
				message.sender,
				&CustodyMessage::SigningCommitment(message.clone()),
				&signature,
			)?;
			let actual = T::WeightInfo::submit_signing_commitment(
				epoch.members.len() as u32,
				session.messages.len() as u32,
			);
			ensure!(session.allowed.contains(&message.sender), Error::<T>::NotAllowedSigner);
			ensure!(session.signing_set.is_empty(), Error::<T>::SigningSetFull);
			let key = (message.session_id, message.attempt);
			ensure!(
				!SigningCommitments::<T>::contains_key(key, message.sender),
				Error::<T>::Duplicate
			);
			ensure!(
				message.commitments.len() == session.messages.len()
					&& frost_checks::check_signing_commitments(&message.commitments),
				Error::<T>::MalformedSigningMessage
			);
			let commitments: BoundedVec<BoundedVec<u8, MaxSigningCommitmentLen>, _> = message
				.commitments
				.into_iter()
				.map(BoundedVec::try_from)
				.collect::<Result<Vec<_>, _>>()
				.ok()
				.and_then(|v| v.try_into().ok())
				.ok_or(Error::<T>::MalformedSigningMessage)?;
			SigningCommitments::<T>::insert(key, message.sender, commitments);
			let committed: Vec<ParticipantIndex> =
				SigningCommitments::<T>::iter_key_prefix(key).collect();
			if committed.len() >= epoch.threshold as usize {
				let mut set = committed;
				set.sort();
				session.signing_set =
					set.clone().try_into().map_err(|_| Error::<T>::NotAllowedSigner)?;
				session.deadline = frame_system::Pallet::<T>::block_number()
					.saturating_add(T::SigningAttemptBlocks::get());
				Self::deposit_event(Event::SigningSetChosen {
					session_id: message.session_id,
					attempt: message.attempt,
					signers: set,
				});
			}
			SigningSessions::<T>::insert(message.session_id, session);
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
			let (session, epoch) = Self::check_signing_message(
				message.session_id,
				message.attempt,
				message.sender,
				&CustodyMessage::SignatureShares(message.clone()),
				&signature,
			)?;
			ensure!(!session.signing_set.is_empty(), Error::<T>::SigningSetNotChosen);
			ensure!(session.signing_set.contains(&message.sender), Error::<T>::NotAllowedSigner);
			let key = (message.session_id, message.attempt);
			ensure!(
				!SignatureShareSets::<T>::contains_key(key, message.sender),
				Error::<T>::Duplicate
			);
			ensure!(
				message.shares.len() == session.messages.len(),
				Error::<T>::MalformedSigningMessage
			);
			let shares: BoundedVec<_, _> =
				message.shares.try_into().map_err(|_| Error::<T>::MalformedSigningMessage)?;
			SignatureShareSets::<T>::insert(key, message.sender, shares);
			let (members, messages) = (epoch.members.len() as u32, session.messages.len() as u64);
			if SignatureShareSets::<T>::iter_key_prefix(key).count() == session.signing_set.len() {
				Self::finish_attempt(message.session_id, session, &epoch);
				// Aggregation and verification, per message.
				Ok(Some(T::WeightInfo::submit_signature_shares(members).saturating_mul(messages))
					.into())
			} else {
				// Only stored: checked and counted like a nonce commitment.
				Ok(Some(T::WeightInfo::submit_signing_commitment(members, messages as u32)).into())
			}
		}

		/// Asks the current key epoch to sign `messages` (root: tests and operations).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::request_test_signatures(messages.len() as u32))]
		pub fn request_test_signatures(
			origin: OriginFor<T>,
			messages: Vec<[u8; 32]>,
		) -> DispatchResult {
			ensure_root(origin)?;
			let epoch = CurrentEpoch::<T>::get().ok_or(Error::<T>::UnknownEpoch)?;
			Self::request_signatures(epoch, messages, None)?;
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
	}

	// `#[pallet::authorize]` replaces this in newer FRAME, but needs `frame_system::AuthorizeCall`
	// in the runtime's transaction extensions, which Ethereum transactions (`EthExtraImpl`)
	// would then have to carry too; until April 2027 validate_unsigned stays supported.
	#[allow(deprecated)]
	#[pallet::validate_unsigned]
	impl<T: Config> ValidateUnsigned for Pallet<T> {
		type Call = Call<T>;

		fn validate_unsigned(_source: TransactionSource, call: &Self::Call) -> TransactionValidity {
			// Full checks (signatures, phase, duplicates) are the dispatch's own; running them
			// here keeps invalid messages out of the pool and blocks.
			let (tag, longevity) = match call {
				Call::register_custody_keys {
					payload,
					session_key,
					session_signature,
					identity_signature,
				} => {
					Self::check_registration(
						payload,
						session_key,
						session_signature,
						identity_signature,
					)
					.map_err(|_| InvalidTransaction::BadProof)?;
					((b"register", payload.validator.clone(), session_key.clone()).encode(), 64)
				},
				Call::submit_dkg_commitment { message, signature } => {
					Self::check_dkg_message(
						message.dkg_id,
						message.sender,
						DkgPhase::Commit,
						&CustodyMessage::DkgCommitment(message.clone()),
						signature,
					)
					.map_err(Self::invalid)?;
					ensure!(
						!DkgCommitments::<T>::contains_key(message.dkg_id, message.sender),
						InvalidTransaction::Stale
					);
					((b"dkg1", message.dkg_id, message.sender).encode(), 64)
				},
				Call::submit_dkg_shares { message, signature } => {
					Self::check_dkg_message(
						message.dkg_id,
						message.sender,
						DkgPhase::Share,
						&CustodyMessage::DkgShares(message.clone()),
						signature,
					)
					.map_err(Self::invalid)?;
					ensure!(
						!DkgShareSets::<T>::contains_key(message.dkg_id, message.sender),
						InvalidTransaction::Stale
					);
					((b"dkg2", message.dkg_id, message.sender).encode(), 64)
				},
				Call::attest_dkg_key { message, signature } => {
					Self::check_dkg_message(
						message.dkg_id,
						message.sender,
						DkgPhase::Finish,
						&CustodyMessage::DkgKeyAttestation(message.clone()),
						signature,
					)
					.map_err(Self::invalid)?;
					ensure!(
						!DkgAttestations::<T>::contains_key(message.dkg_id, message.sender),
						InvalidTransaction::Stale
					);
					((b"dkg3", message.dkg_id, message.sender).encode(), 64)
				},
				Call::report_dkg_complaint { message, signature } => {
					Self::check_dkg_message(
						message.dkg_id,
						message.sender,
						DkgPhase::Finish,
						&CustodyMessage::DkgComplaint(message.clone()),
						signature,
					)
					.map_err(Self::invalid)?;
					((b"dkg3", message.dkg_id, message.sender).encode(), 64)
				},
				Call::submit_signing_commitment { message, signature } => {
					Self::check_signing_message(
						message.session_id,
						message.attempt,
						message.sender,
						&CustodyMessage::SigningCommitment(message.clone()),
						signature,
					)
					.map_err(Self::invalid)?;
					((b"sig1", message.session_id, message.attempt, message.sender).encode(), 32)
				},
				Call::submit_signature_shares { message, signature } => {
					Self::check_signing_message(
						message.session_id,
						message.attempt,
						message.sender,
						&CustodyMessage::SignatureShares(message.clone()),
						signature,
					)
					.map_err(Self::invalid)?;
					((b"sig2", message.session_id, message.attempt, message.sender).encode(), 32)
				},
				_ => return InvalidTransaction::Call.into(),
			};
			ValidTransaction::with_tag_prefix("BtcCustody")
				.priority(T::UnsignedPriority::get())
				.and_provides(tag)
				.longevity(longevity)
				.propagate(true)
				.build()
		}
	}

	impl<T: Config> Pallet<T> {
		fn invalid(error: Error<T>) -> TransactionValidityError {
			match error {
				Error::<T>::BadMessageSignature => InvalidTransaction::BadProof.into(),
				Error::<T>::UnknownSender | Error::<T>::NotAllowedSigner => {
					InvalidTransaction::BadSigner.into()
				},
				_ => InvalidTransaction::Stale.into(),
			}
		}

		pub(crate) fn genesis_hash() -> [u8; 32] {
			let hash = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
			let mut out = [0u8; 32];
			let bytes = hash.as_ref();
			let len = bytes.len().min(32);
			out[..len].copy_from_slice(&bytes[..len]);
			out
		}

		fn check_registration(
			payload: &RegistrationPayload<T::AccountId>,
			session_key: &T::AuthorityId,
			session_signature: &<T::AuthorityId as RuntimeAppPublic>::Signature,
			identity_signature: &AuthSignature,
		) -> Result<(), Error<T>> {
			ensure!(payload.genesis_hash == Self::genesis_hash(), Error::<T>::WrongGenesis);
			ensure!(
				T::Validators::owner_of(session_key).as_ref() == Some(&payload.validator),
				Error::<T>::NotValidatorSessionKey
			);
			ensure!(
				session_key.verify(&payload.encode(), session_signature),
				Error::<T>::BadSessionSignature
			);
			ensure!(
				verify_auth(&payload.identity, &registration_digest(payload), identity_signature),
				Error::<T>::BadIdentitySignature
			);
			if let Some(owner) = IdentityOwners::<T>::get(payload.identity) {
				ensure!(owner == payload.validator, Error::<T>::IdentityInUse);
			}
			let current = Registrations::<T>::get(&payload.validator);
			ensure!(
				current.as_ref().map(|r| (&r.identity, &r.encryption_key, &r.session_key))
					!= Some((&payload.identity, &payload.encryption_key, session_key)),
				Error::<T>::AlreadyRegistered
			);
			Ok(())
		}

		fn check_dkg_message(
			dkg_id: DkgId,
			sender: ParticipantIndex,
			phase: DkgPhase,
			message: &CustodyMessage,
			signature: &AuthSignature,
		) -> Result<DkgRun<T>, Error<T>> {
			let run = ActiveDkg::<T>::get()
				.filter(|r| r.dkg_id == dkg_id)
				.ok_or(Error::<T>::UnknownDkg)?;
			ensure!(run.phase == phase, Error::<T>::WrongDkgPhase);
			let (_, identity, _) = run
				.participants
				.get((sender as usize).wrapping_sub(1))
				.ok_or(Error::<T>::UnknownSender)?;
			ensure!(
				verify_auth(identity, &message.digest(&Self::genesis_hash()), signature),
				Error::<T>::BadMessageSignature
			);
			Ok(run)
		}

		fn check_signing_message(
			session_id: SigningSessionId,
			attempt: u32,
			sender: ParticipantIndex,
			message: &CustodyMessage,
			signature: &AuthSignature,
		) -> Result<(SigningSession<T>, EpochOf<T>), Error<T>> {
			let session =
				SigningSessions::<T>::get(session_id).ok_or(Error::<T>::UnknownSession)?;
			ensure!(session.attempt == attempt, Error::<T>::WrongAttempt);
			let epoch = Epochs::<T>::get(session.epoch).ok_or(Error::<T>::UnknownEpoch)?;
			let (_, identity) = epoch
				.members
				.get((sender as usize).wrapping_sub(1))
				.ok_or(Error::<T>::UnknownSender)?;
			ensure!(
				verify_auth(identity, &message.digest(&Self::genesis_hash()), signature),
				Error::<T>::BadMessageSignature
			);
			Ok((session, epoch))
		}

		/// Opens a signing session: `messages` signed by epoch `epoch`'s key, by members in
		/// `allowed` (all members if `None`). Returns the session id; the signatures arrive
		/// with [`Event::SignaturesReady`] and in [`Signatures`].
		pub fn request_signatures(
			epoch: u32,
			messages: Vec<[u8; 32]>,
			allowed: Option<Vec<T::AccountId>>,
		) -> Result<SigningSessionId, DispatchError> {
			let key_epoch = Epochs::<T>::get(epoch).ok_or(Error::<T>::UnknownEpoch)?;
			ensure!(!RetiredEpochs::<T>::contains_key(epoch), Error::<T>::EpochRetired);
			ensure!(!messages.is_empty(), Error::<T>::BadMessageCount);
			let messages: BoundedVec<_, _> =
				messages.try_into().map_err(|_| Error::<T>::BadMessageCount)?;
			let allowed: Vec<ParticipantIndex> = key_epoch
				.members
				.iter()
				.enumerate()
				.filter(|(_, (who, _))| allowed.as_ref().is_none_or(|a| a.contains(who)))
				.map(|(i, _)| i as ParticipantIndex + 1)
				.collect();
			ensure!(allowed.len() >= key_epoch.threshold as usize, Error::<T>::TooFewSigners);
			let session_id = NextSessionId::<T>::mutate(|id| {
				let current = (*id).max(1);
				*id = current + 1;
				current
			});
			OpenSessions::<T>::try_append(session_id).map_err(|_| Error::<T>::TooManySessions)?;
			let message_count = messages.len() as u32;
			SigningSessions::<T>::insert(
				session_id,
				SigningSession {
					epoch,
					messages,
					allowed: allowed.try_into().map_err(|_| Error::<T>::TooFewSigners)?,
					attempt: 0,
					signing_set: BoundedVec::new(),
					deadline: frame_system::Pallet::<T>::block_number()
						.saturating_add(T::SigningAttemptBlocks::get()),
				},
			);
			Self::deposit_event(Event::SigningRequested {
				session_id,
				epoch,
				messages: message_count,
			});
			Ok(session_id)
		}

		/// Retires an old key epoch once its funds have moved (the bridge's sweep confirmed):
		/// no new signing session may use it. The current epoch cannot be retired.
		pub fn retire_epoch(epoch: u32) -> DispatchResult {
			ensure!(Epochs::<T>::contains_key(epoch), Error::<T>::UnknownEpoch);
			ensure!(CurrentEpoch::<T>::get() != Some(epoch), Error::<T>::EpochRetired);
			ensure!(!RetiredEpochs::<T>::contains_key(epoch), Error::<T>::EpochRetired);
			RetiredEpochs::<T>::insert(epoch, ());
			Self::deposit_event(Event::KeyEpochRetired { epoch });
			Ok(())
		}

		/// Forgets exclusions made for an earlier validator set; returns the current one.
		fn refresh_exclusions() -> Vec<T::AccountId> {
			let validators = T::Validators::validators();
			let set_hash = T::Hashing::hash_of(&validators);
			if ExclusionValidatorSet::<T>::get() != Some(set_hash) {
				ExclusionValidatorSet::<T>::put(set_hash);
				ValidatorSetSince::<T>::put(frame_system::Pallet::<T>::block_number());
				DkgExcluded::<T>::kill();
			}
			validators
		}

		fn maybe_start_dkg(now: BlockNumberFor<T>, validators: &[T::AccountId]) {
			let excluded = DkgExcluded::<T>::get();
			let mut participants: Vec<(T::AccountId, CustodyIdentity, EncryptionKey)> = validators
				.iter()
				.filter(|v| !excluded.contains(v))
				.filter_map(|v| {
					Registrations::<T>::get(v).map(|r| (v.clone(), r.identity, r.encryption_key))
				})
				.collect();
			participants.sort_by(|a, b| a.0.cmp(&b.0));
			participants.dedup_by(|a, b| a.0 == b.0);
			let n = participants.len();
			// FROST needs two signers; the key must be usable by two thirds of the validators.
			if n < 2 || n * 3 < validators.len() * 2 {
				return;
			}
			// Unless everyone who may take part is registered, give the rest a round's time
			// (nodes register in their first blocks), so one late node does not cost a DKG.
			let eligible = validators.iter().filter(|v| !excluded.contains(v)).count();
			if n < eligible
				&& now < ValidatorSetSince::<T>::get().saturating_add(T::DkgRoundBlocks::get())
			{
				return;
			}
			let current: Option<Vec<(T::AccountId, CustodyIdentity)>> =
				CurrentEpoch::<T>::get().and_then(Epochs::<T>::get).map(|e| e.members.into_inner());
			let wanted: Vec<(T::AccountId, CustodyIdentity)> =
				participants.iter().map(|(a, i, _)| (a.clone(), *i)).collect();
			if current.as_ref() == Some(&wanted) {
				return;
			}
			let Ok(bounded) = BoundedVec::try_from(participants) else { return };
			let dkg_id = NextDkgId::<T>::mutate(|id| {
				let current = (*id).max(1);
				*id = current + 1;
				current
			});
			let threshold = (2 * n / 3 + 1) as u16;
			let run = DkgRun::<T> {
				dkg_id,
				participants: bounded,
				threshold,
				phase: DkgPhase::Commit,
				deadline: now.saturating_add(T::DkgRoundBlocks::get()),
				key_epoch: None,
			};
			Self::deposit_event(Event::DkgStarted {
				dkg_id,
				participants: run.participants.iter().map(|p| p.0.clone()).collect(),
				threshold,
			});
			ActiveDkg::<T>::put(run);
		}

		fn advance_dkg(mut run: DkgRun<T>, phase: DkgPhase) {
			run.phase = phase;
			run.deadline =
				frame_system::Pallet::<T>::block_number().saturating_add(T::DkgRoundBlocks::get());
			Self::deposit_event(Event::DkgPhaseChanged { dkg_id: run.dkg_id, phase });
			ActiveDkg::<T>::put(run);
		}

		fn clear_dkg(dkg_id: DkgId) {
			ActiveDkg::<T>::kill();
			let _ = DkgCommitments::<T>::clear_prefix(dkg_id, u32::MAX, None);
			DkgGroupCommitment::<T>::remove(dkg_id);
			let _ = DkgShareSets::<T>::clear_prefix(dkg_id, u32::MAX, None);
			let _ = DkgAttestations::<T>::clear_prefix(dkg_id, u32::MAX, None);
			let _ = DkgCandidateKeys::<T>::clear_prefix(dkg_id, u32::MAX, None);
		}

		fn restart_dkg(run: DkgRun<T>, offenders: Vec<T::AccountId>, offence: CustodyOffence) {
			DkgExcluded::<T>::mutate(|excluded| {
				for offender in &offenders {
					if !excluded.contains(offender) {
						let _ = excluded.try_push(offender.clone());
					}
				}
			});
			T::OffenceReporter::report(offence, &offenders);
			Self::deposit_event(Event::DkgRestarting {
				dkg_id: run.dkg_id,
				excluded: offenders,
				offence,
			});
			Self::clear_dkg(run.dkg_id);
		}

		fn enforce_dkg_deadline(now: BlockNumberFor<T>) {
			let Some(run) = ActiveDkg::<T>::get() else { return };
			if now <= run.deadline {
				return;
			}
			let silent: Vec<T::AccountId> = run
				.participants
				.iter()
				.enumerate()
				.filter(|(i, _)| {
					let index = *i as ParticipantIndex + 1;
					match run.phase {
						DkgPhase::Commit => !DkgCommitments::<T>::contains_key(run.dkg_id, index),
						DkgPhase::Share => !DkgShareSets::<T>::contains_key(run.dkg_id, index),
						DkgPhase::Finish => !DkgAttestations::<T>::contains_key(run.dkg_id, index),
					}
				})
				.map(|(_, p)| p.0.clone())
				.collect();
			if run.key_epoch.is_some() {
				// The key stands; the participants who never attested are still reported.
				if !silent.is_empty() {
					T::OffenceReporter::report(CustodyOffence::DkgSilence, &silent);
				}
				Self::clear_dkg(run.dkg_id);
				return;
			}
			Self::restart_dkg(run, silent, CustodyOffence::DkgSilence);
		}

		fn dkg_output_key(run: &DkgRun<T>) -> Option<[u8; 32]> {
			if let Some(sum) = DkgGroupCommitment::<T>::get(run.dkg_id) {
				return frost_checks::output_key_of_group_commitment(&sum, run.threshold);
			}
			let packages: Option<Vec<_>> = (1..=run.participants.len() as ParticipantIndex)
				.map(|i| {
					DkgCommitments::<T>::get(run.dkg_id, i)
						.and_then(|bytes| frost_checks::stored_commitment(&bytes))
				})
				.collect();
			frost_checks::group_output_key(&packages?, run.threshold)
		}

		fn start_epoch(run: DkgRun<T>, hash: T::Hash) {
			let Some(package) = DkgCandidateKeys::<T>::get(run.dkg_id, hash) else { return };
			let recovery = RecoveryLeafConfig::<T>::get();
			let merkle_root = recovery.map(|leaf| leaf.leaf_hash());
			let Some((internal_key, output_key)) =
				frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(&package).ok().and_then(
					|p| {
						Some((
							frost_checks::x_only(p.verifying_key())?,
							frost_checks::output_key(&p, merkle_root.as_ref())?,
						))
					},
				)
			else {
				return;
			};
			let epoch = CurrentEpoch::<T>::get().map_or(0, |e| e + 1);
			let members: Vec<_> =
				run.participants.iter().map(|(a, i, _)| (a.clone(), *i)).collect();
			let member_count = members.len() as u32;
			Epochs::<T>::insert(
				epoch,
				KeyEpoch {
					dkg_id: run.dkg_id,
					output_key,
					internal_key,
					recovery,
					members: members.try_into().expect("same bound as the DKG's participants; qed"),
					threshold: run.threshold,
					public_key_package: package,
					started_at: frame_system::Pallet::<T>::block_number(),
				},
			);
			CurrentEpoch::<T>::put(epoch);
			Self::deposit_event(Event::KeyEpochStarted {
				epoch,
				dkg_id: run.dkg_id,
				output_key,
				internal_key,
				recovery,
				members: member_count,
				threshold: run.threshold,
			});
			ActiveDkg::<T>::put(DkgRun { key_epoch: Some(epoch), ..run });
		}

		fn finish_attempt(
			session_id: SigningSessionId,
			session: SigningSession<T>,
			epoch: &EpochOf<T>,
		) {
			let key = (session_id, session.attempt);
			let Ok(public) =
				frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(&epoch.public_key_package)
			else {
				return;
			};
			let commitments: alloc::collections::BTreeMap<ParticipantIndex, Vec<Vec<u8>>> =
				Self::signing_set_commitments(&session, key).into_iter().collect();
			let shares: alloc::collections::BTreeMap<ParticipantIndex, Vec<[u8; 32]>> =
				SignatureShareSets::<T>::iter_prefix(key)
					.map(|(i, list)| (i, list.into_inner()))
					.collect();
			let merkle_root = epoch.recovery.map(|leaf| leaf.leaf_hash());
			let mut signatures = Vec::with_capacity(session.messages.len());
			for (position, message) in session.messages.iter().enumerate() {
				match frost_checks::aggregate(
					&public,
					message,
					position,
					&commitments,
					&shares,
					merkle_root.as_ref(),
				) {
					Ok(signature) => signatures.push(signature),
					Err(frost_checks::AggregationError::BadShares(culprits)) => {
						let offenders = culprits
							.iter()
							.filter_map(|i| epoch.members.get(*i as usize - 1).map(|m| m.0.clone()))
							.collect();
						Self::retry(
							session_id,
							session,
							&culprits,
							offenders,
							Some(CustodyOffence::BadSignatureShare),
						);
						return;
					},
					Err(frost_checks::AggregationError::Malformed) => {
						Self::retry(session_id, session, &[], Vec::new(), None);
						return;
					},
				}
			}
			Self::clear_attempt(key);
			SigningSessions::<T>::remove(session_id);
			OpenSessions::<T>::mutate(|open| open.retain(|id| *id != session_id));
			let bounded: BoundedVec<_, _> =
				signatures.clone().try_into().expect("one per message; qed");
			Signatures::<T>::insert(session_id, bounded);
			Self::deposit_event(Event::SignaturesReady { session_id, signatures });
		}

		/// The nonce commitments of an attempt's signing set, by signer.
		pub(crate) fn signing_set_commitments(
			session: &SigningSession<T>,
			key: (SigningSessionId, u32),
		) -> Vec<(ParticipantIndex, Vec<Vec<u8>>)> {
			SigningCommitments::<T>::iter_prefix(key)
				.filter(|(i, _)| session.signing_set.contains(i))
				.map(|(i, list)| (i, list.into_iter().map(|c| c.into_inner()).collect()))
				.collect()
		}

		fn clear_attempt(key: (SigningSessionId, u32)) {
			let _ = SigningCommitments::<T>::clear_prefix(key, u32::MAX, None);
			let _ = SignatureShareSets::<T>::clear_prefix(key, u32::MAX, None);
		}

		fn retry(
			session_id: SigningSessionId,
			mut session: SigningSession<T>,
			culprits: &[ParticipantIndex],
			offenders: Vec<T::AccountId>,
			offence: Option<CustodyOffence>,
		) {
			Self::clear_attempt((session_id, session.attempt));
			if let (Some(offence), false) = (offence, offenders.is_empty()) {
				T::OffenceReporter::report(offence, &offenders);
			}
			Self::deposit_event(Event::SigningRetry {
				session_id,
				attempt: session.attempt,
				excluded: offenders,
				offence,
			});
			session.allowed.retain(|i| !culprits.contains(i));
			session.attempt += 1;
			session.signing_set = BoundedVec::new();
			session.deadline = frame_system::Pallet::<T>::block_number()
				.saturating_add(T::SigningAttemptBlocks::get());
			let threshold = Epochs::<T>::get(session.epoch).map_or(u16::MAX, |e| e.threshold);
			if session.allowed.len() < threshold as usize {
				SigningSessions::<T>::remove(session_id);
				OpenSessions::<T>::mutate(|open| open.retain(|id| *id != session_id));
				Self::deposit_event(Event::SigningFailed { session_id });
			} else {
				SigningSessions::<T>::insert(session_id, session);
			}
		}

		fn enforce_signing_deadlines(now: BlockNumberFor<T>) {
			for session_id in OpenSessions::<T>::get() {
				let Some(session) = SigningSessions::<T>::get(session_id) else { continue };
				if now <= session.deadline {
					continue;
				}
				if session.signing_set.is_empty() {
					Self::retry(session_id, session, &[], Vec::new(), None);
					continue;
				}
				let Some(epoch) = Epochs::<T>::get(session.epoch) else { continue };
				let key = (session_id, session.attempt);
				let silent: Vec<ParticipantIndex> = session
					.signing_set
					.iter()
					.copied()
					.filter(|i| !SignatureShareSets::<T>::contains_key(key, i))
					.collect();
				let offenders = silent
					.iter()
					.filter_map(|i| epoch.members.get(*i as usize - 1).map(|m| m.0.clone()))
					.collect();
				Self::retry(
					session_id,
					session,
					&silent,
					offenders,
					Some(CustodyOffence::SigningSilence),
				);
			}
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
