//! Locating the shared conformance fixtures (`../shared/fixtures` by default).

#![allow(dead_code)]

use std::path::PathBuf;

/// The fixtures folder, or `None` (after saying so) when it is absent outside CI.
/// Under `CI=true` a missing folder fails the test.
pub fn fixtures_dir() -> Option<PathBuf> {
	let dir = std::env::var_os("TAPCHAIN_FIXTURES")
		.map(PathBuf::from)
		.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
	if dir.join("README.md").exists() {
		return Some(dir);
	}
	if std::env::var("CI").as_deref() == Ok("true") {
		panic!("conformance fixtures not found at {} (set TAPCHAIN_FIXTURES)", dir.display());
	}
	eprintln!(
		"SKIPPED: conformance fixtures not found at {} (set TAPCHAIN_FIXTURES)",
		dir.display()
	);
	None
}

/// Reads a `*.hex` header file: one 80-byte header per line.
pub fn header_lines(name: &str) -> Option<Vec<Vec<u8>>> {
	let text = std::fs::read_to_string(fixtures_dir()?.join(name)).unwrap();
	Some(
		text.lines()
			.filter(|l| !l.trim().is_empty())
			.map(|l| hex::decode(l.trim()).unwrap())
			.collect(),
	)
}

/// Reads a JSON fixture.
pub fn json(name: &str) -> Option<serde_json::Value> {
	let text = std::fs::read_to_string(fixtures_dir()?.join(name)).unwrap();
	Some(serde_json::from_str(&text).unwrap())
}
