//! Prints DKG and signing times per participant and for the coordinator (the runtime's
//! checks, run natively here) for several committee sizes.
//!
//! `cargo run --release -p tapchain-signer --example custody_bench [n ...]` (default 4 16 64 100).

use std::{collections::BTreeMap, time::Instant};

use frost_secp256k1_tr as frost;
use tapchain_primitives::custody::{CustodyMessage, ParticipantIndex};
use tapchain_signer::{DkgOutcome, DkgParticipant, DkgSetup, ReceivedShares, Signer};

fn ms(since: Instant) -> f64 {
	since.elapsed().as_secs_f64() * 1000.0
}

fn main() {
	let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
	let sizes = if sizes.is_empty() { vec![4, 16, 64, 100] } else { sizes };
	println!("n\tt\tround1/p ms\tround2/p ms\tfinish/p ms\tcommit/p ms\tshare/p ms\taggregate ms");
	for n in sizes {
		let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
		let mut signers: Vec<Signer> =
			dirs.iter().map(|d| Signer::open(d.path(), [1; 32]).unwrap()).collect();
		let t = (2 * n / 3 + 1) as u16;
		let setup = DkgSetup {
			dkg_id: 1,
			threshold: t,
			participants: signers
				.iter()
				.map(|s| DkgParticipant {
					identity: s.identity(),
					encryption_key: s.encryption_key(),
				})
				.collect(),
		};

		let start = Instant::now();
		let mut commitments = BTreeMap::new();
		for signer in signers.iter_mut() {
			let CustodyMessage::DkgCommitment(m) = signer.dkg_commit(&setup).unwrap().message
			else {
				unreachable!()
			};
			commitments.insert(m.sender, m.package);
		}
		let round1 = ms(start) / n as f64;

		let start = Instant::now();
		let mut received = BTreeMap::new();
		for signer in signers.iter_mut() {
			let CustodyMessage::DkgShares(m) =
				signer.dkg_shares(&setup, &commitments).unwrap().message
			else {
				unreachable!()
			};
			received.insert(
				m.sender,
				ReceivedShares { ephemeral_key: m.ephemeral_key, shares: m.shares },
			);
		}
		let round2 = ms(start) / n as f64;

		let start = Instant::now();
		for signer in signers.iter_mut() {
			assert!(matches!(
				signer.dkg_finish(&setup, &commitments, &received).unwrap(),
				DkgOutcome::Attest { .. }
			));
		}
		let finish = ms(start) / n as f64;

		let messages = [[7u8; 32]];
		let set: Vec<usize> = (0..t as usize).collect();
		let start = Instant::now();
		let mut signing_commitments: BTreeMap<ParticipantIndex, Vec<Vec<u8>>> = BTreeMap::new();
		for &i in &set {
			let CustodyMessage::SigningCommitment(m) =
				signers[i].signing_commit(1, i as u16 + 1, 1, 0, 1).unwrap().message
			else {
				unreachable!()
			};
			signing_commitments.insert(m.sender, m.commitments);
		}
		let commit = ms(start) / set.len() as f64;
		let start = Instant::now();
		let mut shares = BTreeMap::new();
		for &i in &set {
			let CustodyMessage::SignatureShares(m) = signers[i]
				.signing_shares(1, i as u16 + 1, 1, 0, &messages, &signing_commitments, None)
				.unwrap()
				.message
			else {
				unreachable!()
			};
			shares.insert(
				frost::Identifier::try_from(m.sender).unwrap(),
				frost::round2::SignatureShare::deserialize(&m.shares[0]).unwrap(),
			);
		}
		let share = ms(start) / set.len() as f64;
		let public = signers[0].public_key_package(1).unwrap();
		let package =
			tapchain_signer::signing_package(&signing_commitments, 0, &messages[0]).unwrap();
		let start = Instant::now();
		frost::aggregate(&package, &shares, &public).unwrap();
		let aggregate = ms(start);
		println!("{n}\t{t}\t{round1:.2}\t\t{round2:.2}\t\t{finish:.2}\t\t{commit:.3}\t\t{share:.2}\t\t{aggregate:.2}");
	}
}
