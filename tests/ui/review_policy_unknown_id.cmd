review
../review/policy/capgate.json
--policy
review_policy_unknown_id.json
