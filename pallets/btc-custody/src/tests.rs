//! The pallet with real FROST: `tapchain-signer` signers play the validators' nodes. Every
//! message goes through the pool's check first and is dispatched only if it passes, as in a
//! block; after every block the pallet's invariants are checked.

use crate::{mock::*, *};
use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	dispatch::GetDispatchInfo,
	traits::{Hooks, UnfilteredDispatchable},
};
use sp_runtime::{
	testing::{TestSignature, UintAuthorityId},
	DispatchError,
};
use std::collections::BTreeMap;
use tapchain_primitives::custody::{AuthSignature, CustodyMessage, DleqProof, SharedPoint};
use tapchain_signer::{SignedMessage, Signer};
use tempfile::TempDir;

fn call_of(signed: SignedMessage) -> Call<Test> {
	Call::from_message(signed.message, signed.signature)
}

/// Validators' signers, keyed by account.
struct Nodes {
	signers: BTreeMap<u64, Signer>,
	_dirs: Vec<TempDir>,
}

fn genesis_hash() -> [u8; 32] {
	System::block_hash(0).into()
}

fn nodes(validators: u64) -> Nodes {
	let mut dirs = Vec::new();
	let mut signers = BTreeMap::new();
	for v in 1..=validators {
		let dir = tempfile::tempdir().unwrap();
		signers.insert(v, Signer::open(dir.path(), genesis_hash()).unwrap());
		dirs.push(dir);
	}
	Nodes { signers, _dirs: dirs }
}

/// Submits an unsigned call as the pool and the block do: the full check
/// (`validate_unsigned`), then dispatch. Returns what the check refused; a message that
/// passed it must dispatch (no free block space), never above its declared weight.
fn submit(call: Call<Test>) -> Result<(), sp_runtime::DispatchError> {
	#[allow(deprecated)]
	let validity = <BtcCustody as sp_runtime::traits::ValidateUnsigned>::validate_unsigned(
		sp_runtime::transaction_validity::TransactionSource::External,
		&call,
	);
	let verified = BtcCustody::verify_custody_message(&call);
	assert_eq!(validity.is_ok(), verified.is_ok(), "validate_unsigned and the check agree");
	if let Err(error) = verified {
		return Err(error.expect("a custody message").into());
	}
	let declared = call.get_dispatch_info().call_weight;
	let refunded = !matches!(call, Call::register_custody_keys { .. });
	let post = call
		.clone()
		.dispatch_bypass_filter(RuntimeOrigin::none())
		.unwrap_or_else(|e| panic!("{call:?} passed the pool's check but failed: {e:?}"));
	if refunded {
		let actual = post.actual_weight.expect("a DKG or signing message refunds");
		assert!(actual.all_lte(declared), "{actual:?} > {declared:?} for {call:?}");
	}
	Ok(())
}

/// Opens a signing session as the bridge would.
fn open(epoch: u32, messages: Vec<[u8; 32]>) -> Result<SigningSessionId, DispatchError> {
	BtcCustody::open_session(epoch, messages).map_err(Into::into)
}

/// Retires an epoch as the bridge would.
fn retire(epoch: u32) -> Result<(), DispatchError> {
	BtcCustody::do_retire_epoch(epoch).map_err(Into::into)
}

fn registration_call(nodes: &Nodes, validator: u64, session_key: u64) -> Call<Test> {
	let nonce = RegistrationNonces::<Test>::get(validator);
	let (payload, identity_signature) = nodes.signers[&validator].registration(validator, nonce);
	let session_signature = TestSignature(session_key, payload.encode());
	Call::register_custody_keys {
		payload,
		session_key: UintAuthorityId(session_key),
		session_signature,
		identity_signature,
	}
}

fn register_all(nodes: &Nodes) {
	for v in nodes.signers.keys() {
		assert_ok!(submit(registration_call(nodes, *v, *v)));
	}
}

fn next_block() {
	let now = System::block_number() + 1;
	System::set_block_number(now);
	BtcCustody::on_initialize(now);
	BtcCustody::do_try_state().expect("custody invariants hold");
}

/// Every node except `silent` does its pending tasks once; returns how many messages went in.
fn step(nodes: &mut Nodes, silent: &[u64]) -> usize {
	let mut sent = 0;
	for (v, signer) in nodes.signers.iter_mut() {
		if silent.contains(v) {
			continue;
		}
		for task in BtcCustody::pending_tasks(v) {
			let signed =
				signer.handle_task(&task).unwrap_or_else(|e| panic!("node {v}: {e} for {task:?}"));
			assert_eq!(submit(call_of(signed)), Ok(()), "node {v}'s message for {task:?}");
			sent += 1;
		}
	}
	BtcCustody::do_try_state().expect("custody invariants hold");
	sent
}

/// Blocks go by, nodes answering, until `done` holds (at most `blocks` blocks).
fn run_until(nodes: &mut Nodes, silent: &[u64], blocks: u32, done: impl Fn() -> bool) {
	for _ in 0..blocks {
		step(nodes, silent);
		if done() {
			return;
		}
		next_block();
	}
	panic!("not done after {blocks} blocks; events: {:?}", System::events());
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::BtcCustody(e) = r.event { Some(e) } else { None })
		.collect()
}

fn verify_bip340(output_key: &[u8; 32], message: &[u8; 32], signature: &[u8; 64]) -> bool {
	let key = k256::schnorr::VerifyingKey::from_bytes(output_key).unwrap();
	let signature = k256::schnorr::Signature::try_from(&signature[..]).unwrap();
	key.verify_raw(message, &signature).is_ok()
}

/// Registers everyone and runs the first DKG to its key epoch.
fn with_epoch(nodes: &mut Nodes, silent: &[u64]) -> EpochOf<Test> {
	register_all(nodes);
	next_block();
	run_until(nodes, silent, 40, || CurrentEpoch::<Test>::get().is_some());
	Epochs::<Test>::get(CurrentEpoch::<Test>::get().unwrap()).unwrap()
}

fn session_signatures(session_id: u64) -> Vec<[u8; 64]> {
	Signatures::<Test>::get(session_id).expect("signed").into_inner()
}

fn members_of(epoch: &EpochOf<Test>) -> Vec<u64> {
	epoch.members.iter().map(|m| m.0).collect()
}

#[test]
fn full_dkg_then_signing_through_extrinsics() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		assert!(events().contains(&Event::DkgStarted {
			dkg_id: 1,
			vault: 0,
			participants: vec![1, 2, 3, 4],
			threshold: 3
		}));
		run_until(&mut nodes, &[], 10, || CurrentEpoch::<Test>::get().is_some());

		let epoch = Epochs::<Test>::get(0).unwrap();
		assert_eq!((epoch.dkg_id, epoch.threshold, epoch.members.len()), (1, 3, 4));
		// Every node holds a share of the key the chain recorded, and every member's stake
		// is held while the key is live.
		for signer in nodes.signers.values() {
			let package = signer.public_key_package(1).unwrap();
			assert_eq!(tapchain_signer::x_only_key(&package).unwrap(), epoch.output_key);
		}
		assert_eq!(HeldStake::get(), vec![1, 2, 3, 4]);
		assert_eq!(BtcCustody::current_custody_key(), Some((0, 1, epoch.output_key)));
		// DKG data is cleaned up.
		assert!(ActiveDkg::<Test>::get().is_none());
		assert_eq!(DkgCommitments::<Test>::iter_prefix(1).count(), 0);
		assert!(!DkgGroupCommitment::<Test>::contains_key(1));

		let messages = vec![[1u8; 32], [2u8; 32]];
		assert_noop!(
			BtcCustody::request_test_signatures(RuntimeOrigin::signed(1), messages.clone()),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_ok!(BtcCustody::request_test_signatures(RuntimeOrigin::root(), messages.clone()));
		run_until(&mut nodes, &[], 5, || Signatures::<Test>::contains_key(1));
		let signatures = session_signatures(1);
		assert!(verify_bip340(&epoch.output_key, &messages[0], &signatures[0]));
		assert!(verify_bip340(&epoch.output_key, &messages[1], &signatures[1]));
		assert!(!verify_bip340(&epoch.output_key, &messages[1], &signatures[0]));
		assert!(events().contains(&Event::SignaturesReady { session_id: 1, signatures }));
		assert!(OpenSessions::<Test>::get().is_empty());
		assert!(Offences::get().is_empty());
		// Nothing is left to do; closing the session forgets its signatures.
		assert_eq!(step(&mut nodes, &[]), 0);
		<BtcCustody as ThresholdCustody<u64>>::close_session(1);
		assert!(!Signatures::<Test>::contains_key(1));
	});
}

