"""Emerging-issue alert routes for the dashboard: list and read alerts, resolve them, and switch the proactive
web-chat notice of one on or off.

Access: a supervisor or admin signed in to the agent console (changes also need the console's CSRF header and
same origin), or `Authorization: Bearer <FRONTDESK_ADMIN_TOKEN>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from analytics.alerts import NOTICE_MAX_CHARS, Alert, AlertConflictError, AlertNotFoundError, AlertStore, Delivery
from analytics.webhooks import masked_error, masked_url
from frontdesk.api.analytics import identify_supervisor
from frontdesk.api.deps import SettingsDep

router = APIRouter(prefix="/v1/analytics/alerts", tags=["analytics"])
T = TypeVar("T")
AlertId = Annotated[str, Path(min_length=1, max_length=36, description="The alert's id")]


def get_alert_store(request: Request) -> AlertStore:
    """The runtime's alert store (503 when this process has none)."""
    store: AlertStore | None = getattr(getattr(request.app.state, "runtime", None), "alerts", None)
    if store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "emerging-issue alerts are not available here")
    return store


AlertsDep = Annotated[AlertStore, Depends(get_alert_store)]


async def reader(request: Request, settings: SettingsDep) -> str:
    """Who reads alerts: a signed-in supervisor or admin, or the admin token."""
    return await identify_supervisor(request, settings, changes=False, what="alerts")


async def changer(request: Request, settings: SettingsDep) -> str:
    """Who changes an alert: as `reader`, with the console's CSRF and origin checks."""
    return await identify_supervisor(request, settings, changes=True, what="alerts")


ReaderDep = Annotated[str, Depends(reader)]
ChangerDep = Annotated[str, Depends(changer)]


async def _call(work: Callable[[], T]) -> T:
    try:
        return await anyio.to_thread.run_sync(work)
    except AlertNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except AlertConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=NOTICE_MAX_CHARS)
    active: bool


def _delivery(delivery: Delivery) -> dict[str, Any]:
    """A delivery as supervisors see it: a webhook's URL (often a secret) masked, in errors too."""
    webhook = delivery.target == "webhook"
    return {
        "id": delivery.id,
        "event": delivery.event,
        "target": delivery.target,
        "destination": masked_url(delivery.destination) if webhook else delivery.destination,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": masked_error(delivery.last_error, delivery.destination) if webhook else delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "sent_at": delivery.sent_at.isoformat() if delivery.sent_at is not None else None,
    }


def _detail(store: AlertStore, alert: Alert) -> dict[str, Any]:
    deliveries = [_delivery(d) for d in store.deliveries(alert.id) if d.target != "dashboard"]
    return {**alert.as_json(), "deliveries": deliveries}


@router.get("")
async def list_alerts(
    store: AlertsDep,
    _who: ReaderDep,
    status_: Annotated[Literal["open", "resolved"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    """Alerts, open ones first, then the most recently detected."""
    alerts = await _call(lambda: store.list_alerts(status=status_, limit=limit))
    return {"alerts": [alert.as_json() for alert in alerts]}


@router.get("/{alert_id}")
async def get_alert(alert_id: AlertId, store: AlertsDep, _who: ReaderDep) -> dict[str, Any]:
    """One alert with its webhook and e-mail deliveries."""
    return await _call(lambda: _detail(store, store.get(alert_id)))


@router.post("/{alert_id}/notice")
async def set_notice(alert_id: AlertId, body: NoticeIn, store: AlertsDep, _who: ChangerDep) -> dict[str, Any]:
    """Switch the proactive web-chat notice of an open alert on (with its text) or off."""
    alert = await _call(lambda: store.set_notice(alert_id, body.text, body.active))
    return alert.as_json()


@router.post("/{alert_id}/resolve")
async def resolve(alert_id: AlertId, store: AlertsDep, _who: ChangerDep) -> dict[str, Any]:
    """Resolve an open alert (its notice goes off; webhooks and e-mails announce it)."""
    change = await _call(lambda: store.resolve(alert_id))
    return change.alert.as_json()
