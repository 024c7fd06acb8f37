"""Build a tiny random-weights Hugging Face model folder offline (for hf_transformers tests).

The tokenizer is a word-level tokenizer made here from a fixed word list; the model is a
two-layer Llama with random weights. Output is gibberish, but every code path is real.
"""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "hello",
    "world",
    "the",
    "a",
    "def",
    "return",
    "print",
    "x",
    "y",
    "if",
    "else",
    "for",
    "in",
    "range",
    "code",
    "python",
    "function",
    "value",
    "list",
    "and",
    "or",
    "not",
    "is",
    "to",
    "of",
    "you",
    "user",
    "assistant",
    "me",
    "say",
    "hi",
    "good",
    "day",
]
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s>assistant {% endif %}"
)


def build_tiny_model(folder: Path, *, fim: bool = True, chat_template: bool = True) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = SPECIAL if fim else SPECIAL[:4]
    vocab = {tok: i for i, tok in enumerate([*specials, *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=specials[4:],
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