#[test]
fn no_dkg_before_two_thirds_are_registered_and_none_for_an_unchanged_set() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		assert_ok!(submit(registration_call(&nodes, 1, 1)));
		assert_ok!(submit(registration_call(&nodes, 2, 2)));
		next_block();
		assert!(ActiveDkg::<Test>::get().is_none(), "2 of 4 registered is not two thirds");
		assert_ok!(submit(registration_call(&nodes, 3, 3)));
		// Three of four is enough, but the fourth gets DkgRoundBlocks (5) to register first.
		for _ in 0..3 {
			next_block();
			assert!(ActiveDkg::<Test>::get().is_none());
		}
		next_block();
		next_block();
		assert_eq!(ActiveDkg::<Test>::get().unwrap().participants.len(), 3);
		run_until(&mut nodes, &[], 10, || CurrentEpoch::<Test>::get().is_some());
		// The late validator's registration starts a new DKG with all four.
		assert_ok!(submit(registration_call(&nodes, 4, 4)));
		next_block();
		assert_eq!(ActiveDkg::<Test>::get().unwrap().participants.len(), 4);
		run_until(&mut nodes, &[], 10, || CurrentEpoch::<Test>::get() == Some(1));
		// The set is now unchanged: no further DKG.
		next_block();
		next_block();
		assert!(ActiveDkg::<Test>::get().is_none());
	});
}

#[test]
fn a_members_new_identity_alone_starts_no_dkg() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		with_epoch(&mut nodes, &[]);
		// Validator 2 loses its key store and registers a new identity: the key's holders
		// are the same validators, so no rotation (one validator could otherwise force
		// endless DKGs and sweeps).
		let dir = tempfile::tempdir().unwrap();
		nodes.signers.insert(2, Signer::open(dir.path(), genesis_hash()).unwrap());
		nodes._dirs.push(dir);
		assert_ok!(submit(registration_call(&nodes, 2, 2)));
		for _ in 0..3 {
			next_block();
			assert!(ActiveDkg::<Test>::get().is_none());
		}
		// A change of the validator set rotates, with the new identity.
		Validators::set(vec![1, 2, 3]);
		next_block();
		let run = ActiveDkg::<Test>::get().unwrap();
		assert_eq!(run.participants[1].1, nodes.signers[&2].identity());
	});
}

#[test]
fn a_silent_participant_is_excluded_and_the_dkg_restarts_without_it() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		// Validator 4 never answers: after DkgRoundBlocks the DKG restarts with 1..=3.
		run_until(&mut nodes, &[4], 20, || CurrentEpoch::<Test>::get().is_some());
		assert!(events().contains(&Event::DkgRestarting {
			dkg_id: 1,
			excluded: vec![4],
			offence: CustodyOffence::DkgSilence
		}));
		assert_eq!(Offences::get(), vec![(CustodyOffence::DkgSilence, vec![4])]);
		let epoch = Epochs::<Test>::get(0).unwrap();
		assert_eq!(epoch.dkg_id, 2);
		assert_eq!(members_of(&epoch), vec![1, 2, 3]);
		assert_eq!(epoch.threshold, 3);
		// The exclusion lasts for this validator set only.
		Validators::set(vec![1, 2, 3, 4, 5]);
		next_block();
		assert!(DkgExcluded::<Test>::get().is_empty());
	});
}

#[test]
fn a_key_needs_every_participants_attestation() {
	// Six validators, threshold 5. Two of them take part in rounds 1 and 2 and then never
	// attest. Two thirds of attestations (4 of 6) is one below the threshold: a key started
	// then could not sign without one of the silent ones. It must not start.
	new_test_ext(6).execute_with(|| {
		let mut nodes = nodes(6);
		register_all(&nodes);
		next_block();
		step(&mut nodes, &[]); // round 1
		step(&mut nodes, &[]); // round 2
		assert_eq!(ActiveDkg::<Test>::get().unwrap().phase, DkgPhase::Finish);
		for _ in 0..=DkgRoundBlocks::get() {
			step(&mut nodes, &[5, 6]);
			assert_eq!(CurrentEpoch::<Test>::get(), None, "four attestations start no key");
			next_block();
		}
		// The deadline excluded the two, and the DKG restarted among the four.
		assert!(events().contains(&Event::DkgRestarting {
			dkg_id: 1,
			excluded: vec![5, 6],
			offence: CustodyOffence::DkgSilence
		}));
		run_until(&mut nodes, &[5, 6], 10, || CurrentEpoch::<Test>::get().is_some());
		let epoch = Epochs::<Test>::get(0).unwrap();
		assert_eq!((members_of(&epoch), epoch.threshold), (vec![1, 2, 3, 4], 3));
		// Every member attested, so any three of them sign, without the excluded two.
		let session_id = open(0, vec![[4; 32]]).unwrap();
		run_until(&mut nodes, &[4, 5, 6], 5, || Signatures::<Test>::contains_key(session_id));
	});
}

#[test]
fn registration_is_bound_to_the_validator_session_key_identity_and_nonce() {
	new_test_ext(4).execute_with(|| {
		let nodes = nodes(4);
		// Validator 1's keys with validator 2's session key: not 1's key.
		assert_eq!(
			submit(registration_call(&nodes, 1, 2)),
			Err(Error::<Test>::NotValidatorSessionKey.into())
		);
		// A non-validator cannot register.
		let dir = tempfile::tempdir().unwrap();
		let outsider = Nodes {
			signers: BTreeMap::from([(9, Signer::open(dir.path(), genesis_hash()).unwrap())]),
			_dirs: vec![],
		};
		assert_eq!(
			submit(registration_call(&outsider, 9, 9)),
			Err(Error::<Test>::NotValidatorSessionKey.into())
		);
		// Session signature over another payload.
		let Call::register_custody_keys { payload, session_key, identity_signature, .. } =
			registration_call(&nodes, 1, 1)
		else {
			unreachable!()
		};
		let forged = Call::register_custody_keys {
			payload: payload.clone(),
			session_key: session_key.clone(),
			session_signature: TestSignature(1, b"something else".to_vec()),
			identity_signature,
		};
		assert_eq!(submit(forged), Err(Error::<Test>::BadSessionSignature.into()));
		// Identity signature that is not the identity's (proof of possession fails).
		let stolen = Call::register_custody_keys {
			payload: payload.clone(),
			session_key: session_key.clone(),
			session_signature: TestSignature(1, payload.encode()),
			identity_signature: AuthSignature([7; 64]),
		};
		assert_eq!(submit(stolen), Err(Error::<Test>::BadIdentitySignature.into()));
		// Another chain's registration.
		let mut other_chain = payload.clone();
		other_chain.genesis_hash = [9; 32];
		let wrong_genesis = Call::register_custody_keys {
			payload: other_chain.clone(),
			session_key: session_key.clone(),
			session_signature: TestSignature(1, other_chain.encode()),
			identity_signature: AuthSignature([7; 64]),
		};
		assert_eq!(submit(wrong_genesis), Err(Error::<Test>::WrongGenesis.into()));
		assert!(Registrations::<Test>::iter().next().is_none(), "nothing was stored");

		let first = registration_call(&nodes, 1, 1);
		assert_ok!(submit(first.clone()));
		assert_eq!(RegistrationNonces::<Test>::get(1), 1);
		// The same registration again is a replay of a used nonce.
		assert_eq!(submit(first.clone()), Err(Error::<Test>::StaleRegistrationNonce.into()));
		// Validator 1 re-registers with a new identity (nonce 1); the old registration
		// (nonce 0), replayed, cannot bring the old identity back.
		let dir = tempfile::tempdir().unwrap();
		let renewed = Nodes {
			signers: BTreeMap::from([(1, Signer::open(dir.path(), genesis_hash()).unwrap())]),
			_dirs: vec![],
		};
		assert_ok!(submit(registration_call(&renewed, 1, 1)));
		assert_eq!(submit(first), Err(Error::<Test>::StaleRegistrationNonce.into()));
		assert_eq!(Registrations::<Test>::get(1).unwrap().identity, renewed.signers[&1].identity());
		// Registering the same keys again changes nothing and is refused.
		assert_eq!(
			submit(registration_call(&renewed, 1, 1)),
			Err(Error::<Test>::AlreadyRegistered.into())
		);
		// Validator 2 cannot claim validator 1's identity.
		let Call::register_custody_keys { payload: mut theft, .. } =
			registration_call(&renewed, 1, 1)
		else {
			unreachable!()
		};
		theft.validator = 2;
		theft.nonce = 0;
		let claim = Call::register_custody_keys {
			payload: theft.clone(),
			session_key: UintAuthorityId(2),
			session_signature: TestSignature(2, theft.encode()),
			identity_signature: AuthSignature([0; 64]),
		};
		assert_eq!(submit(claim), Err(Error::<Test>::BadIdentitySignature.into()));
		assert_eq!(IdentityOwners::<Test>::get(renewed.signers[&1].identity()), Some(1));
	});
}

