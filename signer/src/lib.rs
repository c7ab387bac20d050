//! The validator's custody signer.
//!
//! A [`Signer`] holds a validator's custody secrets (its identity key, its key for
//! receiving DKG shares, the FROST key shares of every key epoch it joined) in a
//! [`KeyStore`] on disk, and turns what the chain asks for into signed custody messages:
//!
//! - DKG: [`Signer::dkg_commit`] (round 1), [`Signer::dkg_shares`] (round 2, shares
//!   encrypted to each recipient), [`Signer::dkg_finish`] (checks every share it received
//!   and either attests the group key or accuses the sender of a bad share, with proof);
//! - signing: [`Signer::signing_commit`] (fresh nonces, kept only in memory) and
//!   [`Signer::signing_shares`] (consumes them).
//!
//! The signer never decides *what* to sign or *who* takes part: the chain (pallet
//! `btc-custody`) fixes participants, signing sets and messages, and the node worker
//! relays between the two. Nothing here talks to a network, so it is tested on its own.

mod keystore;
pub mod proposal_check;

use std::{
	collections::BTreeMap,
	fmt,
	path::{Path, PathBuf},
};

use codec::Encode;
use frost::{
	keys::{dkg, KeyPackage, PublicKeyPackage, SigningShare},
	round1::{SigningCommitments, SigningNonces},
	Identifier, SigningPackage,
};
use frost_secp256k1_tr as frost;
use rand_core::{CryptoRng, OsRng, RngCore};
use std::sync::Mutex;
use tapchain_primitives::custody::{
	decrypt_share, encrypt_share, prove_shared_point, shared_point, sign_auth, AuthSignature,
	CustodyIdentity, CustodyMessage, CustodyTask, DkgCommitment, DkgComplaint, DkgId,
	DkgKeyAttestation, DkgParameters, DkgShares, EncryptedShare, EncryptionKey, ParticipantIndex,
	RegistrationPayload, SecretScalar, ShareContext, SignatureShares, SigningCommitment,
	SigningSessionId,
};

pub use keystore::KeyStore;
use keystore::{KeyShare, NodeSecrets, PendingDkg};

/// Why the signer could not do what was asked.
#[derive(Debug)]
pub enum SignerError {
	/// Reading or writing the key store failed.
	Io { path: PathBuf, error: std::io::Error },
	/// A key store file does not decode.
	CorruptKeyStore(PathBuf),
	/// This signer's identity is not among the DKG's participants.
	NotAParticipant(DkgId),
	/// The DKG parameters are impossible (threshold, participant count).
	InvalidDkgSetup(&'static str),
	/// No round-1 secret is stored for this DKG (never started here, or already finished).
	UnknownDkg(DkgId),
	/// No key share is stored for this DKG's key epoch.
	NoKeyShare(DkgId),
	/// A participant's round-1 package is missing, malformed or has a bad proof of
	/// knowledge: it is to blame.
	BadCommitment { culprit: ParticipantIndex },
	/// The shares sent to this signer are not one per other participant.
	MissingShare { sender: ParticipantIndex },
	/// Nonces were already made for this signing attempt: making more would risk reuse.
	NoncesAlreadyCommitted { session_id: SigningSessionId, attempt: u32 },
	/// No nonces are held for this attempt (never committed here, already used, or lost
	/// by a restart).
	NoNonces { session_id: SigningSessionId, attempt: u32 },
	/// The commitments handed back do not fit the session (count, malformed, ours missing).
	BadSigningPackage(String),
	/// FROST refused an operation.
	Frost(frost::Error),
}

impl SignerError {
	pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
		Self::Io { path: path.to_path_buf(), error }
	}
}

