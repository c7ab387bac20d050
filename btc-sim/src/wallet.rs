//! The node's one-key wallet: a P2WPKH address (bitcoind's default address type) that mined
//! coins can be paid to, and payments from it, optionally carrying an `OP_RETURN` memo.

use crate::chain::Chain;
use bitcoin::{
	absolute::LockTime,
	ecdsa,
	hashes::{sha256, Hash},
	secp256k1::{Message, Secp256k1, SecretKey},
	sighash::{EcdsaSighashType, SighashCache},
	transaction, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence,
	Transaction, TxIn, TxOut, Witness,
};

/// vsize of a P2WPKH input with its witness (68 vB), rounded up.
const P2WPKH_INPUT_VBYTES: u64 = 69;
/// Version, counts and lock time of a segwit transaction, rounded up.
const TX_OVERHEAD_VBYTES: u64 = 11;

/// Why the wallet cannot pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletError {
	/// Not enough mature coins (Bitcoin Core: -6, "Insufficient funds").
	InsufficientFunds { needed_sats: u64, available_sats: u64 },
	/// An amount below the destination's dust limit or zero (-3 in Core, "Invalid amount").
	InvalidAmount,
	/// A memo longer than Core's standard 80-byte `OP_RETURN` data.
	MemoTooLarge,
}

/// The wallet's key and address.
pub struct Wallet {
	secret: SecretKey,
	public: CompressedPublicKey,
	pub address: Address,
}

impl Wallet {
	/// The wallet whose key is SHA-256 of `seed`.
	pub fn from_seed(seed: &[u8]) -> Wallet {
		let secp = Secp256k1::signing_only();
		let secret = SecretKey::from_slice(sha256::Hash::hash(seed).as_byte_array())
			.expect("a SHA-256 digest is a valid key with overwhelming probability");
		let public = CompressedPublicKey(secret.public_key(&secp));
		let address = Address::p2wpkh(&public, Network::Regtest);
		Wallet { secret, public, address }
	}

	/// The wallet's output script.
	pub fn script_pubkey(&self) -> ScriptBuf {
		self.address.script_pubkey()
	}

	/// Spendable balance: mature confirmed coins and unconfirmed change.
	pub fn balance(&self, chain: &Chain) -> Amount {
		chain.spendable_coins(&self.script_pubkey()).iter().map(|(_, coin)| coin.output.value).sum()
	}

	/// Builds and signs a transaction paying `outputs` (and change back to the wallet) at
	/// `fee_rate_sat_per_vb`, spending the largest coins first.
	pub fn pay(
		&self,
		chain: &Chain,
		outputs: Vec<TxOut>,
		fee_rate_sat_per_vb: u64,
	) -> Result<Transaction, WalletError> {
		for output in &outputs {
			if output.script_pubkey.is_op_return() {
				if output.script_pubkey.len() > 83 {
					return Err(WalletError::MemoTooLarge);
				}
			} else if output.value < output.script_pubkey.minimal_non_dust() {
				return Err(WalletError::InvalidAmount);
			}
		}
		let paid_sats: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
		let change_script = self.script_pubkey();
		let outputs_vbytes: u64 =
			outputs.iter().map(|o| 9 + o.script_pubkey.len() as u64).sum::<u64>()
				+ 9 + change_script.len() as u64;

		let mut coins = chain.spendable_coins(&change_script);
		coins.sort_by_key(|(_, coin)| std::cmp::Reverse(coin.output.value));
		let available_sats: u64 = coins.iter().map(|(_, c)| c.output.value.to_sat()).sum();
		let mut selected: Vec<(OutPoint, TxOut)> = Vec::new();
		let mut selected_sats = 0u64;
		let mut fee_sats = 0u64;
		for (outpoint, coin) in coins {
			selected_sats += coin.output.value.to_sat();
			selected.push((outpoint, coin.output));
			let vsize =
				TX_OVERHEAD_VBYTES + P2WPKH_INPUT_VBYTES * selected.len() as u64 + outputs_vbytes;
			fee_sats = vsize * fee_rate_sat_per_vb.max(1);
			if selected_sats >= paid_sats + fee_sats {
				break;
			}
		}
		if selected.is_empty() || selected_sats < paid_sats + fee_sats {
			return Err(WalletError::InsufficientFunds {
				needed_sats: paid_sats + fee_sats,
				available_sats,
			});
		}

		let mut tx = Transaction {
			version: transaction::Version::TWO,
			lock_time: LockTime::ZERO,
			input: selected
				.iter()
				.map(|(outpoint, _)| TxIn {
					previous_output: *outpoint,
					script_sig: ScriptBuf::new(),
					sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
					witness: Witness::new(),
				})
				.collect(),
			output: outputs,
		};
		let change = TxOut {
			value: Amount::from_sat(selected_sats - paid_sats - fee_sats),
			script_pubkey: change_script.clone(),
		};
		// Change below dust goes to the miner.
		if change.value >= change_script.minimal_non_dust() {
			tx.output.push(change);
		}

		let secp = Secp256k1::signing_only();
		let mut witnesses = Vec::with_capacity(selected.len());
		{
			let mut cache = SighashCache::new(&tx);
			for (index, (_, spent)) in selected.iter().enumerate() {
				let sighash = cache
					.p2wpkh_signature_hash(
						index,
						&spent.script_pubkey,
						spent.value,
						EcdsaSighashType::All,
					)
					.expect("the input exists and the script is P2WPKH");
				let signature = secp.sign_ecdsa(&Message::from(sighash), &self.secret);
				witnesses.push(Witness::p2wpkh(
					&ecdsa::Signature { signature, sighash_type: EcdsaSighashType::All },
					&self.public.0,
				));
			}
		}
		for (input, witness) in tx.input.iter_mut().zip(witnesses) {
			input.witness = witness;
		}
		Ok(tx)
	}
}
