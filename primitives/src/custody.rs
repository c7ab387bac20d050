//! Custody messages: who signs them, and how DKG shares travel encrypted.
//!
//! Validators' custody messages (DKG rounds, signing rounds) reach the chain as unsigned
//! extrinsics. Each is authenticated by a BIP-340 signature of the sender's
//! [`CustodyIdentity`] over a domain-separated digest that binds the chain's genesis hash,
//! so a message cannot be replayed on another chain or as another kind of message.
//!
//! A DKG round-2 share is a secret scalar meant for one recipient. The sender picks one
//! ephemeral key pair per DKG, derives with each recipient's [`EncryptionKey`] an ECDH point,
//! and encrypts the 32-byte share with ChaCha20-Poly1305 under a key hashed from that point
//! and the message context. If a recipient finds its share bad, it proves it publicly: it
//! reveals the ECDH point together with a discrete-log-equality proof ([`DleqProof`]) that
//! the point is its own secret times the sender's ephemeral key, so anyone (the runtime) can
//! decrypt that one share and check it against the sender's commitment, without learning
//! anything about the recipient's other shares or its key.
//!
//! Everything here is `no_std` (k256, sha2, chacha20poly1305); the runtime uses the
//! verification half, the signer both halves.

use alloc::vec::Vec;
use chacha20poly1305::{
	aead::{AeadInPlace, KeyInit},
	ChaCha20Poly1305, Key, Nonce, Tag,
};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use k256::{
	elliptic_curve::{
		ops::Reduce,
		point::AffineCoordinates,
		sec1::{FromEncodedPoint, ToEncodedPoint},
		PrimeField,
	},
	AffinePoint, EncodedPoint, ProjectivePoint, Scalar, U256,
};
use scale_info::TypeInfo;
use sha2::{Digest, Sha256};

/// A validator's custody identity: a BIP-340 (x-only) secp256k1 public key that signs its
/// custody messages.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct CustodyIdentity(pub [u8; 32]);

/// A validator's key for receiving encrypted DKG shares: a compressed secp256k1 point.
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
pub struct EncryptionKey(pub [u8; 33]);

/// A BIP-340 signature of a custody identity over a [`message_digest`].
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
pub struct AuthSignature(pub [u8; 64]);

/// A compressed secp256k1 point revealed in a complaint: the ECDH point of one share.
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
pub struct SharedPoint(pub [u8; 33]);

/// Proof that a [`SharedPoint`] is `d * E` where `d * G` is the recipient's encryption key
/// and `E` the sender's ephemeral key (Chaum-Pedersen, Fiat-Shamir with SHA-256): `(c, s)`.
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
pub struct DleqProof(pub [u8; 64]);

/// A DKG share encrypted to one recipient: 32 bytes of ciphertext and a 16-byte tag.
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
pub struct EncryptedShare(pub [u8; 48]);

/// Where an encrypted share belongs; part of its encryption key, so a share cannot be
/// moved to another DKG, sender or recipient.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, Debug)]
pub struct ShareContext {
	/// The DKG the share belongs to.
	pub dkg_id: u64,
	/// FROST identifier of the sender.
	pub sender: u16,
	/// FROST identifier of the recipient.
	pub recipient: u16,
}

/// Why a custody key or message could not be used.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CustodyCryptoError {
	/// The bytes are not a valid secp256k1 point (or x-only key).
	InvalidPoint,
	/// The bytes are not a scalar below the group order, or the scalar is zero.
	InvalidScalar,
	/// The ciphertext does not decrypt under the given key and context.
	DecryptionFailed,
}

/// Identifies one DKG run (a restart without a faulty participant is a new run).
pub type DkgId = u64;

/// Identifies a signing session; an attempt number distinguishes its retries.
pub type SigningSessionId = u64;

/// A participant's FROST identifier in a DKG or key epoch: its 1-based position in the
/// participant list the chain fixed for that DKG.
pub type ParticipantIndex = u16;

