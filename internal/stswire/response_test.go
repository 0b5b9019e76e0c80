package stswire

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fixedExpiration = time.Date(2026, 11, 28, 20, 26, 12, 0, time.UTC)

// What minio-go v7.4.1 (pkg/credentials) decodes: the root is matched with
// its namespace, AssumedRoleUser's id is spelled AssumeRoleId (as MinIO's
// server writes it), and the client-grants subject is
// SubjectFromClientGrantsToken (MinIO's server writes SubjectFromToken; the
// client never uses the field).
type minioAssumedRoleUser struct {
	Arn           string
	AssumedRoleID string `xml:"AssumeRoleId"`
}

type minioCredentials struct {
	AccessKey    string    `xml:"AccessKeyId"`
	SecretKey    string    `xml:"SecretAccessKey"`
	Expiration   time.Time `xml:"Expiration"`
	SessionToken string    `xml:"SessionToken"`
}

type minioWebIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		AssumedRoleUser             minioAssumedRoleUser `xml:",omitempty"`
		Audience                    string               `xml:",omitempty"`
		Credentials                 minioCredentials     `xml:",omitempty"`
		PackedPolicySize            int                  `xml:",omitempty"`
		Provider                    string               `xml:",omitempty"`
		SubjectFromWebIdentityToken string               `xml:",omitempty"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	ResponseMetadata struct {
		RequestID string `xml:"RequestId,omitempty"`
	} `xml:"ResponseMetadata,omitempty"`
}

type minioClientGrantsResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithClientGrantsResponse"`
	Result  struct {
		AssumedRoleUser              minioAssumedRoleUser `xml:",omitempty"`
		Audience                     string               `xml:",omitempty"`
		Credentials                  minioCredentials     `xml:",omitempty"`
		PackedPolicySize             int                  `xml:",omitempty"`
		Provider                     string               `xml:",omitempty"`
		SubjectFromClientGrantsToken string               `xml:",omitempty"`
	} `xml:"AssumeRoleWithClientGrantsResult"`
	ResponseMetadata struct {
		RequestID string `xml:"RequestId,omitempty"`
	} `xml:"ResponseMetadata,omitempty"`
}

// MinIO's server-side name of the client-grants subject.
type minioServerClientGrantsResult struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithClientGrantsResponse"`
	Result  struct {
		SubjectFromToken string
	} `xml:"AssumeRoleWithClientGrantsResult"`
}

