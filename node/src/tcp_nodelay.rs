//! `TCP_NODELAY` on the JSON-RPC servers' sockets (the node's and eth-rpc's).
//!
//! `sc-rpc-server` 33 accepts connections without setting `TCP_NODELAY`. A reply written in two
//! small segments then waits, by Nagle's algorithm, for the peer's ACK of the first, and Linux
//! delays that ACK by 40 ms. `author_submitAndWatchExtrinsic` does exactly that: the
//! subscription id, then the first status. eth-rpc forwards every `eth_sendRawTransaction` that
//! way, so each send took 44–50 ms (measured with tcpdump on loopback: a 56-byte frame from
//! port 9944, then 41 ms of silence before the next one).
//!
//! Linux copies `TCP_NODELAY` from a listening socket to every socket it accepts, so setting it
//! on the listeners once the server has bound them fixes all later connections; connections
//! already accepted get it too. The server owns its sockets and exposes no hook, so they are
//! found by their local port among the process's descriptors. The change we would rather have
//! upstream: `sc-rpc-server` calling `set_nodelay(true)` on each accepted stream, as
//! `jsonrpsee-server`'s own accept loop does.

use std::{
	io,
	os::fd::{BorrowedFd, RawFd},
	time::{Duration, Instant},
};

use socket2::{SockRef, Type};

/// Sets `TCP_NODELAY` on every TCP socket of this process whose local port is in `ports`
/// (listeners, and connections they accepted). Returns how many listeners it found.
pub fn set_on_sockets_bound_to(ports: &[u16]) -> io::Result<usize> {
	let mut listeners = 0;
	for entry in std::fs::read_dir("/proc/self/fd")? {
		let Some(fd) = entry?.file_name().to_str().and_then(|name| name.parse::<RawFd>().ok())
		else {
			continue;
		};
		// SAFETY: the descriptor was open when listed. If another thread closed it since, the
		// calls below fail with EBADF; if the number was reused, it is checked again below
		// (TCP, one of our ports) before anything is set.
		let fd = unsafe { BorrowedFd::borrow_raw(fd) };
		let socket = SockRef::from(&fd);
		if !matches!(socket.r#type(), Ok(kind) if kind == Type::STREAM) {
			continue;
		}
		let Some(port) =
			socket.local_addr().ok().and_then(|addr| addr.as_socket()).map(|a| a.port())
		else {
			continue;
		};
		if !ports.contains(&port) {
			continue;
		}
		if socket.set_tcp_nodelay(true).is_ok() && socket.is_listener().unwrap_or(false) {
			listeners += 1;
		}
	}
	Ok(listeners)
}

/// Sets `TCP_NODELAY` on the listeners the node's RPC server bound (`listen_addresses` as
/// `sc_service::RpcHandlers` reports them).
pub fn set_on_rpc_listeners(listen_addresses: &[sc_network::Multiaddr]) {
	let ports: Vec<u16> = listen_addresses
		.iter()
		.flat_map(|address| address.iter())
		.filter_map(|protocol| match protocol {
			sc_network::multiaddr::Protocol::Tcp(port) => Some(port),
			_ => None,
		})
		.collect();
	match set_on_sockets_bound_to(&ports) {
		Ok(found) if found > 0 => log::debug!("TCP_NODELAY set on {found} RPC listener(s)"),
		Ok(_) => log::warn!("no RPC listener found on ports {ports:?}: replies may wait 40 ms"),
		Err(error) => log::warn!("could not set TCP_NODELAY on the RPC listeners: {error}"),
	}
}

/// Watches, on a thread of its own, for listeners on `ports` to appear (eth-rpc binds its
/// server only once it reached the node) and sets `TCP_NODELAY` on them. Gives up with a
/// warning after `give_up_after` (a server that fell back to a random port).
pub fn watch_for_listeners(ports: Vec<u16>, give_up_after: Duration) {
	let spawned = std::thread::Builder::new().name("rpc-nodelay".into()).spawn(move || {
		let started = Instant::now();
		// Polling: the window in which a connection could be accepted without the option is
		// one period, and a scan of the descriptor table costs microseconds.
		let period = Duration::from_millis(20);
		loop {
			if matches!(set_on_sockets_bound_to(&ports), Ok(found) if found > 0) {
				log::debug!("TCP_NODELAY set on the RPC listener(s) on {ports:?}");
				return;
			}
			if started.elapsed() > give_up_after {
				log::warn!("no RPC listener appeared on ports {ports:?}: replies may wait 40 ms");
				return;
			}
			std::thread::sleep(period);
		}
	});
	if let Err(error) = spawned {
		log::warn!("could not watch for the RPC listeners: {error}");
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::net::{TcpListener, TcpStream};

	fn nodelay(socket: &impl std::os::fd::AsFd) -> bool {
		SockRef::from(socket).tcp_nodelay().unwrap()
	}

	#[test]
	fn listeners_on_the_given_ports_and_what_they_accept_get_nodelay() {
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		let other = TcpListener::bind("127.0.0.1:0").unwrap();
		let port = listener.local_addr().unwrap().port();
		let _before = TcpStream::connect(("127.0.0.1", port)).unwrap();
		let (accepted_before, _) = listener.accept().unwrap();
		assert!(!nodelay(&listener) && !nodelay(&accepted_before));

		assert_eq!(set_on_sockets_bound_to(&[port]).unwrap(), 1);

		assert!(nodelay(&listener), "the listener");
		assert!(nodelay(&accepted_before), "a connection accepted before");
		assert!(!nodelay(&other), "a listener on another port is left alone");
		let _after = TcpStream::connect(("127.0.0.1", port)).unwrap();
		let (accepted_after, _) = listener.accept().unwrap();
		assert!(nodelay(&accepted_after), "Linux copies the option to accepted sockets");
	}

	#[test]
	fn no_listener_on_the_port_is_reported_as_none_found() {
		let listener = TcpListener::bind("127.0.0.1:0").unwrap();
		let unused = listener.local_addr().unwrap().port();
		drop(listener);
		assert_eq!(set_on_sockets_bound_to(&[unused]).unwrap(), 0);
	}
}
