// Package proc reads what the host agent needs to know about a process from
// /proc: identity (pid, start time), ancestry, executable (also when deleted),
// command line, owner, container and the executable's digests. It also lists
// every process (Sweep) and listens for exec events on the netlink process
// connector (Connector), so that a caller sees every process start in real
// time and catches up with a sweep whenever events were lost.
//
// Processes come and go while they are read: every read of a process that
// vanished (ESRCH, ENOENT) returns an error matching ErrGone, which callers
// treat as "nothing to report", never as a failure. Kernel threads (no
// executable) and zombies (no executable, no command line) are read too, with
// the fields they do not have left empty.
//
// Nothing here uses cgo: user and group names come from parsing /etc/passwd and
// /etc/group (cached, reloaded when the files change), not from os/user.
package proc