type minioErrorResponse struct {
	XMLName  xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	STSError struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// What aws-sdk-go-v2 (smithy awsquery) decodes: it finds the element
// <Operation>Result anywhere, by local name, and its members by local name;
// Expiration is a date-time; errors are the first <Error> element's Code and
// Message. botocore and the JS SDK read the same names.
type awsResult struct {
	AssumedRoleUser *struct {
		Arn           *string
		AssumedRoleID *string `xml:"AssumedRoleId"`
	}
	Audience    *string
	Credentials *struct {
		AccessKeyID     *string `xml:"AccessKeyId"`
		SecretAccessKey *string
		SessionToken    *string
		Expiration      *time.Time
	}
	PackedPolicySize            *int32
	Provider                    *string
	SubjectFromWebIdentityToken *string
	SubjectFromToken            *string
}

type awsWebIdentityResponse struct {
	XMLName xml.Name  `xml:"AssumeRoleWithWebIdentityResponse"`
	Result  awsResult `xml:"AssumeRoleWithWebIdentityResult"`
	Meta    struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

type awsClientGrantsResponse struct {
	XMLName xml.Name  `xml:"AssumeRoleWithClientGrantsResponse"`
	Result  awsResult `xml:"AssumeRoleWithClientGrantsResult"`
	Meta    struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

type awsError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

func fullResult(a Action) Result {
	size := 6
	return Result{
		Action: a,
		Credentials: Credentials{
			AccessKeyID:     "ASIAQWERTYUIOPASDFGH",
			SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
			SessionToken:    "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
			Expiration:      fixedExpiration,
		},
		Subject:          "alice",
		Audience:         "minio",
		Provider:         "https://idp.example.com/realms/r",
		AssumedRoleArn:   "arn:aws:sts::123456789012:assumed-role/opa-sts/alice",
		AssumedRoleID:    "AROA0123456789EXAMPLE:alice",
		PackedPolicySize: &size,
	}
}

func writeResult(t *testing.T, res Result, id string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := WriteResult(rec, res, id); err != nil {
		t.Fatal(err)
	}
	return rec
}

func checkHeaders(t *testing.T, rec *httptest.ResponseRecorder, status int, id string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d", rec.Code, status)
	}
	h := rec.Header()
	if got := h.Get("Content-Type"); got != "application/xml" {
		t.Errorf("Content-Type %q", got)
	}
	if got := h.Get("x-amz-request-id"); got != id {
		t.Errorf("x-amz-request-id %q, want %q", got, id)
	}
	if got := h.Get("x-amzn-RequestId"); got != id { // what aws-sdk-go-v2 reads
		t.Errorf("x-amzn-RequestId %q, want %q", got, id)
	}
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	if got, want := h.Get("Content-Length"), len(rec.Body.Bytes()); got != itoa(want) {
		t.Errorf("Content-Length %s, body %d", got, want)
	}
	body := rec.Body.String()
	if !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<") {
		t.Errorf("no XML declaration: %.60q", body)
	}
	if strings.Contains(body[strings.Index(body, "\n")+1:], "\n") || strings.Contains(body, "> <") || strings.Contains(body, ">\t") {
		t.Errorf("not compact: %s", body)
	}
	// Every document is well-formed.
	d := xml.NewDecoder(strings.NewReader(body))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Errorf("not well-formed: %v", err)
			}
			break
		}
	}
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestWriteResultWebIdentity(t *testing.T) {
	res := fullResult(AssumeRoleWithWebIdentity)
	rec := writeResult(t, res, "4a3a-id")
	checkHeaders(t, rec, 200, "4a3a-id")
	body := rec.Body.String()

	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>` +
		`<Credentials><AccessKeyId>ASIAQWERTYUIOPASDFGH</AccessKeyId><SecretAccessKey>wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY</SecretAccessKey>` +
		`<SessionToken>eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln</SessionToken><Expiration>2026-11-28T20:26:12Z</Expiration></Credentials>` +
		`<SubjectFromWebIdentityToken>alice</SubjectFromWebIdentityToken>` +
		`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/opa-sts/alice</Arn><AssumedRoleId>AROA0123456789EXAMPLE:alice</AssumedRoleId></AssumedRoleUser>` +
		`<Audience>minio</Audience><Provider>https://idp.example.com/realms/r</Provider><PackedPolicySize>6</PackedPolicySize>` +
		`</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>4a3a-id</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`
	if body != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}

	var m minioWebIdentityResponse
	if err := xml.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("minio-go decode: %v", err)
	}
	c := m.Result.Credentials
	if c.AccessKey != res.Credentials.AccessKeyID || c.SecretKey != res.Credentials.SecretAccessKey ||
		c.SessionToken != res.Credentials.SessionToken || !c.Expiration.Equal(fixedExpiration) {
		t.Errorf("minio-go credentials %+v", c)
	}
	if m.Result.SubjectFromWebIdentityToken != "alice" || m.Result.Audience != "minio" || m.Result.Provider != res.Provider ||
		m.Result.PackedPolicySize != 6 || m.Result.AssumedRoleUser.Arn != res.AssumedRoleArn || m.ResponseMetadata.RequestID != "4a3a-id" {
		t.Errorf("minio-go result %+v", m)
	}

	var a awsWebIdentityResponse
	if err := xml.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("aws decode: %v", err)
	}
	checkAWS(t, a.Result, res, true)
	if a.Meta.RequestID != "4a3a-id" {
		t.Errorf("request id %q", a.Meta.RequestID)
	}
}