#[test]
fn dkg_messages_must_be_signed_by_the_senders_identity_and_are_not_replayable() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		let task = BtcCustody::pending_tasks(&1).remove(0);
		let signed = nodes.signers.get_mut(&1).unwrap().handle_task(&task).unwrap();
		// Signed by validator 2's identity while claiming to be participant 1.
		let forged = nodes.signers[&2].sign_message(signed.message.clone());
		assert_eq!(submit(call_of(forged)), Err(Error::<Test>::BadMessageSignature.into()));
		// Claiming an index nobody has.
		let CustodyMessage::DkgCommitment(mut nobody) = signed.message.clone() else {
			unreachable!()
		};
		nobody.sender = 9;
		let nobody = nodes.signers[&1].sign_message(CustodyMessage::DkgCommitment(nobody));
		assert_eq!(submit(call_of(nobody)), Err(Error::<Test>::UnknownSender.into()));

		assert_ok!(submit(call_of(signed.clone())));
		// The same message again is a replay.
		assert_eq!(submit(call_of(signed.clone())), Err(Error::<Test>::Duplicate.into()));

		// Participant 2 publishes participant 1's package as its own: bad proof of knowledge,
		// refused by the pool, so it never takes block space.
		let CustodyMessage::DkgCommitment(mut copied) = signed.message.clone() else {
			unreachable!()
		};
		copied.sender = 2;
		let copied = nodes.signers[&2].sign_message(CustodyMessage::DkgCommitment(copied));
		assert_eq!(submit(call_of(copied)), Err(Error::<Test>::BadProofOfKnowledge.into()));
		assert!(!DkgCommitments::<Test>::contains_key(1, 2));

		// After a restart (validator 4 silent), round-1 messages of DKG 1 are refused.
		run_until(&mut nodes, &[4], 20, || ActiveDkg::<Test>::get().is_some_and(|r| r.dkg_id == 2));
		assert_eq!(submit(call_of(signed)), Err(Error::<Test>::UnknownDkg.into()));
	});
}

/// Replaces the next round-2 message of `cheater` with one whose share for `victim`
/// (a 1-based index) is corrupted, re-signed by the cheater.
fn corrupt_shares(nodes: &mut Nodes, cheater: u64, victim: u16) {
	let task = BtcCustody::pending_tasks(&cheater).remove(0);
	assert!(matches!(task, CustodyTask::DkgShare { .. }));
	let signed = nodes.signers.get_mut(&cheater).unwrap().handle_task(&task).unwrap();
	let CustodyMessage::DkgShares(mut message) = signed.message else { unreachable!() };
	let position = if victim < message.sender { victim - 1 } else { victim - 2 } as usize;
	message.shares[position].0[0] ^= 1;
	let forged = nodes.signers[&cheater].sign_message(CustodyMessage::DkgShares(message));
	assert_ok!(submit(call_of(forged)));
}

#[test]
fn a_bad_share_is_proved_by_its_victim_and_its_sender_excluded() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		step(&mut nodes, &[]); // round 1
		corrupt_shares(&mut nodes, 2, 1);
		step(&mut nodes, &[2]); // round 2 for the others; then validator 1 complains
		run_until(&mut nodes, &[], 20, || CurrentEpoch::<Test>::get().is_some());
		assert!(events().contains(&Event::DkgRestarting {
			dkg_id: 1,
			excluded: vec![2],
			offence: CustodyOffence::DkgBadShare
		}));
		assert_eq!(Offences::get(), vec![(CustodyOffence::DkgBadShare, vec![2])]);
		let epoch = Epochs::<Test>::get(0).unwrap();
		assert_eq!(members_of(&epoch), vec![1, 3, 4]);
	});
}

#[test]
fn a_late_complaint_still_stops_the_key_and_an_attester_cannot_complain() {
	// The others attest first; the victim of a bad share complains last. The key must not
	// start with the cheater in it (every participant's attestation is needed), and the
	// complaint excludes the cheater.
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		step(&mut nodes, &[]); // round 1
		corrupt_shares(&mut nodes, 2, 1);
		step(&mut nodes, &[2]); // round 2 for the others
		assert_eq!(ActiveDkg::<Test>::get().unwrap().phase, DkgPhase::Finish);
		step(&mut nodes, &[1]); // 2, 3 and 4 attest
		assert_eq!(CurrentEpoch::<Test>::get(), None);
		// An attester cannot complain after the fact.
		let complaint = tapchain_primitives::custody::DkgComplaint {
			dkg_id: 1,
			sender: 3,
			accused: 1,
			shared_point: SharedPoint(nodes.signers[&3].encryption_key().0),
			proof: DleqProof([1; 64]),
		};
		let signed = nodes.signers[&3].sign_message(CustodyMessage::DkgComplaint(complaint));
		assert_eq!(submit(call_of(signed)), Err(Error::<Test>::AlreadyAttested.into()));
		step(&mut nodes, &[]); // validator 1 complains
		assert!(events().contains(&Event::DkgRestarting {
			dkg_id: 1,
			excluded: vec![2],
			offence: CustodyOffence::DkgBadShare
		}));
		run_until(&mut nodes, &[], 20, || CurrentEpoch::<Test>::get().is_some());
		assert_eq!(members_of(&Epochs::<Test>::get(0).unwrap()), vec![1, 3, 4]);
	});
}

#[test]
fn a_false_complaint_excludes_the_complainer() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		step(&mut nodes, &[]); // round 1
		step(&mut nodes, &[]); // round 2
		assert_eq!(ActiveDkg::<Test>::get().unwrap().phase, DkgPhase::Finish);
		// Validator 3 accuses 1 with a made-up ECDH point.
		let complaint = tapchain_primitives::custody::DkgComplaint {
			dkg_id: 1,
			sender: 3,
			accused: 1,
			shared_point: SharedPoint(nodes.signers[&3].encryption_key().0),
			proof: DleqProof([1; 64]),
		};
		// Accusing oneself is refused outright.
		let own = tapchain_primitives::custody::DkgComplaint { accused: 3, ..complaint.clone() };
		let signed = nodes.signers[&3].sign_message(CustodyMessage::DkgComplaint(own));
		assert_eq!(submit(call_of(signed)), Err(Error::<Test>::BadComplaint.into()));
		let signed = nodes.signers[&3].sign_message(CustodyMessage::DkgComplaint(complaint));
		assert_ok!(submit(call_of(signed)));
		assert!(events().contains(&Event::DkgRestarting {
			dkg_id: 1,
			excluded: vec![3],
			offence: CustodyOffence::DkgFalseComplaint
		}));
		assert_eq!(Offences::get(), vec![(CustodyOffence::DkgFalseComplaint, vec![3])]);
	});
}

#[test]
fn an_attestation_of_another_package_is_outvoted_and_excluded() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		register_all(&nodes);
		next_block();
		step(&mut nodes, &[]); // round 1
		step(&mut nodes, &[]); // round 2
						 // Validator 4 attests a package with the right group key but its own verifying
						 // shares swapped around (the group key check alone cannot tell).
		let task = BtcCustody::pending_tasks(&4).remove(0);
		let signed = nodes.signers.get_mut(&4).unwrap().handle_task(&task).unwrap();
		let CustodyMessage::DkgKeyAttestation(mut attestation) = signed.message else {
			unreachable!()
		};
		let package = frost_secp256k1_tr::keys::PublicKeyPackage::deserialize(
			&attestation.public_key_package,
		)
		.unwrap();
		let mut shares: Vec<_> = package.verifying_shares().clone().into_iter().collect();
		let (first, second) = (shares[0].1, shares[1].1);
		shares[0].1 = second;
		shares[1].1 = first;
		let swapped = frost_secp256k1_tr::keys::PublicKeyPackage::new(
			shares.into_iter().collect(),
			*package.verifying_key(),
			package.min_signers(),
		);
		attestation.public_key_package = swapped.serialize().unwrap();
		let forged = nodes.signers[&4].sign_message(CustodyMessage::DkgKeyAttestation(attestation));
		assert_ok!(submit(call_of(forged)));
		step(&mut nodes, &[4]);
		assert_eq!(CurrentEpoch::<Test>::get(), None);
		assert!(Offences::get().contains(&(CustodyOffence::DkgWrongKey, vec![4])));
		run_until(&mut nodes, &[], 20, || CurrentEpoch::<Test>::get().is_some());
		assert_eq!(members_of(&Epochs::<Test>::get(0).unwrap()), vec![1, 2, 3]);
	});
}

