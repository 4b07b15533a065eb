"""Test support for the synthesis tests: tiny random-weight models, a small catalogue, a local chat endpoint."""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

CORPUS = [
    "sulfate free shampoo for curly hair", "red running shoes for men", "waterproof hiking boots leather",
    "insulated coffee mug with lid", "usb mug warmer electric", "gift for a dad who likes fishing",
    "fishing rod and reel combo", "wireless sport earbuds ear hooks", "gluten free pasta without eggs",
    "climbing shoes beginner", "chalk bag climbing", "query rewrite product search keywords",
]


def tiny_llama_folder(folder: Path, texts: list[str] | None = None) -> Path:
    """A 2-layer Llama chat model with a byte-level BPE tokenizer trained on `texts` and a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from synthesis.rewriter.prompts import REWRITE_EXAMPLES, REWRITE_SYSTEM

    corpus = list(texts or CORPUS) + [REWRITE_SYSTEM] + [q for q, _ in REWRITE_EXAMPLES] + \
        [r for _, rs in REWRITE_EXAMPLES for r in rs]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(corpus * 3, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = CHATML
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def tiny_bert_folder(folder: Path, texts: list[str] | None = None) -> Path:
    """A 1-layer BERT encoder with a WordPiece tokenizer trained on `texts` (a cross-encoder starting point)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(list(texts or CORPUS) * 3, trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    import torch

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def make_synthesis_world():
    """`make_catalogue` plus a ready "strong" hybrid and a ready dense baseline version (rows only, no index)."""
    from retrieval.models import RetrieverVersion

    dataset, products, queries = make_catalogue()
    strong = RetrieverVersion.objects.create(dataset=dataset, name="strong", kind="hybrid", status="ready")
    baseline = RetrieverVersion.objects.create(dataset=dataset, name="base", kind="dense", status="ready",
                                               hyperparams={"epochs": 1})
    return dataset, products, queries, strong, baseline


def make_catalogue(name: str = "shop"):
    """A small dataset: 12 products, tail/head queries, clicks, train and test qrels."""
    from retrieval.models import Dataset, Interaction, Product, Qrel, Query

    dataset = Dataset.objects.create(name=name)
    titles = ["Sulfate free curl shampoo", "Clarifying shampoo with SLS", "Trail running shoes red",
              "Leather hiking boots waterproof", "Insulated steel coffee mug", "USB mug warmer plate",
              "Fishing rod and reel combo", "Fishing tackle box gift set", "Wireless sport earbuds",
              "Gluten free penne pasta", "Egg pasta tagliatelle", "Climbing chalk bag"]
    products = [Product.objects.create(dataset=dataset, product_id=f"p{i}", title=t, category="Shop > Things")
                for i, t in enumerate(titles)]
    queries = {}
    for qid, text, segment, freq in [
        ("q1", "shampoo without sulfates for curly hair", "tail", 2),
        ("q2", "gift for a dad who likes fishing", "tail", 1),
        ("q3", "what keeps coffee hot at my desk?", "tail", 1),
        ("q4", "running shoes", "head", 900),
        ("q5", "earbuds and a mug", "torso", 40),
        ("q6", "pasta", "head", 700),
    ]:
        queries[qid] = Query.objects.create(dataset=dataset, query_id=qid, text=text, segment=segment, frequency=freq)
    Interaction.objects.create(query=queries["q4"], product=products[2], impressions=100, clicks=30)
    Interaction.objects.create(query=queries["q4"], product=products[3], impressions=50, clicks=0)
    Interaction.objects.create(query=queries["q6"], product=products[9], impressions=80, clicks=20)
    Interaction.objects.create(query=queries["q6"], product=products[10], impressions=80, clicks=10)
    Interaction.objects.create(query=queries["q5"], product=products[8], impressions=10, clicks=1)
    Interaction.objects.create(query=queries["q1"], product=products[0], impressions=3, clicks=1)
    Qrel.objects.create(query=queries["q1"], product=products[0], grade=3, split="train")
    Qrel.objects.create(query=queries["q1"], product=products[1], grade=0, split="train")
    Qrel.objects.create(query=queries["q2"], product=products[6], grade=3, split="test")
    Qrel.objects.create(query=queries["q2"], product=products[7], grade=2, split="test")
    return dataset, products, queries


class ChatServer:
    """A real local HTTP server speaking the OpenAI chat-completions protocol, scripted by `answer(payload)`.

    `fail_first` answers the first N requests with 503; `delay` sleeps before answering; `in_flight_max`
    records the highest number of requests handled at once.
    """

    def __init__(self, answer, *, delay: float = 0.0, fail_first: int = 0):
        self.answer, self.delay, self.fail_first = answer, delay, fail_first
        self.requests: list[dict] = []
        self.in_flight = self.in_flight_max = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "body": body,
                                            "auth": self.headers.get("Authorization", "")})
                    count = len(server.requests)
                    server.in_flight += 1
                    server.in_flight_max = max(server.in_flight_max, server.in_flight)
                try:
                    time.sleep(server.delay)
                    if self.path != "/v1/chat/completions":
                        return self._send(404, {"error": "not found"})
                    if count <= server.fail_first:
                        return self._send(503, {"error": "busy"})
                    contents = server.answer(body)
                    if isinstance(contents, str):
                        contents = [contents]
                    self._send(200, {"choices": [{"index": i, "message": {"role": "assistant", "content": c}}
                                                 for i, c in enumerate(contents)]})
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def last_user_message(payload: dict) -> str:
    return payload["messages"][-1]["content"]


