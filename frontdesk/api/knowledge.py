"""Knowledge-base routes: search, list, read, ingest and delete documents."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import anyio
import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import UploadFile

from frontdesk.api.auth import require_scope
from frontdesk.api.deps import KnowledgeDep, SettingsDep
from frontdesk.api.throttle import SearchLimit
from frontdesk.api_keys import Scope
from knowledge.base import IngestReport, KnowledgeBase
from knowledge.catalog import DocumentInfo
from knowledge.documents import Chunk, MetadataValue, Passage, Turn
from knowledge.errors import DocumentNotFoundError
from knowledge.fetch_guard import is_refusal
from knowledge.loaders import LOADERS
from knowledge.web import make_http_client

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
# Search is open (it is what the help centre shows anyway); the catalogue and every change need a key.
WriterDep = Depends(require_scope(Scope.KNOWLEDGE_WRITE))
ReaderDep = Depends(require_scope(Scope.KNOWLEDGE_READ))

UPLOAD_MAX_FILES = 100
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
            }
        }
    },
}


class TurnIn(BaseModel):
    role: Literal["customer", "agent"]
    text: str = Field(min_length=1, max_length=4000)


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    history: list[TurnIn] = Field(default_factory=list, max_length=50)
    k: int = Field(default=5, ge=1, le=50)
    filters: dict[str, MetadataValue] = Field(default_factory=dict)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "the query is blank"
            raise ValueError(msg)
        return value


class CitationOut(BaseModel):
    document_id: str
    chunk_id: str
    title: str
    url: str | None
    section: str


class PassageOut(BaseModel):
    text: str
    score: float
    citation: CitationOut

    @classmethod
    def of(cls, passage: Passage) -> PassageOut:
        c = passage.citation
        return cls(
            text=passage.text,
            score=round(passage.score, 4),
            citation=CitationOut(
                document_id=c.document_id, chunk_id=c.chunk_id, title=c.title, url=c.url, section=c.section
            ),
        )


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str
    url: str | None
    metadata: dict[str, MetadataValue]
    content_hash: str
    chunk_count: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, info: DocumentInfo) -> DocumentOut:
        return cls(
            id=info.id,
            title=info.title,
            source=info.source,
            url=info.url,
            metadata=dict(info.metadata),
            content_hash=info.content_hash,
            chunk_count=info.chunk_count,
            created_at=info.created_at,
            updated_at=info.updated_at,
        )


class ChunkOut(BaseModel):
    id: str
    position: int
    section: str
    text: str

    @classmethod
    def of(cls, chunk: Chunk) -> ChunkOut:
        return cls(id=chunk.id, position=chunk.index, section=chunk.section, text=chunk.text)


class DocumentDetail(DocumentOut):
    chunks: list[ChunkOut]


class DocumentList(BaseModel):
    total: int
    documents: list[DocumentOut]


class IngestFailure(BaseModel):
    source: str
    reason: str


class IngestOut(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    deleted: list[str]
    failed: list[IngestFailure]
    chunks_embedded: int
    seconds: float

    @classmethod
    def of(cls, report: IngestReport) -> IngestOut:
        return cls.model_validate(report.as_dict())


class UrlIngestRequest(BaseModel):
    urls: list[str] = Field(min_length=1, max_length=100)
    prune: bool = True

    @field_validator("urls")
    @classmethod
    def _http_only(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                msg = f"only http(s) URLs can be ingested over the API, got {url!r}"
                raise ValueError(msg)
            try:
                httpx.URL(url)
            except httpx.InvalidURL as exc:
                msg = f"{url!r} is not a valid URL ({exc})"
                raise ValueError(msg) from exc
        return urls


async def _search(knowledge: KnowledgeDep, request: SearchRequest) -> SearchResponse:
    history = [Turn(role=t.role, text=t.text) for t in request.history]
    passages = await anyio.to_thread.run_sync(
        lambda: knowledge.search(request.query, history=history, k=request.k, filters=request.filters or None)
    )
    return SearchResponse(query=request.query, passages=[PassageOut.of(p) for p in passages])


@router.post("/search", dependencies=[SearchLimit])
async def search(request: SearchRequest, knowledge: KnowledgeDep) -> SearchResponse:
    """Search the knowledge base, optionally with the conversation so far and metadata filters."""
    return await _search(knowledge, request)


@router.get("/search", dependencies=[SearchLimit])
async def search_get(
    knowledge: KnowledgeDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="The question")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
    language: str | None = None,
    product: str | None = None,
) -> SearchResponse:
    """Search the knowledge base (simple form; POST takes history and any filter)."""
    filters: dict[str, MetadataValue] = {
        key: value for key, value in (("language", language), ("product", product)) if value
    }
    try:
        request = SearchRequest(query=q, k=k, filters=filters)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    return await _search(knowledge, request)


@router.get("/documents", dependencies=[ReaderDep])
async def list_documents(
    knowledge: KnowledgeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentList:
    """List the ingested documents."""
    infos = await anyio.to_thread.run_sync(lambda: knowledge.documents(limit=limit, offset=offset))
    total = await anyio.to_thread.run_sync(knowledge.catalog.count)
    return DocumentList(total=total, documents=[DocumentOut.of(i) for i in infos])


@router.get("/documents/{document_id:path}", dependencies=[ReaderDep])
async def get_document(document_id: str, knowledge: KnowledgeDep) -> DocumentDetail:
    """One document with its chunks."""
    try:
        info, chunks = await anyio.to_thread.run_sync(knowledge.document, document_id)
    except DocumentNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return DocumentDetail(**DocumentOut.of(info).model_dump(), chunks=[ChunkOut.of(c) for c in chunks])


@router.delete("/documents/{document_id:path}", dependencies=[WriterDep])
async def delete_document(document_id: str, knowledge: KnowledgeDep) -> dict[str, str]:
    """Delete a document and its vectors."""
    deleted = await anyio.to_thread.run_sync(knowledge.delete, [document_id])
    if not deleted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document with id {document_id!r}")
    return {"deleted": document_id}


@router.post(
    "/documents",
    dependencies=[WriterDep],
    status_code=status.HTTP_200_OK,
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_documents(request: Request, knowledge: KnowledgeDep) -> IngestOut:
    """Ingest uploaded files (Markdown, HTML, PDF, text, JSONL); each file replaces its earlier upload."""
    # The form is read here, after the admin check: a declared File() parameter would be read before it.
    # Its total size is bounded while it streams (FRONTDESK_MAX_UPLOAD_BYTES, frontdesk.middleware).
    async with request.form(max_files=UPLOAD_MAX_FILES, max_fields=10, max_part_size=64 * 1024) as form:
        files = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
        if not files:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "no files uploaded (multipart field 'files')")
        return await _ingest_uploads(knowledge, files)


async def _ingest_uploads(knowledge: KnowledgeBase, files: list[UploadFile]) -> IngestOut:
    with tempfile.TemporaryDirectory(prefix="frontdesk-upload-") as tmp:
        paths: list[str] = []
        for upload in files:
            name = Path(upload.filename or "").name
            if not name or Path(name).suffix.lower() not in LOADERS:
                supported = ", ".join(sorted(LOADERS))
                raise HTTPException(
                    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                    f"{name or '(unnamed file)'}: unsupported file type; supported: {supported}",
                )
            data = await upload.read()
            target = Path(tmp) / name
            target.write_bytes(data)
            paths.append(str(target))
        report = await anyio.to_thread.run_sync(lambda: knowledge.ingest_uploads(paths))
    return IngestOut.of(report)


@router.post("/sources", dependencies=[WriterDep])
async def ingest_urls(request: UrlIngestRequest, knowledge: KnowledgeDep, settings: SettingsDep) -> IngestOut:
    """Ingest web pages or sitemaps by URL (re-ingesting a sitemap drops pages it no longer lists)."""

    def run() -> IngestReport:
        with make_http_client(timeout=settings.http_timeout, guard=settings.ingest_guard()) as client:
            return knowledge.ingest(request.urls, prune=request.prune, http=client)

    report = await anyio.to_thread.run_sync(run)
    if _all_refused(report):
        detail = {"message": "every source was refused (not a public address)", **IngestOut.of(report).model_dump()}
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
    return IngestOut.of(report)


def _all_refused(report: IngestReport) -> bool:
    """Nothing came in, and every failure is the fetch guard's refusal."""
    landed = report.added or report.updated or report.unchanged or report.deleted
    return bool(report.failed) and not landed and all(is_refusal(f.reason) for f in report.failed)