#[test]
fn any_threshold_of_members_signs_whoever_else_is_silent() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		let epoch = with_epoch(&mut nodes, &[]);
		let message = [5u8; 32];
		let session_id = open(0, vec![message]).unwrap();
		// Every member may sign.
		assert_eq!(
			SigningSessions::<Test>::get(session_id).unwrap().allowed.into_inner(),
			vec![1, 2, 3, 4]
		);
		// Validator 1 never answers: the other three form the set.
		run_until(&mut nodes, &[1], 5, || Signatures::<Test>::contains_key(session_id));
		assert!(verify_bip340(&epoch.output_key, &message, &session_signatures(session_id)[0]));
		assert!(Offences::get().is_empty(), "a set filled without it: nobody waited for it");
	});
}

#[test]
fn a_silent_signer_is_replaced_in_a_new_attempt() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		let epoch = with_epoch(&mut nodes, &[]);
		let message = [5u8; 32];
		let session_id = open(0, vec![message]).unwrap();
		// All four commit; the first three (by identifier) form the set.
		step(&mut nodes, &[]);
		let session = SigningSessions::<Test>::get(session_id).unwrap();
		assert_eq!(session.signing_set.len(), 3);
		// Validator 2 (in the set) goes silent: after SigningAttemptBlocks a new attempt starts.
		run_until(&mut nodes, &[2], 20, || Signatures::<Test>::contains_key(session_id));
		assert!(events().contains(&Event::SigningRetry {
			session_id,
			attempt: 0,
			excluded: vec![2],
			offence: Some(CustodyOffence::SigningSilence)
		}));
		assert!(Offences::get().contains(&(CustodyOffence::SigningSilence, vec![2])));
		assert!(verify_bip340(&epoch.output_key, &message, &session_signatures(session_id)[0]));
		// The fault is recorded. With four members, a key of the other three (3 of 3) would
		// tolerate no more than this one still does: no rotation.
		assert_eq!(EpochFaults::<Test>::get(0).into_inner(), vec![2]);
		next_block();
		assert!(ActiveDkg::<Test>::get().is_none());
	});
}

#[test]
fn allowed_members_that_never_commit_are_named_and_the_session_fails_only_past_the_budget() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		with_epoch(&mut nodes, &[]);
		let session_id = open(0, vec![[8u8; 32]]).unwrap();
		// Only validators 1 and 2 answer (threshold 3): two faulty of four is more than the
		// one the key tolerates. The deadline names both silent members and, with too few
		// left, fails the session instead of retrying forever.
		for _ in 0..=SigningAttemptBlocks::get() {
			step(&mut nodes, &[3, 4]);
			next_block();
		}
		assert!(events().contains(&Event::SigningRetry {
			session_id,
			attempt: 0,
			excluded: vec![3, 4],
			offence: Some(CustodyOffence::SigningSilence)
		}));
		assert!(events().contains(&Event::SigningFailed { session_id }));
		assert!(Offences::get().contains(&(CustodyOffence::SigningSilence, vec![3, 4])));
		assert!(!SigningSessions::<Test>::contains_key(session_id));
		assert_eq!(
			<BtcCustody as ThresholdCustody<u64>>::signing_status(session_id),
			SigningStatus::Failed
		);
	});
}

#[test]
fn a_bad_signature_share_names_its_signer_who_is_excluded_on_retry() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		let epoch = with_epoch(&mut nodes, &[]);
		let message = [6u8; 32];
		let session_id = open(0, vec![message]).unwrap();
		step(&mut nodes, &[]); // commitments: set = 1, 2, 3
						 // Validator 3 sends a wrong share (validly signed by its identity).
		let task = BtcCustody::pending_tasks(&3).remove(0);
		let signed = nodes.signers.get_mut(&3).unwrap().handle_task(&task).unwrap();
		let CustodyMessage::SignatureShares(mut shares) = signed.message else { unreachable!() };
		shares.shares[0][31] ^= 1;
		assert_ok!(submit(call_of(
			nodes.signers[&3].sign_message(CustodyMessage::SignatureShares(shares))
		)));
		assert_eq!(
			<BtcCustody as ThresholdCustody<u64>>::signing_status(session_id),
			SigningStatus::Pending { shares_published: true }
		);
		step(&mut nodes, &[3]);
		assert!(events().contains(&Event::SigningRetry {
			session_id,
			attempt: 0,
			excluded: vec![3],
			offence: Some(CustodyOffence::BadSignatureShare)
		}));
		assert!(!Signatures::<Test>::contains_key(session_id));
		assert!(!SigningSessions::<Test>::get(session_id).unwrap().allowed.contains(&3));
		run_until(&mut nodes, &[], 5, || Signatures::<Test>::contains_key(session_id));
		assert!(verify_bip340(&epoch.output_key, &message, &session_signatures(session_id)[0]));
	});
}

#[test]
fn signing_messages_are_checked_against_the_session_before_they_take_block_space() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		with_epoch(&mut nodes, &[]);
		assert_noop!(open(0, vec![]), Error::<Test>::BadMessageCount);
		assert_noop!(open(7, vec![[0; 32]]), Error::<Test>::UnknownEpoch);
		let session_id = open(0, vec![[3; 32]]).unwrap();
		let task = BtcCustody::pending_tasks(&2).remove(0);
		let signed = nodes.signers.get_mut(&2).unwrap().handle_task(&task).unwrap();
		let CustodyMessage::SigningCommitment(real) = signed.message.clone() else {
			unreachable!()
		};
		let resign = |m: SigningCommitment| {
			call_of(nodes.signers[&2].sign_message(CustodyMessage::SigningCommitment(m)))
		};
		// Wrong attempt.
		let late = SigningCommitment { attempt: 5, ..real.clone() };
		assert_eq!(submit(resign(late)), Err(Error::<Test>::WrongAttempt.into()));
		// Two commitments for a one-message session; a malformed commitment; an oversized one.
		let two =
			SigningCommitment { commitments: vec![real.commitments[0].clone(); 2], ..real.clone() };
		assert_eq!(submit(resign(two)), Err(Error::<Test>::MalformedSigningMessage.into()));
		let garbage = SigningCommitment { commitments: vec![vec![1, 2, 3]], ..real.clone() };
		assert_eq!(submit(resign(garbage)), Err(Error::<Test>::MalformedSigningMessage.into()));
		let huge = SigningCommitment { commitments: vec![vec![2; 4_000]], ..real.clone() };
		assert_eq!(submit(resign(huge)), Err(Error::<Test>::MalformedSigningMessage.into()));
		// Someone else's index.
		let impostor = SigningCommitment { sender: 3, ..real.clone() };
		assert_eq!(submit(resign(impostor)), Err(Error::<Test>::BadMessageSignature.into()));
		// Shares before the set is chosen.
		let early = SignatureShares { session_id, attempt: 0, sender: 2, shares: vec![[1; 32]] };
		let early = call_of(nodes.signers[&2].sign_message(CustodyMessage::SignatureShares(early)));
		assert_eq!(submit(early), Err(Error::<Test>::SigningSetNotChosen.into()));
		assert_ok!(submit(call_of(signed.clone())));
		// Twice: a duplicate.
		assert_eq!(submit(call_of(signed)), Err(Error::<Test>::Duplicate.into()));
		step(&mut nodes, &[4]); // 1 and 3 complete the set
						  // Validator 4 is late: the set is full, its commitment takes no block space.
		let task = BtcCustody::pending_tasks(&4);
		assert!(task.is_empty(), "nothing to do for a member outside the set: {task:?}");
		let own =
			nodes.signers.get_mut(&4).unwrap().signing_commit(1, 4, session_id, 0, 1).unwrap();
		assert_eq!(submit(call_of(own)), Err(Error::<Test>::SigningSetFull.into()));
		// A member outside the set cannot send shares.
		let outside = SignatureShares { session_id, attempt: 0, sender: 4, shares: vec![[1; 32]] };
		let outside =
			call_of(nodes.signers[&4].sign_message(CustodyMessage::SignatureShares(outside)));
		assert_eq!(submit(outside), Err(Error::<Test>::NotAllowedSigner.into()));
		run_until(&mut nodes, &[], 3, || Signatures::<Test>::contains_key(session_id));
	});
}

