review
../review/policy/capgate.json
--policy
review_policy_no_reason.json
