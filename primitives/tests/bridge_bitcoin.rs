//! Withdrawal addresses and Taproot sighashes checked against the `bitcoin` crate, the
//! BIP-341/350 vectors and real mainnet key-path spends.

mod fixtures;

use bitcoin::hashes::Hash as _;
use bitcoin::key::{Keypair, Secp256k1, TapTweak};
use proptest::prelude::*;
use tapchain_primitives::bitcoin::{
	address::{dust_limit_sats, p2tr_script_pubkey},
	key_spend_sighashes, AddressError, BitcoinAddress, Network, OutPoint, Transaction, TxIn, TxOut,
	Txid,
};

const NETWORKS: [(Network, bitcoin::Network); 4] = [
	(Network::Mainnet, bitcoin::Network::Bitcoin),
	(Network::Testnet3, bitcoin::Network::Testnet),
	(Network::Testnet4, bitcoin::Network::Testnet4),
	(Network::Regtest, bitcoin::Network::Regtest),
];

/// One address of every type for `network`, made by the `bitcoin` crate.
fn addresses_of_every_type(network: bitcoin::Network, seed: u8) -> Vec<bitcoin::Address> {
	let secp = Secp256k1::new();
	let keypair = Keypair::from_seckey_slice(&secp, &[seed.max(1); 32]).unwrap();
	let public = bitcoin::PublicKey::new(keypair.public_key());
	let compressed = bitcoin::CompressedPublicKey(keypair.public_key());
	let script = bitcoin::ScriptBuf::from_bytes(vec![0x51, 0x52, 0x93, seed]);
	let (x_only, _) = keypair.x_only_public_key();
	vec![
		bitcoin::Address::p2pkh(public, network),
		bitcoin::Address::p2sh(&script, network).unwrap(),
		bitcoin::Address::p2wpkh(&compressed, network),
		bitcoin::Address::p2wsh(&script, network),
		bitcoin::Address::p2tr(&secp, x_only, None, network),
	]
}

#[test]
fn every_address_type_parses_on_its_network_to_the_bitcoin_crates_script() {
	for (ours, theirs) in NETWORKS {
		for seed in [1u8, 2, 77] {
			for address in addresses_of_every_type(theirs, seed) {
				let text = address.to_string();
				let parsed = BitcoinAddress::parse(&text, ours)
					.unwrap_or_else(|e| panic!("{text} on {ours:?}: {e:?}"));
				assert_eq!(parsed.script_pubkey(), address.script_pubkey().to_bytes(), "{text}");
				assert_eq!(parsed.to_address_string(ours), text, "encodes back");
				// Upper-case bech32 is valid too (QR codes use it).
				if text.starts_with(ours.bech32_hrp()) {
					let upper = BitcoinAddress::parse(&text.to_uppercase(), ours).unwrap();
					assert_eq!(upper, parsed);
				}
				assert_eq!(
					parsed.dust_limit_sats(),
					address.script_pubkey().minimal_non_dust().to_sat(),
					"dust of {text}"
				);
			}
		}
	}
}

#[test]
fn addresses_of_another_network_are_refused_as_wrong_network() {
	for (ours, _) in NETWORKS {
		for (_, theirs) in NETWORKS {
			for address in addresses_of_every_type(theirs, 5) {
				let text = address.to_string();
				let unchecked: bitcoin::Address<bitcoin::address::NetworkUnchecked> =
					text.parse().unwrap();
				let valid_here = unchecked.is_valid_for_network(match ours {
					Network::Mainnet => bitcoin::Network::Bitcoin,
					Network::Testnet3 => bitcoin::Network::Testnet,
					Network::Testnet4 => bitcoin::Network::Testnet4,
					Network::Regtest => bitcoin::Network::Regtest,
				});
				let result = BitcoinAddress::parse(&text, ours);
				if valid_here {
					assert!(result.is_ok(), "{text} on {ours:?}");
				} else {
					assert_eq!(result, Err(AddressError::WrongNetwork), "{text} on {ours:?}");
				}
			}
		}
	}
}

#[test]
fn corrupted_checksums_are_refused() {
	for address in addresses_of_every_type(bitcoin::Network::Bitcoin, 9) {
		let text = address.to_string();
		// Change the last character to another one of the same alphabet.
		let mut chars: Vec<char> = text.chars().collect();
		let last = chars.len() - 1;
		chars[last] = if chars[last] == 'q' || chars[last] == '2' { 'p' } else { 'q' };
		if !text.starts_with("bc1") && chars[last] == 'p' {
			chars[last] = '3';
		}
		let corrupted: String = chars.into_iter().collect();
		assert_eq!(
			BitcoinAddress::parse(&corrupted, Network::Mainnet),
			Err(AddressError::InvalidEncoding),
			"{corrupted}"
		);
	}
	// Not an address at all.
	for garbage in ["hello", "bc1", "1111111111111111111114oLvT3", "0xdeadbeef"] {
		assert!(BitcoinAddress::parse(garbage, Network::Mainnet).is_err(), "{garbage}");
	}
}

