package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/pool"
)

// The test binary doubles as the helper, the way os/exec's tests re-execute
// themselves: with fakeEnv set, TestMain runs a helper instead of the tests.
const (
	fakeEnv    = "XMPPD_TEST_FAKE"     // "db", or "dead" for a helper that exits at start
	fakeLogEnv = "XMPPD_TEST_FAKE_LOG" // file the helper appends "pid N" and "op:user:server" to
)

func TestMain(m *testing.M) {
	if name := os.Getenv(fakeEnv); name != "" {
		os.Exit(runFake(name))
	}
	goleak.VerifyTestMain(m)
}

var fakeUsers = map[string]string{
	"alice@example.com": "wonderland",
	"bob@example.com":   "builder",
	"carol@example.com": "a:b:c",
	"alice@example.net": "net-pass",
}

// runFake is a generic-protocol helper. User "hang" never answers; user
// "crash" makes it exit without answering. It never records a password.
func runFake(name string) int {
	if name == "dead" {
		return 1
	}
	record := func(string) {}
	if path := os.Getenv(fakeLogEnv); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return 2
		}
		record = func(s string) { f.WriteString(s + "\n") }
	}
	record(fmt.Sprintf("pid %d", os.Getpid()))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.SplitN(in.Text(), ":", 4)
		if len(f) < 3 {
			os.Stdout.WriteString("0\n")
			continue
		}
		record(strings.Join(f[:3], ":"))
		switch f[1] {
		case "hang":
			time.Sleep(time.Hour)
		case "crash":
			return 3
		}
		pw, ok := fakeUsers[f[1]+"@"+f[2]]
		yes := f[0] == "isuser" && ok || f[0] == "auth" && len(f) == 4 && ok && f[3] == pw
		if yes {
			os.Stdout.WriteString("1\n")
		} else {
			os.Stdout.WriteString("0\n")
		}
	}
	return 0
}

// testServer is a server on loopback with fake helpers behind it.
type testServer struct {
	addr      string
	srv       *server
	pool      *pool.Pool
	logs      *testutil.SyncBuffer
	helperLog string
	roots     *x509.CertPool
}

var (
	exampleCom = jid.MustParse("example.com")
	exampleNet = jid.MustParse("example.net")
)

func startServer(t *testing.T, tweak func(*serverConfig)) *testServer {
	t.Helper()
	ts := &testServer{logs: &testutil.SyncBuffer{}, helperLog: filepath.Join(t.TempDir(), "helper.log")}
	p, err := pool.New(pool.Config{
		Command:   []string{os.Args[0]},
		Env:       []string{fakeEnv + "=db", fakeLogEnv + "=" + ts.helperLog},
		Processes: 2,
		Timeout:   2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.pool = p
	cert, err := selfSigned([]string{"example.com", "example.net"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	ts.roots = x509.NewCertPool()
	ts.roots.AddCert(leaf)
	cfg := serverConfig{
		Checker: p,
		Domains: []jid.JID{exampleCom, exampleNet},
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Logger:  slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	ts.srv = newServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
		p.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs)
		}
	})
	return ts
}

// poolProbeUser is who the pool asks about when it proves a helper (pool's
// "Proving a command"): not a login.
const poolProbeUser = "authpool-probe"

// helperRequests returns what the helpers were asked, without passwords
// and without the pool's probes.
func (ts *testServer) helperRequests() []string {
	b, _ := os.ReadFile(ts.helperLog)
	var out []string
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "pid ") && !strings.Contains(line, poolProbeUser) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

func (ts *testServer) tlsConfig(domain string) *tls.Config {
	return &tls.Config{RootCAs: ts.roots, ServerName: domain, MinVersion: tls.VersionTLS12}
}

// login logs addr in with mellium's own client-side negotiation.
func (ts *testServer) login(t *testing.T, addr, password string) (*xmpp.Session, error) {
	t.Helper()
	return loginAt(t, ts.addr, ts.tlsConfig(jid.MustParse(addr).Domainpart()), addr, password)
}

func loginAt(t *testing.T, server string, tlsConfig *tls.Config, addr, password string) (*xmpp.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	origin := jid.MustParse(addr)
	conn, err := net.Dial("tcp", server)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := xmpp.NewClientSession(ctx, origin, conn,
		xmpp.StartTLS(tlsConfig),
		xmpp.SASL("", password, sasl.Plain),
		xmpp.BindResource())
	if err != nil {
		conn.Close()
		return nil, err
	}
	t.Cleanup(func() {
		sess.Close()
		conn.Close()
	})
	return sess, nil
}

// received is a message as a client got it.
type received struct {
	stanza.Message
	Body string `xml:"body"`
}

// listen serves sess and returns the messages it receives (the first 16
// not yet read; later ones are dropped).
func listen(t *testing.T, sess *xmpp.Session) <-chan received {
	t.Helper()
	ch := make(chan received, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sess.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "message" {
				return nil
			}
			var m received
			d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r))
			if _, err := d.Token(); err != nil {
				return err
			}
			if err := d.DecodeElement(&m, start); err != nil {
				return err
			}
			select {
			case ch <- m:
			default: // nobody reads them (TestBindWhileRouting)
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		sess.Conn().Close()
		<-done
	})
	return ch
}

