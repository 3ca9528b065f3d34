"""Identity-provider simulators: replay Entra ID and Okta provisioning runs over HTTP.

The simulators are SCIM *clients*. They import nothing of the server and talk HTTP only, so they
run against any SCIM 2.0 service provider. Request shapes come from the docs/identity-providers.md
(``docs/identity-providers.md``): Entra §1-§4, Okta §7.
"""