impl fmt::Display for SignerError {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::Io { path, error } => write!(f, "key store {}: {error}", path.display()),
			Self::CorruptKeyStore(path) => {
				write!(f, "key store file {} does not decode", path.display())
			},
			Self::NotAParticipant(id) => write!(f, "this signer is not a participant of DKG {id}"),
			Self::InvalidDkgSetup(why) => write!(f, "invalid DKG setup: {why}"),
			Self::UnknownDkg(id) => write!(f, "no round-1 secret stored for DKG {id}"),
			Self::NoKeyShare(id) => write!(f, "no key share stored for DKG {id}"),
			Self::BadCommitment { culprit } => {
				write!(f, "participant {culprit} sent a bad DKG commitment")
			},
			Self::MissingShare { sender } => write!(f, "no DKG share from participant {sender}"),
			Self::NoncesAlreadyCommitted { session_id, attempt } => write!(
				f,
				"nonces already committed for signing session {session_id} attempt {attempt}"
			),
			Self::NoNonces { session_id, attempt } => {
				write!(f, "no nonces held for signing session {session_id} attempt {attempt}")
			},
			Self::BadSigningPackage(why) => write!(f, "bad signing package: {why}"),
			Self::Frost(e) => write!(f, "FROST: {e}"),
		}
	}
}

impl std::error::Error for SignerError {}

impl From<frost::Error> for SignerError {
	fn from(e: frost::Error) -> Self {
		Self::Frost(e)
	}
}

/// One participant of a DKG, as the chain lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkgParticipant {
	pub identity: CustodyIdentity,
	pub encryption_key: EncryptionKey,
}

/// A DKG as the chain fixed it: participant `i` (0-based here) has FROST identifier `i + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkgSetup {
	pub dkg_id: DkgId,
	pub threshold: u16,
	pub participants: Vec<DkgParticipant>,
}

impl DkgSetup {
	/// The FROST identifier of `identity` in this DKG.
	pub fn index_of(&self, identity: &CustodyIdentity) -> Option<ParticipantIndex> {
		self.participants
			.iter()
			.position(|p| p.identity == *identity)
			.map(|i| i as ParticipantIndex + 1)
	}

	fn count(&self) -> Result<u16, SignerError> {
		let n = u16::try_from(self.participants.len())
			.map_err(|_| SignerError::InvalidDkgSetup("too many participants"))?;
		if self.threshold < 2 || self.threshold > n {
			return Err(SignerError::InvalidDkgSetup(
				"threshold must be between 2 and the participant count",
			));
		}
		Ok(n)
	}
}

impl From<&DkgParameters> for DkgSetup {
	fn from(dkg: &DkgParameters) -> Self {
		Self {
			dkg_id: dkg.dkg_id,
			threshold: dkg.threshold,
			participants: dkg
				.participants
				.iter()
				.map(|(identity, encryption_key)| DkgParticipant {
					identity: *identity,
					encryption_key: *encryption_key,
				})
				.collect(),
		}
	}
}

/// A custody message with its sender's signature, ready for the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedMessage {
	pub message: CustodyMessage,
	pub signature: AuthSignature,
}

/// What finishing a DKG produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DkgOutcome {
	/// Every share checked out: the attestation of the group key (a
	/// [`CustodyMessage::DkgKeyAttestation`]). The key share is stored.
	Attest { message: SignedMessage, group_key: [u8; 32] },
	/// A share was bad: the complaint naming its sender (a [`CustodyMessage::DkgComplaint`]).
	Complain { message: SignedMessage, accused: ParticipantIndex },
}

/// The shares one participant sent in round 2, as the chain holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedShares {
	pub ephemeral_key: [u8; 33],
	/// One per other participant, in ascending order of recipient.
	pub shares: Vec<EncryptedShare>,
}

/// Where a signer's randomness comes from: the OS, or (for deterministic simulations that
/// must replay from a seed) a seeded cryptographic generator.
pub trait SignerRng: RngCore + CryptoRng + Send {}
impl<R: RngCore + CryptoRng + Send> SignerRng for R {}