/// DKG round 1: the sender's FROST `dkg::round1::Package` (commitment and proof of
/// knowledge), serialized by `frost-secp256k1-tr`.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct DkgCommitment {
	pub dkg_id: DkgId,
	pub sender: ParticipantIndex,
	pub package: Vec<u8>,
}

/// DKG round 2: one encrypted share for every other participant, in ascending order of
/// recipient, all encrypted with the sender's one ephemeral key for this DKG.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct DkgShares {
	pub dkg_id: DkgId,
	pub sender: ParticipantIndex,
	pub ephemeral_key: [u8; 33],
	pub shares: Vec<EncryptedShare>,
}

/// A participant proves that the share `accused` sent it is bad (does not decrypt, or does
/// not match `accused`'s commitment) by revealing the share's ECDH point.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct DkgComplaint {
	pub dkg_id: DkgId,
	pub sender: ParticipantIndex,
	pub accused: ParticipantIndex,
	pub shared_point: SharedPoint,
	pub proof: DleqProof,
}

/// DKG result: the FROST `PublicKeyPackage` (group key and every participant's verifying
/// share) the sender derived, serialized by `frost-secp256k1-tr`.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct DkgKeyAttestation {
	pub dkg_id: DkgId,
	pub sender: ParticipantIndex,
	pub public_key_package: Vec<u8>,
}

/// Signing round 1: the sender's FROST `SigningCommitments`, one per message of the session.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct SigningCommitment {
	pub session_id: SigningSessionId,
	pub attempt: u32,
	pub sender: ParticipantIndex,
	pub commitments: Vec<Vec<u8>>,
}

/// Signing round 2: the sender's FROST signature shares (32-byte scalars), one per message.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct SignatureShares {
	pub session_id: SigningSessionId,
	pub attempt: u32,
	pub sender: ParticipantIndex,
	pub shares: Vec<[u8; 32]>,
}

/// Every message a custody identity signs. The variant index is part of the signed bytes,
/// so one kind of message can never pass for another.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum CustodyMessage {
	DkgCommitment(DkgCommitment),
	DkgShares(DkgShares),
	DkgComplaint(DkgComplaint),
	DkgKeyAttestation(DkgKeyAttestation),
	SigningCommitment(SigningCommitment),
	SignatureShares(SignatureShares),
}

macro_rules! into_custody_message {
	($($variant:ident),*) => {$(
		impl From<$variant> for CustodyMessage {
			fn from(message: $variant) -> Self {
				CustodyMessage::$variant(message)
			}
		}
	)*};
}

into_custody_message!(
	DkgCommitment,
	DkgShares,
	DkgComplaint,
	DkgKeyAttestation,
	SigningCommitment,
	SignatureShares
);

impl CustodyMessage {
	/// The digest the sender's custody identity signs on the chain with `genesis_hash`.
	pub fn digest(&self, genesis_hash: &[u8; 32]) -> [u8; 32] {
		message_digest(genesis_hash, &self.encode())
	}
}

/// What a validator signs with its session key to bind a custody identity to itself.
///
/// `nonce` is the validator's count of registrations so far (the chain stores it and takes
/// only the next one), so an old registration can never be replayed after a newer one.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct RegistrationPayload<AccountId> {
	pub genesis_hash: [u8; 32],
	pub validator: AccountId,
	pub identity: CustodyIdentity,
	pub encryption_key: EncryptionKey,
	pub nonce: u32,
}

/// Digest the custody identity signs to prove it holds the key it registers.
pub fn registration_digest<AccountId: Encode>(
	payload: &RegistrationPayload<AccountId>,
) -> [u8; 32] {
	tagged_hash(REGISTRATION_TAG, &[&payload.encode()])
}

/// A DKG as the chain fixed it: participant `i` (0-based) has FROST identifier `i + 1`.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct DkgParameters {
	pub dkg_id: DkgId,
	pub threshold: u16,
	pub participants: Vec<(CustodyIdentity, EncryptionKey)>,
}

