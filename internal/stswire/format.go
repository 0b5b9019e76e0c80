package stswire

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// masked describes a secret without showing it.
func masked(s string) string {
	if s == "" {
		return ""
	}
	return "<redacted " + strconv.Itoa(len(s)) + " bytes>"
}

// policySummary shows the policy's size, not its text (it may be large and
// is the client's business).
func policySummary(s string) string {
	if s == "" {
		return ""
	}
	return "<" + strconv.Itoa(len(s)) + " bytes>"
}

// String formats the request with Token and AccessToken masked.
func (r Request) String() string {
	var sb strings.Builder
	sb.WriteString("{Action:")
	sb.WriteString(string(r.Action))
	sb.WriteString(" Version:")
	sb.WriteString(r.Version)
	sb.WriteString(" Token:")
	sb.WriteString(masked(r.Token))
	sb.WriteString(" AccessToken:")
	sb.WriteString(masked(r.AccessToken))
	sb.WriteString(" DurationSeconds:")
	sb.WriteString(strconv.Itoa(r.DurationSeconds))
	sb.WriteString(" Policy:")
	sb.WriteString(policySummary(r.Policy))
	sb.WriteString(" RoleArn:")
	sb.WriteString(r.RoleArn)
	sb.WriteString(" RoleSessionName:")
	sb.WriteString(r.RoleSessionName)
	sb.WriteString(" ProviderID:")
	sb.WriteString(r.ProviderID)
	sb.WriteString(" PolicyArns:[")
	sb.WriteString(strings.Join(r.PolicyArns, " "))
	sb.WriteString("] TokenRevokeType:")
	sb.WriteString(r.TokenRevokeType)
	if r.Action == AssumeRole {
		sb.WriteString(" Tags:[")
		for i, t := range r.Tags {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(t.Key)
			sb.WriteByte('=')
			sb.WriteString(t.Value)
		}
		sb.WriteString("] TransitiveTagKeys:[")
		sb.WriteString(strings.Join(r.TransitiveTagKeys, " "))
		sb.WriteString("] ExternalID:")
		sb.WriteString(masked(r.ExternalID))
		sb.WriteString(" SourceIdentity:")
		sb.WriteString(r.SourceIdentity)
		sb.WriteString(" MinimumSessionTokenSize:")
		sb.WriteString(strconv.Itoa(r.MinimumSessionTokenSize))
	}
	sb.WriteString("}")
	return sb.String()
}

// GoString formats the request as Go syntax (%#v) with Token, AccessToken
// and ExternalID replaced by their masks.
func (r Request) GoString() string {
	return fmt.Sprintf("stswire.Request{Action:%q, Version:%q, Token:%q, AccessToken:%q, DurationSeconds:%d, "+
		"Policy:%q, RoleArn:%q, RoleSessionName:%q, ProviderID:%q, PolicyArns:%#v, TokenRevokeType:%q, "+
		"Tags:%#v, TransitiveTagKeys:%#v, ExternalID:%q, SourceIdentity:%q, MinimumSessionTokenSize:%d}",
		string(r.Action), r.Version, masked(r.Token), masked(r.AccessToken), r.DurationSeconds,
		policySummary(r.Policy), r.RoleArn, r.RoleSessionName, r.ProviderID, r.PolicyArns, r.TokenRevokeType,
		r.Tags, r.TransitiveTagKeys, masked(r.ExternalID), r.SourceIdentity, r.MinimumSessionTokenSize)
}

// Format makes every fmt verb go through String or GoString, so %d, %x, %q
// and friends cannot print the raw fields.
func (r Request) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, r.GoString())
		return
	}
	_, _ = io.WriteString(f, r.String())
}

// LogValue implements slog.LogValuer with Token and AccessToken masked.
func (r Request) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("action", string(r.Action)),
		slog.String("version", r.Version),
	)
	if r.Token != "" {
		attrs = append(attrs, slog.String("token", masked(r.Token)))
	}
	if r.AccessToken != "" {
		attrs = append(attrs, slog.String("access_token", masked(r.AccessToken)))
	}
	if r.DurationSeconds != 0 {
		attrs = append(attrs, slog.Int("duration_seconds", r.DurationSeconds))
	}
	if r.Policy != "" {
		attrs = append(attrs, slog.Int("policy_bytes", len(r.Policy)))
	}
	if r.RoleArn != "" {
		attrs = append(attrs, slog.String("role_arn", r.RoleArn))
	}
	if r.RoleSessionName != "" {
		attrs = append(attrs, slog.String("role_session_name", r.RoleSessionName))
	}
	if r.ProviderID != "" {
		attrs = append(attrs, slog.String("provider_id", r.ProviderID))
	}
	if len(r.PolicyArns) != 0 {
		attrs = append(attrs, slog.Any("policy_arns", r.PolicyArns))
	}
	if r.TokenRevokeType != "" {
		attrs = append(attrs, slog.String("token_revoke_type", r.TokenRevokeType))
	}
	if len(r.Tags) != 0 {
		tags := make(map[string]string, len(r.Tags))
		for _, t := range r.Tags {
			tags[t.Key] = t.Value
		}
		attrs = append(attrs, slog.Any("tags", tags))
	}
	if len(r.TransitiveTagKeys) != 0 {
		attrs = append(attrs, slog.Any("transitive_tag_keys", r.TransitiveTagKeys))
	}
	if r.ExternalID != "" {
		attrs = append(attrs, slog.String("external_id", masked(r.ExternalID)))
	}
	if r.SourceIdentity != "" {
		attrs = append(attrs, slog.String("source_identity", r.SourceIdentity))
	}
	if r.MinimumSessionTokenSize != 0 {
		attrs = append(attrs, slog.Int("minimum_session_token_size", r.MinimumSessionTokenSize))
	}
	return slog.GroupValue(attrs...)
}

var (
	_ fmt.Stringer   = Request{}
	_ fmt.GoStringer = Request{}
	_ fmt.Formatter  = Request{}
	_ slog.LogValuer = Request{}
)
