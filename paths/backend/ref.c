/* ref.c: the reference backend, the oracle every other path is judged by.
 * Plain loops, double accumulators, one fixed left-to-right reduction order
 * per output element, so it is batch invariant by construction and as close
 * to the exact result as fp32 storage allows. Speed is not a goal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/dtype.h"
#include "host.h"

typedef struct {
    const LumiModel *m;
    const LumiWeights *w;
    double *att; /* [seq_len] scores for one (query, head) */
} Ref;

/* Every dtype: a weight is dequantized exactly to its f32 value (see
 * dtype.h) and the products are accumulated in double, so ref is the oracle
 * of each dtype: what exact arithmetic on the stored weights gives. A q8_0
 * matmul quantizes its activations per block of 32 first, exactly as the
 * cpu backend does (lumi_quantize_q8_act), and then sums
 * dw * dx * sum(qw * qx) over the blocks in double. */
static int ref_supports(LumiOp op, LumiDType t) {
    (void)op;
    return t == LUMI_F32 || t == LUMI_BF16 || t == LUMI_F16 || t == LUMI_Q8_0;
}

/* Element c of row r of w, as the exact f32 value it stores. */
static float weight_at(const LumiMat *w, int r, int c) {
    const unsigned char *row = (const unsigned char *)w->data + (size_t)r * lumi_row_bytes(w->type, w->cols);
    uint16_t h;
    switch (w->type) {
    case LUMI_F32: return ((const float *)(const void *)row)[c];
    case LUMI_BF16: memcpy(&h, row + 2 * (size_t)c, 2); return lumi_bf16_to_f32(h);
    case LUMI_F16: memcpy(&h, row + 2 * (size_t)c, 2); return lumi_f16_to_f32(h);
    case LUMI_Q8_0: {
        const unsigned char *blk = row + (size_t)(c / LUMI_Q8_BLOCK) * LUMI_Q8_BLOCK_BYTES;
        memcpy(&h, blk, 2);
        return lumi_f16_to_f32(h) * (float)(int8_t)blk[2 + c % LUMI_Q8_BLOCK];
    }
    }
    return 0;
}

static int ref_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    (void)o, (void)e;
    Ref *r = lumi_xcalloc(1, sizeof *r);
    r->m = m;
    r->w = w;
    r->att = lumi_xmalloc((size_t)m->cfg.seq_len * sizeof(double));
    *ctx = r;
    return 0;
}

static void ref_free(void *ctx) {
    Ref *r = ctx;
    if (!r) return;
    free(r->att);
    free(r);
}

static const LumiWeights *ref_weights(void *ctx) { return ((Ref *)ctx)->w; }

static void ref_embed(void *ctx, LumiRef xr, const LumiMat *emb, const int *tokens, int n) {
    (void)ctx;
    float *x = lumi_host(xr);
    for (int t = 0; t < n; t++)
        for (int c = 0; c < emb->cols; c++) x[(size_t)t * emb->cols + c] = weight_at(emb, tokens[t], c);
}

static void ref_rmsnorm(void *ctx, LumiRef outr, LumiRef xr, const LumiMat *wm, int n, int dim, float eps) {
    (void)ctx;
    float *out = lumi_host(outr);
    const float *x = lumi_host(xr), *w = wm->data;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)xt[i] * xt[i];
        double inv = 1.0 / sqrt(ss / dim + (double)eps);
        for (int i = 0; i < dim; i++) out[(size_t)t * dim + i] = (float)(xt[i] * inv * w[i]);
    }
}

/* q8_0 weights x q8_0-quantized activations, block by block. */
static void ref_matmul_q8(float *out, int os, const float *x, const LumiMat *w, const float *bias, int n) {
    int cols = w->cols, nb = cols / LUMI_Q8_BLOCK;
    int8_t *q = lumi_xmalloc((size_t)cols);
    float *dx = lumi_xmalloc(sizeof(float) * (size_t)nb);
    size_t rb = lumi_row_bytes(LUMI_Q8_0, cols);
    for (int t = 0; t < n; t++) {
        lumi_quantize_q8_act(x + (size_t)t * cols, cols, q, dx);
        for (int r = 0; r < w->rows; r++) {
            const unsigned char *row = (const unsigned char *)w->data + (size_t)r * rb;
            double s = 0;
            for (int bk = 0; bk < nb; bk++) {
                const unsigned char *blk = row + (size_t)bk * LUMI_Q8_BLOCK_BYTES;
                uint16_t h;
                memcpy(&h, blk, 2);
                long isum = 0;
                for (int i = 0; i < LUMI_Q8_BLOCK; i++) isum += (long)(int8_t)blk[2 + i] * q[bk * LUMI_Q8_BLOCK + i];
                s += (double)lumi_f16_to_f32(h) * (double)dx[bk] * (double)isum;
            }
            if (bias) s += bias[r];
            out[(size_t)t * os + r] = (float)s;
        }
    }
    free(q);
    free(dx);
}