/// What a validator's custody signer has to do now, as the runtime API reports it.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum CustodyTask {
	/// Send the round-1 commitment of this DKG.
	DkgCommit { dkg: DkgParameters, me: ParticipantIndex },
	/// Send encrypted shares, given everyone's round-1 packages.
	DkgShare {
		dkg: DkgParameters,
		me: ParticipantIndex,
		commitments: Vec<(ParticipantIndex, Vec<u8>)>,
	},
	/// Check the shares received and attest the key or complain.
	DkgFinish {
		dkg: DkgParameters,
		me: ParticipantIndex,
		commitments: Vec<(ParticipantIndex, Vec<u8>)>,
		/// Per sender: its ephemeral key and its shares (ascending recipient, sender skipped).
		shares: Vec<(ParticipantIndex, [u8; 33], Vec<EncryptedShare>)>,
	},
	/// Send nonce commitments for a signing attempt with the key of DKG `key_dkg_id`.
	SigningCommit {
		session_id: SigningSessionId,
		attempt: u32,
		key_dkg_id: DkgId,
		me: ParticipantIndex,
		message_count: u32,
	},
	/// Send signature shares: the signing set is fixed, these are its commitments.
	SigningShare {
		session_id: SigningSessionId,
		attempt: u32,
		key_dkg_id: DkgId,
		me: ParticipantIndex,
		messages: Vec<[u8; 32]>,
		commitments: Vec<(ParticipantIndex, Vec<Vec<u8>>)>,
		/// The script tree's Merkle root when the key commits to a recovery leaf: the shares
		/// are then for the tweaked output key.
		merkle_root: Option<[u8; 32]>,
	},
}

/// The timelocked recovery path committed in custody outputs: after `delay_blocks`
/// confirmations of the output (BIP-68 relative lock, `OP_CHECKSEQUENCEVERIFY`), the
/// recovery committee's n-of-n MuSig2 key alone can spend it.
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
pub struct RecoveryLeaf {
	/// BIP-340 (x-only) aggregate key of the recovery committee.
	pub recovery_key: [u8; 32],
	/// Blocks the output must be buried before the recovery key may spend it (at most
	/// 65535: BIP-68 block-based relative locks are 16 bits).
	pub delay_blocks: u16,
}

/// BIP-342 tapscript leaf version.
pub const TAPSCRIPT_LEAF_VERSION: u8 = 0xc0;

const OP_CHECKSEQUENCEVERIFY: u8 = 0xb2;
const OP_DROP: u8 = 0x75;
const OP_CHECKSIG: u8 = 0xac;
const OP_PUSHBYTES_32: u8 = 0x20;

impl RecoveryLeaf {
	/// The leaf's tapscript: `<delay> OP_CHECKSEQUENCEVERIFY OP_DROP <recovery key> OP_CHECKSIG`.
	pub fn script(&self) -> Vec<u8> {
		let mut script = Vec::with_capacity(40);
		push_script_number(&mut script, self.delay_blocks as i64);
		script.extend_from_slice(&[OP_CHECKSEQUENCEVERIFY, OP_DROP, OP_PUSHBYTES_32]);
		script.extend_from_slice(&self.recovery_key);
		script.push(OP_CHECKSIG);
		script
	}

	/// BIP-341 leaf hash of the script; with a single leaf it is also the tree's Merkle root.
	pub fn leaf_hash(&self) -> [u8; 32] {
		let script = self.script();
		// Scripts here are shorter than 253 bytes: a one-byte CompactSize length.
		tagged_hash(b"TapLeaf", &[&[TAPSCRIPT_LEAF_VERSION, script.len() as u8], &script])
	}
}

