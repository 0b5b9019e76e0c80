package sigv4

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

const (
	// MaxClockSkew bounds the distance between X-Amz-Date and now, in both
	// directions (AWS's 5 minutes). A presigned request with X-Amz-Expires
	// is bounded by its expiry instead, in the past direction.
	MaxClockSkew = 5 * time.Minute
	// MaxExpires is AWS's bound on X-Amz-Expires: 7 days, in seconds.
	MaxExpires = 604800
	// MaxSignedHeaders bounds the signed header list; SDKs sign about 8.
	MaxSignedHeaders = 64
	// MaxAccessKeyIDLen and MaxRegionLen bound the credential scope parts.
	MaxAccessKeyIDLen = 128
	MaxRegionLen      = 64

	terminator      = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	scopeLayout     = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// The authentication parameters of the query form. The STS parser knows
// them by these names (they may appear only in the query string).
const (
	QueryAlgorithm     = "X-Amz-Algorithm"
	QueryCredential    = "X-Amz-Credential"
	QueryDate          = "X-Amz-Date"
	QueryExpires       = "X-Amz-Expires"
	QuerySignedHeaders = "X-Amz-SignedHeaders"
	QuerySignature     = "X-Amz-Signature"
	QuerySecurityToken = "X-Amz-Security-Token"
)

// QueryParams lists the query form's parameter names.
var QueryParams = [...]string{QueryAlgorithm, QueryCredential, QueryDate, QueryExpires, QuerySignedHeaders, QuerySignature, QuerySecurityToken}

// Form is where a request carries its signature.
type Form uint8

// The two forms.
const (
	HeaderForm Form = iota + 1 // Authorization header (SignHTTP)
	QueryForm                  // presigned: X-Amz-* query parameters (PresignHTTP)
)

func (f Form) String() string {
	switch f {
	case HeaderForm:
		return "header"
	case QueryForm:
		return "query"
	}
	return "none"
}

// Auth is what a request says about its signature, without any secret: who
// claims to have signed it (AccessKeyID, and SessionToken for session
// credentials), for which scope, and over which headers. The caller looks up
// the secret from AccessKeyID (after verifying SessionToken, for session
// credentials) and calls Verify.
//
// SessionToken is a credential: Auth formats itself (fmt verbs, slog) with
// it masked and never shows the signature.
type Auth struct {
	Form          Form
	AccessKeyID   string
	SessionToken  string    // X-Amz-Security-Token; "" without one
	Date          time.Time // X-Amz-Date, UTC, whole seconds
	Region        string    // as the client scoped it; "" is possible (minio-go without a location)
	Service       string    // the service Parse was given
	SignedHeaders []string  // lower case, sorted, always with "host"
	Expires       time.Duration

	signature     string // 64 lower-case hex digits
	signedHeaders string // SignedHeaders as received
	payloadHash   string // X-Amz-Content-Sha256, "" when absent
	query         string // the raw query string the signature covers
}

// queryAuth holds the authentication parameters found in a query string.
type queryAuth struct {
	vals [len(QueryParams)]string
	have uint8
}

func (q *queryAuth) has(i int) bool { return q.have&(1<<i) != 0 }

// Indexes into QueryParams.
const (
	iAlgorithm = iota
	iCredential
	iDate
	iExpires
	iSignedHeaders
	iSignature
	iSecurityToken
)

// Parse reads the SigV4 signature of r for service (for example "sts"),
// in the header form or the query form, and checks everything that does
// not need the secret or the clock: the algorithm, the Credential scope (its
// service and terminator, and that its date is X-Amz-Date's), the signed
// header list (canonical: lower case, sorted, unique, with host and, in the
// header form, x-amz-date), the signature's syntax, and that no component is
// given twice or in both forms. The X-Amz-Security-Token header must be
// signed. A malformed query string (bad percent-encoding, a raw ';') is
// refused, since a part that does not parse would not be signed.
//
// A request with no signature at all answers MissingAuthenticationToken;
// every other refusal is IncompleteSignature, except a scope for another
// service, another terminator or another date, which is
// SignatureDoesNotMatch, as AWS answers. The error is always an *Error.
func Parse(r *http.Request, service string) (*Auth, error) {
	a, e := parse(r, service)
	if e != nil {
		return nil, e
	}
	return a, nil
}

func parse(r *http.Request, service string) (*Auth, *Error) {
	if r == nil {
		return nil, missingAuth()
	}
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	var q queryAuth
	if e := scanQuery(rawQuery, &q); e != nil {
		return nil, e
	}
	authz := r.Header.Values("Authorization")
	queryForm := q.has(iAlgorithm) || q.has(iCredential) || q.has(iSignature) || q.has(iSignedHeaders)
	switch {
	case len(authz) > 1:
		return nil, incomplete("The request has more than one Authorization header")
	case len(authz) == 1 && q.have != 0:
		return nil, incomplete("The request is signed both in the Authorization header and in X-Amz-* query parameters: use one form")
	case len(authz) == 1:
		return parseHeaderForm(r, authz[0], rawQuery, service)
	case queryForm:
		return parseQueryForm(r, &q, rawQuery, service)
	case q.have != 0:
		return nil, incomplete("The query string has X-Amz-* authentication parameters but no X-Amz-Algorithm, X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature")
	}
	return nil, missingAuth()
}

func parseHeaderForm(r *http.Request, authz, rawQuery, service string) (*Auth, *Error) {
	a := &Auth{Form: HeaderForm, Service: service, query: rawQuery}
	rest, ok := strings.CutPrefix(authz, Algorithm+" ")
	if !ok {
		return nil, incomplete("Unsupported Authorization header: only " + Algorithm + " signatures are accepted")
	}
	// Credential=..., SignedHeaders=..., Signature=..., in that order, as
	// every SDK, minio-go and curl write it. None of the three values can
	// hold a comma. ", " and "," are both accepted as the separator (OPA's
	// own providers.aws signer writes ","); nothing else.
	parts := strings.Split(rest, ",")
	const layout = "The Authorization header must be AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
	if len(parts) != 3 {
		return nil, incomplete(layout)
	}
	var vals [3]string
	for i, name := range [3]string{"Credential=", "SignedHeaders=", "Signature="} {
		p := parts[i]
		if i > 0 {
			p = strings.TrimPrefix(p, " ")
		}
		v, ok := strings.CutPrefix(p, name)
		if !ok {
			return nil, incomplete(layout)
		}
		vals[i] = v
	}
	date, e := singleHeader(r, "X-Amz-Date")
	if e != nil {
		return nil, e
	}
	if date == "" {
		return nil, incomplete("The request must have an X-Amz-Date header")
	}
	if e := a.fill(vals[0], date, vals[1], vals[2], service); e != nil {
		return nil, e
	}
	if !a.signs("x-amz-date") {
		return nil, incomplete("X-Amz-Date must be a signed header")
	}
	tok, e := singleHeader(r, "X-Amz-Security-Token")
	if e != nil {
		return nil, e
	}
	if len(r.Header.Values("X-Amz-Security-Token")) == 1 {
		if tok == "" {
			return nil, incomplete("X-Amz-Security-Token is empty")
		}
		if !a.signs("x-amz-security-token") {
			return nil, incomplete("X-Amz-Security-Token must be a signed header")
		}
		a.SessionToken = tok
	}
	if a.payloadHash, e = singleHeader(r, "X-Amz-Content-Sha256"); e != nil {
		return nil, e
	}
	if a.payloadHash != "" && !isHex64(a.payloadHash) {
		// UNSIGNED-PAYLOAD or STREAMING-*: the body holds the STS
		// parameters, so it must be signed.
		return nil, incomplete("X-Amz-Content-Sha256 must be the hex SHA-256 of the body: the body must be signed")
	}
	return a, nil
}

func parseQueryForm(r *http.Request, q *queryAuth, rawQuery, service string) (*Auth, *Error) {
	a := &Auth{Form: QueryForm, Service: service}
	for _, i := range [...]int{iAlgorithm, iCredential, iDate, iSignedHeaders, iSignature} {
		if q.vals[i] == "" {
			return nil, incomplete("A presigned request must have the query parameters X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature")
		}
	}
	if q.vals[iAlgorithm] != Algorithm {
		return nil, incomplete("Unsupported X-Amz-Algorithm: only " + Algorithm + " is accepted")
	}
	if len(r.Header.Values("X-Amz-Security-Token")) != 0 {
		return nil, incomplete("A presigned request carries its session token in the query string, not in the X-Amz-Security-Token header")
	}
	if e := a.fill(q.vals[iCredential], q.vals[iDate], q.vals[iSignedHeaders], q.vals[iSignature], service); e != nil {
		return nil, e
	}
	if q.has(iExpires) {
		n, ok := parseExpires(q.vals[iExpires])
		if !ok {
			return nil, incomplete("X-Amz-Expires must be a whole number of seconds from 1 to 604800")
		}
		a.Expires = time.Duration(n) * time.Second
	}
	if q.has(iSecurityToken) {
		if q.vals[iSecurityToken] == "" {
			return nil, incomplete("X-Amz-Security-Token is empty")
		}
		a.SessionToken = q.vals[iSecurityToken]
	}
	var e *Error
	if a.payloadHash, e = singleHeader(r, "X-Amz-Content-Sha256"); e != nil {
		return nil, e
	}
	if a.payloadHash != "" && a.payloadHash != unsignedPayload && !isHex64(a.payloadHash) {
		return nil, incomplete("X-Amz-Content-Sha256 must be the hex SHA-256 of the body or UNSIGNED-PAYLOAD")
	}
	a.query = withoutSignature(rawQuery)
	return a, nil
}

// fill checks and stores the Credential scope, the date, the signed headers
// and the signature.
func (a *Auth) fill(credential, date, signedHeaders, signature, service string) *Error {
	scope := strings.Split(credential, "/")
	if len(scope) != 5 {
		return incomplete("Credential must be <access key id>/<yyyymmdd>/<region>/<service>/aws4_request")
	}
	if !validAccessKeyID(scope[0]) {
		return incomplete("The access key id in Credential is malformed")
	}
	if _, err := time.Parse(scopeLayout, scope[1]); err != nil || len(scope[1]) != 8 {
		return incomplete("The date in Credential must be yyyymmdd")
	}
	if !validRegion(scope[2]) {
		return incomplete("The region in Credential is malformed")
	}
	if !validScopeName(scope[3]) || !validScopeName(scope[4]) {
		return incomplete("The service or terminator in Credential is malformed")
	}
	t, ok := parseAmzDate(date)
	if !ok {
		return incomplete("X-Amz-Date must be yyyymmddThhmmssZ (UTC)")
	}
	names, e := parseSignedHeaders(signedHeaders)
	if e != nil {
		return e
	}
	if !isHex64(signature) {
		return incomplete("Signature must be 64 lower-case hexadecimal digits")
	}
	if scope[3] != service {
		return mismatch("Credential should be scoped to correct service: '" + service + "'")
	}
	if scope[4] != terminator {
		return mismatch("Credential should be scoped with a valid terminator: 'aws4_request'")
	}
	if scope[1] != date[:8] {
		return mismatch("Date in Credential scope does not match YYYYMMDD from X-Amz-Date")
	}
	a.AccessKeyID, a.Region, a.Date = scope[0], scope[2], t
	a.SignedHeaders, a.signedHeaders, a.signature = names, signedHeaders, signature
	return nil
}

func (a *Auth) signs(name string) bool {
	for _, h := range a.SignedHeaders {
		if h == name {
			return true
		}
	}
	return false
}

// singleHeader returns the header's value, "" when absent; a header given
// twice is refused.
func singleHeader(r *http.Request, name string) (string, *Error) {
	vs := r.Header.Values(name)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", incomplete("The request has more than one " + name + " header")
}

// scanQuery validates the whole query string (what does not parse cannot
// be signed) and collects the authentication parameters, each at most once.
func scanQuery(raw string, q *queryAuth) *Error {
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, ';') >= 0 {
			return incomplete("The query string is not valid form encoding: unescaped ';'")
		}
		k, v, _ := strings.Cut(seg, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return incomplete("The query string is not valid form encoding")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return incomplete("The query string is not valid form encoding")
		}
		for i, name := range QueryParams {
			if key == name {
				if q.has(i) {
					return incomplete("The query parameter " + name + " is given more than once")
				}
				q.have |= 1 << i
				q.vals[i] = val
				break
			}
		}
	}
	return nil
}