#[test]
fn bip350_segwit_addresses_conform() {
	let Some(vectors) = fixtures::json("bip-0350-test-vectors.json") else { return };
	for case in vectors["segwit_valid_addresses"].as_array().unwrap() {
		let address = case["address"].as_str().unwrap();
		let script = hex::decode(case["scriptPubKey"].as_str().unwrap()).unwrap();
		let network = if address.to_lowercase().starts_with("bc") {
			Network::Mainnet
		} else {
			Network::Testnet4
		};
		match BitcoinAddress::parse(address, network) {
			Ok(parsed) => assert_eq!(parsed.script_pubkey(), script, "{address}"),
			// Versions 2..16 and v1 programs other than 32 bytes are valid addresses that
			// this chain refuses to pay (they would be anyone-can-spend).
			Err(AddressError::UnsupportedWitnessVersion) => assert!(script[0] > 0x51, "{address}"),
			Err(AddressError::InvalidProgramLength) => assert_eq!(script[0], 0x51, "{address}"),
			Err(other) => panic!("{address}: {other:?}"),
		}
	}
	for case in vectors["segwit_invalid_addresses"].as_array().unwrap() {
		let address = case["address"].as_str().unwrap();
		for network in [Network::Mainnet, Network::Testnet3, Network::Regtest] {
			assert!(
				BitcoinAddress::parse(address, network).is_err(),
				"{address} ({}) accepted",
				case["reason"]
			);
		}
	}
}

fn arbitrary_transaction() -> impl Strategy<Value = (Transaction, Vec<TxOut>)> {
	let input = (any::<[u8; 32]>(), 0u32..8, any::<u32>());
	let output = (0u64..2_100_000_000_000_000, proptest::collection::vec(any::<u8>(), 0..40));
	(
		any::<i32>(),
		proptest::collection::vec(input, 1..6),
		proptest::collection::vec(output.clone(), 1..5),
		any::<u32>(),
		proptest::collection::vec(output, 6),
	)
		.prop_map(|(version, inputs, outputs, lock_time, prevouts)| {
			let inputs: Vec<TxIn> = inputs
				.into_iter()
				.map(|(txid, vout, sequence)| TxIn {
					previous_output: OutPoint { txid: Txid(txid), vout },
					script_sig: Vec::new(),
					sequence,
					witness: Vec::new(),
				})
				.collect();
			let prevouts = prevouts
				.into_iter()
				.take(inputs.len())
				.map(|(value_sats, script_pubkey)| TxOut { value_sats, script_pubkey })
				.collect();
			let outputs = outputs
				.into_iter()
				.map(|(value_sats, script_pubkey)| TxOut { value_sats, script_pubkey })
				.collect();
			(Transaction { version, inputs, outputs, lock_time }, prevouts)
		})
}

proptest! {
	#[test]
	fn key_spend_sighashes_equal_the_bitcoin_crates((tx, prevouts) in arbitrary_transaction()) {
		let ours = key_spend_sighashes(&tx, &prevouts).unwrap();
		let theirs_tx: bitcoin::Transaction =
			bitcoin::consensus::deserialize(&tx.to_bytes()).unwrap();
		let theirs_prevouts: Vec<bitcoin::TxOut> = prevouts
			.iter()
			.map(|p| bitcoin::TxOut {
				value: bitcoin::Amount::from_sat(p.value_sats),
				script_pubkey: bitcoin::ScriptBuf::from_bytes(p.script_pubkey.clone()),
			})
			.collect();
		let mut cache = bitcoin::sighash::SighashCache::new(&theirs_tx);
		for (index, sighash) in ours.iter().enumerate() {
			let expected = cache
				.taproot_key_spend_signature_hash(
					index,
					&bitcoin::sighash::Prevouts::All(&theirs_prevouts),
					bitcoin::TapSighashType::Default,
				)
				.unwrap();
			prop_assert_eq!(*sighash, expected.to_byte_array());
		}
	}
}

