// Package jsonast parses JSON (RFC 8259) straight into OPA's ast values.
//
// It exists for the token-verification hot path: decoding claims with
// encoding/json into map[string]any and converting that with
// ast.InterfaceToValue does the work twice. The parser is strict: it
// rejects duplicate object member names (RFC 7515 requires unique JOSE
// header names; a claims set with duplicates is ambiguous), invalid UTF-8,
// control characters in strings, trailing data, and nesting deeper than
// MaxDepth. Numbers keep their exact text (ast.Number), as OPA does.
package jsonast

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// MaxDepth bounds the nesting of arrays and objects.
const MaxDepth = 64

// smallObject is the member count up to which duplicate names are found by
// a linear scan.
const smallObject = 16

// ErrDuplicateKey is returned for an object with a repeated member name.
var ErrDuplicateKey = errors.New("duplicate object member name")

// SyntaxError describes malformed input.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("json: %s at offset %d", e.Msg, e.Offset) }

// Decode parses exactly one JSON value.
func Decode(data []byte) (ast.Value, error) {
	p := parser{data: data}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.fail("trailing data after the value")
	}
	return v, nil
}

// DecodeObject parses exactly one JSON object.
func DecodeObject(data []byte) (ast.Object, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, &SyntaxError{Offset: 0, Msg: "not an object"}
	}
	return obj, nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.pos, Msg: msg} }

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (ast.Value, error) {
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case c == 't':
		return p.literal("true", ast.Boolean(true))
	case c == 'f':
		return p.literal("false", ast.Boolean(false))
	case c == 'n':
		return p.literal("null", ast.Null{})
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.fail(fmt.Sprintf("unexpected character %q", c))
	}
}

func (p *parser) literal(word string, v ast.Value) (ast.Value, error) {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return nil, p.fail("invalid literal")
	}
	p.pos += len(word)
	return v, nil
}

func (p *parser) object(depth int) (ast.Value, error) {
	if depth > MaxDepth {
		return nil, p.fail("nesting too deep")
	}
	p.pos++ // {
	items := make([][2]*ast.Term, 0, 8)
	var names map[string]struct{} // duplicate detection beyond smallObject members
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return ast.NewObject(), nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a member name")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		// ast.NewObject assumes unique keys, so duplicates are caught here:
		// a linear scan for small objects, a set for large ones.
		if len(items) < smallObject {
			for _, it := range items {
				if string(it[0].Value.(ast.String)) == key {
					return nil, ErrDuplicateKey
				}
			}
		} else {
			if names == nil {
				names = make(map[string]struct{}, 2*smallObject)
				for _, it := range items {
					names[string(it[0].Value.(ast.String))] = struct{}{}
				}
			}
			if _, dup := names[key]; dup {
				return nil, ErrDuplicateKey
			}
			names[key] = struct{}{}
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, [2]*ast.Term{nameTerm(key), ast.NewTerm(v)})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of input in object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return ast.NewObject(items...), nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

// commonNames are member names of JOSE headers and JWT claims sets; their
// terms are shared (terms are immutable) instead of allocated per token.
var commonNames = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, n := range []string{
		"alg", "kid", "typ", "cty", "crit", "jku", "x5t", "x5c", "jwk",
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "scope", "scp", "client_id", "clientId",
		"auth_time", "acr", "amr", "sid", "nonce", "at_hash", "email", "email_verified", "name",
		"preferred_username", "given_name", "family_name", "groups", "roles", "realm_access",
		"resource_access", "allowed-origins", "session_state", "ext", "tenant", "tid", "oid",
	} {
		m[n] = ast.StringTerm(n)
	}
	return m
}()

func nameTerm(name string) *ast.Term {
	if t, ok := commonNames[name]; ok {
		return t
	}
	return ast.StringTerm(name)
}

func (p *parser) array(depth int) (ast.Value, error) {
	if depth > MaxDepth {
		return nil, p.fail("nesting too deep")
	}
	p.pos++ // [
	var elems []*ast.Term
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return ast.NewArray(), nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		elems = append(elems, ast.NewTerm(v))
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of input in array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return ast.NewArray(elems...), nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

// number validates the RFC 8259 number grammar and keeps the text.
func (p *parser) number() (ast.Value, error) {
	start := p.pos
	d := p.data
	if d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	default:
		return nil, p.fail("invalid number")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if !p.digits() {
			return nil, p.fail("invalid number fraction")
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return nil, p.fail("invalid number exponent")
		}
	}
	// OPA's own rule for numbers it evaluates: one big.Float holds it,
	// with a binary exponent within ±1e5. A larger one (1e2147483648)
	// would cost OPA non-linear time wherever it is printed or compared,
	// and encoding/json with ast.InterfaceToValue refuses it too.
	n, err := ast.NumberChecked(string(d[start:p.pos]))
	if err != nil {
		return nil, p.fail("number out of range")
	}
	return n, nil
}

func (p *parser) digits() bool {
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

// string parses a string starting at the opening quote.
func (p *parser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	// Fast path: no escapes, ASCII or valid UTF-8, no control characters.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			s := p.data[start:p.pos]
			p.pos++
			if !utf8.Valid(s) {
				return "", &SyntaxError{Offset: start, Msg: "invalid UTF-8 in string"}
			}
			return string(s), nil
		case c == '\\':
			return p.slowString(start)
		case c < 0x20:
			return "", p.fail("control character in string")
		}
		p.pos++
	}
	return "", p.fail("unterminated string")
}

func (p *parser) slowString(start int) (string, error) {
	buf := make([]byte, 0, p.pos-start+16)
	buf = append(buf, p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !utf8.Valid(buf) {
				return "", &SyntaxError{Offset: start, Msg: "invalid UTF-8 in string"}
			}
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A valid pair combines; a lone surrogate becomes U+FFFD,
				// as encoding/json does.
				save := p.pos
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					p.pos += 2
					if r2, ok := p.hex4(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							continue
						}
					}
				}
				p.pos = save
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.fail("invalid escape")
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(n), true
}
