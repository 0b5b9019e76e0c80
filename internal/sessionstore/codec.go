package sessionstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Session record encoding (the Bolt sessions bucket; the key is the ID,
// which the value does not repeat):
//
//	byte    version (1)
//	string  AccessKeyID, Subject, Issuer, IdPSubject, ClientID, Action,
//	        Revision, SourceIP    each as uvarint length + UTF-8 bytes
//	time    IssuedAt, ExpiresAt    each as varint unix seconds + uvarint
//	        nanoseconds (0..999999999), UTC
//
// A typical record is ~210 bytes against ~420 for JSON (the strings
// dominate; the saving is the field names and the time formatting). A new field means a
// new version byte; decoders reject versions they do not know.
const sessionCodecV1 = 1

var errCorrupt = errors.New("corrupt session record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func encodeSession(s Session) []byte {
	n := 1 + 2*2*binary.MaxVarintLen64 + 8*binary.MaxVarintLen16 +
		len(s.AccessKeyID) + len(s.Subject) + len(s.Issuer) + len(s.IdPSubject) +
		len(s.ClientID) + len(s.Action) + len(s.Revision) + len(s.SourceIP)
	b := make([]byte, 0, n)
	b = append(b, sessionCodecV1)
	for _, f := range [...]string{s.AccessKeyID, s.Subject, s.Issuer, s.IdPSubject, s.ClientID, s.Action, s.Revision, s.SourceIP} {
		b = appendString(b, f)
	}
	b = appendTime(b, s.IssuedAt)
	return appendTime(b, s.ExpiresAt)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) string() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[k : k+int(n)]) // copies: bolt memory is only valid in the transaction
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	sec, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	d.b = d.b[k:]
	nsec, k := binary.Uvarint(d.b)
	if k <= 0 || nsec >= 1e9 {
		d.err = errCorrupt
		return time.Time{}
	}
	d.b = d.b[k:]
	return time.Unix(sec, int64(nsec)).UTC()
}

func decodeSession(id string, b []byte) (Session, error) {
	if len(b) == 0 || b[0] != sessionCodecV1 {
		if len(b) == 0 {
			return Session{}, errCorrupt
		}
		return Session{}, fmt.Errorf("unknown session record version %d", b[0])
	}
	d := decoder{b: b[1:]}
	s := Session{ID: id}
	for _, f := range [...]*string{&s.AccessKeyID, &s.Subject, &s.Issuer, &s.IdPSubject, &s.ClientID, &s.Action, &s.Revision, &s.SourceIP} {
		*f = d.string()
	}
	s.IssuedAt = d.time()
	s.ExpiresAt = d.time()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return Session{}, d.err
	}
	return s, nil
}
