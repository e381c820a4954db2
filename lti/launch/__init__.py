"""The LTI 1.3 launch: login state, platform keys, id_token validation, roles and identity."""