#[test]
fn a_degraded_key_is_replaced_without_its_faulty_members() {
	// Seven members, threshold 5, two faults tolerated. Two faults spend the budget, and a
	// key of the five others (threshold 4) tolerates one more: the key is replaced.
	new_test_ext(7).execute_with(|| {
		let mut nodes = nodes(7);
		let first = with_epoch(&mut nodes, &[]);
		assert_eq!((first.members.len(), first.threshold), (7, 5));
		let session_id = open(0, vec![[1; 32]]).unwrap();
		step(&mut nodes, &[]); // 1..=5 form the set
						 // Validators 4 and 5 (in the set) go silent.
		run_until(&mut nodes, &[4, 5], 20, || Signatures::<Test>::contains_key(session_id));
		assert!(events().contains(&Event::KeyEpochDegraded {
			epoch: 0,
			trusted_members: 5,
			threshold: 5
		}));
		// The next block starts a DKG without them; the new key has five members.
		run_until(&mut nodes, &[4, 5], 20, || CurrentEpoch::<Test>::get() == Some(1));
		let second = Epochs::<Test>::get(1).unwrap();
		assert_eq!((members_of(&second), second.threshold), (vec![1, 2, 3, 6, 7], 4));
		// The old key's later sessions leave them out while five others remain.
		let session_id = open(0, vec![[2; 32]]).unwrap();
		let allowed = SigningSessions::<Test>::get(session_id).unwrap().allowed;
		assert_eq!(allowed.into_inner(), vec![1, 2, 3, 6, 7]);
	});
}

#[test]
fn a_new_validator_set_gets_a_new_key_epoch_and_the_old_one_signs_until_retired() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(5);
		for v in 1..=4 {
			assert_ok!(submit(registration_call(&nodes, v, v)));
		}
		// Not a validator yet: it cannot register.
		assert_eq!(
			submit(registration_call(&nodes, 5, 5)),
			Err(Error::<Test>::NotValidatorSessionKey.into())
		);
		next_block();
		run_until(&mut nodes, &[5], 10, || CurrentEpoch::<Test>::get().is_some());
		let first = Epochs::<Test>::get(0).unwrap();
		assert_eq!(first.members.len(), 4);
		// Validator 5 joins the set and registers; validator 4 leaves: a DKG among 1, 2, 3, 5.
		Validators::set(vec![1, 2, 3, 5]);
		assert_ok!(submit(registration_call(&nodes, 5, 5)));
		next_block();
		assert_eq!(ActiveDkg::<Test>::get().unwrap().participants.len(), 4);
		run_until(&mut nodes, &[], 10, || CurrentEpoch::<Test>::get() == Some(1));
		let second = Epochs::<Test>::get(1).unwrap();
		assert_ne!(second.output_key, first.output_key);
		assert_eq!((members_of(&second), second.threshold), (vec![1, 2, 3, 5], 3));
		// Validator 4 left the set but holds a share of a key that holds funds: its stake
		// stays held, and the old epoch still signs (its outputs have not moved yet).
		assert!(HeldStake::get().contains(&4));
		let message = [9u8; 32];
		let session_id = open(0, vec![message]).unwrap();
		run_until(&mut nodes, &[], 5, || Signatures::<Test>::contains_key(session_id));
		assert!(verify_bip340(&first.output_key, &message, &session_signatures(session_id)[0]));
		// Retired, it signs nothing more, and validator 4's stake is released; the current
		// epoch cannot be retired.
		assert_noop!(retire(1), Error::<Test>::EpochRetired);
		assert_noop!(retire(7), Error::<Test>::UnknownEpoch);
		let pending = open(0, vec![message]).unwrap();
		assert_ok!(retire(0));
		assert!(!SigningSessions::<Test>::contains_key(pending), "its open sessions close");
		assert_eq!(HeldStake::get(), vec![1, 2, 3, 5]);
		assert_eq!(BtcCustody::retired_key_dkg_ids(), vec![first.dkg_id]);
		assert_noop!(open(0, vec![message]), Error::<Test>::EpochRetired);
		assert_ok!(open(1, vec![message]));
		next_block();
	});
}
#[test]
fn a_theft_slashes_every_member_of_the_epoch_pro_rata_so_that_any_threshold_loses_what_it_took() {
	new_test_ext(4).execute_with(|| {
		let mut nodes = nodes(4);
		let epoch = with_epoch(&mut nodes, &[]);
		assert_eq!(members_of(&epoch), vec![1, 2, 3, 4]);
		assert_eq!(epoch.threshold, 3);
		StakeSats::set(vec![(1, 400_000), (2, 200_000), (3, 200_000), (4, 0)]);
		System::reset_events();
		// 150,000 sats taken. The poorest three members (4, 2, 3) hold half of the 800,000 at
		// stake, so the penalty is twice the theft: each member loses 3/8 of its stake, and
		// any three of them lose at least 150,000 between them.
		let slash =
			|epoch, sats| <BtcCustody as ThresholdCustody<u64>>::slash_for_theft(epoch, sats);
		assert_eq!(slash(0, 150_000), TheftSlash { burned_sats: 300_000, members: 4 });
		assert_eq!(
			events(),
			vec![Event::MembersSlashedForTheft {
				epoch: 0,
				stolen_sats: 150_000,
				penalty_sats: 300_000,
				slashed: vec![(1, 150_000), (2, 75_000), (3, 75_000)],
			}]
		);
		let stake = |v| <MockStake as CustodyStake<u64>>::at_stake_sats(&v);
		assert_eq!((stake(1), stake(2), stake(3), stake(4)), (250_000, 125_000, 125_000, 0));
		// More than they have left: everything at stake goes, and no more.
		assert_eq!(slash(0, 400_000).burned_sats, 500_000);
		assert_eq!((stake(1), stake(2), stake(3)), (0, 0, 0));
		assert_eq!(slash(0, 1).burned_sats, 0);
		// An epoch that never existed slashes nobody.
		assert_eq!(slash(9, 1_000), TheftSlash::default());
		// Slashing changes nothing of custody itself.
		assert_eq!(CurrentEpoch::<Test>::get(), Some(0));
		next_block();
	});
}

mod recovery {
	use super::*;
	use bitcoin::{
		hashes::Hash,
		key::{TweakedPublicKey, XOnlyPublicKey},
		opcodes::all::{OP_CHECKSIG, OP_CSV, OP_DROP},
		script::Builder,
		secp256k1::Secp256k1,
		sighash::{Prevouts, SighashCache, TapSighashType},
		taproot::{LeafVersion, TapLeafHash, TaprootBuilder},
		transaction::Version,
		Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
	};
	use musig2::{
		secp::{Point, Scalar},
		CompactSignature, KeyAggContext,
	};

	/// Bitcoin Core's script interpreter (all soft forks incl. Taproot) on input 0.
	fn bitcoin_core_accepts(
		tx: &Transaction,
		prevout: &TxOut,
	) -> Result<(), bitcoinconsensus::Error> {
		let spent = [bitcoinconsensus::Utxo {
			script_pubkey: prevout.script_pubkey.as_bytes().as_ptr(),
			script_pubkey_len: prevout.script_pubkey.len() as u32,
			value: prevout.value.to_sat() as i64,
		}];
		bitcoinconsensus::verify_with_flags(
			prevout.script_pubkey.as_bytes(),
			prevout.value.to_sat(),
			&bitcoin::consensus::serialize(tx),
			Some(&spent),
			0,
			bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT,
		)
	}

	fn spend(prevout_script: ScriptBuf, sequence: Sequence) -> (Transaction, TxOut) {
		let prevout = TxOut { value: Amount::from_sat(250_000), script_pubkey: prevout_script };
		let tx = Transaction {
			version: Version::TWO,
			lock_time: bitcoin::absolute::LockTime::ZERO,
			input: vec![TxIn {
				previous_output: OutPoint {
					txid: bitcoin::Txid::from_byte_array([3; 32]),
					vout: 0,
				},
				script_sig: ScriptBuf::new(),
				sequence,
				witness: Witness::new(),
			}],
			output: vec![TxOut {
				value: Amount::from_sat(240_000),
				script_pubkey: ScriptBuf::new_op_return([7u8; 8]),
			}],
		};
		(tx, prevout)
	}

	/// A 3-member recovery committee's MuSig2 keys.
	fn committee() -> (Vec<Scalar>, KeyAggContext) {
		let secrets: Vec<Scalar> =
			(1..=3u8).map(|i| Scalar::from_slice(&[i + 40; 32]).unwrap()).collect();
		let publics: Vec<Point> = secrets.iter().map(|s| s.base_point_mul()).collect();
		(secrets, KeyAggContext::new(publics).unwrap())
	}

