"""kluster.ai for LiteLLM: `register()` the `kluster/<model>` provider, Router and proxy presets,
Batch API through LiteLLM's batch functions, and a Verify guardrail.

Needs the `litellm` extra: pip install "kluster-agents[litellm]".
"""

import os

# LiteLLM downloads its model cost map at import unless told not to: stay offline by default
# (set LITELLM_LOCAL_MODEL_COST_MAP=False before importing to fetch it).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from kluster_agents.integrations.api.extras import require

require("litellm", "litellm")

import litellm as _litellm

# Streams without usage make LiteLLM count tokens, and for Llama-like names it downloads a Hugging
# Face tokenizer first (minutes offline). kluster streams carry usage (real or estimated by the
# client), so use the bundled tokenizer for anything left; set it to False after import to undo.
if _litellm.disable_hf_tokenizer_download is None and os.environ.get("KLUSTER_LITELLM_HF_TOKENIZER") != "1":
    _litellm.disable_hf_tokenizer_download = True

from kluster_agents.adapters.litellm.batch import (
    abatch_completion_via_api,
    batch_completion_via_api,
    batch_file_line,
    batch_kwargs,
)
from kluster_agents.adapters.litellm.batch_shapes import kluster_status
from kluster_agents.adapters.litellm.exceptions import (
    LiteLLMKlusterConfigError,
    LiteLLMKlusterInvalidRequestError,
    LiteLLMKlusterUnsupportedError,
)
from kluster_agents.adapters.litellm.guardrail import KlusterVerifyGuardrail, verify_outcome, verify_result
from kluster_agents.adapters.litellm.provider import KlusterLLM, model_map, register
from kluster_agents.adapters.litellm.proxy_config import build_proxy_config, litellm_config_command
from kluster_agents.adapters.litellm.router import kluster_router
from kluster_agents.integrations.verify.policy import HallucinationDetected, VerifyOutcome, VerifyPolicy

__all__ = [
    "HallucinationDetected",
    "KlusterLLM",
    "KlusterVerifyGuardrail",
    "LiteLLMKlusterConfigError",
    "LiteLLMKlusterInvalidRequestError",
    "LiteLLMKlusterUnsupportedError",
    "VerifyOutcome",
    "VerifyPolicy",
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
