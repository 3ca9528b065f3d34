"""scimgate: SCIM 2.0 provisioning, single sign-on and lifecycle events for a team workspace."""

import warnings

# pysaml2 builds its (unused by scimgate) symmetric-cipher table with CFB at import time, which
# cryptography 49+ reports as deprecated on every start of the server and every CLI command.
# scimgate never encrypts with it (assertions are signed, not encrypted), so the notice is noise.
warnings.filterwarnings("ignore", module=r"saml2\.cryptography\.symmetric")
