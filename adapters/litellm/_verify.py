"""`KlusterVerifyGuardrail`: a LiteLLM post-call guardrail that checks answers with kluster.ai
Verify through a `VerifyPolicy`, for the SDK and the proxy.

- SDK: `litellm.callbacks = [KlusterVerifyGuardrail()]`; LiteLLM runs
  `async_post_call_success_deployment_hook` after every async completion (`acompletion`,
  `Router.acompletion`). LiteLLM 1.105's sync `completion()` runs no post-call hook.
- Proxy: `guardrails:` entry with `mode: post_call` (see `proxy_config.py`); the proxy calls
  `async_post_call_success_hook`, and for streams `async_post_call_streaming_iterator_hook`.
- Streams: chunks pass through as they arrive; when the stream ends, the whole answer is
  verified. The SDK runs no hook a guardrail can use on a stream (LiteLLM 1.105 calls none for a
  custom provider's stream, and swallows what its per-chunk hook raises), so wrap it:
  `guardrail.verify_stream(stream, messages)`; `verify_outcome(stream)` then holds the verdict. On
  the proxy the last chunk is held until the verdict is in and carries it as `kluster_verify`.
  An answer already streamed cannot be regenerated: a "retry" verdict becomes `on_exhausted`.
- Sync calls (`completion()`, batch and adaptive results) have no post-call hook in LiteLLM:
  `guardrail.verify_completion(request, response)` checks one as the async hook would.

What the policy decides becomes: pass -> the answer, with its verdict attached; retry -> the
model is asked again with Verify's explanation as feedback (at most `max_retries` times, then
`on_exhausted`); raise -> `HallucinationDetected` (a 400 on the proxy); annotate/unverified ->
the answer, labelled. The verdict is in `verify_result(response)` (the response's hidden
params; `.status` is reliable / hallucination / unverified); `verify_outcome(response)` gives
the whole `VerifyOutcome`, stored as `VerifyOutcome.to_metadata()` under the hidden param
`kluster_verify` like every adapter's metadata. `context=` says where the grounding context
comes from: "system" (the system turns, default), None (the web) or a callable(messages).
Tool-call answers carry no text to check and pass unchecked.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Literal

import litellm
from litellm.exceptions import GuardrailRaisedException
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.guardrails import GuardrailEventHooks
from litellm.types.utils import ModelResponse, ModelResponseStream

from kluster_agents.integrations._api.compat import content_text
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._verify.policy import METADATA_KEY, HallucinationDetected, VerifyOutcome, VerifyPolicy
from kluster_agents.integrations._verify.result import VerifyResult
from kluster_agents.integrations._version import product

GUARDRAIL_NAME = "kluster-verify"
GUARDRAIL_PRODUCT = f"{product('litellm')} kluster-verify-guardrail"
"""Added to the User-Agent of the guardrail's Verify calls: the emulator's inspector names their origin."""
_HIDDEN_KEY = METADATA_KEY
ContextSource = Literal["system"] | Callable[[Sequence[Mapping[str, Any]]], str | None] | None
# Request parameters a regeneration keeps (everything else is LiteLLM bookkeeping).
_REGENERATE_PARAMS = (
    "model",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "api_base",
    "api_key",
    "timeout",
)
_regenerating: ContextVar[bool] = ContextVar("kluster_verify_regenerating", default=False)


def prompt_and_context(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """The question Verify checks against (last user turn) and the grounding context (system turns)."""
    prompt = next((content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    context = "\n\n".join(t for m in messages if m.get("role") == "system" and (t := content_text(m.get("content"))))
    return prompt, context or None


def answer_text(response: Any) -> str | None:
    """The text of a non-streamed chat answer; None for streams, tool calls and other types."""
    if not isinstance(response, ModelResponse) or not response.choices:
        return None
    message = getattr(response.choices[0], "message", None)
    content = getattr(message, "content", None)
    return content if isinstance(content, str) and content.strip() else None


def chunk_text(chunk: Any) -> str:
    """The answer text a stream chunk adds (reasoning deltas are not the answer)."""
    choices = getattr(chunk, "choices", None) or []
    delta = getattr(choices[0], "delta", None) if choices else None
    content = getattr(delta, "content", None)
    return content if isinstance(content, str) else ""


def verify_outcome(response: Any) -> VerifyOutcome | None:
    """The `VerifyOutcome` the guardrail attached to `response` or to a verified stream (None when
    it was not checked)."""
    data = (getattr(response, "_hidden_params", None) or {}).get(_HIDDEN_KEY)
    return VerifyOutcome.from_metadata(data) if data else None


def verify_result(response: Any) -> VerifyResult | None:
    """The Verify verdict the guardrail attached to `response` (None when it was not checked)."""
    outcome = verify_outcome(response)
    return outcome.result if outcome is not None else None


def _attach(response: ModelResponse, outcome: VerifyOutcome) -> ModelResponse:
    response._hidden_params[_HIDDEN_KEY] = outcome.to_metadata()
    return response


def _context_reader(context: ContextSource) -> Callable[[Sequence[Mapping[str, Any]]], str | None]:
    if context is None:
        return lambda messages: None
    if context == "system":
        return lambda messages: prompt_and_context(messages)[1]
    if callable(context):
        return context
    raise KlusterConfigError(f"context must be 'system', None or a callable(messages) -> str | None, got {context!r}.")


class KlusterVerifyGuardrail(CustomGuardrail):
    """Post-call Verify guardrail; `policy` (or VerifyPolicy keyword arguments) decides what a
    verdict does. In a proxy config, extra `litellm_params` (on_hallucination, on_error,
    max_retries, sample_rate) become the policy's arguments."""

    def __init__(
        self,
        policy: VerifyPolicy | None = None,
        *,
        guardrail_name: str = GUARDRAIL_NAME,
        event_hook: Any = GuardrailEventHooks.post_call,
        default_on: bool = True,
        context: ContextSource = "system",
        **policy_kwargs: Any,
    ) -> None:
        policy_args = {
            k: policy_kwargs.pop(k)
            for k in list(policy_kwargs)
            if k in ("on_hallucination", "on_error", "max_retries", "sample_rate", "on_exhausted")
        }
        super().__init__(
            guardrail_name=guardrail_name,
            event_hook=event_hook,
            default_on=default_on,
            supported_event_hooks=[GuardrailEventHooks.post_call],
            **policy_kwargs,
        )
        if policy is not None and policy_args:
            raise TypeError("pass either policy=VerifyPolicy(...) or its keyword arguments, not both")
        if "max_retries" in policy_args:
            policy_args["max_retries"] = int(policy_args["max_retries"])
        if "sample_rate" in policy_args:
            policy_args["sample_rate"] = float(policy_args["sample_rate"])
        self.policy = policy or VerifyPolicy(**policy_args, user_agent=GUARDRAIL_PRODUCT)
        self._context = _context_reader(context)

    def __repr__(self) -> str:
        return f"KlusterVerifyGuardrail(name={self.guardrail_name!r}, policy={self.policy!r})"

    async def verify(self, data: dict[str, Any], response: Any, *, router: Any = None) -> Any:
        """Check `response` to the request `data`; regenerate, raise or label as the policy says."""
        output = answer_text(response)
        messages = list(data.get("messages") or [])
        if output is None or not messages or _regenerating.get():
            return response
        prompt, context = prompt_and_context(messages)[0], self._context(messages)
        attempt = 0
        while True:
            outcome = await self.policy.acheck(prompt, output, context, attempt=attempt)
            if outcome.action != "retry":
                return _attach(response, outcome)
            messages += [{"role": "assistant", "content": output}, {"role": "user", "content": outcome.feedback}]
            response = await self._regenerate(data, messages, router)
            output = answer_text(response)
            attempt += 1
            if output is None:
                return response

    def verify_completion(self, request: Mapping[str, Any], response: Any) -> Any:
        """Sync twin of the post-call hook, for answers no LiteLLM hook sees (`completion()`, batch and
        adaptive results): check `response` to `request` (the call's keyword arguments: model, messages,
        sampling); regenerate with `litellm.completion`, raise or label as the policy says."""
        output = answer_text(response)
        history = list(request.get("messages") or [])
        if output is None or not history:
            return response
        prompt, context = prompt_and_context(history)[0], self._context(history)
        attempt = 0
        while True:
            try:
                outcome = self.policy.check(prompt, output, context, attempt=attempt)
            except HallucinationDetected as exc:
                raise VerifyRejection(exc, self.guardrail_name) from exc
            if outcome.action != "retry":
                return _attach(response, outcome)
            history += [{"role": "assistant", "content": output}, {"role": "user", "content": outcome.feedback}]
            params = {k: request[k] for k in _REGENERATE_PARAMS if request.get(k) is not None}
            response = litellm.completion(**params, messages=history)
            output = answer_text(response)
            attempt += 1
            if output is None:
                return response

    def _stream_check(self, messages: Sequence[Mapping[str, Any]], text: str) -> tuple[str, str | None, int] | None:
        """What to verify at the end of a stream: (prompt, context, attempt), None when there is nothing.
        The attempt is the policy's last, since a streamed answer cannot be taken back and regenerated."""
        if not text.strip() or not messages or _regenerating.get():
            return None
        return prompt_and_context(messages)[0], self._context(messages), self.policy.max_retries

    def verify_stream(self, stream: Any, messages: Sequence[Mapping[str, Any]]) -> VerifiedStream:
        """`stream` (from `completion(..., stream=True)` or `acompletion`) with its chunks passed through
        as they come and the whole answer verified at its end; iterate it with `for` or `async for`."""
        return VerifiedStream(self, stream, list(messages))

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        """Proxy path for streams: every chunk is forwarded as it comes except the last, held until the
        whole answer is verified; it carries the verdict (`kluster_verify`). A hallucination the policy
        raises ends the stream with the guardrail's error, as the proxy reports a failed stream."""
        if not self.should_run_guardrail(data=request_data, event_type=GuardrailEventHooks.post_call):
            async for chunk in response:
                yield chunk
            return
        held: Any = None
        parts: list[str] = []
        async for chunk in response:
            parts.append(chunk_text(chunk))
            if held is not None:
                yield held
            held = chunk
        check = self._stream_check(list(request_data.get("messages") or []), "".join(parts))
        if check is not None:
            try:
                outcome = await self.policy.acheck(check[0], "".join(parts), check[1], attempt=check[2])
            except HallucinationDetected as exc:
                raise VerifyRejection(exc, self.guardrail_name) from exc
            if held is not None:
                _attach_chunk(held, outcome)
        if held is not None:
            yield held

    @staticmethod
    async def _regenerate(data: Mapping[str, Any], messages: list[dict[str, Any]], router: Any) -> Any:
        params = {k: data[k] for k in _REGENERATE_PARAMS if data.get(k) is not None}
        token = _regenerating.set(True)
        try:
            call = router.acompletion if router is not None else litellm.acompletion
            return await call(**params, messages=messages)
        finally:
            _regenerating.reset(token)

    # -- LiteLLM hooks ------------------------------------------------------------------------
    async def async_post_call_success_deployment_hook(
        self, request_data: dict[str, Any], response: Any, call_type: Any
    ) -> Any:
        """SDK path: every `acompletion` (no `guardrails=[...]` needed when default_on). A rejection is
        a guardrail intervention for LiteLLM's Router: no fallback to another model (another model's
        answer was not what Verify judged), and Verify's explanation is the error. On the proxy this
        hook stands aside: the proxy's own hook checks the answer after its Router has returned, where
        no LiteLLM version falls back (1.102's Router falls back on any error a deployment raises)."""
        if "proxy_server_request" in request_data:  # a request the LiteLLM proxy received
            return None
        if not self.should_run_guardrail(data=request_data, event_type=GuardrailEventHooks.post_call):
            return None
        try:
            return await self.verify(request_data, response)
        except HallucinationDetected as exc:
            if isinstance(exc, VerifyRejection):
                raise
            raise VerifyRejection(exc, self.guardrail_name) from exc

    async def async_post_call_success_hook(self, data: dict[str, Any], user_api_key_dict: Any, response: Any) -> Any:
        """Proxy path: regenerations go through the proxy's router; a hallucination that is
        to be raised becomes an HTTP 400 naming Verify's explanation."""
        if not self.should_run_guardrail(data=data, event_type=GuardrailEventHooks.post_call):
            return response
        try:
            return await self.verify(data, response, router=_proxy_router())
        except HallucinationDetected as exc:  # also a VerifyRejection from a regeneration's own hook
            from fastapi import HTTPException

            raise HTTPException(
                status_code=400,
                detail={
                    "error": str(exc),
                    "guardrail": self.guardrail_name,
                    METADATA_KEY: {
                        "status": "hallucination",
                        "action": "raise",
                        "result": exc.result.model_dump(mode="json"),
                    },
                },
            ) from exc


