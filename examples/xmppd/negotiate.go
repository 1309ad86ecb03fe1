package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"github.com/authpool/authpool/xmppauth"
)

// This file is the server's half of RFC 6120 stream negotiation, written
// as an xmpp.Negotiator: mellium calls negotiate once per stream (the
// first, the one after STARTTLS, the one after SASL) until it returns
// Ready, and then serves stanzas on the session.
//
// Why not mellium's own server negotiator (xmpp.NewNegotiator with the
// StartTLS, SASLServer and BindResource features)? Four reasons, each a
// login problem:
//   - It takes the token after each element to be the next element, but
//     RFC 6120 allows whitespace between elements and clients send it
//     (go-xmpp, behind go-sendxmpp, sends a newline): negotiation fails with
//     "invalid start to feature of type xml.CharData". Here next() skips
//     whitespace between the stream's elements, and only there: text inside
//     an element (a message body, a password) is never touched.
//   - Its SASL permission callback, func(*sasl.Negotiator) bool, has no
//     context and no error, and false always sends not-authorized: a hung
//     helper would tell users their right password is wrong. Here the check
//     runs under the connection's context and a deadline, and xmppauth
//     maps the answer to success, not-authorized or temporary-auth-failure.
//   - BindResource binds the address the client claimed in its stream
//     header, before anyone authenticated it. Here the bound address is
//     the one SASL authenticated.
//   - It accepts any domain a client names. Here only hosted ones.

// XML namespaces of the negotiation (RFC 6120).
const (
	nsStreams = "http://etherx.jabber.org/streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
)

// The features offered at each stage: TLS first (required), then SASL
// PLAIN, which sends the password and so is offered only under TLS, then
// resource binding.
const (
	featuresTLS  = `<stream:features><starttls xmlns='` + nsTLS + `'><required/></starttls></stream:features>`
	featuresSASL = `<stream:features><mechanisms xmlns='` + nsSASL + `'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`
	featuresBind = `<stream:features><bind xmlns='` + nsBind + `'/></stream:features>`
)

// negotiate handles one stream: its header, then the one feature due at
// this stage.
func (c *conn) negotiate(ctx context.Context, in, out *stream.Info, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, any, error) {
	r := s.TokenReader()
	defer r.Close()
	st := &streamIO{d: xml.NewTokenDecoder(r), w: s.Conn()}

	var (
		mask xmpp.SessionState
		rw   io.ReadWriter
		err  error
	)
	if err = c.openStream(st, in, out); err == nil {
		switch state := s.State(); {
		case state&xmpp.Secure == 0:
			mask, rw, err = c.startTLS(ctx, st, s)
		case state&xmpp.Authn == 0:
			mask, rw, err = c.authenticate(ctx, st, s)
		default:
			mask, err = c.bindResource(st, in)
		}
	}
	if st.opened {
		var se stream.Error
		var syntax *xml.SyntaxError
		switch {
		case errors.As(err, &se):
			st.closeWithError(se)
		case errors.As(err, &syntax):
			st.closeWithError(stream.NotWellFormed)
		}
	}
	c.raw.refill()
	return mask, rw, nil, err
}

// openStream reads the client's stream header and answers with ours. Only
// a hosted domain is served, and every restart must name the same one: a
// login must not carry over to another domain.
func (c *conn) openStream(st *streamIO, in, out *stream.Info) error {
	start, err := st.next()
	if err != nil {
		return err
	}
	if err := in.FromStartElement(start); err != nil {
		st.open(jid.JID{}, "")
		return err
	}
	// Never trust the header's from: before authentication it is a claim.
	in.From = jid.JID{}
	switch {
	case start.Name != xml.Name{Space: nsStreams, Local: "stream"}, in.XMLNS != stanza.NSClient:
		st.open(jid.JID{}, "")
		return stream.InvalidNamespace
	case in.Version.Less(stream.DefaultVersion):
		st.open(jid.JID{}, "")
		return stream.UnsupportedVersion
	case !c.srv.hosts(in.To), !c.domain.Equal(jid.JID{}) && !c.domain.Equal(in.To):
		c.log.Info("stream refused: domain not hosted", "to", in.To.String())
		st.open(jid.JID{}, "")
		return stream.HostUnknown
	}
	c.domain = in.To

	out.XMLNS, out.ID, out.From, out.Version = stanza.NSClient, randomID(), c.domain, stream.DefaultVersion
	return st.open(c.domain, out.ID)
}