/// A validator's custody signer. See the crate docs.
pub struct Signer {
	store: KeyStore,
	rng: Mutex<Box<dyn SignerRng>>,
	identity: k256::schnorr::SigningKey,
	encryption: SecretScalar,
	genesis_hash: [u8; 32],
	/// Nonces of open signing attempts, one per message. Memory only: a restart abandons them.
	nonces: BTreeMap<(SigningSessionId, u32), Vec<SigningNonces>>,
	/// The commitments sent per attempt: asked again (the message was lost on its way), the
	/// signer sends the same ones; it never makes a second set of nonces for an attempt.
	sent_commitments: BTreeMap<(SigningSessionId, u32), SignedMessage>,
	/// The shares sent per attempt with what they were made from: asked again with the
	/// same inputs, the same message is sent (the nonces themselves are gone).
	sent_shares: BTreeMap<(SigningSessionId, u32), SentShares>,
}

fn identifier(index: ParticipantIndex) -> Result<Identifier, SignerError> {
	Identifier::try_from(index).map_err(SignerError::Frost)
}

/// The 1-based index of a FROST identifier made from a `u16` (identifiers 1..=n here).
fn index_of_identifier(id: &Identifier) -> Option<ParticipantIndex> {
	let bytes = id.serialize();
	let (high, low) = bytes.split_at(bytes.len() - 2);
	high.iter().all(|b| *b == 0).then(|| u16::from_be_bytes([low[0], low[1]]))
}

impl Signer {
	/// Opens the key store at `dir`, creating the signer's identity and encryption keys
	/// the first time. `genesis_hash` binds every signed message to one chain.
	pub fn open(dir: impl AsRef<Path>, genesis_hash: [u8; 32]) -> Result<Self, SignerError> {
		Self::open_with_rng(dir, genesis_hash, Box::new(OsRng))
	}

	/// [`Signer::open`] with another source of randomness: a seeded generator makes every
	/// key, nonce and signature of a simulation replay exactly from its seed. Nodes use the OS.
	pub fn open_with_rng(
		dir: impl AsRef<Path>,
		genesis_hash: [u8; 32],
		rng: Box<dyn SignerRng>,
	) -> Result<Self, SignerError> {
		let store = KeyStore::open(dir)?;
		let rng = Mutex::new(rng);
		let secrets = match store.secrets()? {
			Some(secrets) => secrets,
			None => {
				let secrets =
					NodeSecrets { identity: random_secret(&rng), encryption: random_secret(&rng) };
				store.put_secrets(&secrets)?;
				secrets
			},
		};
		let corrupt = || SignerError::CorruptKeyStore(store.dir().to_path_buf());
		let identity =
			k256::schnorr::SigningKey::from_bytes(&secrets.identity).map_err(|_| corrupt())?;
		let encryption = SecretScalar::from_bytes(&secrets.encryption).map_err(|_| corrupt())?;
		Ok(Self {
			store,
			rng,
			identity,
			encryption,
			genesis_hash,
			nonces: BTreeMap::new(),
			sent_commitments: BTreeMap::new(),
			sent_shares: BTreeMap::new(),
		})
	}

	/// The custody identity (BIP-340 x-only key) this signer signs messages with.
	pub fn identity(&self) -> CustodyIdentity {
		CustodyIdentity(self.identity.verifying_key().to_bytes().into())
	}

	/// The key DKG shares for this signer are encrypted to.
	pub fn encryption_key(&self) -> EncryptionKey {
		EncryptionKey(self.encryption.public_key())
	}

	/// The registration binding this signer's keys to `validator`, and the identity's
	/// signature over it (proof of possession). `nonce` is the validator's next registration
	/// nonce on the chain. The validator's session key signs the same payload in the node.
	pub fn registration<AccountId: Encode>(
		&self,
		validator: AccountId,
		nonce: u32,
	) -> (RegistrationPayload<AccountId>, AuthSignature) {
		let payload = RegistrationPayload {
			genesis_hash: self.genesis_hash,
			validator,
			identity: self.identity(),
			encryption_key: self.encryption_key(),
			nonce,
		};
		let digest = tapchain_primitives::custody::registration_digest(&payload);
		let signature = sign_auth(&self.identity, &digest, &random_secret(&self.rng));
		(payload, signature)
	}