static void ref_matmul(void *ctx, LumiRef outr, int out_stride, LumiRef xr, const LumiMat *w, const LumiMat *b, int n) {
    (void)ctx;
    float *out = lumi_host(outr);
    const float *x = lumi_host(xr), *bias = b ? b->data : NULL;
    if (w->type == LUMI_Q8_0) {
        ref_matmul_q8(out, out_stride, x, w, bias, n);
        return;
    }
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * w->cols;
        for (int r = 0; r < w->rows; r++) {
            double s = 0;
            if (w->type == LUMI_F32) { /* the same sum, without the per-element dispatch */
                const float *wr = (const float *)w->data + (size_t)r * w->cols;
                for (int c = 0; c < w->cols; c++) s += (double)wr[c] * xt[c];
            } else {
                for (int c = 0; c < w->cols; c++) s += (double)weight_at(w, r, c) * xt[c];
            }
            if (bias) s += bias[r];
            out[(size_t)t * out_stride + r] = (float)s;
        }
    }
}

static void ref_rope(void *ctx, LumiRef xr, int stride, int n, int pos0, int n_heads, int head_size) {
    const LumiRope *rp = &((Ref *)ctx)->m->rope;
    float *x = lumi_host(xr);
    int half = head_size / 2;
    for (int t = 0; t < n; t++) {
        const float *cs = rp->cos + (size_t)(pos0 + t) * rp->half;
        const float *sn = rp->sin + (size_t)(pos0 + t) * rp->half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * stride + (size_t)h * head_size;
            for (int i = 0; i < half; i++) {
                /* interleaved pairs (2i, 2i+1) or halves (i, i + half) */
                int a = rp->style == LUMI_ROPE_HALF ? i : 2 * i;
                int b = rp->style == LUMI_ROPE_HALF ? i + half : 2 * i + 1;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * cs[i] - x1 * sn[i];
                v[b] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

static void ref_attention(void *ctx, LumiRef outr, LumiRef qr, LumiRef kr, LumiRef vr, int n, int pos0) {
    Ref *r = ctx;
    float *out = lumi_host(outr);
    const float *q = lumi_host(qr), *kc = lumi_host(kr), *vc = lumi_host(vr);
    const LumiConfig *c = &r->m->cfg;
    int hs = c->head_size, group = c->n_heads / c->n_kv_heads;
    double scale = 1.0 / sqrt((double)hs);
    for (int t = 0; t < n; t++) {
        int pos = pos0 + t;
        for (int h = 0; h < c->n_heads; h++) {
            const float *qh = q + (size_t)t * c->dim + (size_t)h * hs;
            int kvh = h / group; /* GQA: query head h reads kv head h / group */
            double mx = -INFINITY;
            for (int s = 0; s <= pos; s++) {
                const float *k = kc + (size_t)s * c->kv_dim + (size_t)kvh * hs;
                double d = 0;
                for (int i = 0; i < hs; i++) d += (double)qh[i] * k[i];
                r->att[s] = d * scale;
                if (r->att[s] > mx) mx = r->att[s];
            }
            double sum = 0;
            for (int s = 0; s <= pos; s++) sum += (r->att[s] = exp(r->att[s] - mx));
            float *o = out + (size_t)t * c->dim + (size_t)h * hs;
            for (int i = 0; i < hs; i++) {
                double acc = 0;
                for (int s = 0; s <= pos; s++) acc += r->att[s] * vc[(size_t)s * c->kv_dim + (size_t)kvh * hs + i];
                o[i] = (float)(acc / sum);
            }
        }
    }
}

static void ref_swiglu(void *ctx, LumiRef h1r, LumiRef h3r, size_t len) {
    (void)ctx;
    float *h1 = lumi_host(h1r);
    const float *h3 = lumi_host(h3r);
    for (size_t i = 0; i < len; i++) {
        double g = h1[i];
        h1[i] = (float)(g / (1.0 + exp(-g)) * h3[i]);
    }
}

static void ref_add(void *ctx, LumiRef xr, LumiRef yr, size_t len) {
    (void)ctx;
    float *x = lumi_host(xr);
    const float *y = lumi_host(yr);
    for (size_t i = 0; i < len; i++) x[i] += y[i];
}

const LumiBackendOps lumi_backend_ref = {
    .name = "ref",
    .doc = "plain C reference (the oracle): double accumulators, fixed reduction order",
    .init = ref_init,
    .free = ref_free,
    .weights = ref_weights,
    .supports = ref_supports,
    .alloc = lumi_host_alloc,
    .release = lumi_host_release,
    .to_host = lumi_host_to_host,
    .copy = lumi_host_copy,
    .embed = ref_embed,
    .rmsnorm = ref_rmsnorm,
    .matmul = ref_matmul,
    .rope = ref_rope,
    .attention = ref_attention,
    .swiglu = ref_swiglu,
    .add = ref_add,
};
