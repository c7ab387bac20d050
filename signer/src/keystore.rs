//! The signer's files: its long-lived secrets, DKGs in progress and key shares.
//!
//! Every file is written atomically (temporary file, fsync, rename, fsync of the folder)
//! with mode 0600 inside a 0700 folder, so a crash leaves either the old or the new
//! content and no other local user can read a secret. Nonces are never written here.

use std::{
	fs::{self, File, OpenOptions},
	io::{self, Write},
	os::unix::fs::{OpenOptionsExt, PermissionsExt},
	path::{Path, PathBuf},
};

use codec::{Decode, Encode};
use tapchain_primitives::custody::DkgId;

use crate::SignerError;

/// The signer's long-lived secrets: the custody identity's BIP-340 key and the key DKG
/// shares are encrypted to.
#[derive(Clone, Encode, Decode)]
pub(crate) struct NodeSecrets {
	pub identity: [u8; 32],
	pub encryption: [u8; 32],
}

/// A DKG this signer has started: the round-1 secret (its polynomial), so that a restart
/// can still finish the DKG from what the chain holds.
#[derive(Clone, Encode, Decode)]
pub(crate) struct PendingDkg {
	pub round1_secret: Vec<u8>,
	/// The round-1 package sent (public), so a repeated round 1 sends the same commitment.
	pub round1_package: Vec<u8>,
}

/// The result of a DKG: this signer's FROST key package and the group's public key package.
#[derive(Clone, Encode, Decode)]
pub(crate) struct KeyShare {
	pub key_package: Vec<u8>,
	pub public_key_package: Vec<u8>,
}

/// A folder holding one signer's secrets.
pub struct KeyStore {
	dir: PathBuf,
}

const SECRETS_FILE: &str = "custody-secrets";

impl KeyStore {
	/// Opens (creating it 0700 if needed) the key store folder.
	pub fn open(dir: impl AsRef<Path>) -> Result<Self, SignerError> {
		let dir = dir.as_ref().to_path_buf();
		fs::create_dir_all(&dir).map_err(|e| SignerError::io(&dir, e))?;
		fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
			.map_err(|e| SignerError::io(&dir, e))?;
		Ok(Self { dir })
	}

	/// The folder this store lives in.
	pub fn dir(&self) -> &Path {
		&self.dir
	}

	fn dkg_file(dkg_id: DkgId) -> String {
		format!("dkg-{dkg_id}")
	}

	fn key_file(dkg_id: DkgId) -> String {
		format!("key-{dkg_id}")
	}

	pub(crate) fn secrets(&self) -> Result<Option<NodeSecrets>, SignerError> {
		self.read(SECRETS_FILE)
	}

	pub(crate) fn put_secrets(&self, secrets: &NodeSecrets) -> Result<(), SignerError> {
		self.write(SECRETS_FILE, secrets)
	}

	pub(crate) fn pending_dkg(&self, dkg_id: DkgId) -> Result<Option<PendingDkg>, SignerError> {
		self.read(&Self::dkg_file(dkg_id))
	}

	pub(crate) fn put_pending_dkg(
		&self,
		dkg_id: DkgId,
		dkg: &PendingDkg,
	) -> Result<(), SignerError> {
		self.write(&Self::dkg_file(dkg_id), dkg)
	}

	pub(crate) fn key_share(&self, dkg_id: DkgId) -> Result<Option<KeyShare>, SignerError> {
		self.read(&Self::key_file(dkg_id))
	}

	/// Stores a finished DKG's key share and forgets the DKG's round-1 secret.
	pub(crate) fn put_key_share(&self, dkg_id: DkgId, share: &KeyShare) -> Result<(), SignerError> {
		self.write(&Self::key_file(dkg_id), share)?;
		let pending = self.dir.join(Self::dkg_file(dkg_id));
		match fs::remove_file(&pending) {
			Ok(()) => Ok(()),
			Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
			Err(e) => Err(SignerError::io(&pending, e)),
		}
	}

