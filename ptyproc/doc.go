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
// # Environment
//
// The helper gets PATH, HOME and LANG from the host and nothing else but
// what Config.Env adds, so no secret in the daemon's environment reaches
// it. Requests, passwords included, travel only on its stdin.
package ptyproc
