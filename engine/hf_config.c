/* hf_config.c: config.json of Hugging Face checkpoints, read by jansson.
 *
 * Llama-style configs (Llama 2/3.x, Qwen 2/2.5/3, ...) and Qwen 1.0's own
 * (model_type "qwen": seq_length, layer_norm_epsilon, rotary_emb_base and
 * an intermediate_size that counts both MLP halves). Every field a model
 * could need is read or refused by name: nothing that changes the
 * arithmetic is silently ignored. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hf.h"

#define MAX_CONFIG (16u << 20)

typedef struct {
    const char *path;
    json_t *j;
    LumiErr *e;
    int rc;
} Cfg;

/* Integer key into *dst: absent leaves *dst (an error when required). */
static void get_int(Cfg *c, const char *key, int required, int *dst) {
    json_t *v = json_object_get(c->j, key);
    if (c->rc != 0) return;
    if (!v || json_is_null(v)) {
        if (required) c->rc = lumi_err(c->e, "%s: '%s' is missing", c->path, key);
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) < -(1LL << 30) || json_integer_value(v) > (1LL << 30))
        c->rc = lumi_err(c->e, "%s: '%s' is not an integer", c->path, key);
    else *dst = (int)json_integer_value(v);
}

/* Number key: 1 and sets *dst when present, 0 when absent. */
static int get_num(Cfg *c, const json_t *obj, const char *key, double *dst) {
    json_t *v = json_object_get(obj, key);
    if (c->rc != 0 || !v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        c->rc = lumi_err(c->e, "%s: '%s' is not a number", c->path, key);
        return 0;
    }
    *dst = json_number_value(v);
    return 1;
}

static const char *get_str(const json_t *obj, const char *key) { return json_string_value(json_object_get(obj, key)); }

/* rope_scaling: null, {"rope_type"|"type": "default"|"linear"|"llama3", ...}. */
static void read_rope_scaling(Cfg *c, LumiConfig *cfg) {
    json_t *rs = json_object_get(c->j, "rope_scaling");
    if (c->rc != 0 || !rs || json_is_null(rs)) return;
    const char *type = get_str(rs, "rope_type");
    if (!type) type = get_str(rs, "type");
    if (!json_is_object(rs) || !type) {
        c->rc = lumi_err(c->e, "%s: rope_scaling has no rope_type", c->path);
        return;
    }
    if (!strcmp(type, "default")) return;
    double factor = 0, lo = 0, hi = 0, orig = 0;
    if (!get_num(c, rs, "factor", &factor) || !(factor > 0)) {
        if (c->rc == 0) c->rc = lumi_err(c->e, "%s: rope_scaling.factor must be a positive number", c->path);
        return;
    }
    cfg->rope_factor = (float)factor;
    if (!strcmp(type, "linear")) {
        cfg->rope_scaling = LUMI_ROPE_SCALING_LINEAR;
    } else if (!strcmp(type, "llama3")) {
        cfg->rope_scaling = LUMI_ROPE_SCALING_LLAMA3;
        int ok = get_num(c, rs, "low_freq_factor", &lo) & get_num(c, rs, "high_freq_factor", &hi) &
                 get_num(c, rs, "original_max_position_embeddings", &orig);
        if (c->rc == 0 && (!ok || !(lo > 0) || !(hi > lo) || !(orig >= 1) || orig > (1 << 24) || orig != floor(orig)))
            c->rc = lumi_err(c->e,
                             "%s: rope_scaling llama3 needs low_freq_factor > 0, high_freq_factor > low_freq_factor "
                             "and an integer original_max_position_embeddings",
                             c->path);
        cfg->rope_low_freq_factor = (float)lo;
        cfg->rope_high_freq_factor = (float)hi;
        cfg->rope_orig_ctx = (int)orig;
    } else {
        c->rc = lumi_err(c->e, "%s: rope_scaling type '%s' is not supported (linear, llama3)", c->path, type);
    }
}

/* Keys whose meaning differs between Qwen 1.0 and Llama-style configs. */
static void read_qwen1(Cfg *c, LumiConfig *cfg) {
    int inter = 0, kv_channels = 0;
    get_int(c, "intermediate_size", 1, &inter);
    /* its two MLP halves (w1, w2) are intermediate_size / 2 wide each */
    if (c->rc == 0 && inter % 2 != 0) c->rc = lumi_err(c->e, "%s: 'intermediate_size' %d is odd", c->path, inter);
    cfg->hidden_dim = inter / 2;
    get_int(c, "seq_length", 0, &cfg->seq_len);
    if (cfg->seq_len == 0) get_int(c, "max_position_embeddings", 1, &cfg->seq_len);
    double d = 0;
    if (get_num(c, c->j, "rotary_emb_base", &d)) cfg->rope_theta = (float)d;
    if (get_num(c, c->j, "layer_norm_epsilon", &d)) cfg->norm_eps = (float)d;
    if (get_num(c, c->j, "rotary_pct", &d) && d != 1.0 && c->rc == 0)
        c->rc = lumi_err(c->e, "%s: rotary_pct %g is not supported (1.0 only)", c->path, d);
    get_int(c, "kv_channels", 0, &kv_channels);
    if (c->rc == 0 && kv_channels && cfg->n_heads > 0 && kv_channels * cfg->n_heads != cfg->dim)
        c->rc = lumi_err(c->e, "%s: kv_channels %d != hidden_size / num_attention_heads (unsupported)", c->path,
                         kv_channels);
    json_t *nb = json_object_get(c->j, "no_bias");
    if (c->rc == 0 && json_is_false(nb))
        c->rc = lumi_err(c->e, "%s: no_bias false (biases on every projection) is not supported", c->path);
    cfg->n_kv_heads = cfg->n_heads;
    cfg->qkv_bias = 1; /* c_attn always carries one */
    /* use_dynamic_ntk and use_logn_attn only act past seq_length, which lumi
     * never runs, so they change nothing here */
}

