review
../review/policy/capgate.json
--policy
review_policy_bad_capability.json
