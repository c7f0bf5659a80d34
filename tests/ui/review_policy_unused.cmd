review
../review/policy/manifest.json
--policy
review_policy_unused.json
