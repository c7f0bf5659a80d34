review
../review/policy/manifest.json
--policy
review_policy_duplicate.json
