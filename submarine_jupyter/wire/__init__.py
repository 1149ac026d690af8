"""The API's shape and rules, once, imported by the server and the kernel alike (and by
neither of them in turn):

- ``constants``: frameworks, roles and their order, statuses, replica names (stdlib only,
  so the kernel imports it without pydantic);
- ``quantity``: Kubernetes quantities and a role's ``resources``;
- ``requests``: the request bodies (ExperimentSpec, EnvironmentSpec) and their rules;
- ``responses``: every answer's body, the envelope included;
- ``errors``: validation errors as ``field: message`` problems;
- ``openapi``: the OpenAPI 3.1 document built from all of the above.
"""
