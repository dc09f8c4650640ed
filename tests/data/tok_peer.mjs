// tok_peer.mjs: expected token ids for tests/test_tokenizer_bpe.c from an
// independent implementation (Hugging Face transformers.js), run BY HAND,
// not in CI (it needs node and an npm install outside the repository):
//
//   mkdir -p /tmp/peer && cd /tmp/peer && npm init -y && npm install @huggingface/transformers --ignore-scripts
//   PEER=/tmp/peer/node_modules/@huggingface/transformers node tests/data/tok_peer.mjs > tests/data/tok_vectors.tsv
//
// It reads the tokenizer.json files in ../shared/models (run from the repo
// root) and writes one line per case: tokenizer, text as hex, ids (no BOS;
// special tokens in the text are recognised, as transformers.js always does).
// Then, per tokenizer, a line "<name>-mix <seed> <items> <n_ids> <fnv>" for a
// long text of random code points from many scripts (mixText below, which
// tests/test_tokenizer_bpe.c regenerates): the count and the FNV-1a 64 hash
// of the ids as little-endian int32s.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { PreTrainedTokenizer } = require(process.env.PEER);

const texts = [
  "Hello world",
  "I believe the meaning of life is",
  "  leading spaces and   runs of    spaces  ",
  "tabs\tand\ttabs\t\t\tend",
  "line one\nline two\r\nline three\r\n\r\n\n",
  "CRLF only\r\n",
  "digits 1 12 123 1234 12345 123456789 3.14159 1,000,000 2024-01-01",
  "contractions: I'm you're he's she'd we'll they've don't CAN'T It'S",
  "Unicode: caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
  "CJK: \u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\ud55c\uad6d\uc5b4",
  "emoji: \ud83d\ude00 \ud83d\udc4d\ud83c\udffd \ud83d\udc69\u200d\ud83d\udcbb \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 \ud83c\uddeb\ud83c\uddf7",
  "special look-alikes: <|eot_id <| eot_id |> <|EOT_ID|> <|im_end> <s> </s> <unk>",
  "specials: <|begin_of_text|>hi<|eot_id|> <|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
  "code: for (int i = 0; i < n; i++) { x[i] += y[i] * 2; } // done\n\tif (a != b) return -1;",
  "punctuation!!! ??? ... --- *** ((nested)) [brackets] {braces} \"quotes\" 'single'",
  "mixed: abc123def 3rd 21st x2 H2O \u00bd \u2153 \u2460 \u0661\u0662\u0663",
  "   ",
  "\n",
  "a",
  "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! the-quick_brown.fox",
  "arabic \u0645\u0631\u062d\u0628\u0627 hebrew \u05e9\u05dc\u05d5\u05dd hindi \u0928\u092e\u0938\u094d\u0924\u0947 thai \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
  "url https://example.com/path?q=1&r=two#frag and email a.b@c.org",
  "non-breaking\u00a0space and\u2003em space and zero\u200bwidth",
  "hello  world   again    x\t \t y \n  \n z",
  "a\n\n\nb\r\r\nc \r\n d\n\t\te",
  "trailing spaces before newline   \nnext",
  "'s'S's's 'll'LL don't'll it's-it'S x'y",
  "123abc456 1a2b3c 0000000 12.34.56 -7 +8 1e10 0x1F",
  "other numerals: \u0661\u0662\u0663\u0664 \u216b \u00b2\u00b3 \u2155 \u0967\u0968",
  "marks: \u0915\u094d\u0937 \u0e01\u0e34 e\u0301 \u05d1\u05bc",
  "emoji more: 1\ufe0f\u20e3 \u2764\ufe0f \ud83c\udff3\ufe0f\u200d\ud83c\udf08 \ud83e\uddd1\ud83c\udffe\u200d\ud83d\ude80",
  "<<<>>> ||| <|> <||> <|a|> |> <| <|begin_of_text <|im_start|",
  "    indented code\n        more\n\tand tab\n",
  "\u3000ideographic space\u3000\u3000and\u00a0\u00a0nbsp",
  "MiXeD CaSe WORDS and ALLCAPS and lowercase",
  "not NFC: cafe\u0301 A\u030a \u212b \u2126 \u212a \u1100\u1161\u11a8 (Qwen normalises, Llama 3 does not)",
];

const toks = {
  llama3: "../shared/models/llama3-tokenizer",
  qwen3: "../shared/models/qwen3-tokenizer",
};

// The random text, reproducible in C: a 31-bit LCG picks, per item, either
// an ASCII snippet (15%) or a code point from one of the ranges.
const SNIPPETS = [" ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "123", "4567", " \n"];
const RANGES = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x3040, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xacff], [0x1f300, 0x1f64f],
  [0x2000, 0x206f], [0x300, 0x36f], [0xff00, 0xffef]];
function mixText(seed, items) {
  let x = BigInt(seed);
  const next = () => Number((x = (x * 1103515245n + 12345n) & 0x7fffffffn));
  let s = "";
  for (let i = 0; i < items; i++) {
    if (next() % 100 < 15) s += SNIPPETS[next() % SNIPPETS.length];
    else {
      const [a, b] = RANGES[next() % RANGES.length];
      s += String.fromCodePoint(a + (next() % (b - a + 1)));
    }
  }
  return s;
}
function fnvIds(ids) {
  let h = 0xcbf29ce484222325n;
  for (const id of ids)
    for (let k = 0; k < 4; k++) h = ((h ^ BigInt((id >>> (8 * k)) & 0xff)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, "0");
}

const hex = (s) => Buffer.from(s, "utf8").toString("hex");
for (const [name, dir] of Object.entries(toks)) {
  const json = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8"));
  const config = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
  const tok = new PreTrainedTokenizer(json, config);
  for (const t of texts) {
    const ids = tok.encode(t, { add_special_tokens: false });
    if (tok.decode(ids) !== t) process.stderr.write(`note: ${name} does not round-trip ${JSON.stringify(t)}\n`);
    process.stdout.write(`${name}\t${hex(t)}\t${ids.join(" ")}\n`);
  }
  for (const seed of [1, 2]) {
    const items = 20000, ids = tok.encode(mixText(seed, items), { add_special_tokens: false });
    process.stdout.write(`${name}-mix\t${seed} ${items} ${ids.length} ${fnvIds(ids)}\n`);
  }
}
