"""The two adapters of the hybrid method: LoRA on the UNet attention and a learned token.

LoRA (seed 004, sec. 3.2) is injected with peft through diffusers' ``unet.add_adapter``
into the attention projections (``to_q``, ``to_k``, ``to_v``, ``to_out.0``, the targets of
diffusers' text-to-image LoRA example). Its ``B`` matrices start at zero, so a fresh
adapter leaves the UNet's output unchanged.

Textual inversion (sec. 3.2) adds one token (``<ultrasound>``) to the CLIP tokenizer and
one row to the text encoder's embedding table, initialised from an existing word's
embedding. During training :class:`PlaceholderEmbedding` holds that row as the only
trainable tensor (``D`` floats), so the rest of the table cannot move and the optimiser
state stays tiny; afterwards the learned vector is written back into the table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

LORA_TARGETS: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")


def add_lora(
    unet: nn.Module, *, rank: int, alpha: float, targets: Sequence[str], seed: int
) -> dict[str, nn.Parameter]:
    """Inject a LoRA adapter (peft) into ``unet``'s attention layers; return its parameters.

    The base weights are frozen; only the returned ``lora_A``/``lora_B`` matrices train.
    ``seed`` fixes the random ``A`` initialisation (``B`` starts at zero).
    """
    try:
        from peft import LoraConfig
    except ImportError as err:
        raise ImportError(
            "sd15_hybrid needs peft for its LoRA adapter: pip install 'usbench[sd]'"
        ) from err

    unet.requires_grad_(False)
    config = LoraConfig(
        r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=list(targets)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet.add_adapter(config)
    params = lora_parameters(unet)
    if not params:
        raise ValueError(
            f"lora_targets {tuple(targets)} matched no layer of the UNet; "
            f"use e.g. --set lora_targets={','.join(LORA_TARGETS)}"
        )
    return params


def lora_parameters(unet: nn.Module) -> dict[str, nn.Parameter]:
    """The LoRA parameters of ``unet`` by module name (empty when no adapter is injected)."""
    return {name: p for name, p in unet.named_parameters() if "lora_" in name}


def lora_state(unet: nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA weights in peft's adapter-name-free naming (what gets saved)."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(unet).items()}


def load_lora_state(unet: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load weights saved by :func:`lora_state` into an injected adapter (strict)."""
    from peft.utils import set_peft_model_state_dict

    expected = set(lora_state(unet))
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(
            f"LoRA weights do not fit this UNet/rank (missing {missing[:3]}, unexpected "
            f"{extra[:3]}); load them with the lora_rank and lora_targets they were trained with."
        )
    set_peft_model_state_dict(unet, state)


def add_placeholder_token(
    tokenizer, text_encoder: nn.Module, *, token: str, initializer: str
) -> int:
    """Add ``token`` to the tokenizer and a row to the embedding table; return its id.

    The new row starts as the mean embedding of ``initializer``'s tokens (one token for a
    word the CLIP vocabulary knows, like ``ultrasound``).
    """
    if tokenizer.add_tokens([token]) != 1:
        raise ValueError(
            f"The tokenizer already knows {token!r}; choose another --set placeholder_token=<...>"
        )
    init_ids = tokenizer.encode(initializer, add_special_tokens=False)
    if not init_ids:
        raise ValueError(f"initializer_token {initializer!r} encodes to no token; use a word")
    token_id = tokenizer.convert_tokens_to_ids(token)
    text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        table[token_id] = table[init_ids].mean(dim=0)
    return int(token_id)


def set_token_embedding(text_encoder: nn.Module, token_id: int, vector: torch.Tensor) -> None:
    """Write ``vector`` (``D``) into row ``token_id`` of the embedding table."""
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        table[token_id] = vector.to(table.dtype)


def token_embedding(text_encoder: nn.Module, token_id: int) -> torch.Tensor:
    """A copy of row ``token_id`` of the embedding table (``D`` float)."""
    return text_encoder.get_input_embeddings().weight[token_id].detach().cpu().clone()


class PlaceholderEmbedding(nn.Module):
    """An embedding table whose row ``token_id`` is the trainable ``vector``; others frozen.

    forward: ``ids`` (any shape, int64) → embeddings (``ids.shape + (D,)``).
    """

    def __init__(self, table: nn.Embedding, token_id: int) -> None:
        super().__init__()
        self.table = table.requires_grad_(False)
        self.token_id = token_id
        self.vector = nn.Parameter(table.weight[token_id].detach().clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.table(ids)
        is_token = (ids == self.token_id).unsqueeze(-1)
        return torch.where(is_token, self.vector.to(rows.dtype), rows)


@contextlib.contextmanager
def trainable_token(text_encoder: nn.Module, token_id: int) -> Iterator[nn.Parameter]:
    """Swap in a :class:`PlaceholderEmbedding`, yield its vector, write it back on exit.

    Inside the block everything in ``text_encoder`` is frozen except the yielded vector.
    """
    text_encoder.requires_grad_(False)
    table = text_encoder.get_input_embeddings()
    wrapper = PlaceholderEmbedding(table, token_id)
    text_encoder.set_input_embeddings(wrapper)
    try:
        yield wrapper.vector
    finally:
        text_encoder.set_input_embeddings(table)
        set_token_embedding(text_encoder, token_id, wrapper.vector.detach())
