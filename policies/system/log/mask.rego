# METADATA
# title: decision log masking
# description: |
#   OPA evaluates data.system.log.mask for every decision log entry, whatever
#   API produced it (the STS listener, /v1/data, /v1/query). These paths are
#   erased so that identity tokens, session tokens and secrets never reach
#   decision logs, even when an operator queries the REST API with them.
package system.log

mask contains "/input/token"

mask contains "/input/access_token"

mask contains "/input/id_token"

mask contains "/input/web_identity_token"

mask contains "/input/session_token"

mask contains "/input/secret_access_key"

mask contains "/result/secret_access_key"

mask contains "/result/session_token"
