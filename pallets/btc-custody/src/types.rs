//! The custody pallet's types: offences and the runtime services it needs, registrations,
//! DKG runs, key epochs and signing sessions.

use crate::Config;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::*, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;
use tapchain_primitives::{
	custody::{CustodyIdentity, DkgId, EncryptionKey, ParticipantIndex, RecoveryLeaf},
	vault::VaultIndex,
};

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
	/// Attested a public key package that the other participants did not derive.
	DkgWrongKey,
	/// Was allowed to sign and sent no commitment, or was in the signing set and sent no
	/// share, before the attempt's deadline.
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

/// Holds the stake of key holders while their key holds funds: the stake that backs custody
/// stays as long as the custody risk does (promise 8). The runtime keeps a member's bonded
/// BTC from leaving its account until `release`.
pub trait CustodyStake<AccountId> {
	/// `who` became a member of a live key epoch.
	fn hold(who: &AccountId);
	/// `who` is a member of no live key epoch any more.
	fn release(who: &AccountId);
	/// Whether `who`'s stake is held (checked by `try_state`).
	fn is_held(who: &AccountId) -> bool;
	/// Sats of `who`'s stake at risk for custody: bonded, or held since the key epoch started.
	fn at_stake_sats(who: &AccountId) -> u64;
	/// Burns up to `sats` of `who`'s stake at risk for a theft by a key it holds. Returns the
	/// sats burned (never more than `sats`).
	fn seize_sats(who: &AccountId, sats: u64) -> u64;
}

impl<AccountId> CustodyStake<AccountId> for () {
	fn hold(_: &AccountId) {}
	fn release(_: &AccountId) {}
	fn is_held(_: &AccountId) -> bool {
		true
	}
	fn at_stake_sats(_: &AccountId) -> u64 {
		0
	}
	fn seize_sats(_: &AccountId, _: u64) -> u64 {
		0
	}
}

/// A repartition waiting for its seed: the Bitcoin height whose block hash will seed it,
/// fixed when the custody set changed, and who was in the set then.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
pub struct PendingPartition<T: Config> {
	/// The block at this height seeds the partition; it was not mined when it was chosen.
	pub seed_height: u32,
	/// The custody candidates when the height was fixed. Only they are dealt seats (less any
	/// that left since): whoever joins after the seed could be known waits for the next
	/// partition, so nobody can choose to join once it knows where it would sit.
	pub candidates: BoundedVec<T::AccountId, T::MaxValidators>,
	/// Block the height was fixed at.
	pub since: BlockNumberFor<T>,
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
	/// Waiting for every participant's attestation (or a complaint).
	Finish,
}

/// FROST threshold of `n` members: `floor(2n/3) + 1`, more than two thirds.
pub fn threshold_of(n: usize) -> u16 {
	(2 * n / 3 + 1) as u16
}

/// A custody key epoch: a group key from one DKG and the members holding its shares.
#[derive(Clone, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo, Debug)]
#[scale_info(skip_type_params(MaxMembers, MaxPackageLen))]
pub struct KeyEpoch<AccountId, BlockNumber, MaxMembers: Get<u32>, MaxPackageLen: Get<u32>> {
	/// The DKG that made the key (the signers' key stores index shares by it).
	pub dkg_id: DkgId,
	/// The vault whose key this is.
	pub vault: VaultIndex,
	/// Sats its members had at stake when it started, less what theft slashing took since:
	/// what backs the coins it holds.
	pub stake_sats: u64,
	/// The Taproot output key (BIP-340 x-only) of the custody address.
	pub output_key: [u8; 32],
	/// The group key (x-only): the Taproot internal key when a recovery leaf is committed,
	/// otherwise equal to `output_key`.
	pub internal_key: [u8; 32],
	/// The recovery leaf committed in the output key, if any.
	pub recovery: Option<RecoveryLeaf>,
	/// Members with their custody identities; member `i` has FROST identifier `i + 1`.
	/// Every one of them attested the key: each holds a verified share.
	pub members: BoundedVec<(AccountId, CustodyIdentity), MaxMembers>,
	pub threshold: u16,
	/// FROST public key package (group key and verifying shares), as attested.
	pub public_key_package: BoundedVec<u8, MaxPackageLen>,
	/// Block the epoch started at.
	pub started_at: BlockNumber,
}

/// A DKG in progress.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
pub struct DkgRun<T: Config> {
	pub dkg_id: DkgId,
	/// The vault the key is for.
	pub vault: VaultIndex,
	/// Participants in FROST identifier order, with the keys they registered.
	pub participants:
		BoundedVec<(T::AccountId, CustodyIdentity, EncryptionKey), T::MaxParticipants>,
	pub threshold: u16,
	pub phase: DkgPhase,
	/// Block after which the current phase's silent participants are excluded.
	pub deadline: BlockNumberFor<T>,
}

impl<T: Config> DkgRun<T> {
	/// The participant with FROST identifier `index`.
	pub fn participant(
		&self,
		index: ParticipantIndex,
	) -> Option<&(T::AccountId, CustodyIdentity, EncryptionKey)> {
		self.participants.get((index as usize).wrapping_sub(1))
	}

	/// The number of participants.
	pub fn n(&self) -> u32 {
		self.participants.len() as u32
	}
}

/// A signing session: one key epoch signs a list of messages, attempt after attempt until
/// a signing set of `threshold` members has answered.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo, DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
pub struct SigningSession<T: Config> {
	/// The key epoch whose key signs.
	pub epoch: u32,
	pub messages: BoundedVec<[u8; 32], T::MaxMessagesPerSession>,
	/// Members (by FROST identifier) who may sign: every member not yet proven silent or
	/// dishonest in this session (nor, when enough others remain, in the epoch).
	pub allowed: BoundedVec<ParticipantIndex, T::MaxParticipants>,
	/// Current attempt; commitments and shares belong to one attempt.
	pub attempt: u32,
	/// The attempt's signing set, once `threshold` allowed members committed.
	pub signing_set: BoundedVec<ParticipantIndex, T::MaxParticipants>,
	/// Block after which the attempt's round is abandoned and its silent members excluded:
	/// before the signing set is complete, every allowed member that sent no commitment;
	/// after, every member of the set that sent no share.
	pub deadline: BlockNumberFor<T>,
	/// Block the session was opened at.
	pub requested_at: BlockNumberFor<T>,
	/// Some attempt reached round 2: signature shares are public, so a full set of them
	/// may exist off-chain and the messages must be treated as possibly signed.
	pub shares_published: bool,
}
