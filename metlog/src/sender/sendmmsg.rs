//! Many datagrams per system call: Linux `sendmmsg(2)`, through `nix`.
//!
//! On this project's machines one `send_to` costs several microseconds, most
//! of it the system call itself; sending 64 datagrams per call lets the UDP
//! worker outrun a plain `send_to` loop.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};

/// At most this many datagrams per system call.
const PER_CALL: usize = 64;

/// Sends each of `datagrams` to `addr`, calling `done(i, result)` for each
/// (by its index): `Ok` when it went out, the error when it could not (the
/// rest are still tried).
pub(crate) fn send_each(
    socket: &UdpSocket,
    addr: SocketAddr,
    datagrams: &[&[u8]],
    mut done: impl FnMut(usize, io::Result<()>),
) {
    let address = SockaddrStorage::from(addr);
    let mut at = 0;
    while at < datagrams.len() {
        let chunk = &datagrams[at..datagrams.len().min(at + PER_CALL)];
        let slices: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|d| [IoSlice::new(d)]).collect();
        let addresses = vec![Some(address); chunk.len()];
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(chunk.len(), None);
        let no_control: [ControlMessage<'_>; 0] = [];
        let result = sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices,
            &addresses,
            no_control,
            MsgFlags::empty(),
        )
        .map(Iterator::count);
        match result {
            // The kernel may stop early; the rest go in the next call.
            Ok(n) if n > 0 => {
                (at..at + n).for_each(|sent| done(sent, Ok(())));
                at += n;
            }
            // An error is about the first datagram not sent: count it, go on
            // with the next.
            failed => {
                let none_sent = || io::Error::new(io::ErrorKind::WriteZero, "no datagram sent");
                done(
                    at,
                    Err(failed.map_or_else(io::Error::from, |_| none_sent())),
                );
                at += 1;
            }
        }
    }
}