/// Pushes a number as Bitcoin Script does (minimal `CScriptNum`; `OP_0`, `OP_1..OP_16`).
fn push_script_number(script: &mut Vec<u8>, value: i64) {
	match value {
		0 => script.push(0x00),
		1..=16 => script.push(0x50 + value as u8),
		_ => {
			let negative = value < 0;
			let mut magnitude = value.unsigned_abs();
			let mut bytes = Vec::new();
			while magnitude > 0 {
				bytes.push((magnitude & 0xff) as u8);
				magnitude >>= 8;
			}
			// The top bit carries the sign: add a byte if the magnitude uses it.
			if bytes.last().is_some_and(|b| b & 0x80 != 0) {
				bytes.push(if negative { 0x80 } else { 0x00 });
			} else if negative {
				*bytes.last_mut().expect("non-zero value has bytes; qed") |= 0x80;
			}
			script.push(bytes.len() as u8);
			script.extend_from_slice(&bytes);
		},
	}
}

const AUTH_TAG: &[u8] = b"Tapchain/custody/auth";
const REGISTRATION_TAG: &[u8] = b"Tapchain/custody/registration";
const SHARE_KEY_TAG: &[u8] = b"Tapchain/custody/share-key";
const DLEQ_TAG: &[u8] = b"Tapchain/custody/dleq";
const DLEQ_NONCE_TAG: &[u8] = b"Tapchain/custody/dleq-nonce";

fn tagged_hash(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
	let tag_hash = Sha256::digest(tag);
	let mut hasher = Sha256::new();
	hasher.update(tag_hash);
	hasher.update(tag_hash);
	for part in parts {
		hasher.update(part);
	}
	hasher.finalize().into()
}

/// The digest a custody identity signs: the chain's genesis hash and the SCALE-encoded
/// message, under a BIP-340-style tagged hash.
pub fn message_digest(genesis_hash: &[u8; 32], encoded_message: &[u8]) -> [u8; 32] {
	tagged_hash(AUTH_TAG, &[genesis_hash, encoded_message])
}

/// Whether `signature` is `identity`'s BIP-340 signature over `digest`.
pub fn verify_auth(
	identity: &CustodyIdentity,
	digest: &[u8; 32],
	signature: &AuthSignature,
) -> bool {
	verify_bip340(&identity.0, digest, &signature.0)
}

/// BIP-340 verification of a signature over a 32-byte message by an x-only key.
pub fn verify_bip340(x_only_key: &[u8; 32], message: &[u8; 32], signature: &[u8; 64]) -> bool {
	let Ok(key) = k256::schnorr::VerifyingKey::from_bytes(x_only_key) else { return false };
	let Ok(signature) = k256::schnorr::Signature::try_from(&signature[..]) else { return false };
	key.verify_raw(message, &signature).is_ok()
}

/// Signs `digest` with a custody identity's secret key (BIP-340, fresh auxiliary randomness).
pub fn sign_auth(
	secret: &k256::schnorr::SigningKey,
	digest: &[u8; 32],
	aux_rand: &[u8; 32],
) -> AuthSignature {
	let signature = secret
		.sign_raw(digest, aux_rand)
		.expect("signing a 32-byte digest with a valid key cannot fail; qed");
	AuthSignature(signature.to_bytes())
}

fn parse_point(bytes: &[u8; 33]) -> Result<ProjectivePoint, CustodyCryptoError> {
	let encoded = EncodedPoint::from_bytes(bytes).map_err(|_| CustodyCryptoError::InvalidPoint)?;
	Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&encoded))
		.map(ProjectivePoint::from)
		.ok_or(CustodyCryptoError::InvalidPoint)
}

fn compress(point: &ProjectivePoint) -> [u8; 33] {
	let mut out = [0u8; 33];
	out.copy_from_slice(point.to_affine().to_encoded_point(true).as_bytes());
	out
}

fn parse_scalar(bytes: &[u8; 32]) -> Result<Scalar, CustodyCryptoError> {
	Option::<Scalar>::from(Scalar::from_repr((*bytes).into()))
		.ok_or(CustodyCryptoError::InvalidScalar)
}