// withoutSignature is the query string less its X-Amz-Signature parameter:
// what a presigned request's signature covers. scanQuery has validated it.
func withoutSignature(raw string) string {
	var b strings.Builder
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(seg, "=")
		if key, _ := url.QueryUnescape(k); key == QuerySignature || seg == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// parseAmzDate accepts exactly yyyymmddThhmmssZ, a valid UTC time.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if i != 8 && i != 15 && (s[i] < '0' || s[i] > '9') {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(amzDateLayout, s)
	if err != nil || t.Format(amzDateLayout) != s {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseSignedHeaders accepts the canonical list: lower-case header names,
// sorted, unique, separated by ';', host among them.
func parseSignedHeaders(s string) ([]string, *Error) {
	if s == "" {
		return nil, incomplete("SignedHeaders is empty")
	}
	if n := strings.Count(s, ";") + 1; n > MaxSignedHeaders {
		return nil, incomplete("SignedHeaders lists too many headers")
	}
	names := strings.Split(s, ";")
	host := false
	for i, h := range names {
		if !validHeaderName(h) {
			return nil, incomplete("SignedHeaders must be lower-case header names separated by ';'")
		}
		if i > 0 && names[i-1] >= h {
			return nil, incomplete("SignedHeaders must be sorted and without repetition")
		}
		switch h {
		case "host":
			host = true
		case "authorization":
			return nil, incomplete("SignedHeaders cannot include authorization")
		}
	}
	if !host {
		return nil, incomplete("The host header must be signed")
	}
	return names, nil
}

// validHeaderName: a lower-case HTTP token.
func validHeaderName(h string) bool {
	if h == "" || len(h) > 128 {
		return false
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validAccessKeyID: 1..128 visible ASCII characters other than '/' and ','.
// AWS's are 16..128 of [A-Z0-9]; operators may configure others.
func validAccessKeyID(s string) bool {
	if s == "" || len(s) > MaxAccessKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' || c == ',' {
			return false
		}
	}
	return true
}

// validRegion: at most 64 of [A-Za-z0-9._-]. Empty is accepted: minio-go
// scopes to "" when no location is set.
func validRegion(s string) bool {
	if len(s) > MaxRegionLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// validScopeName: 1..64 of [A-Za-z0-9_-], what a service name or the
// terminator can be.
func validScopeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// IsAWSName reports whether s is a region or service name as AWS writes
// them: 1 to 64 lower-case letters, digits and '-' (us-east-1, s3). Parse
// is more lenient with what clients send; settings and peers that name a
// region or service themselves are held to this.
func IsAWSName(s string) bool {
	if s == "" || len(s) > MaxRegionLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseExpires: canonical decimal 1..MaxExpires.
func parseExpires(s string) (int, bool) {
	if s == "" || len(s) > 6 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= MaxExpires
}