func sendMessage(t *testing.T, sess *xmpp.Session, to, claimedFrom, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := stanza.Message{To: jid.MustParse(to), Type: stanza.ChatMessage}
	if claimedFrom != "" {
		msg.From = jid.MustParse(claimedFrom)
	}
	err := sess.Send(ctx, msg.Wrap(xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}})))
	if err != nil {
		t.Fatal(err)
	}
}

func waitMessage(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return received{}
}

// rawClient plays a client byte by byte, for what mellium's client would
// never send.
type rawClient struct {
	t    *testing.T
	ts   *testServer
	tcp  net.Conn
	conn net.Conn
	d    *xml.Decoder
}

func (ts *testServer) dialRaw(t *testing.T) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, ts: ts, tcp: conn, conn: conn, d: xml.NewDecoder(conn)}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// element is a top-level element the server sent. Its Name is "stream" for
// the server's stream header, "/stream" for the end of its stream, "EOF"
// when the connection closed.
type element struct {
	XMLName xml.Name
	Attr    []xml.Attr `xml:",any,attr"`
	Inner   string     `xml:",innerxml"`
}

func (c *rawClient) next() element {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		tok, err := c.d.Token()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.t.Fatal("server said nothing within 10s")
		case err != nil:
			return element{XMLName: xml.Name{Local: "EOF"}, Inner: err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "stream" {
				return element{XMLName: t.Name, Attr: t.Attr}
			}
			var e element
			if err := c.d.DecodeElement(&e, &t); err != nil {
				return element{XMLName: xml.Name{Local: "EOF"}, Inner: err.Error()}
			}
			return e
		case xml.EndElement:
			return element{XMLName: xml.Name{Local: "/stream"}}
		}
	}
}

// expect reads the next element and fails unless its name is local and its
// content holds every one of contains.
func (c *rawClient) expect(local string, contains ...string) element {
	c.t.Helper()
	e := c.next()
	if e.XMLName.Local != local {
		c.t.Fatalf("got <%s>%s, want <%s>", e.XMLName.Local, e.Inner, local)
	}
	for _, s := range contains {
		if !strings.Contains(e.Inner, s) {
			c.t.Fatalf("got <%s>%s, want it to hold %q", e.XMLName.Local, e.Inner, s)
		}
	}
	return e
}

// expectStreamError reads our stream's end: a stream error with condition,
// then the end of the stream.
func (c *rawClient) expectStreamError(condition string) {
	c.t.Helper()
	c.expect("error", condition)
	if e := c.next(); e.XMLName.Local != "/stream" {
		c.t.Fatalf("after the stream error got <%s>, want the stream closed", e.XMLName.Local)
	}
}

func streamHeader(to, from string) string {
	h := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'`
	if to != "" {
		h += ` to='` + to + `'`
	}
	if from != "" {
		h += ` from='` + from + `'`
	}
	return h + `>`
}

// open sends a stream header and reads the server's and its features.
func (c *rawClient) open(to string) element {
	c.t.Helper()
	c.send(streamHeader(to, ""))
	c.expect("stream")
	return c.expect("features")
}

// startTLS opens a stream to domain and upgrades it.
func (c *rawClient) startTLS(domain string) {
	c.t.Helper()
	c.open(domain)
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.expect("proceed")
	c.handshake(domain)
}

func (c *rawClient) handshake(domain string) {
	c.t.Helper()
	tc := tls.Client(c.tcp, c.ts.tlsConfig(domain))
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.d = tc, xml.NewDecoder(tc)
}

func plainAuth(authzid, user, password string) string {
	data := base64.StdEncoding.EncodeToString([]byte(authzid + "\x00" + user + "\x00" + password))
	return `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + data + `</auth>`
}

// loginRaw negotiates TLS and SASL as user (a localpart) at domain, and
// leaves the client at the bind features.
func (c *rawClient) loginRaw(domain, user, password string) {
	c.t.Helper()
	c.startTLS(domain)
	c.open(domain)
	c.send(plainAuth("", user, password))
	c.expect("success")
	c.open(domain)
}

func (c *rawClient) bind(resource string) string {
	c.t.Helper()
	req := `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`
	if resource != "" {
		req = `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + resource + `</resource></bind></iq>`
	}
	c.send(req)
	var res struct {
		JID string `xml:"bind>jid"`
	}
	e := c.expect("iq", "<jid>")
	if err := xml.Unmarshal([]byte("<iq>"+e.Inner+"</iq>"), &res); err != nil {
		c.t.Fatal(err)
	}
	return res.JID
}

// within waits, bounded, for cond.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func netPipe(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}
