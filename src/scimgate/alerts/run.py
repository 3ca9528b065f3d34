"""One alert run (``scimgate alerts run``, safe to start from cron at any rate and in parallel).

For each workspace with admins: the alerts due (scimgate.alerts.conditions), each claimed by
inserting its ``alert_sent`` row for the current period (``PERIOD``: one UTC day) before it is
mailed, with a ``workspace.alert`` event in the same transaction (events.outbox: the product
and its webhooks hear of it too). The unique key (workspace, condition, period) lets exactly one
run claim it; a run that finds it claimed skips it. When mailing fails the claim is deleted, so
the next run tries again;
a run killed between claim and mail loses that period's mail (the next period alerts again). An
event whose mail failed stays: the next run's claim emits the alert again, so a receiver may see
one condition twice in a period (at least once, as every event).
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from scimgate.alerts import mail
from scimgate.alerts.conditions import Alert, due_alerts
from scimgate.config import Settings
from scimgate.events import catalogue, outbox
from scimgate.storage.db import transaction
from scimgate.storage.models import AdminAccount, AlertSent, Workspace, utcnow

PERIOD = "%Y-%m-%d"  # strftime of the period an alert is sent at most once in: the UTC day


@dataclass
class RunReport:
    """What a run did: alerts mailed, alerts already sent this period, mails that failed."""

    sent: list[str] = field(default_factory=list)
    already_sent: int = 0
    failed: list[str] = field(default_factory=list)


def _claim(sessions: sessionmaker[Session], workspace_id: str, alert: Alert, period: str,
           recipients: int) -> bool:
    try:
        with transaction(sessions) as session:
            session.add(AlertSent(workspace_id=workspace_id, condition=alert.condition, period=period,
                                  recipients=recipients))
            session.flush()  # the claim first: a run that lost it emits nothing
            outbox.emit(session, workspace_id, catalogue.WORKSPACE_ALERT, "Workspace", workspace_id,
                        {"condition": alert.condition, "subject": alert.subject, "period": period})
    except IntegrityError:
        return False
    return True


def _unclaim(sessions: sessionmaker[Session], workspace_id: str, alert: Alert, period: str) -> None:
    with transaction(sessions) as session:
        session.execute(delete(AlertSent).where(
            AlertSent.workspace_id == workspace_id, AlertSent.condition == alert.condition,
            AlertSent.period == period))


def run_alerts(sessions: sessionmaker[Session], settings: Settings,
               now: datetime | None = None) -> RunReport:
    """Mail every due, unclaimed alert of every workspace to its admins (see the module docstring)."""
    now = now or utcnow()
    period = now.strftime(PERIOD)
    admin_url = settings.public_url.rstrip("/") + "/admin"
    report = RunReport()
    with transaction(sessions) as session:
        workspace_ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    for workspace_id in workspace_ids:
        with transaction(sessions) as session:
            recipients = list(session.scalars(select(AdminAccount.email).where(
                AdminAccount.workspace_id == workspace_id).order_by(AdminAccount.email)))
            workspace = session.get(Workspace, workspace_id)
            if not recipients or workspace is None:
                continue
            alerts = due_alerts(session, workspace, error_rate=settings.alert_error_rate, admin_url=admin_url,
                                now=now)
        for alert in alerts:
            if not _claim(sessions, workspace_id, alert, period, len(recipients)):
                report.already_sent += 1
                continue
            try:
                mail.send(settings, recipients, alert.subject, alert.body)
            except (OSError, smtplib.SMTPException):
                _unclaim(sessions, workspace_id, alert, period)
                report.failed.append(alert.subject)
                continue
            report.sent.append(alert.subject)
    return report
