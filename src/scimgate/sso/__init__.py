"""SAML 2.0 single sign-on (service-provider side, pysaml2): metadata, requests, response checks.

Pure protocol: no SQL, no HTTP framework. services.sso holds the workspace rules (binding a
subject to a member, replay cache, request bookkeeping) and sso.routes the HTTP edge.
"""
