package main

import (
	"encoding/xml"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// handleStanza is the session's xmpp.Handler. Messages are routed to the
// sessions of this server; IQs get mellium's default answer
// (service-unavailable); presence is accepted and dropped (no rosters
// here).
//
// A handler must not return a stanza error: mellium would end the stream.
// Errors for the sender are written to t.
func (c *conn) handleStanza(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	defer c.raw.refill()
	if start.Name.Space != stanza.NSClient {
		return stream.UnsupportedStanzaType
	}
	switch start.Name.Local {
	case "message":
		return c.routeMessage(t, *start)
	case "iq", "presence":
		return nil
	}
	return stream.UnsupportedStanzaType
}

// routeMessage delivers a message to the sessions of its recipient on this
// server. "Delivered" means written to the recipient's stream; a recipient
// with no session (there is no offline storage) or on another server (there
// are no server-to-server links) gets the sender an error back.
func (c *conn) routeMessage(t xmlstream.TokenReadEncoder, start xml.StartElement) error {
	payload, err := xmlstream.ReadAll(t) // the payload and the end element
	if err != nil {
		return err
	}
	msg, err := stanza.NewMessage(start)
	if err != nil { // an address that does not parse
		bounce := stanza.Message{ID: msg.ID, From: c.full.Domain(), To: c.full, Type: stanza.ErrorMessage}
		_, err = xmlstream.Copy(t, bounce.Wrap(stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed}.TokenReader()))
		return err
	}
	// The sender is who it authenticated as, whatever the stanza claims
	// (RFC 6120 §8.1.2.1).
	msg.From = c.full
	if msg.To.Equal(jid.JID{}) {
		msg.To = c.full.Bare()
	}

	var failure stanza.Condition
	switch targets := c.srv.sessionsFor(msg.To); {
	case !c.srv.hosts(msg.To.Domain()):
		failure = stanza.RemoteServerNotFound
	case len(targets) == 0:
		failure = stanza.ServiceUnavailable
	default:
		stamped := append([]xml.Token{stampFrom(start, c.full)}, payload...)
		failure = stanza.ResourceConstraint // unless one session takes it
		for _, target := range targets {
			if target.deliver(stamped) {
				failure = ""
			} else {
				c.log.Warn("message dropped: recipient's queue is full", "to", target.full.String())
			}
		}
	}
	c.log.Debug("message", "to", msg.To.String(), "failure", string(failure))
	// Never answer an error with an error: two servers could loop.
	if failure == "" || msg.Type == stanza.ErrorMessage {
		return nil
	}
	_, err = xmlstream.Copy(t, msg.Error(stanza.Error{Type: stanza.Cancel, Condition: failure}))
	return err
}

// stampFrom returns start with its from set to the sender's address. Its
// namespace declarations are dropped: the encoder writes them again from
// the element names.
func stampFrom(start xml.StartElement, from jid.JID) xml.StartElement {
	start = start.Copy()
	attrs := start.Attr[:0]
	for _, a := range start.Attr {
		if a.Name.Local == "from" && a.Name.Space == "" || isNamespaceDecl(a) {
			continue
		}
		attrs = append(attrs, a)
	}
	start.Attr = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: from.String()})
	return start
}

func isNamespaceDecl(a xml.Attr) bool {
	return a.Name.Space == "" && a.Name.Local == "xmlns" || a.Name.Space == "xmlns"
}

// tokenSlice reads out a stanza held as tokens, dropping the namespace
// declarations of its inner elements as stampFrom does for the outer one.
// Every start element is a copy: mellium's encoder edits attributes in
// place, and one stanza routed to two sessions is encoded by two
// goroutines.
func tokenSlice(toks []xml.Token) xml.TokenReader {
	i := 0
	return xmlstream.ReaderFunc(func() (xml.Token, error) {
		if i == len(toks) {
			return nil, io.EOF
		}
		tok := toks[i]
		i++
		if s, ok := tok.(xml.StartElement); ok {
			s = s.Copy()
			attrs := s.Attr[:0]
			for _, a := range s.Attr {
				if !isNamespaceDecl(a) {
					attrs = append(attrs, a)
				}
			}
			s.Attr = attrs
			tok = s
		}
		return tok, nil
	})
}