	/// Whether the key share of the epoch made by DKG `dkg_id` is stored.
	pub fn has_key_share(&self, dkg_id: DkgId) -> Result<bool, SignerError> {
		Ok(self.store.key_share(dkg_id)?.is_some())
	}

	/// Deletes the key share of the epoch made by DKG `dkg_id` once the chain retired it (its
	/// funds have moved): a share that no longer guards anything should not outlive its use.
	/// Returns whether a share was deleted.
	pub fn delete_key_share(&mut self, dkg_id: DkgId) -> Result<bool, SignerError> {
		self.store.delete_key_share(dkg_id)
	}

	/// The group's public key package of the epoch made by DKG `dkg_id`.
	pub fn public_key_package(&self, dkg_id: DkgId) -> Result<PublicKeyPackage, SignerError> {
		let share = self.store.key_share(dkg_id)?.ok_or(SignerError::NoKeyShare(dkg_id))?;
		Ok(PublicKeyPackage::deserialize(&share.public_key_package)?)
	}

	/// Does one task the runtime reported (see `pallet-btc-custody`'s runtime API) and
	/// returns the message to submit. A DKG that finishes with a bad share returns the
	/// complaint.
	pub fn handle_task(&mut self, task: &CustodyTask) -> Result<SignedMessage, SignerError> {
		match task {
			CustodyTask::DkgCommit { dkg, .. } => self.dkg_commit(&dkg.into()),
			CustodyTask::DkgShare { dkg, commitments, .. } => {
				self.dkg_shares(&dkg.into(), &commitments.iter().cloned().collect())
			},
			CustodyTask::DkgFinish { dkg, commitments, shares, .. } => {
				let received = shares
					.iter()
					.map(|(sender, ephemeral_key, shares)| {
						(
							*sender,
							ReceivedShares {
								ephemeral_key: *ephemeral_key,
								shares: shares.clone(),
							},
						)
					})
					.collect();
				match self.dkg_finish(
					&dkg.into(),
					&commitments.iter().cloned().collect(),
					&received,
				)? {
					DkgOutcome::Attest { message, .. } | DkgOutcome::Complain { message, .. } => {
						Ok(message)
					},
				}
			},
			CustodyTask::SigningCommit { session_id, attempt, key_dkg_id, me, message_count } => {
				self.signing_commit(
					*key_dkg_id,
					*me,
					*session_id,
					*attempt,
					*message_count as usize,
				)
			},
			CustodyTask::SigningShare {
				session_id,
				attempt,
				key_dkg_id,
				me,
				messages,
				commitments,
				merkle_root,
			} => self.signing_shares(
				*key_dkg_id,
				*me,
				*session_id,
				*attempt,
				messages,
				&commitments.iter().cloned().collect(),
				merkle_root.as_ref(),
			),
		}
	}

	/// Signs any custody message with this signer's identity. The state machines above
	/// are the way to make honest messages; this serves tools and tests that must craft one.
	pub fn sign_message(&self, message: CustodyMessage) -> SignedMessage {
		self.sign(message)
	}

	/// Signs a bridge message (a proposal vote or a fee-rate report) with this signer's
	/// custody identity.
	pub fn sign_bridge_message(
		&self,
		message: &tapchain_primitives::bridge::BridgeMessage,
	) -> AuthSignature {
		sign_auth(&self.identity, &message.digest(&self.genesis_hash), &random_secret(&self.rng))
	}

	fn sign(&self, message: CustodyMessage) -> SignedMessage {
		let signature = sign_auth(
			&self.identity,
			&message.digest(&self.genesis_hash),
			&random_secret(&self.rng),
		);
		SignedMessage { message, signature }
	}

