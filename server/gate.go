package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Sentinels wrapped by the errors a Gate logs when it refuses a
// connection (ErrNotAllowed is the third).
var (
	ErrTooManyConnections = errors.New("too many connections")
	ErrPeerOverLimit      = errors.New("too many connections from one peer")
)

// GateConfig configures NewGate. Every zero value has the default its
// comment gives.
type GateConfig struct {
	// Name names the listener in logs. Empty means its address.
	Name string
	// AllowUIDs and AllowGIDs, when either is set, admit only peers whose
	// uid, or primary gid, is listed. A Unix socket peer's are read with
	// SO_PEERCRED; a loopback TCP peer's uid is read from the kernel's
	// socket table (sock_diag), and its gid cannot be, so over TCP only
	// AllowUIDs admits. A peer whose credentials cannot be read is refused.
	// Empty means anyone who can connect.
	AllowUIDs []uint32
	AllowGIDs []uint32
	// MaxConnections bounds the connections open at once; more are closed
	// as soon as they are accepted. Zero means 1024.
	MaxConnections int
	// MaxPerPeer bounds the connections one peer holds at once, so that
	// no one can take every slot: a peer is a uid when the kernel tells
	// it (Unix sockets; loopback TCP), otherwise a remote address. Zero
	// means a quarter of MaxConnections (at least 1).
	MaxPerPeer int
	// Budget, when set, is shared by several gates: a connection needs a
	// place in it too. The daemon sizes it from its open-file limit.
	Budget *Budget
	// Logger receives refusals and accept failures; nil discards them.
	// A flood of refusals is a flood of lines: give a rate-limited logger.
	Logger *slog.Logger

	peer func(net.Conn) (Peer, error) // tests; nil means PeerOf
}

func (c *GateConfig) setDefaults() {
	if c.MaxConnections <= 0 {
		c.MaxConnections = 1024
	}
	if c.MaxPerPeer <= 0 {
		c.MaxPerPeer = max(1, c.MaxConnections/4)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.peer == nil {
		c.peer = PeerOf
	}
}

// Gate is a net.Listener that admits connections: it applies the allow
// lists and the connection limits of its GateConfig, closes what it
// refuses, and returns only admitted connections, whose Close frees their
// place. It also rides out running short of file descriptors, retrying
// Accept with a backoff instead of failing.
type Gate struct {
	l    net.Listener
	cfg  GateConfig
	log  *slog.Logger
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	open    int
	perPeer map[string]int
}

// NewGate returns a Gate in front of l.
func NewGate(l net.Listener, cfg GateConfig) *Gate {
	cfg.setDefaults()
	if cfg.Name == "" {
		cfg.Name = l.Addr().String()
	}
	return &Gate{
		l:       l,
		cfg:     cfg,
		log:     cfg.Logger.With("listener", cfg.Name),
		done:    make(chan struct{}),
		perPeer: make(map[string]int),
	}
}

// Accept returns the next admitted connection.
func (g *Gate) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		nc, err := g.l.Accept()
		if err != nil {
			if !isResourceShortage(err) {
				return nil, err
			}
			// Out of descriptors and the like: wait rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			g.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-g.done:
				t.Stop()
			}
			continue
		}
		backoff = 0
		if c := g.admit(nc); c != nil {
			return c, nil
		}
	}
}

// Close closes the listener; a blocked Accept returns.
func (g *Gate) Close() error {
	g.once.Do(func() { close(g.done) })
	return g.l.Close()
}

func (g *Gate) Addr() net.Addr { return g.l.Addr() }

// Open returns how many admitted connections are open.
func (g *Gate) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// admit returns nc wrapped, or closes it and returns nil.
func (g *Gate) admit(nc net.Conn) net.Conn {
	peer, err := g.cfg.peer(nc)
	if err := g.allowed(peer, err); err != nil {
		g.log.Warn("connection refused: not allowed", "err", err)
		nc.Close()
		return nil
	}
	key := peer.key()
	err = nil
	g.mu.Lock()
	switch {
	case g.open >= g.cfg.MaxConnections:
		err = fmt.Errorf("%w: %d open", ErrTooManyConnections, g.open)
	case g.perPeer[key] >= g.cfg.MaxPerPeer:
		err = fmt.Errorf("%w: %s holds %d", ErrPeerOverLimit, peer, g.perPeer[key])
	case g.cfg.Budget != nil && !g.cfg.Budget.acquire():
		err = fmt.Errorf("%w: the daemon's %d connections (its open-file limit) are in use", ErrTooManyConnections, g.cfg.Budget.Max())
	default:
		g.open++
		g.perPeer[key]++
	}
	g.mu.Unlock()
	if err != nil {
		msg := "connection refused: too many connections"
		if errors.Is(err, ErrPeerOverLimit) {
			msg = "connection refused: too many from one peer"
		}
		g.log.Warn(msg, "err", err, "max", g.cfg.MaxConnections, "max_per_peer", g.cfg.MaxPerPeer)
		nc.Close()
		return nil
	}
	return &gatedConn{Conn: nc, g: g, key: key}
}

