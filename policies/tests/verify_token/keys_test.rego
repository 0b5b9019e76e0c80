# Fixed test keys for the sts.verify_token suites. They sign tokens in
# tests only; never use them for anything else.
package tests.verify_token

rsa_private := {
	"d": "Cfyp21L4dcOH9Hbp3zPmISp0rBT_8p9Bk40xTWQzSqYuHGaBgtL7Wi5YL8_5723KNn8X6IUga4rFBfXrVZbNq4cfXQinVSBbAQ9909_AF6N-yc9CxylmPajW2p-VS29-ov_U-pcjTK52ikZy8bEYGz43-euraB4iJBlJYknmBiOpyqNXMOuVa_e82I77oIDhyHJd8LEGq-s657lACNi_wAYNVnZSQaxrcFMKUl1iaau5G1Q-7v6cQ6fu7eeYgSQK_-2r7tv4LNh9PWvCy3TJrSiKUaL0Et7HoljApCya-9Oid1R7fChOndEcg3buk0ZNEVBgImNElfS3PzqcrAp2BQ",
	"dp": "2wVdxGm1Mko6BrfIfk6aXPfpKOOJ7iE2aYs2s4pnPDtp7HahesppvO8c_PiudmYOUTWLo9Jqc2dyKw5XJYblWofH5FzZeAOU8uYZyuaOs-IYVEhJfnrsxPOSQZnRZvvUOroiGS4oVUQpIOZ1DtlQZ_0uKUfEbgw_ZUtum6Fa240",
	"dq": "Gdnhbf5pZ-e2dwrLm863Hm6TeQ1mCCGWR_dSspI_htbTEBBhhjIIRdgDYllcLLEEd1wpTOaBKpj8-jscGi2s7fc53sG7Ts7uDBAWlcxWRayF0d0C6sKrVmxDdP-GCwNLBjklnfzF_O-aPlvdm-nIWFg2JjqQgxKZJ3kiB3Tah-U",
	"e": "AQAB",
	"kid": "test-rsa",
	"kty": "RSA",
	"n": "8DJXYs8eeAx__OMqh7eo-qUpJRYeo3D_rTXTgggoymBqNzCODH6Qdcg2wUga0C2f_x7gW6pAVrtOidzwLavs5abRUJXZkgE3yg7RTZm0DGTIk3Co1ScoxWRUaJrhhgUwiASR8M6cvCe6vGFJtRyMi9sxa_u1isHCqIEZLWE97EvOLII2NdGEyP6T7FofaLtkNC5pDes1Qkeizo32RIfbtUQcLF8y95hNok-trCgZOc9CQBc6iv8q6a5Q57Qh0ogsI0xzCuJKerQBFQ2Q624hnBRqL_lurLvIfjOgzbKm0AyuAK_GDTOYCX_T7qAi4w4va8tYOnt3W1tsPksckuNlaQ",
	"p": "_CNidQOeQcSdxWDjvzAInS7ztGuhe_E3hEpg7-JC7wS1eTbrZb2DI1p4qxW7Cp6NbAbWyKF7fJNAUgZCr_hZsPEc5tpB4ecnpEdE1BcMiN58cB4jAbuwld8yUf7ac1ll3oJd5lMCYFC4SOsxZ06tfAsNyzmSVJs8rsJu9_Itzw0",
	"q": "8-AifMUN1KGjwRsb6wHW_arMW90IM0ghqjKVUGfZIEHPr1nKEnuKOK-_hmvFHWnp-jNk0zgzCqfNHhwqf8oEoUNktiyEiLlQxqD8kZfc_hODF1thiOJWyUMshmSQ_UkTZwDXeC8FL2lTPmROQx58HfFs6MYPwjS0WUMo9mog-M0",
	"qi": "AWqG2n3msrkVlg797BJqy04STof_q0xWHvVWi_rxbGHHikFD8r_ENWPtaKkntYA6bvcL1BuRVcxNwLYmpq86tsjTtxYQOmxdrrz4L9DQzk4qVcjPx8Db6j3po1RdAcL3VT0Nyuy8PBsopm8rLjVuJ_75uWGq_n9QHmvRY6kLakM",
}

rsa_public := {
	"e": "AQAB",
	"kid": "test-rsa",
	"kty": "RSA",
	"n": "8DJXYs8eeAx__OMqh7eo-qUpJRYeo3D_rTXTgggoymBqNzCODH6Qdcg2wUga0C2f_x7gW6pAVrtOidzwLavs5abRUJXZkgE3yg7RTZm0DGTIk3Co1ScoxWRUaJrhhgUwiASR8M6cvCe6vGFJtRyMi9sxa_u1isHCqIEZLWE97EvOLII2NdGEyP6T7FofaLtkNC5pDes1Qkeizo32RIfbtUQcLF8y95hNok-trCgZOc9CQBc6iv8q6a5Q57Qh0ogsI0xzCuJKerQBFQ2Q624hnBRqL_lurLvIfjOgzbKm0AyuAK_GDTOYCX_T7qAi4w4va8tYOnt3W1tsPksckuNlaQ",
	"use": "sig",
}

ec_private := {
	"crv": "P-256",
	"d": "9Egb9ON7belGqEh0MZJ2mdqNQ77fKYkgB9T1VVHTqxU",
	"kid": "test-ec",
	"kty": "EC",
	"x": "3GNqtDJgfbkfvuqxp47m1EL1YTPwqi9MCU9dfJyMrLU",
	"y": "RYLZxWp5QJDo33bv_Bi1INqVesMeCecFXNmCJ5OEJew",
}

ec_public := {
	"crv": "P-256",
	"kid": "test-ec",
	"kty": "EC",
	"use": "sig",
	"x": "3GNqtDJgfbkfvuqxp47m1EL1YTPwqi9MCU9dfJyMrLU",
	"y": "RYLZxWp5QJDo33bv_Bi1INqVesMeCecFXNmCJ5OEJew",
}
