package main

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

const secretMark = "s3cr3t-Mark-never-logged"

// Every answer of the pool ends the SASL exchange with the right
// condition, through mellium's own client.
func TestLoginResults(t *testing.T) {
	ts := startServer(t, func(c *serverConfig) { c.LoginTimeout = 300 * time.Millisecond })
	for _, tt := range []struct {
		name, addr, password string
		want                 string // "" for a login, else the SASL condition
		asked                string // what the helper must have been asked; "" for nothing
	}{
		{"right password", "alice@example.com", "wonderland", "", "auth:alice:example.com"},
		{"wrong password", "alice@example.com", secretMark, "not-authorized", "auth:alice:example.com"},
		{"unknown user", "zed@example.com", "wonderland", "not-authorized", "auth:zed:example.com"},
		{"password with colons", "carol@example.com", "a:b:c", "", "auth:carol:example.com"},
		{"second hosted domain", "alice@example.net", "net-pass", "", "auth:alice:example.net"},
		{"user name is case-folded before the helper sees it", "ALICE@example.com", "wonderland", "", "auth:alice:example.com"},
		{"hung helper", "hang@example.com", "x", "temporary-auth-failure", "auth:hang:example.com"},
		{"helper died", "crash@example.com", "x", "temporary-auth-failure", "auth:crash:example.com"},
		{"empty password", "alice@example.com", "", "not-authorized", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ts.helperRequests())
			start := time.Now()
			sess, err := ts.login(t, tt.addr, tt.password)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("login failed: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("login: %v, want the SASL failure %s", err, tt.want)
			}
			if tt.want == "temporary-auth-failure" && time.Since(start) > 5*time.Second {
				t.Errorf("temporary-auth-failure took %v with a 300ms login timeout", time.Since(start))
			}
			if sess != nil {
				// Bound to the authenticated, normalized address.
				want := jid.MustParse(tt.addr).Bare()
				if got := sess.LocalAddr().Bare(); !got.Equal(want) || sess.LocalAddr().Resourcepart() == "" {
					t.Errorf("bound %v, want %v/RESOURCE", sess.LocalAddr(), want)
				}
			}
			asked := ts.helperRequests()[before:]
			if tt.asked == "" && len(asked) > 0 || tt.asked != "" && !slices.Contains(asked, tt.asked) {
				t.Errorf("helper asked %q, want %q", asked, tt.asked)
			}
		})
	}
	if strings.Contains(ts.logs.String(), secretMark) {
		t.Error("a password reached the server log")
	}
}

// A user name the helper protocol cannot carry, or no XMPP address can
// hold, is refused without asking a helper.
func TestLoginRefusedBeforeTheHelper(t *testing.T) {
	ts := startServer(t, nil)
	for _, tt := range []struct {
		name, auth, want string
	}{
		{"colon in the user", plainAuth("", "bob:evil", "builder"), "not-authorized"},
		{"not a localpart", plainAuth("", "bob@example.com", "builder"), "not-authorized"},
		{"empty user", plainAuth("", "", "builder"), "not-authorized"},
		{"authzid of someone else", plainAuth("bob@example.com", "alice", "wonderland"), "invalid-authzid"},
		{"not base64", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!</auth>`, "malformed-request"},
		{"two fields", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + base64.StdEncoding.EncodeToString([]byte("alice\x00wonderland")) + `</auth>`, "malformed-request"},
		{"another mechanism", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1hbGljZSxyPTEyMzQ=</auth>`, "invalid-mechanism"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(ts.helperRequests())
			c := ts.dialRaw(t)
			c.startTLS("example.com")
			c.open("example.com")
			c.send(tt.auth)
			c.expect("failure", "<"+tt.want+"/>")
			if asked := ts.helperRequests()[before:]; len(asked) > 0 {
				t.Errorf("helper asked %q", asked)
			}
		})
	}
}