// allowed applies the allow lists to a peer, and what reading its
// credentials returned.
func (g *Gate) allowed(p Peer, err error) error {
	if len(g.cfg.AllowUIDs) == 0 && len(g.cfg.AllowGIDs) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: cannot tell who it is: %w", ErrNotAllowed, err)
	}
	if !p.Known {
		return fmt.Errorf("%w: cannot tell who %s is", ErrNotAllowed, p)
	}
	if slices.Contains(g.cfg.AllowUIDs, p.UID) || p.GIDKnown && slices.Contains(g.cfg.AllowGIDs, p.GID) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotAllowed, p)
}

func (g *Gate) release(key string) {
	g.mu.Lock()
	g.open--
	if g.perPeer[key]--; g.perPeer[key] <= 0 {
		delete(g.perPeer, key)
	}
	g.mu.Unlock()
	if g.cfg.Budget != nil {
		g.cfg.Budget.release()
	}
}

// gatedConn is an admitted connection; closing it frees its place.
type gatedConn struct {
	net.Conn
	g    *Gate
	key  string
	once sync.Once
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.g.release(c.key) })
	return err
}

// Peer is who is at the other end of a connection, as far as the kernel
// can tell.
type Peer struct {
	// Known is set when UID comes from the kernel; GIDKnown and PID too
	// for a Unix socket peer.
	Known, GIDKnown bool
	UID, GID        uint32
	PID             int32
	// Addr is a TCP peer's IP address.
	Addr string
}

func (p Peer) String() string {
	switch {
	case p.GIDKnown:
		return fmt.Sprintf("pid %d uid %d gid %d", p.PID, p.UID, p.GID)
	case p.Known:
		return fmt.Sprintf("%s uid %d", p.Addr, p.UID)
	case p.Addr != "":
		return p.Addr
	}
	return "an unknown peer"
}

// key is what the per-peer limit counts by: the uid if known, else the
// address.
func (p Peer) key() string {
	if p.Known {
		return "uid " + strconv.FormatUint(uint64(p.UID), 10)
	}
	return "addr " + p.Addr
}

// PeerOf reads who is at the other end of c: for a Unix socket its
// process's credentials (SO_PEERCRED); for a loopback TCP connection the
// uid that owns the other end (sock_diag), and its address; for other TCP
// connections the address alone.
func PeerOf(c net.Conn) (Peer, error) {
	switch c := c.(type) {
	case *net.UnixConn:
		cred, err := PeerCred(c)
		if err != nil {
			return Peer{}, err
		}
		return Peer{Known: true, GIDKnown: true, UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
	case *net.TCPConn:
		local, lok := c.LocalAddr().(*net.TCPAddr)
		remote, rok := c.RemoteAddr().(*net.TCPAddr)
		if !lok || !rok {
			return Peer{}, errors.New("no TCP addresses")
		}
		p := Peer{Addr: remote.IP.String()}
		if !remote.IP.IsLoopback() {
			return p, nil
		}
		uid, err := loopbackPeerUID(local, remote)
		if err != nil {
			return p, err
		}
		p.Known, p.UID = true, uid
		return p, nil
	}
	return Peer{}, fmt.Errorf("%T: cannot tell who is at the other end", c)
}

// Budget bounds the connections open at once across every Gate that
// shares it. It is safe for concurrent use.
type Budget struct {
	mu        sync.Mutex
	max, open int
}

// NewBudget returns a Budget of max connections.
func NewBudget(max int) *Budget { return &Budget{max: max} }

// SetMax changes the bound. Connections already open stay open.
func (b *Budget) SetMax(max int) {
	b.mu.Lock()
	b.max = max
	b.mu.Unlock()
}

// Max returns the bound.
func (b *Budget) Max() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max
}

// Open returns how many connections hold a place.
func (b *Budget) Open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

func (b *Budget) acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open >= b.max {
		return false
	}
	b.open++
	return true
}

func (b *Budget) release() {
	b.mu.Lock()
	b.open--
	b.mu.Unlock()
}