	fn my_index(&self, setup: &DkgSetup) -> Result<ParticipantIndex, SignerError> {
		setup.index_of(&self.identity()).ok_or(SignerError::NotAParticipant(setup.dkg_id))
	}

	/// DKG round 1: a fresh secret polynomial (stored, so a restart can go on) and its
	/// commitment with proof of knowledge. Called again for the same DKG, it returns the
	/// commitment of the stored polynomial rather than a new one.
	pub fn dkg_commit(&mut self, setup: &DkgSetup) -> Result<SignedMessage, SignerError> {
		let n = setup.count()?;
		let me = self.my_index(setup)?;
		let package = match self.store.pending_dkg(setup.dkg_id)? {
			Some(pending) => pending.round1_package,
			None => {
				let (secret, package) = {
					let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
					dkg::part1(identifier(me)?, n, setup.threshold, &mut *rng)?
				};
				let pending = PendingDkg {
					round1_secret: secret.serialize()?,
					round1_package: package.serialize()?,
				};
				self.store.put_pending_dkg(setup.dkg_id, &pending)?;
				pending.round1_package
			},
		};
		Ok(self.sign(CustodyMessage::DkgCommitment(DkgCommitment {
			dkg_id: setup.dkg_id,
			sender: me,
			package,
		})))
	}

	fn round1_packages(
		&self,
		setup: &DkgSetup,
		me: ParticipantIndex,
		commitments: &BTreeMap<ParticipantIndex, Vec<u8>>,
	) -> Result<BTreeMap<Identifier, dkg::round1::Package>, SignerError> {
		let mut packages = BTreeMap::new();
		for index in 1..=setup.participants.len() as ParticipantIndex {
			if index == me {
				continue;
			}
			let bytes =
				commitments.get(&index).ok_or(SignerError::BadCommitment { culprit: index })?;
			let package = dkg::round1::Package::deserialize(bytes)
				.map_err(|_| SignerError::BadCommitment { culprit: index })?;
			packages.insert(identifier(index)?, package);
		}
		Ok(packages)
	}

	fn round2(
		&self,
		setup: &DkgSetup,
		me: ParticipantIndex,
		commitments: &BTreeMap<ParticipantIndex, Vec<u8>>,
	) -> Result<Round2, SignerError> {
		let pending =
			self.store.pending_dkg(setup.dkg_id)?.ok_or(SignerError::UnknownDkg(setup.dkg_id))?;
		let secret = dkg::round1::SecretPackage::deserialize(&pending.round1_secret)?;
		let packages = self.round1_packages(setup, me, commitments)?;
		// part2 checks every proof of knowledge; its error names the culprit.
		let (round2_secret, outgoing) = dkg::part2(secret, &packages).map_err(|e| match e {
			frost::Error::InvalidProofOfKnowledge { culprit } => {
				match index_of_identifier(&culprit) {
					Some(culprit) => SignerError::BadCommitment { culprit },
					None => SignerError::Frost(e),
				}
			},
			e => SignerError::Frost(e),
		})?;
		Ok((packages, round2_secret, outgoing))
	}

