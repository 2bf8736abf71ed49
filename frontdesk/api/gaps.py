"""The knowledge-gap report: what customers asked that the knowledge base could not answer, grouped into topics,
with draft articles on request. Readers: supervisors and admins signed in to the console, or the admin token
(the same rule as the other analytics routes)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from frontdesk.api.analytics import ViewerDep
from frontdesk.api.deps import RuntimeDep
from frontdesk.gaps import GapQuery, gap_report

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

DaysQuery = Annotated[int, Query(ge=1, le=366, description="How many days back to look")]
LimitQuery = Annotated[int, Query(ge=1, le=100, description="How many topics, most asked first")]
DraftsQuery = Annotated[bool, Query(description="Write a draft article for each topic people resolved")]


# Grouping a week of questions takes seconds of CPU, and every open dashboard asks every 30 s: a report
# without drafts is reused for a minute (per app, for its latest days and limit).
CACHE_SECONDS = 60.0


@router.get("/gaps")
async def gaps(
    request: Request,
    _viewer: ViewerDep,
    runtime: RuntimeDep,
    days: DaysQuery = 7,
    limit: LimitQuery = 10,
    drafts: DraftsQuery = False,
) -> dict[str, Any]:
    """Topics of questions the knowledge base could not answer over the last `days` days."""
    cached: tuple[float, int, int, dict[str, Any]] | None = getattr(request.app.state, "gap_report", None)
    if not drafts and cached is not None and cached[1:3] == (days, limit):
        if time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[3]
    until = dt.datetime.now(dt.UTC)
    query = GapQuery(since=until - dt.timedelta(days=days), until=until, limit=limit, drafts=drafts)
    report = (await gap_report(runtime, query)).as_dict()
    if not drafts:
        request.app.state.gap_report = (time.monotonic(), days, limit, report)
    return report
