package s3iam

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opa-sts/opa-sts/internal/sigv4"
)

// gatewayRegion is the region of the gateway's credential scope: versitygw
// signs its IAM requests for us-east-1 whatever its own --region is, and
// its reference IAM service refuses any other.
const gatewayRegion = "us-east-1"

// gatewayAuth checks that requests come from the configured gateway
// credential, with the verifier the STS uses (internal/sigv4): one strict
// reading of the signature, the signature recomputed by aws-sdk-go-v2's
// signer and compared in constant time.
type gatewayAuth struct {
	accessKey, secretKey string
	// signer keeps the signing key it derives per day: the gateway's
	// secret is fixed for the life of this gatewayAuth (a new
	// configuration makes a new one).
	signer *sigv4.Signer
}

func newGatewayAuth(accessKey, secretKey string) *gatewayAuth {
	return &gatewayAuth{accessKey: accessKey, secretKey: secretKey, signer: sigv4.NewSigner()}
}

// verify checks that r (with its already-read body) is signed with SigV4
// by the gateway credential for service "iam". The gateway signs in the
// Authorization header and sends X-Amz-Content-Sha256, the body's hash:
// a presigned request, or one without that header, is refused.
func (g *gatewayAuth) verify(r *http.Request, body []byte, now time.Time) error {
	a, err := sigv4.Parse(r, "iam")
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if a.Form != sigv4.HeaderForm {
		return errors.New("signature: the gateway signs in the Authorization header, not in the query string")
	}
	if a.SessionToken != "" {
		return errors.New("signature: the gateway credential is long-term: a session token is not expected")
	}
	if err := a.CheckRegion(gatewayRegion); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if !hmac.Equal([]byte(a.AccessKeyID), []byte(g.accessKey)) {
		return errors.New("signature: unknown access key")
	}
	// Verify compares the header with the body's hash; here it must be
	// there.
	if r.Header.Get("X-Amz-Content-Sha256") == "" {
		return errors.New("signature: X-Amz-Content-Sha256 is required: the gateway sends the body's SHA-256")
	}
	if err := a.VerifyWith(g.signer, r, body, g.secretKey, now); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// signingKey derives the SigV4 signing key (kSigning) of a secret for a
// date (yyyymmdd), region and service.
func signingKey(secret, date, region, service string) []byte {
	h := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	return h(h(h(h([]byte("AWS4"+secret), date), region), service), "aws4_request")
}
