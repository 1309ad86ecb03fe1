package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/authpool/authpool/server"
)

// listeners are the daemon's open listeners.
type listeners struct {
	main, ejabberd, http, metrics net.Listener
	// tls is the mutual-TLS listener (--listen-tls): TCP on any address,
	// since client certificates, not the network, guard it.
	tls net.Listener
}

// count returns how many listeners are open.
func (ls *listeners) count() int {
	n := 0
	for _, l := range []net.Listener{ls.main, ls.ejabberd, ls.http, ls.metrics, ls.tls} {
		if l != nil {
			n++
		}
	}
	return n
}

// tcp reports whether any listener is a TCP socket.
func (ls *listeners) tcp() bool {
	for _, l := range []net.Listener{ls.main, ls.ejabberd, ls.http, ls.metrics} {
		if l != nil && l.Addr().Network() == "tcp" {
			return true
		}
	}
	return false
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.main, ls.ejabberd, ls.http, ls.metrics, ls.tls} {
		if l != nil {
			l.Close()
		}
	}
}

// listen opens every listener the configuration asks for, or none.
// Listeners that systemd hands over (socket activation) are used instead of
// opening their own; the rest are opened as the configuration says.
func (d *Daemon) listen() (*listeners, error) {
	cfg := &d.cfg
	ls, err := activated(d.log)
	if err != nil {
		return nil, err
	}
	gid := -1
	if cfg.SocketGroup != "" {
		if gid, err = lookupGID(cfg.SocketGroup); err != nil {
			ls.close()
			return nil, fmt.Errorf("--socket-group %q: %w", cfg.SocketGroup, err)
		}
	}
	mode := cfg.SocketMode
	open := func(l *net.Listener, flagName, addr string, listen func() (net.Listener, error)) error {
		if *l != nil || addr == "" {
			return nil
		}
		nl, err := listen()
		if err != nil {
			ls.close()
			return fmt.Errorf("--%s: %w", flagName, err)
		}
		*l = nl
		return nil
	}
	// The main socket last: clients (and tests) take it accepting as the
	// sign that the daemon is up.
	steps := []struct {
		l      *net.Listener
		flag   string
		addr   string
		listen func() (net.Listener, error)
	}{
		{&ls.ejabberd, "ejabberd-socket", cfg.EjabberdSocket, func() (net.Listener, error) { return server.ListenUnix(cfg.EjabberdSocket, mode, gid) }},
		{&ls.http, "http", cfg.HTTP, func() (net.Listener, error) { return listenHTTP(cfg.HTTP, mode, gid, whyLoopback["http"]) }},
		{&ls.metrics, "metrics", cfg.Metrics, func() (net.Listener, error) { return listenHTTP(cfg.Metrics, mode, gid, whyLoopback["metrics"]) }},
		{&ls.tls, "listen-tls", cfg.ListenTLS, func() (net.Listener, error) { return net.Listen("tcp", cfg.ListenTLS) }},
		{&ls.main, "socket", cfg.Socket, func() (net.Listener, error) { return server.ListenUnix(cfg.Socket, mode, gid) }},
	}
	for _, s := range steps {
		if err := open(s.l, s.flag, s.addr, s.listen); err != nil {
			return nil, err
		}
	}
	if ls.main == nil {
		ls.close()
		return nil, errors.New("no socket to serve: give one (--socket), or have systemd pass it")
	}
	if err := ls.vet(); err != nil {
		ls.close()
		return nil, err
	}
	return ls, nil
}

// vet checks every listener, whether the flags opened it or systemd
// handed it over, the same way: who can reach it must be no more than
// the flags could have allowed.
func (ls *listeners) vet() error {
	for _, x := range []struct {
		l     net.Listener
		flag  string
		tcpOK bool // the HTTP listeners: credentials guard them
	}{
		{ls.main, "socket", false},
		{ls.ejabberd, "ejabberd-socket", false},
		{ls.http, "http", true},
		{ls.metrics, "metrics", true},
	} {
		if x.l == nil {
			continue
		}
		if err := vetListener(x.l, x.tcpOK, whyLoopback[x.flag]); err != nil {
			return fmt.Errorf("--%s %s: %w", x.flag, x.l.Addr(), err)
		}
	}
	return nil
}

