package system.log_test

import data.system.log

test_tokens_and_secrets_are_masked if {
	every path in ["/input/token", "/input/access_token", "/input/session_token", "/input/secret_access_key", "/result/secret_access_key"] {
		path in log.mask
	}
}
