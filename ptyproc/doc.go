// Package ptyproc starts one external auth helper and owns it until it is
// gone: its process group, its terminal or pipes, and the goroutines that
// watch it.
//
// # Why a pty
//
// Helper scripts written in Python, Perl or C use stdio, which is block
// buffered when stdout is a pipe: their answer sits in a buffer and never
// reaches the host. Under a terminal the same stdio is line buffered, so
// the default transport (PTY) gives the helper a pseudo-terminal for stdin
// and stdout. Helpers that flush can use the Pipe transport instead, which is
// faster.
//
// A terminal in its default cooked mode is hostile to a password channel: it
// echoes input (the password comes back to the host before the answer),
// turns bytes such as 0x03 into signals, edits and splits lines on control
// bytes, and cuts lines at 4095 bytes. The slave side is therefore put into
// raw mode before the helper is started, so that every byte passes
// unchanged from the very first request; a helper that sets its own terminal
// modes can still undo that, which is why answers ending in "\r\n" are
// accepted by package framing.
//
// # Ownership
//
// Start returns a running Process. It runs in a session of its own (Setsid),
// so signals go to its whole process group and grandchildren that inherit
// the terminal die with it. One goroutine waits for the exit and reaps it;
// another copies stderr, which has its own pipe so a traceback can never be
// read as an answer, to the logger line by line. Stop (SIGTERM, then SIGKILL
// after a grace period) and Close (SIGKILL) end the process and return only
// when both goroutines have finished and every descriptor is closed.
//
// # What a helper gets
//
// The helper gets PATH, HOME and LANG from the host and nothing else but
// what Config.Env adds, so no secret in the daemon's environment reaches
// it. Requests, passwords included, travel only on its stdin. It gets
// descriptors 0, 1 and 2 and no other: Start marks every descriptor of the
// host from 3 close-on-exec first (CloseOnExecFrom), which only matters
// for descriptors the host inherited without the flag. Its terminal is
// mode 0600, set before the slave can be opened at all, whatever mode
// devpts gives new terminals.
//
// # Stderr and passwords
//
// A helper that prints its input must not put passwords in the log. The
// host calls Process.Redact with each password before writing it; each
// stderr line is read whole, the passwords given in the last
// Config.RedactWindow are replaced, as they are and in the escaped forms
// scripts print (see redactor), and only then is the line cut and logged.
// The copies are wiped when the window ends and when stderr closes.
//
// # Descendants that leave the process group
//
// A descendant that calls setsid escapes the signals to the helper's
// group. A Reaper, for a program whose only children are helpers, makes
// the process a child subreaper so that such descendants are re-parented
// to it when orphaned, and kills and reaps them.
package ptyproc
