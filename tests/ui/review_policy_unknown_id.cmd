review
../review/policy/manifest.json
--policy
review_policy_unknown_id.json