	/// DKG round 2: this signer's share for every other participant, encrypted to its
	/// encryption key. `commitments` are all participants' round-1 packages (its own
	/// included or not). A bad commitment is reported as [`SignerError::BadCommitment`].
	pub fn dkg_shares(
		&mut self,
		setup: &DkgSetup,
		commitments: &BTreeMap<ParticipantIndex, Vec<u8>>,
	) -> Result<SignedMessage, SignerError> {
		setup.count()?;
		let me = self.my_index(setup)?;
		let (_, _, outgoing) = self.round2(setup, me, commitments)?;
		let ephemeral = SecretScalar::from_bytes(&random_secret(&self.rng))
			.map_err(|_| SignerError::InvalidDkgSetup("random ephemeral key out of range"))?;
		let mut shares = Vec::with_capacity(outgoing.len());
		for (index, participant) in setup.participants.iter().enumerate() {
			let recipient = index as ParticipantIndex + 1;
			if recipient == me {
				continue;
			}
			let package = outgoing
				.get(&identifier(recipient)?)
				.ok_or(SignerError::MissingShare { sender: me })?;
			let share: [u8; 32] = package
				.signing_share()
				.serialize()
				.try_into()
				.map_err(|_| SignerError::InvalidDkgSetup("signing share is not 32 bytes"))?;
			let context = ShareContext { dkg_id: setup.dkg_id, sender: me, recipient };
			let encrypted =
				encrypt_share(&ephemeral, &participant.encryption_key, &context, &share)
					.map_err(|_| SignerError::BadCommitment { culprit: recipient })?;
			shares.push(encrypted);
		}
		Ok(self.sign(CustodyMessage::DkgShares(DkgShares {
			dkg_id: setup.dkg_id,
			sender: me,
			ephemeral_key: ephemeral.public_key(),
			shares,
		})))
	}

	/// Finishes a DKG: decrypts the share every other participant sent, checks it against
	/// that participant's commitment, and either stores the key share and attests the group
	/// key, or accuses the first participant whose share is bad (with the proof the chain
	/// needs to check the accusation itself).
	pub fn dkg_finish(
		&mut self,
		setup: &DkgSetup,
		commitments: &BTreeMap<ParticipantIndex, Vec<u8>>,
		received: &BTreeMap<ParticipantIndex, ReceivedShares>,
	) -> Result<DkgOutcome, SignerError> {
		setup.count()?;
		let me = self.my_index(setup)?;
		let (packages, round2_secret, _) = self.round2(setup, me, commitments)?;
		let mut incoming = BTreeMap::new();
		for sender in 1..=setup.participants.len() as ParticipantIndex {
			if sender == me {
				continue;
			}
			let from = received.get(&sender).ok_or(SignerError::MissingShare { sender })?;
			// The sender's list skips the sender itself.
			let position = if me < sender { me - 1 } else { me - 2 } as usize;
			let encrypted =
				from.shares.get(position).ok_or(SignerError::MissingShare { sender })?;
			let context = ShareContext { dkg_id: setup.dkg_id, sender, recipient: me };
			let decrypted = shared_point(&self.encryption, &from.ephemeral_key)
				.ok()
				.and_then(|point| decrypt_share(&point, &context, encrypted).ok())
				.and_then(|bytes| SigningShare::deserialize(&bytes).ok());
			match decrypted {
				Some(share) => {
					incoming.insert(identifier(sender)?, dkg::round2::Package::new(share));
				},
				None => return self.complain(setup.dkg_id, me, sender, &from.ephemeral_key),
			}
		}
		// part3 checks every share against its sender's commitment (the expensive step, n x t
		// point operations) and names the first bad one.
		let (key_package, public_key_package) =
			match dkg::part3(&round2_secret, &packages, &incoming) {
				Ok(keys) => keys,
				Err(frost::Error::InvalidSecretShare { culprit: Some(culprit) }) => {
					let sender = index_of_identifier(&culprit).ok_or(SignerError::Frost(
						frost::Error::InvalidSecretShare { culprit: Some(culprit) },
					))?;
					let ephemeral_key = received
						.get(&sender)
						.ok_or(SignerError::MissingShare { sender })?
						.ephemeral_key;
					return self.complain(setup.dkg_id, me, sender, &ephemeral_key);
				},
				Err(e) => return Err(e.into()),
			};
		self.store.put_key_share(
			setup.dkg_id,
			&KeyShare {
				key_package: key_package.serialize()?,
				public_key_package: public_key_package.serialize()?,
			},
		)?;
		let group_key = x_only_key(&public_key_package)?;
		let message = self.sign(CustodyMessage::DkgKeyAttestation(DkgKeyAttestation {
			dkg_id: setup.dkg_id,
			sender: me,
			public_key_package: public_key_package.serialize()?,
		}));
		Ok(DkgOutcome::Attest { message, group_key })
	}

