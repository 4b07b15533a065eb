"""Client for any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp server, TGI, OpenAI).

Used by the `openai` rewriter, the LLM judge and the LLM type tagger. Requests run concurrently up to a limit;
each has a timeout; connection errors, timeouts, 429 and 5xx answers are retried with exponential backoff
(urllib3's `Retry`, honouring `Retry-After`). Anything still failing raises `ChatEndpointError` with the cause.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (408, 409, 429, 500, 502, 503, 504)


class ChatEndpointError(RuntimeError):
    """The chat endpoint could not be reached or kept answering with an error."""


class ChatClient:
    """Chat completions against `base_url` (e.g. http://127.0.0.1:8000/v1) with a concurrency limit and retries."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "", concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.5):
        if not base_url:
            raise ValueError("The OpenAI-compatible backend needs a base URL (setting OPENAI_BASE_URL or base_url).")
        if not model:
            raise ValueError("The OpenAI-compatible backend needs a model name (setting OPENAI_MODEL or model).")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise ValueError("concurrency must be >= 1, retries >= 0 and timeout > 0")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.concurrency, self.timeout = concurrency, timeout
        self.retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                           backoff_factor=backoff, backoff_max=30, status_forcelist=RETRY_STATUSES,
                           allowed_methods=None, respect_retry_after_header=True, raise_on_status=False)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=self.retry))
            session.mount("https://", HTTPAdapter(max_retries=self.retry))
            if self.api_key:
                session.headers["Authorization"] = f"Bearer {self.api_key}"
            self._local.session = session
        return session

    def complete(self, messages: Sequence[dict], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int = 256) -> list[str]:
        """The `n` answers (choices' message content) to one conversation."""
        payload = {"model": self.model, "messages": list(messages), "n": n, "temperature": temperature,
                   "max_tokens": max_tokens}
        try:
            response = self._session().post(self.url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ChatEndpointError(f"chat endpoint {self.url} failed after retries: {exc}") from exc
        if response.status_code != 200:
            raise ChatEndpointError(
                f"chat endpoint {self.url} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            choices = response.json()["choices"]
            return [str((choice.get("message") or {}).get("content") or "") for choice in choices]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ChatEndpointError(f"chat endpoint {self.url} sent an answer without choices: "
                                    f"{response.text[:300]}") from exc

    def complete_many(self, conversations: Sequence[Sequence[dict]], **kwargs) -> list[list[str]]:
        """Answers to many conversations, at most `concurrency` in flight at once, in input order."""
        if len(conversations) <= 1 or self.concurrency == 1:
            return [self.complete(messages, **kwargs) for messages in conversations]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda messages: self.complete(messages, **kwargs), conversations))


def chat_client_from_settings(**overrides) -> ChatClient:
    """A client for the endpoint in settings (OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY); overrides win."""
    from django.conf import settings

    options = {"base_url": settings.OPENAI_BASE_URL, "model": settings.OPENAI_MODEL,
               "api_key": settings.OPENAI_API_KEY}
    options.update({key: value for key, value in overrides.items() if value not in (None, "")})
    return ChatClient(**options)