fn hash_to_scalar(tag: &[u8], parts: &[&[u8]]) -> Scalar {
	<Scalar as Reduce<U256>>::reduce_bytes(&tagged_hash(tag, parts).into())
}

/// A secret scalar (an encryption or ephemeral key), checked non-zero.
#[derive(Clone)]
pub struct SecretScalar(Scalar);

impl SecretScalar {
	/// Parses 32 big-endian bytes; zero or values >= the group order are refused.
	pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CustodyCryptoError> {
		let scalar = parse_scalar(bytes)?;
		if bool::from(scalar.is_zero()) {
			return Err(CustodyCryptoError::InvalidScalar);
		}
		Ok(Self(scalar))
	}

	/// The 32 big-endian bytes of the scalar.
	pub fn to_bytes(&self) -> [u8; 32] {
		self.0.to_bytes().into()
	}

	/// The public point `secret * G`, compressed.
	pub fn public_key(&self) -> [u8; 33] {
		compress(&(ProjectivePoint::GENERATOR * self.0))
	}
}

/// The ECDH point `secret * public`.
pub fn shared_point(
	secret: &SecretScalar,
	public: &[u8; 33],
) -> Result<SharedPoint, CustodyCryptoError> {
	Ok(SharedPoint(compress(&(parse_point(public)? * secret.0))))
}

fn share_cipher(shared: &SharedPoint, context: &ShareContext) -> ChaCha20Poly1305 {
	let key = tagged_hash(SHARE_KEY_TAG, &[&shared.0, &context.encode()]);
	ChaCha20Poly1305::new(Key::from_slice(&key))
}

/// Encrypts a 32-byte share to `recipient_key` with the sender's ephemeral secret.
pub fn encrypt_share(
	ephemeral_secret: &SecretScalar,
	recipient_key: &EncryptionKey,
	context: &ShareContext,
	share: &[u8; 32],
) -> Result<EncryptedShare, CustodyCryptoError> {
	let shared = shared_point(ephemeral_secret, &recipient_key.0)?;
	let mut buffer = *share;
	// Each (shared point, context) pair encrypts exactly one message, so a zero nonce is safe.
	let tag = share_cipher(&shared, context)
		.encrypt_in_place_detached(&Nonce::default(), &[], &mut buffer)
		.map_err(|_| CustodyCryptoError::DecryptionFailed)?;
	let mut out = [0u8; 48];
	out[..32].copy_from_slice(&buffer);
	out[32..].copy_from_slice(&tag);
	Ok(EncryptedShare(out))
}

/// Decrypts a share with its ECDH point (computed by the recipient, or revealed in a
/// complaint).
pub fn decrypt_share(
	shared: &SharedPoint,
	context: &ShareContext,
	ciphertext: &EncryptedShare,
) -> Result<[u8; 32], CustodyCryptoError> {
	let mut buffer = [0u8; 32];
	buffer.copy_from_slice(&ciphertext.0[..32]);
	share_cipher(shared, context)
		.decrypt_in_place_detached(
			&Nonce::default(),
			&[],
			&mut buffer,
			Tag::from_slice(&ciphertext.0[32..]),
		)
		.map_err(|_| CustodyCryptoError::DecryptionFailed)?;
	Ok(buffer)
}

fn dleq_challenge(
	public: &ProjectivePoint,
	ephemeral: &ProjectivePoint,
	shared: &ProjectivePoint,
	a1: &ProjectivePoint,
	a2: &ProjectivePoint,
) -> Scalar {
	hash_to_scalar(
		DLEQ_TAG,
		&[&compress(public), &compress(ephemeral), &compress(shared), &compress(a1), &compress(a2)],
	)
}