TAIL_WORDS = ["shampoo", "mug", "fishing", "boots", "pasta", "earbuds", "chalk", "shoes"]
STOP_WORDS = {"a", "for", "and", "the"}


def word_overlap_chat(payload) -> str:
    """A chat endpoint's answers: two keyword variants of a query as rewrites; grade 3 when product and query
    share a word (what the judge rewards), else 0."""
    import re

    message = last_user_message(payload)
    if message.startswith("Query: ") and "\nProduct: " in message:
        query, product = message.removeprefix("Query: ").split("\nProduct: ")
        shared = set(re.findall(r"\w+", query.lower())) & set(re.findall(r"\w+", product.lower()))
        return '{"grade": %d}' % (3 if shared - STOP_WORDS else 0)
    query = message.split("\n")[0].removeprefix("Query: ")
    return f'["{query} set", "best {query}"]'


def tail_world(tail_queries: int):
    """`make_catalogue` plus `tail_queries` tail queries, and two BM25 versions (strong, baseline) built inline."""
    from retrieval.models import Query
    from retrieval.versions import version_build

    dataset, _, _ = make_catalogue()
    for i in range(tail_queries):
        Query.objects.create(dataset=dataset, query_id=f"t{i}", text=f"{TAIL_WORDS[i % 8]} idea {i}", segment="tail")
    strong = version_build(dataset=dataset, name="strong-bm25", kind="bm25", inline=True)
    baseline = version_build(dataset=dataset, name="base-bm25", kind="bm25", inline=True)
    assert strong.status == baseline.status == "ready"
    return dataset, strong, baseline


def llm_synthesis_config(*, settings, server, dataset, strong, baseline):
    """A synthesis config whose rewriter and judge are the local chat `server` (the `openai` rewriter, the LLM
    judge), with `settings` pointed at it; returns (config, the environment a worker needs to reach it)."""
    from synthesis.config import SynthesisConfig

    settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = server.base_url, "local-test"
    config = SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=strong.pk, baseline_version_id=baseline.pk,
                             judge_backend="llm", rewriter_backend="openai", candidates=2, retrieve_k=4,
                             baseline_k=2, chunk_size=2)
    return config, {"OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "local-test"}
