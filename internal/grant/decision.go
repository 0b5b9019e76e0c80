package grant

import (
	"errors"
	"strings"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/sigv4"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

// The decision contract. data.sts.decision (or the configured path) is an
// object:
//
//	allow        boolean: issue credentials or not
//	reason       human-safe text, returned to the client on denial
//	token_error  {code, message} from sts.verify_token when the token failed
//	error_code   optional STS code for a denial (table below)
//	grant        when allowed: the grant object (see the package comment)
//	rule         the rule that decided (logged)
//
// A denial becomes the client's STS error by this table:
//
//	token_error.code  expired           ExpiredTokenException (400)
//	                  idp_unreachable   IDPCommunicationError (400)
//	                  invalid_provider  InternalError (500): our configuration, not the client's token
//	                  anything else     InvalidIdentityToken (400)
//	error_code        AccessDenied (default, 403), IDPRejectedClaim (403),
//	                  InvalidIdentityToken, InvalidParameterValue, MalformedPolicyDocument,
//	                  ValidationError (400), InvalidClientTokenId (403),
//	                  PackedPolicyTooLarge (400); any other value: AccessDenied
//
// token_error wins over error_code. An allow without a valid grant is our
// fault (InternalError, with the reason in the log); a duration out of
// bounds is the client's (InvalidParameterValue).

// FromDecision checks a decision and turns an allowing one into a grant,
// or a denial into the STS error the client gets. A returned error's
// Detail, when set, is for the log only.
func FromDecision(d map[string]any) (credentials.Grant, *stswire.Error) {
	if allow, _ := d["allow"].(bool); !allow {
		return credentials.Grant{}, denial(d)
	}
	g, ok := d["grant"].(map[string]any)
	if !ok {
		return credentials.Grant{}, stswire.InternalError().WithDetail("the decision allows but has no grant object")
	}
	out, err := Parse(g)
	switch {
	case errors.Is(err, ErrDuration):
		return credentials.Grant{}, stswire.InvalidParameterValue(strings.TrimPrefix(err.Error(), "grant: "))
	case err != nil:
		return credentials.Grant{}, stswire.InternalError().WithDetail("the decision's grant is not valid: %v", err)
	}
	return out, nil
}

func denial(d map[string]any) *stswire.Error {
	if te, ok := d["token_error"].(map[string]any); ok {
		code, _ := te["code"].(string)
		msg, _ := te["message"].(string)
		if msg == "" {
			msg = "the identity token is not valid"
		}
		switch code {
		case "expired":
			return stswire.ExpiredToken(msg)
		case "idp_unreachable":
			return stswire.IDPCommunicationError(msg)
		case "invalid_provider":
			return stswire.InternalError().WithDetail("identity provider misconfigured: %s", msg)
		default:
			return stswire.InvalidIdentityToken(msg)
		}
	}
	reason, _ := d["reason"].(string)
	if reason == "" {
		reason = "access denied by policy"
	}
	code, _ := d["error_code"].(string)
	switch code {
	case "IDPRejectedClaim":
		return stswire.IDPRejectedClaim(reason)
	case "InvalidIdentityToken":
		return stswire.InvalidIdentityToken(reason)
	case "ValidationError":
		return stswire.ValidationError(reason)
	case "InvalidClientTokenId":
		return stswire.SignatureError(sigv4.InvalidClientTokenID())
	case "InvalidParameterValue":
		return stswire.InvalidParameterValue(reason)
	case "MalformedPolicyDocument":
		return stswire.MalformedPolicyDocument(reason)
	case "PackedPolicyTooLarge":
		return stswire.PackedPolicyTooLarge(reason)
	default:
		return stswire.AccessDenied(reason)
	}
}