#[test]
fn bip341_wallet_vector_default_sighash_conforms() {
	let Some(vectors) = fixtures::json("wallet-test-vectors.json") else { return };
	let spending = &vectors["keyPathSpending"][0];
	let tx = Transaction::from_bytes(
		&hex::decode(spending["given"]["rawUnsignedTx"].as_str().unwrap()).unwrap(),
	)
	.unwrap();
	let prevouts: Vec<TxOut> = spending["given"]["utxosSpent"]
		.as_array()
		.unwrap()
		.iter()
		.map(|utxo| TxOut {
			value_sats: utxo["amountSats"].as_u64().unwrap(),
			script_pubkey: hex::decode(utxo["scriptPubKey"].as_str().unwrap()).unwrap(),
		})
		.collect();
	let sighashes = key_spend_sighashes(&tx, &prevouts).unwrap();
	let mut checked = 0;
	for input in spending["inputSpending"].as_array().unwrap() {
		if input["given"]["hashType"].as_u64() != Some(0) {
			continue;
		}
		let index = input["given"]["txinIndex"].as_u64().unwrap() as usize;
		let expected = input["intermediary"]["sigHash"].as_str().unwrap();
		assert_eq!(hex::encode(sighashes[index]), expected);
		checked += 1;
	}
	assert_eq!(checked, 1, "the vector file has one SIGHASH_DEFAULT input");
}

#[test]
fn real_mainnet_default_sighashes_conform() {
	let Some(file) = fixtures::json("taproot-keypath-spends.json") else { return };
	let mut checked = 0;
	for case in file["transactions"].as_array().unwrap() {
		let tx = Transaction::from_bytes(&hex::decode(case["raw_tx"].as_str().unwrap()).unwrap())
			.unwrap();
		let prevouts: Vec<TxOut> = case["prevouts"]
			.as_array()
			.unwrap()
			.iter()
			.map(|p| TxOut {
				value_sats: p["amount_sats"].as_u64().unwrap(),
				script_pubkey: hex::decode(p["scriptPubKey"].as_str().unwrap()).unwrap(),
			})
			.collect();
		let sighashes = key_spend_sighashes(&tx, &prevouts).unwrap();
		for input in case["keypath_inputs"].as_array().unwrap() {
			if input["hash_type"].as_u64() != Some(0) {
				continue;
			}
			let index = input["input_index"].as_u64().unwrap() as usize;
			assert_eq!(hex::encode(sighashes[index]), input["sighash"].as_str().unwrap());
			checked += 1;
		}
	}
	assert!(checked >= 3, "the file has SIGHASH_DEFAULT spends ({checked})");
}

#[test]
fn a_signature_over_our_sighash_verifies_against_the_p2tr_output_key() {
	// Our P2TR script is the `bitcoin` crate's for the same tweaked key; a BIP-340 signature
	// of our sighash verifies against that key (the bridge tests run Bitcoin Core's
	// interpreter over whole signed transactions).
	let secp = Secp256k1::new();
	let keypair = Keypair::from_seckey_slice(&secp, &[42; 32]).unwrap();
	let tweaked = keypair.tap_tweak(&secp, None);
	let output_key = tweaked.to_keypair().x_only_public_key().0.serialize();
	let prevout = TxOut { value_sats: 50_000, script_pubkey: p2tr_script_pubkey(&output_key) };
	let tx = Transaction {
		version: 2,
		inputs: vec![TxIn {
			previous_output: OutPoint { txid: Txid([3; 32]), vout: 1 },
			script_sig: Vec::new(),
			sequence: 0xffff_fffd,
			witness: Vec::new(),
		}],
		outputs: vec![TxOut {
			value_sats: 49_000,
			script_pubkey: BitcoinAddress::parse(
				"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
				Network::Mainnet,
			)
			.unwrap()
			.script_pubkey(),
		}],
		lock_time: 0,
	};
	let sighash = key_spend_sighashes(&tx, std::slice::from_ref(&prevout)).unwrap()[0];
	let message = bitcoin::secp256k1::Message::from_digest(sighash);
	let signature = secp.sign_schnorr_no_aux_rand(&message, &tweaked.to_keypair());
	let x_only = bitcoin::XOnlyPublicKey::from_slice(&output_key).unwrap();
	secp.verify_schnorr(&signature, &message, &x_only).unwrap();
	assert_eq!(
		bitcoin::ScriptBuf::new_p2tr_tweaked(
			tweaked.to_keypair().x_only_public_key().0.dangerous_assume_tweaked()
		)
		.to_bytes(),
		prevout.script_pubkey
	);
	assert_eq!(dust_limit_sats(&prevout.script_pubkey), 330);
}
