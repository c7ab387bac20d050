//! Signers run whole DKGs and signing rounds with each other, the test playing the chain.

use std::collections::BTreeMap;

use bitcoin::{
	hashes::Hash,
	key::{TweakedPublicKey, XOnlyPublicKey},
	secp256k1::{schnorr, Message, Secp256k1},
	sighash::{Prevouts, SighashCache, TapSighashType},
	transaction::Version,
	Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use frost_secp256k1_tr as frost;
use tapchain_primitives::custody::{
	decrypt_share, encrypt_share, verify_auth, verify_shared_point, CustodyMessage, EncryptedShare,
	ParticipantIndex, SecretScalar, ShareContext,
};
use tapchain_signer::{
	signing_package, x_only_key, DkgOutcome, DkgParticipant, DkgSetup, ReceivedShares,
	SignedMessage, Signer, SignerError,
};
use tempfile::TempDir;

const GENESIS: [u8; 32] = [0x42; 32];

struct Committee {
	signers: Vec<Signer>,
	setup: DkgSetup,
	_dirs: Vec<TempDir>,
}

fn threshold(n: usize) -> u16 {
	(2 * n / 3 + 1) as u16
}

fn committee(n: usize, dkg_id: u64) -> Committee {
	let dirs: Vec<TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
	let signers: Vec<Signer> =
		dirs.iter().map(|d| Signer::open(d.path(), GENESIS).unwrap()).collect();
	let participants = signers
		.iter()
		.map(|s| DkgParticipant { identity: s.identity(), encryption_key: s.encryption_key() })
		.collect();
	Committee {
		signers,
		setup: DkgSetup { dkg_id, threshold: threshold(n), participants },
		_dirs: dirs,
	}
}

fn checked(message: &SignedMessage, signer: &Signer) -> CustodyMessage {
	assert!(verify_auth(&signer.identity(), &message.message.digest(&GENESIS), &message.signature));
	message.message.clone()
}

fn round1(c: &mut Committee) -> BTreeMap<ParticipantIndex, Vec<u8>> {
	let mut commitments = BTreeMap::new();
	for signer in c.signers.iter_mut() {
		let signed = signer.dkg_commit(&c.setup).unwrap();
		let CustodyMessage::DkgCommitment(m) = checked(&signed, signer) else {
			panic!("not a commitment")
		};
		commitments.insert(m.sender, m.package);
	}
	commitments
}

fn round2(
	c: &mut Committee,
	commitments: &BTreeMap<ParticipantIndex, Vec<u8>>,
) -> BTreeMap<ParticipantIndex, ReceivedShares> {
	let mut received = BTreeMap::new();
	for signer in c.signers.iter_mut() {
		let signed = signer.dkg_shares(&c.setup, commitments).unwrap();
		let CustodyMessage::DkgShares(m) = checked(&signed, signer) else { panic!("not shares") };
		assert_eq!(m.shares.len(), c.setup.participants.len() - 1);
		received
			.insert(m.sender, ReceivedShares { ephemeral_key: m.ephemeral_key, shares: m.shares });
	}
	received
}

/// Runs a whole honest DKG; returns the group key every participant attested.
fn run_dkg(c: &mut Committee) -> [u8; 32] {
	let commitments = round1(c);
	let received = round2(c, &commitments);
	let mut keys = Vec::new();
	for signer in c.signers.iter_mut() {
		match signer.dkg_finish(&c.setup, &commitments, &received).unwrap() {
			DkgOutcome::Attest { message, group_key } => {
				let CustodyMessage::DkgKeyAttestation(m) = checked(&message, signer) else {
					panic!()
				};
				let package =
					frost::keys::PublicKeyPackage::deserialize(&m.public_key_package).unwrap();
				assert_eq!(x_only_key(&package).unwrap(), group_key);
				keys.push(group_key);
			},
			other => panic!("honest DKG produced {other:?}"),
		}
	}
	assert!(keys.windows(2).all(|w| w[0] == w[1]), "participants derived different keys");
	keys[0]
}

/// Signs `messages` with the signers at `set` (0-based positions) and aggregates like the
/// chain does.
fn sign(
	c: &mut Committee,
	set: &[usize],
	session_id: u64,
	messages: &[[u8; 32]],
) -> Vec<frost::Signature> {
	let dkg_id = c.setup.dkg_id;
	let mut commitments = BTreeMap::new();
	for &i in set {
		let index = i as ParticipantIndex + 1;
		let signed =
			c.signers[i].signing_commit(dkg_id, index, session_id, 0, messages.len()).unwrap();
		let CustodyMessage::SigningCommitment(m) = checked(&signed, &c.signers[i]) else {
			panic!()
		};
		commitments.insert(m.sender, m.commitments);
	}
	let mut shares: BTreeMap<ParticipantIndex, Vec<[u8; 32]>> = BTreeMap::new();
	for &i in set {
		let index = i as ParticipantIndex + 1;
		let signed = c.signers[i]
			.signing_shares(dkg_id, index, session_id, 0, messages, &commitments, None)
			.unwrap();
		let CustodyMessage::SignatureShares(m) = checked(&signed, &c.signers[i]) else { panic!() };
		shares.insert(m.sender, m.shares);
	}
	let public = c.signers[set[0]].public_key_package(dkg_id).unwrap();
	(0..messages.len())
		.map(|position| {
			let package = signing_package(&commitments, position, &messages[position]).unwrap();
			let shares = shares
				.iter()
				.map(|(index, list)| {
					let id = frost::Identifier::try_from(*index).unwrap();
					(id, frost::round2::SignatureShare::deserialize(&list[position]).unwrap())
				})
				.collect();
			frost::aggregate(&package, &shares, &public).unwrap()
		})
		.collect()
}

fn signature_bytes(signature: &frost::Signature) -> [u8; 64] {
	signature.serialize().unwrap().try_into().unwrap()
}

fn assert_verifies_with_k256(
	group_key: &[u8; 32],
	message: &[u8; 32],
	signature: &frost::Signature,
) {
	let key = k256::schnorr::VerifyingKey::from_bytes(group_key).unwrap();
	let signature = k256::schnorr::Signature::try_from(&signature_bytes(signature)[..]).unwrap();
	key.verify_raw(message, &signature).expect("k256 accepts the FROST signature");
}

/// A transaction spending a P2TR output of `group_key` (as output key, no script path).
fn taproot_spend(group_key: &[u8; 32]) -> (Transaction, TxOut) {
	let output_key =
		TweakedPublicKey::dangerous_assume_tweaked(XOnlyPublicKey::from_slice(group_key).unwrap());
	let prevout = TxOut {
		value: Amount::from_sat(100_000),
		script_pubkey: ScriptBuf::new_p2tr_tweaked(output_key),
	};
	let tx = Transaction {
		version: Version::TWO,
		lock_time: bitcoin::absolute::LockTime::ZERO,
		input: vec![TxIn {
			previous_output: OutPoint { txid: bitcoin::Txid::from_byte_array([7; 32]), vout: 1 },
			script_sig: ScriptBuf::new(),
			sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
			witness: Witness::new(),
		}],
		output: vec![TxOut {
			value: Amount::from_sat(90_000),
			script_pubkey: ScriptBuf::new_op_return([1u8; 4]),
		}],
	};
	(tx, prevout)
}

fn dkg_then_sign_with_any_threshold_subset(n: usize) {
	let mut c = committee(n, 1);
	let group_key = run_dkg(&mut c);
	let t = c.setup.threshold as usize;

	// A Taproot key-path spend of an output paying the group key, signed by the first t and
	// by the last t participants.
	let (tx, prevout) = taproot_spend(&group_key);
	let sighash = SighashCache::new(&tx)
		.taproot_key_spend_signature_hash(
			0,
			&Prevouts::All(std::slice::from_ref(&prevout)),
			TapSighashType::Default,
		)
		.unwrap();
	let message: [u8; 32] = sighash.to_byte_array();
	let other: [u8; 32] = [0xab; 32];
	let first: Vec<usize> = (0..t).collect();
	let last: Vec<usize> = (n - t..n).collect();
	for (session, set) in [(1, first), (2, last)] {
		let signatures = sign(&mut c, &set, session, &[message, other]);
		assert_verifies_with_k256(&group_key, &message, &signatures[0]);
		assert_verifies_with_k256(&group_key, &other, &signatures[1]);
		// The `bitcoin` crate (libsecp256k1) accepts it for the P2TR output's key path.
		let secp = Secp256k1::verification_only();
		let signature = schnorr::Signature::from_slice(&signature_bytes(&signatures[0])).unwrap();
		let output_key =
			XOnlyPublicKey::from_slice(&prevout.script_pubkey.as_bytes()[2..]).unwrap();
		secp.verify_schnorr(&signature, &Message::from_digest(message), &output_key)
			.expect("libsecp256k1 accepts the key-path signature");
		// A signature for one message does not verify another.
		assert!(secp
			.verify_schnorr(&signature, &Message::from_digest(other), &output_key)
			.is_err());
	}
}

#[test]
fn dkg_and_signing_with_4_participants() {
	dkg_then_sign_with_any_threshold_subset(4);
}

#[test]
fn dkg_and_signing_with_7_participants() {
	dkg_then_sign_with_any_threshold_subset(7);
}

#[test]
fn dkg_and_signing_with_16_participants() {
	dkg_then_sign_with_any_threshold_subset(16);
}

#[test]
fn fewer_than_threshold_cannot_sign() {
	let mut c = committee(4, 1);
	run_dkg(&mut c);
	let messages = [[1u8; 32]];
	let mut commitments = BTreeMap::new();
	for i in 0..2 {
		let signed = c.signers[i].signing_commit(1, i as u16 + 1, 5, 0, 1).unwrap();
		let CustodyMessage::SigningCommitment(m) = signed.message else { panic!() };
		commitments.insert(m.sender, m.commitments);
	}
	let error = c.signers[0].signing_shares(1, 1, 5, 0, &messages, &commitments, None).unwrap_err();
	assert!(
		matches!(error, SignerError::Frost(frost::Error::IncorrectNumberOfCommitments)),
		"{error:?}"
	);
}

#[test]
fn a_share_that_does_not_decrypt_is_blamed_on_its_sender_with_proof() {
	let mut c = committee(4, 9);
	let commitments = round1(&mut c);
	let mut received = round2(&mut c, &commitments);
	// Participant 3's share for participant 1 is corrupted in transit.
	received.get_mut(&3).unwrap().shares[0].0[5] ^= 0x40;
	let outcome = c.signers[0].dkg_finish(&c.setup, &commitments, &received).unwrap();
	let DkgOutcome::Complain { message, accused } = outcome else {
		panic!("no complaint: {outcome:?}")
	};
	assert_eq!(accused, 3);
	let CustodyMessage::DkgComplaint(complaint) = checked(&message, &c.signers[0]) else {
		panic!()
	};
	assert_eq!((complaint.sender, complaint.accused), (1, 3));
	// Anyone can check the revealed point and see that the share does not decrypt.
	let ephemeral = received[&3].ephemeral_key;
	assert!(verify_shared_point(
		&c.setup.participants[0].encryption_key,
		&ephemeral,
		&complaint.shared_point,
		&complaint.proof
	));
	let context = ShareContext { dkg_id: 9, sender: 3, recipient: 1 };
	assert!(decrypt_share(&complaint.shared_point, &context, &received[&3].shares[0]).is_err());
	// No key share was stored by the complainer.
	assert!(!c.signers[0].has_key_share(9).unwrap());
}

#[test]
fn a_well_encrypted_share_off_the_senders_polynomial_is_blamed_on_its_sender() {
	let mut c = committee(4, 2);
	let commitments = round1(&mut c);
	let mut received = round2(&mut c, &commitments);
	// Participant 2 sends participant 4 a random scalar, correctly encrypted.
	let ephemeral = SecretScalar::from_bytes(&[0x33; 32]).unwrap();
	let context = ShareContext { dkg_id: 2, sender: 2, recipient: 4 };
	let forged: EncryptedShare =
		encrypt_share(&ephemeral, &c.setup.participants[3].encryption_key, &context, &[0x11; 32])
			.unwrap();
	let from_2 = received.get_mut(&2).unwrap();
	from_2.ephemeral_key = ephemeral.public_key();
	// Participant 4's share is the last in 2's list (recipients 1, 3, 4).
	from_2.shares[2] = forged;
	match c.signers[3].dkg_finish(&c.setup, &commitments, &received).unwrap() {
		DkgOutcome::Complain { accused, .. } => assert_eq!(accused, 2),
		other => panic!("no complaint: {other:?}"),
	}
}

#[test]
fn a_bad_proof_of_knowledge_names_its_sender() {
	let mut c = committee(4, 3);
	let mut commitments = round1(&mut c);
	// Participant 2 publishes participant 4's package as its own: the proof of knowledge is
	// bound to the identifier, so it fails for 2.
	let stolen = commitments[&4].clone();
	commitments.insert(2, stolen);
	let error = c.signers[0].dkg_shares(&c.setup, &commitments).unwrap_err();
	assert!(matches!(error, SignerError::BadCommitment { culprit: 2 }), "{error:?}");
	// Garbage bytes are blamed the same way.
	commitments.insert(2, vec![1, 2, 3]);
	let error = c.signers[0].dkg_shares(&c.setup, &commitments).unwrap_err();
	assert!(matches!(error, SignerError::BadCommitment { culprit: 2 }), "{error:?}");
}

#[test]
fn a_restarted_signer_finishes_its_dkg_and_keeps_its_key_share() {
	let mut c = committee(4, 4);
	let commitments = round1(&mut c);
	// Signer 1 restarts after round 1: same identity, same commitment.
	let dir = c._dirs[0].path().to_path_buf();
	let identity = c.signers[0].identity();
	c.signers[0] = Signer::open(&dir, GENESIS).unwrap();
	assert_eq!(c.signers[0].identity(), identity);
	let CustodyMessage::DkgCommitment(again) = c.signers[0].dkg_commit(&c.setup).unwrap().message
	else {
		panic!()
	};
	assert_eq!(again.package, commitments[&1]);
	let received = round2(&mut c, &commitments);
	// And again before finishing.
	c.signers[0] = Signer::open(&dir, GENESIS).unwrap();
	let mut keys = Vec::new();
	for signer in c.signers.iter_mut() {
		let DkgOutcome::Attest { group_key, .. } =
			signer.dkg_finish(&c.setup, &commitments, &received).unwrap()
		else {
			panic!()
		};
		keys.push(group_key);
	}
	assert!(keys.windows(2).all(|w| w[0] == w[1]));
	// The key share survives another restart and signs.
	c.signers[0] = Signer::open(&dir, GENESIS).unwrap();
	let signatures = sign(&mut c, &[0, 1, 2], 1, &[[9u8; 32]]);
	assert_verifies_with_k256(&keys[0], &[9u8; 32], &signatures[0]);
}

#[test]
fn nonces_are_never_reused_and_do_not_survive_a_restart() {
	let mut c = committee(4, 5);
	run_dkg(&mut c);
	let first = c.signers[0].signing_commit(5, 1, 7, 0, 1).unwrap();
	// Asked again (the message was lost), the signer resends the same commitment; asked for
	// another message count it refuses: it never makes a second set of nonces.
	assert_eq!(c.signers[0].signing_commit(5, 1, 7, 0, 1).unwrap(), first);
	assert!(matches!(
		c.signers[0].signing_commit(5, 1, 7, 0, 2),
		Err(SignerError::NoncesAlreadyCommitted { session_id: 7, attempt: 0 })
	));
	let mut commitments = BTreeMap::new();
	let CustodyMessage::SigningCommitment(m) = first.message else { panic!() };
	commitments.insert(1, m.commitments);
	for i in 1..3 {
		let CustodyMessage::SigningCommitment(m) =
			c.signers[i].signing_commit(5, i as u16 + 1, 7, 0, 1).unwrap().message
		else {
			panic!()
		};
		commitments.insert(m.sender, m.commitments);
	}
	let shares = c.signers[0].signing_shares(5, 1, 7, 0, &[[1u8; 32]], &commitments, None).unwrap();
	// The same request gets the same shares back; another message with the same nonces is refused.
	assert_eq!(
		c.signers[0].signing_shares(5, 1, 7, 0, &[[1u8; 32]], &commitments, None).unwrap(),
		shares
	);
	assert!(matches!(
		c.signers[0].signing_shares(5, 1, 7, 0, &[[2u8; 32]], &commitments, None),
		Err(SignerError::NoNonces { session_id: 7, attempt: 0 })
	));
	// Signer 2 restarts between its commitment and its share: the attempt is abandoned.
	let dir = c._dirs[1].path().to_path_buf();
	c.signers[1] = Signer::open(&dir, GENESIS).unwrap();
	assert!(matches!(
		c.signers[1].signing_shares(5, 2, 7, 0, &[[1u8; 32]], &commitments, None),
		Err(SignerError::NoNonces { .. })
	));
}

#[test]
fn a_signer_refuses_a_package_that_changed_its_commitment() {
	let mut c = committee(4, 6);
	run_dkg(&mut c);
	let mut commitments = BTreeMap::new();
	for i in 0..3 {
		let CustodyMessage::SigningCommitment(m) =
			c.signers[i].signing_commit(6, i as u16 + 1, 1, 0, 1).unwrap().message
		else {
			panic!()
		};
		commitments.insert(m.sender, m.commitments);
	}
	// The coordinator swaps signer 1's commitment for signer 2's.
	let swapped = commitments[&2].clone();
	commitments.insert(1, swapped);
	let error =
		c.signers[0].signing_shares(6, 1, 1, 0, &[[1u8; 32]], &commitments, None).unwrap_err();
	assert!(matches!(error, SignerError::Frost(frost::Error::IncorrectCommitment)), "{error:?}");
}

#[test]
fn a_signer_outside_the_dkg_is_told_so() {
	let mut c = committee(4, 8);
	let dir = tempfile::tempdir().unwrap();
	let mut outsider = Signer::open(dir.path(), GENESIS).unwrap();
	assert!(matches!(outsider.dkg_commit(&c.setup), Err(SignerError::NotAParticipant(8))));
	let mut bad = c.setup.clone();
	bad.threshold = 1;
	assert!(matches!(c.signers[0].dkg_commit(&bad), Err(SignerError::InvalidDkgSetup(_))));
	bad.threshold = 5;
	assert!(matches!(c.signers[0].dkg_commit(&bad), Err(SignerError::InvalidDkgSetup(_))));
	let _ = &mut c;
}
