"""The model-backed answer writer and question rewriter, over any LangChain chat model; Gemini by configuration.

- :class:`LLMAnswerWriter` writes a short cited answer from the numbered passages (an ``AnswerWriter``).
- :class:`LLMQuestionRewriter` turns a follow-up into a standalone question (a ``QuestionRewriter``).
- :func:`build_gemini_chat_model` builds ``ChatGoogleGenerativeAI`` (langchain-google-genai over google-genai)
  with an endpoint override, a per-request timeout, bounded retries and a thinking budget.

Every failure of the model (HTTP error after the client's retries, timeout, a stream cut mid-way) surfaces as
:class:`ModelUnavailableError`, so the agent can fall back to the offline answer.

The answer text keeps the model's ``[n]`` citation markers (1-based passage numbers); ``Draft.cited`` lists the
valid ones in order of first use. Stripping or rendering the markers is the agent's job.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_google_genai import ChatGoogleGenerativeAI
from pydantic import SecretStr

from agent.grounding import cited_markers
from agent.prompts import NO_ANSWER, answer_messages, rewrite_messages
from agent.types import AnswerRequest, Draft, TextDelta
from knowledge.documents import Turn

logger = logging.getLogger(__name__)

ThinkingLevel = Literal["minimal", "low", "medium", "high"]

_DECORATION = "*_`\"' \t\r\n"
_QUESTION_PREFIX = re.compile(r"^(standalone question|question|rewritten question)\s*:\s*", re.IGNORECASE)


class ModelUnavailableError(Exception):
    """The chat model gave no usable answer: an HTTP error after retries, a timeout, or a stream cut mid-way."""

    def __init__(self, model: str, reason: str, *, status: int | None = None, timed_out: bool = False) -> None:
        self.model = model
        self.reason = reason
        self.status = status
        self.timed_out = timed_out
        super().__init__(f"model {model!r} is unavailable: {reason}")


def build_gemini_chat_model(
    api_key: str,
    model: str,
    *,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    thinking_budget: int | None = 0,
    thinking_level: ThinkingLevel | None = None,
    temperature: float = 0.2,
    max_output_tokens: int | None = None,
) -> ChatGoogleGenerativeAI:
    """A Gemini chat model on the Gemini Developer API (never Vertex AI), through google-genai.

    - ``base_url``: another endpoint than ``https://generativelanguage.googleapis.com`` (a proxy, or the fake
      server at ``http://127.0.0.1:PORT`` in tests); requests go to ``{base_url}/v1beta/models/{model}:...``.
    - ``timeout``: seconds for one HTTP attempt (a stream included, from request to last chunk).
    - ``max_retries``: retries after the first attempt on 408/429/500/502/503/504 and connection errors, with
      google-genai's exponential backoff (about 1 s, 2 s, 4 s... plus up to 1 s of jitter). Timeouts are not
      retried when aiohttp is installed (google-genai's async transport then).
    - ``thinking_budget``: thinking tokens (Gemini 2.5): ``0`` turns thinking off, ``-1`` lets the model decide,
      ``None`` sends nothing. ``thinking_level`` is the Gemini 3 control; give one of the two, not both.

    Building it does no network I/O; build it once (the app's lifespan) and close it with
    :func:`aclose_chat_model`.
    """
    if not api_key.strip():
        msg = "the Gemini API key is empty; set it, or leave Gemini unconfigured to use the offline writer"
        raise ValueError(msg)
    if not model.strip():
        msg = "the Gemini model name is empty; expected a name such as 'gemini-2.5-flash'"
        raise ValueError(msg)
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        msg = f"base_url must be an http:// or https:// URL, got {base_url!r}"
        raise ValueError(msg)
    if timeout <= 0:
        msg = f"timeout must be a positive number of seconds, got {timeout!r}"
        raise ValueError(msg)
    if max_retries < 0:
        msg = f"max_retries must be 0 or more, got {max_retries!r}"
        raise ValueError(msg)
    if thinking_budget is not None and thinking_level is not None:
        msg = (
            f"give thinking_budget ({thinking_budget!r}, Gemini 2.5) or thinking_level ({thinking_level!r}, "
            "Gemini 3), not both: the API refuses a request with both"
        )
        raise ValueError(msg)
    if thinking_level is not None and thinking_level not in ("minimal", "low", "medium", "high"):
        msg = f"thinking_level must be one of minimal, low, medium, high, got {thinking_level!r}"
        raise ValueError(msg)
    options: dict[str, object] = {}
    if thinking_budget is not None:
        options["thinking_budget"] = thinking_budget
    if thinking_level is not None:
        options["thinking_level"] = thinking_level
    if max_output_tokens is not None:
        options["max_output_tokens"] = max_output_tokens
    return ChatGoogleGenerativeAI(
        model=model,
        api_key=SecretStr(api_key),
        base_url=base_url,
        vertexai=False,
        timeout=timeout,
        # langchain-google-genai passes max_retries to google-genai as the number of attempts, first included.
        max_retries=max_retries + 1,
        temperature=temperature,
        **options,
    )


async def aclose_chat_model(chat_model: BaseChatModel) -> None:
    """Release the HTTP sessions a chat model holds (for Gemini: google-genai's async client); others: no-op."""
    if isinstance(chat_model, ChatGoogleGenerativeAI) and chat_model.client is not None:
        await chat_model.client.aio.aclose()


def is_no_answer(text: str) -> bool:
    """True when the model said the passages do not hold the answer (``NO_ANSWER``, maybe decorated), or nothing."""
    probe = text.lstrip(_DECORATION).upper()
    return not probe or probe.startswith(NO_ANSWER)


def clean_answer(text: str) -> str:
    """The answer as the customer may see it: stripped, or empty when the model said ``NO_ANSWER``."""
    return "" if is_no_answer(text) else text.strip()


cited_passages = cited_markers
"""The 1-based passage numbers cited as ``[n]`` (or ``[n, m]``) in a text, valid ones only, first use first."""


def draft_from_text(text: str, passage_count: int, writer: str) -> Draft:
    """A ``Draft`` from a model's raw answer: ``NO_ANSWER`` gives empty text; the ``[n]`` markers stay in the text."""
    answer = clean_answer(text)
    return Draft(text=answer, cited=cited_passages(answer, passage_count), writer=writer)


def model_label(chat_model: BaseChatModel) -> str:
    """The model's name for messages (``gemini-2.5-flash``), or its class name."""
    for attribute in ("model", "model_name"):
        value = getattr(chat_model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__


def unavailable(model: str, exc: BaseException, elapsed: float) -> ModelUnavailableError:
    """A ``ModelUnavailableError`` that names the cause of ``exc``: HTTP status, timeout, or the error itself.

    ``elapsed`` is how long the call had run (seconds), named when it timed out.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(error, TimeoutError) for error in chain):
        return ModelUnavailableError(model, f"no answer after {elapsed:.1f} s (timeout)", timed_out=True)
    for error in chain:
        code = getattr(error, "code", None)
        if not isinstance(code, int):
            code = getattr(error, "status_code", None)
        if isinstance(code, int) and 100 <= code <= 599:
            status = getattr(error, "status", None)
            detail = getattr(error, "message", None) or str(error)
            label = f"HTTP {code} {status}" if isinstance(status, str) and status else f"HTTP {code}"
            return ModelUnavailableError(model, f"{label}: {detail}", status=code)
    return ModelUnavailableError(model, f"{type(exc).__name__}: {exc}")


class _StreamShaper:
    """Turns raw chunks into deltas whose join equals ``clean_answer`` of the whole text.

    Leading text is held while it could still be ``NO_ANSWER`` (then nothing is sent at all); surrounding
    whitespace is dropped, trailing whitespace of a chunk is held until more text follows.
    """

    def __init__(self) -> None:
        self._head = ""
        self._decided = False
        self._silenced = False
        self._pending = ""

    def feed(self, piece: str) -> str:
        if self._silenced or not piece:
            return ""
        if not self._decided:
            self._head += piece
            probe = self._head.lstrip(_DECORATION).upper()
            if not probe or (len(probe) < len(NO_ANSWER) and NO_ANSWER.startswith(probe)):
                return ""
            if probe.startswith(NO_ANSWER):
                self._silenced = True
                return ""
            self._decided = True
            piece, self._head = self._head.lstrip(), ""
        text = self._pending + piece
        body = text.rstrip()
        self._pending = text[len(body) :]
        return body

    def finish(self) -> str:
        if self._decided or self._silenced:
            return ""
        return clean_answer(self._head)


class _GuardedModel:
    """Calls a chat model under an overall deadline and turns every failure into ``ModelUnavailableError``."""

    def __init__(self, chat_model: BaseChatModel, timeout: float) -> None:
        if timeout <= 0:
            msg = f"timeout must be a positive number of seconds, got {timeout!r}"
            raise ValueError(msg)
        self.chat_model = chat_model
        self.timeout = timeout
        self.label = model_label(chat_model)

    async def invoke(self, messages: Sequence[BaseMessage]) -> BaseMessage:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self.timeout):
                return await self.chat_model.ainvoke(list(messages))
        except Exception as exc:
            raise unavailable(self.label, exc, loop.time() - started) from exc

    async def stream(self, messages: Sequence[BaseMessage], *, check_end: bool) -> AsyncIterator[BaseMessageChunk]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout
        chunks = self.chat_model.astream(list(messages))
        finished = False
        try:
            while True:
                try:
                    # The deadline is applied around each step, never across a yield to the consumer.
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise unavailable(self.label, exc, loop.time() - started) from exc
                if chunk.response_metadata.get("finish_reason"):
                    finished = True
                yield chunk
        finally:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()
        if check_end and not finished:
            # google-genai ends a stream quietly when the connection drops; only the last chunk has a finish reason.
            raise ModelUnavailableError(self.label, "the stream ended before the model finished (connection cut)")


class LLMAnswerWriter:
    """Writes a short answer grounded in the numbered passages, with ``[n]`` citations, through a chat model.

    ``timeout`` bounds one whole answer (client retries and the full stream included). With no passages it
    answers nothing without calling the model. ``check_stream_end`` (default: on for Gemini) treats a stream
    that ends without a finish reason as cut, and raises ``ModelUnavailableError``.
    """

    def __init__(
        self,
        chat_model: BaseChatModel,
        name: str = "gemini",
        *,
        timeout: float = 30.0,
        check_stream_end: bool | None = None,
    ) -> None:
        self.name = name
        self._model = _GuardedModel(chat_model, timeout)
        self._check_end = (
            isinstance(chat_model, ChatGoogleGenerativeAI) if check_stream_end is None else check_stream_end
        )

    @property
    def model(self) -> str:
        """The underlying model's name."""
        return self._model.label

    async def write(self, request: AnswerRequest) -> Draft:
        """The whole answer; empty text when the passages do not contain it."""
        if not request.passages:
            return Draft(text="", cited=(), writer=self.name)
        message = await self._model.invoke(answer_messages(request))
        return draft_from_text(message.text, len(request.passages), self.name)

    async def stream(self, request: AnswerRequest) -> AsyncIterator[TextDelta]:
        """The answer as the model writes it; nothing at all when the model says the passages lack the answer.

        Joining the deltas gives ``write``'s text; ``draft_from_text(joined, len(passages), name)`` gives its
        citations. A failure after some deltas raises ``ModelUnavailableError`` too.
        """
        if not request.passages:
            return
        shaper = _StreamShaper()
        async for chunk in self._model.stream(answer_messages(request), check_end=self._check_end):
            delta = shaper.feed(chunk.text)
            if delta:
                yield TextDelta(text=delta)
        tail = shaper.finish()
        if tail:
            yield TextDelta(text=tail)


class LLMQuestionRewriter:
    """Rewrites a follow-up into a standalone question from the recent conversation, through a chat model.

    Without history the message is returned as it is (no model call). Any failure, an empty or overlong reply
    gives the original message back: rewriting only ever improves retrieval, it never blocks an answer.
    """

    def __init__(self, chat_model: BaseChatModel, *, timeout: float = 10.0, max_chars: int = 500) -> None:
        self._model = _GuardedModel(chat_model, timeout)
        self._max_chars = max_chars

    async def rewrite(self, message: str, history: Sequence[Turn]) -> str:
        """The standalone question, or ``message`` itself when there is nothing to resolve or the model fails."""
        if not message.strip() or not any(turn.text.strip() for turn in history):
            return message
        try:
            reply = await self._model.invoke(rewrite_messages(message, history))
        except ModelUnavailableError as exc:
            logger.warning("question rewrite failed, the message is used as it is: %s", exc)
            return message
        question = self._clean(reply.text, message)
        return question or message

    def _clean(self, text: str, message: str) -> str:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if not lines:
            return ""
        question = _QUESTION_PREFIX.sub("", lines[0]).strip().strip("\"'`“”«»").strip()
        if is_no_answer(question) or len(question) > max(self._max_chars, 3 * len(message)):
            return ""
        return question
