"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from frontdesk.runtime import Runtime
from frontdesk.settings import Settings, get_settings
from knowledge.base import KnowledgeBase


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_knowledge(runtime: Annotated[Runtime, Depends(get_runtime)]) -> KnowledgeBase:
    return runtime.knowledge


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
KnowledgeDep = Annotated[KnowledgeBase, Depends(get_knowledge)]