	/// The committee signs `message` n-of-n (both MuSig2 rounds, every member).
	fn committee_sign(secrets: &[Scalar], context: &KeyAggContext, message: [u8; 32]) -> [u8; 64] {
		let mut first_rounds: Vec<_> = secrets
			.iter()
			.enumerate()
			.map(|(i, secret)| {
				let spices =
					musig2::SecNonceSpices::new().with_seckey(*secret).with_message(&message);
				musig2::FirstRound::new(context.clone(), [i as u8 + 1; 32], i, spices).unwrap()
			})
			.collect();
		let nonces: Vec<_> = first_rounds.iter().map(|r| r.our_public_nonce()).collect();
		for (i, round) in first_rounds.iter_mut().enumerate() {
			for (j, nonce) in nonces.iter().enumerate() {
				if i != j {
					round.receive_nonce(j, nonce.clone()).unwrap();
				}
			}
		}
		let mut second_rounds: Vec<_> = first_rounds
			.into_iter()
			.zip(secrets)
			.map(|(round, secret)| round.finalize(*secret, message).unwrap())
			.collect();
		let partials: Vec<musig2::PartialSignature> =
			second_rounds.iter().map(|r| r.our_signature()).collect();
		let mut first = second_rounds.remove(0);
		for (j, partial) in partials.iter().enumerate().skip(1) {
			first.receive_signature(j, *partial).unwrap();
		}
		let signature: CompactSignature = first.finalize().unwrap();
		signature.serialize()
	}

	#[test]
	fn governance_sets_a_valid_recovery_leaf_only() {
		new_test_ext(4).execute_with(|| {
			let (_, context) = committee();
			let recovery_key: [u8; 32] = context.aggregated_pubkey::<Point>().serialize_xonly();
			let leaf = RecoveryLeaf { recovery_key, delay_blocks: 26_000 };
			assert_noop!(
				BtcCustody::set_recovery_leaf(RuntimeOrigin::signed(1), Some(leaf)),
				DispatchError::BadOrigin
			);
			assert_noop!(
				BtcCustody::set_recovery_leaf(
					RuntimeOrigin::root(),
					Some(RecoveryLeaf { delay_blocks: 999, ..leaf })
				),
				Error::<Test>::RecoveryDelayTooShort
			);
			assert_noop!(
				BtcCustody::set_recovery_leaf(
					RuntimeOrigin::root(),
					Some(RecoveryLeaf { recovery_key: [0; 32], ..leaf })
				),
				Error::<Test>::InvalidRecoveryKey
			);
			assert_ok!(BtcCustody::set_recovery_leaf(RuntimeOrigin::root(), Some(leaf)));
			assert_eq!(RecoveryLeafConfig::<Test>::get(), Some(leaf));
		});
	}

	#[test]
	fn the_leaf_script_and_hash_match_the_bitcoin_crate_for_any_delay() {
		let key = [0x79; 32];
		for delay in [1000u16, 1001, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 26_000, u16::MAX] {
			let leaf = RecoveryLeaf { recovery_key: key, delay_blocks: delay };
			let script = Builder::new()
				.push_int(delay as i64)
				.push_opcode(OP_CSV)
				.push_opcode(OP_DROP)
				.push_slice(key)
				.push_opcode(OP_CHECKSIG)
				.into_script();
			assert_eq!(leaf.script(), script.as_bytes(), "delay {delay}");
			let hash = TapLeafHash::from_script(&script, LeafVersion::TapScript);
			assert_eq!(leaf.leaf_hash(), hash.to_byte_array(), "delay {delay}");
		}
	}

	#[test]
	fn validators_spend_by_key_path_and_the_committee_by_script_path_after_the_delay() {
		new_test_ext(4).execute_with(|| {
			let (secrets, context) = committee();
			let recovery_key: [u8; 32] = context.aggregated_pubkey::<Point>().serialize_xonly();
			let leaf = RecoveryLeaf { recovery_key, delay_blocks: 26_000 };
			assert_ok!(BtcCustody::set_recovery_leaf(RuntimeOrigin::root(), Some(leaf)));
			let mut nodes = nodes(4);
			let epoch = with_epoch(&mut nodes, &[]);
			assert_eq!(epoch.recovery, Some(leaf));
			assert_ne!(epoch.internal_key, epoch.output_key);

			// The bitcoin crate derives the same output key from the internal key and the leaf.
			let secp = Secp256k1::new();
			let script = ScriptBuf::from_bytes(leaf.script());
			let internal = XOnlyPublicKey::from_slice(&epoch.internal_key).unwrap();
			let tree = TaprootBuilder::new()
				.add_leaf(0, script.clone())
				.unwrap()
				.finalize(&secp, internal)
				.unwrap();
			assert_eq!(tree.output_key().to_x_only_public_key().serialize(), epoch.output_key);
			let custody_script = ScriptBuf::new_p2tr_tweaked(tree.output_key());

			// Key path: the validators sign through the chain; Bitcoin Core accepts it.
			let (mut tx, prevout) = spend(custody_script.clone(), Sequence::ENABLE_RBF_NO_LOCKTIME);
			let sighash = SighashCache::new(&tx)
				.taproot_key_spend_signature_hash(
					0,
					&Prevouts::All(std::slice::from_ref(&prevout)),
					TapSighashType::Default,
				)
				.unwrap()
				.to_byte_array();
			let session_id = open(0, vec![sighash]).unwrap();
			run_until(&mut nodes, &[], 5, || Signatures::<Test>::contains_key(session_id));
			tx.input[0].witness =
				Witness::from_slice(&[session_signatures(session_id)[0].to_vec()]);
			assert_eq!(bitcoin_core_accepts(&tx, &prevout), Ok(()));
			// The same spend to an output of the bare group key fails: the signature is for
			// the tweaked key.
			let bare =
				ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(internal));
			let (mut other, other_prevout) = spend(bare, Sequence::ENABLE_RBF_NO_LOCKTIME);
			other.input[0].witness = tx.input[0].witness.clone();
			assert_eq!(
				bitcoin_core_accepts(&other, &other_prevout),
				Err(bitcoinconsensus::Error::ERR_SCRIPT)
			);

			// Script path: the committee's MuSig2 signature with nSequence = the delay.
			let control = tree.control_block(&(script.clone(), LeafVersion::TapScript)).unwrap();
			let leaf_hash = TapLeafHash::from_script(&script, LeafVersion::TapScript);
			let recover = |sequence: u32| {
				let (mut tx, prevout) = spend(custody_script.clone(), Sequence(sequence));
				let sighash = SighashCache::new(&tx)
					.taproot_script_spend_signature_hash(
						0,
						&Prevouts::All(std::slice::from_ref(&prevout)),
						leaf_hash,
						TapSighashType::Default,
					)
					.unwrap()
					.to_byte_array();
				let signature = committee_sign(&secrets, &context, sighash);
				tx.input[0].witness = Witness::from_slice(&[
					signature.to_vec(),
					script.to_bytes(),
					control.serialize(),
				]);
				bitcoin_core_accepts(&tx, &prevout)
			};
			assert_eq!(recover(26_000), Ok(()));
			// One block early: OP_CHECKSEQUENCEVERIFY fails.
			assert_eq!(recover(25_999), Err(bitcoinconsensus::Error::ERR_SCRIPT));
		});
	}
}

mod vaults {
	use super::*;
	use tapchain_primitives::vault::VaultIndex;

	fn register(nodes: &Nodes, validators: impl IntoIterator<Item = u64>) {
		for v in validators {
			assert_ok!(submit(registration_call(nodes, v, v)));
		}
	}

	fn partitioned() -> Vec<(u32, Vec<VaultIndex>)> {
		events()
			.into_iter()
			.filter_map(|e| match e {
				Event::VaultsPartitioned { vaults, changed, .. } => Some((vaults, changed)),
				_ => None,
			})
			.collect()
	}

	fn every_vault_keyed() -> bool {
		(0..VaultCount::<Test>::get()).all(|vault| {
			VaultEpochs::<Test>::get(vault).and_then(Epochs::<Test>::get).is_some_and(|key| {
				key.members.iter().map(|m| m.0).eq(VaultMembers::<Test>::get(vault))
			})
		})
	}

	/// Buries the pending seed: the light client's best height moves to where the seed
	/// block has its confirmations.
	fn bury_seed() {
		let seed_height =
			PendingPartitionSeed::<Test>::get().expect("a seed is pending").seed_height;
		BitcoinBestHeight::set(Some(seed_height + SeedConfirmations::get() - 1));
	}