	fn complain(
		&self,
		dkg_id: DkgId,
		me: ParticipantIndex,
		accused: ParticipantIndex,
		ephemeral_key: &[u8; 33],
	) -> Result<DkgOutcome, SignerError> {
		let (shared_point, proof) = prove_shared_point(&self.encryption, ephemeral_key)
			.map_err(|_| SignerError::BadCommitment { culprit: accused })?;
		let message = self.sign(CustodyMessage::DkgComplaint(DkgComplaint {
			dkg_id,
			sender: me,
			accused,
			shared_point,
			proof,
		}));
		Ok(DkgOutcome::Complain { message, accused })
	}

	fn key_package(&self, dkg_id: DkgId) -> Result<KeyPackage, SignerError> {
		let share = self.store.key_share(dkg_id)?.ok_or(SignerError::NoKeyShare(dkg_id))?;
		Ok(KeyPackage::deserialize(&share.key_package)?)
	}

	/// Signing round 1: fresh nonces for each of `message_count` messages of a session's
	/// attempt, signed with the key share of the epoch DKG `key_dkg_id` made. Nonces stay in
	/// memory and are made at most once per attempt.
	pub fn signing_commit(
		&mut self,
		key_dkg_id: DkgId,
		my_index: ParticipantIndex,
		session_id: SigningSessionId,
		attempt: u32,
		message_count: usize,
	) -> Result<SignedMessage, SignerError> {
		if let Some(sent) = self.sent_commitments.get(&(session_id, attempt)) {
			return match &sent.message {
				CustodyMessage::SigningCommitment(m) if m.commitments.len() == message_count => {
					Ok(sent.clone())
				},
				_ => Err(SignerError::NoncesAlreadyCommitted { session_id, attempt }),
			};
		}
		let key_package = self.key_package(key_dkg_id)?;
		let mut nonces = Vec::with_capacity(message_count);
		let mut commitments = Vec::with_capacity(message_count);
		{
			let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
			for _ in 0..message_count {
				let (nonce, commitment) =
					frost::round1::commit(key_package.signing_share(), &mut *rng);
				commitments.push(commitment.serialize()?);
				nonces.push(nonce);
			}
		}
		self.nonces.insert((session_id, attempt), nonces);
		let signed = self.sign(CustodyMessage::SigningCommitment(SigningCommitment {
			session_id,
			attempt,
			sender: my_index,
			commitments,
		}));
		remember(&mut self.sent_commitments, (session_id, attempt), signed.clone());
		Ok(signed)
	}