func TestWriteResultClientGrants(t *testing.T) {
	res := fullResult(AssumeRoleWithClientGrants)
	rec := writeResult(t, res, "cg-id")
	checkHeaders(t, rec, 200, "cg-id")
	body := rec.Body.String()
	for _, s := range []string{
		`<AssumeRoleWithClientGrantsResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithClientGrantsResult><Credentials>`,
		`<SubjectFromToken>alice</SubjectFromToken>`,
		`</AssumeRoleWithClientGrantsResult><ResponseMetadata><RequestId>cg-id</RequestId></ResponseMetadata></AssumeRoleWithClientGrantsResponse>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("lacks %s:\n%s", s, body)
		}
	}
	if strings.Contains(body, "SubjectFromWebIdentityToken") {
		t.Error("web identity subject in a client grants response")
	}

	var m minioClientGrantsResponse
	if err := xml.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("minio-go decode: %v", err)
	}
	if c := m.Result.Credentials; c.AccessKey != res.Credentials.AccessKeyID || c.SecretKey != res.Credentials.SecretAccessKey ||
		c.SessionToken != res.Credentials.SessionToken || !c.Expiration.Equal(fixedExpiration) {
		t.Errorf("minio-go credentials %+v", c)
	}
	var ms minioServerClientGrantsResult
	if err := xml.Unmarshal(rec.Body.Bytes(), &ms); err != nil || ms.Result.SubjectFromToken != "alice" {
		t.Errorf("MinIO server names: %v %+v", err, ms)
	}
	var a awsClientGrantsResponse
	if err := xml.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("aws decode: %v", err)
	}
	checkAWS(t, a.Result, res, false)
}

func checkAWS(t *testing.T, r awsResult, res Result, webIdentity bool) {
	t.Helper()
	c := r.Credentials
	if c == nil || c.AccessKeyID == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		t.Fatalf("aws: a credential member is missing: %+v", c)
	}
	if *c.AccessKeyID != res.Credentials.AccessKeyID || *c.SecretAccessKey != res.Credentials.SecretAccessKey ||
		*c.SessionToken != res.Credentials.SessionToken || !c.Expiration.Equal(fixedExpiration) {
		t.Errorf("aws credentials differ")
	}
	if r.AssumedRoleUser == nil || r.AssumedRoleUser.Arn == nil || *r.AssumedRoleUser.Arn != res.AssumedRoleArn ||
		r.AssumedRoleUser.AssumedRoleID == nil || *r.AssumedRoleUser.AssumedRoleID != res.AssumedRoleID {
		t.Errorf("aws AssumedRoleUser %+v", r.AssumedRoleUser)
	}
	if r.Audience == nil || *r.Audience != res.Audience || r.Provider == nil || *r.Provider != res.Provider ||
		r.PackedPolicySize == nil || int(*r.PackedPolicySize) != *res.PackedPolicySize {
		t.Errorf("aws result %+v", r)
	}
	subject := r.SubjectFromToken
	if webIdentity {
		subject = r.SubjectFromWebIdentityToken
	}
	if subject == nil || *subject != res.Subject {
		t.Errorf("aws subject %v", subject)
	}
}

func TestWriteResultExpiration(t *testing.T) {
	re := regexp.MustCompile(`<Expiration>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)</Expiration>`)
	berlin := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{fixedExpiration, "2026-11-28T20:26:12Z"},
		{fixedExpiration.Add(999 * time.Millisecond), "2026-11-28T20:26:12Z"},
		{time.Date(2026, 11, 28, 21, 26, 12, 123456789, berlin), "2026-11-28T20:26:12Z"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond), "2026-12-31T23:59:59Z"},
		{time.Now().Add(time.Hour).Round(0), time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")},
	} {
		res := fullResult(AssumeRoleWithWebIdentity)
		res.Credentials.Expiration = tc.in
		rec := writeResult(t, res, "x")
		m := re.FindStringSubmatch(rec.Body.String())
		if m == nil || m[1] != tc.want {
			t.Errorf("%v: got %v, want %s", tc.in, m, tc.want)
		}
	}
}

func TestWriteResultOptionalElements(t *testing.T) {
	res := Result{Action: AssumeRoleWithWebIdentity, Credentials: fullResult("").Credentials}
	rec := writeResult(t, res, "")
	body := rec.Body.String()
	for _, s := range []string{"SubjectFrom", "AssumedRoleUser", "Audience", "Provider", "PackedPolicySize"} {
		if strings.Contains(body, s) {
			t.Errorf("empty %s written: %s", s, body)
		}
	}
	if !strings.Contains(body, "<ResponseMetadata><RequestId></RequestId></ResponseMetadata>") {
		t.Errorf("request id: %s", body)
	}
	zero := 0
	res.PackedPolicySize = &zero
	res.AssumedRoleID = "only-id"
	body = writeResult(t, res, "").Body.String()
	if !strings.Contains(body, "<PackedPolicySize>0</PackedPolicySize>") ||
		!strings.Contains(body, "<AssumedRoleUser><Arn></Arn><AssumedRoleId>only-id</AssumedRoleId></AssumedRoleUser>") {
		t.Errorf("got %s", body)
	}
	var a awsWebIdentityResponse
	if err := xml.Unmarshal([]byte(body), &a); err != nil || a.Result.Credentials == nil {
		t.Errorf("aws decode: %v", err)
	}
}

func TestWriteResultRefusesIncomplete(t *testing.T) {
	for name, mut := range map[string]func(*Result){
		"no action":                              func(r *Result) { r.Action = "" },
		"unknown action":                         func(r *Result) { r.Action = "GetSessionToken" },
		"GetCallerIdentity has no credentials":   func(r *Result) { r.Action = GetCallerIdentity },
		"AssumeRole without AssumedRoleUser.Arn": func(r *Result) { r.Action, r.AssumedRoleArn = AssumeRole, "" },
		"AssumeRole without AssumedRoleId":       func(r *Result) { r.Action, r.AssumedRoleID = AssumeRole, "" },
		"PackedPolicySize over 100":              func(r *Result) { n := 101; r.PackedPolicySize = &n },
		"PackedPolicySize negative":              func(r *Result) { n := -1; r.PackedPolicySize = &n },
		"no access key":                          func(r *Result) { r.Credentials.AccessKeyID = "" },
		"no secret":                              func(r *Result) { r.Credentials.SecretAccessKey = "" },
		"no token":                               func(r *Result) { r.Credentials.SessionToken = "" },
		"no expiration":                          func(r *Result) { r.Credentials.Expiration = time.Time{} },
	} {
		res := fullResult(AssumeRoleWithWebIdentity)
		mut(&res)
		rec := httptest.NewRecorder()
		if err := WriteResult(rec, res, "x"); err != ErrIncompleteResult {
			t.Errorf("%s: err %v", name, err)
		}
		if rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Code != 200 {
			t.Errorf("%s: something was written", name)
		}
	}
}

func TestWriteResultEscapes(t *testing.T) {
	res := fullResult(AssumeRoleWithWebIdentity)
	res.Subject = `a<b>&"c'` + "\td\ne\rf\x00g\x1bh\xffi\ufffej\U0001F600k"
	res.Audience = "</Audience><Credentials>evil"
	res.Provider = "]]><!-- x -->"
	rec := writeResult(t, res, "id\r\nX-Injected: 1<&>")
	checkHeaders(t, rec, 200, "idX-Injected:1<&>")
	var a awsWebIdentityResponse
	if err := xml.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	want := `a<b>&"c'` + "\td\ne\rf\ufffdg\ufffdh\ufffdi\ufffdj\U0001F600k"
	if got := *a.Result.SubjectFromWebIdentityToken; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if *a.Result.Audience != res.Audience || *a.Result.Provider != res.Provider {
		t.Errorf("audience %q provider %q", *a.Result.Audience, *a.Result.Provider)
	}
	if a.Meta.RequestID != "idX-Injected:1<&>" {
		t.Errorf("request id %q", a.Meta.RequestID)
	}
	if strings.Contains(rec.Body.String(), "<Credentials>evil") {
		t.Error("markup injected")
	}
}

