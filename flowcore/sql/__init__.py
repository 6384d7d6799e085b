"""SQL building: declared FlowDB tables and the build context given to query builders."""
