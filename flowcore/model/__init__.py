"""The query model: spec classes, shared field types, the converter, identity and scopes."""