def _attach_chunk(chunk: Any, outcome: VerifyOutcome) -> None:
    """The verdict on a stream's last chunk: in its hidden params (SDK) and as a field the proxy sends."""
    chunk._hidden_params[_HIDDEN_KEY] = outcome.to_metadata()
    if isinstance(chunk, ModelResponseStream):
        setattr(chunk, _HIDDEN_KEY, outcome.to_metadata())


class VerifiedStream:
    """A LiteLLM stream whose chunks pass through unbuffered; when it ends, the whole answer is
    verified and the verdict attached to this object (`verify_outcome(stream)`), or the policy's
    `HallucinationDetected` raised."""

    def __init__(self, guardrail: KlusterVerifyGuardrail, stream: Any, messages: list[Mapping[str, Any]]) -> None:
        self._guardrail = guardrail
        self._stream = stream
        self._messages = messages
        self._hidden_params: dict[str, Any] = {}

    def __iter__(self) -> Iterator[Any]:
        parts: list[str] = []
        for chunk in self._stream:
            parts.append(chunk_text(chunk))
            yield chunk
        check = self._guardrail._stream_check(self._messages, "".join(parts))
        if check is not None:
            try:
                outcome = self._guardrail.policy.check(check[0], "".join(parts), check[1], attempt=check[2])
            except HallucinationDetected as exc:
                raise VerifyRejection(exc, self._guardrail.guardrail_name) from exc
            self._hidden_params[_HIDDEN_KEY] = outcome.to_metadata()

    async def __aiter__(self) -> AsyncIterator[Any]:
        parts: list[str] = []
        async for chunk in self._stream:
            parts.append(chunk_text(chunk))
            yield chunk
        check = self._guardrail._stream_check(self._messages, "".join(parts))
        if check is not None:
            try:
                outcome = await self._guardrail.policy.acheck(check[0], "".join(parts), check[1], attempt=check[2])
            except HallucinationDetected as exc:
                raise VerifyRejection(exc, self._guardrail.guardrail_name) from exc
            self._hidden_params[_HIDDEN_KEY] = outcome.to_metadata()


class VerifyRejection(HallucinationDetected, GuardrailRaisedException):
    """Verify flagged the answer: a `HallucinationDetected` that LiteLLM also recognises as a
    guardrail block (`GuardrailRaisedException`, HTTP 400), so the Router does not fall back."""

    def __init__(self, detected: HallucinationDetected, guardrail_name: str | None) -> None:
        HallucinationDetected.__init__(self, detected.result, attempts=detected.attempts)
        self.guardrail_name = guardrail_name
        self.status_code = 400
        self.blocked_content = True


def _proxy_router() -> Any:
    try:
        from litellm.proxy.proxy_server import llm_router
    except ImportError:
        return None
    return llm_router
