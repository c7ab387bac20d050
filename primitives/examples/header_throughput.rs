//! Prints native header-validation throughput: parse, hash, proof of work and the retarget
//! rule, over the real mainnet headers 822528..826559 of the shared fixtures (two retarget
//! periods).
//!
//! `cargo run --release -p tapchain-primitives --example header_throughput`
//! (fixtures from `TAPCHAIN_FIXTURES`, default `../shared/fixtures`).

use std::{path::PathBuf, time::Instant};
use tapchain_primitives::bitcoin::{
	network::{required_bits, ParentContext},
	BlockHeader, Network,
};

fn main() {
	let dir = std::env::var_os("TAPCHAIN_FIXTURES")
		.map(PathBuf::from)
		.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
	let path = dir.join("mainnet-headers-822528.hex");
	let text = std::fs::read_to_string(&path)
		.unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
	let raw: Vec<Vec<u8>> = text.lines().map(|l| hex::decode(l.trim()).unwrap()).collect();
	let params = Network::Mainnet.params();

	let rounds = 50;
	let start = Instant::now();
	for _ in 0..rounds {
		let first = BlockHeader::from_bytes(&raw[0]).unwrap();
		let mut parent = ParentContext {
			height: 822_528,
			bits: first.bits,
			time: first.time,
			period_first_time: first.time,
			period_first_bits: first.bits,
			last_non_min_difficulty_bits: first.bits,
		};
		for bytes in &raw[1..] {
			let header = BlockHeader::from_bytes(bytes).expect("80 bytes");
			let hash = header.block_hash();
			let target = header.bits.to_target(params.pow_limit).expect("valid nBits");
			assert!(target.is_met_by(&hash.0), "proof of work");
			assert_eq!(required_bits(&params, &parent, header.time), header.bits, "retarget rule");
			parent = parent.child(&params, &header);
		}
	}
	let elapsed = start.elapsed();
	let headers = (raw.len() - 1) * rounds;
	println!(
		"validated {headers} real mainnet headers in {:.3} s: {:.0} headers/s, {:.2} us per header (native, 1 core)",
		elapsed.as_secs_f64(),
		headers as f64 / elapsed.as_secs_f64(),
		elapsed.as_secs_f64() * 1e6 / headers as f64
	);
}
