"""Client for any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp server, TGI, OpenAI).

Used by the `openai` rewriter, the LLM judges and the LLM type tagger. The requests and the answers are the
official `openai` SDK's: each request has a timeout, and connection errors, timeouts, 408/409/429 and 5xx answers
are retried by the SDK with exponential backoff (0.5 s doubling to 8 s, with jitter; `Retry-After` is honoured).
Conversations run concurrently up to a limit. Anything still failing raises `ChatEndpointError` with the cause.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import openai

# What a local server without keys is sent (the SDK refuses to run without a key).
NO_KEY = "not-needed"


class ChatEndpointError(RuntimeError):
    """The chat endpoint could not be reached or kept answering with an error."""


class ChatClient:
    """Chat completions against `base_url` (e.g. http://127.0.0.1:8000/v1) with a concurrency limit and retries."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "", concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 3):
        if not base_url:
            raise ValueError("The OpenAI-compatible backend needs a base URL (setting OPENAI_BASE_URL or base_url).")
        if not model:
            raise ValueError("The OpenAI-compatible backend needs a model name (setting OPENAI_MODEL or model).")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise ValueError("concurrency must be >= 1, retries >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.model, self.concurrency, self.timeout, self.retries = model, concurrency, timeout, retries
        self.sdk = openai.OpenAI(base_url=self.base_url, api_key=api_key or NO_KEY, timeout=timeout,
                                 max_retries=retries)

    @property
    def url(self) -> str:
        """The chat-completions URL, as recorded with what a judge or rewriter produced."""
        return f"{self.base_url}/chat/completions"

    def complete(self, messages: Sequence[dict], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int = 256) -> list[str]:
        """The `n` answers (choices' message content) to one conversation."""
        try:
            response = self.sdk.chat.completions.create(model=self.model, messages=list(messages), n=n,
                                                        temperature=temperature, max_tokens=max_tokens)
        except openai.APIStatusError as exc:
            raise ChatEndpointError(f"chat endpoint {self.url} answered HTTP {exc.status_code}: "
                                    f"{str(exc)[:300]}") from exc
        except openai.APIConnectionError as exc:  # includes timeouts
            raise ChatEndpointError(f"chat endpoint {self.url} failed after retries: {exc}") from exc
        except openai.OpenAIError as exc:
            raise ChatEndpointError(f"chat endpoint {self.url} sent an unreadable answer: {exc}") from exc
        return [str(choice.message.content or "") if choice.message is not None else ""
                for choice in response.choices or []]

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