	/// Deletes a retired key epoch's share (and any round-1 secret of its DKG); returns
	/// whether there was one. The file's bytes are overwritten before it is unlinked, so a
	/// later read of the disk blocks does not find the share either.
	pub(crate) fn delete_key_share(&self, dkg_id: DkgId) -> Result<bool, SignerError> {
		let mut found = false;
		for name in [Self::key_file(dkg_id), Self::dkg_file(dkg_id)] {
			let path = self.dir.join(&name);
			let len = match fs::metadata(&path) {
				Ok(metadata) => metadata.len() as usize,
				Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
				Err(e) => return Err(SignerError::io(&path, e)),
			};
			let wipe = || -> io::Result<()> {
				let mut file = OpenOptions::new().write(true).open(&path)?;
				file.write_all(&vec![0u8; len])?;
				file.sync_all()?;
				fs::remove_file(&path)?;
				File::open(&self.dir)?.sync_all()
			};
			wipe().map_err(|e| SignerError::io(&path, e))?;
			found |= name.starts_with("key-");
		}
		Ok(found)
	}

	fn read<T: Decode>(&self, name: &str) -> Result<Option<T>, SignerError> {
		let path = self.dir.join(name);
		let bytes = match fs::read(&path) {
			Ok(bytes) => bytes,
			Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
			Err(e) => return Err(SignerError::io(&path, e)),
		};
		T::decode(&mut &bytes[..]).map(Some).map_err(|_| SignerError::CorruptKeyStore(path))
	}

	fn write<T: Encode>(&self, name: &str, value: &T) -> Result<(), SignerError> {
		let path = self.dir.join(name);
		let tmp = self.dir.join(format!(".{name}.tmp"));
		let write = || -> io::Result<()> {
			let mut file = OpenOptions::new()
				.write(true)
				.create(true)
				.truncate(true)
				.mode(0o600)
				.open(&tmp)?;
			// `mode` applies only on creation: a leftover temporary file gets 0600 too.
			file.set_permissions(fs::Permissions::from_mode(0o600))?;
			file.write_all(&value.encode())?;
			file.sync_all()?;
			fs::rename(&tmp, &path)?;
			File::open(&self.dir)?.sync_all()
		};
		write().map_err(|e| SignerError::io(&path, e))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn files_are_private_and_survive_reopening() {
		let dir = tempfile::tempdir().unwrap();
		let store = KeyStore::open(dir.path().join("custody")).unwrap();
		assert!(store.secrets().unwrap().is_none());
		store.put_secrets(&NodeSecrets { identity: [1; 32], encryption: [2; 32] }).unwrap();
		store
			.put_pending_dkg(3, &PendingDkg { round1_secret: vec![4, 5], round1_package: vec![] })
			.unwrap();

		let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
		assert_eq!(mode(store.dir()), 0o700);
		assert_eq!(mode(&store.dir().join(SECRETS_FILE)), 0o600);
		assert_eq!(mode(&store.dir().join("dkg-3")), 0o600);

		let reopened = KeyStore::open(dir.path().join("custody")).unwrap();
		assert_eq!(reopened.secrets().unwrap().unwrap().encryption, [2; 32]);
		assert_eq!(reopened.pending_dkg(3).unwrap().unwrap().round1_secret, vec![4, 5]);

		// Finishing a DKG keeps the share and drops the round-1 secret.
		reopened
			.put_key_share(3, &KeyShare { key_package: vec![6], public_key_package: vec![7] })
			.unwrap();
		assert!(reopened.pending_dkg(3).unwrap().is_none());
		assert_eq!(reopened.key_share(3).unwrap().unwrap().public_key_package, vec![7]);
		// No temporary file is left behind.
		let names: Vec<_> = fs::read_dir(store.dir())
			.unwrap()
			.map(|e| e.unwrap().file_name().into_string().unwrap())
			.collect();
		assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

		// A retired epoch's share is deleted, once.
		assert!(reopened.delete_key_share(3).unwrap());
		assert!(reopened.key_share(3).unwrap().is_none());
		assert!(!reopened.delete_key_share(3).unwrap());
		assert!(!store.dir().join("key-3").exists());
	}

	#[test]
	fn a_corrupt_file_is_a_typed_error() {
		let dir = tempfile::tempdir().unwrap();
		let store = KeyStore::open(dir.path()).unwrap();
		fs::write(dir.path().join(SECRETS_FILE), [1, 2, 3]).unwrap();
		assert!(matches!(store.secrets(), Err(SignerError::CorruptKeyStore(_))));
	}
}
