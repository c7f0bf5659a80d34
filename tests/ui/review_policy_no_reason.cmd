review
../review/policy/manifest.json
--policy
review_policy_no_reason.json
