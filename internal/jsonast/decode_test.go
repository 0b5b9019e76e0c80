package jsonast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reference decodes with encoding/json (numbers kept) and converts.
func reference(data []byte) (ast.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("trailing data")
	}
	return ast.InterfaceToValue(x)
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e10`, `-12.25E-3`, `123456789012345678901234567890`,
		`"plain"`, `"esc \" \\ \/ \b \f \n \r \t"`, `"\u00e9\u4e2d\ud83d\ude00"`, `"\ud800 lone"`, `"\udc00\ud800"`,
		`{"iss":"https://idp.example","aud":["a","b"],"exp":1800000000,"nested":{"x":[1,{"y":null}]}}`,
		" \t\n{ \"a\" : [ 1 , 2 ] } \r\n", `"ünïcödé"`,
	} {
		want, err := reference([]byte(in))
		if err != nil {
			t.Fatalf("reference rejects %q: %v", in, err)
		}
		got, err := Decode([]byte(in))
		if err != nil {
			t.Fatalf("Decode(%q): %v", in, err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("Decode(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1}{}`, `[1] x`, `01`, `1.`, `.5`, `-`, `1e`,
		`+1`, `tru`, `nul`, `"unterminated`, "\"ctl\x01\"", `"bad \x escape"`, `"\u12"`, `"\uZZZZ"`, `NaN`, `Infinity`,
		`{"a":1,"a":2}`, "\"\xff\xfe\"", `'single'`, strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	} {
		if v, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) accepted: %v", in, v)
		}
	}
}

func TestDuplicateKeyError(t *testing.T) {
	_, err := Decode([]byte(`{"alg":"RS256","alg":"none"}`))
	if !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("want ErrDuplicateKey, got %v", err)
	}
}

func TestDuplicateKeysInLargeObjects(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		fmt.Fprintf(&b, "%q:%d,", fmt.Sprintf("k%d", i), i)
	}
	b.WriteString(`"k50":0}`)
	if _, err := Decode([]byte(b.String())); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("want ErrDuplicateKey, got %v", err)
	}
	ok := strings.Replace(b.String(), `"k50":0}`, `"k100":0}`, 1)
	v, err := Decode([]byte(ok))
	if err != nil || v.(ast.Object).Len() != 101 {
		t.Fatalf("101 distinct keys: %v", err)
	}
}

func TestDepthLimit(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Decode([]byte(ok)); err != nil {
		t.Fatalf("depth %d rejected: %v", MaxDepth, err)
	}
}

// FuzzDecode checks the parser against encoding/json: whatever one accepts
// the other must accept with the same value, except for what this parser
// rejects on purpose (duplicate names, invalid UTF-8, deep nesting).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[]`, `"x"`, `-1.5e-3`, `{"a":1,"a":2}`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		want, refErr := reference(data)
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("accepted what encoding/json rejects: %q (%v)", data, refErr)
		case err == nil && got.Compare(want) != 0:
			t.Fatalf("Decode(%q) = %v, encoding/json gives %v", data, got, want)
		case err != nil && refErr == nil:
			if errors.Is(err, ErrDuplicateKey) || !utf8.Valid(data) || strings.Contains(err.Error(), "nesting") {
				return
			}
			t.Fatalf("rejected what encoding/json accepts: %q: %v", data, err)
		}
	})
}