	#[test]
	fn seven_validators_in_vaults_of_three_hold_three_keys_dealt_by_a_buried_bitcoin_block() {
		new_test_ext(7).execute_with(|| {
			let mut nodes = nodes(7);
			assert_noop!(
				BtcCustody::set_vault_size(RuntimeOrigin::root(), 1),
				Error::<Test>::BadVaultSize
			);
			assert_noop!(
				BtcCustody::set_vault_size(RuntimeOrigin::signed(1), 3),
				DispatchError::BadOrigin
			);
			assert_ok!(BtcCustody::set_vault_size(RuntimeOrigin::root(), 3));
			register_all(&nodes);
			// No light client yet: nothing can seed a partition of more than one vault.
			next_block();
			assert_eq!(VaultCount::<Test>::get(), 0);
			assert!(ActiveDkg::<Test>::get().is_none());
			BitcoinBestHeight::set(Some(100));
			next_block();
			assert!(
				events().contains(&Event::PartitionSeedFixed { seed_height: 101, candidates: 7 })
			);
			// Mined but not buried: still waiting.
			BitcoinBestHeight::set(Some(102));
			next_block();
			assert_eq!(VaultCount::<Test>::get(), 0);
			BitcoinBestHeight::set(Some(103));
			next_block();
			assert!(events().contains(&Event::VaultsPartitioned {
				seed: Some(MockBitcoin::hash_at(101)),
				vaults: 3,
				changed: vec![0, 1, 2],
				moved: 0,
			}));
			let mut sizes: Vec<usize> =
				(0..3).map(|v| VaultMembers::<Test>::get(v).len()).collect();
			sizes.sort();
			assert_eq!(sizes, vec![2, 2, 3]);
			assert!(PendingPartitionSeed::<Test>::get().is_none());

			// Three DKGs, one after the other, each among its vault's members only.
			run_until(&mut nodes, &[], 60, every_vault_keyed);
			let keys: Vec<EpochOf<Test>> = (0..3)
				.map(|vault| Epochs::<Test>::get(VaultEpochs::<Test>::get(vault).unwrap()).unwrap())
				.collect();
			for (vault, key) in keys.iter().enumerate() {
				assert_eq!(key.vault, vault as VaultIndex);
				assert_eq!(key.threshold as usize, key.members.len() * 2 / 3 + 1);
				assert_eq!(key.stake_sats, key.members.len() as u64 * DEFAULT_STAKE_SATS);
			}
			let mut current = <BtcCustody as ThresholdCustody<u64>>::current_epochs();
			current.sort();
			assert_eq!(current.len(), 3);
			// Each vault's key signs with its own members.
			let second = VaultEpochs::<Test>::get(1).unwrap();
			let session = open(second, vec![[9; 32]]).unwrap();
			run_until(&mut nodes, &[], 10, || Signatures::<Test>::contains_key(session));
			assert!(verify_bip340(&keys[1].output_key, &[9; 32], &session_signatures(session)[0]));
			assert!(!verify_bip340(&keys[0].output_key, &[9; 32], &session_signatures(session)[0]));
			// A current key is never retired, and has no successor.
			assert_eq!(retire(second), Err(Error::<Test>::EpochRetired.into()));
			assert_eq!(BtcCustody::successor_of(second), None);
			assert!(Offences::get().is_empty());
		});
	}

	#[test]
	fn a_set_too_large_for_the_governed_size_is_dealt_into_larger_vaults() {
		new_test_ext(7).execute_with(|| {
			// Governance asked for pairs when the set was small; at most two vaults fit.
			MaxVaults::set(2);
			assert_ok!(BtcCustody::set_vault_size(RuntimeOrigin::root(), 2));
			assert_noop!(
				BtcCustody::set_vault_size(RuntimeOrigin::root(), MaxParticipants::get() + 1),
				Error::<Test>::BadVaultSize
			);
			assert_eq!(BtcCustody::effective_vault_size(4), 2);
			assert_eq!(BtcCustody::effective_vault_size(7), 4);
			let nodes = nodes(7);
			register_all(&nodes);
			BitcoinBestHeight::set(Some(100));
			next_block();
			bury_seed();
			next_block();
			// Seven in vaults of two would be four vaults: two of four and three instead.
			assert_eq!(VaultCount::<Test>::get(), 2);
			let mut sizes: Vec<usize> =
				(0..2).map(|v| VaultMembers::<Test>::get(v).len()).collect();
			sizes.sort();
			assert_eq!(sizes, vec![3, 4]);
			MaxVaults::set(500);
		});
	}

	#[test]
	fn every_seat_is_dealt_again_from_a_fresh_seed_once_the_interval_has_passed() {
		new_test_ext(7).execute_with(|| {
			let mut nodes = nodes(7);
			assert_ok!(BtcCustody::set_vault_size(RuntimeOrigin::root(), 3));
			assert_noop!(
				BtcCustody::set_redeal_interval(RuntimeOrigin::signed(1), 40),
				DispatchError::BadOrigin
			);
			assert_ok!(BtcCustody::set_redeal_interval(RuntimeOrigin::root(), 40));
			register_all(&nodes);
			BitcoinBestHeight::set(Some(100));
			next_block();
			bury_seed();
			next_block();
			assert_eq!(VaultCount::<Test>::get(), 3);
			let dealt_at = System::block_number();
			assert_eq!(LastFullDeal::<Test>::get(), dealt_at);
			let first = BtcCustody::current_partition();
			run_until(&mut nodes, &[], 60, every_vault_keyed);
			let first_epochs = BtcCustody::vault_current_epochs();

			// The same set keeps its seats until the interval has passed.
			run_until(&mut nodes, &[], 40, || System::block_number() + 1 >= dealt_at + 40);
			assert!(PendingPartitionSeed::<Test>::get().is_none());
			next_block();
			let seed_height =
				PendingPartitionSeed::<Test>::get().expect("a re-deal's seed is fixed").seed_height;
			// Until its seed is buried, every vault keeps its members and its key.
			next_block();
			assert_eq!(BtcCustody::current_partition(), first);
			assert_eq!(BtcCustody::vault_current_epochs(), first_epochs);
			bury_seed();
			next_block();
			let second = BtcCustody::current_partition();
			assert_eq!(LastFullDeal::<Test>::get(), System::block_number());
			let sorted = |members: &Vec<u64>| {
				let mut members = members.clone();
				members.sort();
				members
			};
			let changed: Vec<VaultIndex> = (0..3)
				.filter(|&v| sorted(&first.vaults[v]) != sorted(&second.vaults[v]))
				.map(|v| v as VaultIndex)
				.collect();
			assert!(!changed.is_empty(), "a fresh seed deals the seats anew: {first:?}");
			assert!(events().iter().any(|e| matches!(
				e,
				Event::VaultsPartitioned { seed: Some(seed), vaults: 3, changed: listed, .. }
					if *seed == MockBitcoin::hash_at(seed_height) && *listed == changed
			)));
			// Each vault whose members changed re-keys; one whose members stayed keeps its key.
			run_until(&mut nodes, &[], 90, every_vault_keyed);
			let second_epochs = BtcCustody::vault_current_epochs();
			for vault in 0..3 {
				assert_eq!(
					first_epochs[vault] != second_epochs[vault],
					changed.contains(&(vault as VaultIndex)),
					"vault {vault}"
				);
			}
			// The next re-deal is an interval after this one.
			assert!(PendingPartitionSeed::<Test>::get().is_none());
			assert!(Offences::get().is_empty());
		});
	}

	#[test]
	fn a_proven_theft_deals_every_seat_again_and_the_robbed_vault_re_keys() {
		new_test_ext(7).execute_with(|| {
			let mut nodes = nodes(7);
			assert_ok!(BtcCustody::set_vault_size(RuntimeOrigin::root(), 3));
			assert_eq!(RedealInterval::<Test>::get(), 0, "no periodic re-deal");
			register_all(&nodes);
			BitcoinBestHeight::set(Some(100));
			next_block();
			bury_seed();
			next_block();
			let first = BtcCustody::current_partition();
			run_until(&mut nodes, &[], 60, every_vault_keyed);
			let first_epochs = BtcCustody::vault_current_epochs();
			// The same set keeps its seats: no re-deal is ever due.
			for _ in 0..20 {
				step(&mut nodes, &[]);
				next_block();
			}
			assert!(PendingPartitionSeed::<Test>::get().is_none());
			assert_eq!(BtcCustody::current_partition(), first);

			// A theft by vault 1's key is proven.
			let robbed = first_epochs[1];
			<BtcCustody as ThresholdCustody<u64>>::slash_for_theft(robbed, 10_000);
			assert!(RedealAfterTheft::<Test>::get());
			next_block();
			assert!(PendingPartitionSeed::<Test>::get().is_some(), "a re-deal's seed is fixed");
			bury_seed();
			next_block();
			assert_eq!(LastFullDeal::<Test>::get(), System::block_number());
			assert!(!RedealAfterTheft::<Test>::get(), "one re-deal per theft");
			let second = BtcCustody::current_partition();
			let sorted = |members: &Vec<u64>| {
				let mut members = members.clone();
				members.sort();
				members
			};
			assert_ne!(sorted(&first.vaults[1]), sorted(&second.vaults[1]), "{second:?}");
			// The robbed vault re-keys; its old key stays live until its coins are swept.
			run_until(&mut nodes, &[], 90, every_vault_keyed);
			let second_epochs = BtcCustody::vault_current_epochs();
			assert_ne!(second_epochs[1], robbed);
			assert!(Epochs::<Test>::get(robbed).is_some());
			// And then the seats stay where they are.
			for _ in 0..20 {
				step(&mut nodes, &[]);
				next_block();
			}
			assert!(PendingPartitionSeed::<Test>::get().is_none());
			assert_eq!(BtcCustody::current_partition(), second);
		});
	}

