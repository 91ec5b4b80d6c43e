"""Identity verification methods (plugins) and the policy that says which level a request needs."""