/// The recipient's side of a complaint: the ECDH point with the sender's ephemeral key and
/// a proof that it is correct. Deterministic (the nonce is hashed from the secret and the
/// inputs), so no randomness is needed.
pub fn prove_shared_point(
	secret: &SecretScalar,
	ephemeral_key: &[u8; 33],
) -> Result<(SharedPoint, DleqProof), CustodyCryptoError> {
	let ephemeral = parse_point(ephemeral_key)?;
	let public = ProjectivePoint::GENERATOR * secret.0;
	let shared = ephemeral * secret.0;
	let k = hash_to_scalar(DLEQ_NONCE_TAG, &[&secret.to_bytes(), ephemeral_key]);
	let a1 = ProjectivePoint::GENERATOR * k;
	let a2 = ephemeral * k;
	let c = dleq_challenge(&public, &ephemeral, &shared, &a1, &a2);
	let s = k + c * secret.0;
	let mut proof = [0u8; 64];
	proof[..32].copy_from_slice(&c.to_bytes());
	proof[32..].copy_from_slice(&s.to_bytes());
	Ok((SharedPoint(compress(&shared)), DleqProof(proof)))
}

/// Whether `shared` is `d * ephemeral_key` for the `d` with `d * G == recipient_key`.
pub fn verify_shared_point(
	recipient_key: &EncryptionKey,
	ephemeral_key: &[u8; 33],
	shared: &SharedPoint,
	proof: &DleqProof,
) -> bool {
	let (Ok(public), Ok(ephemeral), Ok(shared_point)) =
		(parse_point(&recipient_key.0), parse_point(ephemeral_key), parse_point(&shared.0))
	else {
		return false;
	};
	let mut c_bytes = [0u8; 32];
	c_bytes.copy_from_slice(&proof.0[..32]);
	let mut s_bytes = [0u8; 32];
	s_bytes.copy_from_slice(&proof.0[32..]);
	let (Ok(c), Ok(s)) = (parse_scalar(&c_bytes), parse_scalar(&s_bytes)) else { return false };
	let a1 = ProjectivePoint::GENERATOR * s - public * c;
	let a2 = ephemeral * s - shared_point * c;
	dleq_challenge(&public, &ephemeral, &shared_point, &a1, &a2) == c
}

/// Whether 32 bytes are a valid BIP-340 (x-only) public key.
pub fn is_x_only_key(bytes: &[u8; 32]) -> bool {
	k256::schnorr::VerifyingKey::from_bytes(bytes).is_ok()
}

/// The x-only form of a compressed point (drops the parity byte), e.g. for a Taproot key.
pub fn x_only(point: &[u8; 33]) -> Result<[u8; 32], CustodyCryptoError> {
	let point = parse_point(point)?;
	Ok(point.to_affine().x().into())
}

/// Where a signing session stands, as custody reports it to the pallet that asked.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SigningStatus {
	/// Still collecting commitments or shares. `shares_published`: some attempt reached
	/// round 2, so signature shares are public and whoever holds a full set of them could
	/// aggregate the signature off-chain: the messages must be treated as possibly signed.
	Pending { shares_published: bool },
	/// One BIP-340 signature per message, in order.
	Ready(Vec<[u8; 64]>),
	/// Closed without signatures (too few signers left), or unknown.
	Failed,
}

/// Why custody refused to open a signing session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SigningRequestError {
	/// No key epoch with this index.
	UnknownEpoch,
	/// The key epoch is retired: it signs nothing more.
	EpochRetired,
	/// A session signs between one and the configured maximum of messages.
	BadMessageCount,
	/// Too many sessions are open; a later block may try again.
	TooManySessions,
}

