// Package control lets many isolategpt commands share one data folder: the
// first process to take the folder's lock serves later commands on a Unix
// socket in the folder, which only the folder's owner can reach.
//
// Badger lets one process open a store. Without this package a second
// command on the same folder — `audit` while the TUI is open, three `ask`s
// at once — would fail with Badger's lock error. With it:
//
//	process A (first)                          process B (later)
//	Hold(dir): flock isolategpt.lock  ✓        Hold(dir): flock ✗ → ErrHeld{pid, command of A}
//	open the engine                            Dial(dir): connect control.sock
//	Serve: listen on control.sock (0600)  ◀──  check the server's SO_PEERCRED uid
//	  accept: check the peer's uid         ──▶ hello {pid, command}
//	                                       ◀── run {args, dir, env, terminals}
//	  handler runs B's command on A's      ──▶ stdout / stderr bytes
//	  engine, its stdio relayed            ──▶ read n   (stdin is pulled, never pushed)
//	                                       ◀── stdin bytes / stdin EOF
//	                                       ──▶ exit code   (or unserved: reason → B waits)
//	Close: stop accepting, wait for the commands in flight, remove the
//	socket, release the lock                   B: Hold(dir) ✓ on its next try
//
// The guards, against a careless or hostile local user:
//   - the folder must belong to this user and be writable by no one else
//     (otherwise another user could swap the socket or the lock file);
//   - the socket is created mode 0600 inside that folder, reached through
//     an O_PATH descriptor of the checked folder (/proc/self/fd/N/…), so a
//     folder renamed or replaced after the check is not the one used, and
//     long folder paths fit a socket address;
//   - the server serves only peers with its own uid (SO_PEERCRED), and the
//     client talks only to a server with its own uid;
//   - every frame is one strict JSON line of bounded size.
package control
