"""kluster.ai for LiteLLM: `register()` the `kluster/<model>` provider, Router and proxy presets,
Batch API through LiteLLM's batch functions, and a Verify guardrail.

Needs the `litellm` extra: pip install "kluster-agents[litellm]".

Each name loads its module on first use (PEP 562), so `register` costs little over LiteLLM's own import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# LiteLLM downloads its model cost map at import unless told not to: stay offline by default
# (set LITELLM_LOCAL_MODEL_COST_MAP=False before importing to fetch it).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from kluster_agents.integrations._api.extras import require

require("litellm", "litellm")

import litellm as _litellm

from kluster_agents.integrations._lazy import lazy_exports

# Streams without usage make LiteLLM count tokens, and for Llama-like names it downloads a Hugging
# Face tokenizer first (minutes offline). kluster streams carry usage (real or estimated by the
# client), so use the bundled tokenizer for anything left; set it to False after import to undo.
if _litellm.disable_hf_tokenizer_download is None and os.environ.get("KLUSTER_LITELLM_HF_TOKENIZER") != "1":
    _litellm.disable_hf_tokenizer_download = True

if TYPE_CHECKING:
    from kluster_agents.adapters.litellm._batch import (
        abatch_completion_via_api,
        batch_completion_via_api,
        batch_file_line,
        batch_kwargs,
    )
    from kluster_agents.adapters.litellm._batch_shapes import kluster_status
    from kluster_agents.adapters.litellm._errors import (
        LiteLLMKlusterConfigError,
        LiteLLMKlusterInvalidRequestError,
        LiteLLMKlusterUnsupportedError,
    )
    from kluster_agents.adapters.litellm._handler import KlusterLLM
    from kluster_agents.adapters.litellm._model_map import model_map
    from kluster_agents.adapters.litellm._proxy_config import build_proxy_config, litellm_config_command
    from kluster_agents.adapters.litellm._registration import register
    from kluster_agents.adapters.litellm._router import kluster_router
    from kluster_agents.adapters.litellm._verify import KlusterVerifyGuardrail, verify_outcome, verify_result

_EXPORTS = {
    "abatch_completion_via_api": "kluster_agents.adapters.litellm._batch",
    "batch_completion_via_api": "kluster_agents.adapters.litellm._batch",
    "batch_file_line": "kluster_agents.adapters.litellm._batch",
    "batch_kwargs": "kluster_agents.adapters.litellm._batch",
    "kluster_status": "kluster_agents.adapters.litellm._batch_shapes",
    "LiteLLMKlusterConfigError": "kluster_agents.adapters.litellm._errors",
    "LiteLLMKlusterInvalidRequestError": "kluster_agents.adapters.litellm._errors",
    "LiteLLMKlusterUnsupportedError": "kluster_agents.adapters.litellm._errors",
    "KlusterVerifyGuardrail": "kluster_agents.adapters.litellm._verify",
    "verify_outcome": "kluster_agents.adapters.litellm._verify",
    "verify_result": "kluster_agents.adapters.litellm._verify",
    "KlusterLLM": "kluster_agents.adapters.litellm._handler",
    "model_map": "kluster_agents.adapters.litellm._model_map",
    "register": "kluster_agents.adapters.litellm._registration",
    "build_proxy_config": "kluster_agents.adapters.litellm._proxy_config",
    "litellm_config_command": "kluster_agents.adapters.litellm._proxy_config",
    "kluster_router": "kluster_agents.adapters.litellm._router",
}

__all__ = [
    "KlusterLLM",
    "KlusterVerifyGuardrail",
    "LiteLLMKlusterConfigError",
    "LiteLLMKlusterInvalidRequestError",
    "LiteLLMKlusterUnsupportedError",
    "abatch_completion_via_api",
    "batch_completion_via_api",
    "batch_file_line",
    "batch_kwargs",
    "build_proxy_config",
    "kluster_router",
    "kluster_status",
    "litellm_config_command",
    "model_map",
    "register",
    "verify_outcome",
    "verify_result",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