	#[test]
	fn a_theft_from_the_only_vault_calls_no_re_deal() {
		new_test_ext(4).execute_with(|| {
			let mut nodes = nodes(4);
			with_epoch(&mut nodes, &[]);
			let epoch = CurrentEpoch::<Test>::get().unwrap();
			<BtcCustody as ThresholdCustody<u64>>::slash_for_theft(epoch, 10_000);
			assert!(!RedealAfterTheft::<Test>::get(), "nothing to scatter");
		});
	}

	/// Seats for a thousand validators with uneven stakes: registers them (straight into
	/// storage unless `nodes` is given), fixes and buries the seed, deals.
	fn deal_a_thousand(nodes: Option<&Nodes>) {
		StakeSats::set(
			(1..=1000u64).map(|v| (v, 1_000_000 + (v * 7_919 % 1_000) * 1_000)).collect(),
		);
		match nodes {
			Some(nodes) => register_all(nodes),
			None => {
				for v in 1..=1000u64 {
					let mut identity = [0u8; 32];
					identity[..8].copy_from_slice(&v.to_le_bytes());
					Registrations::<Test>::insert(
						v,
						Registration {
							identity: CustodyIdentity(identity),
							encryption_key: EncryptionKey([2; 33]),
							session_key: UintAuthorityId(v),
						},
					);
				}
			},
		}
		BitcoinBestHeight::set(Some(800_000));
		next_block();
		assert!(events()
			.contains(&Event::PartitionSeedFixed { seed_height: 800_001, candidates: 1000 }));
		bury_seed();
		next_block();
	}

	#[test]
	fn a_thousand_validators_are_dealt_into_ten_vaults_of_a_hundred_balanced_by_stake() {
		new_test_ext(1000).execute_with(|| {
			deal_a_thousand(None);
			assert!(events().contains(&Event::VaultsPartitioned {
				seed: Some(MockBitcoin::hash_at(800_001)),
				vaults: 10,
				changed: (0..10).collect(),
				moved: 0,
			}));
			let stake = |v: &u64| MockStake::at_stake_sats(v);
			let largest = (1..=1000).map(|v| stake(&v)).max().unwrap();
			let totals: Vec<u64> = (0..10)
				.map(|vault| {
					let members = VaultMembers::<Test>::get(vault);
					assert_eq!(members.len(), 100, "vault {vault}");
					members.iter().map(stake).sum()
				})
				.collect();
			let spread = totals.iter().max().unwrap() - totals.iter().min().unwrap();
			assert!(spread <= largest, "vault stakes {totals:?} differ by more than one stake");
			// The first vault's DKG starts among its hundred members, threshold 67.
			let run = ActiveDkg::<Test>::get().expect("a DKG");
			assert_eq!((run.vault, run.participants.len(), run.threshold), (0, 100, 67));
			assert!(run
				.participants
				.iter()
				.map(|p| p.0)
				.eq(VaultMembers::<Test>::get(0).into_iter()));
		});
	}

	/// Long mode (`CUSTODY_THOUSAND=1`): the thousand validators' real signers run all ten
	/// DKGs of a hundred, then each vault's key signs. Not yet seen to finish: its one run on
	/// the 2-core machine (2026-12-01) was stopped after 19 minutes, for CI.
	#[test]
	fn a_thousand_validators_hold_ten_keys_and_each_signs() {
		if std::env::var("CUSTODY_THOUSAND").is_err() {
			println!("skipped: set CUSTODY_THOUSAND=1 to run ten DKGs of a hundred real signers");
			return;
		}
		new_test_ext(1000).execute_with(|| {
			let mut nodes = nodes(1000);
			let started = std::time::Instant::now();
			deal_a_thousand(Some(&nodes));
			let mut blocks = 0;
			while !every_vault_keyed() {
				step(&mut nodes, &[]);
				next_block();
				blocks += 1;
				assert!(blocks < 200, "ten DKGs take at most 200 blocks here");
			}
			println!("ten DKGs of 100: {blocks} blocks, {:.0} s", started.elapsed().as_secs_f64());
			let started = std::time::Instant::now();
			let sessions: Vec<(u32, u64)> = (0..10)
				.map(|vault| {
					let epoch = VaultEpochs::<Test>::get(vault).unwrap();
					(epoch, open(epoch, vec![[vault as u8; 32]]).unwrap())
				})
				.collect();
			run_until(&mut nodes, &[], 20, || {
				sessions.iter().all(|(_, session)| Signatures::<Test>::contains_key(session))
			});
			for (vault, (epoch, session)) in sessions.iter().enumerate() {
				let key = Epochs::<Test>::get(epoch).unwrap().output_key;
				assert!(verify_bip340(&key, &[vault as u8; 32], &session_signatures(*session)[0]));
			}
			println!(
				"ten signing sessions of 67 signers: {:.0} s",
				started.elapsed().as_secs_f64()
			);
			assert!(Offences::get().is_empty());
		});
	}

	#[test]
	fn a_newcomer_re_keys_only_the_vaults_it_changes_and_one_who_joins_after_the_seed_waits() {
		new_test_ext(7).execute_with(|| {
			let mut nodes = nodes(9);
			assert_ok!(BtcCustody::set_vault_size(RuntimeOrigin::root(), 3));
			BitcoinBestHeight::set(Some(100));
			register(&nodes, 1..=7);
			next_block();
			bury_seed();
			next_block();
			run_until(&mut nodes, &[], 60, every_vault_keyed);
			let before: Vec<u32> = (0..3).map(|v| VaultEpochs::<Test>::get(v).unwrap()).collect();
			let old_members: Vec<Vec<u64>> =
				(0..3).map(|v| VaultMembers::<Test>::get(v).into_inner()).collect();

			// Validator 8 joins; the seed height is fixed with it in the set.
			Validators::set((1..=8).collect());
			register(&nodes, [8]);
			next_block();
			let pending = PendingPartitionSeed::<Test>::get().unwrap();
			assert_eq!(pending.candidates.to_vec(), (1..=8).collect::<Vec<u64>>());
			// Validator 9 joins once the seed block could be known: it is not dealt.
			Validators::set((1..=9).collect());
			register(&nodes, [9]);
			bury_seed();
			next_block();
			let (vaults, changed) = partitioned().last().cloned().unwrap();
			assert_eq!(vaults, 3);
			assert!(!(0..3).any(|v| VaultMembers::<Test>::get(v).contains(&9)));
			// The newcomer took a seat in one vault and moved at most one member on.
			assert!(!changed.is_empty() && changed.len() <= 2, "{changed:?}");
			for vault in 0..3u32 {
				let same =
					VaultMembers::<Test>::get(vault).into_inner() == old_members[vault as usize];
				assert_eq!(same, !changed.contains(&vault), "vault {vault}");
			}
			// Only the changed vaults re-key; the others keep their key.
			run_until(&mut nodes, &[], 60, every_vault_keyed);
			for vault in 0..3u32 {
				let now = VaultEpochs::<Test>::get(vault).unwrap();
				let old = before[vault as usize];
				if changed.contains(&vault) {
					assert_ne!(now, old, "vault {vault} changed and re-keyed");
					// The old key's coins go to its vault's new key; it still signs till then.
					assert_eq!(BtcCustody::successor_of(old), Some(now));
					assert!(LiveEpochs::<Test>::contains_key(old));
				} else {
					assert_eq!(now, old, "vault {vault} kept its members and its key");
				}
			}
			// Validator 9 gets the next seed, and a seat.
			assert_eq!(PendingPartitionSeed::<Test>::get().unwrap().candidates.len(), 9);
			bury_seed();
			next_block();
			assert!(VaultMembers::<Test>::iter_values().any(|m| m.contains(&9)));
			run_until(&mut nodes, &[], 80, every_vault_keyed);
			assert!(Offences::get().is_empty());
		});
	}
}
