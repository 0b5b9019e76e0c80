package sigv4

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

func masked(s string) string {
	if s == "" {
		return ""
	}
	return "<redacted " + strconv.Itoa(len(s)) + " bytes>"
}

// String formats a with the session token masked and without the
// signature.
func (a Auth) String() string {
	var sb strings.Builder
	sb.WriteString("{Form:")
	sb.WriteString(a.Form.String())
	sb.WriteString(" AccessKeyID:")
	sb.WriteString(a.AccessKeyID)
	sb.WriteString(" SessionToken:")
	sb.WriteString(masked(a.SessionToken))
	sb.WriteString(" Date:")
	if !a.Date.IsZero() {
		sb.WriteString(a.Date.Format(time.RFC3339))
	}
	sb.WriteString(" Region:")
	sb.WriteString(a.Region)
	sb.WriteString(" Service:")
	sb.WriteString(a.Service)
	sb.WriteString(" SignedHeaders:[")
	sb.WriteString(strings.Join(a.SignedHeaders, " "))
	sb.WriteString("] Expires:")
	sb.WriteString(a.Expires.String())
	sb.WriteString("}")
	return sb.String()
}

// GoString is String: %#v never shows the raw fields.
func (a Auth) GoString() string { return "sigv4.Auth" + a.String() }

// Format makes every fmt verb go through String or GoString.
func (a Auth) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, a.GoString())
		return
	}
	_, _ = io.WriteString(f, a.String())
}

// LogValue implements slog.LogValuer with the session token masked.
func (a Auth) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("form", a.Form.String()),
		slog.String("access_key_id", a.AccessKeyID),
		slog.Time("date", a.Date),
		slog.String("region", a.Region),
		slog.String("service", a.Service),
		slog.Any("signed_headers", a.SignedHeaders),
	}
	if a.SessionToken != "" {
		attrs = append(attrs, slog.String("session_token", masked(a.SessionToken)))
	}
	if a.Expires != 0 {
		attrs = append(attrs, slog.Duration("expires", a.Expires))
	}
	return slog.GroupValue(attrs...)
}

var (
	_ fmt.Stringer   = Auth{}
	_ fmt.GoStringer = Auth{}
	_ fmt.Formatter  = Auth{}
	_ slog.LogValuer = Auth{}
)
