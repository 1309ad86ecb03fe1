package ptyproc

import (
	"fmt"
	"log/slog"
	"time"
)

// Transport is how a helper's stdin and stdout are connected. The zero value
// is PTY.
type Transport uint8

const (
	// PTY connects stdin and stdout to a raw pseudo-terminal, so stdio in the
	// helper is line buffered.
	PTY Transport = iota
	// Pipe connects them to two pipes; the helper must flush its answers.
	Pipe
)

// String returns the transport's flag name.
func (t Transport) String() string {
	switch t {
	case PTY:
		return "pty"
	case Pipe:
		return "pipe"
	}
	return fmt.Sprintf("Transport(%d)", uint8(t))
}

// MarshalText writes the name String gives, so that JSON (logs, status)
// says Transport's name, not its number.
func (t Transport) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// ParseTransport returns the transport named s ("pty" or "pipe").
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "pty":
		return PTY, nil
	case "pipe":
		return Pipe, nil
	}
	return 0, fmt.Errorf("unknown transport %q (want pty or pipe)", s)
}

// Config says how to start a helper. Args is required; every other zero
// value has a useful default.
type Config struct {
	// Args is the program and its arguments; Args[0] is looked up in PATH.
	Args []string

	// Env holds KEY=VALUE pairs added to the helper's minimal environment
	// (PATH, HOME and LANG, copied from the host when set).
	Env []string

	// Dir is the helper's working directory; empty means the host's.
	Dir string

	// Transport connects stdin and stdout; zero is PTY.
	Transport Transport

	// Logger receives the helper's stderr and lifecycle events; nil
	// discards them.
	Logger *slog.Logger

	// StderrLineMax cuts longer stderr lines, after their redaction, before
	// they are logged; zero means 1024 bytes. Lines over 64 KiB are not
	// logged, only their length.
	StderrLineMax int

	// StderrLinesPerSecond bounds how many stderr lines are logged each
	// second, so a flooding helper cannot flood the log; the rest are
	// counted and reported. Zero means 50.
	StderrLinesPerSecond int

	// StderrDrain is how long, after the helper has exited, stderr is read
	// for its last lines before the pipe is closed (a process that escaped
	// the group may hold it open forever). Zero means 500ms.
	StderrDrain time.Duration

	// RedactWindow is how long a password given to Process.Redact is
	// blanked out of the helper's stderr lines after it was last given
	// (and held, wiped afterwards). A line can be read long after it was
	// written, and a helper may print an earlier request's password; zero
	// means 30s.
	RedactWindow time.Duration
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.StderrLineMax <= 0 {
		d.StderrLineMax = 1024
	}
	if d.StderrLinesPerSecond <= 0 {
		d.StderrLinesPerSecond = 50
	}
	if d.StderrDrain <= 0 {
		d.StderrDrain = 500 * time.Millisecond
	}
	if d.RedactWindow <= 0 {
		d.RedactWindow = 30 * time.Second
	}
	return d
}
