review
../review/policy/capgate.json
--policy
review_policy_unused.json
