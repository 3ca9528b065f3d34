"""Sending an alert by SMTP (RFC 5321) with the standard library's smtplib."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from scimgate.config import Settings

TIMEOUT_SECONDS = 30


def send(settings: Settings, recipients: list[str], subject: str, body: str) -> None:
    """Mail ``body`` (plain text) to ``recipients`` through ``settings.smtp_host``; STARTTLS and
    login when configured. Raises ``OSError`` / ``smtplib.SMTPException`` when the server
    cannot be reached or refuses the message."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