func TestAppendEscapedMatchesEncodingXML(t *testing.T) {
	for _, s := range []string{"", "plain", "<>&'\"", "\t\n\r", "caf\u00e9 \u2603 \U0001F600", "a\x00b\x7fc", "\xed\xa0\x80", "\uFFFE\uFFFF", "x\xc3"} {
		var want bytes.Buffer
		if err := xml.EscapeText(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got := string(appendEscaped(nil, s)); got != want.String() {
			t.Errorf("%q: got %q, encoding/xml %q", s, got, want.String())
		}
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		e      *Error
		status int
		typ    string
		code   string
	}{
		{MissingParameter("m"), 400, "Sender", "MissingParameter"},
		{InvalidParameterValue("m"), 400, "Sender", "InvalidParameterValue"},
		{InvalidIdentityToken("m"), 400, "Sender", "InvalidIdentityToken"},
		{ExpiredToken("m"), 400, "Sender", "ExpiredTokenException"},
		{AccessDenied("m"), 403, "Sender", "AccessDenied"},
		{IDPRejectedClaim("m"), 403, "Sender", "IDPRejectedClaim"},
		{IDPCommunicationError("m"), 400, "Sender", "IDPCommunicationError"},
		{MalformedPolicyDocument("m"), 400, "Sender", "MalformedPolicyDocument"},
		{PackedPolicyTooLarge("m"), 400, "Sender", "PackedPolicyTooLarge"},
		{InternalError(), 500, "Receiver", "InternalError"},
		{MethodNotAllowed(), 405, "Sender", "MethodNotAllowed"},
		{RequestEntityTooLarge(1024), 413, "Sender", "RequestEntityTooLarge"},
		{ServiceUnavailable("m"), 503, "Receiver", "ServiceUnavailable"},
		// Hand-made and broken errors.
		{nil, 500, "Receiver", "InternalError"},
		{&Error{}, 500, "Receiver", "InternalError"},
		{&Error{Status: 200, Code: "X"}, 500, "Receiver", "InternalError"},
		{&Error{Status: 429, Code: "Throttling", Message: "m"}, 429, "Sender", "Throttling"},
		{&Error{Status: 502, Type: "bogus", Code: "BadGateway", Message: "m"}, 502, "Receiver", "BadGateway"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteError(rec, tt.e, "err-id")
		checkHeaders(t, rec, tt.status, "err-id")
		body := rec.Body.String()
		if !strings.HasPrefix(body, xmlDecl+`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>`+tt.typ+`</Type><Code>`+tt.code+`</Code><Message>`) ||
			!strings.HasSuffix(body, `</Message></Error><RequestId>err-id</RequestId></ErrorResponse>`) {
			t.Errorf("%s: %s", tt.code, body)
		}
		var m minioErrorResponse
		if err := xml.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.STSError.Code != tt.code || m.STSError.Type != tt.typ || m.RequestID != "err-id" || m.STSError.Message == "" {
			t.Errorf("%s: minio-go decode %v %+v", tt.code, err, m)
		}
		var a awsError
		if err := xml.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Error.Code != tt.code || a.Error.Message == "" {
			t.Errorf("%s: aws decode %v %+v", tt.code, err, a)
		}
		if got := rec.Header().Get("Allow"); (tt.status == 405) != (got == "POST") {
			t.Errorf("%s: Allow %q", tt.code, got)
		}
	}
}

func TestErrorMessagesSanitised(t *testing.T) {
	e := AccessDenied("denied: <b>&amp;</b>\r\nX-Evil: 1\x00\u202e\u200bthe end")
	if e.Message != "denied: <b>&amp;</b>  X-Evil: 1 the end" {
		t.Errorf("constructor kept %q", e.Message)
	}
	rec := httptest.NewRecorder()
	WriteError(rec, &Error{Status: 403, Type: TypeSender, Code: "AccessDenied", Message: "raw\x01<x>\xff"}, "id")
	var a awsError
	if err := xml.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.Error.Message != "raw <x>\ufffd" {
		t.Errorf("message %q", a.Error.Message)
	}
	long := InvalidIdentityToken(strings.Repeat("\u00e9", 1000))
	if len(long.Message) > maxMessageBytes || !strings.HasSuffix(long.Message, "...") || !utf8Valid(long.Message) {
		t.Errorf("long message: %d bytes", len(long.Message))
	}
	if got := echo(strings.Repeat("v", 500)); len(got) > maxEcho {
		t.Errorf("echo %d bytes", len(got))
	}
	if InternalError().Message == "" || strings.Contains(InternalError().Message, "%") {
		t.Error("internal error message")
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "!") == s }

func TestSanitizeRequestID(t *testing.T) {
	for in, want := range map[string]string{
		"abc-123":                         "abc-123",
		"a b\r\nc":                        "abc",
		strings.Repeat("x", 200):          strings.Repeat("x", 128),
		"\u00e9t\u00e9":                   "t",
		"":                                "",
		"<&>":                             "<&>",
		strings.Repeat("y", 128):          strings.Repeat("y", 128),
		"\x00" + strings.Repeat("z", 130): strings.Repeat("z", 128),
	} {
		if got := sanitizeRequestID(in); got != want {
			t.Errorf("%q: got %q", in, got)
		}
	}
}

// The pooled buffers hold credentials: they are cleared before reuse.
func TestBufferCleared(t *testing.T) {
	bp := getBuf()
	b := append((*bp)[:0], "secret-material"...)
	putBuf(bp, b)
	if s := string(b[:cap(b)][:15]); s == "secret-material" {
		t.Error("buffer not cleared")
	}
}

var _ http.ResponseWriter = httptest.NewRecorder()
