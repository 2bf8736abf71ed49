"""Analytics routes: the KPIs (JSON and CSV), the live traffic series, and the dashboard page with its files.

Who may read them: supervisors and admins signed in to the agent console (its session cookie), or a client
sending `Authorization: Bearer <FRONTDESK_ADMIN_TOKEN>`. Anyone else gets 401 (not signed in, wrong token) or
403 (signed in as an agent) with the reason. The dashboard page itself is static and public, like /console:
it holds no data and signs in through the console's API.

Charts are drawn by plotly.js, served from the installed `plotly` package (no CDN), under a name that carries
its version so that browsers may keep it for a year.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, Response

from analytics.kpis import Breakdown, KpiReport, compute_kpis, kpis_csv, traffic, utc
from frontdesk.api.auth import authorize, bearer, matches_admin_token
from frontdesk.api.console_deps import COOKIE, Console, acting_actor, call
from frontdesk.api.deps import RuntimeDep, SettingsDep
from frontdesk.api_keys import Scope
from frontdesk.console.service import Actor
from frontdesk.runtime import Runtime

STATIC = Path(__file__).resolve().parents[1] / "dashboard" / "static"
FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
NO_CACHE = {"Cache-Control": "no-cache"}
SIGN_IN = (
    "sign in at /dashboard (or /console) as a supervisor or admin, "
    "or send 'Authorization: Bearer <a key with analytics:read, or FRONTDESK_ADMIN_TOKEN>'"
)
DEFAULT_PERIOD = dt.timedelta(days=7)
MAX_BUCKETS = 2000

router = APIRouter()
api = APIRouter(prefix="/v1/analytics", tags=["analytics"])


async def identify_supervisor(request: Request, settings: SettingsDep, *, changes: bool, what: str) -> str:
    """Who reads (or, with `changes`, changes) supervisors' pages: "admin-token", or the id of a signed-in
    supervisor or admin; changes from the console also need its CSRF header and the same origin."""
    if request.headers.get("authorization") is not None:
        given = bearer(request)
        if given is not None and matches_admin_token(given, settings):
            return "admin-token"
        if changes:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"changing {what} needs a supervisor's sign-in or FRONTDESK_ADMIN_TOKEN: {SIGN_IN}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        runtime: Runtime = request.app.state.runtime
        principal = await authorize(request, settings, runtime, Scope.ANALYTICS_READ)
        return f"key:{principal.id}"
    console: Console | None = getattr(request.app.state, "console", None)
    cookie = request.cookies.get(COOKIE)
    if console is None or cookie is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"not signed in: {SIGN_IN}")
    session = await anyio.to_thread.run_sync(console.sessions.find, cookie)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"the session ended: {SIGN_IN}")
    agent = await call(lambda: console.service.router.agent(session.agent_id))
    actor = Actor(agent, session)
    if changes:
        actor = await acting_actor(request, actor, console)
    if not actor.supervises:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{agent.id} signs in as {agent.role}: {what} are for supervisors and admins"
        )
    return actor.id


async def require_viewer(request: Request, settings: SettingsDep) -> str:
    """Who reads the analytics: "admin-token", or the id of a signed-in supervisor or admin."""
    return await identify_supervisor(request, settings, changes=False, what="the analytics")


ViewerDep = Annotated[str, Depends(require_viewer)]


def _engine(runtime: RuntimeDep) -> sa.Engine:
    log = getattr(runtime, "interaction_log", None)
    return log.engine if log is not None else runtime.engine


EngineDep = Annotated[sa.Engine, Depends(_engine)]


def _period(since: dt.datetime | None, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    try:
        end = utc(until) if until is not None else dt.datetime.now(dt.UTC)
        start = utc(since) if since is not None else end - DEFAULT_PERIOD
    except OverflowError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"since or until is out of range ({since}, {until})"
        ) from exc
    if start >= end:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"since ({start.isoformat()}) must be before until ({end.isoformat()})",
        )
    return start, end


SinceQuery = Annotated[
    dt.datetime | None, Query(description="Start of the period (ISO 8601; UTC when no offset); 7 days before until")
]
UntilQuery = Annotated[dt.datetime | None, Query(description="End of the period, excluded (ISO 8601); now")]
ByQuery = Annotated[Literal["channel", "day", "skill"] | None, Query(description="Break the KPIs down by this")]


async def _report(
    engine: sa.Engine, since: dt.datetime | None, until: dt.datetime | None, by: Breakdown | None
) -> KpiReport:
    start, end = _period(since, until)
    return await call(lambda: compute_kpis(engine, since=start, until=end, by=by))


@api.get("/kpis")
async def kpis(
    _viewer: ViewerDep, engine: EngineDep, since: SinceQuery = None, until: UntilQuery = None, by: ByQuery = None
) -> dict[str, Any]:
    """The KPIs of the conversations with a customer message in [since, until), in total and broken down."""
    report = await _report(engine, since, until, by)
    return report.as_json()


@api.get("/kpis.csv")
async def kpis_as_csv(
    _viewer: ViewerDep, engine: EngineDep, since: SinceQuery = None, until: UntilQuery = None, by: ByQuery = None
) -> Response:
    """The same KPIs as CSV, one row per group and KPI (columns since, until, by, group, kpi, value)."""
    report = await _report(engine, since, until, by)
    name = f"frontdesk-kpis-{report.since:%Y%m%d}-{report.until:%Y%m%d}{'-' + by if by else ''}.csv"
    return Response(
        kpis_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@api.get("/timeseries")
async def timeseries(
    _viewer: ViewerDep,
    engine: EngineDep,
    hours: Annotated[float, Query(gt=0, le=168, description="How far back to look")] = 6,
    step_minutes: Annotated[int, Query(ge=1, le=1440, description="Width of a bucket")] = 5,
    top: Annotated[int, Query(ge=0, le=50, description="How many of the busiest topics")] = 8,
    until: UntilQuery = None,
) -> dict[str, Any]:
    """Customer messages per bucket by channel, escalations per bucket and the busiest topics, up to now (or
    `until`, to look back at an incident)."""
    if hours * 60 / step_minutes > MAX_BUCKETS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{hours} hours in {step_minutes}-minute buckets makes more than {MAX_BUCKETS} buckets: widen step_minutes",
        )
    step = dt.timedelta(minutes=step_minutes)
    _, end = _period(None, until)
    seen = await call(lambda: traffic(engine, until=end, hours=hours, step=step, top=top))
    result: dict[str, Any] = seen.as_json()
    return result


# The page and its files.


@dataclass(frozen=True, slots=True)
class PlotlyAssets:
    """plotly.js as the page loads it: the script (and its gzip form), and the stylesheet plotly.js would
    otherwise inject inline (which the page's CSP forbids), taken from the same bundle."""

    version: str
    script: bytes
    packed: bytes
    css: str
    map_style_id: str  # the id whose presence stops the bundled map library from injecting its own styles

    @property
    def script_name(self) -> str:
        return f"plotly-{self.version}.min.js"

    @property
    def css_name(self) -> str:
        return f"plotly-{self.version}.css"


JS_STRING = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
JS_PAIR = re.compile(f"({JS_STRING}):({JS_STRING})")


def _js_string(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


@functools.cache
def plotly_assets() -> PlotlyAssets:
    """Read (and compress) plotly.js from the installed `plotly` package, once per process."""
    from plotly.offline import get_plotlyjs_version

    script = (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    text = script.decode("utf-8")
    # plotly.js keeps its stylesheet as {"X .main-svg": "position:absolute;...", ...} with X and Y standing for
    # its plot and notifier classes, and adds the rules one by one unless a `.no-inline-styles` element has the
    # id plotly.js-style-global: the page links this stylesheet under that id.
    rules = re.search(r'\{"X,X div":[^{}]*\}', text)
    css = ""
    for selector, declarations in JS_PAIR.findall(rules.group(0) if rules is not None else ""):
        full = re.sub(r"^,", " ,", _js_string(selector)).replace("X", ".js-plotly-plot .plotly")
        css += f"{full.replace('Y', '.plotly-notifier')}{{{_js_string(declarations)}}}\n"
    map_style = re.search(r'getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)', text)
    return PlotlyAssets(
        version=get_plotlyjs_version(),
        script=script,
        packed=gzip.compress(script, compresslevel=6),
        css=css,
        map_style_id=map_style.group(1) if map_style is not None else "no-map-style",
    )


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> Response:
    """The analytics dashboard (a static page that reads /v1/analytics)."""
    page = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    plotly = await anyio.to_thread.run_sync(plotly_assets)
    for name, value in (
        ("plotly", plotly.script_name),
        ("plotly_css", plotly.css_name),
        ("map_style", plotly.map_style_id),
    ):
        page = page.replace(f"{{{{{name}}}}}", value)
    return Response(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def dashboard_file(name: str, request: Request) -> Response:
    """The dashboard's script and stylesheet, and plotly.js with its stylesheet."""
    if name in FILES:
        return FileResponse(STATIC / name, media_type=FILES[name], headers=NO_CACHE)
    plotly = await anyio.to_thread.run_sync(plotly_assets)
    cached = {"Cache-Control": "public, max-age=31536000, immutable"}
    if name == plotly.css_name:
        return Response(plotly.css, media_type="text/css", headers=cached)
    if name != plotly.script_name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dashboard file {name!r}; the page is /dashboard")
    headers = {**cached, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(plotly.packed, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return Response(plotly.script, media_type="text/javascript", headers=headers)


router.include_router(api)