/// The custody service other pallets (the bridge) use: key epochs, the validators and their
/// custody identities, and threshold signatures. `pallet-btc-custody` implements it.
pub trait ThresholdCustody<AccountId> {
	/// Each vault's current key epoch, in vault order: the keys deposits and change pay.
	/// With one vault (at most `vault_size` validators) there is one.
	fn current_epochs() -> Vec<u32>;
	/// The current epoch an old epoch's coins move to: its vault's current epoch, or for a
	/// dissolved vault the current epoch of the vault its index folds onto. `None` while
	/// `epoch` is current itself, or that vault has no key yet.
	fn successor(epoch: u32) -> Option<u32>;
	/// Sats of stake backing `epoch`'s key: what its members had at stake when it started
	/// (their freeze keeps it in their accounts while the epoch is live), less what theft
	/// slashing took since. Bounds what the bridge lets the key hold.
	fn backing_stake_sats(epoch: u32) -> u64;
	/// Every key epoch that still signs (not retired), oldest first.
	fn live_epochs() -> Vec<u32>;
	/// A live epoch's Taproot output key (`None` if unknown or retired).
	fn output_key(epoch: u32) -> Option<[u8; 32]>;
	/// The current validators (the bridge's voters).
	fn validators() -> Vec<AccountId>;
	/// The validator whose registered custody identity is `identity`.
	fn validator_of_identity(identity: &[u8; 32]) -> Option<AccountId>;
	/// Opens a session in which `epoch`'s key signs `messages`; returns its id.
	fn request_signatures(
		epoch: u32,
		messages: Vec<[u8; 32]>,
	) -> Result<SigningSessionId, SigningRequestError>;
	/// Where a session stands.
	fn signing_status(session_id: SigningSessionId) -> SigningStatus;
	/// Closes a session the caller no longer needs (its signatures were used, or the
	/// request was withdrawn): nothing of it stays in storage.
	fn close_session(session_id: SigningSessionId);
	/// Marks the funds of an epoch that is no vault's current one as moved: it signs nothing
	/// more and its members' custody stake is released once they hold no other live key.
	fn retire_epoch(epoch: u32) -> bool;
	/// Reports validators that cast no vote on a proposal within its window.
	fn report_vote_silence(validators: &[AccountId]);
	/// Slashes the members of `epoch` for a proven theft of `stolen_sats` by its key: a
	/// FROST signature does not say which members signed, so each member loses the same
	/// share of the stake it has at risk, in all a penalty of at least `stolen_sats` (enough
	/// that any threshold of members loses what it took), or everything at stake if less.
	/// The slashed BTC is burned: up to `stolen_sats` of it restores the bridge's backing.
	fn slash_for_theft(epoch: u32, stolen_sats: u64) -> TheftSlash;
}

/// Where vault partitions draw their randomness: the Bitcoin chain as the light client
/// knows it. A seed is the hash of a block at a height fixed before that block was mined,
/// read only once it is buried, so that steering it costs withheld block rewards.
pub trait PartitionRandomness {
	/// Height of the light client's best block, if it has one.
	fn best_height() -> Option<u32>;
	/// Hash of the best chain's block at `height`, once it has the bridge's confirmations
	/// (`None` before).
	fn buried_block_hash(height: u32) -> Option<crate::bitcoin::BlockHash>;
}

/// What slashing a key epoch's members for a theft did.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct TheftSlash {
	/// Sats of the members' stake burned (the penalty; more than was stolen when their stake
	/// allowed it).
	pub burned_sats: u64,
	/// Members whose stake was looked at (the work done, for weight).
	pub members: u32,
}

#[cfg(test)]
mod tests {
	use super::*;

	fn secret(byte: u8) -> SecretScalar {
		SecretScalar::from_bytes(&[byte; 32]).unwrap()
	}

	const CONTEXT: ShareContext = ShareContext { dkg_id: 7, sender: 1, recipient: 2 };

