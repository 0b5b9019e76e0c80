# Session tags.
#
#   Session tags travel in the grant (grant.tags {key: value},
#   grant.transitive_tag_keys [keys]) and are seen at enforcement as the
#   condition keys aws:PrincipalTag/<key> and the variables
#   ${aws:PrincipalTag/<key>}. A web-identity token gives them in AWS's
#   documented claim:
#
#     "https://aws.amazon.com/tags": {
#       "principal_tags": {"Project": ["Automation"], "CostCenter": ["987654"]},
#       "transitive_tag_keys": ["Project"]}
#
#   with AWS's limits: at most 50 tags; keys of 1 to 128 characters and
#   values of 0 to 256 from letters, digits, spaces and _.:/=+-@; keys
#   unique without regard to case and not starting with "aws:"; every
#   transitive key one of the tags. A claim outside them refuses the
#   request (InvalidIdentityToken), as AWS does.
package sts

tags_claim := "https://aws.amazon.com/tags"

max_tags := 50

tag_key_pattern := `^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`

tag_value_pattern := `^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`

# token_tags(c) is {"tags": {...}, "transitive_tag_keys": [...]}, or
# {"error": "..."} when the claim breaks a rule.
token_tags(c) := {"tags": {}, "transitive_tag_keys": []} if {
	not c[tags_claim]
} else := {"error": msg} if {
	msg := tag_claim_error(c[tags_claim])
} else := {
	"tags": {k: tag_value(v) | some k, v in c[tags_claim].principal_tags},
	"transitive_tag_keys": object.get(c[tags_claim], "transitive_tag_keys", []),
}

tag_value(v) := v if is_string(v)

else := v[0] if {
	is_array(v)
	count(v) == 1
	is_string(v[0])
}

# tag_claim_error(claim) is the first rule the claim breaks (undefined
# when it breaks none).
tag_claim_error(claim) := "the tags claim is not an object" if {
	not is_object(claim)
} else := "principal_tags must be an object" if {
	not is_object(object.get(claim, "principal_tags", {}))
} else := "transitive_tag_keys must be a list" if {
	not is_array(object.get(claim, "transitive_tag_keys", []))
} else := sprintf("at most %d session tags", [max_tags]) if {
	count(object.get(claim, "principal_tags", {})) > max_tags
} else := sprintf("session tag key %q is not valid (1 to 128 letters, digits, spaces or _.:/=+-@; not aws:)", [k]) if {
	some k, _ in object.get(claim, "principal_tags", {})
	not valid_tag_key(k)
} else := sprintf("session tag %q must have one value of 0 to 256 letters, digits, spaces or _.:/=+-@", [k]) if {
	some k, v in object.get(claim, "principal_tags", {})
	not valid_tag_value(v)
} else := "session tag keys must be unique without regard to case" if {
	keys := object.keys(object.get(claim, "principal_tags", {}))
	count({lower(k) | some k in keys}) != count(keys)
} else := "transitive_tag_keys must name session tags" if {
	some k in object.get(claim, "transitive_tag_keys", [])
	not is_string(k)
} else := "transitive_tag_keys must name session tags" if {
	some k in object.get(claim, "transitive_tag_keys", [])
	not object.get(claim, "principal_tags", {})[k]
}

valid_tag_key(k) if {
	is_string(k)
	regex.match(tag_key_pattern, k)
	not startswith(lower(k), "aws:")
}

valid_tag_value(v) if {
	s := tag_value(v)
	regex.match(tag_value_pattern, s)
}

# The ${aws:PrincipalTag/<key>} variables of tags.
tag_variables(tags) := {concat("", ["aws:PrincipalTag/", k]): v | some k, v in tags}

# The grant's members for tags: none without tags (smaller tokens).
tags_grant(tt) := {} if {
	count(tt.tags) == 0
} else := {"tags": tt.tags, "transitive_tag_keys": tt.transitive_tag_keys}