static void read_llama(Cfg *c, LumiConfig *cfg) {
    get_int(c, "intermediate_size", 1, &cfg->hidden_dim);
    get_int(c, "max_position_embeddings", 1, &cfg->seq_len);
    get_int(c, "num_key_value_heads", 0, &cfg->n_kv_heads);
    if (cfg->n_kv_heads == 0) cfg->n_kv_heads = cfg->n_heads;
    double d = 0;
    if (get_num(c, c->j, "rope_theta", &d)) cfg->rope_theta = (float)d;
    if (get_num(c, c->j, "rms_norm_eps", &d)) cfg->norm_eps = (float)d;
    int hd = 0;
    get_int(c, "head_dim", 0, &hd);
    if (c->rc == 0 && hd && cfg->n_heads > 0 && hd * cfg->n_heads != cfg->dim)
        c->rc = lumi_err(c->e, "%s: head_dim %d != hidden_size / num_attention_heads (unsupported)", c->path, hd);
    const char *act = get_str(c->j, "hidden_act");
    if (c->rc == 0 && act && strcmp(act, "silu"))
        c->rc = lumi_err(c->e, "%s: hidden_act '%s' is not supported (silu only)", c->path, act);
    json_t *mb = json_object_get(c->j, "mlp_bias");
    if (c->rc == 0 && json_is_true(mb)) c->rc = lumi_err(c->e, "%s: mlp_bias true is not supported", c->path);
    read_rope_scaling(c, cfg);
}

static LumiHfLayout layout_of(const json_t *j) {
    const char *mt = get_str(j, "model_type");
    const char *arch = json_string_value(json_array_get(json_object_get(j, "architectures"), 0));
    if ((mt && !strcmp(mt, "qwen")) || (arch && !strcmp(arch, "QWenLMHeadModel"))) return LUMI_HF_QWEN1;
    return LUMI_HF_LLAMA;
}

/* Families whose arithmetic is exactly what lumi computes. Others (Gemma's
 * (1 + w) norms, Mixtral's experts, ...) reuse Llama's tensor names and
 * would load into a silently different model, so they are refused by name;
 * a config without model_type is taken as Llama. */
static void check_family(Cfg *c) {
    static const char *const ok[] = {"llama", "mistral", "qwen2", "qwen3", "qwen"};
    const char *mt = get_str(c->j, "model_type");
    int known = !mt;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0] && !known; i++) known = !strcmp(mt, ok[i]);
    if (c->rc == 0 && !known)
        c->rc = lumi_err(c->e, "%s: model_type '%s' is not supported (llama, mistral, qwen2, qwen3, qwen)", c->path, mt);
    /* sliding-window attention changes what a query sees past the window */
    json_t *use = json_object_get(c->j, "use_sliding_window"), *win = json_object_get(c->j, "sliding_window");
    int sliding = json_is_true(use) || (!use && json_is_integer(win));
    if (c->rc == 0 && sliding)
        c->rc = lumi_err(c->e, "%s: sliding_window attention is not supported", c->path);
}

int lumi_hf_config_read(const char *path, LumiConfig *cfg, LumiHfLayout *layout, LumiErr *e) {
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > (off_t)MAX_CONFIG)
        return lumi_err(e, "%s: %lld bytes is too large for a config.json", path, (long long)st.st_size);
    char *text;
    size_t len;
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!j) return lumi_err(e, "%s: invalid JSON at line %d column %d: %s", path, je.line, je.column, je.text);
    Cfg c = {path, j, e, 0};
    if (!json_is_object(j)) c.rc = lumi_err(e, "%s: not a JSON object", path);
    memset(cfg, 0, sizeof *cfg);
    cfg->rope_theta = 10000.0f;
    cfg->norm_eps = 1e-6f; /* Hugging Face's LlamaConfig and QWenConfig default */
    cfg->rope_style = LUMI_ROPE_HALF;
    *layout = c.rc == 0 ? layout_of(j) : LUMI_HF_LLAMA;
    check_family(&c);
    get_int(&c, "hidden_size", 1, &cfg->dim);
    get_int(&c, "num_hidden_layers", 1, &cfg->n_layers);
    get_int(&c, "num_attention_heads", 1, &cfg->n_heads);
    get_int(&c, "vocab_size", 1, &cfg->vocab_size);
    if (*layout == LUMI_HF_QWEN1) read_qwen1(&c, cfg);
    else read_llama(&c, cfg);
    cfg->shared_classifier = json_is_true(json_object_get(j, "tie_word_embeddings"));
    json_decref(j);
    if (c.rc != 0 || lumi_config_validate(cfg, path, e) != 0) return -1;
    lumi_config_derive(cfg);
    return 0;
}