	#[test]
	fn share_round_trips_through_encryption() {
		let recipient = secret(3);
		let ephemeral = secret(4);
		let share = [9u8; 32];
		let encrypted =
			encrypt_share(&ephemeral, &EncryptionKey(recipient.public_key()), &CONTEXT, &share)
				.unwrap();
		let shared = shared_point(&recipient, &ephemeral.public_key()).unwrap();
		assert_eq!(decrypt_share(&shared, &CONTEXT, &encrypted), Ok(share));
		// Another context (a replay into another DKG or to another recipient) does not decrypt.
		let other = ShareContext { dkg_id: 8, ..CONTEXT };
		assert_eq!(
			decrypt_share(&shared, &other, &encrypted),
			Err(CustodyCryptoError::DecryptionFailed)
		);
		// A flipped ciphertext bit is caught by the tag.
		let mut tampered = encrypted;
		tampered.0[0] ^= 1;
		assert_eq!(
			decrypt_share(&shared, &CONTEXT, &tampered),
			Err(CustodyCryptoError::DecryptionFailed)
		);
		// Another recipient's key does not decrypt.
		let eve = shared_point(&secret(5), &ephemeral.public_key()).unwrap();
		assert_eq!(
			decrypt_share(&eve, &CONTEXT, &encrypted),
			Err(CustodyCryptoError::DecryptionFailed)
		);
	}

	#[test]
	fn dleq_proof_accepts_the_true_point_only() {
		let recipient = secret(3);
		let ephemeral = secret(4).public_key();
		let key = EncryptionKey(recipient.public_key());
		let (shared, proof) = prove_shared_point(&recipient, &ephemeral).unwrap();
		assert_eq!(shared, shared_point(&recipient, &ephemeral).unwrap());
		assert!(verify_shared_point(&key, &ephemeral, &shared, &proof));
		// A wrong point with the same proof, a proof for another key, a flipped proof: refused.
		let wrong = shared_point(&secret(5), &ephemeral).unwrap();
		assert!(!verify_shared_point(&key, &ephemeral, &wrong, &proof));
		assert!(!verify_shared_point(
			&EncryptionKey(secret(6).public_key()),
			&ephemeral,
			&shared,
			&proof
		));
		let mut flipped = proof;
		flipped.0[40] ^= 1;
		assert!(!verify_shared_point(&key, &ephemeral, &shared, &flipped));
		// Someone who does not know the secret cannot prove a point for it: a proof made with
		// another secret for the same (key, ephemeral) does not verify.
		let (forged_point, forged_proof) = prove_shared_point(&secret(5), &ephemeral).unwrap();
		assert!(!verify_shared_point(&key, &ephemeral, &forged_point, &forged_proof));
	}

	#[test]
	fn auth_signature_binds_identity_and_digest() {
		let key = k256::schnorr::SigningKey::from_bytes(&[7u8; 32]).unwrap();
		let identity = CustodyIdentity(key.verifying_key().to_bytes().into());
		let digest = message_digest(&[1u8; 32], b"round one");
		let signature = sign_auth(&key, &digest, &[0u8; 32]);
		assert!(verify_auth(&identity, &digest, &signature));
		// Same message on another chain (genesis hash): another digest, refused.
		assert!(!verify_auth(&identity, &message_digest(&[2u8; 32], b"round one"), &signature));
		let other = k256::schnorr::SigningKey::from_bytes(&[8u8; 32]).unwrap();
		assert!(!verify_auth(
			&CustodyIdentity(other.verifying_key().to_bytes().into()),
			&digest,
			&signature
		));
		assert!(!verify_auth(&CustodyIdentity([0xff; 32]), &digest, &signature));
	}

	#[test]
	fn malformed_keys_are_typed_errors() {
		assert_eq!(
			SecretScalar::from_bytes(&[0u8; 32]).err(),
			Some(CustodyCryptoError::InvalidScalar)
		);
		assert_eq!(
			SecretScalar::from_bytes(&[0xff; 32]).err(),
			Some(CustodyCryptoError::InvalidScalar)
		);
		assert_eq!(
			shared_point(&secret(1), &[5u8; 33]).err(),
			Some(CustodyCryptoError::InvalidPoint)
		);
		// x = 0 is not on secp256k1 (7 is not a square mod p).
		let mut not_on_curve = [0u8; 33];
		not_on_curve[0] = 2;
		assert_eq!(x_only(&not_on_curve).err(), Some(CustodyCryptoError::InvalidPoint));
	}
}
