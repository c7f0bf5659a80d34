review
../review/policy/manifest.json
--policy
review_policy_bad_action.json