// startTLS offers STARTTLS and requires it: nothing else is accepted on a
// plain connection.
func (c *conn) startTLS(ctx context.Context, st *streamIO, s *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	if err := st.write(featuresTLS); err != nil {
		return 0, nil, err
	}
	start, err := st.next()
	if err != nil {
		return 0, nil, err
	}
	if start.Name != (xml.Name{Space: nsTLS, Local: "starttls"}) {
		return 0, nil, stream.PolicyViolation
	}
	if err := st.d.Skip(); err != nil {
		return 0, nil, err
	}
	if err := st.write(`<proceed xmlns='` + nsTLS + `'/>`); err != nil {
		return 0, nil, err
	}
	// TLS runs on the connection itself: whatever the client sent after
	// <starttls/> in the clear, and the decoder may hold, is dropped with
	// the decoder when mellium restarts the stream on tc.
	tc := tls.Server(s.Conn(), c.srv.cfg.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		return 0, nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return xmpp.Secure, tc, nil
}

// saslFailure is a SASL failure condition (RFC 6120 §6.5) other than the
// ones xmppauth maps.
type saslFailure string

const (
	failAborted          saslFailure = "aborted"
	failInvalidAuthzid   saslFailure = "invalid-authzid"
	failInvalidMechanism saslFailure = "invalid-mechanism"
	failMalformed        saslFailure = "malformed-request"
)

// authenticate runs SASL PLAIN until a login succeeds or the client has
// failed MaxLoginFailures times.
func (c *conn) authenticate(ctx context.Context, st *streamIO, s *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	if err := st.write(featuresSASL); err != nil {
		return 0, nil, err
	}
	for failures := 1; ; failures++ {
		c.raw.refill()
		condition, user, err := c.saslStep(ctx, st)
		if err != nil {
			return 0, nil, err
		}
		if condition == xmppauth.Success.String() {
			if err := st.write(`<success xmlns='` + nsSASL + `'/>`); err != nil {
				return 0, nil, err
			}
			c.user = user
			// A new stream starts on the same connection.
			return xmpp.Authn, s.Conn(), nil
		}
		if err := st.saslFail(condition); err != nil {
			return 0, nil, err
		}
		if err := ctx.Err(); err != nil { // timed out, or shutting down
			return 0, nil, err
		}
		if failures >= c.srv.cfg.MaxLoginFailures {
			return 0, nil, stream.PolicyViolation
		}
	}
}

// saslStep reads one <auth/> (or <abort/>) and returns how it ends.
func (c *conn) saslStep(ctx context.Context, st *streamIO) (string, jid.JID, error) {
	start, err := st.next()
	if err != nil {
		return "", jid.JID{}, err
	}
	switch start.Name {
	case xml.Name{Space: nsSASL, Local: "auth"}:
	case xml.Name{Space: nsSASL, Local: "abort"}:
		return string(failAborted), jid.JID{}, st.d.Skip()
	default:
		// Stanzas, or anything else, before authentication.
		return "", jid.JID{}, stream.NotAuthorized
	}
	var auth struct {
		Mechanism string `xml:"mechanism,attr"`
		Data      string `xml:",chardata"`
	}
	if err := st.d.DecodeElement(&auth, &start); err != nil {
		return "", jid.JID{}, err
	}
	if auth.Mechanism != "PLAIN" {
		return string(failInvalidMechanism), jid.JID{}, nil
	}
	if auth.Data == "" {
		// No initial response (RFC 6120 §6.4.2): ask for it.
		if auth.Data, err = st.challenge(); err != nil {
			return "", jid.JID{}, err
		}
	}
	condition, user := c.checkPlain(ctx, auth.Data)
	return condition, user, nil
}

// checkPlain decodes a PLAIN response (RFC 4616: authzid NUL authcid NUL
// password) and asks the pool. It returns what to send, "success" or a
// failure condition, and on success the authenticated bare address.
func (c *conn) checkPlain(ctx context.Context, data string) (string, jid.JID) {
	raw, err := base64.StdEncoding.DecodeString(data)
	defer clear(raw) // this copy of the password, at least
	if err != nil {
		return string(failMalformed), jid.JID{}
	}
	authzid, rest, ok1 := bytes.Cut(raw, []byte{0})
	authcid, password, ok2 := bytes.Cut(rest, []byte{0})
	if !ok1 || !ok2 || bytes.IndexByte(password, 0) >= 0 {
		return string(failMalformed), jid.JID{}
	}
	// The user name is a localpart of the stream's domain, normalized as
	// XMPP addresses are (case folded, ...): the helper is asked about
	// exactly the address that will be bound.
	user, err := jid.New(string(authcid), c.domain.Domainpart(), "")
	if err != nil || user.Localpart() == "" {
		c.log.Info("login refused: not a user name", "result", xmppauth.NotAuthorized.String())
		return xmppauth.NotAuthorized.String(), jid.JID{}
	}
	// Acting as someone else is not offered.
	if len(authzid) > 0 {
		if az, err := jid.Parse(string(authzid)); err != nil || !az.Equal(user) {
			c.log.Info("login refused: authzid is not the user", "user", user.String(), "result", string(failInvalidAuthzid))
			return string(failInvalidAuthzid), jid.JID{}
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.LoginTimeout)
	defer cancel()
	res, err := xmppauth.Check(ctx, c.srv.cfg.Checker, user.Localpart(), user.Domainpart(), string(password))
	if err != nil {
		c.log.Warn("login", "user", user.String(), "result", res.String(), "err", err)
	} else {
		c.log.Info("login", "user", user.String(), "result", res.String())
	}
	return res.String(), user
}

// bindResource binds the authenticated user to a resource: the one the
// client asked for when it is valid and free, else a random one.
func (c *conn) bindResource(st *streamIO, in *stream.Info) (xmpp.SessionState, error) {
	if err := st.write(featuresBind); err != nil {
		return 0, err
	}
	start, err := st.next()
	if err != nil {
		return 0, err
	}
	if start.Name != (xml.Name{Space: stanza.NSClient, Local: "iq"}) {
		return 0, stream.PolicyViolation
	}
	var iq struct {
		stanza.IQ
		Bind *struct {
			Resource string `xml:"resource"`
		} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	}
	if err := st.d.DecodeElement(&iq, &start); err != nil {
		return 0, err
	}
	if iq.Type != stanza.SetIQ || iq.Bind == nil {
		return 0, stream.PolicyViolation
	}
	full, ok := c.bindFree(iq.Bind.Resource)
	if !ok {
		return 0, stream.SystemShutdown
	}
	var b strings.Builder
	b.WriteString(`<iq type='result' id='`)
	xml.EscapeText(&b, []byte(iq.ID))
	b.WriteString(`'><bind xmlns='` + nsBind + `'><jid>`)
	xml.EscapeText(&b, []byte(full.String()))
	b.WriteString(`</jid></bind></iq>`)
	if err := st.write(b.String()); err != nil {
		return 0, err
	}
	// The session's remote address is now the authenticated, bound one.
	in.From = full
	return xmpp.Ready, nil
}

// bindFree binds the session to user/resource, or to a random resource
// when that one is invalid or taken (RFC 6120 §7.7.2.2). It fails only
// when the server is closing.
func (c *conn) bindFree(resource string) (jid.JID, bool) {
	for try := 0; try < 4; try++ {
		if try > 0 || resource == "" {
			resource = randomID()
		}
		full, err := c.user.WithResource(resource)
		if err != nil {
			continue
		}
		if c.srv.bind(c, full) {
			return full, true
		}
	}
	return jid.JID{}, false
}

// streamIO reads and writes one stream during negotiation.
type streamIO struct {
	d      *xml.Decoder
	w      io.Writer
	opened bool // our stream header is sent
}

// next returns the start of the client's next element. It skips the XML
// declaration and whitespace between elements, which RFC 6120 allows and
// clients send; it refuses text, comments and processing instructions
// there (RFC 6120 §11.1), and returns io.EOF when the client closes its
// stream.
func (st *streamIO) next() (xml.StartElement, error) {
	for {
		tok, err := st.d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, io.EOF
		case xml.CharData:
			if len(bytes.Trim(t, " \t\r\n")) > 0 {
				return xml.StartElement{}, stream.BadFormat
			}
		case xml.ProcInst:
			if t.Target != "xml" || st.opened {
				return xml.StartElement{}, stream.RestrictedXML
			}
		default:
			return xml.StartElement{}, stream.RestrictedXML
		}
	}
}

func (st *streamIO) write(s string) error {
	_, err := io.WriteString(st.w, s)
	return err
}

// open sends our stream header. A header without a domain or id opens a
// stream only to close it with an error (RFC 6120 §4.9.1.2).
func (st *streamIO) open(domain jid.JID, id string) error {
	var b strings.Builder
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='` + nsStreams + `' version='1.0'`)
	for _, a := range [][2]string{{"from", domain.String()}, {"id", id}} {
		if a[1] != "" {
			b.WriteString(" " + a[0] + "='")
			xml.EscapeText(&b, []byte(a[1]))
			b.WriteString("'")
		}
	}
	b.WriteString(">")
	st.opened = true
	return st.write(b.String())
}

// closeWithError sends a stream error and closes our stream.
func (st *streamIO) closeWithError(e stream.Error) {
	st.write(`<stream:error><` + e.Err + ` xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`)
}

// saslFail sends a SASL failure with condition.
func (st *streamIO) saslFail(condition string) error {
	return st.write(`<failure xmlns='` + nsSASL + `'><` + condition + `/></failure>`)
}

// challenge sends an empty SASL challenge and returns the client's
// response.
func (st *streamIO) challenge() (string, error) {
	if err := st.write(`<challenge xmlns='` + nsSASL + `'>=</challenge>`); err != nil {
		return "", err
	}
	start, err := st.next()
	if err != nil {
		return "", err
	}
	if start.Name != (xml.Name{Space: nsSASL, Local: "response"}) {
		return "", stream.PolicyViolation
	}
	var resp struct {
		Data string `xml:",chardata"`
	}
	err = st.d.DecodeElement(&resp, &start)
	return resp.Data, err
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