// The authzid may name the user itself.
func TestAuthzidOfTheUser(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.startTLS("example.com")
	c.open("example.com")
	c.send(plainAuth("alice@example.com", "alice", "wonderland"))
	c.expect("success")
}

// A client that sends no initial response is asked for it.
func TestPlainWithoutInitialResponse(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.startTLS("example.com")
	c.open("example.com")
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>`)
	c.expect("challenge")
	c.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + base64.StdEncoding.EncodeToString([]byte("\x00bob\x00builder")) + `</response>`)
	c.expect("success")
}

// The bound address is the one SASL authenticated, never the one the
// stream header claimed; a requested resource is honoured while free.
func TestBindsTheAuthenticatedIdentity(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.send(streamHeader("example.com", "bob@example.com/claimed"))
	c.expect("stream")
	c.expect("features", "starttls")
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.expect("proceed")
	c.handshake("example.com")
	c.send(streamHeader("example.com", "bob@example.com"))
	c.expect("stream")
	c.expect("features", "PLAIN")
	c.send(plainAuth("", "alice", "wonderland"))
	c.expect("success")
	c.send(streamHeader("example.com", "bob@example.com"))
	c.expect("stream")
	c.expect("features", "bind")
	if got := c.bind("phone"); got != "alice@example.com/phone" {
		t.Errorf("bound %q, want alice@example.com/phone", got)
	}

	// The same resource again: a fresh one, not the first session's.
	c2 := ts.dialRaw(t)
	c2.loginRaw("example.com", "alice", "wonderland")
	if got := c2.bind("phone"); got == "alice@example.com/phone" || !strings.HasPrefix(got, "alice@example.com/") {
		t.Errorf("second session bound %q", got)
	}
	// No resource asked for: one is made up.
	c3 := ts.dialRaw(t)
	c3.loginRaw("example.com", "bob", "builder")
	if got := c3.bind(""); !strings.HasPrefix(got, "bob@example.com/") || len(got) <= len("bob@example.com/") {
		t.Errorf("bound %q", got)
	}
}

// Only hosted domains are served, and a stream restart cannot move a
// connection to another domain.
func TestOnlyHostedDomains(t *testing.T) {
	ts := startServer(t, nil)
	t.Run("unknown domain", func(t *testing.T) {
		c := ts.dialRaw(t)
		c.send(streamHeader("evil.org", ""))
		c.expect("stream")
		c.expectStreamError("host-unknown")
	})
	t.Run("no domain", func(t *testing.T) {
		c := ts.dialRaw(t)
		c.send(streamHeader("", ""))
		c.expect("stream")
		c.expectStreamError("host-unknown")
	})
	t.Run("a user address instead of a domain", func(t *testing.T) {
		c := ts.dialRaw(t)
		c.send(streamHeader("alice@example.com", ""))
		c.expect("stream")
		c.expectStreamError("host-unknown")
	})
	t.Run("another hosted domain after STARTTLS", func(t *testing.T) {
		c := ts.dialRaw(t)
		c.startTLS("example.com")
		c.send(streamHeader("example.net", ""))
		c.expect("stream")
		c.expectStreamError("host-unknown")
	})
	t.Run("another hosted domain after SASL", func(t *testing.T) {
		c := ts.dialRaw(t)
		c.startTLS("example.com")
		c.open("example.com")
		c.send(plainAuth("", "alice", "wonderland"))
		c.expect("success")
		c.send(streamHeader("example.net", ""))
		c.expect("stream")
		c.expectStreamError("host-unknown")
	})
	// The pool asks a young helper twice to confirm a yes (see pool's
	// "Out of step"): the same login, asked again at once.
	if asked := slices.Compact(ts.helperRequests()); len(asked) != 1 {
		t.Errorf("helper asked %q, want only the one login", asked)
	}
}

// Whitespace between elements, as go-xmpp sends it, is skipped; whitespace
// inside a message body is delivered as sent; text between elements is
// refused.
func TestWhitespaceBetweenElements(t *testing.T) {
	ts := startServer(t, nil)
	bob, err := ts.login(t, "bob@example.com", "builder")
	if err != nil {
		t.Fatal(err)
	}
	inbox := listen(t, bob)

	const ws = "\n \t\r\n"
	c := ts.dialRaw(t)
	c.send(ws + streamHeader("example.com", "") + ws)
	c.expect("stream")
	c.expect("features")
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` + ws)
	c.expect("proceed")
	c.handshake("example.com")
	c.send(streamHeader("example.com", "") + ws)
	c.expect("stream")
	c.expect("features")
	c.send(ws + plainAuth("", "alice", "wonderland") + ws)
	c.expect("success")
	c.send(streamHeader("example.com", "") + ws)
	c.expect("stream")
	c.expect("features")
	c.send(ws)
	c.bind("desk")
	body := "  two spaces,\n\ta tab and a newline  "
	c.send(ws + `<message to='bob@example.com' type='chat'>` + ws + `<body>` + body + `</body>` + ws + `</message>` + ws)
	if m := waitMessage(t, inbox); m.Body != body {
		t.Errorf("delivered body %q, want %q", m.Body, body)
	}

	c2 := ts.dialRaw(t)
	c2.startTLS("example.com")
	c2.send(streamHeader("example.com", "") + "text")
	c2.expect("stream")
	c2.expect("features")
	c2.send(plainAuth("", "alice", "wonderland"))
	c2.expectStreamError("bad-format")
}