	/// Signing round 2: this signer's share for each message, given the commitments of the
	/// signing set the chain fixed (one list per signer, one commitment per message) and the
	/// key's script-tree Merkle root, if it commits to one. The
	/// attempt's nonces are consumed whether or not signing succeeds.
	// Each argument is one of the chain's coordinates of the attempt (key, index, session,
	// attempt, messages, commitments, tree); bundling them would only move the list.
	#[allow(clippy::too_many_arguments)]
	pub fn signing_shares(
		&mut self,
		key_dkg_id: DkgId,
		my_index: ParticipantIndex,
		session_id: SigningSessionId,
		attempt: u32,
		messages: &[[u8; 32]],
		commitments: &BTreeMap<ParticipantIndex, Vec<Vec<u8>>>,
		merkle_root: Option<&[u8; 32]>,
	) -> Result<SignedMessage, SignerError> {
		if let Some(sent) = self.sent_shares.get(&(session_id, attempt)) {
			return if sent.messages == messages && &sent.commitments == commitments {
				Ok(sent.message.clone())
			} else {
				Err(SignerError::NoNonces { session_id, attempt })
			};
		}
		let nonces = self
			.nonces
			.remove(&(session_id, attempt))
			.ok_or(SignerError::NoNonces { session_id, attempt })?;
		if nonces.len() != messages.len() {
			return Err(SignerError::BadSigningPackage(format!(
				"{} messages for {} nonces",
				messages.len(),
				nonces.len()
			)));
		}
		let key_package = self.key_package(key_dkg_id)?;
		let mut shares = Vec::with_capacity(messages.len());
		for (position, (message, nonce)) in messages.iter().zip(&nonces).enumerate() {
			let package = signing_package(commitments, position, message)?;
			// With a script tree the shares are for the tweaked output key (BIP-341).
			let share = match merkle_root {
				None => frost::round2::sign(&package, nonce, &key_package)?,
				Some(root) => {
					frost::round2::sign_with_tweak(&package, nonce, &key_package, Some(&root[..]))?
				},
			};
			let bytes: [u8; 32] = share.serialize().try_into().map_err(|_| {
				SignerError::BadSigningPackage("signature share is not 32 bytes".into())
			})?;
			shares.push(bytes);
		}
		let signed = self.sign(CustodyMessage::SignatureShares(SignatureShares {
			session_id,
			attempt,
			sender: my_index,
			shares,
		}));
		let sent = SentShares {
			messages: messages.to_vec(),
			commitments: commitments.clone(),
			message: signed.clone(),
		};
		remember(&mut self.sent_shares, (session_id, attempt), sent);
		Ok(signed)
	}
}

/// Round 2 of a DKG as this signer computes it: everyone's round-1 packages, its own
/// round-2 secret and the shares it sends.
type Round2 = (
	BTreeMap<Identifier, dkg::round1::Package>,
	dkg::round2::SecretPackage,
	BTreeMap<Identifier, dkg::round2::Package>,
);

/// Signature shares sent for one attempt, with the inputs they were made from.
struct SentShares {
	messages: Vec<[u8; 32]>,
	commitments: BTreeMap<ParticipantIndex, Vec<Vec<u8>>>,
	message: SignedMessage,
}

/// Attempts remembered at most (the oldest sessions are forgotten first).
const REMEMBERED_ATTEMPTS: usize = 256;

fn remember<V>(
	map: &mut BTreeMap<(SigningSessionId, u32), V>,
	key: (SigningSessionId, u32),
	value: V,
) {
	map.insert(key, value);
	while map.len() > REMEMBERED_ATTEMPTS {
		map.pop_first();
	}
}

/// The FROST signing package of message `position` of a session, from every signer's list
/// of commitments (as carried in [`SigningCommitment`] messages).
pub fn signing_package(
	commitments: &BTreeMap<ParticipantIndex, Vec<Vec<u8>>>,
	position: usize,
	message: &[u8; 32],
) -> Result<SigningPackage, SignerError> {
	let mut map = BTreeMap::new();
	for (index, list) in commitments {
		let bytes = list.get(position).ok_or_else(|| {
			SignerError::BadSigningPackage(format!("signer {index} sent no commitment {position}"))
		})?;
		let commitment = SigningCommitments::deserialize(bytes).map_err(|_| {
			SignerError::BadSigningPackage(format!(
				"signer {index}'s commitment {position} is malformed"
			))
		})?;
		map.insert(identifier(*index)?, commitment);
	}
	Ok(SigningPackage::new(map, message))
}

/// The group key of a public key package as a BIP-340 x-only key: the Taproot output key.
pub fn x_only_key(package: &PublicKeyPackage) -> Result<[u8; 32], SignerError> {
	let compressed = package.verifying_key().serialize()?;
	let mut key = [0u8; 32];
	key.copy_from_slice(&compressed[1..]);
	Ok(key)
}

fn random_secret(rng: &Mutex<Box<dyn SignerRng>>) -> [u8; 32] {
	let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
	loop {
		let mut bytes = [0u8; 32];
		rng.fill_bytes(&mut bytes);
		if SecretScalar::from_bytes(&bytes).is_ok() {
			return bytes;
		}
	}
}
