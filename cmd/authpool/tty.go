package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// callerTerminal is what connect knows of a caller that runs it under a
// pty, as Prosody's mod_auth_external does (through lpty). Such a caller
// reads whatever arrives on the pty as its answer, one read per request, so
// connect must write nothing there but answers, each in one piece, and each
// before the caller gives up. Left alone, the pty breaks all of that:
//   - lpty turns echo off in the child after fork while Prosody writes its
//     first request at once, so that request is often echoed back and read
//     as the answer; answering it too would put every later answer one
//     request late;
//   - output processing writes "1\n" as "1\r\n", which a reader can take
//     in two pieces, the second read as the next answer;
//   - stderr is the same pty: a log line is read as an answer;
//   - signal characters in a password (0x03) kill the bridge.
//
// The zero value is a caller that is not a terminal: nothing changes.
type callerTerminal struct {
	raw       bool // stdin is a terminal and has been made raw
	fd        int  // stdin's descriptor, when raw
	discarded int  // bytes the caller wrote before we were ready
	// restores put each terminal back as it was: a person who runs
	// connect at a shell gets their terminal back when it exits.
	restores []func()
}

// restore puts the terminals back in the modes they had.
func (t *callerTerminal) restore() {
	for _, r := range t.restores {
		r()
	}
}

// takeCallerTerminal makes a terminal stdin (and stdout) raw, as
// cfmakeraw(3) does, and discards what the caller wrote before that: no
// request already waiting is answered, so the echo the caller may have
// read instead is the only answer it got for it, and every later answer
// stays in step.
func takeCallerTerminal(stdin io.Reader, stdout io.Writer) (*callerTerminal, error) {
	t := &callerTerminal{}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return t, fmt.Errorf("raw mode on stdout: %w", err)
		}
		t.restores = append(t.restores, func() { term.Restore(int(f.Fd()), old) })
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return t, nil
	}
	fd := int(f.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return t, fmt.Errorf("raw mode on stdin: %w", err)
	}
	// Restored in the reverse order: stdin's saved state is the original
	// when stdin and stdout are one terminal.
	t.restores = append([]func(){func() { term.Restore(fd, old) }}, t.restores...)
	t.discarded, _ = unix.IoctlGetInt(fd, unix.TIOCINQ)
	// Input and output: the output queue may still hold an echo that the
	// caller has not read yet.
	if err := unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIOFLUSH); err != nil {
		return t, fmt.Errorf("discarding pending input: %w", err)
	}
	t.raw, t.fd = true, fd
	return t, nil
}

// superseded reports whether the caller has written more since its last
// request was read. A caller on a pty asks one thing at a time, so new
// input means it stopped waiting for the answer in hand.
func (t *callerTerminal) superseded(br *bufio.Reader) bool {
	if !t.raw {
		return false
	}
	if br.Buffered() > 0 {
		return true
	}
	n, err := unix.IoctlGetInt(t.fd, unix.TIOCINQ)
	return err == nil && n > 0
}

// stderrIsTerminal reports whether stderr is a terminal: the caller's pty,
// in practice, where a log line would be read as an answer.
func (t *callerTerminal) stderrIsTerminal(stderr io.Writer) bool {
	f, ok := stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logDestination is where connect logs: logFile when given, else stderr
// unless it is a terminal, else nowhere. When stderr is a terminal, the
// process's descriptor 2 is also pointed at the log file or /dev/null, so
// that not even a Go runtime crash report can reach the caller's pty.
func (t *callerTerminal) logDestination(logFile string, stderr io.Writer) (io.Writer, func(), error) {
	var out io.Writer = stderr
	closeLog := func() {}
	var file *os.File
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		out, file, closeLog = f, f, func() { f.Close() }
	}
	if !t.stderrIsTerminal(stderr) {
		return out, closeLog, nil
	}
	if file == nil {
		out = io.Discard
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, nil, err
		}
		defer null.Close()
		file = null
	}
	if stderr == os.Stderr {
		if err := unix.Dup3(int(file.Fd()), 2, 0); err != nil {
			closeLog()
			return nil, nil, fmt.Errorf("moving stderr off the terminal: %w", err)
		}
	}
	return out, closeLog, nil
}

// reportStartError says why connect cannot start. On the caller's terminal
// it is one line, written at once, that begins with "error:" (Prosody's
// module logs a response that does) and can never be taken for an answer.
func reportStartError(stderr io.Writer, onTerminal bool, err error) {
	if !onTerminal {
		fmt.Fprintf(stderr, "authpool connect: %v\n", err)
		return
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	io.WriteString(stderr, "error: "+connectName+": "+msg+"\n")
}