// SASL PLAIN sends the password: it is not offered, nor accepted, before
// TLS, and nothing sent in the clear after <starttls/> is taken as said
// under TLS.
func TestPlainOnlyUnderTLS(t *testing.T) {
	ts := startServer(t, nil)
	t.Run("auth before STARTTLS", func(t *testing.T) {
		c := ts.dialRaw(t)
		if f := c.open("example.com"); strings.Contains(f.Inner, "PLAIN") {
			t.Errorf("PLAIN offered in the clear: %s", f.Inner)
		}
		c.send(plainAuth("", "alice", "wonderland"))
		c.expectStreamError("policy-violation")
	})
	t.Run("auth injected after starttls", func(t *testing.T) {
		c := ts.dialRaw(t)
		c.open("example.com")
		c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` + plainAuth("", "alice", "wonderland"))
		c.expect("proceed")
		c.handshake("example.com")
		// A fresh stream: the injected <auth/> was never read.
		c.send(streamHeader("example.com", ""))
		c.expect("stream")
		c.expect("features", "PLAIN")
		c.send(`<presence/>`)
		c.expectStreamError("not-authorized")
	})
	if asked := ts.helperRequests(); len(asked) > 0 {
		t.Errorf("helper asked %q", asked)
	}
}

// A connection gets MaxLoginFailures tries, then its stream is closed.
func TestLoginFailuresAreBounded(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.startTLS("example.com")
	c.open("example.com")
	for range 2 {
		c.send(plainAuth("", "alice", "guess"))
		c.expect("failure", "not-authorized")
	}
	c.send(`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	c.expect("failure", "aborted")
	c.expectStreamError("policy-violation")
}

// A client cannot make the server buffer an element without bound.
func TestElementTooLarge(t *testing.T) {
	ts := startServer(t, func(c *serverConfig) { c.MaxElement = 16 << 10 })
	c := ts.dialRaw(t)
	c.startTLS("example.com")
	c.open("example.com")
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.conn.Write([]byte(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + strings.Repeat("A", 1<<20)))
	if e := c.next(); e.XMLName.Local != "EOF" {
		t.Fatalf("got <%s>%s, want the connection closed", e.XMLName.Local, e.Inner)
	}
	// The server goes on.
	if _, err := ts.login(t, "alice@example.com", "wonderland"); err != nil {
		t.Fatal(err)
	}
}

// Messages reach the recipient's sessions with the sender's bound address,
// whatever the sender claimed; undeliverable ones come back as errors.
func TestMessageRouting(t *testing.T) {
	ts := startServer(t, nil)
	alice, err := ts.login(t, "alice@example.com", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ts.login(t, "bob@example.com", "builder")
	if err != nil {
		t.Fatal(err)
	}
	aliceInbox, bobInbox := listen(t, alice), listen(t, bob)

	sendMessage(t, alice, "bob@example.com", "carol@example.com/forged", "hello bob")
	m := waitMessage(t, bobInbox)
	if m.Body != "hello bob" || !m.From.Equal(alice.LocalAddr()) {
		t.Errorf("bob got %q from %v, want \"hello bob\" from %v", m.Body, m.From, alice.LocalAddr())
	}
	sendMessage(t, bob, bob.LocalAddr().String(), "", "note to self")
	if m := waitMessage(t, bobInbox); m.Body != "note to self" {
		t.Errorf("bob got %q", m.Body)
	}

	for _, tt := range []struct{ to, condition string }{
		{"carol@example.com", string(stanza.ServiceUnavailable)},
		{"bob@other.org", string(stanza.RemoteServerNotFound)},
	} {
		sendMessage(t, alice, tt.to, "", "anyone there?")
		m := waitMessage(t, aliceInbox)
		if m.Type != stanza.ErrorMessage || !m.From.Equal(jid.MustParse(tt.to)) {
			t.Errorf("to %s: alice got a %q message from %v, want an error from %s", tt.to, m.Type, m.From, tt.to)
		}
		if !strings.Contains(ts.logs.String(), "failure="+tt.condition) {
			t.Errorf("to %s: no %s in the log", tt.to, tt.condition)
		}
	}
}

// Shutdown ends sessions with system-shutdown, ends logins in progress,
// and returns once every connection is gone.
func TestShutdownEndsSessions(t *testing.T) {
	ts := startServer(t, func(c *serverConfig) { c.LoginTimeout = time.Minute })
	c := ts.dialRaw(t)
	c.loginRaw("example.com", "alice", "wonderland")
	c.bind("")
	hung := ts.dialRaw(t)
	hung.startTLS("example.com")
	hung.open("example.com")
	hung.send(plainAuth("", "hang", "x"))
	within(t, "the hung login to reach the helper", func() bool {
		return slices.Contains(ts.helperRequests(), "auth:hang:example.com")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	ts.srv.Shutdown(ctx)
	if time.Since(start) > 5*time.Second {
		t.Errorf("Shutdown took %v", time.Since(start))
	}
	c.expectStreamError("system-shutdown")
	// The hung login is told to come back later.
	hung.expect("failure", "temporary-auth-failure")
	if e := hung.next(); e.XMLName.Local != "EOF" && e.XMLName.Local != "/stream" {
		t.Errorf("after the failure got <%s>%s, want the connection closed", e.XMLName.Local, e.Inner)
	}
}

// A message to an address that does not parse comes back as an error; the
// session goes on.
func TestMalformedAddressBounces(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dialRaw(t)
	c.loginRaw("example.com", "alice", "wonderland")
	c.bind("desk")
	c.send(`<message id='m1' to='a@b@c'><body>hi</body></message>`)
	e := c.expect("message", "jid-malformed")
	if !slices.Contains(e.Attr, xml.Attr{Name: xml.Name{Local: "type"}, Value: "error"}) {
		t.Errorf("bounce %v is not an error", e.Attr)
	}
	c.send(`<message to='alice@example.com/desk'><body>still here</body></message>`)
	c.expect("message", "still here")
}

// Sessions bind while messages are routed: routing reads every bound
// session's address (run with -race).
func TestBindWhileRouting(t *testing.T) {
	ts := startServer(t, nil)
	alice, err := ts.login(t, "alice@example.com", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	listen(t, alice)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := alice.Send(ctx, stanza.Message{To: jid.MustParse("bob@example.com"), Type: stanza.ChatMessage}.Wrap(nil))
			cancel()
			if err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := ts.login(t, "bob@example.com", "builder"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sent
}
