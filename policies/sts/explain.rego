# METADATA
# title: explain a decision without issuing credentials
# description: |
#   What would the STS grant to a claims set? Evaluate, with the same
#   policies and data as the server and no token (nothing is verified or
#   issued):
#
#     opa-sts eval -d policies/ -d data.json -i claims.json --format pretty data.sts.explain.result
#
#   where claims.json is {"claims": {...}, "duration_seconds": 0}. The
#   result names the identity (client, subject, roles, variables), the
#   permissions and the duration the grant would carry, and why not when
#   it would be denied.
package sts.explain

import data.sts
import data.sts.mapping

id := mapping.identity(input.claims)

result := {
	"allow": false,
	"reason": "the claims name no subject",
	"identity": id,
} if {
	not id.subject
} else := {
	"allow": false,
	"reason": "no binding applies to this identity",
	"identity": id,
} if {
	count(id.roles) == 0
} else := {
	"allow": true,
	"reason": concat("", ["roles ", concat(",", id.roles), " bound to ", id.subject]),
	"identity": id,
	"permissions": mapping.statements(id.roles),
	"duration_seconds": sts.duration(object.union({"exp": 4102444800}, input.claims), id.roles),
}
