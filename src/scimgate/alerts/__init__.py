"""Alerts to a workspace's admins: provisioning failing, Entra gone quiet, the SSO certificate
about to expire (scimgate.alerts.conditions), mailed over SMTP (scimgate.alerts.mail) at most
once per condition and period (scimgate.alerts.run, ``scimgate alerts run``)."""