// whyLoopback says, for each TCP listener, why it serves loopback only.
var whyLoopback = map[string]string{
	"http":    "passwords travel in clear over this API",
	"metrics": "metrics and status describe the daemon's load and helpers to whoever reaches them, and carry no credentials",
}

// errTooOpen is a listener that more people could reach than any flag
// allows.
var errTooOpen = errors.New("refusing a listener")

// vetListener refuses a listener beyond what the flags allow: a TCP
// socket not on loopback (or any TCP socket where only a Unix socket is
// allowed), a Unix socket without a file (abstract: no permissions guard
// it) or whose file is world-writable, anything but a stream socket.
func vetListener(l net.Listener, tcpOK bool, why string) error {
	switch a := l.Addr().(type) {
	case *net.TCPAddr:
		if !tcpOK {
			return fmt.Errorf("%w: a TCP socket, where only a Unix socket is allowed (nothing but a socket file's permissions and --allow-uid guard this protocol)", errTooOpen)
		}
		if !a.IP.IsLoopback() {
			return fmt.Errorf("%w: %s is not a loopback address: %s, so it serves only 127.0.0.1, [::1] or a unix: socket", errTooOpen, a, why)
		}
		return nil
	case *net.UnixAddr:
		if a.Net != "unix" {
			return fmt.Errorf("%w: a %s socket, not a stream socket", errTooOpen, a.Net)
		}
		if a.Name == "" || a.Name[0] == '@' {
			return fmt.Errorf("%w: an abstract Unix socket, which anyone can connect to: give it a path", errTooOpen)
		}
		fi, err := os.Lstat(a.Name)
		if err != nil {
			return fmt.Errorf("%w: cannot check its file: %w", errTooOpen, err)
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("%w: %s is not a socket", errTooOpen, a.Name)
		}
		if fi.Mode().Perm()&0o002 != 0 {
			return fmt.Errorf("%w: socket mode %#o is world-writable: anyone could ask for passwords to be checked", errTooOpen, fi.Mode().Perm())
		}
		return nil
	}
	return fmt.Errorf("%w: a %s socket; want a Unix stream socket or loopback TCP", errTooOpen, l.Addr().Network())
}

// activated returns the listeners systemd passed (LISTEN_FDS), sorted by
// their FileDescriptorName: "ejabberd", "http" and "metrics" are those
// listeners, anything else (such as the default, the socket unit's name)
// is the main socket.
func activated(log *slog.Logger) (*listeners, error) {
	ls := &listeners{}
	if os.Getenv("LISTEN_FDS") == "" {
		return ls, nil
	}
	named, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	for name, list := range named {
		for _, l := range list {
			slot := &ls.main
			switch {
			case strings.Contains(name, "ejabberd"):
				slot = &ls.ejabberd
			case strings.Contains(name, "metrics"):
				slot = &ls.metrics
			case strings.Contains(name, "http"):
				slot = &ls.http
			}
			if *slot != nil {
				ls.close()
				return nil, fmt.Errorf("socket activation: two sockets for %q", name)
			}
			*slot = l
			log.Info("listener from systemd", "name", name, "addr", l.Addr().String())
		}
	}
	return ls, nil
}

// listenHTTP listens on "unix:/path" or on a loopback host:port, never
// beyond this machine; why says why, in the refusal.
func listenHTTP(addr string, mode os.FileMode, gid int, why string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return server.ListenUnix(path, mode, gid)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := vetListener(l, true, why); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// lookupGID returns the numeric gid of a group name or number.
func lookupGID(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}
